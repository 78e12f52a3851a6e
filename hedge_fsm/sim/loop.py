"""Virtual time: an asyncio event loop whose clock jumps instead of sleeping.

Theory of operation
-------------------
An asyncio loop runs every ready callback, then asks its selector to wait for
I/O until the next timer is due (``select(timeout)``). :class:`VirtualTimeLoop`
keeps its own clock (``time()``) and hands the loop a selector that never
waits: when nothing is ready, the wait is *replaced* by moving the virtual
clock forward by ``timeout``, i.e. straight to the next scheduled timer. A
``await asyncio.sleep(6.0)`` therefore takes a few microseconds of wall time
while every timer, timeout (``asyncio.timeout``, ``wait_for``) and
:class:`hedge_fsm.clock.LoopClock` reading sees the six seconds pass.

Rules that hold:

* No wall clock is read. Given the same coroutine, the same callbacks run in
  the same order at the same virtual times: runs are deterministic.
* Virtual time only moves while the loop is idle (no ready callback), or to
  a timer's exact deadline just before the timer runs: a timer never runs
  early, and a callback never sees time pass during its own execution.
* Nothing ready, no timer, nothing outside the loop that could wake it: the
  program can never progress, so the loop raises :class:`VirtualTimeDeadlock`
  instead of hanging (a real loop would sleep forever).
* Work handed to threads (``run_in_executor``, ``getaddrinfo``) *freezes*
  virtual time: while such work is pending and nothing else is ready, the loop
  blocks on the real selector until the thread reports back. Threads are not
  deterministic; avoid them under simulation.

:func:`run` is the entry point: ``asyncio.run`` for virtual time.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import selectors
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from hedge_fsm.errors import HedgeError

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

__all__ = ["VirtualTimeDeadlock", "VirtualTimeLoop", "run"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


class VirtualTimeDeadlock(HedgeError, RuntimeError):
    """The virtual loop has nothing ready and nothing scheduled: it would block forever."""


class _VirtualSelector(selectors.BaseSelector):
    """A selector that advances the loop's virtual clock instead of waiting.

    File objects are still registered with a real selector, polled without
    waiting on every call, so the loop's self-pipe (``call_soon_threadsafe``,
    signal wake-ups) keeps working.
    """

    def __init__(self) -> None:
        self._real = selectors.DefaultSelector()
        self._loop: VirtualTimeLoop | None = None

    def bind(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        assert loop is not None, "the virtual selector is used before its loop is bound"
        # Poll, never wait: anything a thread or a signal wrote to the self-pipe is handled.
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if loop.external_work_pending:
            # A thread will wake us up through the self-pipe; virtual time stays frozen
            # meanwhile, so a virtual timeout cannot fire because a thread was slow.
            return self._real.select(None)
        if timeout is None:
            raise VirtualTimeDeadlock(
                "virtual-time loop deadlock: no callback is ready, no timer is scheduled and "
                "no thread is working for the loop; an awaited future can never complete"
            )
        loop.advance_time(timeout)
        return []


class _FifoTimerHandle(asyncio.TimerHandle):
    """A timer that orders by due time, then by when it was set (first set, first run)."""

    __slots__ = ("_order",)

    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context | None,
        order: int,
    ) -> None:
        super().__init__(when, callback, args, loop, context)
        self._order = order

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _FifoTimerHandle) and self.when() == other.when():
            return self._order < other._order
        return super().__lt__(other)  # type: ignore[operator]


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time: idle waits jump the clock to the next timer.

    ``time()`` starts at ``start_time`` and only moves when the loop has nothing
    ready to run. Use :func:`run` rather than building one by hand.
    """

    def __init__(self, *, start_time: float = 0.0) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.bind(self)
        self._virtual_time = float(start_time)
        self._external_work = 0
        self._timer_order = itertools.count()

    def time(self) -> float:
        """The virtual time, in seconds."""
        return self._virtual_time

    def advance_time(self, seconds: float) -> None:
        """Move the virtual clock forward (the selector does this; tests rarely need it)."""
        if seconds < 0:
            raise ValueError(f"virtual time cannot go backwards (asked {seconds!r} s)")
        self._virtual_time += seconds

    @property
    def external_work_pending(self) -> bool:
        """True while a thread started by ``run_in_executor`` has not reported back."""
        return self._external_work > 0

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        """As asyncio's, but the callback never runs before ``when`` on the virtual clock.

        asyncio fires every timer due within its clock resolution (1 ns) of now,
        so a timer can run a hair early. On a real clock that is harmless; on a
        virtual one a callback that checks ``now >= deadline`` and re-arms would
        spin forever, time never moving. So the clock is moved to the deadline
        first (forward only), which also makes timers land on their exact time.
        """

        def on_time() -> None:
            if self._virtual_time < when:
                self._virtual_time = when
            callback(*args)

        # As BaseEventLoop.call_at, with a handle that breaks ties in the order the timers
        # were set: asyncio's heap leaves timers due at the same instant in an order that
        # depends on everything else in the heap, which no other driver can reproduce.
        self._check_closed()  # type: ignore[attr-defined]
        timer = _FifoTimerHandle(when, on_time, (), self, context, next(self._timer_order))
        heapq.heappush(self._scheduled, timer)  # type: ignore[attr-defined]
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    def run_in_executor(
        self,
        executor: Executor | None,
        func: Callable[[*_Ts], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """As asyncio's, but virtual time freezes until the thread's result is back."""
        future = super().run_in_executor(executor, func, *args)
        self._external_work += 1
        future.add_done_callback(self._external_work_done)
        return future

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        """As asyncio's; the shutdown runs in a thread, so virtual time freezes meanwhile."""
        self._external_work += 1
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._external_work -= 1

    def _external_work_done(self, _future: asyncio.Future[Any]) -> None:
        self._external_work -= 1


def run(coro: Coroutine[Any, Any, _T], *, start_time: float = 0.0) -> _T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop`; return its result.

    The virtual-time counterpart of ``asyncio.run``: ``asyncio.sleep`` inside
    takes no wall time, and the loop's ``time()`` starts at ``start_time``.
    Raises :class:`VirtualTimeDeadlock` if the program waits on something that
    can never happen.
    """
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start_time=start_time)) as runner:
        result: _T = runner.run(_boxed(coro)).value
        return result


class _Box:
    """A result asyncio may ``repr`` when the run ends (it formats the finished task)
    without formatting the result itself: an ExecutionResult's repr is every transition."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


async def _boxed(coro: Coroutine[Any, Any, _T]) -> _Box:
    return _Box(await coro)
