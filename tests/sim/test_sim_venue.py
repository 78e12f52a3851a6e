"""The simulated venue: the Venue protocol, judged on arrival, in virtual time, logged.

Uses the quiet ``TEST`` venue of ``conftest.py`` (bid 100.0, ask 100.1, 1.0 per
level, tick 0.1, lot 0.001, minimum quantity 0.01, minimum notional 10, maker
2 bps, taker 5 bps) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from hedge_fsm import (
    OrderInfo,
    OrderNotFound,
    OrderStatus,
    RejectReason,
    Side,
    Venue,
    VenueRejected,
)
from hedge_fsm.sim import (
    LatencyModel,
    Liquidity,
    OpLatency,
    PostOnlyReject,
    SimVenue,
    build_venues,
    run,
)

D = Decimal
VenueFactory = Callable[..., SimVenue]


async def _limit(
    venue: SimVenue,
    side: Side,
    quantity: str,
    price: str,
    cid: str,
    *,
    post_only: bool = True,
    reduce_only: bool = False,
) -> OrderInfo:
    return await venue.place_limit(
        "TEST",
        side,
        D(quantity),
        D(price),
        post_only=post_only,
        reduce_only=reduce_only,
        client_order_id=cid,
    )


def test_sim_venue_satisfies_the_venue_protocol(make_venue: VenueFactory) -> None:
    """A SimVenue is a ``hedge_fsm.Venue`` and reports its instrument as configured."""

    async def scenario() -> tuple[bool, Decimal]:
        venue = make_venue()
        instrument = await venue.instrument("TEST")
        return isinstance(venue, Venue), instrument.tick_size

    assert run(scenario()) == (True, D("0.1"))


def test_post_only_is_judged_on_arrival_not_when_priced(make_venue: VenueFactory) -> None:
    """A bid at 100.0 is passive when priced (ask 100.1) but the ask drops to 100.0 while the
    order travels: it is refused as post-only. The same order without the move rests."""
    latency = LatencyModel(place=OpLatency(latency=0.1, request_share=0.5))

    async def scenario(move: bool) -> OrderInfo | RejectReason:
        venue = make_venue(latency=latency)
        bbo = await venue.best_bid_offer("TEST")
        assert bbo.bid < D("100.0") + venue.book("TEST").tick_size <= bbo.ask  # passive now
        placing = asyncio.create_task(_limit(venue, Side.BUY, "0.5", "100.0", "po"))
        await asyncio.sleep(0.02)  # the order is on its way (it arrives at 0.05)
        if move:
            venue.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.0"))
        try:
            return await placing
        except VenueRejected as exc:
            assert "100.0" in str(exc)
            return exc.reason

    assert run(scenario(move=True)) is RejectReason.POST_ONLY
    rested = run(scenario(move=False))
    assert isinstance(rested, OrderInfo) and rested.status is OrderStatus.OPEN


@pytest.mark.parametrize("mode", [PostOnlyReject.REJECTED, PostOnlyReject.EXPIRED])
def test_post_only_reject_can_be_reported_as_an_order(
    make_venue: VenueFactory, mode: PostOnlyReject
) -> None:
    """In report mode a crossing post-only order comes back REJECTED/EXPIRED with reason
    POST_ONLY, unfilled, and stays queryable by client order id."""

    async def scenario() -> tuple[OrderInfo, OrderInfo]:
        venue = make_venue(post_only_reject=mode)
        placed = await _limit(venue, Side.BUY, "0.5", "100.1", "cross")
        looked_up = await venue.order("TEST", client_order_id="cross")
        return placed, looked_up

    placed, looked_up = run(scenario())
    assert placed.status.value == mode.value
    assert placed.is_post_only_reject
    assert looked_up == placed


def test_marketable_limit_takes_up_to_its_limit_then_rests(make_venue: VenueFactory) -> None:
    """A non-post-only buy of 2.5 at 100.2 takes 1.0 @ 100.1 and 1.0 @ 100.2 as taker; the
    remaining 0.5 rests as a bid."""

    async def scenario() -> tuple[OrderInfo, list[OrderInfo]]:
        venue = make_venue()
        info = await _limit(venue, Side.BUY, "2.5", "100.2", "mkl", post_only=False)
        return info, venue.open_orders()

    info, open_orders = run(scenario())
    assert info.status is OrderStatus.PARTIALLY_FILLED
    assert info.filled_quantity == D("2.000")
    assert info.maker_quantity == 0
    assert info.average_price == D("100.15")
    assert [o.order_id for o in open_orders] == [info.order_id]


def test_fees_and_maker_quantity_are_reported(make_venue: VenueFactory) -> None:
    """A maker fill pays 2 bps, a taker fill 5 bps; each order reports its maker quantity."""

    async def scenario() -> tuple[list[tuple[Liquidity, Decimal]], OrderInfo, OrderInfo]:
        venue = make_venue()
        maker = await _limit(venue, Side.BUY, "0.2", "100.0", "mk")
        venue.hooks.set_quote("TEST", bid=D("99.8"), ask=D("99.9"))  # trades through the bid
        taker = await venue.place_market(
            "TEST", Side.SELL, D("0.2"), reduce_only=False, client_order_id="tk"
        )
        maker = await venue.order("TEST", order_id=maker.order_id)
        return [(f.liquidity, f.fee) for f in venue.fills], maker, taker

    fees, maker, taker = run(scenario())
    assert fees == [
        (Liquidity.MAKER, D("0.200") * D("100.0") * D("0.0002")),
        (Liquidity.TAKER, D("0.200") * D("99.8") * D("0.0005")),
    ]
    assert maker.maker_quantity == D("0.200")
    assert taker.maker_quantity == 0


def test_place_latency_and_jitter_are_respected(make_venue: VenueFactory) -> None:
    """Every place returns after at least 50 ms and at most 50 + 20 ms of virtual time, the
    venue acting at 30 % of the round trip; the jitter really varies."""
    op = OpLatency(latency=0.05, jitter=0.02, request_share=0.3)

    async def scenario() -> list[tuple[float, float]]:
        venue = make_venue(latency=LatencyModel(place=op), seed=4)
        loop = asyncio.get_running_loop()
        timings = []
        for i in range(40):
            start = loop.time()
            await venue.place_market(
                "TEST", Side.BUY, D("0.1"), reduce_only=False, client_order_id=f"l{i}"
            )
            accepted = [r.time for r in venue.log if r.event == "accept"][-1]
            timings.append((loop.time() - start, (accepted - start) / (loop.time() - start)))
            venue.hooks.set_quote("TEST", bid=D("100.0"), ask=D("100.1"))
        return timings

    timings = run(scenario())
    round_trips = [t for t, _ in timings]
    assert all(0.05 <= t <= 0.07 + 1e-12 for t in round_trips)
    assert max(round_trips) - min(round_trips) > 0.01
    assert all(share == pytest.approx(0.3) for _, share in timings)


@pytest.mark.parametrize(
    ("quantity", "price", "named"),
    [
        ("0.5", "100.05", "price 100.05 is not a multiple of tick size 0.1"),
        ("0.0005", "100.0", "quantity 0.0005 is not a multiple of lot size 0.001"),
        ("0.005", "100.0", "quantity 0.005 is below the minimum quantity 0.01"),
        ("0.09", "100.0", "notional 9.000 (quantity 0.09 × price 100.0) is below the minimum"),
    ],
)
def test_invalid_orders_are_refused_naming_the_value(
    make_venue: VenueFactory, quantity: str, price: str, named: str
) -> None:
    """Tick, lot, minimum quantity and minimum notional violations are refused with
    INVALID_ORDER and a message naming the offending value; nothing is created."""

    async def scenario() -> tuple[VenueRejected, list[OrderInfo]]:
        venue = make_venue()
        with pytest.raises(VenueRejected) as caught:
            await _limit(venue, Side.BUY, quantity, price, "bad")
        return caught.value, venue.orders()

    error, orders = run(scenario())
    assert error.reason is RejectReason.INVALID_ORDER
    assert named in str(error)
    assert orders == []


def test_reduce_only_is_refused_when_it_would_increase_the_position(
    make_venue: VenueFactory,
) -> None:
    """Flat: a reduce-only sell is refused. Long 1.0: selling 0.5 reduce-only is accepted,
    selling 2.0 reduce-only is refused, and buying reduce-only is refused."""

    async def scenario() -> list[str]:
        venue = make_venue()
        outcomes: list[str] = []

        async def attempt(side: Side, quantity: str, cid: str) -> None:
            try:
                await venue.place_market(
                    "TEST", side, D(quantity), reduce_only=True, client_order_id=cid
                )
                outcomes.append("ok")
            except VenueRejected as exc:
                outcomes.append(str(exc.reason))

        await attempt(Side.SELL, "0.5", "r0")
        await venue.place_market("TEST", Side.BUY, D("1.0"), reduce_only=False, client_order_id="b")
        await attempt(Side.SELL, "0.5", "r1")
        await attempt(Side.SELL, "2.0", "r2")
        await attempt(Side.BUY, "0.1", "r3")
        outcomes.append(str(await venue.position("TEST")))
        return outcomes

    assert run(scenario()) == ["reduce_only", "ok", "reduce_only", "reduce_only", "0.500"]


def test_resting_reduce_only_expires_instead_of_flipping_the_position(
    make_venue: VenueFactory,
) -> None:
    """A resting reduce-only sell whose position was closed meanwhile expires when the market
    reaches it, leaving the position flat rather than short."""

    async def scenario() -> tuple[OrderInfo, Decimal]:
        venue = make_venue()
        await venue.place_market("TEST", Side.BUY, D("0.5"), reduce_only=False, client_order_id="b")
        resting = await _limit(venue, Side.SELL, "0.5", "100.2", "ro", reduce_only=True)
        await venue.place_market("TEST", Side.SELL, D("0.5"), reduce_only=True, client_order_id="s")
        venue.hooks.set_quote("TEST", bid=D("100.2"), ask=D("100.3"))  # trades through the ask
        return await venue.order("TEST", order_id=resting.order_id), await venue.position("TEST")

    info, position = run(scenario())
    assert (info.status, info.filled_quantity, position) == (OrderStatus.EXPIRED, D(0), D(0))


def test_cancel_racing_a_fill_returns_filled(make_venue: VenueFactory) -> None:
    """The bid fills while the cancel travels; the cancel acts on arrival and returns FILLED."""
    latency = LatencyModel(cancel=OpLatency(latency=0.1))

    async def scenario() -> OrderInfo:
        venue = make_venue(latency=latency)
        order = await _limit(venue, Side.BUY, "0.5", "100.0", "race")
        cancelling = asyncio.create_task(venue.cancel("TEST", order.order_id))
        await asyncio.sleep(0.01)
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.01"), price=D("99.9"))
        return await cancelling

    info = run(scenario())
    assert (info.status, info.filled_quantity) == (OrderStatus.FILLED, D("0.500"))


def test_cancel_keeps_partial_fills_and_is_idempotent(make_venue: VenueFactory) -> None:
    """Cancelling a partly filled bid reports CANCELED with its fill; cancelling it again (a
    terminal order) returns it unchanged; it leaves the open orders."""

    async def scenario() -> tuple[OrderInfo, OrderInfo, list[OrderInfo]]:
        venue = make_venue()
        venue.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.2"))
        order = await _limit(venue, Side.BUY, "0.5", "100.0", "pc")
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.2"))
        first = await venue.cancel("TEST", order.order_id)
        second = await venue.cancel("TEST", order.order_id)
        return first, second, venue.open_orders()

    first, second, open_orders = run(scenario())
    assert (first.status, first.filled_quantity) == (OrderStatus.CANCELED, D("0.200"))
    assert second == first
    assert open_orders == []


def test_unknown_orders_and_duplicate_client_ids(make_venue: VenueFactory) -> None:
    """Unknown ids raise OrderNotFound on lookup and cancel; a reused client order id is
    refused with INVALID_ORDER; lookups by id and by client id agree."""

    async def scenario() -> None:
        venue = make_venue()
        with pytest.raises(OrderNotFound):
            await venue.order("TEST", order_id="nope")
        with pytest.raises(OrderNotFound):
            await venue.order("TEST", client_order_id="nope")
        with pytest.raises(OrderNotFound):
            await venue.cancel("TEST", "nope")
        placed = await _limit(venue, Side.BUY, "0.5", "100.0", "dup")
        with pytest.raises(VenueRejected, match="duplicate client_order_id 'dup'") as caught:
            await _limit(venue, Side.BUY, "0.5", "99.9", "dup")
        assert caught.value.reason is RejectReason.INVALID_ORDER
        by_id = await venue.order("TEST", order_id=placed.order_id)
        by_client = await venue.order("TEST", client_order_id="dup")
        assert by_id == by_client == placed

    run(scenario())


def test_reply_reports_the_order_as_it_stood_on_arrival(make_venue: VenueFactory) -> None:
    """A fill landing while the ack travels back is not in the ack but is in the next lookup."""
    latency = LatencyModel(place=OpLatency(latency=0.1))

    async def scenario() -> tuple[OrderInfo, OrderInfo]:
        venue = make_venue(latency=latency)
        placing = asyncio.create_task(_limit(venue, Side.BUY, "0.5", "100.0", "ack"))
        await asyncio.sleep(0.07)  # arrived at 0.05, reply due at 0.1
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.01"), price=D("99.9"))
        ack = await placing
        return ack, await venue.order("TEST", order_id=ack.order_id)

    ack, later = run(scenario())
    assert (ack.status, later.status) == (OrderStatus.OPEN, OrderStatus.FILLED)


def _scripted_session(seed: int) -> list[str]:
    async def session() -> list[str]:
        venues = build_venues("volatile", seed=seed)
        binance, lighter = venues["binance"], venues["lighter"]
        bbo = await binance.best_bid_offer("BTCUSDT")
        order = await binance.place_limit(
            "BTCUSDT",
            Side.BUY,
            D("0.01"),
            bbo.bid - D("0.5"),
            post_only=True,
            reduce_only=False,
            client_order_id="det",
        )
        for _ in range(20):
            await asyncio.sleep(0.1)
            await binance.order("BTCUSDT", order_id=order.order_id)
        await binance.cancel("BTCUSDT", order.order_id)
        await lighter.place_market(
            "kPEPE", Side.SELL, D("2000"), reduce_only=False, client_order_id="mk"
        )
        return binance.log.lines() + lighter.log.lines()

    return run(session())


def test_same_seed_same_calls_give_an_identical_log() -> None:
    """Determinism: the same seed and calls give byte-identical logs; another seed differs."""
    first = _scripted_session(42)
    assert first == _scripted_session(42)
    assert first != _scripted_session(43)
    assert any(" fill " in line or " reply " in line for line in first)


def test_log_is_chronological_and_records_every_step(make_venue: VenueFactory) -> None:
    """Each venue's log is in time order and holds the request, acceptance, fill and reply."""
    latency = LatencyModel.uniform(0.02, 0.01)

    async def scenario() -> SimVenue:
        venue = make_venue(latency=latency, seed=9)
        order = await _limit(venue, Side.BUY, "0.5", "100.0", "lg")
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.01"), price=D("99.9"))
        await venue.cancel("TEST", order.order_id)
        return venue

    venue = run(scenario())
    times = [record.time for record in venue.log]
    assert times == sorted(times)
    events = [record.event for record in venue.log]
    assert events == [
        "request", "accept", "reply", "hook", "fill", "request", "cancel", "reply",
    ]  # fmt: skip
