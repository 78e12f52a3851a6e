"""CcxtVenue over ccxt's real ``lighter`` class, up to the signing boundary.

ccxt's lighter signs every transaction, and authenticates every private read,
with Lighter's *native* signer library (a compiled ``.so`` loaded through
ctypes); it cannot run offline here. So:

* without ``options['libraryPath']`` the venue refuses at set-up (its
  ``instrument``, which the engine reads before sending anything), with a
  :class:`~hedge_fsm.errors.CapabilityError` saying why;
* with it, everything up to the signer is ccxt's real code on canned HTTP:
  markets from ``orderBookDetails``, the request ccxt hands to the signer
  (checked field by field: the integer client order index the adapter made
  from the engine's id, post-only as time-in-force 2, reduce-only, scaled
  integers), the ``sendTx`` that carries the signed transaction, and the
  lookups through ``accountActiveOrders`` / ``accountInactiveOrders``
  (ccxt has no ``fetch_order`` for Lighter). The signer itself is a stub.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from hedge_fsm import OrderStatus, Side
from hedge_fsm.errors import CapabilityError
from hedge_fsm.venues._ccxt_profiles import PROFILES, wire_client_id
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import FakeHttp, make_exchange, run
from tests.ccxt.fixtures.sims import PRIVATE_KEY

BTC = "BTC/USDC:USDC"


def order_book_details() -> dict[str, Any]:
    """``GET /api/v1/orderBookDetails`` (shape from ccxt's lighter.fetch_markets comment)."""
    return {
        "code": 200,
        "order_book_details": [
            {
                "symbol": "BTC",
                "market_id": 1,
                "market_type": "perp",
                "base_asset_id": 0,
                "quote_asset_id": 0,
                "status": "active",
                "taker_fee": "0.0000",
                "maker_fee": "0.0000",
                "liquidation_fee": "0.01",
                "min_base_amount": "0.00020",
                "min_quote_amount": "10.000000",
                "supported_size_decimals": "5",
                "supported_price_decimals": "1",
                "supported_quote_decimals": "6",
                "order_quote_limit": "281474976.710655",
                "size_decimals": "5",
                "price_decimals": "1",
                "quote_multiplier": "1",
                "default_initial_margin_fraction": "200",
                "min_initial_margin_fraction": "200",
                "maintenance_margin_fraction": "120",
                "closeout_margin_fraction": "80",
                "last_trade_price": "65000.5",
                "daily_trades_count": "68",
                "daily_base_token_volume": "235.25",
                "daily_quote_token_volume": "93566.25",
                "daily_price_low": "64000.0",
                "daily_price_high": "66000.0",
                "daily_price_change": "1.2",
                "open_interest": "93.0",
                "daily_chart": "{}",
                "market_config": {
                    "market_margin_mode": 0,
                    "insurance_fund_account_index": 281474976710655,
                    "liquidation_mode": 0,
                    "force_reduce_only": False,
                    "funding_fee_discounts_enabled": True,
                    "trading_hours": "",
                    "hidden": False,
                },
                "strategy_index": 0,
            }
        ],
        "spot_order_book_details": [],
    }


def lighter_order(client_order_index: int, **overrides: Any) -> dict[str, Any]:
    """One order of ``accountActiveOrders`` (shape from ccxt's lighter.parse_order comment)."""
    order: dict[str, Any] = {
        "order_index": 281475565888172,
        "client_order_index": client_order_index,
        "order_id": "281475565888172",
        "client_order_id": str(client_order_index),
        "market_index": 1,
        "owner_account_index": 1,
        "initial_base_amount": "0.00300",
        "price": "64990.0",
        "nonce": 1,
        "remaining_base_amount": "0.00300",
        "is_ask": False,
        "base_size": 300,
        "base_price": 649900,
        "filled_base_amount": "0.00000",
        "filled_quote_amount": "0.000000",
        "side": "buy",
        "type": "limit",
        "time_in_force": "post-only",
        "reduce_only": False,
        "trigger_price": "0.0",
        "order_expiry": 1764547200000,
        "status": "open",
        "trigger_status": "na",
        "trigger_time": 0,
        "parent_order_index": 0,
        "parent_order_id": "0",
        "to_trigger_order_id_0": "0",
        "to_trigger_order_id_1": "0",
        "to_cancel_order_id_0": "0",
        "block_height": 1,
        "timestamp": 1716863718,
        "created_at": 1716863718,
        "updated_at": 1716863718,
    }
    order.update(overrides)
    return order


class StubSigner:
    """Stands in for the native signer: records what ccxt asks it to sign."""

    def __init__(self) -> None:
        self.signed: list[dict[str, Any]] = []


def lighter_venue(tmp_path: Path | None) -> tuple[CcxtVenue, FakeHttp, StubSigner]:
    exchange = make_exchange("lighter", options={"accountIndex": 1, "apiKeyIndex": 0})
    exchange.privateKey = PRIVATE_KEY
    exchange.apiKey = None
    exchange.secret = None
    signer = StubSigner()
    if tmp_path is not None:
        library = tmp_path / "lighter-signer-linux-amd64.so"
        library.write_bytes(b"\x7fELF stub")
        exchange.options["libraryPath"] = str(library)

        async def load_account(*_args: Any, **_kwargs: Any) -> StubSigner:
            return signer

        def sign_create_order(_signer: Any, request: dict[str, Any]) -> tuple[int, str]:
            signer.signed.append(dict(request))
            return 14, '{"signed": "by the stub"}'

        async def standard_tier(*_args: Any, **_kwargs: Any) -> bool:
            return False

        exchange.load_account = load_account
        exchange.lighter_sign_create_order = sign_create_order
        exchange.check_if_standard_tier = standard_tier
        exchange.lighter_create_auth_token = lambda *_a, **_k: "stub-auth-token"
    http = FakeHttp(exchange).install()
    http.on("GET", "/api/v1/orderBookDetails", order_book_details())
    http.on("GET", "/api/v1/assetDetails", {"code": 200, "asset_details": []})
    return CcxtVenue(exchange, name="lighter"), http, signer


def test_without_the_native_signer_the_venue_refuses_at_set_up() -> None:
    """No libraryPath: CapabilityError from instrument() (read at set-up), nothing sent at all."""

    async def scenario() -> None:
        venue, http, _signer = lighter_venue(None)
        with pytest.raises(CapabilityError, match="native signer"):
            await venue.instrument(BTC)
        with pytest.raises(CapabilityError):
            await venue.place_limit(
                BTC,
                Side.BUY,
                D("0.003"),
                D("64990"),
                post_only=True,
                reduce_only=False,
                client_order_id="t1e0n1",
            )
        await venue.close()
        assert http.requests == []

    run(scenario)


def test_instrument_comes_from_order_book_details(tmp_path: Path) -> None:
    """size_decimals 5 and price_decimals 1 are the lot and tick; min_base_amount the minimum."""

    async def scenario() -> None:
        venue, _http, _signer = lighter_venue(tmp_path)
        btc = await venue.instrument(BTC)
        await venue.close()
        assert (btc.tick_size, btc.lot_size) == (D("0.1"), D("0.00001"))
        assert (btc.min_quantity, btc.min_notional, btc.multiplier) == (D("0.0002"), D("10"), D(1))

    run(scenario)


def test_what_ccxt_hands_the_signer_carries_an_integer_client_index_from_the_engines_id(
    tmp_path: Path,
) -> None:
    """Regression: a non-integer client id was silently replaced by a random one. The adapter
    sends a deterministic integer (< 2**48) for the engine's id; post-only is time-in-force 2;
    the amounts are scaled integers; the signed transaction goes out in sendTx; the ack (a tx
    hash, no order id) is resolved by looking the order up in the account's order lists."""

    async def scenario() -> None:
        venue, http, signer = lighter_venue(tmp_path)
        index = int(wire_client_id(PROFILES["lighter"], "t1e0n1"))
        http.on(
            "POST",
            "/api/v1/sendTx",
            {"code": 200, "message": "{}", "tx_hash": "0xabc", "predicted_execution_time_ms": 1},
        )
        http.on("GET", "/api/v1/accountActiveOrders", {"code": 200, "orders": [lighter_order(index)]})
        http.on("GET", "/api/v1/accountInactiveOrders", {"code": 200, "orders": []})
        info = await venue.place_limit(
            BTC, Side.BUY, D("0.003"), D("64990"), post_only=True, reduce_only=False, client_order_id="t1e0n1"
        )
        await venue.close()
        (signed,) = signer.signed
        assert 0 < signed["client_order_index"] < 2**48
        assert signed["client_order_index"] == index
        assert (signed["market_index"], signed["is_ask"], signed["reduce_only"]) == (1, 0, 0)
        assert (signed["time_in_force"], signed["order_type"]) == (2, 0)
        assert (signed["base_amount"], signed["avg_execution_price"]) == (300, 649900)
        assert http.last("POST", "/api/v1/sendTx").params["tx_type"] in (14, "14")
        assert (info.client_order_id, info.status) == ("t1e0n1", OrderStatus.OPEN)
        assert info.order_id == "281475565888172"

    run(scenario)


def test_capabilities_say_market_orders_need_a_price_and_lookups_go_through_lists() -> None:
    """No fetch_order in ccxt's lighter: lookups by list; market orders carry a worst price."""
    venue, _http, _signer = lighter_venue(None)
    caps = venue.capabilities
    assert caps.native_market is False
    assert caps.order_lookup and caps.lookup_by_client_id
