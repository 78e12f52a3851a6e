"""CcxtVenue over ccxt's real ``apex`` class: refused at set-up, statuses read right.

ccxt 4.5.90's async apex signs orders with ``get_zk_contract_signature_obj``, a
*synchronous* base method it ``await``s (and which needs the native
``apexpro.zklink_sdk``): no order can be signed, so the venue says so at set-up
(``instrument``, which the engine reads before sending anything) instead of
failing on the first order. Apex's answers are still read through ccxt's real
parser: its ``FILLED`` arrives as the non-unified ``'filled'``.
"""

from __future__ import annotations

import inspect
from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedge_fsm import OrderStatus, Side
from hedge_fsm.errors import CapabilityError
from hedge_fsm.venues._ccxt_parse import order_info_from_ccxt
from hedge_fsm.venues._ccxt_profiles import PROFILES
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import FakeHttp, make_exchange, run


def apex_order(**overrides: Any) -> dict[str, Any]:
    """An order as Apex's v3 API answers it (shape from ccxt's apex.parse_order comment)."""
    order: dict[str, Any] = {
        "id": "597419262935794048",
        "clientId": "t1h1n0",
        "accountId": "584232029378986337",
        "symbol": "BTC-USDT",
        "side": "SELL",
        "price": "65000.0",
        "limitFee": "0.00050",
        "fee": "0.0975",
        "triggerPrice": "0",
        "trailingPercent": "0",
        "size": "0.003",
        "remainingSize": "0",
        "type": "LIMIT",
        "createdAt": 1716863718000,
        "updatedTime": 1716863719000,
        "expiresAt": 1719455718000,
        "status": "FILLED",
        "timeInForce": "GOOD_TIL_CANCEL",
        "postOnly": True,
        "reduceOnly": False,
        "cumSuccessFillSize": "0.003",
        "cumSuccessFillValue": "195.0015",
        "cumSuccessFillFee": "0.0975",
    }
    order.update(overrides)
    return order


def test_ccxt_4_5_90_awaits_a_synchronous_signer_for_apex() -> None:
    """The fact the refusal rests on: the zk signer ccxt's async apex awaits is not a coroutine."""
    exchange = make_exchange("apex")
    assert not inspect.iscoroutinefunction(exchange.get_zk_contract_signature_obj)
    assert "await self.get_zk_contract_signature_obj" in inspect.getsource(type(exchange).create_order)


def test_apex_refuses_at_set_up_before_anything_is_sent() -> None:
    """instrument() (read by the engine at set-up) and any placement: CapabilityError, no request."""

    async def scenario() -> None:
        exchange = make_exchange("apex")
        http = FakeHttp(exchange).install()
        venue = CcxtVenue(exchange, name="apex")
        with pytest.raises(CapabilityError, match="zkLink"):
            await venue.instrument("BTC/USDT:USDT")
        with pytest.raises(CapabilityError):
            await venue.place_market(
                "BTC/USDT:USDT", Side.BUY, D("0.003"), reduce_only=False, client_order_id="t1"
            )
        await venue.close()
        assert http.requests == []

    run(scenario)


def test_apex_filled_is_read_as_filled_with_its_own_fill_value() -> None:
    """Regression: ccxt reports Apex FILLED as 'filled' (not 'closed'), and no average; the profile
    maps the status, and the price is the venue's filled value over filled size."""
    exchange = make_exchange("apex")
    market = exchange.safe_market_structure(
        {"id": "BTC-USDT", "symbol": "BTC/USDT:USDT", "contractSize": 1, "inverse": False, "type": "swap"}
    )
    raw = exchange.parse_order(apex_order(), market)
    assert raw["status"] == "filled"
    info = order_info_from_ccxt(raw, symbol="BTC/USDT:USDT", profile=PROFILES["apex"])
    assert (info.status, info.filled_quantity) == (OrderStatus.FILLED, D("0.003"))
    assert info.average_price == D("195.0015") / D("0.003")
    assert info.client_order_id == "t1h1n0"


def test_apex_capabilities_come_from_ccxt_has() -> None:
    """Market orders need a worst price through ccxt's apex; lookups by id and client id exist."""
    venue = CcxtVenue(make_exchange("apex"), name="apex")
    caps = venue.capabilities
    assert caps.native_market is False
    assert caps.lookup_by_client_id is True
    assert isinstance(venue.exchange, ccxt.apex)
