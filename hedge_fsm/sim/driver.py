"""A synchronous driver for simulations: its own virtual clock and timer heap, no asyncio.

Theory of operation
-------------------
The machines are sans-I/O, so a simulated hedge needs no asyncio: what it
needs is a clock, timers and venue calls that take virtual time.
:class:`SimLoop` is all of that in a few dozen lines: a virtual clock, a deque
of ready steps and a heap of timed ones. It runs plain coroutines whose only
waits are its own (:meth:`SimLoop.sleep`, :meth:`SimLoop.forever`), which is
what a :class:`~hedge_fsm.sim.SimVenue` awaits once it is put on the loop's
clock (its ``clock_face``): the venue's call bodies are the same for both
faces, so a call here logs, draws faults and latencies and fills exactly as it
does under asyncio.

:class:`SimEngine` runs :class:`~hedge_fsm.HedgeEngine`'s own code on that
loop — set-up (validation, instrument and position reads), command execution
(``_perform``: the order-rate guard, then :mod:`hedge_fsm.driving`'s one
command → venue call → event mapping) — and replaces only the loop around it
(``_drive``): events are fed one at a time, a ``WaitUntil`` becomes a timer (a
newer one from the same machine replaces it), every other command a step on
the loop; at the end timers are cancelled, calls still out are awaited
(bounded by ``stuck_timeout``) and their answers folded into the ledgers.
Observers see what they see under asyncio.

The loop mirrors the order in which asyncio runs things (a new task's first
step one turn later, a timer's wake-up one turn after it fires, timers due
within the clock resolution run together, cancelled timers skipped), so the
same seeds give the same transitions, fills and results under both drivers
(``tests/test_driver_equivalence.py``). Use :class:`HedgeEngine` on
:func:`hedge_fsm.sim.run` to test your own async code; use this for speed
(sweeps, soaks, benchmarks).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from hedge_fsm.clock import TimerHandle
from hedge_fsm.config import HedgeConfig
from hedge_fsm.driving import book_event, book_streams
from hedge_fsm.engine import CANCEL_GRACE, HedgeEngine, HedgeObserver, Resume, log_end, log_moves
from hedge_fsm.errors import InvalidValue
from hedge_fsm.machines.commands import Command, WaitUntil
from hedge_fsm.machines.events import Event, Start, TimerFired
from hedge_fsm.machines.supervisor import SUPERVISOR_ROUTE, HedgeSupervisor, Route
from hedge_fsm.secrets import log
from hedge_fsm.sim.loop import VirtualTimeDeadlock
from hedge_fsm.sim.venue import SimVenue
from hedge_fsm.values import ExecutionResult, HedgeTarget, LegSpec, TriggerFill
from hedge_fsm.venue import BookStream

__all__ = ["SimEngine", "SimLoop"]

_T = TypeVar("_T")
_log = log.bind(component="engine")
_RESOLUTION = time.get_clock_info("monotonic").resolution
"""asyncio runs every timer due within the clock's resolution together; so do we."""


class _Wait:
    """What a coroutine on a :class:`SimLoop` yields: wake me after ``seconds`` (None: never)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def __await__(self) -> Generator[_Wait, None, None]:
        yield self


class _Timer:
    """A scheduled callback; ordered by time only, as asyncio's heap orders its timers."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def __lt__(self, other: _Timer) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        self.cancelled = True


class _Task:
    """A coroutine stepped by the loop, as an asyncio task is: ``on_done`` callbacks run one
    turn after it ends; :meth:`cancel` throws ``CancelledError`` in where it waits, one turn
    later (:meth:`uncancel` and :meth:`cancelling` count requests, as asyncio's do)."""

    __slots__ = (
        "_cancels", "_coro", "_loop", "_must_cancel", "_on_done", "_timer", "_waiting", "done",
        "error", "result",
    )

    def __init__(self, loop: SimLoop, coro: Coroutine[Any, Any, Any]) -> None:
        self._loop = loop
        self._coro = coro
        self._timer: _Timer | None = None
        self._waiting = False
        self._must_cancel = False
        self._cancels = 0
        self._on_done: list[Callable[[_Task], object]] = []
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        loop.call_soon(self.step)

    def step(self) -> None:
        if self.done:
            return
        self._timer = None
        self._waiting = False
        self._loop.current = self
        try:
            if self._must_cancel:
                self._must_cancel = False
                wait = self._coro.throw(asyncio.CancelledError())
            else:
                wait = self._coro.send(None)
        except StopIteration as stop:
            self._finish(stop.value, None)
            return
        except BaseException as exc:  # a crash (or a cancellation) is its result, as in a task
            self._finish(None, exc)
            return
        self._waiting = True
        seconds = wait.seconds
        if seconds is None:
            return  # parked: something else (a queue, a gather) wakes it, or nothing does
        if seconds <= 0:
            self.wake()  # asyncio.sleep(0): one turn
        else:
            self._timer = self._loop.call_at(self._loop.now + seconds, self.wake)

    def wake(self) -> None:
        """Resume a waiting task on the next turn (once, however many wake it)."""
        if self._waiting:
            self._waiting = False
            self._loop.call_soon(self.step)

    def add_done_callback(self, callback: Callable[[_Task], object]) -> None:
        if self.done:
            self._loop.call_soon(callback, self)
        else:
            self._on_done.append(callback)

    def cancel(self) -> bool:
        """Request cancellation: ``CancelledError`` is thrown in where it waits, next turn."""
        if self.done:
            return False
        self._cancels += 1
        self._must_cancel = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.wake()
        return True

    def uncancel(self) -> int:
        if self._cancels > 0:
            self._cancels -= 1
        return self._cancels

    def cancelling(self) -> int:
        return self._cancels

    def _finish(self, result: Any, error: BaseException | None) -> None:
        self.done = True
        self.result = result
        self.error = error
        for callback in self._on_done:
            self._loop.call_soon(callback, self)
        self._on_done.clear()


class SimLoop:
    """A virtual clock with a heap of timers and a deque of ready steps; runs coroutines inline.

    It is also the clock face a :class:`~hedge_fsm.sim.SimVenue` runs on (``time``,
    ``sleep``, ``forever``, ``call_at``) and a :class:`hedge_fsm.clock.Clock` for the
    engine (``now``, ``sleep``, ``call_at``).
    """

    def __init__(self, start_time: float = 0.0) -> None:
        self.now = float(start_time)
        self._ready: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._timers: list[_Timer] = []
        self.current: _Task | None = None
        """The task being stepped (what a queue or a gather parks)."""

    # ---------------------------------------------------------------- clock faces

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> _Wait:
        """Await it to wait ``seconds`` of virtual time (0: one turn of the loop)."""
        return _Wait(seconds)

    def forever(self) -> _Wait:
        return _Wait(None)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        self._ready.append((callback, args))

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> _Timer:
        """Run ``callback(*args)`` at ``when``; the clock is moved to ``when`` first (never back)."""
        timer = _Timer(when, callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    # ---------------------------------------------------------------- running

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> _Task:
        """Start a coroutine on the next turn (``asyncio.create_task``)."""
        return _Task(self, coro)

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` (and whatever it starts) until it ends; its result."""
        task = self.spawn(coro)
        self._run_until(lambda: task.done)
        if task.error is not None:
            raise task.error
        result: _T = task.result
        return result

    def _run_until(self, finished: Callable[[], bool]) -> None:
        ready, timers = self._ready, self._timers
        heappop = heapq.heappop
        while not finished():
            while timers and timers[0].cancelled:
                heappop(timers)
            if not ready:
                if not timers:
                    raise VirtualTimeDeadlock(
                        "simulation deadlock: nothing is ready and no timer is scheduled; "
                        "an awaited call can never complete (a hanging venue call with no timeout?)"
                    )
                wait = timers[0].when - self.now
                if wait > 0:
                    self.now += wait  # as the virtual asyncio loop moves its clock
            end = self.now + _RESOLUTION
            while timers and timers[0].when < end:
                timer = heappop(timers)
                if not timer.cancelled:
                    ready.append((self._fire, (timer,)))
            for _ in range(len(ready)):
                callback, args = ready.popleft()
                callback(*args)

    def _fire(self, timer: _Timer) -> None:
        if timer.cancelled:
            return
        if self.now < timer.when:
            self.now = timer.when
        timer.callback(*timer.args)

    async def gather(self, coros: Iterable[Coroutine[Any, Any, _T]]) -> list[_T]:
        """Run coroutines concurrently (``asyncio.gather``): their results, in order."""
        tasks = [self.spawn(c) for c in coros]
        waiter = _Waiter(self, len(tasks))
        for task in tasks:
            task.add_done_callback(waiter.one_done)
        await waiter
        for task in tasks:
            if task.error is not None:
                raise task.error
        return [task.result for task in tasks]

    async def wait_for(self, call: Awaitable[_T], timeout: float) -> _T:
        """``asyncio.wait_for`` on this loop: the call's result, or TimeoutError (it is cancelled)."""
        task = self.spawn(_awaited(call))
        if await self.wait({task}, timeout):
            task.cancel()
            await self.wait({task}, math.inf)
            raise TimeoutError(f"no answer within {timeout} s")
        if task.error is not None:
            raise task.error
        result: _T = task.result
        return result

    async def wait(self, tasks: set[_Task], timeout: float) -> set[_Task]:
        """Wait until every task is done or ``timeout`` passes; the tasks not done."""
        waiter = _Waiter(self, len(tasks))
        deadline = None if math.isinf(timeout) else self.call_at(self.now + timeout, waiter.release)
        for task in tasks:
            task.add_done_callback(waiter.one_done)
        await waiter
        if deadline is not None:
            deadline.cancel()
        return {task for task in tasks if not task.done}


async def _awaited(call: Awaitable[_T]) -> _T:
    return await call


class _Waiter:
    """Parks the current task until ``count`` tasks are done (or it is released)."""

    def __init__(self, loop: SimLoop, count: int) -> None:
        self._loop = loop
        self._count = count
        self._task: _Task | None = None
        self._released = count <= 0

    def one_done(self, _task: _Task) -> None:
        self._count -= 1
        if self._count <= 0:
            self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            if self._task is not None:
                self._task.wake()

    def __await__(self) -> Generator[_Wait, None, None]:
        if not self._released:
            self._task = self._loop.current
            yield _Wait(None)


class _Queue:
    """``asyncio.Queue`` for one consumer: ``put_nowait`` wakes the parked getter a turn later."""

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[Route, Event, int | None]] = deque()
        self._getter: _Task | None = None

    def put_nowait(self, item: tuple[Route, Event, int | None]) -> None:
        self._items.append(item)
        getter = self._getter
        if getter is not None:
            self._getter = None
            getter.wake()

    def empty(self) -> bool:
        return not self._items

    def get_nowait(self) -> tuple[Route, Event, int | None]:
        return self._items.popleft()

    async def get(self) -> tuple[Route, Event, int | None]:
        while not self._items:
            self._getter = self._loop.current
            await _Wait(None)
        return self._items.popleft()


class _Clock:
    """The engine's :class:`hedge_fsm.clock.Clock` on a :class:`SimLoop`."""

    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.now

    async def sleep(self, seconds: float) -> None:
        await self._loop.sleep(seconds)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_at(when, callback)

    def current_task(self) -> _Task | None:
        """The task being stepped (what ``asyncio.current_task()`` is under asyncio)."""
        return self._loop.current


class _LoopEngine(HedgeEngine):
    """HedgeEngine's set-up and command execution, with the loop around them on a SimLoop."""

    def __init__(
        self,
        loop: SimLoop,
        venues: Mapping[str, SimVenue],
        config: HedgeConfig | None,
        observers: Sequence[HedgeObserver],
        hedge_ids: Callable[[], str] | None,
    ) -> None:
        super().__init__(venues, config, _Clock(loop), observers=observers, hedge_ids=hedge_ids)
        self._loop = loop

    async def _gather(self, reads: Iterable[Awaitable[_T]]) -> list[_T]:
        return await self._loop.gather(reads)  # type: ignore[arg-type]

    async def _drive(
        self, supervisor: HedgeSupervisor, resume: Resume | None = None
    ) -> ExecutionResult:
        if resume is not None:
            raise InvalidValue("recovering hedges from a journal runs on HedgeEngine, not SimEngine")
        loop = self._loop
        queue = _Queue(loop)
        in_flight: set[_Task] = set()
        timers: dict[Route, _Timer] = {}
        observers = self.observers
        hedge_id = supervisor.hedge_id
        logged = len(supervisor.history)
        command_ids = itertools.count(1)
        perform = self._perform

        def fire_timer(route: Route, token: int, command_id: int) -> None:
            timers.pop(route, None)
            queue.put_nowait((route, TimerFired(now=loop.now, token=token), command_id))

        def issue(route: Route, command: Command) -> None:
            command_id = next(command_ids)
            for observer in observers:
                observer.on_command(hedge_id, route, command, command_id)  # write-ahead
            if isinstance(command, WaitUntil):
                previous = timers.pop(route, None)
                if previous is not None:
                    previous.cancel()
                timers[route] = loop.call_at(command.at, fire_timer, route, command.token, command_id)
            else:
                task = loop.spawn(perform(supervisor, route, command, command_id, queue))  # type: ignore[arg-type]
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)

        def deliver(route: Route, event: Event, cause: int | None) -> None:
            nonlocal logged
            for observer in observers:
                observer.on_event(hedge_id, route, event, cause)
            supervisor.dispatch(route, event)
            logged = log_moves(supervisor, logged)

        async def follow_book(leg: int, venue: BookStream, symbol: str) -> None:
            # As HedgeEngine._follow_book: pushed quotes go to a leg whose order rests.
            try:
                async for bbo in venue.book_updates(symbol):
                    routed = book_event(supervisor, leg, bbo, loop.now)
                    if routed is not None:
                        queue.put_nowait((routed[0], routed[1], None))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream is a speed-up: polling carries on without it
                _log.bind(hedge_id=hedge_id, leg=leg).warning(
                    "book stream of {} stopped: {}", supervisor.plans[leg].venue, exc
                )

        streams = [
            loop.spawn(follow_book(leg, venue, symbol))
            for leg, venue, symbol in book_streams(self.venues, supervisor)
        ]
        try:
            # Inside the try, as HedgeEngine: an observer may refuse the hedge before anything is sent.
            for observer in observers:
                observer.on_start(supervisor)
            deliver(SUPERVISOR_ROUTE, Start(now=loop.now), None)
            for route, command in supervisor.drain_routed():
                issue(route, command)
            while not supervisor.is_finished:
                route, event, cause = await queue.get()
                deliver(route, event, cause)
                for route, command in supervisor.drain_routed():
                    issue(route, command)
        except BaseException:
            for timer in timers.values():
                timer.cancel()
            for task in (*in_flight, *streams):
                task.cancel()
            raise
        for timer in timers.values():
            timer.cancel()
        timers.clear()
        for task in streams:
            task.cancel()
        if streams:
            await loop.wait(set(streams), math.inf)
        if in_flight:
            # Venue calls still out: their answers may carry fills. Wait (bounded).
            # As HedgeEngine: each call is bounded by its own timeout; the wait is bounded
            # too, then whatever is left is cancelled and given a grace to end.
            pending = await loop.wait(set(in_flight), self.config.call_timeouts.longest + CANCEL_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                pending = await loop.wait(pending, CANCEL_GRACE)
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


class SimEngine:
    """:class:`~hedge_fsm.HedgeEngine` on a :class:`SimLoop`: the same hedges, synchronously.

    ``venues`` are simulated venues; they are put on the loop's clock (their
    ``clock_face``) for as long as this engine drives them (:meth:`release` puts
    them back on asyncio's). ``execute`` and ``hedge`` return the same
    :class:`ExecutionResult` the asyncio engine returns for the same seeds.
    """

    def __init__(
        self,
        venues: Mapping[str, SimVenue],
        config: HedgeConfig | None = None,
        *,
        observers: Sequence[HedgeObserver] = (),
        hedge_ids: Callable[[], str] | None = None,
        loop: SimLoop | None = None,
    ) -> None:
        for name, venue in venues.items():
            if not isinstance(venue, SimVenue):
                raise InvalidValue(
                    f"SimEngine drives simulated venues only; venue {name!r} is a "
                    f"{type(venue).__name__} (use HedgeEngine)"
                )
        self.loop = loop if loop is not None else SimLoop()
        self.venues = dict(venues)
        for venue in self.venues.values():
            venue.clock_face = self.loop
        self._engine = _LoopEngine(self.loop, self.venues, config, observers, hedge_ids)
        self.config = self._engine.config

    def execute(self, legs: Sequence[LegSpec], *, hedge_id: str | None = None) -> ExecutionResult:
        """As :meth:`HedgeEngine.execute`, on virtual time, returning when the hedge is terminal."""
        return self.loop.run(self._engine.execute(legs, hedge_id=hedge_id))

    def hedge(
        self,
        targets: Sequence[HedgeTarget],
        *,
        trigger: TriggerFill | None = None,
        market_only: bool = False,
        hedge_id: str | None = None,
    ) -> ExecutionResult:
        """As :meth:`HedgeEngine.hedge`, on virtual time."""
        return self.loop.run(
            self._engine.hedge(targets, trigger=trigger, market_only=market_only, hedge_id=hedge_id)
        )

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run harness code that awaits the venues (or :meth:`SimLoop.sleep`) on this loop."""
        return self.loop.run(coro)

    def release(self) -> None:
        """Put the venues back on the running asyncio loop's clock."""
        from hedge_fsm.sim.venue import LOOP_FACE

        for venue in self.venues.values():
            venue.clock_face = LOOP_FACE
