"""CcxtVenue over ccxt's real ``bybit`` class (v5 unified account, linear perpetuals), canned.

Markets come from a canned ``GET /v5/market/instruments-info?category=linear``
parsed by ccxt's own ``load_markets``; the rest follows Bybit's v5 docs (Place
Order, Get Open & Closed Orders, Cancel Order, Get Position Info, retCode
errors). Bybit answers errors with HTTP 200 and a non-zero ``retCode``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from hedge_fsm import AmbiguousOutcome, OrderNotFound, OrderStatus, RejectReason, Side, VenueRejected
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import (
    API_KEY,
    SECRET,
    FakeHttp,
    assert_no_float,
    assert_secret_free,
    load_fixture,
    make_exchange,
    run,
)

BTC = "BTC/USDT:USDT"
ORDER_ID = "1321003749386327552"
CREATE = "/v5/order/create"
CANCEL = "/v5/order/cancel"
REALTIME = "/v5/order/realtime"


def bybit_answer(result: Any, *, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": 1716863719382}


def bybit_order(**overrides: Any) -> dict[str, Any]:
    """One entry of /v5/order/realtime's list."""
    order: dict[str, Any] = {
        "orderId": ORDER_ID,
        "orderLinkId": "hedge-leg2-a0",
        "blockTradeId": "",
        "symbol": "BTCUSDT",
        "price": "65000.1",
        "qty": "0.003",
        "side": "Sell",
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": "New",
        "createType": "CreateByUser",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": "",
        "leavesQty": "0.003",
        "leavesValue": "195.0003",
        "cumExecQty": "0.000",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "timeInForce": "PostOnly",
        "orderType": "Limit",
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "65000.2",
        "reduceOnly": True,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "placeType": "",
        "createdTime": "1716863718000",
        "updatedTime": "1716863718000",
    }
    order.update(overrides)
    return order


def realtime(*orders: dict[str, Any]) -> dict[str, Any]:
    return bybit_answer({"category": "linear", "nextPageCursor": "", "list": list(orders)})


@contextlib.asynccontextmanager
async def bybit() -> AsyncIterator[tuple[CcxtVenue, FakeHttp]]:
    """A venue over a real bybit instance (unified trading account), linear markets only."""
    exchange = make_exchange("bybit", options={"fetchMarkets": {"types": ["linear"]}})
    http = FakeHttp(exchange).install()
    http.on("GET", "/v5/market/instruments-info", load_fixture("bybit_instruments_linear.json"))
    http.on(
        "GET",
        "/v5/market/instruments-info",
        bybit_answer({"category": "linear", "list": [], "nextPageCursor": ""}),
        match=lambda r: r.query.get("status") == "PreLaunch",
    )
    # With keys set, ccxt's bybit loads currencies, and asks once which account type this is.
    http.on("GET", "/v5/asset/coin/query-info", bybit_answer({"rows": []}, msg="success"))
    http.on(
        "GET",
        "/v5/user/query-api",
        bybit_answer(
            {
                "id": "13770661",
                "note": "hedge",
                "apiKey": "redacted-by-bybit",
                "readOnly": 0,
                "secret": "",
                "permissions": {"ContractTrade": ["Order", "Position"]},
                "ips": ["*"],
                "type": 1,
                "unified": 0,
                "uta": 1,
                "isMaster": True,
            },
            msg="",
        ),
    )
    http.on(
        "GET",
        "/v5/account/info",
        bybit_answer(
            {
                "marginMode": "REGULAR_MARGIN",
                "updatedTime": "1697078946000",
                "unifiedMarginStatus": 5,
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
            }
        ),
    )
    try:
        yield CcxtVenue(exchange, name="bybit"), http
    finally:
        await exchange.close()


async def place_post_only_sell(venue: CcxtVenue, client_order_id: str = "hedge-leg2-a0") -> Any:
    return await venue.place_limit(
        BTC,
        Side.SELL,
        Decimal("0.003"),
        Decimal("65000.1"),
        post_only=True,
        reduce_only=True,
        client_order_id=client_order_id,
    )


# --------------------------------------------------------------------------- market data


def test_instrument_reads_tick_lot_minimums_from_the_loaded_market() -> None:
    """priceFilter.tickSize, lotSizeFilter qtyStep/minOrderQty/minNotionalValue."""

    async def scenario() -> None:
        async with bybit() as (venue, _http):
            btc = await venue.instrument(BTC)
            eth = await venue.instrument("ETH/USDT:USDT")
        assert btc.tick_size == Decimal("0.1")
        assert btc.lot_size == Decimal("0.001")
        assert btc.min_quantity == Decimal("0.001")
        assert btc.min_notional == Decimal("5")
        assert btc.multiplier == Decimal("1")
        assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.0001"), Decimal("0.0006"))
        assert (eth.tick_size, eth.lot_size) == (Decimal("0.01"), Decimal("0.01"))
        assert_no_float(btc)

    run(scenario)


def test_best_bid_offer_reads_the_v5_orderbook() -> None:
    """GET /v5/market/orderbook?category=linear&limit=5; time from "ts" in Decimal seconds."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on(
                "GET",
                "/v5/market/orderbook",
                bybit_answer(
                    {
                        "s": "BTCUSDT",
                        "a": [["65000.2", "0.8"]],
                        "b": [["65000.1", "1.25"]],
                        "ts": 1716863719031,
                        "u": 230704,
                        "seq": 1432604333,
                        "cts": 1716863718905,
                    }
                ),
            )
            bbo = await venue.best_bid_offer(BTC)
            query = http.last("GET", "/v5/market/orderbook").query
        assert query == {"symbol": "BTCUSDT", "category": "linear", "limit": "5"}
        assert (bbo.bid, bbo.ask, bbo.bid_size, bbo.ask_size) == (
            Decimal("65000.1"),
            Decimal("65000.2"),
            Decimal("1.25"),
            Decimal("0.8"),
        )
        assert bbo.timestamp == Decimal("1716863719.031")
        assert_no_float(bbo)

    run(scenario)


# --------------------------------------------------------------------------- placing


def test_post_only_reduce_only_limit_goes_out_as_post_only_with_order_link_id() -> None:
    """JSON body: timeInForce=PostOnly, reduceOnly=true, orderLinkId, qty/price exact strings."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("POST", CREATE, bybit_answer({"orderId": ORDER_ID, "orderLinkId": "hedge-leg2-a0"}))
            info = await place_post_only_sell(venue)
            request = http.last("POST", CREATE)
        body = request.json
        assert request.url == "https://api.bybit.com/v5/order/create"
        assert body == {
            "symbol": "BTCUSDT",
            "side": "Sell",
            "orderType": "Limit",
            "timeInForce": "PostOnly",
            "orderLinkId": "hedge-leg2-a0",
            "price": "65000.1",
            "category": "linear",
            "qty": "0.003",
            "reduceOnly": True,
        }
        assert request.headers["X-BAPI-API-KEY"] == API_KEY
        assert request.headers["X-BAPI-SIGN"]
        assert SECRET not in str(request.headers) + (request.body or "")
        # Bybit acknowledges with ids only: the rest is what was sent, and it is OPEN.
        assert info.order_id == ORDER_ID
        assert info.client_order_id == "hedge-leg2-a0"
        assert info.status is OrderStatus.OPEN
        assert (info.quantity, info.price) == (Decimal("0.003"), Decimal("65000.1"))
        assert info.filled_quantity == 0
        assert_no_float(info)

    run(scenario)


def test_market_order_sends_no_price_and_no_post_only() -> None:
    """orderType=Market, no price, no timeInForce, no reduceOnly when not asked."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("POST", CREATE, bybit_answer({"orderId": "2", "orderLinkId": "mkt-1"}))
            info = await venue.place_market(
                BTC, Side.BUY, Decimal("0.002"), reduce_only=False, client_order_id="mkt-1"
            )
            body = http.last("POST", CREATE).json
        assert body == {
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Market",
            "orderLinkId": "mkt-1",
            "category": "linear",
            "qty": "0.002",
        }
        assert info.price is None
        assert info.status is OrderStatus.OPEN

    run(scenario)


# --------------------------------------------------------------------------- order states


@pytest.mark.parametrize(
    ("overrides", "status", "filled", "reason"),
    [
        ({"orderStatus": "New"}, OrderStatus.OPEN, "0", None),
        (
            {"orderStatus": "PartiallyFilled", "cumExecQty": "0.001", "avgPrice": "65000.1"},
            OrderStatus.PARTIALLY_FILLED,
            "0.001",
            None,
        ),
        (
            {"orderStatus": "Filled", "cumExecQty": "0.003", "avgPrice": "65000.1"},
            OrderStatus.FILLED,
            "0.003",
            None,
        ),
        (
            {
                "orderStatus": "Cancelled",
                "cancelType": "CancelByUser",
                "cumExecQty": "0.002",
                "avgPrice": "65000.1",
            },
            OrderStatus.CANCELED,
            "0.002",
            None,
        ),
        # ccxt reads PartiallyFilledCanceled as "closed": it is a cancel, not a fill.
        (
            {"orderStatus": "PartiallyFilledCanceled", "cumExecQty": "0.001", "avgPrice": "65000.1"},
            OrderStatus.CANCELED,
            "0.001",
            None,
        ),
        # A post-only order that would have taken is cancelled by bybit with this reason.
        (
            {"orderStatus": "Cancelled", "rejectReason": "EC_PostOnlyWillTakeLiquidity"},
            OrderStatus.REJECTED,
            "0",
            RejectReason.POST_ONLY,
        ),
        (
            {"orderStatus": "Rejected", "rejectReason": "EC_NoImmediateQtyToFill"},
            OrderStatus.REJECTED,
            "0",
            None,
        ),
    ],
)
def test_order_lookup_maps_every_bybit_status(
    overrides: dict[str, Any], status: OrderStatus, filled: str, reason: RejectReason | None
) -> None:
    """GET /v5/order/realtime?orderId=...: each documented orderStatus maps to hedge_fsm's."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("GET", REALTIME, realtime(bybit_order(**overrides)))
            info = await venue.order(BTC, order_id=ORDER_ID)
            query = http.last("GET", REALTIME).query
        assert query == {"symbol": "BTCUSDT", "orderId": ORDER_ID, "category": "linear"}
        assert info.status is status
        assert info.filled_quantity == Decimal(filled)
        assert info.reject_reason is reason
        assert info.client_order_id == "hedge-leg2-a0"
        if info.filled_quantity:
            assert info.average_price == Decimal("65000.1")
        assert_no_float(info)

    run(scenario)


def test_order_lookup_by_client_id_sends_order_link_id_alone() -> None:
    """By client id: orderLinkId only (an orderId, even "None", would take priority at bybit)."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on(
                "GET",
                REALTIME,
                realtime(bybit_order(orderStatus="Filled", cumExecQty="0.003", avgPrice="65000.1")),
            )
            info = await venue.order(BTC, client_order_id="hedge-leg2-a0")
            query = http.last("GET", REALTIME).query
        assert query == {"symbol": "BTCUSDT", "category": "linear", "orderLinkId": "hedge-leg2-a0"}
        assert info.status is OrderStatus.FILLED

    run(scenario)


def test_order_lookup_with_an_empty_list_raises_order_not_found() -> None:
    """Bybit answers an unknown order with an empty list: OrderNotFound, by id or client id."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("GET", REALTIME, realtime())
            with pytest.raises(OrderNotFound):
                await venue.order(BTC, order_id="404")
            with pytest.raises(OrderNotFound):
                await venue.order(BTC, client_order_id="never-placed")

    run(scenario)


# --------------------------------------------------------------------------- cancel


def test_cancel_reads_the_order_back_because_the_answer_has_ids_only() -> None:
    """POST /v5/order/cancel answers {orderId, orderLinkId}; the fill count comes from a lookup."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("POST", CANCEL, bybit_answer({"orderId": ORDER_ID, "orderLinkId": "hedge-leg2-a0"}))
            http.on(
                "GET",
                REALTIME,
                realtime(bybit_order(orderStatus="Cancelled", cumExecQty="0.001", avgPrice="65000.1")),
            )
            info = await venue.cancel(BTC, ORDER_ID)
            body = http.last("POST", CANCEL).json
        assert body == {"symbol": "BTCUSDT", "orderId": ORDER_ID, "category": "linear"}
        assert info.status is OrderStatus.CANCELED
        assert info.filled_quantity == Decimal("0.001")

    run(scenario)


def test_cancel_too_late_reports_the_fill() -> None:
    """retCode 110001 (order not exists or too late to cancel): read back, FILLED."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on(
                "POST", CANCEL, bybit_answer({}, code=110001, msg="order not exists or too late to cancel")
            )
            http.on(
                "GET",
                REALTIME,
                realtime(bybit_order(orderStatus="Filled", cumExecQty="0.003", avgPrice="65000.1")),
            )
            info = await venue.cancel(BTC, ORDER_ID)
        assert info.status is OrderStatus.FILLED
        assert info.filled_quantity == Decimal("0.003")

    run(scenario)


def test_cancel_timeout_is_ambiguous() -> None:
    """A cancel that times out may or may not have happened."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.timeout("POST", CANCEL)
            with pytest.raises(AmbiguousOutcome) as caught:
                await venue.cancel(BTC, ORDER_ID)
        assert_secret_free(caught.value)

    run(scenario)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "msg", "reason"),
    [
        (110007, "ab not enough for new order", RejectReason.INSUFFICIENT_FUNDS),
        (110003, "Order price is out of permissible range", RejectReason.INVALID_ORDER),
        (10001, "params error: qty invalid", RejectReason.INVALID_ORDER),
    ],
)
def test_definitive_refusals_map_to_venue_rejected(code: int, msg: str, reason: RejectReason) -> None:
    """Bybit retCodes on /v5/order/create become VenueRejected(reason)."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("POST", CREATE, bybit_answer({}, code=code, msg=msg))
            with pytest.raises(VenueRejected) as caught:
                await place_post_only_sell(venue)
        assert caught.value.reason is reason
        assert not isinstance(caught.value, AmbiguousOutcome)
        assert_secret_free(caught.value)

    run(scenario)


def test_place_timeout_is_ambiguous() -> None:
    """A create that times out leaves the order's existence unknown."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.timeout("POST", CREATE)
            with pytest.raises(AmbiguousOutcome) as caught:
                await place_post_only_sell(venue)
        assert caught.value.operation == "place_limit"
        assert_secret_free(caught.value)

    run(scenario)


def test_rate_limit_is_ambiguous_on_place_and_rate_limited_on_a_query() -> None:
    """retCode 10006 Too many visits: the same answer means different things per operation."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on("POST", CREATE, bybit_answer({}, code=10006, msg="Too many visits!"))
            http.on("GET", REALTIME, bybit_answer({}, code=10006, msg="Too many visits!"))
            with pytest.raises(AmbiguousOutcome):
                await place_post_only_sell(venue)
            with pytest.raises(VenueRejected) as caught:
                await venue.order(BTC, order_id=ORDER_ID)
        assert caught.value.reason is RejectReason.RATE_LIMITED

    run(scenario)


# --------------------------------------------------------------------------- position


def test_position_is_signed_by_side() -> None:
    """/v5/position/list side=Sell size=0.003 is a short of 0.003 contracts."""

    async def scenario() -> None:
        async with bybit() as (venue, http):
            http.on(
                "GET",
                "/v5/position/list",
                bybit_answer(
                    {
                        "category": "linear",
                        "nextPageCursor": "",
                        "list": [
                            {
                                "positionIdx": 0,
                                "riskId": 1,
                                "riskLimitValue": "2000000",
                                "symbol": "BTCUSDT",
                                "side": "Sell",
                                "size": "0.003",
                                "avgPrice": "65000.1",
                                "positionValue": "195.0003",
                                "tradeMode": 0,
                                "positionStatus": "Normal",
                                "autoAddMargin": 0,
                                "adlRankIndicator": 2,
                                "leverage": "10",
                                "positionBalance": "19.5",
                                "markPrice": "65010",
                                "liqPrice": "",
                                "bustPrice": "",
                                "positionMM": "1.0",
                                "positionIM": "19.5",
                                "tpslMode": "Full",
                                "takeProfit": "",
                                "stopLoss": "",
                                "trailingStop": "0",
                                "unrealisedPnl": "-0.0297",
                                "curRealisedPnl": "-0.107",
                                "cumRealisedPnl": "-0.107",
                                "seq": 8172241025,
                                "isReduceOnly": False,
                                "createdTime": "1716863718000",
                                "updatedTime": "1716863719000",
                            }
                        ],
                    }
                ),
            )
            position = await venue.position(BTC)
            query = http.last("GET", "/v5/position/list").query
        assert query["symbol"] == "BTCUSDT"
        assert query["category"] == "linear"
        assert position == Decimal("-0.003")

    run(scenario)
