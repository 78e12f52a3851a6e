"""Properties of the simulated venue over random sequences of orders, trades and quote moves.

Whatever the sequence: no order fills beyond its quantity; an order's fills add up to
its reported fill and its maker quantity to its maker fills; the position is the signed
sum of the fills; a terminal order never changes again; what is open at the venue is
exactly what rests in the book.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import OrderInfo, Side, VenueRejected
from hedge_fsm.sim import (
    BookConfig,
    Liquidity,
    MarketModel,
    SimVenue,
    SymbolSpec,
    run,
)
from hedge_fsm.values import Instrument

D = Decimal
INSTRUMENT = Instrument(
    symbol="P",
    tick_size=D("0.1"),
    lot_size=D("0.1"),
    min_quantity=D("0.1"),
    min_notional=D(0),
)
BOOK = BookConfig(
    reference_price=D("100.0"),
    volatility=0.001,
    spread_ticks=2,
    depth=D("1.0"),
    depth_step=D("0.5"),
    depth_levels=4,
    trade_rate=5.0,
    trade_size_mean=D("0.5"),
)

sides = st.sampled_from([Side.BUY, Side.SELL])
quantities = st.integers(min_value=1, max_value=30).map(lambda n: D(n) / 10)
offsets = st.integers(min_value=-4, max_value=4)  # ticks from the mid
actions = st.one_of(
    st.tuples(st.just("limit"), sides, quantities, offsets, st.booleans(), st.booleans()),
    st.tuples(st.just("market"), sides, quantities, st.booleans()),
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("trade"), sides, quantities, st.one_of(st.none(), offsets)),
    st.tuples(st.just("mid"), st.integers(min_value=-20, max_value=20)),
    st.tuples(st.just("wait"), st.sampled_from([0.01, 0.05, 0.3, 2.0])),
)


async def _play(seed: int, script: list[tuple[object, ...]]) -> None:
    venue = SimVenue(
        "prop", MarketModel(seed), [SymbolSpec(instrument=INSTRUMENT, book=BOOK)], seed=seed
    )
    book = venue.book("P")
    terminal: dict[str, OrderInfo] = {}
    placed: list[str] = []
    for number, action in enumerate(script):
        kind = action[0]
        book.catch_up()
        mid_ticks = (book.bid + book.ask) // 2
        try:
            if kind == "limit":
                _, side, quantity, offset, post_only, reduce_only = action
                assert isinstance(side, Side) and isinstance(quantity, Decimal)
                assert isinstance(offset, int)
                info = await venue.place_limit(
                    "P",
                    side,
                    quantity,
                    book.price(max(1, mid_ticks + offset)),
                    post_only=bool(post_only),
                    reduce_only=bool(reduce_only),
                    client_order_id=f"c{number}",
                )
                placed.append(info.order_id)
            elif kind == "market":
                _, side, quantity, reduce_only = action
                assert isinstance(side, Side) and isinstance(quantity, Decimal)
                info = await venue.place_market(
                    "P", side, quantity, reduce_only=bool(reduce_only), client_order_id=f"c{number}"
                )
                placed.append(info.order_id)
            elif kind == "cancel" and placed:
                index = action[1]
                assert isinstance(index, int)
                await venue.cancel("P", placed[index % len(placed)])
            elif kind == "trade":
                _, side, quantity, offset = action
                assert isinstance(side, Side) and isinstance(quantity, Decimal)
                assert offset is None or isinstance(offset, int)
                price = None if offset is None else book.price(max(1, mid_ticks + offset))
                venue.hooks.inject_trade("P", side, quantity, price=price)
            elif kind == "mid":
                delta = action[1]
                assert isinstance(delta, int)
                venue.hooks.set_mid("P", book.price(max(10, mid_ticks + delta)))
            elif kind == "wait":
                delay = action[1]
                assert isinstance(delay, float)
                await asyncio.sleep(delay)
        except VenueRejected:
            pass
        _check(venue, terminal)


def _check(venue: SimVenue, terminal: dict[str, OrderInfo]) -> None:
    orders = venue.orders()
    position = D(0)
    for order in orders:
        fills = [f for f in venue.fills if f.order_id == order.order_id]
        filled = sum((f.quantity for f in fills), D(0))
        maker = sum((f.quantity for f in fills if f.liquidity is Liquidity.MAKER), D(0))
        assert filled == order.filled_quantity <= order.quantity
        assert maker == order.maker_quantity
        if order.order_id in terminal:
            assert order == terminal[order.order_id], "a terminal order changed"
        elif order.is_terminal:
            terminal[order.order_id] = order
    for fill in venue.fills:
        position += fill.quantity if fill.side is Side.BUY else -fill.quantity
    assert venue.positions()["P"] == position
    resting = {resting.order_id for resting in venue.book("P").resting()}
    assert resting == {order.order_id for order in venue.open_orders()}


@given(
    seed=st.integers(min_value=0, max_value=2**16),
    script=st.lists(actions, min_size=1, max_size=40),
)
def test_venue_invariants_hold_for_any_sequence(seed: int, script: list[tuple[object, ...]]) -> None:
    """No overfill, fills and maker quantities add up, position is the sum of fills, terminal
    orders are frozen and open orders are exactly the resting ones, after every step."""
    run(_play(seed, script))
