"""CcxtVenue.order_updates: ccxt.pro ``watch_orders`` updates read as OrderInfo.

Tested at the parsing level: a real ccxt.pro ``binanceusdm`` instance (markets
loaded from canned answers) parses canned ``ORDER_TRADE_UPDATE`` payloads from
Binance's user-data-stream docs with its own ``parse_ws_order``; only the
websocket transport (``watch_orders``) is replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedge_fsm import OrderStatus, RejectReason, VenueRejected
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import FakeHttp, assert_no_float, load_fixture, make_exchange, run

BTC = "BTC/USDT:USDT"


def order_trade_update(**overrides: Any) -> dict[str, Any]:
    """The "o" object of an ORDER_TRADE_UPDATE event (USDⓈ-M user data stream)."""
    update: dict[str, Any] = {
        "s": "BTCUSDT",
        "c": "hedge-leg1-a0",
        "S": "SELL",
        "o": "LIMIT",
        "f": "GTX",
        "q": "0.003",
        "p": "65000.1",
        "ap": "0",
        "sp": "0",
        "x": "NEW",
        "X": "NEW",
        "i": 4611875134427365377,
        "l": "0",
        "z": "0",
        "L": "0",
        "N": "USDT",
        "n": "0",
        "T": 1716863718000,
        "t": 0,
        "b": "0",
        "a": "195.0003",
        "m": False,
        "R": True,
        "wt": "CONTRACT_PRICE",
        "ot": "LIMIT",
        "ps": "BOTH",
        "cp": False,
        "rp": "0",
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
    }
    update.update(overrides)
    return update


def test_order_updates_yield_cumulative_fills_as_order_info() -> None:
    """NEW, then a partial maker fill, then FILLED, then a GTX expiry: each read exactly."""

    async def scenario() -> None:
        exchange = make_exchange("binanceusdm", pro=True)
        http = FakeHttp(exchange).install()
        http.on("GET", "/fapi/v1/exchangeInfo", load_fixture("binanceusdm_exchange_info.json"))
        http.on("GET", "/sapi/v1/capital/config/getall", [])
        http.on("GET", "/sapi/v1/margin/allPairs", [])
        await exchange.load_markets()
        market = exchange.market(BTC)
        batches = [
            [order_trade_update()],
            [
                order_trade_update(
                    x="TRADE",
                    X="PARTIALLY_FILLED",
                    l="0.001",
                    z="0.001",
                    L="65000.1",
                    ap="65000.1",
                    m=True,
                    t=11,
                ),
                order_trade_update(
                    x="TRADE", X="FILLED", l="0.002", z="0.003", L="65000.1", ap="65000.1", m=True, t=12
                ),
            ],
            [order_trade_update(i=99, c="hedge-leg1-a1", x="EXPIRED", X="EXPIRED")],
        ]
        calls: list[str | None] = []

        async def watch_orders(symbol: str | None = None, *_: Any, **__: Any) -> list[Mapping[str, Any]]:
            calls.append(symbol)
            if not batches:
                raise ccxt.NetworkError("binanceusdm connection closed")
            return [exchange.parse_ws_order(raw, market) for raw in batches.pop(0)]

        exchange.watch_orders = watch_orders
        venue = CcxtVenue(exchange, name="binance")
        assert venue.supports_order_updates
        seen = []
        try:
            with pytest.raises(VenueRejected) as caught:
                async for info in venue.order_updates(BTC):
                    seen.append(info)
        finally:
            await exchange.close()
        assert caught.value.reason is RejectReason.VENUE_UNAVAILABLE
        assert calls == [BTC] * 4
        assert [(i.status, i.filled_quantity) for i in seen] == [
            (OrderStatus.OPEN, Decimal("0")),
            (OrderStatus.PARTIALLY_FILLED, Decimal("0.001")),
            (OrderStatus.FILLED, Decimal("0.003")),
            (OrderStatus.EXPIRED, Decimal("0")),
        ]
        assert seen[2].average_price == Decimal("65000.1")
        assert seen[2].client_order_id == "hedge-leg1-a0"
        assert seen[3].reject_reason is RejectReason.POST_ONLY
        assert seen[3].order_id == "99"
        for info in seen:
            assert_no_float(info)

    run(scenario)


def test_order_updates_without_ccxt_pro_refuse_so_the_caller_polls() -> None:
    """A plain async_support instance has no watch_orders: refused at the first iteration."""

    async def scenario() -> None:
        exchange = make_exchange("binanceusdm")
        venue = CcxtVenue(exchange)
        try:
            assert not venue.supports_order_updates
            with pytest.raises(VenueRejected, match="poll order"):
                await anext(venue.order_updates(BTC))
        finally:
            await exchange.close()

    run(scenario)
