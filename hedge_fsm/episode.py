"""One simulated episode, end to end: the main job behind ``hedge-fsm simulate``.

Theory of operation
-------------------
:func:`simulate` builds the default two-venue setup of :mod:`hedge_fsm.sim`
(a 1x ``PEPEUSDT`` leg on a Binance-like venue against a 1000x ``kPEPE`` leg
on a Lighter-like venue, balanced in tokens), rests an entry order on each leg
at its own best price, and runs :class:`~hedge_fsm.HedgeEngine` on virtual
time until the hedge is terminal. It returns an :class:`Episode`: the engine's
result, the venues (their logs and fills), a merged timeline, and one
:class:`LegReport` per leg with the transaction-cost figures a trader reads:
cost in basis points (fees plus slippage against the arrival mid, the mid at
the trigger fill) and time to flat.

Everything is deterministic: the same scenario and seed give the same
episode, byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from hedge_fsm.config import HedgeConfig
from hedge_fsm.engine import HedgeEngine, HedgeObserver
from hedge_fsm.errors import InvalidValue, VenueError
from hedge_fsm.invariants import check_supervisor
from hedge_fsm.journal import JournalWriter
from hedge_fsm.machines.commands import Command
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, Route
from hedge_fsm.sim import Scenario, SimVenue, build_venues, run
from hedge_fsm.values import BBO, ExecutionResult, LegSpec, Side

__all__ = ["DEFAULT_TOKENS", "Episode", "LegReport", "TimelineEntry", "default_legs", "simulate"]

DEFAULT_TOKENS = Decimal(10_000_000)
"""Tokens per leg in the default episode (about 100 USDT of PEPE)."""

ZERO = Decimal(0)
BPS = Decimal(10_000)

Pause = Callable[[float], Awaitable[None]]


@attrs.frozen(kw_only=True)
class LegReport:
    """One leg's figures, as the result table prints them."""

    venue: str
    symbol: str
    side: str
    role: str
    """``trigger`` (the reference fill), ``hedge``, or ``entry``."""
    target: Decimal
    filled: Decimal
    maker: Decimal
    taker: Decimal
    average_price: Decimal | None
    arrival_mid: Decimal | None
    cost_bps: Decimal | None
    """Fees plus slippage against the arrival mid, in basis points of notional (positive: paid)."""
    fees: Decimal
    time_to_flat: float | None
    """Seconds from the trigger fill to the leg's last fill or end."""
    state: str


@attrs.frozen(kw_only=True)
class TimelineEntry:
    time: float
    source: str
    """``engine`` (a transition) or a venue name."""
    text: str


@attrs.define(kw_only=True)
class Episode:
    """The outcome of one simulated hedge."""

    scenario: str
    seed: int
    result: ExecutionResult
    venues: dict[str, SimVenue]
    legs: list[LegReport]
    timeline: list[TimelineEntry]
    trigger_time: float | None
    invariant_violations: list[str]

    def venue_log(self) -> str:
        """Every venue's event log, merged in time order (deterministic for a seed)."""
        records = sorted(
            (r for v in self.venues.values() for r in v.log.records),
            key=lambda r: (r.time, r.venue),
        )
        return "\n".join(r.line() for r in records)


class _Capture:
    """Keeps the supervisor so invariants can be checked on it after the run."""

    def __init__(self) -> None:
        self.supervisor: HedgeSupervisor | None = None

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        self.supervisor = supervisor

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        pass

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        pass

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None:
        pass


async def _book(venue: SimVenue, symbol: str, pause: Pause = asyncio.sleep) -> BBO:
    # The harness reads a price to rest at; a faulty venue may refuse a read: ask again.
    for _ in range(20):
        try:
            return await venue.best_bid_offer(symbol)
        except VenueError:
            await pause(0.05)
    return await venue.best_bid_offer(symbol)


async def default_legs(
    venues: dict[str, SimVenue], tokens: Decimal = DEFAULT_TOKENS, *, pause: Pause = asyncio.sleep
) -> list[LegSpec]:
    """Buy PEPE on ``binance`` at its bid, sell the same tokens of kPEPE on ``lighter`` at its ask.

    ``pause`` waits between retries of a refused read (the driver's sleep).
    """
    binance, lighter = venues["binance"], venues["lighter"]
    pepe = await binance.instrument("PEPEUSDT")
    kpepe = await lighter.instrument("kPEPE")
    pepe_book = await _book(binance, "PEPEUSDT", pause)
    kpepe_book = await _book(lighter, "kPEPE", pause)
    return [
        LegSpec(venue="binance", symbol="PEPEUSDT", side=Side.BUY,
                quantity=tokens / pepe.multiplier, price=pepe_book.bid),
        LegSpec(venue="lighter", symbol="kPEPE", side=Side.SELL,
                quantity=tokens / kpepe.multiplier, price=kpepe_book.ask),
    ]


def simulate(
    scenario: str | Scenario = "calm",
    seed: int = 1,
    *,
    config: HedgeConfig | None = None,
    journal: str | Path | None = None,
    tokens: Decimal = DEFAULT_TOKENS,
    zero_latency: bool = False,
    observers: Sequence[HedgeObserver] = (),
    driver: str = "sync",
) -> Episode:
    """Run the default two-leg episode on the simulated venues (virtual time).

    ``driver``: ``"sync"`` (the default, fast: :class:`hedge_fsm.sim.driver.SimEngine`)
    or ``"asyncio"`` (:class:`HedgeEngine` on :func:`hedge_fsm.sim.run`); the same seed
    gives the same episode on both.
    """
    if driver not in ("sync", "asyncio"):
        raise InvalidValue(f"simulate driver must be 'sync' or 'asyncio', got {driver!r}")
    venues = build_venues(scenario, seed, zero_latency=zero_latency)
    scenario_name = scenario if isinstance(scenario, str) else scenario.name
    capture = _Capture()
    watchers: list[HedgeObserver] = [capture, *observers]
    writer = JournalWriter(journal, fsync="never") if journal is not None else None
    if writer is not None:
        watchers.append(writer)

    async def main() -> ExecutionResult:
        legs = await default_legs(venues, tokens)
        engine = HedgeEngine(
            venues, config or HedgeConfig(), observers=watchers, hedge_ids=lambda: f"sim{seed}"
        )
        result = await engine.execute(legs)
        assert not (asyncio.all_tasks() - {asyncio.current_task()}), "engine left a task running"
        return result

    try:
        result = _run_sync(venues, tokens, config, watchers, seed) if driver == "sync" else run(main())
    finally:
        if writer is not None:
            writer.close()
    supervisor = capture.supervisor
    assert supervisor is not None
    positions = [venues[p.venue].positions().get(p.instrument.symbol, ZERO) for p in supervisor.plans]
    violations = check_supervisor(supervisor, positions)
    for venue in venues.values():
        violations += [f"{venue.name}: order left open {o.client_order_id}" for o in venue.open_orders()]
    for plan, position in zip(supervisor.plans, positions, strict=True):
        # Fill conservation against the venue's truth: every fill counted exactly once.
        traded = position - plan.baseline
        if traded != plan.net_signed():
            violations.append(
                f"leg {plan.index}: venue position moved {traded}, ledgers count {plan.net_signed()}"
            )
    trigger_time = _trigger_time(result)
    return Episode(
        scenario=scenario_name,
        seed=seed,
        result=result,
        venues=venues,
        legs=_leg_reports(result, supervisor, venues, trigger_time),
        timeline=_timeline(result, venues),
        trigger_time=trigger_time,
        invariant_violations=violations,
    )


def _run_sync(
    venues: dict[str, SimVenue],
    tokens: Decimal,
    config: HedgeConfig | None,
    watchers: Sequence[HedgeObserver],
    seed: int,
) -> ExecutionResult:
    """``main()`` of :func:`simulate` on the synchronous driver."""
    from hedge_fsm.sim.driver import SimEngine

    engine = SimEngine(
        venues, config or HedgeConfig(), observers=watchers, hedge_ids=lambda: f"sim{seed}"
    )
    legs = engine.run(default_legs(venues, tokens, pause=engine.loop.sleep))
    return engine.execute(legs)


def _trigger_time(result: ExecutionResult) -> float | None:
    for record in result.transitions:
        if record.machine == "supervisor" and record.destination in ("cancelling", "targeting"):
            return record.time
    return None


def _leg_reports(
    result: ExecutionResult,
    supervisor: HedgeSupervisor,
    venues: dict[str, SimVenue],
    trigger_time: float | None,
) -> list[LegReport]:
    reports = []
    for plan, leg in zip(supervisor.plans, result.legs, strict=True):
        venue = venues[plan.venue]
        arrival = None
        if trigger_time is not None:
            arrival = venue.book(plan.instrument.symbol).bbo_at(trigger_time).mid
        cost = None
        if arrival is not None and leg.average_price is not None and leg.filled_quantity > 0:
            slippage = plan.side.sign * (leg.average_price - arrival) / arrival * BPS
            fees = leg.fees / (leg.filled_quantity * leg.average_price) * BPS
            cost = (slippage + fees).quantize(Decimal("0.01"))
        leg_times = [t.time for t in result.transitions if t.machine == "leg" and t.leg == plan.index]
        fill_times = [f.time for f in venue.fills if f.symbol == plan.instrument.symbol]
        end = max([*leg_times, *fill_times], default=None)
        role = "trigger" if supervisor.reference_leg == plan.index else (
            "hedge" if plan.hedge is not None else "entry"
        )
        reports.append(
            LegReport(
                venue=plan.venue,
                symbol=plan.instrument.symbol,
                side=plan.side.value,
                role=role,
                target=leg.target_quantity,
                filled=leg.filled_quantity,
                maker=leg.maker_quantity,
                taker=leg.taker_quantity,
                average_price=leg.average_price,
                arrival_mid=arrival,
                cost_bps=cost,
                fees=leg.fees,
                time_to_flat=None if trigger_time is None or end is None else max(0.0, end - trigger_time),
                state=leg.state,
            )
        )
    return reports


def _timeline(result: ExecutionResult, venues: dict[str, SimVenue]) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            time=t.time,
            source="engine",
            text=t.describe(),
        )
        for t in result.transitions
    ]
    for venue in venues.values():
        entries += [
            TimelineEntry(time=r.time, source=r.venue, text=f"{r.event} {r.detail}")
            for r in venue.log.records
        ]
    entries.sort(key=lambda e: e.time)
    return entries
