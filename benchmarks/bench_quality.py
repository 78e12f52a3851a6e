"""Hedge quality (transaction-cost analysis) of four policies on the same seeded markets.

Run: python benchmarks/bench_quality.py [--seeds 200] [--processes 2] [--plot benchmarks/quality.png]

Common random numbers: for every (market, venue setup, seed) each policy gets
*identical fresh venues* built from the seed with ``exact_path=True`` (the
market path depends on the seed alone, not on who looks at it), and the same
trigger: a buy limit order rests at the trigger venue's bid and is polled
every 250 ms (as the engine's entry phase does) until it is seen filled; that
instant is the trigger time T, identical for every policy because everything
before it is the same code on the same seed. The hedge (a sell of the same
tokens on the hedge venue) is then handed to the policy. Policies (see
``policies.py``): ``engine`` (``HedgeEngine.hedge``, default config),
``market-only`` (``engine.hedge(market_only=True)``), ``seed flow`` (the seed
document's flow as written, flaws included) and ``chaser`` (fixed-offset
limit chaser: join the best ask, re-price every 0.5 s, market after 6 s).

Every figure is measured the same way for every policy, from the venues' own
fills after T:

* cost (bps): fees plus slippage of every fill after T (hedge, and any
  unwinding) against the arrival mid of its book at T, per hedge notional at
  arrival; positive is paid. Mean over runs, and its standard error (±se).
* maker: share of the hedge side's filled quantity that filled as maker.
* time to flat: from T until the net exposure (tokens, both legs) is and
  stays within one lot (1000 tokens); "inf" when it never is by the end
  (p50 and p99 over runs).
* fallback: share of runs with a market order on the hedge side; rollback:
  share of runs that sent orders unwinding a leg.
* exposure: the integral of |net exposure| over the 20 s after T, in
  millions of token-seconds (10 M tokens unhedged for 1 s is 10), mean over runs.
* over: runs whose hedge-side fills exceed the target; unflat: runs not flat
  20 s after T (or at the policy's end, if later); open: orders still open
  then.

Markets: ``calm``, ``volatile``, ``faulty`` (hedge_fsm.sim scenarios). Venue
setups (trigger venue -> hedge venue, 10,000,000 PEPE tokens, about 100 USDT):
``binance->lighter`` (1x PEPEUSDT vs 1000x kPEPE, 0 fees, 250 ms speed bump),
``binance->hyperliquid`` (1000x kPEPE, 1.5/4.5 bps, 300-500 ms to place),
``lighter->binance`` (hedge on Binance's 1x PEPEUSDT, 2/5 bps, tens of ms).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal

import attrs
import policies
from _common import machine_line, percentile

from hedge_fsm import AmbiguousOutcome, OrderNotFound, Side, TriggerFill, VenueError
from hedge_fsm.sim import PRESETS, MarketModel, SimVenue, get_scenario, run

TOKENS = Decimal(10_000_000)
HORIZON = 20.0
SETUPS: dict[str, tuple[str, str, str, str]] = {
    # name: (trigger venue, trigger symbol, hedge venue, hedge symbol)
    "binance->lighter": ("binance", "PEPEUSDT", "lighter", "kPEPE"),
    "binance->hyperliquid": ("binance", "PEPEUSDT", "hyperliquid", "kPEPE"),
    "lighter->binance": ("lighter", "kPEPE", "binance", "PEPEUSDT"),
}
SCENARIOS = ("calm", "volatile", "faulty")


@attrs.frozen
class RunFigures:
    """One policy on one (market, setup, seed)."""

    scenario: str
    setup: str
    seed: int
    policy: str
    cost_bps: float
    maker_share: float | None
    time_to_flat: float
    fallback: bool
    rollback: bool
    exposure: float
    over_hedge: bool
    unflat: bool
    open_orders: int
    trigger_time: float


def build(setup: str, scenario: str, seed: int) -> dict[str, SimVenue]:
    trigger_venue, _, hedge_venue, _ = SETUPS[setup]
    regime = get_scenario(scenario)
    market = MarketModel(seed, quote_interval=regime.quote_interval, exact_path=True)
    return {
        name: PRESETS[name]().build(market, seed=seed, scenario=regime)
        for name in (trigger_venue, hedge_venue)
    }


async def _read(call: object) -> object:
    return await policies.retry_read(call)  # type: ignore[arg-type]


async def trigger_phase(venues: dict[str, SimVenue], setup: str) -> tuple[float, Decimal, Decimal]:
    """Rest a buy at the trigger venue's bid until it is seen filled; returns (T, qty, avg price).

    Polled every 250 ms; an order still not filled after 5 s is cancelled (confirmed) and the
    rest re-placed at the new bid, so that a market running away cannot stall the benchmark.
    """
    trigger_venue, symbol, _, _ = SETUPS[setup]
    venue = venues[trigger_venue]
    loop = asyncio.get_running_loop()
    instrument = await venue.instrument(symbol)
    wanted = TOKENS / instrument.multiplier
    filled = notional = Decimal(0)
    attempt = 0
    while filled < wanted:
        attempt += 1
        if attempt > 200:
            raise RuntimeError("the trigger order did not fill in 200 tries")
        bbo = await _read(lambda: venue.best_bid_offer(symbol))
        cid = f"entry{attempt}"
        try:
            order = await venue.place_limit(
                symbol,
                Side.BUY,
                wanted - filled,
                bbo.bid,  # type: ignore[attr-defined]
                post_only=False,
                reduce_only=False,
                client_order_id=cid,
            )
        except AmbiguousOutcome:
            found = await policies.lookup(venue, symbol, cid)
            if found is None:
                continue
            order = found
        except VenueError:
            await asyncio.sleep(0.05)
            continue
        give_up = loop.time() + 5.0
        while not order.is_terminal and loop.time() < give_up:
            await asyncio.sleep(0.25)
            try:
                seen = await venue.order(symbol, order_id=order.order_id)
            except (VenueError, OrderNotFound):
                continue
            if seen.filled_quantity >= order.filled_quantity:
                order = seen
        if not order.is_terminal:
            order = await policies.confirm_cancel(venue, symbol, order)
        if order.filled_quantity:
            assert order.average_price is not None
            filled += order.filled_quantity
            notional += order.filled_quantity * order.average_price
    return loop.time(), filled, notional / filled


async def one_run(setup: str, scenario: str, seed: int, name: str) -> RunFigures:
    venues = build(setup, scenario, seed)
    trigger_venue, trigger_symbol, hedge_venue, hedge_symbol = SETUPS[setup]
    loop = asyncio.get_running_loop()
    t_trigger, trigger_qty, trigger_price = await trigger_phase(venues, setup)
    market = venues[trigger_venue].market
    trigger_inst = await venues[trigger_venue].instrument(trigger_symbol)
    hedge_inst = await venues[hedge_venue].instrument(hedge_symbol)
    # Arrival mids: the books as they stand at T (the market was advanced to T by the last poll).
    arrival = {
        (trigger_venue, trigger_symbol): market.book(trigger_venue, trigger_symbol).bbo(t_trigger).mid,
        (hedge_venue, hedge_symbol): market.book(hedge_venue, hedge_symbol).bbo(t_trigger).mid,
    }
    fee_rate = trigger_inst.maker_fee  # a resting buy at the bid; taker fills are rare and ignored here
    target = policies.floor_to_step(
        trigger_qty * trigger_inst.multiplier / hedge_inst.multiplier, hedge_inst.lot_size
    )
    ctx = policies.HedgeContext(
        venues=dict(venues),
        trigger_venue=trigger_venue,
        trigger_symbol=trigger_symbol,
        trigger_instrument=trigger_inst,
        trigger_quantity=trigger_qty,
        trigger=TriggerFill(
            side=Side.BUY, price=trigger_price, multiplier=trigger_inst.multiplier, fee_rate=fee_rate
        ),
        hedge_venue=hedge_venue,
        hedge_symbol=hedge_symbol,
        hedge_instrument=hedge_inst,
        hedge_side=Side.SELL,
        target=target,
    )
    await policies.POLICIES[name](ctx)
    ended = loop.time()
    # Let the market run to the horizon: orders a policy forgot can still fill.
    horizon = max(t_trigger + HORIZON, ended)
    await asyncio.sleep(horizon - loop.time())
    market.advance_to(loop.time())
    return measure(
        scenario,
        setup,
        seed,
        name,
        venues,
        t_trigger,
        trigger_qty,
        trigger_inst.multiplier,
        hedge_inst.multiplier,
        hedge_inst.lot_size,
        target,
        arrival,
        horizon,
    )


def measure(
    scenario: str,
    setup: str,
    seed: int,
    name: str,
    venues: dict[str, SimVenue],
    t0: float,
    trigger_qty: Decimal,
    trigger_mult: Decimal,
    hedge_mult: Decimal,
    hedge_lot: Decimal,
    target: Decimal,
    arrival: dict[tuple[str, str], Decimal],
    horizon: float,
) -> RunFigures:
    trigger_venue, trigger_symbol, hedge_venue, hedge_symbol = SETUPS[setup]
    multipliers = {(trigger_venue, trigger_symbol): trigger_mult, (hedge_venue, hedge_symbol): hedge_mult}
    fills = sorted(
        (
            f
            for v in venues.values()
            for f in v.fills
            if f.time >= t0
            and (v.name, f.symbol) in arrival
            and not (v.name == trigger_venue and f.client_order_id.startswith("entry"))
        ),
        key=lambda f: f.time,
    )
    cost = Decimal(0)
    hedge_sold = maker = Decimal(0)
    exposure_path: list[tuple[float, Decimal]] = []
    exposure = trigger_qty * trigger_mult
    for fill in fills:
        key = (fill.venue, fill.symbol)
        mid = arrival[key]
        cost += fill.side.sign * (fill.price - mid) * fill.quantity + fill.fee
        exposure += fill.side.sign * fill.quantity * multipliers[key]
        exposure_path.append((fill.time, exposure))
        if key == (hedge_venue, hedge_symbol) and fill.side is Side.SELL:
            hedge_sold += fill.quantity
            if fill.liquidity.value == "maker":
                maker += fill.quantity
    notional = target * arrival[(hedge_venue, hedge_symbol)]
    cost_bps = float(cost / notional * 10_000) if notional else math.nan
    lot_tokens = max(hedge_lot * hedge_mult, Decimal(1000))
    # Time to flat: the start of the last stretch within one lot.
    flat_since: float | None = t0 if abs(trigger_qty * trigger_mult) <= lot_tokens else None
    for when, level in exposure_path:
        if abs(level) <= lot_tokens:
            if flat_since is None:
                flat_since = when
        else:
            flat_since = None
    unflat = abs(exposure) > lot_tokens
    time_to_flat = math.inf if unflat or flat_since is None else flat_since - t0
    # Unhedged exposure: |exposure| integrated from T to T + HORIZON.
    integral = 0.0
    level_tokens = float(trigger_qty * trigger_mult)
    last = t0
    end = t0 + HORIZON
    for when, level in exposure_path:
        if when > end:
            break
        integral += abs(level_tokens) * (when - last)
        last, level_tokens = when, float(level)
    integral += abs(level_tokens) * max(0.0, end - last)
    hedge = venues[hedge_venue]
    trig = venues[trigger_venue]
    after = [o for o in hedge.orders(hedge_symbol)]
    fallback = any(o.price is None and o.side is Side.SELL for o in after)
    rollback = any(o.side is Side.BUY for o in after) or any(
        o.side is Side.SELL for o in trig.orders(trigger_symbol)
    )
    open_orders = len(hedge.open_orders()) + len(trig.open_orders())
    return RunFigures(
        scenario=scenario,
        setup=setup,
        seed=seed,
        policy=name,
        cost_bps=cost_bps,
        maker_share=float(maker / hedge_sold) if hedge_sold else None,
        time_to_flat=time_to_flat,
        fallback=fallback,
        rollback=rollback,
        exposure=integral,
        over_hedge=hedge_sold > target,
        unflat=unflat,
        open_orders=open_orders,
        trigger_time=t0,
    )


def job(args: tuple[str, str, int]) -> list[RunFigures]:
    setup, scenario, seed = args
    out = []
    for name in policies.POLICIES:
        out.append(run(one_run(setup, scenario, seed, name)))
    times = {f.trigger_time for f in out}
    assert len(times) == 1, f"the trigger differs between policies: {times}"
    return out


# ---------------------------------------------------------------------------- report


def _fmt_time(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


def aggregate(rows: Sequence[RunFigures]) -> dict[str, float]:
    n = len(rows)
    makers = [r.maker_share for r in rows if r.maker_share is not None]
    ttf = [r.time_to_flat for r in rows]
    return {
        "runs": n,
        "cost": sum(r.cost_bps for r in rows) / n,
        "cost_se": statistics.stdev([r.cost_bps for r in rows]) / math.sqrt(n) if n > 1 else math.nan,
        "maker": sum(makers) / len(makers) if makers else math.nan,
        "p50": percentile(ttf, 50),
        "p99": percentile(ttf, 99),
        "fallback": sum(r.fallback for r in rows) / n,
        "rollback": sum(r.rollback for r in rows) / n,
        "exposure": sum(r.exposure for r in rows) / n,
        "over": sum(r.over_hedge for r in rows),
        "unflat": sum(r.unflat for r in rows),
        "open": sum(r.open_orders for r in rows),
    }


HEADER = (
    f"{'market':9s} {'setup':21s} {'policy':12s} {'runs':>4s} {'cost bps':>8s} {'±se':>5s} {'maker':>6s} "
    f"{'ttf p50':>7s} {'ttf p99':>7s} {'fallbk':>6s} {'rollbk':>6s} {'exposure Mtok*s':>15s} "
    f"{'over':>4s} {'unflat':>6s} {'open':>4s}"
)


def row(market: str, setup: str, policy: str, figures: dict[str, float]) -> str:
    maker = "-" if math.isnan(figures["maker"]) else f"{figures['maker'] * 100:5.1f}%"
    return (
        f"{market:9s} {setup:21s} {policy:12s} {int(figures['runs']):4d} "
        f"{figures['cost']:8.2f} {figures['cost_se']:5.2f} {maker:>6s} "
        f"{_fmt_time(figures['p50']):>7s} {_fmt_time(figures['p99']):>7s} "
        f"{figures['fallback'] * 100:5.0f}% {figures['rollback'] * 100:5.0f}% "
        f"{figures['exposure'] / 1e6:15.2f} "
        f"{int(figures['over']):4d} {int(figures['unflat']):6d} {int(figures['open']):4d}"
    )


def paired(results: Sequence[RunFigures], scenarios: Sequence[str]) -> None:
    """Each policy against the engine on the same triggers: paired differences (common random numbers)."""
    engine = {(r.scenario, r.setup, r.seed): r for r in results if r.policy == "engine"}
    print(
        "\npaired with the engine on the same trigger and market path (policy - engine; "
        "cheaper/faster: share of runs where the policy beat the engine)"
    )
    print(
        f"{'market':9s} {'policy':12s} {'runs':>5s} {'d cost bps':>10s} {'±se':>5s} {'d ttf p50 s':>11s} "
        f"{'cheaper':>7s} {'faster':>6s}"
    )
    for market in [*scenarios, "all"]:
        for policy in policies.POLICIES:
            if policy == "engine":
                continue
            pairs = [
                (r, engine[(r.scenario, r.setup, r.seed)])
                for r in results
                if r.policy == policy and (market == "all" or r.scenario == market)
            ]
            if not pairs:
                continue
            costs = [r.cost_bps - e.cost_bps for r, e in pairs]
            times = [r.time_to_flat - e.time_to_flat for r, e in pairs]
            times = [t for t in times if not math.isnan(t)]
            se = statistics.stdev(costs) / math.sqrt(len(costs)) if len(costs) > 1 else math.nan
            cheaper = sum(r.cost_bps < e.cost_bps for r, e in pairs) / len(pairs)
            faster = sum(r.time_to_flat < e.time_to_flat for r, e in pairs) / len(pairs)
            print(
                f"{market:9s} {policy:12s} {len(pairs):5d} {sum(costs) / len(costs):10.2f} {se:5.2f} "
                f"{_fmt_time(percentile(times, 50)):>11s} {cheaper * 100:6.0f}% {faster * 100:5.0f}%"
            )


def plot(groups: dict[tuple[str, str], dict[str, float]], path: str, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "engine": "tab:blue",
        "market-only": "tab:red",
        "seed flow": "tab:orange",
        "chaser": "tab:green",
    }
    markers = {"calm": "o", "volatile": "^", "faulty": "s"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for (market, policy), figures in groups.items():
        x = figures["p50"]
        if math.isinf(x):
            continue
        ax.scatter(
            x,
            figures["cost"],
            color=colours.get(policy, "black"),
            marker=markers.get(market, "x"),
            s=70,
            edgecolors="black",
            linewidths=0.5,
        )
        ax.annotate(
            f"{policy} / {market}",
            (x, figures["cost"]),
            textcoords="offset points",
            xytext=(5, -11) if market == "faulty" else (5, 4),
            fontsize=7,
        )
    ax.set_xlabel("time to flat, median (s)")
    ax.set_ylabel("mean cost vs arrival mid (bps, fees + slippage)")
    ax.set_title(f"Hedge cost against time to flat ({seeds} seeds x 3 venue setups per point)")
    ax.grid(True, alpha=0.3)
    for market, marker in markers.items():
        ax.scatter([], [], marker=marker, color="grey", label=market)
    for policy, colour in colours.items():
        ax.scatter([], [], marker="o", color=colour, label=policy)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description="hedge quality of four policies on common random numbers")
    parser.add_argument("--seeds", type=int, default=200, help="seeds per market and setup (default 200)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--plot",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "quality.png"),
        help="where to write the plot (default benchmarks/quality.png; '' for none)",
    )
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    setups = args.setups.split(",")
    jobs = [
        (setup, scenario, seed)
        for scenario in scenarios
        for setup in setups
        for seed in range(1, args.seeds + 1)
    ]

    print(machine_line())
    started = time.perf_counter()
    results: list[RunFigures] = []
    if args.processes <= 1:
        for item in jobs:
            results += job(item)
    else:
        with ProcessPoolExecutor(max_workers=args.processes) as pool:
            for out in pool.map(job, jobs, chunksize=4):
                results += out
    wall = time.perf_counter() - started
    print(
        f"{len(results)} hedges ({len(jobs)} triggers x {len(policies.POLICIES)} policies) in {wall:.1f} s "
        f"on {args.processes} process(es); seeds 1..{args.seeds}\n"
    )

    by_cell: dict[tuple[str, str, str], list[RunFigures]] = defaultdict(list)
    by_market: dict[tuple[str, str], list[RunFigures]] = defaultdict(list)
    by_policy: dict[str, list[RunFigures]] = defaultdict(list)
    for r in results:
        by_cell[(r.scenario, r.setup, r.policy)].append(r)
        by_market[(r.scenario, r.policy)].append(r)
        by_policy[r.policy].append(r)
    print(HEADER)
    for scenario in scenarios:
        for setup in setups:
            for policy in policies.POLICIES:
                print(row(scenario, setup, policy, aggregate(by_cell[(scenario, setup, policy)])))
        for policy in policies.POLICIES:
            print(row(scenario, "(all setups)", policy, aggregate(by_market[(scenario, policy)])))
        print()
    for policy in policies.POLICIES:
        print(row("all", "(all setups)", policy, aggregate(by_policy[policy])))
    paired(results, scenarios)
    if args.plot:
        groups = {key: aggregate(rows) for key, rows in by_market.items()}
        plot(groups, args.plot, args.seeds)
        print(f"\nplot: {args.plot} (one point per policy and market; setups pooled)")


if __name__ == "__main__":
    main()
