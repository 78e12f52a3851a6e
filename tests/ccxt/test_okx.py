"""CcxtVenue over ccxt's real ``okx`` class (v5, USDT swaps in contracts), canned.

Markets come from a canned ``GET /api/v5/public/instruments?instType=SWAP``
parsed by ccxt's own ``load_markets``; the rest follows OKX's v5 docs (Place
order — ccxt sends it through ``/trade/batch-orders`` —, Order details, Cancel
order, Positions, order book, error codes). OKX quantities are contracts: one
BTC-USDT-SWAP contract is 0.01 BTC, one PEPE-USDT-SWAP contract 10,000,000 PEPE.
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
    PASSWORD,
    SECRET,
    FakeHttp,
    assert_no_float,
    assert_secret_free,
    load_fixture,
    make_exchange,
    run,
)

BTC = "BTC/USDT:USDT"
ORDER_ID = "1753197687182819328"
PLACE = "/api/v5/trade/batch-orders"
ORDER = "/api/v5/trade/order"
CANCEL = "/api/v5/trade/cancel-order"


def okx_answer(data: list[Any], *, code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def okx_ack(**overrides: Any) -> dict[str, Any]:
    ack: dict[str, Any] = {
        "clOrdId": "hedgeleg3a0",
        "ordId": ORDER_ID,
        "tag": "",
        "ts": "1716863718000",
        "sCode": "0",
        "sMsg": "Order placed",
    }
    ack.update(overrides)
    return ack


def okx_order(**overrides: Any) -> dict[str, Any]:
    """One entry of GET /api/v5/trade/order's data."""
    order: dict[str, Any] = {
        "accFillSz": "0",
        "algoClOrdId": "",
        "algoId": "",
        "attachAlgoClOrdId": "",
        "attachAlgoOrds": [],
        "avgPx": "",
        "cTime": "1716863718000",
        "cancelSource": "",
        "cancelSourceReason": "",
        "category": "normal",
        "ccy": "",
        "clOrdId": "hedgeleg3a0",
        "fee": "0",
        "feeCcy": "USDT",
        "fillPx": "",
        "fillSz": "0",
        "fillTime": "",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "isTpLimit": "false",
        "lever": "10",
        "linkedAlgoOrd": {"algoId": ""},
        "ordId": ORDER_ID,
        "ordType": "post_only",
        "pnl": "0",
        "posSide": "net",
        "px": "65000.1",
        "pxType": "",
        "pxUsd": "",
        "pxVol": "",
        "quickMgnType": "",
        "rebate": "0",
        "rebateCcy": "USDT",
        "reduceOnly": "true",
        "side": "sell",
        "slOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "source": "",
        "state": "live",
        "stpId": "",
        "stpMode": "cancel_maker",
        "sz": "3",
        "tag": "",
        "tdMode": "cross",
        "tgtCcy": "",
        "tpOrdPx": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tradeId": "",
        "tradeQuoteCcy": "",
        "uTime": "1716863718000",
    }
    order.update(overrides)
    return order


@contextlib.asynccontextmanager
async def okx() -> AsyncIterator[tuple[CcxtVenue, FakeHttp]]:
    """A venue over a real okx instance whose swap markets ccxt loaded from canned answers."""
    exchange = make_exchange("okx", options={"fetchMarkets": {"types": ["swap"]}})
    http = FakeHttp(exchange).install()
    http.on("GET", "/api/v5/public/instruments", load_fixture("okx_instruments_swap.json"))
    # With keys set, ccxt's okx also loads currencies.
    http.on("GET", "/api/v5/asset/currencies", okx_answer([]))
    try:
        yield CcxtVenue(exchange, name="okx"), http
    finally:
        await exchange.close()


async def place_post_only_sell(venue: CcxtVenue) -> Any:
    return await venue.place_limit(
        BTC,
        Side.SELL,
        Decimal("3"),
        Decimal("65000.1"),
        post_only=True,
        reduce_only=True,
        client_order_id="hedgeleg3a0",
    )


# --------------------------------------------------------------------------- market data


def test_instrument_reads_contract_value_as_the_multiplier() -> None:
    """tickSz, lotSz, minSz from the instrument; ctVal is the multiplier (tokens per contract)."""

    async def scenario() -> None:
        async with okx() as (venue, _http):
            btc = await venue.instrument(BTC)
            pepe = await venue.instrument("PEPE/USDT:USDT")
        assert (btc.tick_size, btc.lot_size, btc.min_quantity) == (
            Decimal("0.1"),
            Decimal("0.01"),
            Decimal("0.01"),
        )
        assert btc.multiplier == Decimal("0.01")
        assert btc.min_notional == 0
        assert pepe.multiplier == Decimal("10000000")
        assert pepe.tick_size == Decimal("0.0000000001")
        assert pepe.lot_size == Decimal("0.1")
        assert_no_float(btc)
        assert_no_float(pepe)

    run(scenario)


def test_best_bid_offer_reads_the_v5_books() -> None:
    """GET /api/v5/market/books?sz=5; sizes in contracts, time from "ts"."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on(
                "GET",
                "/api/v5/market/books",
                okx_answer(
                    [
                        {
                            "asks": [["65000.2", "8", "0", "2"]],
                            "bids": [["65000.1", "12", "0", "3"]],
                            "ts": "1716863719031",
                        }
                    ]
                ),
            )
            bbo = await venue.best_bid_offer(BTC)
            query = http.last("GET", "/api/v5/market/books").query
        assert query == {"instId": "BTC-USDT-SWAP", "sz": "5"}
        assert (bbo.bid, bbo.ask, bbo.bid_size, bbo.ask_size) == (
            Decimal("65000.1"),
            Decimal("65000.2"),
            Decimal("12"),
            Decimal("8"),
        )
        assert bbo.timestamp == Decimal("1716863719.031")

    run(scenario)


# --------------------------------------------------------------------------- placing


def test_post_only_reduce_only_limit_goes_out_as_ord_type_post_only_with_cl_ord_id() -> None:
    """ordType=post_only, reduceOnly=true, clOrdId, sz/px as exact strings, signed headers."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on("POST", PLACE, okx_answer([okx_ack()]))
            info = await place_post_only_sell(venue)
            request = http.last("POST", PLACE)
        assert request.json == [
            {
                "instId": "BTC-USDT-SWAP",
                "side": "sell",
                "ordType": "post_only",
                "sz": "3",
                "tdMode": "cross",
                "px": "65000.1",
                "clOrdId": "hedgeleg3a0",
                "reduceOnly": True,
            }
        ]
        assert request.headers["OK-ACCESS-KEY"] == API_KEY
        assert request.headers["OK-ACCESS-SIGN"]
        assert SECRET not in str(request.headers) + (request.body or "")
        assert info.order_id == ORDER_ID
        assert info.client_order_id == "hedgeleg3a0"
        assert info.status is OrderStatus.OPEN
        assert (info.quantity, info.price) == (Decimal("3"), Decimal("65000.1"))
        assert_no_float(info)

    run(scenario)


def test_market_order_sends_ord_type_market_without_a_price() -> None:
    """ordType=market, no px, no reduceOnly when not asked."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on("POST", PLACE, okx_answer([okx_ack(clOrdId="mkt1")]))
            await venue.place_market(
                BTC, Side.BUY, Decimal("0.02"), reduce_only=False, client_order_id="mkt1"
            )
            sent = http.last("POST", PLACE).json[0]
        assert sent == {
            "instId": "BTC-USDT-SWAP",
            "side": "buy",
            "ordType": "market",
            "sz": "0.02",
            "tdMode": "cross",
            "clOrdId": "mkt1",
        }

    run(scenario)


# --------------------------------------------------------------------------- order states


@pytest.mark.parametrize(
    ("overrides", "status", "filled", "reason"),
    [
        ({"state": "live"}, OrderStatus.OPEN, "0", None),
        (
            {"state": "partially_filled", "accFillSz": "1.5", "avgPx": "65000.1"},
            OrderStatus.PARTIALLY_FILLED,
            "1.5",
            None,
        ),
        ({"state": "filled", "accFillSz": "3", "avgPx": "65000.1"}, OrderStatus.FILLED, "3", None),
        (
            {"state": "canceled", "accFillSz": "1", "avgPx": "65000.1", "cancelSource": "1"},
            OrderStatus.CANCELED,
            "1",
            None,
        ),
        # cancelSource 31: "The post-only order will take liquidity in taker orders".
        (
            {
                "state": "canceled",
                "cancelSource": "31",
                "cancelSourceReason": "The post-only order will take liquidity in taker orders",
            },
            OrderStatus.REJECTED,
            "0",
            RejectReason.POST_ONLY,
        ),
    ],
)
def test_order_lookup_maps_every_okx_state(
    overrides: dict[str, Any], status: OrderStatus, filled: str, reason: RejectReason | None
) -> None:
    """GET /api/v5/trade/order?ordId=...: each documented state maps to hedge_fsm's."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on("GET", ORDER, okx_answer([okx_order(**overrides)]))
            info = await venue.order(BTC, order_id=ORDER_ID)
            query = http.last("GET", ORDER).query
        assert query == {"instId": "BTC-USDT-SWAP", "ordId": ORDER_ID}
        assert info.status is status
        assert info.filled_quantity == Decimal(filled)
        assert info.reject_reason is reason
        assert info.quantity == Decimal("3")
        if info.filled_quantity:
            assert info.average_price == Decimal("65000.1")
            assert info.maker_quantity == info.filled_quantity  # post_only fills are maker
        assert_no_float(info)

    run(scenario)


def test_order_lookup_by_client_id_sends_cl_ord_id() -> None:
    """By client id only: clOrdId, no ordId."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on("GET", ORDER, okx_answer([okx_order()]))
            info = await venue.order(BTC, client_order_id="hedgeleg3a0")
            query = http.last("GET", ORDER).query
        assert query == {"instId": "BTC-USDT-SWAP", "clOrdId": "hedgeleg3a0"}
        assert info.client_order_id == "hedgeleg3a0"

    run(scenario)


# --------------------------------------------------------------------------- cancel


def test_cancel_reads_the_order_back_because_the_answer_has_ids_only() -> None:
    """cancel-order answers {ordId, clOrdId, sCode}: the fill count comes from a lookup."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on("POST", CANCEL, okx_answer([okx_ack(sMsg="")]))
            http.on(
                "GET",
                ORDER,
                okx_answer([okx_order(state="canceled", accFillSz="1.5", avgPx="65000.1", cancelSource="1")]),
            )
            info = await venue.cancel(BTC, ORDER_ID)
            body = http.last("POST", CANCEL).json
        assert body == {"instId": "BTC-USDT-SWAP", "ordId": ORDER_ID}
        assert info.status is OrderStatus.CANCELED
        assert info.filled_quantity == Decimal("1.5")

    run(scenario)


def test_cancel_of_a_filled_order_reports_the_fill() -> None:
    """sCode 51402 (already completed): read back, FILLED."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on(
                "POST",
                CANCEL,
                okx_answer(
                    [
                        okx_ack(
                            sCode="51402",
                            sMsg="Cancellation failed as the order has been filled, canceled "
                            "or does not exist.",
                        )
                    ],
                    code="1",
                    msg="All operations failed",
                ),
            )
            http.on("GET", ORDER, okx_answer([okx_order(state="filled", accFillSz="3", avgPx="65000.1")]))
            info = await venue.cancel(BTC, ORDER_ID)
        assert info.status is OrderStatus.FILLED
        assert info.filled_quantity == Decimal("3")

    run(scenario)


def test_cancel_timeout_is_ambiguous() -> None:
    """A cancel that times out may or may not have happened."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.timeout("POST", CANCEL)
            with pytest.raises(AmbiguousOutcome) as caught:
                await venue.cancel(BTC, ORDER_ID)
        assert_secret_free(caught.value, PASSWORD)

    run(scenario)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("s_code", "s_msg", "reason"),
    [
        ("51008", "Order failed. Insufficient USDT margin in account", RejectReason.INSUFFICIENT_FUNDS),
        ("51121", "Order quantity must be a multiple of the lot size.", RejectReason.INVALID_ORDER),
        (
            "51006",
            "Order price is not within the price limit (max buy price: 66950)",
            RejectReason.INVALID_ORDER,
        ),
    ],
)
def test_definitive_refusals_map_to_venue_rejected(s_code: str, s_msg: str, reason: RejectReason) -> None:
    """An sCode inside a code "1" answer becomes VenueRejected(reason)."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on(
                "POST",
                PLACE,
                okx_answer(
                    [okx_ack(ordId="", sCode=s_code, sMsg=s_msg)], code="1", msg="All operations failed"
                ),
            )
            with pytest.raises(VenueRejected) as caught:
                await place_post_only_sell(venue)
        assert caught.value.reason is reason
        assert not isinstance(caught.value, AmbiguousOutcome)
        assert_secret_free(caught.value, PASSWORD)

    run(scenario)


def test_place_timeout_and_outage_are_ambiguous() -> None:
    """A timeout, or 50013 system busy, while placing: the order may exist."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.timeout("POST", PLACE)
            with pytest.raises(AmbiguousOutcome):
                await place_post_only_sell(venue)
            http.on(
                "POST", PLACE, okx_answer([], code="50013", msg="Systems are busy. Please try again later.")
            )
            with pytest.raises(AmbiguousOutcome) as caught:
                await place_post_only_sell(venue)
        assert_secret_free(caught.value, PASSWORD)

    run(scenario)


def test_unknown_order_and_rate_limit_on_queries() -> None:
    """51603 Order does not exist -> OrderNotFound; HTTP 429 / 50011 -> RATE_LIMITED."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on("GET", ORDER, okx_answer([], code="51603", msg="Order does not exist"))
            with pytest.raises(OrderNotFound):
                await venue.order(BTC, client_order_id="never-placed")
            http.on("GET", ORDER, {"msg": "Too Many Requests", "code": "50011"}, status=429)
            with pytest.raises(VenueRejected) as caught:
                await venue.order(BTC, order_id=ORDER_ID)
        assert caught.value.reason is RejectReason.RATE_LIMITED

    run(scenario)


# --------------------------------------------------------------------------- position


def test_position_in_net_mode_is_the_signed_pos() -> None:
    """GET /api/v5/account/positions: pos "-1.5" in net mode is a short of 1.5 contracts."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            http.on(
                "GET",
                "/api/v5/account/positions",
                okx_answer(
                    [
                        {
                            "adl": "1",
                            "availPos": "",
                            "avgPx": "65000.1",
                            "bePx": "65032.6",
                            "cTime": "1716863718000",
                            "ccy": "USDT",
                            "fee": "-0.0487",
                            "fundingFee": "0",
                            "idxPx": "65005",
                            "imr": "9.75",
                            "instId": "BTC-USDT-SWAP",
                            "instType": "SWAP",
                            "last": "65010",
                            "lever": "10",
                            "liqPx": "",
                            "margin": "",
                            "markPx": "65010",
                            "mgnMode": "cross",
                            "mgnRatio": "100",
                            "mmr": "0.39",
                            "notionalUsd": "975.15",
                            "pos": "-1.5",
                            "posCcy": "",
                            "posId": "1",
                            "posSide": "net",
                            "realizedPnl": "-0.0487",
                            "tradeId": "1",
                            "uTime": "1716863719000",
                            "upl": "-0.1485",
                            "uplRatio": "-0.0152",
                        }
                    ]
                ),
            )
            position = await venue.position(BTC)
            query = http.last("GET", "/api/v5/account/positions").query
        assert query == {"instId": "BTC-USDT-SWAP"}
        assert position == Decimal("-1.5")

    run(scenario)


def test_client_order_id_outside_okx_rules_is_refused_before_sending() -> None:
    """clOrdId is at most 32 letters and digits: a dash is refused up front, naming the rule."""

    async def scenario() -> None:
        async with okx() as (venue, http):
            with pytest.raises(VenueRejected, match="32 letters and digits") as caught:
                await venue.place_limit(
                    BTC,
                    Side.BUY,
                    Decimal("1"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=False,
                    client_order_id="hedge-leg-1",
                )
            assert http.sent("POST", PLACE) == []
        assert caught.value.reason is RejectReason.INVALID_ORDER

    run(scenario)
