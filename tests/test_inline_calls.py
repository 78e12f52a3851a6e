"""Venue calls started inline by the asyncio driver change nothing but the cost.

``VenueCapabilities.inline_calls`` lets ``HedgeEngine`` run a venue call up to its first
suspension where it issues it (when nothing else is ready to run), with a task only for
the rest: the same episode as with a task per call, move for move, fill for fill, log
line for log line, hung calls included (their bound cancels their own task).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

import hedge_fsm.engine as engine_module
from hedge_fsm.episode import Episode, simulate
from hedge_fsm.sim import FaultPlan, Scenario, VenuePool

HANGS = Scenario(
    name="hangs",
    faults=FaultPlan(hang_place=0.3, hang_cancel=0.3, hang_query=0.2, hang_bbo=0.2, hang_position=0.2),
)


def _episode(
    scenario: str | Scenario, seed: int, *, inline: bool, zero_latency: bool, driver: str = "asyncio"
) -> Episode:
    """The driver's episode on venues whose capabilities say ``inline_calls=inline``."""
    pool = VenuePool()
    for venue in pool.get(scenario, seed, zero_latency=zero_latency).values():
        venue.capabilities = attrs.evolve(venue.capabilities, inline_calls=inline)
    return simulate(scenario, seed, zero_latency=zero_latency, driver=driver, pool=pool)


def _view(episode: Episode) -> tuple[Any, ...]:
    fills = [fill for venue in episode.venues.values() for fill in venue.fills]
    return (episode.result, episode.legs, fills, episode.venue_log(), episode.invariant_violations)


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the calls started inline, and those of them that suspended (got a task)."""
    counts = {"inline": 0, "suspended": 0}
    start: Callable[..., Any] = engine_module._start_inline

    def counting(call: Any) -> Any:
        counts["inline"] += 1
        task = start(call)
        counts["suspended"] += task is not None
        return task

    monkeypatch.setattr(engine_module, "_start_inline", counting)
    return counts


@pytest.mark.parametrize("scenario", ["calm", "volatile", "faulty", HANGS], ids=str)
@pytest.mark.parametrize("zero_latency", [False, True], ids=["preset-latency", "zero-latency"])
@pytest.mark.parametrize("seed", [2, 7])
def test_inline_started_calls_give_the_same_episode(
    scenario: str | Scenario, zero_latency: bool, seed: int, starts: dict[str, int]
) -> None:
    """Same seed, calls in their own tasks or started inline: the same result, transitions,
    fills, venue logs and invariant checks."""
    tasked = _view(_episode(scenario, seed, inline=False, zero_latency=zero_latency))
    assert starts["inline"] == 0
    inline = _view(_episode(scenario, seed, inline=True, zero_latency=zero_latency))
    assert inline == tasked


def test_calls_answering_at_once_need_no_task(starts: dict[str, int]) -> None:
    """On zero-latency venues calls are started inline and most end there (no task at all);
    on venues with latency they are started inline and carry on in a task."""
    # Seed 5: its hedge leg polls while nothing else is ready to run (calls are started inline
    # only then). Seed 7 no longer does: since book reprices amend, its leg fills within a few
    # book updates, each call issued beside the quote stream's own ready step.
    _episode("calm", 5, inline=True, zero_latency=True)
    assert starts["inline"] > starts["suspended"]
    before = dict(starts)
    _episode("calm", 5, inline=True, zero_latency=False)
    assert starts["inline"] > before["inline"] and starts["suspended"] > before["suspended"]


@pytest.mark.parametrize("scenario", ["calm", "faulty", HANGS], ids=str)
@pytest.mark.parametrize("zero_latency", [False, True], ids=["preset-latency", "zero-latency"])
def test_the_sync_driver_starting_calls_inline_gives_the_same_episode(
    scenario: str | Scenario, zero_latency: bool
) -> None:
    """The synchronous driver starts the same calls inline (``SimLoop.spawn_inline``): the
    same episodes as with a task per call."""
    for seed in (3, 8):
        tasked = _episode(scenario, seed, inline=False, zero_latency=zero_latency, driver="sync")
        inline = _episode(scenario, seed, inline=True, zero_latency=zero_latency, driver="sync")
        assert _view(inline) == _view(tasked), seed


def test_inline_started_calls_that_hang_are_bounded_in_their_own_task(starts: dict[str, int]) -> None:
    """Calls that suspend after an inline start (latency, hangs) carry on in a task of their
    own: a hung call's timeout cancels that task, never the driver, and the hedge ends."""
    hangs = 0
    for seed in range(1, 6):
        episode = _episode(HANGS, seed, inline=True, zero_latency=False)
        assert episode.result.state in ("done", "rolled_back", "failed", "cancelled")
        hangs += episode.venue_log().count("hang: not processed")
    assert hangs > 0 and starts["suspended"] > 0
