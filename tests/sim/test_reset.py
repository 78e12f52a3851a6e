"""Reset venues are fresh venues: the same episode on the same seed, the same state inside.

``reset_venues`` / ``VenuePool`` exist for speed (loops of episodes do not rebuild the
presets); they are only worth having if nothing of an earlier episode survives a reset.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import attrs
import pytest

from hedge_fsm.episode import Episode, simulate
from hedge_fsm.errors import InvalidValue
from hedge_fsm.sim import SCENARIO_NAMES, MarketModel, SimVenue, VenuePool, build_venues, reset_venues
from hedge_fsm.sim.market import Book


def _same_state(fresh: Any, reset: Any, path: str, seen: set[tuple[int, int]]) -> None:
    """Assert that ``reset`` holds what ``fresh`` holds, attribute by attribute (random
    streams by their state), following references (cycles visited once)."""
    if fresh is reset or (id(fresh), id(reset)) in seen:
        return
    seen.add((id(fresh), id(reset)))
    assert type(fresh) is type(reset), f"{path}: {type(fresh).__name__} != {type(reset).__name__}"
    if isinstance(fresh, random.Random):
        assert fresh.getstate() == reset.getstate(), f"{path}: random stream differs"
    elif isinstance(fresh, list | tuple | deque):
        assert len(fresh) == len(reset), f"{path}: {len(fresh)} items != {len(reset)}"
        for i, (a, b) in enumerate(zip(fresh, reset, strict=True)):
            _same_state(a, b, f"{path}[{i}]", seen)
    elif isinstance(fresh, dict):
        assert list(fresh) == list(reset), f"{path}: keys {list(fresh)} != {list(reset)}"
        for key in fresh:
            _same_state(fresh[key], reset[key], f"{path}[{key!r}]", seen)
    elif attrs.has(type(fresh)) and type(fresh).__eq__ is not object.__eq__:
        # A value (configuration, report): compared by its fields.
        assert fresh == reset, f"{path}: {fresh!r} != {reset!r}"
    elif hasattr(fresh, "__dict__") or hasattr(type(fresh), "__slots__"):
        names = set(getattr(fresh, "__dict__", {}))
        for klass in type(fresh).__mro__:
            names.update(n for n in getattr(klass, "__slots__", ()) if n != "__weakref__")
        for name in sorted(names):
            has = hasattr(fresh, name)
            assert has == hasattr(reset, name), f"{path}.{name}: set on one side only"
            if has:
                _same_state(getattr(fresh, name), getattr(reset, name), f"{path}.{name}", seen)
    else:
        assert fresh == reset, f"{path}: {fresh!r} != {reset!r}"


def _observable(episode: Episode) -> tuple[object, ...]:
    """Everything an episode shows: its result, reports, and every venue's fills, positions, log."""
    venues = tuple(
        (name, tuple(venue.fills), tuple(sorted(venue.positions().items())), tuple(venue.log.lines()))
        for name, venue in sorted(episode.venues.items())
    )
    return (episode.result, tuple(episode.legs), tuple(episode.invariant_violations), venues)


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_reset_venues_hold_the_state_of_fresh_venues(scenario: str) -> None:
    """After an episode and ``reset_venues(seed)``, market, books and venues are, field by
    field, what ``build_venues(scenario, seed)`` builds (a field a reset forgets fails here)."""
    used = build_venues(scenario, 3)
    simulate(scenario, 3, pool=_pool_holding(scenario, used))
    assert any(venue.fills for venue in used.values()), "the episode must leave state behind"
    reset_venues(used, 11)
    fresh = build_venues(scenario, 11)
    _same_state(fresh, used, "venues", set())


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
@pytest.mark.parametrize("zero_latency", [False, True])
def test_an_episode_on_pooled_venues_is_the_episode_on_fresh_ones(scenario: str, zero_latency: bool) -> None:
    """The same seeds, in an order where each episode follows another, through one pool: the
    same results, reports, fills, positions and venue logs as on venues built for each."""
    pool = VenuePool()
    seeds = [5, 1, 9, 2, 5, 14, 3]
    first = None
    for seed in seeds:
        pooled = simulate(scenario, seed, zero_latency=zero_latency, pool=pool)
        first = first or pooled.venues
        assert pooled.venues is first, "the pool must hand out the same venues again"
        pooled_view = _observable(pooled)
        fresh = simulate(scenario, seed, zero_latency=zero_latency)
        assert pooled_view == _observable(fresh), f"seed {seed}"


def test_an_asyncio_episode_on_pooled_venues_is_the_episode_on_fresh_ones() -> None:
    """The asyncio driver leaves the venues on its loop's clock face: a reset takes them back."""
    pool = VenuePool()
    for seed, driver in ((4, "asyncio"), (6, "sync"), (4, "sync"), (6, "asyncio")):
        pooled = _observable(simulate("volatile", seed, driver=driver, pool=pool))
        assert pooled == _observable(simulate("volatile", seed, driver=driver)), (seed, driver)


def test_pool_keeps_settings_apart_and_bounded() -> None:
    """A pool hands out one set of venues per (scenario, latency), at most ``size`` of them."""
    pool = VenuePool(size=2)
    calm = pool.get("calm", 1)
    assert pool.get("calm", 2) is calm
    volatile = pool.get("volatile", 1)
    assert volatile is not calm
    assert pool.get("calm", 1, zero_latency=True) is not calm
    # Three settings in a pool of two: the least recently used (calm) was dropped.
    assert pool.get("calm", 1) is not calm
    assert calm["binance"].latency != pool.get("calm", 1, zero_latency=True)["binance"].latency


def test_reset_venues_refuses_venues_on_different_markets() -> None:
    """Venues of two setups share no market: resetting them together would be meaningless."""
    mixed = {"a": build_venues("calm", 1)["binance"], "b": build_venues("calm", 1)["lighter"]}
    with pytest.raises(InvalidValue, match="one market"):
        reset_venues(mixed, 2)


def test_market_reset_keeps_books_and_their_venues() -> None:
    """A book keeps its identity and its venue through a reset, so venues stay wired."""
    venues = build_venues("calm", 1)
    market: MarketModel = venues["binance"].market
    books = market.books()
    market.reset(2)
    assert market.books() == books and all(isinstance(b, Book) for b in books)
    assert all(book._sink in venues.values() for book in books)
    assert market.seed == 2 and market.now is None


def _pool_holding(scenario: str, venues: dict[str, SimVenue]) -> VenuePool:
    """A pool that already holds ``venues`` for ``scenario`` (so the episode runs on them)."""
    pool = VenuePool()
    pool.get(scenario, 0)  # create the thread's cache
    cache = pool._local.cache
    cache.clear()
    from hedge_fsm.sim import get_scenario

    cache[(get_scenario(scenario), False, False)] = venues
    return pool
