"""The synchronous simulation driver and the asyncio engine run the same hedges, move for move.

``simulate(..., driver="sync")`` runs :class:`hedge_fsm.sim.driver.SimEngine` (its
own virtual clock and timer heap, venue calls inline, no asyncio);
``driver="asyncio"`` runs :class:`hedge_fsm.HedgeEngine` on the virtual asyncio
loop. Both share the command → event mapping (:mod:`hedge_fsm.driving`), so on
the same scenario and seed they must produce the same result (state, every
transition with its time, every leg's fills and fees), the same fills at the
venues and byte-identical venue logs, and their observers must see the same
commands and events in the same order.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge_fsm import HedgeEngine, HedgeTarget, Side
from hedge_fsm.episode import Episode, simulate
from hedge_fsm.errors import InvalidValue
from hedge_fsm.machines.commands import Command
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, Route
from hedge_fsm.sim import FaultPlan, Scenario, VirtualTimeDeadlock, build_venues, run
from hedge_fsm.sim.driver import SimEngine, SimLoop
from hedge_fsm.values import ExecutionResult

SCENARIOS = ("calm", "volatile", "faulty")


class Recorder:
    """An observer that writes down everything it is shown, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        self.seen.append(("start", supervisor.hedge_id, supervisor.state))

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        self.seen.append(("command", hedge_id, route, command, command_id))

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        self.seen.append(("event", hedge_id, route, event, cause))

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None:
        self.seen.append(("finish", hedge_id, result))


def _fills(episode: Episode) -> list[Any]:
    return [fill for venue in episode.venues.values() for fill in venue.fills]


def _assert_same(asyncio_run: Episode, sync_run: Episode) -> None:
    assert sync_run.result.transitions == asyncio_run.result.transitions
    assert sync_run.result == asyncio_run.result
    assert _fills(sync_run) == _fills(asyncio_run)
    assert sync_run.venue_log() == asyncio_run.venue_log()
    assert sync_run.legs == asyncio_run.legs
    assert sync_run.invariant_violations == asyncio_run.invariant_violations


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("zero_latency", [False, True], ids=["preset-latency", "zero-latency"])
@settings(max_examples=8)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_same_seed_same_episode_on_both_drivers(scenario: str, zero_latency: bool, seed: int) -> None:
    """Transitions (with times), results, fills and venue logs are identical on both drivers."""
    asyncio_observer, sync_observer = Recorder(), Recorder()
    asyncio_run = simulate(scenario, seed, zero_latency=zero_latency, driver="asyncio",
                           observers=[asyncio_observer])
    sync_run = simulate(scenario, seed, zero_latency=zero_latency, driver="sync",
                        observers=[sync_observer])
    _assert_same(asyncio_run, sync_run)
    assert sync_observer.seen == asyncio_observer.seen


@st.composite
def fault_plans(draw: st.DrawFn) -> FaultPlan:
    """Any mix of the simulator's faults, hangs included (a hang may deadlock both alike)."""
    rate = st.sampled_from([0.0, 0.05, 0.2])
    return FaultPlan(
        seed=draw(st.integers(0, 2**31)), rate_limit=draw(rate), place_reject=draw(rate),
        place_timeout=draw(rate), cancel_timeout=draw(rate), lost_ack=draw(rate),
        duplicate_report=draw(rate), stale_report=draw(rate), stale_bbo=draw(rate),
        outage_every=draw(st.sampled_from([0.0, 5.0])), outage_duration=0.5,
        outage_places_ambiguous=draw(st.booleans()), hang_place=draw(rate), hang_cancel=draw(rate),
        hang_query=draw(rate), late_place=draw(rate), understate_cancel=draw(rate),
        position_lag=draw(rate),
    )


@settings(max_examples=15)
@given(plan=fault_plans(), seed=st.integers(0, 10**6))
def test_any_fault_plan_same_episode_or_same_deadlock(plan: FaultPlan, seed: int) -> None:
    """Under any fault mix both drivers give the same episode, or both report the same deadlock."""
    scenario = Scenario(name="mixed", faults=plan)
    outcomes = []
    for driver in ("asyncio", "sync"):
        try:
            outcomes.append(simulate(scenario, seed, driver=driver))
        except VirtualTimeDeadlock:
            outcomes.append(None)
    asyncio_run, sync_run = outcomes
    if asyncio_run is None or sync_run is None:
        assert asyncio_run is sync_run is None
        return
    _assert_same(asyncio_run, sync_run)


@pytest.mark.parametrize("seed", [3, 11, 97864])
def test_regression_soak_seeds_match(seed: int) -> None:
    """Seeds the fault soak has singled out before give the same episode on both drivers."""
    _assert_same(simulate("faulty", seed, driver="asyncio"), simulate("faulty", seed, driver="sync"))


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("market_only", [False, True], ids=["ladder", "market-only"])
def test_direct_hedge_matches(scenario: str, market_only: bool) -> None:
    """``hedge()`` (no entry phase, market-only too) gives the same result on both drivers."""
    targets = [
        HedgeTarget(venue="binance", symbol="PEPEUSDT", side=Side.BUY, quantity=Decimal(10_000_000)),
        HedgeTarget(venue="lighter", symbol="kPEPE", side=Side.SELL, quantity=Decimal(10_000)),
    ]
    venues = build_venues(scenario, 5)

    async def main() -> ExecutionResult:
        return await HedgeEngine(venues, hedge_ids=lambda: "d1").hedge(targets, market_only=market_only)

    expected = run(main())
    assert expected.state == "done", "the scenario must make the ladder work, not fail at once"
    sync_venues = build_venues(scenario, 5)
    got = SimEngine(sync_venues, hedge_ids=lambda: "d1").hedge(targets, market_only=market_only)
    assert got == expected
    assert [f for v in sync_venues.values() for f in v.fills] == [
        f for v in venues.values() for f in v.fills
    ]


def test_sim_engine_refuses_a_venue_that_is_not_simulated() -> None:
    """SimEngine drives SimVenues only; anything else is refused naming the venue."""
    with pytest.raises(InvalidValue, match="'real'"):
        SimEngine({"real": object()})  # type: ignore[dict-item]


def test_sim_loop_runs_timers_in_time_order_and_moves_the_clock_to_each() -> None:
    """Timers fire in time order at their exact time; a sleeping coroutine wakes at its deadline."""
    loop = SimLoop(start_time=10.0)
    fired: list[tuple[str, float]] = []
    loop.call_at(12.5, lambda: fired.append(("b", loop.now)))
    loop.call_at(11.0, lambda: fired.append(("a", loop.now)))
    cancelled = loop.call_at(11.5, lambda: fired.append(("never", loop.now)))
    cancelled.cancel()

    async def sleeper() -> float:
        await loop.sleep(3.0)
        return loop.now

    assert loop.run(sleeper()) == 13.0
    assert fired == [("a", 11.0), ("b", 12.5)]


def test_a_call_that_never_returns_deadlocks_both_drivers_alike() -> None:
    """With nothing ready and no timer, both loops raise VirtualTimeDeadlock instead of hanging."""
    loop = SimLoop()

    async def waits_forever() -> None:
        await loop.forever()

    with pytest.raises(VirtualTimeDeadlock):
        loop.run(waits_forever())

    async def also_forever() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(VirtualTimeDeadlock):
        run(also_forever())


def test_cancelling_a_sim_task_throws_cancelled_error_where_it_waits() -> None:
    """As in asyncio: the waiting coroutine sees CancelledError one turn later, can clean up,
    and its pending wake-up never fires; cancel requests are counted (uncancel undoes one)."""
    loop = SimLoop()
    seen: list[str] = []

    async def sleeper() -> None:
        try:
            await loop.sleep(10.0)
            seen.append("woke")
        except asyncio.CancelledError:
            seen.append(f"cancelled at {loop.now}")
            raise

    async def main() -> int:
        task = loop.spawn(sleeper())
        await loop.sleep(1.0)
        assert task.cancel()
        requested = task.cancelling()
        await loop.wait({task}, 5.0)
        assert task.done and isinstance(task.error, asyncio.CancelledError)
        return requested - task.uncancel()

    assert loop.run(main()) == 1
    assert seen == ["cancelled at 1.0"]
    assert loop.now == 1.0, "the cancelled sleep's timer must not move the clock"


def test_simulate_refuses_an_unknown_driver() -> None:
    """A misspelt driver name is refused, not silently replaced by the default."""
    with pytest.raises(InvalidValue, match="trio"):
        simulate("calm", 1, driver="trio")


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(
    ("reversed_", "delay"), [(False, 0.0), (True, 0.0), (False, 0.7), (True, 1.3)],
    ids=["same", "reversed", "same-later", "reversed-later"],
)
def test_concurrent_episodes_match(scenario: str, reversed_: bool, delay: float) -> None:
    """Two hedges at once in one engine (``simulate_concurrent``, the soak's concurrent
    episodes): the same results, fills, venue logs and checks on both drivers."""
    from hedge_fsm.episode import simulate_concurrent

    for seed in (2, 9):
        runs = [
            simulate_concurrent(scenario, seed, second_reversed=reversed_, second_delay=delay, driver=driver)
            for driver in ("asyncio", "sync")
        ]
        asyncio_run, sync_run = runs
        assert sync_run.results == asyncio_run.results
        assert [f for v in sync_run.venues.values() for f in v.fills] == [
            f for v in asyncio_run.venues.values() for f in v.fills
        ]
        assert [v.log.lines() for v in sync_run.venues.values()] == [
            v.log.lines() for v in asyncio_run.venues.values()
        ]
        assert sync_run.invariant_violations == asyncio_run.invariant_violations


def test_regression_hung_calls_timing_out_at_one_instant_match_on_both_drivers() -> None:
    """Two hung queries bounded by the same timeout from the same instant time out together:
    both drivers deliver their failures in the order the bounds were set (asyncio's heap
    used to leave such ties in an order no other driver could reproduce; found by
    ``test_any_fault_plan_same_episode_or_same_deadlock``)."""
    plan = FaultPlan(seed=0, place_reject=0.05, place_timeout=0.05, lost_ack=0.05, stale_bbo=0.05,
                     hang_place=0.2, hang_query=0.2)
    scenario = Scenario(name="mixed", faults=plan)
    _assert_same(simulate(scenario, 1031, driver="asyncio"), simulate(scenario, 1031, driver="sync"))


@pytest.mark.parametrize("loop_kind", ["sim", "asyncio"])
def test_timers_due_at_one_instant_run_in_the_order_they_were_set(loop_kind: str) -> None:
    """On both drivers' loops, timers set for the same instant fire first set, first run,
    whatever else the heap holds."""
    order: list[int] = []
    whens = [5.0, 1.0, 3.0, 3.0, 2.0, 3.0, 3.0, 0.5, 3.0]
    expected = sorted(range(len(whens)), key=lambda i: (whens[i], i))

    async def main(call_at: Any, sleep: Any) -> None:
        for i, when in enumerate(whens):
            call_at(when, order.append, i)
        await sleep(10.0)

    if loop_kind == "sim":
        loop = SimLoop()
        loop.run(main(loop.call_at, loop.sleep))
    else:
        async def on_asyncio() -> None:
            await main(asyncio.get_running_loop().call_at, asyncio.sleep)

        run(on_asyncio())
    assert order == expected
