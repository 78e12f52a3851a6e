"""The market model: queue position, partial fills, trade-throughs, book walks, laziness.

Most tests use the quiet ``TEST`` venue of ``conftest.py`` (bid 100.0, ask 100.1,
1.0 contract per level, no random flow) with zero latency, and drive the market
with the test hooks.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from decimal import Decimal

import attrs
import pytest

from hedge_fsm import OrderInfo, OrderStatus, Side
from hedge_fsm.sim import BookConfig, Liquidity, MarketModel, SimVenue, run

D = Decimal
VenueFactory = Callable[..., SimVenue]


async def _buy(venue: SimVenue, quantity: str, price: str, cid: str) -> OrderInfo:
    return await venue.place_limit(
        "TEST",
        Side.BUY,
        D(quantity),
        D(price),
        post_only=True,
        reduce_only=False,
        client_order_id=cid,
    )


def test_order_behind_displayed_depth_waits_for_the_queue(make_venue: VenueFactory) -> None:
    """A bid joining a level with 1.0 displayed fills only once 1.0 has traded ahead of it."""

    async def scenario() -> list[Decimal]:
        venue = make_venue()
        order = await _buy(venue, "0.5", "100.0", "q1")
        seen: list[Decimal] = []
        for size in ("0.6", "0.3", "0.05"):  # 0.95 traded: still 0.05 ahead
            venue.hooks.inject_trade("TEST", Side.SELL, D(size))
            seen.append((await venue.order("TEST", order_id=order.order_id)).filled_quantity)
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.25"))  # 0.05 ahead, then 0.2 to us
        seen.append((await venue.order("TEST", order_id=order.order_id)).filled_quantity)
        return seen

    assert run(scenario()) == [D(0), D(0), D(0), D("0.2")]


def test_partial_fill_is_capped_by_trade_size(make_venue: VenueFactory) -> None:
    """At the front of the queue, each trade fills at most its own size; the order completes later."""

    async def scenario() -> list[tuple[Decimal, OrderStatus]]:
        venue = make_venue()
        venue.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.2"))
        # Inside the spread: nobody is ahead of us.
        order = await _buy(venue, "1.0", "100.0", "p1")
        states: list[tuple[Decimal, OrderStatus]] = []
        for size in ("0.3", "0.3", "2.0"):
            venue.hooks.inject_trade("TEST", Side.SELL, D(size))
            info = await venue.order("TEST", order_id=order.order_id)
            states.append((info.filled_quantity, info.status))
        return states

    assert run(scenario()) == [
        (D("0.3"), OrderStatus.PARTIALLY_FILLED),
        (D("0.6"), OrderStatus.PARTIALLY_FILLED),
        (D("1.0"), OrderStatus.FILLED),
    ]


def test_trade_through_fills_the_whole_order(make_venue: VenueFactory) -> None:
    """A trade printing below a bid's level consumed that level: the bid fills fully, at its price."""

    async def scenario() -> tuple[Decimal, Decimal | None, Decimal | None]:
        venue = make_venue()
        order = await _buy(venue, "0.8", "99.9", "t1")  # level 1, 1.0 ahead
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.01"), price=D("99.8"))
        info = await venue.order("TEST", order_id=order.order_id)
        return info.filled_quantity, info.average_price, info.maker_quantity

    assert run(scenario()) == (D("0.8"), D("99.9"), D("0.8"))


def test_trade_walks_levels_before_reaching_a_deeper_order(make_venue: VenueFactory) -> None:
    """A 2.2 sell eats level 0 (1.0), then 1.0 ahead at level 1, leaving 0.2 for our bid there."""

    async def scenario() -> Decimal:
        venue = make_venue()
        order = await _buy(venue, "0.5", "99.9", "w1")
        venue.hooks.inject_trade("TEST", Side.SELL, D("2.2"))
        return (await venue.order("TEST", order_id=order.order_id)).filled_quantity

    assert run(scenario()) == D("0.2")


def test_own_orders_fill_in_time_priority(make_venue: VenueFactory) -> None:
    """Two bids at one price: the earlier one fills first."""

    async def scenario() -> tuple[Decimal, Decimal]:
        venue = make_venue()
        first = await _buy(venue, "0.3", "100.0", "a")
        second = await _buy(venue, "0.3", "100.0", "b")
        venue.hooks.inject_trade("TEST", Side.SELL, D("1.4"))  # 1.0 ahead, 0.3 first, 0.1 second
        one = await venue.order("TEST", order_id=first.order_id)
        two = await venue.order("TEST", order_id=second.order_id)
        return one.filled_quantity, two.filled_quantity

    assert run(scenario()) == (D("0.3"), D("0.1"))


def test_quote_moving_through_a_resting_order_fills_it_as_maker(make_venue: VenueFactory) -> None:
    """When the ask drops to a resting bid, the bid fills fully, maker, at its own price."""

    async def scenario() -> tuple[OrderStatus, Decimal | None, list[Liquidity]]:
        venue = make_venue()
        order = await _buy(venue, "0.5", "100.0", "m1")
        venue.hooks.set_quote("TEST", bid=D("99.8"), ask=D("100.0"))
        info = await venue.order("TEST", order_id=order.order_id)
        return info.status, info.average_price, [fill.liquidity for fill in venue.fills]

    assert run(scenario()) == (OrderStatus.FILLED, D("100.0"), [Liquidity.MAKER])


def test_market_order_walks_the_book(make_venue: VenueFactory) -> None:
    """A 2.5 market buy takes 1.0 at 100.1, 1.0 at 100.2 and 0.5 at 100.3, all taker."""

    async def scenario() -> tuple[OrderInfo, list[tuple[Decimal, Decimal, Liquidity]]]:
        venue = make_venue()
        info = await venue.place_market(
            "TEST", Side.BUY, D("2.5"), reduce_only=False, client_order_id="mk"
        )
        return info, [(f.price, f.quantity, f.liquidity) for f in venue.fills]

    info, fills = run(scenario())
    assert fills == [
        (D("100.1"), D("1.000"), Liquidity.TAKER),
        (D("100.2"), D("1.000"), Liquidity.TAKER),
        (D("100.3"), D("0.500"), Liquidity.TAKER),
    ]
    assert info.status is OrderStatus.FILLED
    assert info.average_price == (D("100.1") + D("100.2") + D("100.3") / 2) / D("2.5")
    assert info.maker_quantity == 0


def test_market_order_larger_than_the_book_expires_partially_filled(make_venue: VenueFactory) -> None:
    """Five levels of 1.0: a market sell of 7 fills 5 and the rest expires (an IOC)."""

    async def scenario() -> OrderInfo:
        venue = make_venue()
        return await venue.place_market(
            "TEST", Side.SELL, D("7"), reduce_only=False, client_order_id="big"
        )

    info = run(scenario())
    assert (info.status, info.filled_quantity) == (OrderStatus.EXPIRED, D("5.000"))


def test_random_trades_fill_resting_orders_without_overfilling(make_venue: VenueFactory) -> None:
    """With Poisson flow, a resting bid eventually fills, and never beyond its quantity."""
    book = BookConfig(
        reference_price=D("100.0"),
        depth=D("1.0"),
        trade_rate=20.0,
        trade_size_mean=D("0.2"),
        depth_levels=5,
    )

    async def scenario() -> tuple[OrderInfo, Decimal]:
        venue = make_venue(book=book, seed=3)
        order = await _buy(venue, "0.5", "100.0", "r1")
        for _ in range(200):
            await asyncio.sleep(0.1)
            info = await venue.order("TEST", order_id=order.order_id)
            if info.is_terminal:
                break
        return info, sum((f.quantity for f in venue.fills), D(0))

    info, filled = run(scenario())
    assert info.status is OrderStatus.FILLED
    assert filled == info.filled_quantity == D("0.5")


def _quotes(seed: int, times: list[float]) -> list[tuple[int, int]]:
    model = MarketModel(seed)
    book = model.add_book(
        venue="v",
        symbol="S",
        config=BookConfig(reference_price=D("100.00"), volatility=0.001),
        tick_size=D("0.01"),
        lot_size=D("0.001"),
    )
    out: list[tuple[int, int]] = []
    for t in times:
        model.advance_to(t)
        book.catch_up()
        out.append((book.bid, book.ask))
    return out


def test_market_path_is_determined_by_the_seed() -> None:
    """The same seed and calls give the same quotes; another seed gives another path."""
    times = [0.0, 0.5, 1.0, 3.0, 10.0, 11.0]
    assert _quotes(1, times) == _quotes(1, times)
    assert _quotes(1, times) != _quotes(2, times)


def test_books_on_one_factor_are_correlated() -> None:
    """Two books loading 0.995 on one factor move together; a book on another factor does not."""
    model = MarketModel(11, exact_path=True, quote_interval=0.1)
    config = BookConfig(reference_price=D("60000.00"), volatility=0.001, factor_loading=0.995)
    a = model.add_book(
        venue="a", symbol="BTC", config=attrs.evolve(config, factor="BTC"),
        tick_size=D("0.01"), lot_size=D("0.001"),
    )
    b = model.add_book(
        venue="b", symbol="BTC", config=attrs.evolve(config, factor="BTC"),
        tick_size=D("0.01"), lot_size=D("0.001"),
    )
    c = model.add_book(
        venue="c", symbol="ETH", config=attrs.evolve(config, factor="ETH"),
        tick_size=D("0.01"), lot_size=D("0.001"),
    )
    mids: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    for step in range(1500):
        model.advance_to(step * 0.1)
        for name, book in (("a", a), ("b", b), ("c", c)):
            mids[name].append(math.log(book.bid + book.ask))
    returns = {k: [y - x for x, y in itertools.pairwise(v)] for k, v in mids.items()}
    assert _correlation(returns["a"], returns["b"]) > 0.95
    assert abs(_correlation(returns["a"], returns["c"])) < 0.2


def _correlation(x: list[float], y: list[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def test_idle_market_jumps_instead_of_stepping() -> None:
    """With nothing resting, a day of virtual time costs a handful of draws, not 1.7M ticks."""
    model = MarketModel(5, quote_interval=0.05)
    book = model.add_book(
        venue="v",
        symbol="S",
        config=BookConfig(reference_price=D("100.00"), volatility=0.0001, trade_rate=50.0),
        tick_size=D("0.01"),
        lot_size=D("0.001"),
    )
    wall = time.perf_counter()
    for hour in range(25):
        model.advance_to(hour * 3600.0)
        bbo = book.bbo(hour * 3600.0)
        assert 0 < bbo.bid < bbo.ask
    # Stepping 1.7M ticks takes seconds; jumping takes milliseconds (generous for a loaded machine).
    assert time.perf_counter() - wall < 1.0
    assert model.tick == pytest.approx(24 * 3600 / 0.05, abs=1)
