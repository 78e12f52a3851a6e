"""1, 100 and 1,000 concurrent leg hedges in one process: does the hot path degrade?

Run: python benchmarks/bench_concurrency.py [--levels 1,100,1000] [--samples 300]

One :class:`~hedge_fsm.HedgeEngine`, one zero-latency simulated venue
(:class:`hedge_fsm.sim.SimVenue`) listing one symbol with a deep, quiet book
(no volatility, no others' trades: resting orders never fill, a marketable
order always does), on virtual time. At level N, N leg hedges
(``engine.hedge([HedgeTarget])`` each, default config but for the per-venue
order-rate guard, lifted: at its default of 20 order actions per second it would queue
1,000 hedges' orders on one venue by design) start one after the
other one every ``--spacing``/N seconds of virtual time (offsets chosen so that no
two hedges' timers ever fall on the same instant). Each hedge works its
ladder for about 4.7 s (three inside-spread attempts that rest 1.5 s each,
polled every 100 ms, then a marketable touch that fills), so once the first N
have ramped up, about N hedges are live at every start: each measured hedge
starts while N - 1 others are resting orders, polling and cancelling in the
same loop. Only hedges started after the ramp-up are measured (``--samples``
of them, at least N).

The **hot path** of a hedge is the wall time (``perf_counter_ns``) from the
call to ``engine.hedge`` to its first order entering the venue's
``place_limit`` (set-up reads, supervisor and leg machine start, BBO, pricing,
the order handed over). Virtual time means no queueing delay (the loop does
nothing else at that instant); what is measured is the hot path's own work
while N hedges are alive in the same process (heap, garbage collector, caches,
data structures). The design (docs/design.md)
target: p99 at 1,000 within 2x of the p99 at 1.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from decimal import Decimal as D

from _common import machine_line, median, percentile

from hedge_fsm import HedgeConfig, HedgeEngine, HedgeTarget, Instrument, OrderInfo, Side, TriggerFill
from hedge_fsm.sim import BookConfig, MarketModel, SimVenue, SymbolSpec, run

SYMBOL = "KPEPE"
INSTRUMENT = Instrument(
    symbol=SYMBOL,
    tick_size=D("0.000001"),
    lot_size=D("1"),
    min_quantity=D("1"),
    min_notional=D("0"),
    multiplier=D(1000),
    maker_fee=D("0"),
    taker_fee=D("0"),
)
BOOK = BookConfig(
    reference_price=D("0.010000"), volatility=0.0, spread_ticks=1, depth=D("1000000000"), trade_rate=0.0
)
QUANTITY = D("100")
TRIGGER = TriggerFill(side=Side.BUY, price=D("0.0000100"), multiplier=D(1))
# The per-venue order-rate guard (default 20 order actions per second across an engine's hedges)
# would, by design, queue 1,000 hedges' orders on one venue for minutes; it is lifted so that
# what is measured is the engine's own work.
CONFIG = HedgeConfig(venue_order_rate=1e9)
DEFAULT_THRESHOLDS = gc.get_threshold()
TUNED_THRESHOLDS = (700, 10, 1000)
GC_MODES = {
    "default": f"CPython default (thresholds {DEFAULT_THRESHOLDS})",
    "tuned": f"tuned: gc.freeze() after set-up, gc.set_threshold{TUNED_THRESHOLDS}",
    "off": "off (gc.disable()), for reference",
}


class ProbedVenue(SimVenue):
    """A SimVenue that notes when each hedge's first order is handed to it."""

    def __init__(self, market: MarketModel) -> None:
        super().__init__("sim", market, [SymbolSpec(instrument=INSTRUMENT, book=BOOK)])
        self.first_order_ns: dict[str, int] = {}

    async def place_limit(
        self,
        symbol: str,
        side: Side,
        quantity: D,
        price: D,
        *,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        hedge_id = client_order_id.split("h", 1)[0]
        if hedge_id not in self.first_order_ns:
            self.first_order_ns[hedge_id] = time.perf_counter_ns()
        return await super().place_limit(
            symbol,
            side,
            quantity,
            price,
            post_only=post_only,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
        )


async def one_round(n: int, samples: int, spacing: float) -> tuple[list[float], list[int], float, int]:
    """Keep about ``n`` hedges live; return the hot paths (s) of ``samples`` hedges started at steady state.

    Hedge ``i`` starts at ``i * spacing / n``: the first ``n`` ramp up (not
    measured), after which one hedge ends for every one that starts. Also
    returns how many hedges were live at each measured start, the wall time of
    the whole round and how many hedges it ran.
    """
    venue = ProbedVenue(MarketModel(seed=1))
    engine = HedgeEngine({"sim": venue}, CONFIG)
    loop = asyncio.get_running_loop()
    origin = loop.time()
    ramp = n
    total = ramp + samples
    # An offset that is no round number: no two hedges' timers ever coincide.
    step = spacing / n * 1.000371
    starts: dict[str, int] = {}
    live_at_start: list[int] = []
    states: list[str] = []
    live = 0

    async def hedge(i: int) -> None:
        nonlocal live
        await asyncio.sleep(max(0.0, origin + i * step - loop.time()))
        hedge_id = f"c{i}"
        if i >= ramp:
            live_at_start.append(live)
            starts[hedge_id] = time.perf_counter_ns()
        live += 1
        result = await engine.hedge(
            [HedgeTarget(venue="sim", symbol=SYMBOL, side=Side.SELL, quantity=QUANTITY)],
            trigger=TRIGGER,
            hedge_id=hedge_id,
        )
        live -= 1
        states.append(result.state)

    wall = time.perf_counter()
    await asyncio.gather(*(hedge(i) for i in range(total)))
    wall = time.perf_counter() - wall
    assert states == ["done"] * total, sorted(set(states))
    assert not venue.open_orders()
    hot = [(venue.first_order_ns[h] - starts[h]) / 1e9 for h in starts]
    return hot, live_at_start, wall, total


def main() -> None:
    parser = argparse.ArgumentParser(description="hot path with 1, 100, 1000 concurrent leg hedges")
    parser.add_argument("--levels", default="1,100,1000", help="comma-separated hedge counts")
    parser.add_argument(
        "--spacing",
        type=float,
        default=5.0,
        help="virtual seconds between two starts, times the level (default 5.0: "
        "a hedge lasts about 4.7 s, so about N hedges are live)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="measured hedges per level, after the ramp-up (default 1000; at least the level itself)",
    )
    parser.add_argument(
        "--gc",
        default="default,tuned",
        help="garbage-collector settings to run, comma-separated among default "
        "(CPython's), tuned (gc.freeze() after set-up, thresholds "
        f"{TUNED_THRESHOLDS}) and off (gc.disable(), for reference); "
        "default: default,tuned",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    print(machine_line())
    run(one_round(1, 20, args.spacing))  # warm up
    print("hot path = engine.hedge called -> first order handed to the venue (wall time)")
    for mode in args.gc.split(","):
        run_levels(levels, args, mode)


def run_levels(levels: list[int], args: argparse.Namespace, mode: str) -> None:
    print(f"\ngarbage collector: {GC_MODES[mode]}")
    print(
        f"{'level':>6s} {'live':>5s} {'samples':>7s} {'median us':>10s} {'p90 us':>8s} "
        f"{'p99 us':>8s} {'max us':>8s} {'hedges':>7s} {'wall s':>7s} {'us/hedge':>9s}"
    )
    results: dict[int, tuple[float, float]] = {}
    for n in levels:
        gc.collect()
        if mode == "tuned":
            gc.freeze()
            gc.set_threshold(*TUNED_THRESHOLDS)
        elif mode == "off":
            gc.disable()
        try:
            hot, live, wall, total = run(one_round(n, max(args.samples, n), args.spacing))
        finally:
            gc.enable()
            gc.set_threshold(*DEFAULT_THRESHOLDS)
            gc.unfreeze()
        results[n] = (median(hot), percentile(hot, 99))
        print(
            f"{n:6d} {median(live) + 1:5.0f} {len(hot):7d} {median(hot) * 1e6:10.1f} "
            f"{percentile(hot, 90) * 1e6:8.1f} {percentile(hot, 99) * 1e6:8.1f} {max(hot) * 1e6:8.1f} "
            f"{total:7d} {wall:7.2f} {wall / total * 1e6:9.0f}"
        )
    print(
        "live: median number of hedges live when a measured hedge starts (itself included); "
        "us/hedge: wall time of the whole level / hedges run"
    )
    base = results.get(1)
    if base is None:
        return
    for n in levels:
        if n == 1:
            continue
        p50, p99 = results[n]
        ratio = p99 / base[1]
        verdict = "meets" if ratio <= 2 else f"misses by {ratio / 2:.1f}x"
        print(
            f"[{mode}] p99 at {n} / p99 at 1: {ratio:.2f} (target <= 2: {verdict}); "
            f"median at {n} / median at 1: {p50 / base[0]:.2f}"
        )


if __name__ == "__main__":
    main()
