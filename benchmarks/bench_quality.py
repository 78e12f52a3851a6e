"""Hedge quality (transaction-cost analysis) of six policies on the same seeded markets.

Run: python benchmarks/bench_quality.py [--seeds 60] [--processes 2] [--json PATH]
     [--plot benchmarks/quality.png] [--driver-check 4]

Common random numbers. For every (market, venue pairing, seed) each policy gets
*identical fresh venues* built from the seed with ``exact_path=True`` (the market
path depends on the seed alone), and the same two-leg entry: a buy resting at the
first venue's bid and a sell of the same tokens resting at the second venue's ask,
run by the engine's own entry phase (set-up reads, entry orders, polls every
250 ms). The first entry order seen filled is the **trigger**; the instant the
engine learns of it is T, checked identical for every policy (everything before it
is the same code on the same seed). From T the policies differ (``policies.py``):
``engine`` (default config: the other leg's resting entry is adopted as its first
hedge attempt where the engine has ``entry_handoff``), ``engine (cancel)`` (the
ablation), ``market-only`` (the engine's market mode), and three peers that take
over from the engine's cancel path (``engine (cancel)`` up to the moment its hedge
leg would send its first request: the other entry cancelled and confirmed) and
hedge the rest: ``seed flow`` (the seed document's flow, flaws included),
``chaser`` (post-only at the best, re-priced every 0.5 s, market after 6 s) and
``ioc ladder`` (limit IOC at the touch, then up to 2, 5, 10 bps past it, market
last). Seeds whose entry never triggers (timed out) are left out for every policy.

Every figure is measured the same way for every policy, from the venues' own
fills, orders and logs after T:

* cost (bps): fees plus slippage of every fill after T (the hedge leg's, the
  entry order's included, and any unwinding) against the arrival mid of its book
  at T, per hedge-leg notional at arrival; positive is paid. Mean over runs, and
  its standard error (se).
* risk-adjusted (bps): cost + lambda * sigma * sqrt(t_exp) * 1e4 per run, where
  t_exp = (integral of |net exposure| over the 20 s after T) / hedge tokens (the
  seconds of full exposure), sigma the hedge book's volatility per sqrt(second)
  (the simulator's own parameter), lambda printed (default 1: one standard
  deviation of the price move over the exposure).
* maker: share of the hedge side's filled quantity after T that filled as maker.
* reaction: from T until a reply first shows one of the leg's hedge orders
  working (resting or filled), in units of the hedge venue's one-way placement
  latency (mean request leg of ``place``): the definition of the engine's own
  ``HedgeResult.reaction_time``, which the engine rows report where the engine
  has it (the log-measured value is checked against it); peers are measured from
  the venue's log. An entry order the engine adopted is one of those hedge orders
  (0 when it was already working at T). ``@venue``: the same until the venue
  *accepted* the order (no return trip: a new order sent at T takes 1).
* time to flat: from T until the net exposure (tokens, both legs) is and stays
  within one lot; never (``inf``, JSON ``null``) when it is not by the end.
* fallback: share of runs with a market order on the hedge side; rollback: runs
  that traded the hedge back, or unwound the trigger with no hedge fill kept;
  trim: runs that reduced the trigger while keeping hedge fills.
* over: runs whose hedge-side fills exceed the target; not flat: runs not flat
  20 s after T (or at the policy's end, if later); open: orders still open then.

Markets: ``calm``, ``volatile``, ``faulty`` (hedge_fsm.sim scenarios). Venue
pairings (buy on the first, sell the same 10,000,000 PEPE tokens on the second,
about 100 USDT; either leg may trigger): ``binance/lighter``,
``binance/hyperliquid``, ``hyperliquid/lighter``.

Drivers: every run is on the synchronous simulation driver
(``hedge_fsm.sim.SimEngine`` / ``SimLoop``); the peers run on the same loop
(their waits go through the loop's clock). ``--driver-check N`` re-runs the
first N (market, pairing, seed) jobs of the grid on both drivers (asyncio:
``HedgeEngine`` on ``hedge_fsm.sim.run``), in this process, alternating, and
prints episodes/s of each (CPU time) and whether their figures are identical.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from typing import Any

import attrs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import policies
from _common import machine_line, percentile

from hedge_fsm import HedgeConfig, HedgeEngine, LegSpec, OrderInfo, Side, TriggerFill, VenueError
from hedge_fsm.core.targets import scaled_target
from hedge_fsm.sim import PRESETS, MarketModel, SimVenue, get_scenario, run
from hedge_fsm.sim.driver import SimEngine, SimLoop
from hedge_fsm.values import Instrument

TOKENS = Decimal(10_000_000)
HORIZON = 20.0
LAMBDA = 1.0
TELL_VOLATILITY = False
"""Tell the engine's rows the market's volatility (``HedgeConfig.volatility_bps``,
``--tell-volatility``); by default they run ``HedgeConfig()``'s own default, None, and measure
it from the book."""
SETUPS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    # name: ((venue, symbol) bought at its bid, (venue, symbol) sold at its ask)
    "binance/lighter": (("binance", "PEPEUSDT"), ("lighter", "kPEPE")),
    "binance/hyperliquid": (("binance", "PEPEUSDT"), ("hyperliquid", "kPEPE")),
    "hyperliquid/lighter": (("hyperliquid", "kPEPE"), ("lighter", "kPEPE")),
}
SCENARIOS = ("calm", "volatile", "faulty")
LEG_SPEC_FIELDS = {f.name for f in attrs.fields(LegSpec)}
ENTRY_POST_ONLY = False
"""Entries may take: the price read ~0.1 s before the entry arrives is often crossed by then
(Binance's tick is 0.1 bp), and a refused post-only entry aborts the entry (no trigger)."""
POLICIES = policies.POLICY_NAMES


class StopAtTrigger(Exception):
    """Raised by :class:`TriggerWatch` to hand the hedge over to a peer at T."""


@attrs.define
class LegAtT:
    venue: str
    symbol: str
    side: Side
    quantity: Decimal
    entry_cid: str | None


class TriggerWatch:
    """An engine observer that notes the trigger: T (when the engine learned of it) and the legs.

    T is the time of the event whose dispatch set the supervisor's trigger leg. With
    ``stop`` it raises :class:`StopAtTrigger` when the hedge leg's machine is about to issue
    its first command, before it is carried out: by then the engine's cancel path (run with
    ``entry_handoff = "cancel"``) has cancelled the other entry and seen the cancel confirmed,
    every request it sent has been answered, and nothing of the hedge has been sent. The
    peers hedge from there. (Stopping at T itself would cancel requests still travelling —
    an entry placement on its way would then never reach the venue — which no real venue
    does.)
    """

    def __init__(self, now: Callable[[], float], *, stop: bool) -> None:
        self.now = now
        self.stop = stop
        self.supervisor: Any = None
        self.time: float | None = None
        self.trigger_leg: int | None = None
        self.legs: list[LegAtT] = []
        self.handed_over_at: float | None = None
        self._last_event = 0.0

    def _check(self, hedging: bool = False) -> None:
        sup = self.supervisor
        if sup is None or sup.trigger_leg is None:
            return
        if self.time is None:
            self.time = self._last_event
            self.trigger_leg = sup.trigger_leg
            self.legs = [
                LegAtT(
                    venue=p.venue,
                    symbol=p.instrument.symbol,
                    side=p.side,
                    quantity=p.quantity,
                    entry_cid=p.entry.client_order_id if p.entry is not None else None,
                )
                for p in sup.plans
            ]
        if self.stop and hedging and sup.plans[1 - sup.trigger_leg].hedge is not None:
            self.handed_over_at = self.now()
            raise StopAtTrigger

    def on_start(self, supervisor: Any) -> None:
        self.supervisor = supervisor

    def on_command(self, hedge_id: str, route: Any, command: Any, command_id: int) -> None:
        self._check(hedging=True)

    def on_event(self, hedge_id: str, route: Any, event: Any, cause: int | None) -> None:
        self._check()
        self._last_event = self.now()

    def on_finish(self, hedge_id: str, result: Any) -> None:
        self._check()


@attrs.frozen
class RunFigures:
    """One policy on one (market, setup, seed)."""

    scenario: str
    setup: str
    seed: int
    policy: str
    trigger_time: float
    trigger_venue: str
    cost_bps: float
    risk_adjusted_bps: float
    maker_share: float | None
    reaction_latencies: float | None
    """What the JSON reports: the engine's own ``reaction_time`` where it has one, else
    :attr:`measured_reaction` (in one-way latencies of the hedge venue)."""
    measured_reaction: float | None
    """From T until the first reply showing one of the leg's hedge orders working (resting or
    filled), from the venue's log: the engine's definition, measured for every policy."""
    venue_reaction: float | None
    """From T until the venue accepted the first of the leg's hedge orders (no return trip)."""
    reported_reaction: float | None
    reported_trim: bool | None
    """The engine's own ``ExecutionResult.trimmed`` where it has one (cross-check of ``trim``)."""
    adopted: bool
    """The leg's own entry order stayed working as its hedge (the policy did not cancel it first)."""
    entry_working: bool
    """... and the engine already knew that entry working at T (a reply had shown it resting or
    filled), rather than still on its way to the venue or back."""
    time_to_flat: float
    fallback: bool
    trim: bool
    rollback: bool
    exposure: float
    over_hedge: bool
    unflat: bool
    open_orders: int


# ---------------------------------------------------------------------------- one run


def build(setup: str, scenario: str, seed: int) -> dict[str, SimVenue]:
    regime = get_scenario(scenario)
    market = MarketModel(seed, quote_interval=regime.quote_interval, exact_path=True)
    names = {venue for venue, _ in SETUPS[setup]}
    return {name: PRESETS[name]().build(market, seed=seed, scenario=regime) for name in sorted(names)}


async def entry_legs(venues: dict[str, SimVenue], setup: str, clock: policies.PolicyClock) -> list[LegSpec]:
    """Buy at the first venue's bid, sell the same tokens at the second's ask, as read just before.

    The books are read through the venues (latency, faults: a refused or hung read is asked
    again, each bounded), as a trader reads a price to rest at; the same reads for every policy.
    """
    (buy_venue, buy_symbol), (sell_venue, sell_symbol) = SETUPS[setup]
    out = []
    for (name, symbol), side in (((buy_venue, buy_symbol), Side.BUY), ((sell_venue, sell_symbol), Side.SELL)):
        venue = venues[name]
        inst = instrument(venue, symbol)
        for _ in range(40):
            try:
                bbo = await clock.wait_for(venue.best_bid_offer(symbol), 1.0)
                break
            except (VenueError, TimeoutError):
                await clock.sleep(0.05)
        else:
            raise RuntimeError(f"{name} {symbol}: no quote to rest at after 40 reads")
        extra = {"post_only": ENTRY_POST_ONLY} if "post_only" in LEG_SPEC_FIELDS else {}
        out.append(
            LegSpec(
                venue=name,
                symbol=symbol,
                side=side,
                quantity=TOKENS / inst.multiplier,
                price=bbo.bid if side is Side.BUY else bbo.ask,
                **extra,  # type: ignore[arg-type]
            )
        )
    return out


def instrument(venue: SimVenue, symbol: str) -> Instrument:
    """A listed contract, from the venue's preset (static data: no call, no latency)."""
    for spec in PRESETS[venue.name]().symbols:
        if spec.instrument.symbol == symbol:
            return spec.instrument
    raise KeyError(f"{venue.name} lists no {symbol}")


def _order(venue: SimVenue, symbol: str, cid: str | None) -> OrderInfo | None:
    if cid is None:
        return None
    for order in venue.orders(symbol):
        if order.client_order_id == cid:
            return order
    return None


def context(
    venues: dict[str, SimVenue], watch: TriggerWatch, clock: policies.PolicyClock
) -> policies.HedgeContext:
    """The peers' view at T, from the legs the engine set up and the venues' truth."""
    assert watch.trigger_leg is not None and len(watch.legs) == 2
    trig = watch.legs[watch.trigger_leg]
    hedge = watch.legs[1 - watch.trigger_leg]
    trig_venue, hedge_venue = venues[trig.venue], venues[hedge.venue]
    trig_inst = instrument(trig_venue, trig.symbol)
    hedge_inst = instrument(hedge_venue, hedge.symbol)
    trig_order = _order(trig_venue, trig.symbol, trig.entry_cid)
    assert trig_order is not None and trig_order.average_price is not None
    target = scaled_target(hedge.quantity, trig_order.filled_quantity, trig.quantity, hedge_inst.lot_size)
    return policies.HedgeContext(
        clock=clock,
        venues=dict(venues),  # type: ignore[arg-type]
        trigger_venue=trig.venue,
        trigger_symbol=trig.symbol,
        trigger_instrument=trig_inst,
        trigger_quantity=trig_order.filled_quantity,
        trigger=TriggerFill(
            side=trig.side,
            price=trig_order.average_price,
            multiplier=trig_inst.multiplier,
            fee_rate=trig_inst.maker_fee,
        ),
        hedge_venue=hedge.venue,
        hedge_symbol=hedge.symbol,
        hedge_instrument=hedge_inst,
        hedge_side=hedge.side,
        target=target,
        entry=_order(hedge_venue, hedge.symbol, hedge.entry_cid),
    )


async def finish(clock: policies.PolicyClock, venues: dict[str, SimVenue], t0: float) -> float:
    """Let the market run to the horizon (forgotten orders can still fill), late requests land."""
    horizon = max(t0 + HORIZON, clock.now())
    await clock.sleep(horizon - clock.now())
    for venue in venues.values():
        await venue.settle()
    return horizon


def config_of(policy: str, venues: dict[str, SimVenue] | None = None) -> HedgeConfig:
    """The policy's config. The engine's rows price risk as this benchmark does (``risk_aversion``
    = λ, the default 1 unless ``--lam`` says otherwise) and measure the market's volatility from
    the book; with ``--tell-volatility`` they are told it (``volatility_bps``, the trader's own
    estimate: here the simulator's parameter, the best such an estimate can be). The peers'
    rules use neither, and the entry phase depends on neither."""
    config = policies.ENGINE_CONFIGS.get(policy, policies.PEER_ENTRY_CONFIG)
    if venues is None or policy not in policies.ENGINE_CONFIGS or not hasattr(config, "volatility_bps"):
        return config
    sigma = max(
        venue.book(symbol).config.volatility for venue in venues.values() for symbol in venue.symbols()
    )
    return attrs.evolve(
        config, risk_aversion=LAMBDA, volatility_bps=sigma * 10_000 if TELL_VOLATILITY else None
    )


def run_sync(setup: str, scenario: str, seed: int, policy: str) -> RunFigures | None:
    """One run on the synchronous driver; None when the entry never triggered."""
    venues = build(setup, scenario, seed)
    peer = policies.PEERS.get(policy)
    loop = SimLoop()
    clock = policies.LoopTime(loop)
    watch = TriggerWatch(loop.time, stop=peer is not None)
    sim = SimEngine(venues, config_of(policy, venues), observers=[watch], loop=loop)
    legs = sim.run(entry_legs(venues, setup, clock))
    result = None
    with contextlib.suppress(StopAtTrigger):  # a peer takes over at T
        result = sim.execute(legs, hedge_id=f"q{seed}")
    if watch.time is None:
        return None
    ctx = context(venues, watch, clock)
    if peer is not None:
        sim.run(policies.hand_over(ctx, peer))
    horizon = sim.run(finish(clock, venues, watch.time))
    return measure(scenario, setup, seed, policy, venues, watch, ctx, horizon, result)


def run_asyncio(setup: str, scenario: str, seed: int, policy: str) -> RunFigures | None:
    """The same run on the asyncio driver (``HedgeEngine`` on ``hedge_fsm.sim.run``)."""

    async def episode() -> RunFigures | None:
        import asyncio

        venues = build(setup, scenario, seed)
        clock = policies.AsyncioTime()
        legs = await entry_legs(venues, setup, clock)
        peer = policies.PEERS.get(policy)
        loop = asyncio.get_running_loop()
        watch = TriggerWatch(loop.time, stop=peer is not None)
        engine = HedgeEngine(venues, config_of(policy, venues), observers=[watch])  # type: ignore[arg-type]
        result = None
        with contextlib.suppress(StopAtTrigger):  # a peer takes over at T
            result = await engine.execute(legs, hedge_id=f"q{seed}")
        if watch.time is None:
            return None
        ctx = context(venues, watch, clock)
        if peer is not None:
            await policies.hand_over(ctx, peer)
        horizon = await finish(clock, venues, watch.time)
        return measure(scenario, setup, seed, policy, venues, watch, ctx, horizon, result)

    out: RunFigures | None = run(episode())
    return out


def _accepted(venue: SimVenue) -> dict[str, float]:
    """When each order was accepted at the venue (from its log)."""
    return {r.detail.split(" ", 1)[0]: r.time for r in venue.log.records if r.event == "accept"}


def one_way(venue: SimVenue) -> float:
    """The venue's mean one-way latency of an order: the latency model's own ``one_way`` where it
    has one (request leg, speed bump, half a block), else the mean request leg of ``place``."""
    own = getattr(venue.latency, "one_way", None)
    if own is not None:
        return float(own())
    op = venue.latency.place
    return (op.latency + op.jitter / 2) * op.request_share


def measure(
    scenario: str,
    setup: str,
    seed: int,
    name: str,
    venues: dict[str, SimVenue],
    watch: TriggerWatch,
    ctx: policies.HedgeContext,
    horizon: float,
    result: Any,
) -> RunFigures:
    assert watch.time is not None and watch.trigger_leg is not None
    t0 = watch.time
    trig = watch.legs[watch.trigger_leg]
    hedge_leg = watch.legs[1 - watch.trigger_leg]
    tkey, hkey = (trig.venue, trig.symbol), (hedge_leg.venue, hedge_leg.symbol)
    tvenue, hvenue = venues[trig.venue], venues[hedge_leg.venue]
    mult = {tkey: ctx.trigger_instrument.multiplier, hkey: ctx.hedge_instrument.multiplier}
    arrival = {key: venues[key[0]].book(key[1]).bbo(t0).mid for key in (tkey, hkey)}
    trigger_order = _order(tvenue, trig.symbol, trig.entry_cid)
    assert trigger_order is not None
    fills = sorted(
        (f for v in venues.values() for f in v.fills if (f.venue, f.symbol) in arrival),
        key=lambda f: f.time,
    )
    exposure = Decimal(0)
    cost = Decimal(0)
    hedge_filled = maker = hedge_after = Decimal(0)
    trigger_back = hedge_back = Decimal(0)
    path: list[tuple[float, Decimal]] = []
    for fill in fills:
        key = (fill.venue, fill.symbol)
        exposure += fill.side.sign * fill.quantity * mult[key]
        if key == hkey:
            if fill.side is hedge_leg.side:
                hedge_filled += fill.quantity
            else:
                hedge_back += fill.quantity
        after = fill.time >= t0 and fill.order_id != trigger_order.order_id
        if not after:
            continue
        path.append((fill.time, exposure))
        cost += fill.side.sign * (fill.price - arrival[key]) * fill.quantity + fill.fee
        if key == hkey and fill.side is hedge_leg.side:
            hedge_after += fill.quantity
            if fill.liquidity.value == "maker":
                maker += fill.quantity
        if key == tkey and fill.side is not trig.side:
            trigger_back += fill.quantity
    start_exposure = sum(
        (
            f.side.sign * f.quantity * mult[(f.venue, f.symbol)]
            for f in fills
            if not (f.time >= t0 and f.order_id != trigger_order.order_id)
        ),
        Decimal(0),
    )
    hedge_tokens = ctx.target * mult[hkey] if ctx.target else TOKENS
    target = scaled_target(
        hedge_leg.quantity, trigger_order.filled_quantity, trig.quantity, ctx.hedge_instrument.lot_size
    )
    notional = target * arrival[hkey]
    cost_bps = float(cost / notional * 10_000) if notional else math.nan
    lot_tokens = max(ctx.hedge_instrument.lot_size * mult[hkey], ctx.trigger_instrument.lot_size * mult[tkey])
    flat_since: float | None = t0 if abs(start_exposure) <= lot_tokens else None
    for when, level in path:
        if abs(level) <= lot_tokens:
            if flat_since is None:
                flat_since = when
        else:
            flat_since = None
    unflat = abs(exposure) > lot_tokens
    time_to_flat = math.inf if unflat or flat_since is None else max(0.0, flat_since - t0)
    # Unhedged exposure: |exposure| integrated from T to T + HORIZON (token-seconds).
    integral = 0.0
    level_tokens = float(start_exposure)
    last, end = t0, t0 + HORIZON
    for when, level in path:
        if when > end:
            break
        integral += abs(level_tokens) * (when - last)
        last, level_tokens = when, float(level)
    integral += abs(level_tokens) * max(0.0, end - last)
    sigma = hvenue.book(hedge_leg.symbol).config.volatility
    full_tokens = float(target * mult[hkey]) or float(hedge_tokens)
    risk = LAMBDA * sigma * math.sqrt(integral / full_tokens) * 10_000
    # Orders after T, from the venues' logs.
    h_accepted, t_accepted = _accepted(hvenue), _accepted(tvenue)
    entry = _order(hvenue, hedge_leg.symbol, hedge_leg.entry_cid)
    new_hedge = [
        o
        for o in hvenue.orders(hedge_leg.symbol)
        if o.order_id in h_accepted
        and h_accepted[o.order_id] >= t0
        and o.side is hedge_leg.side
        and (entry is None or o.order_id != entry.order_id)
    ]
    fallback = any(o.price is None for o in new_hedge)
    hedge_back_orders = any(
        o.side is not hedge_leg.side and h_accepted.get(o.order_id, -1.0) >= t0
        for o in hvenue.orders(hedge_leg.symbol)
    )
    trigger_back_orders = any(
        o.side is not trig.side and t_accepted.get(o.order_id, -1.0) >= t0 for o in tvenue.orders(trig.symbol)
    )
    kept = hedge_filled - hedge_back
    rollback = hedge_back_orders or (trigger_back_orders and kept <= 0)
    trim = trigger_back_orders and not rollback
    # The entry order is one of the leg's hedge orders when the engine adopted it: its leg
    # machine's ledger holds it (peers never adopt: they cancel it first, in hand_over).
    hedge_index = 1 - watch.trigger_leg
    leg_machine = getattr(watch.supervisor.plans[hedge_index], "hedge", None)
    adopted = (
        entry is not None
        and leg_machine is not None
        and (
            getattr(leg_machine, "adopted", None) is not None
            or entry.client_order_id in leg_machine.ledger.orders
        )
    )
    hedge_ids = {o.order_id for o in new_hedge} | ({entry.order_id} if adopted and entry else set())
    unit = one_way(hvenue)
    accepts = [h_accepted[i] for i in hedge_ids if i in h_accepted]
    venue_reaction = max(0.0, min(accepts) - t0) / unit if accepts else None
    shown = _shown_working(hvenue)
    acks = [shown[i] for i in hedge_ids if i in shown]
    reaction = max(0.0, min(acks) - t0) / unit if acks else None
    reported_trim = getattr(result, "trimmed", None) if result is not None else None
    reported = None
    if result is not None:
        leg_result = result.legs[hedge_index]
        reported = getattr(leg_result, "reaction_time", None)
        if reported is not None:
            reported /= unit
    open_orders = sum(len(v.open_orders()) for v in venues.values())
    return RunFigures(
        scenario=scenario,
        setup=setup,
        seed=seed,
        policy=name,
        trigger_time=t0,
        trigger_venue=trig.venue,
        cost_bps=cost_bps,
        risk_adjusted_bps=cost_bps + risk,
        maker_share=float(maker / hedge_after) if hedge_after else None,
        reaction_latencies=reaction if reported is None else reported,
        measured_reaction=reaction,
        venue_reaction=venue_reaction,
        reported_reaction=reported,
        reported_trim=reported_trim,
        adopted=adopted,
        entry_working=adopted and entry is not None and shown.get(entry.order_id, math.inf) < t0,
        time_to_flat=time_to_flat,
        fallback=fallback,
        trim=trim,
        rollback=rollback,
        exposure=integral,
        over_hedge=hedge_filled > target,
        unflat=unflat,
        open_orders=open_orders,
    )


_WORKING = ("status=open", "status=partially_filled", "status=filled")


def _shown_working(venue: SimVenue) -> dict[str, float]:
    """When a reply first showed each order working (resting, or with a fill): the time the
    trader learns that the order works."""
    out: dict[str, float] = {}
    for r in venue.log.records:
        if r.event != "reply":
            continue
        parts = r.detail.split()
        if len(parts) < 5 or parts[0] not in ("place_limit", "place_market", "order", "cancel"):
            continue
        order_id = parts[1]
        if order_id in out:
            continue
        filled = parts[4].startswith("filled=") and Decimal(parts[4][len("filled=") :]) > 0
        if parts[3] in _WORKING or filled:
            out[order_id] = r.time
    return out


Runner = Callable[[str, str, int, str], "RunFigures | None"]


def job(args: tuple[str, str, int], runner: Runner = run_sync) -> list[RunFigures]:
    """Every policy on one (setup, market, seed); [] when the entry never triggered."""
    setup, scenario, seed = args
    out = [runner(setup, scenario, seed, name) for name in POLICIES]
    found = [r for r in out if r is not None]
    if not found:
        return []
    triggers = {(r.trigger_time, r.trigger_venue) for r in found}
    if len(found) != len(out) or len(triggers) != 1:
        raise AssertionError(
            f"{setup} {scenario} seed {seed}: the trigger differs between policies: "
            + repr([(n, r and (r.trigger_time, r.trigger_venue)) for n, r in zip(POLICIES, out, strict=True)])
        )
    return found


# ---------------------------------------------------------------------------- report


def _num(value: float | None) -> float | None:
    """A JSON number, or null for never / not defined."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def aggregate(rows: Sequence[RunFigures]) -> dict[str, Any]:
    n = len(rows)
    costs = [r.cost_bps for r in rows]
    makers = [r.maker_share for r in rows if r.maker_share is not None]
    reactions = [r.reaction_latencies for r in rows if r.reaction_latencies is not None]
    at_venue = [r.venue_reaction for r in rows if r.venue_reaction is not None]
    ttf = [r.time_to_flat for r in rows]
    return {
        "runs": n,
        "cost_bps": sum(costs) / n,
        "cost_se": statistics.stdev(costs) / math.sqrt(n) if n > 1 else math.nan,
        "risk_adjusted_bps": sum(r.risk_adjusted_bps for r in rows) / n,
        "maker_ratio": sum(makers) / len(makers) if makers else math.nan,
        "reaction_latencies_p50": percentile(reactions, 50) if reactions else math.nan,
        "venue_reaction_p50": percentile(at_venue, 50) if at_venue else math.nan,
        "adopted": sum(r.adopted for r in rows) / n,
        "ttf_p50": percentile(ttf, 50),
        "ttf_p99": percentile(ttf, 99),
        "fallback_rate": sum(r.fallback for r in rows) / n,
        "trim_rate": sum(r.trim for r in rows) / n,
        "rollback_rate": sum(r.rollback for r in rows) / n,
        "exposure": sum(r.exposure for r in rows) / n,
        "over_hedges": sum(r.over_hedge for r in rows),
        "open_orders": sum(r.open_orders for r in rows),
        "not_flat": sum(r.unflat for r in rows),
    }


JSON_KEYS = (
    "runs",
    "cost_bps",
    "cost_se",
    "risk_adjusted_bps",
    "maker_ratio",
    "reaction_latencies_p50",
    "ttf_p50",
    "ttf_p99",
    "fallback_rate",
    "trim_rate",
    "rollback_rate",
    "over_hedges",
    "open_orders",
    "not_flat",
)
COUNTS = ("runs", "over_hedges", "open_orders", "not_flat")


def json_rows(
    results: Sequence[RunFigures], scenarios: Sequence[str], setups: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per (market, setup, policy), then the pooled rows (``"setup": "all"``) per market."""
    rows: list[dict[str, Any]] = []
    for scenario in scenarios:
        for setup in [*setups, "all"]:
            for policy in POLICIES:
                cell = [
                    r
                    for r in results
                    if r.scenario == scenario and r.policy == policy and setup in ("all", r.setup)
                ]
                if not cell:
                    continue
                figures = aggregate(cell)
                row: dict[str, Any] = {"market": scenario, "setup": setup, "policy": policy}
                for key in JSON_KEYS:
                    row[key] = int(figures[key]) if key in COUNTS else _num(figures[key])
                rows.append(row)
    return rows


def _fmt(value: float, spec: str, width: int) -> str:
    if math.isinf(value):
        return f"{'inf':>{width}s}"
    if math.isnan(value):
        return f"{'-':>{width}s}"
    return f"{value:{width}{spec}}"


HEADER = (
    f"{'market':9s} {'setup':20s} {'policy':15s} {'runs':>4s} {'cost':>6s} {'±se':>5s} {'risk-adj':>8s} "
    f"{'maker':>6s} {'react':>5s} {'@venue':>6s} {'ttf p50':>7s} {'ttf p99':>7s} {'fallbk':>6s} "
    f"{'trim':>5s} {'rollbk':>6s} {'exp Mtok*s':>10s} {'over':>4s} {'unflat':>6s} {'open':>4s}"
)


def row(market: str, setup: str, policy: str, f: dict[str, Any]) -> str:
    maker = "-" if math.isnan(f["maker_ratio"]) else f"{f['maker_ratio'] * 100:5.1f}%"
    return (
        f"{market:9s} {setup:20s} {policy:15s} {int(f['runs']):4d} {_fmt(f['cost_bps'], '.2f', 6)} "
        f"{_fmt(f['cost_se'], '.2f', 5)} {_fmt(f['risk_adjusted_bps'], '.2f', 8)} {maker:>6s} "
        f"{_fmt(f['reaction_latencies_p50'], '.1f', 5)} {_fmt(f['venue_reaction_p50'], '.1f', 6)} "
        f"{_fmt(f['ttf_p50'], '.2f', 7)} {_fmt(f['ttf_p99'], '.2f', 7)} "
        f"{f['fallback_rate'] * 100:5.0f}% {f['trim_rate'] * 100:4.0f}% {f['rollback_rate'] * 100:5.0f}% "
        f"{f['exposure'] / 1e6:10.2f} {int(f['over_hedges']):4d} {int(f['not_flat']):6d} "
        f"{int(f['open_orders']):4d}"
    )


def paired_stats(pairs: Sequence[tuple[RunFigures, RunFigures]]) -> dict[str, float]:
    costs = [r.cost_bps - e.cost_bps for r, e in pairs]
    risk = [r.risk_adjusted_bps - e.risk_adjusted_bps for r, e in pairs]
    n = len(costs)
    return {
        "runs": n,
        "d_cost": sum(costs) / n,
        "d_cost_se": statistics.stdev(costs) / math.sqrt(n) if n > 1 else math.nan,
        "d_risk": sum(risk) / n,
        "d_risk_se": statistics.stdev(risk) / math.sqrt(n) if n > 1 else math.nan,
        "cheaper": sum(r.cost_bps < e.cost_bps for r, e in pairs) / n,
        "faster": sum(r.time_to_flat < e.time_to_flat for r, e in pairs) / n,
    }


def targets(results: Sequence[RunFigures], scenarios: Sequence[str], setups: Sequence[str]) -> list[str]:
    """Issue 13's targets, each cell marked met or missed and by how much."""
    lines = []
    engine = {(r.scenario, r.setup, r.seed): r for r in results if r.policy == "engine"}
    for scenario in scenarios:
        for setup in [*setups, "all"]:
            cell = [r for r in results if r.scenario == scenario and setup in ("all", r.setup)]
            if not cell:
                continue
            by_policy = {p: aggregate([r for r in cell if r.policy == p]) for p in POLICIES}
            mine = by_policy["engine"]
            best_other = min(
                (p for p in POLICIES if p != "engine"), key=lambda p: by_policy[p]["risk_adjusted_bps"]
            )
            gap = mine["risk_adjusted_bps"] - by_policy[best_other]["risk_adjusted_bps"]
            verdict = "met" if gap <= 0 else f"MISSED by {gap:.2f} bps"
            dominated = []
            for p in POLICIES:
                if p == "engine":
                    continue
                pairs = [(r, engine[(r.scenario, r.setup, r.seed)]) for r in cell if r.policy == p]
                st = paired_stats(pairs)
                faster = by_policy[p]["ttf_p50"] < mine["ttf_p50"]
                if st["d_cost"] < -st["d_cost_se"] and faster:
                    dominated.append(
                        f"{p} ({st['d_cost']:+.2f} ± {st['d_cost_se']:.2f} bps, ttf p50 "
                        f"{by_policy[p]['ttf_p50']:.2f} vs {mine['ttf_p50']:.2f} s)"
                    )
            lines.append(
                f"{scenario:9s} {setup:20s} lowest risk-adjusted: {verdict} (engine "
                f"{mine['risk_adjusted_bps']:.2f}, best other {best_other} "
                f"{by_policy[best_other]['risk_adjusted_bps']:.2f}); cheaper by > 1 se and faster: "
                + (", ".join(dominated) if dominated else "none (met)")
            )
    rows = [r for r in results if r.policy == "engine"]
    adopted = [r for r in rows if r.adopted and r.entry_working]
    in_flight = [r for r in rows if r.adopted and not r.entry_working]
    fresh = [r.venue_reaction for r in rows if not r.adopted and r.venue_reaction is not None]
    zero = all(r.reaction_latencies == 0 and r.venue_reaction == 0 for r in adopted)
    reported = [r for r in rows if r.reported_reaction is not None]
    disagree = [
        r
        for r in reported
        if r.measured_reaction is None or abs(r.reported_reaction - r.measured_reaction) > 1e-6  # type: ignore[operator]
    ]
    if not fresh:
        fresh_verdict = "n/a"
    elif max(fresh) <= 1:
        fresh_verdict = "met"
    else:
        fresh_verdict = f"MISSED by {max(fresh) - 1:.2f} at the max, {percentile(fresh, 50) - 1:.2f} at p50"
    if not adopted:
        zero_verdict = "none adopted: n/a"
    else:
        zero_verdict = "0 for all of them (met)" if zero else "NOT 0 (missed)"
    lines.append(
        f"reaction (engine): {len(adopted)} of {len(rows)} legs adopted an entry known working at T, "
        f"reaction {zero_verdict}; {len(in_flight)} adopted one still on its way at T (p50 "
        f"{percentile([r.reaction_latencies for r in in_flight if r.reaction_latencies is not None], 50):.2f}"
        f"); {len(fresh)} placed a "
        f"new order first: p50 {percentile(fresh, 50):.2f}, p90 {percentile(fresh, 90):.2f}, max "
        f"{max(fresh, default=math.nan):.2f} one-way latencies until the venue accepts it (target <= 1: "
        f"{fresh_verdict})"
    )
    lines.append(
        f"engine's own reaction_time: {len(reported)} of {len(rows)} legs report one; the log-measured "
        f"reaction (until a reply shows the order working) differs on {len(disagree)}"
    )
    engines = [r for r in results if r.policy in policies.ENGINE_CONFIGS and r.reported_trim is not None]
    trims = [r for r in engines if r.reported_trim != r.trim]
    lines.append(
        f"engine's own trimmed flag: {len(engines)} engine runs report one, {sum(r.trim for r in engines)} "
        f"trimmed by the venues' truth, {len(trims)} disagree"
    )
    over = sum(r.over_hedge for r in rows)
    opened = sum(r.open_orders for r in rows)
    unflat = sum(r.unflat for r in rows)
    lines.append(
        f"engine: {over} over-hedges, {opened} orders left open, {unflat} runs not flat "
        f"({'met' if over == opened == unflat == 0 else 'MISSED'})"
    )
    return lines


def plot(
    groups: dict[tuple[str, str], dict[str, Any]], path: str, seeds: int, scenarios: Sequence[str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "engine": "tab:blue",
        "engine (cancel)": "tab:cyan",
        "market-only": "tab:red",
        "seed flow": "tab:orange",
        "chaser": "tab:green",
        "ioc ladder": "tab:purple",
    }
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.2 * len(scenarios), 4.8), squeeze=False)
    for ax, market in zip(axes[0], scenarios, strict=True):
        for policy in POLICIES:
            figures = groups.get((market, policy))
            if figures is None:
                continue
            x, y, se = figures["ttf_p50"], figures["cost_bps"], figures["cost_se"]
            if math.isinf(x) or math.isnan(y):
                continue
            ax.errorbar(
                x,
                y,
                yerr=0 if math.isnan(se) else se,
                fmt="o",
                color=colours[policy],
                markeredgecolor="black",
                markersize=8,
                capsize=3,
                label=policy,
            )
            # Labels of nearby points (engine and its ablation coincide until adoption) kept apart.
            offsets = {"engine": (6, 6), "engine (cancel)": (6, -10), "ioc ladder": (6, 6)}
            offset = offsets.get(policy, (6, -4))
            ax.annotate(policy, (x, y), textcoords="offset points", xytext=offset, fontsize=7)
        # The frontier: the policies no other beats on both cost and median time to flat.
        points = sorted(
            (g["ttf_p50"], g["cost_bps"])
            for (m, _p), g in groups.items()
            if m == market and not math.isinf(g["ttf_p50"]) and not math.isnan(g["cost_bps"])
        )
        front, best = [], math.inf
        for x, y in points:
            if y < best:
                front.append((x, y))
                best = y
        if len(front) > 1:
            ax.plot(*zip(*front, strict=True), linestyle="--", color="grey", linewidth=1, zorder=0)
        ax.set_title(f"{market} (dashed: the frontier)")
        ax.set_xlabel("time to flat, median (s)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("mean cost vs arrival mid (bps, fees + slippage) ± se")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"Hedge cost against time to flat ({seeds} seeds x {len(SETUPS)} venue pairings per point)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def driver_check(jobs: Sequence[tuple[str, str, int]]) -> None:
    """The same jobs on both drivers, alternating, in this process: episodes/s and equality."""
    timings: dict[str, float] = {"sync": 0.0, "asyncio": 0.0}
    episodes = 0
    same = True
    if jobs:  # warm-up, untimed: first calls (imports, caches) are not either driver's cost
        job(jobs[0], run_asyncio)
        job(jobs[0], run_sync)
    for item in jobs:
        outs = {}
        for name, runner in (("asyncio", run_asyncio), ("sync", run_sync)):
            started = time.thread_time()
            outs[name] = job(item, runner)
            timings[name] += time.thread_time() - started
        episodes += len(POLICIES)
        same = same and outs["sync"] == outs["asyncio"]
    rate = {k: episodes / v if v else math.nan for k, v in timings.items()}
    print(
        f"driver check: {len(jobs)} jobs x {len(POLICIES)} policies = {episodes} episodes per driver, "
        f"CPU time (thread_time): sync {rate['sync']:.1f} episodes/s, asyncio {rate['asyncio']:.1f} "
        f"episodes/s (sync / asyncio {rate['sync'] / rate['asyncio']:.2f}x); figures identical: "
        f"{'yes' if same else 'NO'}"
    )


def _run_jobs(jobs: Sequence[tuple[str, str, int]], processes: int) -> list[RunFigures]:
    results: list[RunFigures] = []
    if processes <= 1:
        for item in jobs:
            results += job(item)
    else:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            for out in pool.map(job, jobs, chunksize=2):
                results += out
    return results


def main(argv: Sequence[str] | None = None) -> None:
    global LAMBDA, TELL_VOLATILITY
    parser = argparse.ArgumentParser(description="hedge quality of six policies on common random numbers")
    parser.add_argument("--seeds", type=int, default=60, help="seeds per market and pairing (default 60)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--lam", type=float, default=LAMBDA, help="lambda of the risk penalty (default 1)")
    parser.add_argument("--json", default="", help="write {'rows': [...]} to this path")
    parser.add_argument(
        "--tell-volatility",
        action="store_true",
        help="tell the engine the market's volatility (HedgeConfig.volatility_bps); by default it "
        "measures it from the book",
    )
    parser.add_argument(
        "--driver-check",
        type=int,
        default=8,
        metavar="N",
        help="re-run the first N jobs on both drivers and compare (0: skip; default 8)",
    )
    parser.add_argument(
        "--plot",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "quality.png"),
        help="where to write the plot (default benchmarks/quality.png; '' for none)",
    )
    args = parser.parse_args(argv)
    LAMBDA = args.lam
    TELL_VOLATILITY = args.tell_volatility
    scenarios = args.scenarios.split(",")
    setups = args.setups.split(",")
    jobs = [
        (setup, scenario, seed)
        for scenario in scenarios
        for setup in setups
        for seed in range(1, args.seeds + 1)
    ]

    print(machine_line())
    if not policies.HAS_HANDOFF:
        print(
            "note: this engine has no HedgeConfig.entry_handoff: 'engine' and 'engine (cancel)' are both "
            "the cancel-first path"
        )
    started = time.perf_counter()
    results = _run_jobs(jobs, args.processes)
    wall = time.perf_counter() - started
    triggered = len({(r.scenario, r.setup, r.seed) for r in results})
    print(
        f"{len(results)} hedges ({triggered} triggers of {len(jobs)} entries x {len(POLICIES)} policies) in "
        f"{wall:.1f} s on {args.processes} process(es), synchronous driver; seeds 1..{args.seeds}; "
        f"risk penalty lambda = {LAMBDA:g} (x sigma x sqrt(exposure seconds))\n"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"rows": json_rows(results, scenarios, setups)}, handle, indent=1, allow_nan=False)
            handle.write("\n")
        print(f"json: {args.json}")

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
            for policy in POLICIES:
                if by_cell[(scenario, setup, policy)]:
                    print(row(scenario, setup, policy, aggregate(by_cell[(scenario, setup, policy)])))
        for policy in POLICIES:
            if by_market[(scenario, policy)]:
                print(row(scenario, "all", policy, aggregate(by_market[(scenario, policy)])))
        print()
    for policy in POLICIES:
        if by_policy[policy]:
            print(row("all", "all", policy, aggregate(by_policy[policy])))

    engine = {(r.scenario, r.setup, r.seed): r for r in results if r.policy == "engine"}
    print("\npaired with the engine on the same trigger and market path (policy - engine)")
    print(
        f"{'market':9s} {'policy':15s} {'runs':>5s} {'d cost':>7s} {'±se':>5s} {'d risk-adj':>10s} "
        f"{'±se':>5s} {'cheaper':>7s} {'faster':>6s}"
    )
    for market in [*scenarios, "all"]:
        for policy in POLICIES[1:]:
            pairs = [
                (r, engine[(r.scenario, r.setup, r.seed)])
                for r in results
                if r.policy == policy and market in ("all", r.scenario)
            ]
            if not pairs:
                continue
            st = paired_stats(pairs)
            print(
                f"{market:9s} {policy:15s} {int(st['runs']):5d} {st['d_cost']:7.2f} "
                f"{_fmt(st['d_cost_se'], '.2f', 5)} {st['d_risk']:10.2f} {_fmt(st['d_risk_se'], '.2f', 5)} "
                f"{st['cheaper'] * 100:6.0f}% {st['faster'] * 100:5.0f}%"
            )
    if results:
        print("\ntargets (issue 13)")
        for line in targets(results, scenarios, setups):
            print("  " + line)
    if args.plot and results:
        groups = {key: aggregate(rows) for key, rows in by_market.items()}
        plot(groups, args.plot, args.seeds, scenarios)
        print(f"\nplot: {args.plot} (one point per policy and market; pairings pooled)")
    if args.driver_check:
        print()
        driver_check(jobs[: args.driver_check])


if __name__ == "__main__":
    main()
