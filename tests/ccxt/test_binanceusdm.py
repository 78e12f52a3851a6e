"""CcxtVenue over ccxt's real ``binanceusdm`` class, with canned USDⓈ-M futures API answers.

Markets come from a canned ``GET /fapi/v1/exchangeInfo`` parsed by ccxt's own
``load_markets``; order answers follow Binance's USDⓈ-M futures REST docs
(New Order, Query Order, Cancel Order, Position Information V3, error codes).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from hedge_fsm import AmbiguousOutcome, OrderNotFound, OrderStatus, RejectReason, Side, VenueRejected
from hedge_fsm.venues.ccxt import CcxtVenue, FeeSchedule
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
ORDER_PATH = "/fapi/v1/order"


def binance_order(**overrides: Any) -> dict[str, Any]:
    """A /fapi/v1/order answer (New/Query/Cancel Order share this shape)."""
    order: dict[str, Any] = {
        "orderId": 4611875134427365377,
        "symbol": "BTCUSDT",
        "status": "NEW",
        "clientOrderId": "hedge-leg1-a0",
        "price": "65000.10",
        "avgPrice": "0.00",
        "origQty": "0.003",
        "executedQty": "0.000",
        "cumQty": "0.000",
        "cumQuote": "0.00000",
        "timeInForce": "GTX",
        "type": "LIMIT",
        "reduceOnly": True,
        "closePosition": False,
        "side": "SELL",
        "positionSide": "BOTH",
        "stopPrice": "0.00",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": "LIMIT",
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": 1716863718000,
        "updateTime": 1716863718000,
    }
    order.update(overrides)
    return order


def binance_error(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


@contextlib.asynccontextmanager
async def binance(**venue_kwargs: Any) -> AsyncIterator[tuple[CcxtVenue, FakeHttp]]:
    """A venue over a real binanceusdm instance whose markets ccxt loaded from canned answers."""
    exchange = make_exchange("binanceusdm")
    http = FakeHttp(exchange).install()
    http.on("GET", "/fapi/v1/exchangeInfo", load_fixture("binanceusdm_exchange_info.json"))
    # With keys set, ccxt's binance also loads currencies and margin pairs (sapi).
    http.on("GET", "/sapi/v1/capital/config/getall", [])
    http.on("GET", "/sapi/v1/margin/allPairs", [])
    try:
        yield CcxtVenue(exchange, name="binance", **venue_kwargs), http
    finally:
        await exchange.close()


# --------------------------------------------------------------------------- market data


def test_instrument_reads_tick_lot_minimums_and_fees_from_the_loaded_market() -> None:
    """PRICE_FILTER tickSize, LOT_SIZE stepSize/minQty, MIN_NOTIONAL and ccxt's fee table."""

    async def scenario() -> None:
        async with binance() as (venue, _http):
            btc = await venue.instrument(BTC)
            pepe = await venue.instrument("1000PEPE/USDT:USDT")
        assert btc.tick_size == Decimal("0.1")
        assert btc.lot_size == Decimal("0.001")
        assert str(btc.lot_size) == "0.001"
        assert btc.min_quantity == Decimal("0.001")
        assert btc.min_notional == Decimal("100")
        assert btc.multiplier == Decimal("1")
        assert (btc.maker_fee, btc.taker_fee) == (Decimal("0.0002"), Decimal("0.0005"))
        assert pepe.tick_size == Decimal("0.0000001")
        assert pepe.lot_size == Decimal("1")
        assert pepe.min_notional == Decimal("5")
        assert_no_float(btc)
        assert_no_float(pepe)

    run(scenario)


def test_fee_override_wins_over_the_market_fees() -> None:
    """A FeeSchedule given to the venue replaces ccxt's default (non-tier) fees."""

    async def scenario() -> None:
        fees = {BTC: FeeSchedule(maker=Decimal("-0.00005"), taker=Decimal("0.00032"))}
        async with binance(fees=fees) as (venue, _http):
            btc = await venue.instrument(BTC)
            pepe = await venue.instrument("1000PEPE/USDT:USDT")
        assert (btc.maker_fee, btc.taker_fee) == (Decimal("-0.00005"), Decimal("0.00032"))
        assert (pepe.maker_fee, pepe.taker_fee) == (Decimal("0.0002"), Decimal("0.0005"))

    run(scenario)


def test_best_bid_offer_reads_the_top_of_a_depth_5_book() -> None:
    """GET /fapi/v1/depth?limit=5; prices and sizes exact, time from "T" in Decimal seconds."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on(
                "GET",
                "/fapi/v1/depth",
                {
                    "lastUpdateId": 1027024,
                    "E": 1716863719031,
                    "T": 1716863719020,
                    "bids": [["65000.10", "1.250"], ["65000.00", "3.000"]],
                    "asks": [["65000.20", "0.800"], ["65000.30", "2.000"]],
                },
            )
            bbo = await venue.best_bid_offer(BTC)
            request = http.last("GET", "/fapi/v1/depth")
        assert request.query == {"symbol": "BTCUSDT", "limit": "5"}
        assert (bbo.bid, bbo.ask) == (Decimal("65000.1"), Decimal("65000.2"))
        assert (bbo.bid_size, bbo.ask_size) == (Decimal("1.25"), Decimal("0.8"))
        assert bbo.timestamp == Decimal("1716863719.020")
        assert_no_float(bbo)

    run(scenario)


# --------------------------------------------------------------------------- placing


def test_post_only_reduce_only_limit_goes_out_as_gtx_with_our_client_id() -> None:
    """A post-only, reduce-only sell: timeInForce=GTX, reduceOnly=true, newClientOrderId, exact strings."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("POST", ORDER_PATH, binance_order(origQty="0.003"))
            info = await venue.place_limit(
                BTC,
                Side.SELL,
                Decimal("0.003"),
                Decimal("65000.1"),
                post_only=True,
                reduce_only=True,
                client_order_id="hedge-leg1-a0",
            )
            request = http.last("POST", ORDER_PATH)
        sent = request.params
        assert request.url == "https://fapi.binance.com/fapi/v1/order"
        assert sent["symbol"] == "BTCUSDT"
        assert sent["side"] == "SELL"
        assert sent["type"] == "LIMIT"
        assert sent["timeInForce"] == "GTX"
        assert sent["reduceOnly"] == "true"
        assert sent["newClientOrderId"] == "hedge-leg1-a0"
        assert sent["quantity"] == "0.003"
        assert sent["price"] == "65000.1"
        assert "signature" in sent
        assert request.headers["X-MBX-APIKEY"] == API_KEY
        assert SECRET not in request.url + (request.body or "")
        assert info.order_id == "4611875134427365377"
        assert info.client_order_id == "hedge-leg1-a0"
        assert info.status is OrderStatus.OPEN
        assert info.side is Side.SELL
        assert info.quantity == Decimal("0.003")
        assert info.price == Decimal("65000.1")
        assert info.filled_quantity == 0
        assert info.average_price is None
        assert_no_float(info)

    run(scenario)


def test_plain_limit_is_gtc_and_sends_no_reduce_only_flag() -> None:
    """Without post-only the order is GTC; without reduce-only the flag is absent."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("POST", ORDER_PATH, binance_order(side="BUY", timeInForce="GTC", reduceOnly=False))
            await venue.place_limit(
                BTC,
                Side.BUY,
                Decimal("0.003"),
                Decimal("65000.2"),
                post_only=False,
                reduce_only=False,
                client_order_id="touch-1",
            )
            sent = http.last("POST", ORDER_PATH).params
        assert sent["timeInForce"] == "GTC"
        assert sent["side"] == "BUY"
        assert "reduceOnly" not in sent
        assert sent["price"] == "65000.2"

    run(scenario)


def test_market_order_reports_its_fill_with_the_exact_average_price() -> None:
    """type=MARKET with no price; a FILLED answer keeps avgPrice's exact string value."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on(
                "POST",
                ORDER_PATH,
                binance_order(
                    type="MARKET",
                    origType="MARKET",
                    timeInForce="GTC",
                    side="BUY",
                    price="0",
                    status="FILLED",
                    origQty="0.002",
                    executedQty="0.002",
                    cumQuote="130000.46",
                    avgPrice="65000.23",
                    reduceOnly=False,
                    clientOrderId="mkt-1",
                ),
            )
            info = await venue.place_market(
                BTC, Side.BUY, Decimal("0.002"), reduce_only=False, client_order_id="mkt-1"
            )
            sent = http.last("POST", ORDER_PATH).params
        assert sent["type"] == "MARKET"
        assert "price" not in sent
        assert "timeInForce" not in sent
        assert sent["quantity"] == "0.002"
        assert info.status is OrderStatus.FILLED
        assert info.filled_quantity == Decimal("0.002")
        assert str(info.average_price) == "65000.23"
        assert info.price is None
        assert_no_float(info)

    run(scenario)


@pytest.mark.parametrize(
    ("quantity", "price"),
    [(Decimal("0.003"), Decimal("65000.15")), (Decimal("0.0015"), Decimal("65000.1"))],
)
def test_off_grid_values_are_refused_before_anything_is_sent(quantity: Decimal, price: Decimal) -> None:
    """Rounding would change the value: INVALID_ORDER, and no order request leaves."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            with pytest.raises(VenueRejected) as caught:
                await venue.place_limit(
                    BTC,
                    Side.BUY,
                    quantity,
                    price,
                    post_only=True,
                    reduce_only=False,
                    client_order_id="x",
                )
            assert http.sent("POST", ORDER_PATH) == []
        assert caught.value.reason is RejectReason.INVALID_ORDER
        assert "not on the market's grid" in str(caught.value)

    run(scenario)


# --------------------------------------------------------------------------- order states


@pytest.mark.parametrize(
    ("overrides", "status", "filled", "reason"),
    [
        ({"status": "NEW"}, OrderStatus.OPEN, "0", None),
        (
            {"status": "PARTIALLY_FILLED", "executedQty": "0.001", "avgPrice": "65000.10"},
            OrderStatus.PARTIALLY_FILLED,
            "0.001",
            None,
        ),
        (
            {"status": "FILLED", "executedQty": "0.003", "avgPrice": "65000.10"},
            OrderStatus.FILLED,
            "0.003",
            None,
        ),
        (
            {"status": "CANCELED", "executedQty": "0.002", "avgPrice": "65000.10"},
            OrderStatus.CANCELED,
            "0.002",
            None,
        ),
        # A GTX (post-only) order that would have crossed expires instead.
        ({"status": "EXPIRED"}, OrderStatus.EXPIRED, "0", RejectReason.POST_ONLY),
        ({"status": "EXPIRED_IN_MATCH"}, OrderStatus.EXPIRED, "0", RejectReason.POST_ONLY),
        # A GTC order expiring is not a post-only refusal.
        ({"status": "EXPIRED", "timeInForce": "GTC"}, OrderStatus.EXPIRED, "0", None),
        ({"status": "REJECTED"}, OrderStatus.REJECTED, "0", None),
    ],
)
def test_order_lookup_maps_every_binance_status(
    overrides: dict[str, Any], status: OrderStatus, filled: str, reason: RejectReason | None
) -> None:
    """GET /fapi/v1/order?orderId=...: each documented status maps to hedge_fsm's."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("GET", ORDER_PATH, binance_order(**overrides))
            info = await venue.order(BTC, order_id="4611875134427365377")
            query = http.last("GET", ORDER_PATH).query
        assert query["orderId"] == "4611875134427365377"
        assert info.status is status
        assert str(info.filled_quantity) == filled  # the exchange's decimal, exactly
        assert info.reject_reason is reason
        if info.filled_quantity:
            assert info.average_price == Decimal("65000.1")
            # GTX fills are maker fills by construction.
            assert info.maker_quantity == info.filled_quantity
        assert_no_float(info)

    run(scenario)


def test_order_lookup_by_client_id_sends_orig_client_order_id() -> None:
    """Looking up by client order id only (after an ambiguous place) uses origClientOrderId."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("GET", ORDER_PATH, binance_order())
            info = await venue.order(BTC, client_order_id="hedge-leg1-a0")
            query = http.last("GET", ORDER_PATH).query
        assert query["origClientOrderId"] == "hedge-leg1-a0"
        assert "orderId" not in query
        assert info.client_order_id == "hedge-leg1-a0"

    run(scenario)


# --------------------------------------------------------------------------- cancel


def test_cancel_answer_with_fill_info_is_used_as_is() -> None:
    """Binance's cancel answer carries executedQty: no second request is needed."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on(
                "DELETE",
                ORDER_PATH,
                binance_order(status="CANCELED", executedQty="0.001", avgPrice="65000.10"),
            )
            info = await venue.cancel(BTC, "4611875134427365377")
            assert http.sent("GET", ORDER_PATH) == []
            query = http.last("DELETE", ORDER_PATH).query
        assert query["orderId"] == "4611875134427365377"
        assert info.status is OrderStatus.CANCELED
        assert info.filled_quantity == Decimal("0.001")

    run(scenario)


def test_cancel_that_loses_the_race_to_a_fill_reports_the_fill() -> None:
    """-2011 Unknown order sent (already filled): the order is read back, FILLED, not lost."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("DELETE", ORDER_PATH, binance_error(-2011, "Unknown order sent."), status=400)
            http.on(
                "GET",
                ORDER_PATH,
                binance_order(status="FILLED", executedQty="0.003", avgPrice="65000.10"),
            )
            info = await venue.cancel(BTC, "4611875134427365377")
        assert info.status is OrderStatus.FILLED
        assert info.filled_quantity == Decimal("0.003")

    run(scenario)


def test_cancel_of_an_order_the_venue_does_not_know_raises_order_not_found() -> None:
    """Cancel refused and the lookup says -2013 Order does not exist: OrderNotFound."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("DELETE", ORDER_PATH, binance_error(-2011, "Unknown order sent."), status=400)
            http.on("GET", ORDER_PATH, binance_error(-2013, "Order does not exist."), status=400)
            with pytest.raises(OrderNotFound) as caught:
                await venue.cancel(BTC, "42")
        assert_secret_free(caught.value)

    run(scenario)


def test_cancel_timeout_is_ambiguous_and_leaks_no_signature() -> None:
    """A cancel that times out may or may not have happened; the signed URL is scrubbed."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.timeout("DELETE", ORDER_PATH)
            with pytest.raises(AmbiguousOutcome) as caught:
                await venue.cancel(BTC, "4611875134427365377")
            signature = http.last("DELETE", ORDER_PATH).query["signature"]
        assert_secret_free(caught.value, signature)
        assert caught.value.operation == "cancel"

    run(scenario)


# --------------------------------------------------------------------------- errors when placing


@pytest.mark.parametrize(
    ("code", "msg", "reason"),
    [
        (
            -5022,
            "Due to the order could not be executed as maker, the Post Only order will be "
            "rejected. The order will not be recorded in the order history",
            RejectReason.POST_ONLY,
        ),
        (-2019, "Margin is insufficient.", RejectReason.INSUFFICIENT_FUNDS),
        (
            -4164,
            "Order's notional must be no smaller than 100 (unless you choose reduce only).",
            RejectReason.INVALID_ORDER,
        ),
        (-2022, "ReduceOnly Order is rejected.", RejectReason.REDUCE_ONLY),
        (-1111, "Precision is over the maximum defined for this asset.", RejectReason.INVALID_ORDER),
    ],
)
def test_definitive_refusals_map_to_venue_rejected_with_a_precise_reason(
    code: int, msg: str, reason: RejectReason
) -> None:
    """Binance error codes on POST /fapi/v1/order become VenueRejected(reason)."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("POST", ORDER_PATH, binance_error(code, msg), status=400)
            with pytest.raises(VenueRejected) as caught:
                await venue.place_limit(
                    BTC,
                    Side.SELL,
                    Decimal("0.003"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=True,
                    client_order_id="c1",
                )
        assert caught.value.reason is reason
        assert not isinstance(caught.value, AmbiguousOutcome)
        assert caught.value.venue == "binance"
        assert caught.value.__cause__ is not None
        assert_secret_free(caught.value)

    run(scenario)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"code": -1001, "msg": "Internal error; unable to process your request."}),
        (429, binance_error(-1003, "Too many requests; current limit is 2400 per minute.")),
    ],
)
def test_outage_or_throttling_on_place_is_ambiguous(status: int, body: dict[str, Any]) -> None:
    """A 5xx or a 429 while placing leaves the order's existence unknown."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("POST", ORDER_PATH, body, status=status)
            with pytest.raises(AmbiguousOutcome) as caught:
                await venue.place_limit(
                    BTC,
                    Side.BUY,
                    Decimal("0.003"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=False,
                    client_order_id="c2",
                )
        assert_secret_free(caught.value)

    run(scenario)


def test_place_timeout_is_ambiguous_and_the_signed_url_is_scrubbed() -> None:
    """ccxt's RequestTimeout names the signed URL; neither our message nor the cause keeps it."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.timeout("POST", ORDER_PATH)
            with pytest.raises(AmbiguousOutcome) as caught:
                await venue.place_limit(
                    BTC,
                    Side.BUY,
                    Decimal("0.003"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=False,
                    client_order_id="c3",
                )
            signature = http.last("POST", ORDER_PATH).params["signature"]
        assert "RequestTimeout" in str(caught.value)
        assert_secret_free(caught.value, signature)

    run(scenario)


def test_credentials_echoed_by_the_venue_are_redacted() -> None:
    """Even a venue that echoes the key and secret in an error body cannot leak them."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on(
                "POST",
                ORDER_PATH,
                binance_error(-2015, f"Invalid API-key {API_KEY} with secret {SECRET}."),
                status=401,
            )
            with pytest.raises(VenueRejected) as caught:
                await venue.place_limit(
                    BTC,
                    Side.BUY,
                    Decimal("0.003"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=False,
                    client_order_id="c4",
                )
        assert "<redacted>" in str(caught.value)
        assert_secret_free(caught.value)

    run(scenario)


# --------------------------------------------------------------------------- errors when querying


def test_unknown_order_lookup_raises_order_not_found() -> None:
    """-2013 Order does not exist on a lookup is hedge_fsm's OrderNotFound."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("GET", ORDER_PATH, binance_error(-2013, "Order does not exist."), status=400)
            with pytest.raises(OrderNotFound) as caught:
                await venue.order(BTC, client_order_id="never-placed")
        assert caught.value.reason is RejectReason.UNKNOWN_ORDER

    run(scenario)


def test_rate_limit_on_a_query_is_a_rate_limited_refusal() -> None:
    """HTTP 429 on the book is retryable: VenueRejected(RATE_LIMITED), not ambiguous."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on(
                "GET",
                "/fapi/v1/depth",
                binance_error(-1003, "Too many requests; current limit is 2400 per minute."),
                status=429,
            )
            with pytest.raises(VenueRejected) as caught:
                await venue.best_bid_offer(BTC)
        assert caught.value.reason is RejectReason.RATE_LIMITED

    run(scenario)


def test_timeout_on_a_query_is_venue_unavailable() -> None:
    """A lookup that times out changed nothing: VenueRejected(VENUE_UNAVAILABLE)."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.timeout("GET", ORDER_PATH)
            with pytest.raises(VenueRejected) as caught:
                await venue.order(BTC, order_id="1")
            signature = http.last("GET", ORDER_PATH).query["signature"]
        assert caught.value.reason is RejectReason.VENUE_UNAVAILABLE
        assert_secret_free(caught.value, signature)

    run(scenario)


# --------------------------------------------------------------------------- position


def test_position_is_the_signed_position_amount() -> None:
    """Position Information V3 positionAmt "-0.010" is a short of exactly 0.01 contracts."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on(
                "GET",
                "/fapi/v1/leverageBracket",
                [
                    {
                        "symbol": "BTCUSDT",
                        "notionalCoef": 1.5,
                        "brackets": [
                            {
                                "bracket": 1,
                                "initialLeverage": 125,
                                "notionalCap": 50000,
                                "notionalFloor": 0,
                                "maintMarginRatio": 0.004,
                                "cum": 0.0,
                            }
                        ],
                    }
                ],
            )
            http.on(
                "GET",
                "/fapi/v3/positionRisk",
                [
                    {
                        "symbol": "BTCUSDT",
                        "positionSide": "BOTH",
                        "positionAmt": "-0.010",
                        "entryPrice": "65010.0",
                        "breakEvenPrice": "65036.0",
                        "markPrice": "65000.10000000",
                        "unRealizedProfit": "0.09900000",
                        "liquidationPrice": "130000.5",
                        "isolatedMargin": "0",
                        "notional": "-650.00100000",
                        "marginAsset": "USDT",
                        "isolatedWallet": "0",
                        "initialMargin": "65.00010000",
                        "maintMargin": "2.60000400",
                        "positionInitialMargin": "65.00010000",
                        "openOrderInitialMargin": "0",
                        "adl": 1,
                        "bidNotional": "0",
                        "askNotional": "0",
                        "updateTime": 1716863719000,
                    }
                ],
            )
            position = await venue.position(BTC)
        assert position == Decimal("-0.01")
        assert isinstance(position, Decimal)

    run(scenario)


@pytest.mark.parametrize(
    "answer",
    [binance_order(status="SOMETHING_NEW"), binance_order(orderId=None)],
    ids=["unknown-status", "no-order-id"],
)
def test_an_unreadable_place_answer_is_ambiguous_not_rejected(answer: dict[str, Any]) -> None:
    """The venue answered 200 but we cannot read the order: it may be live, so look it up."""

    async def scenario() -> None:
        async with binance() as (venue, http):
            http.on("POST", ORDER_PATH, answer)
            with pytest.raises(AmbiguousOutcome):
                await venue.place_limit(
                    BTC,
                    Side.SELL,
                    Decimal("0.003"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=True,
                    client_order_id="hedge-leg1-a0",
                )

    run(scenario)
