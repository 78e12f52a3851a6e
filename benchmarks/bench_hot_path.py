"""The engine's hot path against a hand-written imperative implementation, side by side.

Run: python benchmarks/bench_hot_path.py [--reps N] [--no-profile]

Two measurements, each taken for both implementations in the same process, on
the same inputs, on the same zero-latency in-memory venue (``_common.FakeVenue``:
every call returns without yielding to the loop), alternating between the two
so that drift hits both alike. Virtual time (``hedge_fsm.sim.run``) makes
timers and sleeps instant; every figure is *wall* time (``perf_counter_ns``).

(a) **trigger → first hedge order**: a two-leg entry (``engine.execute``): the
    trigger leg's entry order is reported FILLED by a poll; the clock starts
    when the venue returns that report and stops when the hedge leg's first
    order enters ``place_limit``. In between: the other entry order is
    cancelled (and confirmed), the target is computed through the multipliers,
    a BBO is fetched, the attempt is priced and the order handed over.
(b) **a whole leg hedge** (``engine.hedge`` on one target): attempt 0 rests
    and is partially filled at its second poll, then cancelled; attempt 1 is
    refused post-only; attempt 2 rests until its time is up and is cancelled;
    the attempts are spent, so the market fallback fills the rest.

The hand-written implementation (``_imperative.py``) makes the same venue
calls in the same order, which is checked on a recorded run before timing.
The ratio engine / hand-written is printed (design target (docs/design.md): <= 1.5), then a
cProfile of the engine's runs says where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal as D

import _imperative as imperative
from _common import (
    FakeVenue,
    LimitScript,
    Probe,
    clock_name,
    clock_ns,
    machine_line,
    median,
    percentile,
    print_profile,
    use_cpu_clock,
)

from hedge_fsm import (
    BBO,
    HedgeConfig,
    HedgeEngine,
    HedgeTarget,
    Instrument,
    LegSpec,
    RetryPolicy,
    Side,
    TriggerFill,
)
from hedge_fsm.config import EntryHandoff
from hedge_fsm.sim import run

X = Instrument(
    symbol="X",
    tick_size=D("0.01"),
    lot_size=D("1"),
    min_quantity=D("1"),
    min_notional=D("0"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)
KX = Instrument(
    symbol="KX",
    tick_size=D("0.5"),
    lot_size=D("0.01"),
    min_quantity=D("0.01"),
    min_notional=D("0"),
    multiplier=D(1000),
    maker_fee=D("0.0001"),
    taker_fee=D("0.0004"),
)
BOOKS = {"X": BBO(bid=D("10.00"), ask=D("10.01")), "KX": BBO(bid=D("10000.0"), ask=D("10001.0"))}
LEGS = [
    LegSpec(venue="a", symbol="X", side=Side.BUY, quantity=D(5000), price=D("10.00")),
    LegSpec(venue="b", symbol="KX", side=Side.SELL, quantity=D("5"), price=D("10001.0")),
]
TRIGGER = TriggerFill(side=Side.BUY, price=D("10.00"), fee_rate=D("0.0002"))
# entry_handoff=CANCEL: the hand-written flow cancels the other entry at the trigger (it does not
# adopt it as the hedge order), so the engine does the same here.
ENTRY_CONFIG = HedgeConfig(entry_handoff=EntryHandoff.CANCEL)
# min_rest=None: the hand-written ladder does not reprice on book moves (it re-prices when an
# attempt's time is up), so neither does the engine here: both make the same calls.
LEG_CONFIG = HedgeConfig(opening=RetryPolicy(max_attempts=3, attempt_wait=0.5), min_rest=None)


def venues(probe: Probe | None, *, record: bool = False) -> dict[str, FakeVenue]:
    a = FakeVenue("a", [X], {"X": BOOKS["X"]}, probe, record=record)
    b = FakeVenue("b", [KX], {"KX": BOOKS["KX"]}, probe, record=record)
    b.calls = a.calls  # one ordered record for both venues
    return {"a": a, "b": b}


def entry_venues(probe: Probe | None, *, record: bool = False) -> dict[str, FakeVenue]:
    """(a): the trigger's entry fills at its first poll; the other rests; the hedge fills at once."""
    found = venues(probe, record=record)
    found["a"].script("X", LimitScript("rest", fill_at_query=1))
    found["b"].script("KX", LimitScript("rest"), LimitScript("fill"))
    return found


def leg_venues(probe: Probe | None, *, record: bool = False) -> dict[str, FakeVenue]:
    """(b): partial fill then cancel; post-only refusal; rest until cancelled; market fallback."""
    found = venues(probe, record=record)
    found["b"].script(
        "KX",
        LimitScript("rest", fill_at_query=2, fill_quantity=D("2")),
        LimitScript("post_only"),
        LimitScript("rest"),
    )
    return found


# ---------------------------------------------------------------------------- the runs


async def engine_entry(found: dict[str, FakeVenue]) -> object:
    engine = HedgeEngine(found, ENTRY_CONFIG)
    result = await engine.execute(LEGS, hedge_id="bench")
    assert result.state == "done", result
    return result


async def imperative_entry(found: dict[str, FakeVenue]) -> object:
    outcomes = await imperative.execute(found, LEGS, config=ENTRY_CONFIG, hedge_id="bench")
    assert outcomes and all(o.success for o in outcomes), outcomes
    return outcomes


async def engine_leg(found: dict[str, FakeVenue]) -> object:
    engine = HedgeEngine(found, LEG_CONFIG)
    result = await engine.hedge(
        [HedgeTarget(venue="b", symbol="KX", side=Side.SELL, quantity=D("5"))],
        trigger=TRIGGER,
        hedge_id="bench",
    )
    assert result.state == "done" and result.legs[0].filled_quantity == D("5"), result
    return result


async def imperative_leg(found: dict[str, FakeVenue]) -> object:
    _, outcome = await imperative.hedge(
        found, "b", "KX", Side.SELL, D("5"), config=LEG_CONFIG, trigger=TRIGGER, hedge_id="bench"
    )
    assert outcome.success and outcome.filled == D("5"), outcome
    return outcome


Runner = Callable[[dict[str, FakeVenue]], Awaitable[object]]


async def check_same_calls() -> None:
    """Both implementations must make the same venue calls, in the same order."""
    for name, make, engine_run, hand_run in (
        ("(a)", entry_venues, engine_entry, imperative_entry),
        ("(b)", leg_venues, engine_leg, imperative_leg),
    ):
        first = make(None, record=True)
        await engine_run(first)
        second = make(None, record=True)
        await hand_run(second)
        calls_engine, calls_hand = first["a"].calls, second["a"].calls
        if calls_engine != calls_hand:
            raise SystemExit(
                f"{name}: the implementations differ\n engine: {calls_engine}\n hand:   {calls_hand}"
            )
        print(
            f"{name} same venue calls in the same order: {len(calls_engine)} calls "
            f"({', '.join(sorted({str(c[0]) for c in calls_engine}))})"
        )


async def measure(reps: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = defaultdict(list)
    cases: list[tuple[str, Callable[[Probe | None], dict[str, FakeVenue]], Runner, str]] = [
        ("a_engine", entry_venues, engine_entry, "trigger"),
        ("a_hand", entry_venues, imperative_entry, "trigger"),
        ("b_engine", leg_venues, engine_leg, "whole"),
        ("b_hand", leg_venues, imperative_leg, "whole"),
    ]
    for warm in (True, False):
        count = max(reps // 10, 20) if warm else reps
        for rep in range(count):
            order = cases if rep % 2 == 0 else [cases[1], cases[0], cases[3], cases[2]]
            for name, make, runner, kind in order:
                probe = Probe(trigger_symbols=("X",))
                found = make(probe)
                if kind == "trigger":
                    await runner(found)
                    assert probe.fill_ns is not None and probe.place_ns is not None
                    elapsed = (probe.place_ns - probe.fill_ns) / 1e9
                else:
                    start = clock_ns()
                    await runner(found)
                    elapsed = (clock_ns() - start) / 1e9
                if not warm:
                    samples[name].append(elapsed)
        gc.collect()
    return samples


# ---------------------------------------------------------------------------- profile


def profile(runner: Runner, make: Callable[[Probe | None], dict[str, FakeVenue]], reps: int) -> pstats.Stats:
    async def loop() -> None:
        for _ in range(reps):
            await runner(make(None))

    profiler = cProfile.Profile()
    profiler.enable()
    run(loop())
    profiler.disable()
    return pstats.Stats(profiler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2000, help="timed runs per case (default 2000)")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile section")
    parser.add_argument(
        "--cpu", action="store_true", help="time CPU of this thread, not wall (a shared, loaded machine)"
    )
    args = parser.parse_args()
    if args.cpu:
        use_cpu_clock()

    print(machine_line())
    run(check_same_calls())
    samples = run(measure(args.reps))
    print(
        f"\n{args.reps} timed runs per case, alternating engine / hand-written; "
        f"{clock_name()}, microseconds"
    )
    print(f"{'':52s} {'median':>9s} {'p90':>9s} {'p99':>9s}")
    ratios = {}
    for key, label in (
        ("a", "(a) trigger fill observed -> first hedge order"),
        ("b", "(b) whole leg hedge (4 orders, 6 polls, 2 cancels)"),
    ):
        for impl in ("engine", "hand"):
            data = samples[f"{key}_{impl}"]
            print(
                f"{label if impl == 'engine' else '':52s}"
                f" {median(data) * 1e6:9.1f} {percentile(data, 90) * 1e6:9.1f}"
                f" {percentile(data, 99) * 1e6:9.1f}  {'engine' if impl == 'engine' else 'hand-written'}"
            )
        ratios[key] = median(samples[f"{key}_engine"]) / median(samples[f"{key}_hand"])
    for key, label in (("a", "(a) hot path"), ("b", "(b) whole leg hedge")):
        verdict = "meets" if ratios[key] <= 1.5 else f"misses by {ratios[key] / 1.5:.1f}x"
        print(f"ratio engine / hand-written, {label}: {ratios[key]:.2f}  (target <= 1.5: {verdict})")
    if args.no_profile:
        return
    reps = max(args.reps // 4, 100)
    print_profile(f"cProfile, engine, (a) x{reps}", profile(engine_entry, entry_venues, reps))
    print_profile(
        f"cProfile, hand-written, (a) x{reps}", profile(imperative_entry, entry_venues, reps), top=6
    )
    print_profile(f"cProfile, engine, (b) x{reps}", profile(engine_leg, leg_venues, reps))
    print_profile(f"cProfile, hand-written, (b) x{reps}", profile(imperative_leg, leg_venues, reps), top=6)


if __name__ == "__main__":
    main()
