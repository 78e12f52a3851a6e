"""Virtual time: the loop jumps to the next timer, deterministically, and refuses deadlocks."""

from __future__ import annotations

import asyncio
import time

import pytest

from hedge_fsm.clock import LoopClock
from hedge_fsm.sim import VirtualTimeDeadlock, VirtualTimeLoop, run


def test_six_second_sleep_takes_no_wall_time() -> None:
    """A 6 s virtual sleep advances the loop clock by exactly 6 s in far less wall time."""

    async def sleep_six() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(6.0)
        return loop.time() - start

    wall = time.perf_counter()
    elapsed = run(sleep_six())
    wall = time.perf_counter() - wall
    assert elapsed == 6.0
    assert wall < 3.0  # a real sleep would take 6 s; generous for a loaded machine


def test_run_returns_the_result_and_starts_at_start_time() -> None:
    """``run`` returns the coroutine's value; the virtual clock starts at ``start_time``."""

    async def read_clock() -> tuple[float, bool]:
        loop = asyncio.get_running_loop()
        return loop.time(), isinstance(loop, VirtualTimeLoop)

    assert run(read_clock(), start_time=1000.0) == (1000.0, True)
    assert run(read_clock()) == (0.0, True)


def test_loop_clock_reads_virtual_time() -> None:
    """``hedge_fsm.clock.LoopClock`` follows the virtual loop: now, sleep and call_at."""

    async def use_clock() -> tuple[float, float, list[float]]:
        clock = LoopClock()
        fired: list[float] = []
        clock.call_at(2.5, lambda: fired.append(clock.now()))
        before = clock.now()
        await clock.sleep(3.0)
        return before, clock.now(), fired

    assert run(use_clock()) == (0.0, 3.0, [2.5])


def test_timeouts_fire_in_virtual_time() -> None:
    """``asyncio.timeout`` and ``wait_for`` expire at their virtual deadline, not later."""

    async def time_out() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.sleep(5.0)
        first = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(10.0), timeout=0.25)
        return first, loop.time()

    assert run(time_out()) == (1.0, 1.25)


def test_concurrent_sleepers_wake_in_time_order() -> None:
    """Tasks wake in the order of their virtual deadlines, each at its own time."""

    async def race() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await asyncio.sleep(seconds)
            woke.append((name, loop.time()))

        await asyncio.gather(sleeper("c", 0.3), sleeper("a", 0.1), sleeper("b", 0.2))
        return woke

    assert run(race()) == [("a", 0.1), ("b", 0.2), ("c", 0.3)]


def test_waiting_on_nothing_is_a_deadlock() -> None:
    """Awaiting a future nobody can complete raises instead of hanging forever."""

    async def wait_forever() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(VirtualTimeDeadlock, match="deadlock"):
        run(wait_forever())


def test_thread_work_freezes_virtual_time() -> None:
    """Work in a thread completes without virtual time moving (and without a false deadlock)."""

    async def use_thread() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, sum, [1, 2, 3])
        return result, loop.time()

    assert run(use_thread()) == (6, 0.0)


def test_many_timers_are_cheap() -> None:
    """Ten thousand 10 ms sleeps cover 100 virtual seconds in a fraction of a wall second."""

    async def tick() -> float:
        for _ in range(10_000):
            await asyncio.sleep(0.01)
        return asyncio.get_running_loop().time()

    wall = time.perf_counter()
    virtual = run(tick())
    assert virtual == pytest.approx(100.0)
    assert time.perf_counter() - wall < 10.0  # real sleeps would take 100 s


def test_a_timer_never_runs_before_its_deadline() -> None:
    """Regression: asyncio fires timers due within 1 ns of now, so a timer 5e-15 s after
    another ran early, saw ``now < deadline``, re-armed, and the loop spun forever with time
    frozen. The virtual clock now moves to each timer's deadline before it runs."""

    async def rearm_until_due() -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        deadline = 0.1 + 0.2  # 0.30000000000000004
        attempts = 0
        done = loop.create_future()

        def check() -> None:
            nonlocal attempts
            attempts += 1
            if loop.time() >= deadline:
                done.set_result(True)
            elif attempts < 1000:
                loop.call_at(deadline, check)
            else:
                done.set_result(False)

        loop.call_at(0.3, lambda: None)  # due a hair earlier: the loop wakes for this one
        loop.call_at(deadline, check)
        reached = await done
        return attempts, reached

    attempts, reached = run(rearm_until_due())
    assert reached
    assert attempts == 1
