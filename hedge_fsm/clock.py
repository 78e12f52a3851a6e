"""Clocks: the engine reads time and sets timers only through a :class:`Clock`.

The machines never read a clock (time arrives inside events); the driver does,
through this protocol. :class:`LoopClock` follows the running asyncio loop, so
the same engine code runs on real time with real venues and on virtual time
under :func:`hedge_fsm.sim.run` (a loop whose time jumps to the next timer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "LoopClock", "TimerHandle", "WallClock"]


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """Time in seconds (monotonic), sleeping, and timers."""

    def now(self) -> float:
        """Seconds on this clock's monotonic time line."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once at ``when`` (this clock's time); cancellable."""
        ...


class LoopClock:
    """The running asyncio loop's clock (real time, or virtual time under a virtual loop)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_at(when, callback)


class WallClock:
    """Seconds since the Unix epoch: a time line that survives a restart.

    Use it for engines whose hedges may be recovered from a journal by another
    process (the loop's monotonic clock restarts from an arbitrary origin).
    """

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (when - time.time()), callback)
