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

:func:`simulate_concurrent` runs two hedges at once on the same symbols in
one engine (what the fault soak uses to check that concurrent hedges never
take each other's fills for their own).

Before the invariants are checked, every request still travelling to a venue
(a *late* placement, see :class:`~hedge_fsm.sim.FaultPlan`) is let arrive: an
order the engine forgot while it could still appear would show up as an open
order or as fills no ledger counts.

Everything is deterministic: the same scenario and seed give the same
episode, byte for byte.

With a journal, the hedge id is ``sim<seed>``, or ``sim<seed>r2``, ``r3``, ...
when the journal already holds that id (runs appended to one file stay apart;
see :func:`fresh_hedge_id`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Collection, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from hedge_fsm.config import HedgeConfig
from hedge_fsm.core.targets import is_unplaceable
from hedge_fsm.engine import HedgeEngine, HedgeObserver
from hedge_fsm.errors import HedgeError, InvalidValue, VenueError
from hedge_fsm.invariants import check_supervisor
from hedge_fsm.journal import JournalWriter, TornTail
from hedge_fsm.machines.commands import Command
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, Route
from hedge_fsm.sim import Scenario, SimVenue, build_venues, run
from hedge_fsm.values import BBO, ExecutionResult, LegSpec, Side

__all__ = [
    "DEFAULT_TOKENS",
    "ConcurrentEpisode",
    "Episode",
    "HarnessError",
    "LegReport",
    "TimelineEntry",
    "default_legs",
    "fresh_hedge_id",
    "simulate",
    "simulate_concurrent",
]

DEFAULT_TOKENS = Decimal(10_000_000)
"""Tokens per leg in the default episode (about 100 USDT of PEPE)."""

ZERO = Decimal(0)
BPS = Decimal(10_000)

Pause = Callable[[float], Awaitable[None]]
Bound = Callable[[Awaitable[BBO], float], Awaitable[BBO]]
"""A read bounded by a timeout on the driver's clock (``asyncio.wait_for`` by default)."""


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
    unwound: Decimal = Decimal(0)
    """Contracts traded back in a rollback (``HedgeResult.rolled_back_quantity``)."""
    unwind_cost_bps: Decimal | None = None
    """The unwind's cost against the intended price, fees included, in bps of what it traded."""
    trimmed: Decimal = Decimal(0)
    """Contracts the trigger leg gave back in a trim (``HedgeResult.trimmed_quantity``)."""
    trim_cost_bps: Decimal | None = None
    """The trim's cost against the intended price, fees included, in bps of what it traded."""


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
    hedge_id: str = ""
    """The id the hedge ran under (``sim<seed>``, or ``sim<seed>r<n>`` in a shared journal)."""
    journal_torn_tail: TornTail | None = None
    """A torn last record the journal had (a crash mid-write), truncated before appending."""

    def venue_log(self) -> str:
        """Every venue's event log, merged in time order (deterministic for a seed)."""
        records = sorted(
            (r for v in self.venues.values() for r in v.log.records),
            key=lambda r: (r.time, r.venue),
        )
        return "\n".join(r.line() for r in records)


class HarnessError(HedgeError):
    """The episode's own set-up failed (e.g. no quote to rest at): nothing was sent, and the
    engine was never asked to do anything. Soaks count these apart from engine breaks."""


class _Capture:
    """Keeps the supervisors so invariants can be checked on them after the run."""

    def __init__(self) -> None:
        self.supervisor: HedgeSupervisor | None = None
        self.supervisors: list[HedgeSupervisor] = []

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        self.supervisor = supervisor
        self.supervisors.append(supervisor)

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        pass

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        pass

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None:
        pass


async def _book(
    venue: SimVenue, symbol: str, pause: Pause = asyncio.sleep, bound: Bound | None = None
) -> BBO:
    # The harness reads a price to rest at; a faulty venue may refuse a read or never answer
    # it: ask again, each read bounded (on the driver's virtual clock).
    attempts = 20
    for _ in range(attempts):
        try:
            read = venue.best_bid_offer(symbol)
            return await (bound(read, 1.0) if bound is not None else asyncio.wait_for(read, timeout=1.0))
        except (VenueError, TimeoutError):
            await pause(0.05)
    raise HarnessError(
        f"harness: no quote from {venue.name} {symbol} after {attempts} attempts (nothing was sent)"
    )


async def _settle(venues: dict[str, SimVenue]) -> None:
    """Let every request still travelling reach its venue (late placements)."""
    for venue in venues.values():
        await venue.settle()


async def default_legs(
    venues: dict[str, SimVenue],
    tokens: Decimal = DEFAULT_TOKENS,
    *,
    pause: Pause = asyncio.sleep,
    bound: Bound | None = None,
    post_only: bool = False,
) -> list[LegSpec]:
    """Buy PEPE on ``binance`` at its bid, sell the same tokens of kPEPE on ``lighter`` at its ask.

    ``pause`` waits between retries of a refused read (the driver's sleep). ``post_only``
    is False here, unlike ``LegSpec``'s default: these legs are priced at the touch read one
    latency before they arrive, and on the simulated books a post-only entry there is
    refused in most episodes (28 of 40 calm seeds): the episodes keep the entry that may
    take at its limit, so seeds stay comparable with earlier runs.
    """
    binance, lighter = venues["binance"], venues["lighter"]
    pepe = await binance.instrument("PEPEUSDT")
    kpepe = await lighter.instrument("kPEPE")
    pepe_book = await _book(binance, "PEPEUSDT", pause, bound)
    kpepe_book = await _book(lighter, "kPEPE", pause, bound)
    return [
        LegSpec(venue="binance", symbol="PEPEUSDT", side=Side.BUY,
                quantity=tokens / pepe.multiplier, price=pepe_book.bid, post_only=post_only),
        LegSpec(venue="lighter", symbol="kPEPE", side=Side.SELL,
                quantity=tokens / kpepe.multiplier, price=kpepe_book.ask, post_only=post_only),
    ]


def fresh_hedge_id(seed: int, taken: Collection[str] = ()) -> str:
    """``sim<seed>``, or the first of ``sim<seed>r2``, ``sim<seed>r3``, ... not in ``taken``.

    Hedge ids are 1-16 ASCII letters or digits: where ``sim<seed>r<n>`` would be
    longer, the prefix shortens (``s<seed>r<n>``, then ``<seed>r<n>``). A seed too
    long for any of them gets ``sim<seed>``, which the engine refuses, naming it.
    """
    first = f"sim{seed}"
    if first not in taken:
        return first
    for number in itertools.count(2):
        fitting = [c for c in (f"{p}{seed}r{number}" for p in ("sim", "s", "")) if len(c) <= 16]
        if not fitting:
            return first
        if fitting[0] not in taken:
            return fitting[0]
    raise AssertionError("unreachable")


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
    hedge_id = fresh_hedge_id(seed, writer.hedge_ids if writer is not None else ())
    if writer is not None:
        watchers.append(writer)

    async def main() -> ExecutionResult:
        legs = await default_legs(venues, tokens)
        engine = HedgeEngine(
            venues, config or HedgeConfig(), observers=watchers, hedge_ids=lambda: hedge_id
        )
        result = await engine.execute(legs)
        assert not (asyncio.all_tasks() - {asyncio.current_task()}), "engine left a task running"
        await _settle(venues)
        return result

    try:
        result = (
            _run_sync(venues, tokens, config, watchers, hedge_id) if driver == "sync" else run(main())
        )
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
        hedge_id=hedge_id,
        journal_torn_tail=writer.torn_tail if writer is not None else None,
    )


def _run_sync(
    venues: dict[str, SimVenue],
    tokens: Decimal,
    config: HedgeConfig | None,
    watchers: Sequence[HedgeObserver],
    hedge_id: str,
) -> ExecutionResult:
    """``main()`` of :func:`simulate` on the synchronous driver."""
    from hedge_fsm.sim.driver import SimEngine

    engine = SimEngine(
        venues, config or HedgeConfig(), observers=watchers, hedge_ids=lambda: hedge_id
    )
    loop = engine.loop
    legs = engine.run(default_legs(venues, tokens, pause=loop.sleep, bound=loop.wait_for))
    result = engine.execute(legs)
    engine.run(_settle(venues))
    return result


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
                unwound=leg.rolled_back_quantity,
                unwind_cost_bps=leg.unwind_cost_bps,
                trimmed=leg.trimmed_quantity,
                trim_cost_bps=leg.trim_cost_bps,
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


@attrs.define(kw_only=True)
class ConcurrentEpisode:
    """The outcome of two hedges run at once on the same venues and symbols by one engine."""

    scenario: str
    seed: int
    results: list[ExecutionResult]
    venues: dict[str, SimVenue]
    invariant_violations: list[str]


def simulate_concurrent(
    scenario: str | Scenario = "calm",
    seed: int = 1,
    *,
    config: HedgeConfig | None = None,
    tokens: Decimal = DEFAULT_TOKENS,
    second_reversed: bool = False,
    second_delay: float = 0.0,
) -> ConcurrentEpisode:
    """Two default episodes at once in one engine, on the same two symbols.

    The second hedge starts ``second_delay`` seconds after the first and, with
    ``second_reversed``, takes the opposite sides (so the account's position on a
    symbol can be near zero while both hedges hold fills there). Checked: each hedge's
    own invariants, no order left open, and per symbol the venue's position equal to
    the sum of what both hedges' ledgers say they traded (a rolled-back hedge: its own
    trades flat).
    """
    venues = build_venues(scenario, seed)
    scenario_name = scenario if isinstance(scenario, str) else scenario.name
    capture = _Capture()
    ids = iter(("c1", "c2"))

    async def main() -> list[ExecutionResult]:
        first = await default_legs(venues, tokens)
        second = [attrs.evolve(leg, side=leg.side.opposite) for leg in first] if (
            second_reversed
        ) else list(first)
        engine = HedgeEngine(
            venues, config or HedgeConfig(), observers=[capture], hedge_ids=lambda: next(ids)
        )

        async def later() -> ExecutionResult:
            await asyncio.sleep(second_delay)
            if second_reversed:
                # Rest at the other side of the book, as the first hedge did for its sides.
                books = [await _book(venues[leg.venue], leg.symbol) for leg in second]
                legs = [
                    attrs.evolve(leg, price=book.bid if leg.side is Side.BUY else book.ask)
                    for leg, book in zip(second, books, strict=True)
                ]
            else:
                legs = second
            return await engine.execute(legs)

        results = list(await asyncio.gather(engine.execute(first), later()))
        assert not (asyncio.all_tasks() - {asyncio.current_task()}), "engine left a task running"
        await _settle(venues)
        return results

    results = run(main())
    violations: list[str] = []
    traded: dict[tuple[str, str], Decimal] = {}
    for supervisor in capture.supervisors:
        name = supervisor.hedge_id
        violations += [f"hedge {name}: {problem}" for problem in check_supervisor(supervisor)]
        for plan in supervisor.plans:
            key = (plan.venue, plan.instrument.symbol)
            traded[key] = traded.get(key, ZERO) + plan.net_signed()
            dust = supervisor.config.dust_tolerance
            if supervisor.state == "rolled_back" and not is_unplaceable(
                plan.net_signed(), plan.instrument, dust
            ):
                violations.append(
                    f"hedge {name} leg {plan.index}: rolled_back but its own trades net "
                    f"{plan.net_signed()}"
                )
    for venue in venues.values():
        violations += [f"{venue.name}: order left open {o.client_order_id}" for o in venue.open_orders()]
    for (venue_name, symbol), count in sorted(traded.items()):
        position = venues[venue_name].positions().get(symbol, ZERO)
        if position != count:
            violations.append(
                f"{venue_name} {symbol}: venue position moved {position}, both hedges' ledgers "
                f"count {count}"
            )
    return ConcurrentEpisode(
        scenario=scenario_name,
        seed=seed,
        results=results,
        venues=venues,
        invariant_violations=violations,
    )
