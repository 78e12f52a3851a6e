"""The async driver and :class:`HedgeEngine`, the object users embed.

Theory of operation
-------------------
The machines (:mod:`hedge_fsm.machines`) are synchronous and do no I/O: they
take events and leave commands in an outbox. The driver closes the loop:

1. ``dispatch`` an event into the hedge (supervisor and leg machines);
2. take every command the machines emitted: a ``WaitUntil`` becomes a timer on
   the clock (a newer one from the same machine replaces it); every other
   command becomes a task that calls the venue;
3. each task turns the venue's answer — or its exception — into an event and
   puts it on one queue; the loop takes events one at a time, so the machines
   never see two events at once, while venue calls for all legs run concurrently.

The loop ends when the supervisor reaches a terminal state. Timers are then
cancelled and venue calls still in flight are awaited (bounded by the longest
call timeout) so that no background task outlives ``execute``; answers that
arrive after the end are still folded into the ledgers.

Every venue call is bounded on the engine's clock by ``config.call_timeouts``
(set-up reads too): a call without an answer in time is cancelled in its own
task and becomes its operation's failure -- for a placement an ambiguous
outcome, since the order may exist. A timed-out call yields exactly one event
(the timeout's, or the answer's if the venue answered despite the cancel), so
no answer is ever applied twice. A venue coroutine that swallows cancellation
cannot be bounded by anyone; every asyncio client cooperates.

Mapping venue outcomes to events is the one place where exceptions become
data: a post-only refusal becomes ``PostOnlyRejected``; any other definitive
refusal ``OrderRejected``; an ambiguous outcome — or any unexpected exception
during a placement, since the order may exist — ``PlacementAmbiguous``. That
mapping lives in :mod:`hedge_fsm.driving`, shared with the simulation driver.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import itertools
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from hedge_fsm.journal import JournalHedge

import attrs

from hedge_fsm import preflight
from hedge_fsm.clock import Clock, LoopClock, TimerHandle
from hedge_fsm.config import CallTimeouts, HedgeConfig
from hedge_fsm.core.book import PositionBook
from hedge_fsm.driving import (
    answer_event,
    book_event,
    book_streams,
    call_operation,
    call_timeout,
    failure_event,
    placement_event,
    venue_request,
)
from hedge_fsm.errors import (
    AmbiguousOutcome,
    InvalidValue,
    VenueError,
)
from hedge_fsm.machines.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    WaitUntil,
)
from hedge_fsm.machines.events import (
    AmendAmbiguous,
    CancelFailed,
    Event,
    OrderUpdated,
    PlacementAmbiguous,
    Start,
    make_timer_fired,
)
from hedge_fsm.machines.supervisor import SUPERVISOR_ROUTE, HedgeSupervisor, LegPlan, Route
from hedge_fsm.secrets import log, logging_wanted, redact
from hedge_fsm.values import (
    BBO,
    ExecutionResult,
    HedgeTarget,
    Instrument,
    LegSpec,
    TriggerFill,
    is_on_grid,
)
from hedge_fsm.venue import BookStream, OrderStream, Venue, capabilities_of

__all__ = ["HedgeEngine", "HedgeObserver", "Resume", "placement_event"]

_log = log.bind(component="engine")
_T = TypeVar("_T")


class HedgeObserver(Protocol):
    """Sees every event fed to the machines and every command they issue (journal, metrics).

    ``command_id`` numbers a hedge's commands from 1; an event's ``cause`` is the
    id of the command it answers (None for events the driver makes up itself).
    """

    def on_start(self, supervisor: HedgeSupervisor) -> None: ...

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        """Called before the command is carried out (write-ahead)."""
        ...

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        """Called before the event is dispatched."""
        ...

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None: ...

    # Optional, looked up by name (observers written before it keep working):
    # ``on_resume(hedge_id, resume)`` is called when :meth:`HedgeEngine.recover` takes a
    # hedge over, before ``resume.commands`` are issued (the journal marks the place).


@attrs.frozen
class Resume:
    """How to restart a hedge rebuilt from a journal (see :meth:`HedgeEngine.recover`)."""

    commands: list[tuple[Route, Command]]
    """Commands to issue first: reconciliation queries, re-armed timers."""
    events: list[tuple[Route, Event]]
    """Events to feed first: outcomes lost in the crash, as the machines must see them."""
    next_command_id: int


def replace_now(event: Event, now: float) -> Event:
    """The same event, happening at ``now``."""
    return attrs.evolve(event, now=now)


class _OrderRateGuard:
    """A token bucket per venue: at most ``rate`` order actions per second, bursts of
    ``max(1, rate)``.

    A misbehaving venue (or a bug) can then never make the engine spam orders;
    actions over the rate wait on the clock, in the order they were issued. The
    burst is at least one action: with a bucket smaller than one token (a rate
    below 1 per second) no action could ever go out.
    """

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.clock = clock
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}

    async def acquire(self, venue: str) -> None:
        while True:
            now = self.clock.now()
            tokens = min(
                self.burst,
                self._tokens.get(venue, self.burst)
                + (now - self._stamp.get(venue, now)) * self.rate,
            )
            self._stamp[venue] = now
            # The epsilon absorbs float rounding: a bucket 1e-12 short of a token is full.
            if tokens >= 1.0 - 1e-9:
                self._tokens[venue] = max(0.0, tokens - 1.0)
                return
            self._tokens[venue] = tokens
            await self.clock.sleep(max((1.0 - tokens) / self.rate, 1e-6))


class HedgeEngine:
    """Runs hedges against venues.

    ``venues`` maps the names that :class:`LegSpec` ``venue`` fields use to
    :class:`Venue` implementations. ``clock`` defaults to the running loop's
    clock (real time; virtual time under :func:`hedge_fsm.sim.run`).
    """

    def __init__(
        self,
        venues: Mapping[str, Venue],
        config: HedgeConfig | None = None,
        clock: Clock | None = None,
        *,
        observers: Sequence[HedgeObserver] = (),
        hedge_ids: Callable[[], str] | None = None,
    ) -> None:
        if not venues:
            raise InvalidValue("HedgeEngine.venues must name at least one venue, got none")
        preflight.check_engine_arguments(venues, config)
        self.venues: dict[str, Venue] = dict(venues)
        self.config = config if config is not None else HedgeConfig()
        self.clock: Clock = clock if clock is not None else LoopClock()
        self.observers = list(observers)
        self._hedge_ids = hedge_ids if hedge_ids is not None else (lambda: uuid.uuid4().hex[:12])
        self._rate_guard = _OrderRateGuard(self.config.venue_order_rate, self.clock)
        self.book = PositionBook()
        """Per (venue, symbol): the baseline and every hedge's fills, shared by this engine's hedges."""

    # ------------------------------------------------------------------ public API

    async def execute(self, legs: Sequence[LegSpec], *, hedge_id: str | None = None) -> ExecutionResult:
        """Enter a multi-leg position with resting limit orders and hedge the trigger fill.

        Returns when the supervisor is terminal: ``done`` (hedged), ``rolled_back``
        (unwound), ``failed`` (residual exposure reported) or ``cancelled``
        (nothing filled before the entry timeout).
        """
        specs = list(legs)
        if len(specs) < 2:
            raise InvalidValue(f"execute needs at least two legs, got {len(specs)}")
        for spec in specs:
            if not isinstance(spec, LegSpec):
                raise InvalidValue(f"legs must be LegSpec values, got {type(spec).__name__}")
        plans = await self._plans(specs, _check_entry_specs)
        await preflight.check_entry_prices(
            specs, [p.instrument for p in plans], self.config, self._read_book, self._gather
        )
        supervisor = HedgeSupervisor(
            hedge_id=self._new_hedge_id(hedge_id), plans=plans, config=self.config, book=self.book
        )
        return await self._drive(supervisor)

    async def hedge(
        self,
        targets: Sequence[HedgeTarget],
        *,
        trigger: TriggerFill | None = None,
        market_only: bool = False,
        hedge_id: str | None = None,
    ) -> ExecutionResult:
        """Hedge the given quantities directly (no entry phase), rolling back on failure.

        ``trigger`` (the fill being hedged) enables break-even pricing;
        ``market_only`` selects the seed's simple market hedge.
        """
        items = list(targets)
        if not items:
            raise InvalidValue("hedge needs at least one HedgeTarget, got none")
        for item in items:
            if not isinstance(item, HedgeTarget):
                raise InvalidValue(f"targets must be HedgeTarget values, got {type(item).__name__}")
        plans = await self._plans(items, _check_direct_targets, priced=True)
        supervisor = HedgeSupervisor(
            hedge_id=self._new_hedge_id(hedge_id),
            plans=plans,
            config=self.config,
            direct=True,
            trigger=trigger,
            market_only=market_only,
            book=self.book,
        )
        return await self._drive(supervisor)

    async def recover(self, journal: str | Path) -> list[ExecutionResult]:
        """Resume every unfinished hedge of ``journal`` after a crash, to a terminal state.

        Each hedge is rebuilt by replaying its events into fresh machines. Then:
        a placement the journal shows as sent but never answered is *looked up by
        client order id* (fed to the machines as an ambiguous outcome), never sent
        again; an unanswered cancel is followed by a look at the order; unanswered
        reads are asked again; the last pending timer of each machine is re-armed;
        every order that may still fill is queried, so fills made while the
        process was down are counted. Commands the machines emitted after the
        journal's last record were never sent (write-ahead) and are sent now.

        The engine's clock must share the journal's time line (the same virtual
        loop in simulations; :class:`hedge_fsm.clock.WallClock` across processes).

        A damaged journal is never acted on: a torn tail (a crash mid-write) is
        left out with a warning; anything else, including a replay that does not
        reproduce the journaled commands, raises
        :class:`~hedge_fsm.journal.JournalError` before any hedge is resumed.
        """
        from hedge_fsm.journal import recoverable

        # Every hedge is rebuilt (and the journal refused, if damaged) before any is resumed.
        rebuilt = recoverable(journal)
        runs = [
            self._drive(r.supervisor, self._resume_plan(hedge, r.supervisor, r.pending))
            for hedge, r in rebuilt
        ]
        return list(await asyncio.gather(*runs))

    def _resume_plan(
        self,
        hedge: JournalHedge,
        supervisor: HedgeSupervisor,
        pending: list[tuple[Route, Command]],
    ) -> Resume:
        now = self.clock.now()
        events: list[tuple[Route, Event]] = []
        commands: list[tuple[Route, Command]] = []
        if supervisor.state == "idle":
            events.append((SUPERVISOR_ROUTE, Start(now=now)))
        unanswered = hedge.unanswered()
        last_timer: dict[Route, int] = {}
        for record in hedge.commands:
            if isinstance(record.command, WaitUntil):
                last_timer[record.route] = record.id
        placing: set[str] = set()
        restarted = "the engine restarted before the venue answered"
        for record in unanswered:
            command, route = record.command, record.route
            if isinstance(command, PlaceLimit | PlaceMarket):
                placing.add(command.client_order_id)
                events.append(
                    (route, PlacementAmbiguous(now=now, client_order_id=command.client_order_id,
                                               message=restarted, restarted=True))
                )
            elif isinstance(command, CancelOrder):
                events.append(
                    (route, CancelFailed(now=now, client_order_id=command.client_order_id,
                                         message=restarted))
                )
            elif isinstance(command, AmendOrder):
                # The amend may or may not have landed: the machine looks the order up.
                events.append(
                    (route, AmendAmbiguous(now=now, client_order_id=command.client_order_id,
                                           message=restarted))
                )
            elif isinstance(command, WaitUntil):
                if last_timer.get(route) == record.id:
                    commands.append((route, command))
            else:
                commands.append((route, command))
        for plan in supervisor.plans:
            owners = [(Route("supervisor", plan.index), plan.ledger)]
            if plan.hedge is not None:
                owners.append((Route("leg", plan.index), plan.hedge.ledger))
            for route, ledger in owners:
                for order in ledger.live_orders:
                    if order.client_order_id in placing:
                        continue  # its lookup is already on the way
                    commands.append(
                        (route, QueryOrder(leg=plan.index, client_order_id=order.client_order_id,
                                           order_id=order.order_id))
                    )
        commands.extend(pending)
        next_id = max((r.id for r in hedge.commands), default=0) + 1
        return Resume(commands=commands, events=events, next_command_id=next_id)

    # ------------------------------------------------------------------ set-up

    async def _plans(
        self,
        legs: Sequence[LegSpec | HedgeTarget],
        check: Callable[[Sequence[Any], list[Instrument]], None],
        *,
        priced: bool = False,
    ) -> list[LegPlan]:
        """Check the legs, read their instruments and baseline positions: the supervisor's plans.

        ``priced``: the legs carry no price (direct targets), so a minimum notional is checked
        against the mid read now, as the leg machine judges "too small to place".
        """
        keys = [(leg.venue, leg.symbol) for leg in legs]
        self._check_venues_and_duplicates(keys)
        instruments = await self._instruments(keys)
        check(legs, instruments)
        if priced:
            await self._check_notionals(legs, keys, instruments)
        read_at = self.clock.now()
        baselines = await self._positions(keys)
        return [
            LegPlan(
                index=i,
                venue=leg.venue,
                instrument=instruments[i],
                side=leg.side,
                quantity=leg.quantity,
                price=leg.price if isinstance(leg, LegSpec) else None,
                reduce_only=leg.reduce_only,
                baseline=baselines[i],
                capabilities=capabilities_of(self.venues[leg.venue]),
                post_only=leg.post_only if isinstance(leg, LegSpec) else True,
                baseline_read_at=read_at,
            )
            for i, leg in enumerate(legs)
        ]

    def _new_hedge_id(self, given: str | None) -> str:
        hedge_id = given if given is not None else self._hedge_ids()
        # Client order ids are built from it: letters and digits, short enough for every venue.
        if not (hedge_id.isascii() and hedge_id.isalnum() and 1 <= len(hedge_id) <= 16):
            raise InvalidValue(
                f"hedge_id must be 1-16 ASCII letters or digits (it prefixes client order ids), "
                f"got {hedge_id!r}"
            )
        return hedge_id

    def _check_venues_and_duplicates(self, keys: list[tuple[str, str]]) -> None:
        seen: set[tuple[str, str]] = set()
        for venue, symbol in keys:
            if venue not in self.venues:
                raise InvalidValue(
                    f"unknown venue {venue!r}; the engine has {sorted(self.venues)}"
                )
            if (venue, symbol) in seen:
                raise InvalidValue(f"venue {venue!r} symbol {symbol!r} appears twice")
            seen.add((venue, symbol))

    async def _gather(self, reads: Iterable[Awaitable[_T]]) -> list[_T]:
        """Set-up reads, concurrently (a driver on another loop overrides this one method)."""
        return list(await asyncio.gather(*reads))

    async def _instruments(self, keys: list[tuple[str, str]]) -> list[Instrument]:
        return await self._gather(
            self._read(v, s, "instrument", self.venues[v].instrument) for v, s in keys
        )

    async def _check_notionals(
        self,
        legs: Sequence[LegSpec | HedgeTarget],
        keys: list[tuple[str, str]],
        instruments: list[Instrument],
    ) -> None:
        """Refuse, before anything is sent, a leg whose whole quantity is below its venue's
        minimum notional at the mid: no order could carry it, and a leg that traded nothing
        must never be reported as hedged."""
        wanted = [i for i, inst in enumerate(instruments) if inst.min_notional > 0]
        bbos = await self._gather(
            self._read(keys[i][0], keys[i][1], "best_bid_offer", self.venues[keys[i][0]].best_bid_offer)
            for i in wanted
        )
        for i, bbo in zip(wanted, bbos, strict=True):
            leg, instrument = legs[i], instruments[i]
            notional = leg.quantity * bbo.mid
            if notional < instrument.min_notional:
                raise InvalidValue(
                    f"HedgeTarget.quantity {leg.quantity} for {leg.venue} {leg.symbol} is "
                    f"{notional} notional at the mid {bbo.mid}, below the venue's minimum "
                    f"notional {instrument.min_notional}: no order could carry it",
                    field="quantity",
                )

    async def _positions(self, keys: list[tuple[str, str]]) -> list[Decimal]:
        return await self._gather(
            self._read(v, s, "position", self.venues[v].position) for v, s in keys
        )

    async def _read(
        self, venue: str, symbol: str, what: str, read: Callable[[str], Awaitable[_T]]
    ) -> _T:
        """A set-up read (nothing is sent yet, so retrying is safe), with exponential backoff.

        Each attempt is bounded: a position read by ``call_timeouts.position``; an instrument
        read by ``stuck_timeout`` (loading a venue's market metadata can take seconds).
        """
        timeouts = self.config.call_timeouts
        limit = {"position": timeouts.position, "best_bid_offer": timeouts.bbo}.get(
            what, self.config.stuck_timeout
        )
        attempts = SETUP_READ_ATTEMPTS
        for attempt in range(attempts):
            try:
                return await _within(self.clock, read(symbol), limit, venue, what)
            except VenueError as exc:
                if preflight.is_definitive(exc):
                    raise  # a refusal (no such market) is the same on every attempt
                if attempt == attempts - 1:
                    raise VenueError(
                        f"cannot read {what} of {venue} {symbol} after {attempts} attempts "
                        f"(nothing was sent): {redact(str(exc))}",
                        venue=venue,
                        operation=what,
                    ) from exc
                await self.clock.sleep(setup_backoff(self.config, attempt))
        raise AssertionError("unreachable")

    def _read_book(self, spec: LegSpec) -> Awaitable[BBO]:
        return self._read(spec.venue, spec.symbol, "best_bid_offer", self.venues[spec.venue].best_bid_offer)

    # ------------------------------------------------------------------ the loop

    async def _drive(
        self, supervisor: HedgeSupervisor, resume: Resume | None = None
    ) -> ExecutionResult:
        clock = self.clock
        queue: asyncio.Queue[tuple[Route, Event, int | None]] = asyncio.Queue()
        # asyncio's own queue of ready callbacks (private; None on loops without one: every
        # call then gets its task, as before).
        ready: Any = getattr(asyncio.get_running_loop(), "_ready", None)
        if not isinstance(ready, collections.deque):
            ready = None
        in_flight: set[asyncio.Task[None]] = set()
        timers: dict[Route, TimerHandle] = {}
        observers = self.observers
        hedge_id = supervisor.hedge_id
        log = _log.bind(hedge_id=hedge_id)
        logged = len(supervisor.history)
        command_ids = itertools.count(resume.next_command_id if resume is not None else 1)

        def fire_timer(route: Route, token: int, command_id: int) -> None:
            timers.pop(route, None)
            queue.put_nowait((route, make_timer_fired(clock.now(), token), command_id))

        def issue(route: Route, command: Command) -> None:
            command_id = next(command_ids)
            for observer in observers:
                observer.on_command(hedge_id, route, command, command_id)  # write-ahead
            if isinstance(command, WaitUntil):
                previous = timers.pop(route, None)
                if previous is not None:
                    previous.cancel()
                timers[route] = clock.call_at(
                    command.at, functools.partial(fire_timer, route, command.token, command_id)
                )
            else:
                call = self._perform(supervisor, route, command, command_id, queue)
                leg = getattr(command, "leg", None)
                if ready is not None and not ready and leg is not None and (
                    supervisor.plans[leg].capabilities.inline_calls
                ):
                    # Nothing else is ready to run: starting the call here runs its first
                    # step exactly when a new task's first step would have run (next, before
                    # any timer), so the order of everything is unchanged; a call that answers
                    # at once needs no task at all.
                    started = _start_inline(call)
                    if started is None:
                        return
                    task = started
                else:
                    task = asyncio.create_task(call)
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)

        def pump() -> None:
            for route, command in supervisor.drain_routed():
                issue(route, command)

        def deliver(route: Route, event: Event, cause: int | None) -> None:
            nonlocal logged
            for observer in observers:
                observer.on_event(hedge_id, route, event, cause)
            supervisor.dispatch(route, event)
            logged = log_moves(supervisor, logged)

        streams = self._start_streams(supervisor, queue)
        streams += self._start_book_streams(supervisor, queue)
        try:
            # Inside the try: an observer that refuses the hedge (a journal that already holds
            # its id) stops it before anything is sent, and its streams are stopped with it.
            if resume is None:
                for observer in observers:
                    observer.on_start(supervisor)
            else:
                for observer in observers:
                    # Optional: the journal marks where a recovery took over (see HedgeObserver).
                    on_resume = getattr(observer, "on_resume", None)
                    if on_resume is not None:
                        on_resume(hedge_id, resume)
            if resume is None:
                deliver(SUPERVISOR_ROUTE, Start(now=clock.now()), None)
            else:
                for route, command in resume.commands:
                    issue(route, command)
                for route, event in resume.events:
                    deliver(route, replace_now(event, clock.now()), None)
            pump()
            while not supervisor.is_finished:
                route, event, cause = await queue.get()
                deliver(route, event, cause)
                pump()
        except BaseException:
            # A crash (or an outside cancellation): stop at once, as a dying process would.
            # Whatever was in flight is for recovery (the journal) to reconcile.
            for handle in timers.values():
                handle.cancel()
            for task in (*in_flight, *streams):
                task.cancel()
            raise
        for handle in timers.values():
            handle.cancel()
        timers.clear()
        for task in streams:
            task.cancel()
        if streams:
            await asyncio.gather(*streams, return_exceptions=True)
        if in_flight:
            # Venue calls still out: their answers may carry fills. Each call is bounded by
            # its own timeout; the wait is bounded too (a call may still be queued behind
            # the order-rate guard), then whatever is left is cancelled.
            pending = await _wait_on_clock(
                clock, set(in_flight), self.config.call_timeouts.longest + CANCEL_GRACE
            )
            for task in pending:
                task.cancel()
            # A venue coroutine that ignores its cancellation cannot be waited for forever.
            pending = await _wait_on_clock(clock, pending, CANCEL_GRACE)
            if pending:
                log.warning(
                    "{} venue call(s) ignored cancellation and were left behind", len(pending)
                )
        while not queue.empty():
            route, event, cause = queue.get_nowait()
            for observer in observers:
                observer.on_event(hedge_id, route, event, cause)
            supervisor.absorb_late(route, event)
        result = supervisor.result()
        for observer in observers:
            observer.on_finish(hedge_id, result)
        log_end(result)
        return result

    def _start_streams(
        self,
        supervisor: HedgeSupervisor,
        queue: asyncio.Queue[tuple[Route, Event, int | None]],
    ) -> list[asyncio.Task[None]]:
        """One task per leg whose venue pushes order updates; each pushed report is routed
        to the machine that owns the order, so a fill is seen without waiting for a poll."""
        tasks = []
        for plan in supervisor.plans:
            venue = self.venues[plan.venue]
            if isinstance(venue, OrderStream) and venue.supports_order_updates:
                tasks.append(asyncio.create_task(self._follow(supervisor, plan.index, venue, queue)))
        return tasks

    async def _follow(
        self,
        supervisor: HedgeSupervisor,
        leg: int,
        venue: OrderStream,
        queue: asyncio.Queue[tuple[Route, Event, int | None]],
    ) -> None:
        symbol = supervisor.plans[leg].instrument.symbol
        try:
            async for report in venue.order_updates(symbol):
                if report.symbol != symbol:
                    continue
                route = supervisor.route_for(leg, report)
                if route is not None:
                    queue.put_nowait((route, OrderUpdated(now=self.clock.now(), order=report), None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream is a speed-up: polling carries on without it
            _log.bind(hedge_id=supervisor.hedge_id, leg=leg).warning(
                "order stream of {} stopped: {}", supervisor.plans[leg].venue, redact(str(exc))
            )

    def _start_book_streams(
        self,
        supervisor: HedgeSupervisor,
        queue: asyncio.Queue[tuple[Route, Event, int | None]],
    ) -> list[asyncio.Task[None]]:
        """One task per leg whose venue pushes its book (see :func:`hedge_fsm.driving.book_streams`)."""
        return [
            asyncio.create_task(self._follow_book(supervisor, leg, venue, symbol, queue))
            for leg, venue, symbol in book_streams(self.venues, supervisor)
        ]

    async def _follow_book(
        self,
        supervisor: HedgeSupervisor,
        leg: int,
        venue: BookStream,
        symbol: str,
        queue: asyncio.Queue[tuple[Route, Event, int | None]],
    ) -> None:
        try:
            async for bbo in venue.book_updates(symbol):
                routed = book_event(supervisor, leg, bbo, self.clock.now())
                if routed is not None:
                    queue.put_nowait((routed[0], routed[1], None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream is a speed-up: polling carries on without it
            _log.bind(hedge_id=supervisor.hedge_id, leg=leg).warning(
                "book stream of {} stopped: {}", supervisor.plans[leg].venue, redact(str(exc))
            )

    async def _perform(
        self,
        supervisor: HedgeSupervisor,
        route: Route,
        command: Command,
        command_id: int,
        queue: asyncio.Queue[tuple[Route, Event, int | None]],
    ) -> None:
        leg = getattr(command, "leg", None)
        assert leg is not None
        plan = supervisor.plans[leg]
        venue = self.venues[plan.venue]
        symbol = plan.instrument.symbol
        if isinstance(command, PlaceLimit | PlaceMarket | CancelOrder | AmendOrder):
            await self._rate_guard.acquire(plan.venue)
        event = await _call_venue(
            venue, plan.venue, symbol, command, self.clock, self.config.call_timeouts
        )
        queue.put_nowait((route, event, command_id))


CANCEL_GRACE = 0.5
"""Seconds the end of a hedge waits, beyond the longest call timeout, for calls still out."""

SETUP_READ_ATTEMPTS = 8
"""Attempts of each set-up read (instrument, baseline position) before the hedge is refused."""


def setup_backoff(config: HedgeConfig, attempt: int) -> float:
    """The pause after failed set-up read ``attempt`` (0-based): exponential, at most 1 s."""
    return min(1.0, config.opening.backoff * float(2**attempt))


def _timed_out(venue: str, operation: str, seconds: float) -> AmbiguousOutcome:
    return AmbiguousOutcome(
        f"{venue}: {operation} gave no answer within its {seconds} s call timeout",
        venue=venue,
        operation=operation,
    )


def _within(
    clock: Clock, call: Awaitable[_T], seconds: float, venue: str, operation: str
) -> Awaitable[_T]:
    """``await _within(...)``: ``call``, bounded by ``seconds`` on ``clock`` (see :class:`_Bounded`)."""
    return _Bounded(clock, call, seconds, venue, operation)


class _Bounded(Generic[_T]):
    """Await a venue call for at most ``seconds`` on ``clock``, else raise AmbiguousOutcome.

    Like ``asyncio.timeout`` but on the engine's clock: at the deadline the task
    running the call is cancelled (so the call cannot outlive its bound) and the
    cancellation is turned into a timeout. An outside cancellation is passed on.
    If the venue answered anyway (it swallowed the cancel), its answer stands: the
    caller gets exactly one outcome either way.

    The call is stepped here (``yield from`` by hand) so that one answering without
    waiting -- a zero-latency venue -- costs no timer: the deadline is armed only
    when the call first suspends.
    """

    __slots__ = ("_call", "_clock", "_operation", "_seconds", "_venue")

    def __init__(
        self, clock: Clock, call: Awaitable[_T], seconds: float, venue: str, operation: str
    ) -> None:
        self._clock = clock
        self._call = call
        self._seconds = seconds
        self._venue = venue
        self._operation = operation

    def __await__(self) -> Generator[Any, None, _T]:
        steps = self._call.__await__()
        try:
            step = steps.send(None)
        except StopIteration as stop:
            answer: _T = stop.value
            return answer  # answered without waiting: nothing to bound
        task = _current_task(self._clock)
        assert task is not None, "venue calls run inside a task"
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = self._clock.call_at(self._clock.now() + self._seconds, expire)
        try:
            while True:
                try:
                    yield step
                except GeneratorExit:
                    steps.close()
                    raise
                except BaseException as exc:  # thrown in by the task: pass it to the call
                    try:
                        step = steps.throw(exc)
                    except StopIteration as stop:
                        answer = stop.value
                        break
                else:
                    try:
                        step = steps.send(None)
                    except StopIteration as stop:
                        answer = stop.value
                        break
        except asyncio.CancelledError:
            if not expired or task.uncancel() > 0:
                raise  # cancelled from outside (too): not ours to swallow
            raise _timed_out(self._venue, self._operation, self._seconds) from None
        finally:
            handle.cancel()
        if expired:
            task.uncancel()
        return answer


async def _wait_on_clock(
    clock: Clock, tasks: set[asyncio.Task[None]], seconds: float
) -> set[asyncio.Task[None]]:
    """Wait until ``tasks`` are done or ``seconds`` have passed on ``clock``; the rest."""
    pending = {task for task in tasks if not task.done()}
    if not pending:
        return pending
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    handle = clock.call_at(clock.now() + seconds, wake)
    try:
        while pending and not woken.done():
            done, _ = await asyncio.wait({*pending, woken}, return_when=asyncio.FIRST_COMPLETED)
            pending -= done
    finally:
        handle.cancel()
    return pending


def _current_task(clock: Clock) -> Any:
    """The task running the call: asyncio's, or that of a driver with its own loop whose
    clock knows it (the simulation driver's); for a call started inline, the task it will
    carry on in (known as soon as it suspends)."""
    inline = _INLINE.get()
    if inline is not None and inline.task is None:
        # (A slot whose task is known is stale: a context copied while the call started.)
        return inline
    current = getattr(clock, "current_task", None)
    return current() if current is not None else asyncio.current_task()


class _TaskSlot:
    """The task an inline-started call carries on in, filled in when the call first suspends
    (before any timer or callback can run, so ``cancel`` and ``uncancel`` always find it)."""

    __slots__ = ("task",)

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None

    def cancel(self) -> bool:
        assert self.task is not None
        return self.task.cancel()

    def uncancel(self) -> int:
        assert self.task is not None
        return self.task.uncancel()


_INLINE: contextvars.ContextVar[_TaskSlot | None] = contextvars.ContextVar("_INLINE", default=None)
"""Set while a venue call is being started inline (see :func:`_start_inline`)."""


def _start_inline(call: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``call`` here up to its first suspension; a task for the rest (None: it ended).

    What Python 3.12's eager task factory does, for the engine's own venue calls: a call
    that answers without waiting (a zero-latency venue) costs no task, no loop turn. An
    exception is kept in a task, as it would have been.
    """
    slot = _TaskSlot()
    token = _INLINE.set(slot)
    try:
        first = call.send(None)
    except StopIteration:
        return None
    except BaseException as exc:
        task = asyncio.create_task(_raise(exc))
        return task
    finally:
        _INLINE.reset(token)
    task = asyncio.create_task(_carry_on(call, first))
    slot.task = task
    return task


async def _raise(exc: BaseException) -> None:
    raise exc


async def _carry_on(call: Coroutine[Any, Any, None], first: Any) -> None:
    """The rest of an inline-started call, in its task: its pending wait first."""
    await _Resume(call, first)


class _Resume:
    """Awaiting it hands ``first`` (what ``call`` yielded when it suspended) to the task, then
    steps ``call`` on: sends, throws (a cancellation) and closes go through to it."""

    __slots__ = ("_call", "_first")

    def __init__(self, call: Coroutine[Any, Any, None], first: Any) -> None:
        self._call = call
        self._first = first

    def __await__(self) -> Generator[Any, Any, None]:
        call = self._call
        step = self._first
        while True:
            try:
                sent = yield step
            except GeneratorExit:
                call.close()
                raise
            except BaseException as exc:
                try:
                    step = call.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    step = call.send(sent)
                except StopIteration:
                    return


def log_moves(supervisor: HedgeSupervisor, logged: int) -> int:
    """Log the moves recorded since ``logged`` (bound with hedge_id, leg, state); the new count.

    Shared by both drivers, so their records carry this module's name. Binding and
    formatting records nobody sees costs: skipped unless a sink wants them.
    """
    history = supervisor.history
    if logged < len(history) and logging_wanted("DEBUG", __name__):
        log = _log.bind(hedge_id=supervisor.hedge_id)
        for record in history[logged:]:
            log.bind(leg=record.leg, state=record.destination).debug(
                "{} {}: {} --{}--> {}",
                record.machine, record.leg, record.source, record.trigger, record.destination,
            )
    return len(history)


def log_end(result: ExecutionResult) -> None:
    """Log how a hedge ended (both drivers)."""
    if logging_wanted("INFO", __name__):
        _log.bind(hedge_id=result.hedge_id, state=result.state).info(
            "hedge {} ended {} net exposure {}", result.hedge_id, result.state, result.net_exposure
        )


async def _call_venue(
    venue: Venue,
    name: str,
    symbol: str,
    command: Command,
    clock: Clock,
    timeouts: CallTimeouts,
) -> Event:
    """Carry out one command within its call timeout; every outcome becomes an event.

    Which venue method, its bound, and how the answer or failure becomes an event:
    :mod:`hedge_fsm.driving`, shared with the simulation driver.
    """
    try:
        call = venue_request(venue, symbol, command)
        answer = await _within(clock, call, call_timeout(command, timeouts), name, call_operation(command))
        return answer_event(command, symbol, answer, clock.now())
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # every failure becomes an event; nothing escapes the driver
        return failure_event(command, exc, clock.now())


def _check_direct_targets(targets: Sequence[HedgeTarget], instruments: list[Instrument]) -> None:
    """Direct hedge targets must be on their lot grid and at least the venue's minimum quantity
    (the minimum notional needs a price: see ``HedgeEngine._check_notionals``)."""
    for item, instrument in zip(targets, instruments, strict=True):
        if not is_on_grid(item.quantity, instrument.lot_size):
            raise InvalidValue(
                f"HedgeTarget.quantity {item.quantity} for {item.venue} {item.symbol} is not "
                f"a multiple of the lot size {instrument.lot_size}",
                field="quantity",
            )
        if item.quantity < instrument.min_quantity:
            raise InvalidValue(
                f"HedgeTarget.quantity {item.quantity} for {item.venue} {item.symbol} is below "
                f"the minimum quantity {instrument.min_quantity}",
                field="quantity",
            )


def _check_entry_specs(specs: Sequence[LegSpec], instruments: list[Instrument]) -> None:
    """Quantities on the lot grid, prices on the tick grid, and legs that offset in tokens."""
    net_tokens = Decimal(0)
    coarsest = Decimal(0)
    for spec, instrument in zip(specs, instruments, strict=True):
        where = f"leg {spec.venue} {spec.symbol}"
        if not is_on_grid(spec.quantity, instrument.lot_size):
            raise InvalidValue(
                f"{where}: quantity {spec.quantity} is not a multiple of the lot size {instrument.lot_size}"
            )
        if spec.quantity < instrument.min_quantity:
            raise InvalidValue(
                f"{where}: quantity {spec.quantity} is below the minimum {instrument.min_quantity}"
            )
        if not is_on_grid(spec.price, instrument.tick_size):
            raise InvalidValue(
                f"{where}: price {spec.price} is not a multiple of the tick size {instrument.tick_size}"
            )
        net_tokens += spec.side.sign * spec.quantity * instrument.multiplier
        coarsest = max(coarsest, instrument.placeable_minimum * instrument.multiplier)
    for spec, instrument in zip(specs, instruments, strict=True):
        tokens = spec.quantity * instrument.multiplier
        if tokens < coarsest:
            raise InvalidValue(
                f"leg {spec.venue} {spec.symbol}: {tokens} tokens is less than one lot of the "
                f"coarsest leg ({coarsest} tokens): hedge targets would round to zero"
            )
    if abs(net_tokens) >= coarsest:
        raise InvalidValue(
            f"legs do not offset: net {net_tokens} tokens (more than one lot of the coarsest leg, "
            f"{coarsest} tokens)"
        )
