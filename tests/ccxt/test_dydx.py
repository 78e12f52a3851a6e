"""CcxtVenue over ccxt's real ``dydx`` class, up to the Cosmos signing boundary.

ccxt 4.5.90's *Python* dydx cannot build an order from the indexer's answer: it
calls ``Precise.string_neg`` on ``atomicResolution``, which the indexer sends as
a JSON number (ccxt's own comment shows ``-10``), and raises ``TypeError``. So the
venue's profile refuses trading at set-up, and the tests below prove that
premise; the order and cancel messages are then checked with the indexer's
numbers given as strings (what ccxt's Python code needs) and the refusal lifted.

ccxt's dydx signs each order and cancel as a Cosmos transaction (protobuf, keys
derived from the account's mnemonic) and broadcasts it to a node. The signing
step is stubbed here (it records the message ccxt hands it); everything before
and after is ccxt's real code on canned HTTP: markets from the indexer, the
order message (the uint32 client id the adapter made from the engine's id), the
broadcast, and the cancel, which ccxt refuses by order id (``NotSupported``) and
the adapter therefore sends by that client id.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal as D
from typing import Any

import attrs
import ccxt.async_support as ccxt
import pytest

from hedge_fsm import Side
from hedge_fsm.errors import CapabilityError, HedgeError
from hedge_fsm.venues._ccxt_profiles import PROFILES, wire_client_id
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import FakeHttp, make_exchange, run

BTC = "BTC/USDC:USDC"
DYDX_ADDRESS = "dydx1cpb4tedmwq304c2kc9pwzjwq0sc6z2a4tasxrz"


def perpetual_markets() -> dict[str, Any]:
    """``GET /v4/perpetualMarkets`` (shape from ccxt's dydx.parse_market comment)."""
    return {
        "markets": {
            "BTC-USD": {
                "clobPairId": "0",
                "ticker": "BTC-USD",
                "status": "ACTIVE",
                "oraclePrice": "65000.5",
                "priceChange24H": "659.9736",
                "volume24H": "1292729.3605",
                "trades24H": 9387,
                "nextFundingRate": "0",
                "initialMarginFraction": "0.02",
                "maintenanceMarginFraction": "0.012",
                "openInterest": "52.0691",
                "atomicResolution": -10,
                "quantumConversionExponent": -9,
                "tickSize": "1",
                "stepSize": "0.0001",
                "stepBaseQuantums": 1000000,
                "subticksPerTick": 100000,
                "marketType": "CROSS",
                "openInterestLowerCap": "0",
                "openInterestUpperCap": "0",
                "baseOpenInterest": "50.3776",
                "defaultFundingRate1H": "0",
            }
        }
    }


def dydx_venue(*, as_strings: bool = False) -> tuple[CcxtVenue, FakeHttp, list[dict[str, Any]]]:
    exchange = make_exchange(
        "dydx", options={"dydxCredentials": {"privateKey": "00" * 32, "publicKey": "02" + "11" * 32}}
    )
    exchange.walletAddress = DYDX_ADDRESS
    exchange.apiKey = None
    exchange.secret = None
    signed: list[dict[str, Any]] = []

    def sign_dydx_tx(_key: str, message: dict[str, Any], *_args: Any, **_kwargs: Any) -> str:
        signed.append(message)
        return "Cq0BCqoBCh8vZHlkeHByb3RvY29sLmNsb2IuTXNnUGxhY2VPcmRlchKG"

    async def account() -> dict[str, Any]:
        return {"account_number": "1", "sequence": "7", "pub_key": None}

    async def height(*_args: Any, **_kwargs: Any) -> int:
        return 30000000

    exchange.sign_dydx_tx = sign_dydx_tx
    exchange.fetch_dydx_account = account
    exchange.fetch_latest_block_height = height
    http = FakeHttp(exchange).install()
    markets = perpetual_markets()
    if as_strings:
        for market in markets["markets"].values():
            for key in (
                "atomicResolution",
                "quantumConversionExponent",
                "stepBaseQuantums",
                "subticksPerTick",
            ):
                market[key] = str(market[key])
    http.on("GET", "/v4/perpetualMarkets", markets)
    http.on(
        "GET",
        "/broadcast_tx_sync",
        {
            "jsonrpc": "2.0",
            "id": -1,
            "result": {"code": 0, "data": "", "log": "[]", "codespace": "", "hash": "AB" * 32},
        },
    )
    profile = attrs.evolve(PROFILES["dydx"], cannot_trade=None) if as_strings else None
    return CcxtVenue(exchange, name="dydx", profile=profile), http, signed


def test_ccxt_dydx_cannot_build_an_order_from_the_indexers_numbers() -> None:
    """The premise: with atomicResolution a number (as the indexer sends it), ccxt raises TypeError."""

    async def scenario() -> None:
        venue, _http, signed = dydx_venue()
        await venue.exchange.load_markets()
        with pytest.raises(TypeError):
            await venue.exchange.create_order(BTC, "limit", "buy", 0.003, 64990, {"clientOrderId": 7})
        await venue.close()
        assert signed == []

    run(scenario)


def test_dydx_refuses_at_set_up_before_anything_is_sent() -> None:
    """instrument() (read by the engine at set-up) raises CapabilityError naming the cause."""

    async def scenario() -> None:
        venue, http, _signed = dydx_venue()
        with pytest.raises(CapabilityError, match="atomicResolution"):
            await venue.instrument(BTC)
        await venue.close()
        assert http.requests == []

    run(scenario)


def test_instrument_comes_from_the_indexers_perpetual_markets() -> None:
    """tickSize 1, stepSize 0.0001: the tick and the lot."""

    async def scenario() -> None:
        venue, _http, _signed = dydx_venue(as_strings=True)
        btc = await venue.instrument(BTC)
        await venue.close()
        assert (btc.tick_size, btc.lot_size, btc.multiplier) == (D(1), D("0.0001"), D(1))

    run(scenario)


def test_the_order_message_carries_the_uint32_image_of_the_engines_id_and_cancel_uses_it() -> None:
    """Regression: ccxt's dydx refuses a cancel by order id. The adapter cancels by the client id
    it sent (the uint32 image of the engine's id), and the report carries the engine's id."""

    async def scenario() -> None:
        venue, http, signed = dydx_venue(as_strings=True)
        placed = await venue.place_limit(
            BTC, Side.BUY, D("0.003"), D("64990"), post_only=True, reduce_only=False, client_order_id="t1e0n1"
        )
        wire = int(wire_client_id(PROFILES["dydx"], "t1e0n1"))
        place_message = signed[0]
        order = place_message["value"]["order"]
        assert 0 < wire < 2**32
        assert order["orderId"]["clientId"] == wire
        assert order["timeInForce"] == 2  # dYdX's TIME_IN_FORCE_POST_ONLY
        assert placed.client_order_id == "t1e0n1"
        assert http.sent("GET", "/broadcast_tx_sync")
        # The cancel's read-back goes to the indexer, not canned here: the message is what counts.
        with contextlib.suppress(HedgeError):
            await venue.cancel(BTC, placed.order_id)
        await venue.close()
        cancel_message = signed[1]
        assert cancel_message["typeUrl"] == "/dydxprotocol.clob.MsgCancelOrder"
        assert cancel_message["value"]["orderId"]["clientId"] in (wire, str(wire))

    run(scenario)


def test_an_order_not_placed_through_this_venue_cannot_be_cancelled_by_id() -> None:
    """Without the client id it sent, the adapter refuses before sending anything."""

    async def scenario() -> None:
        venue, http, signed = dydx_venue(as_strings=True)
        await venue.instrument(BTC)
        with pytest.raises(CapabilityError, match="cancels by client order id"):
            await venue.cancel(BTC, f"{DYDX_ADDRESS}-0-123-0-64")
        await venue.close()
        assert signed == [] and http.sent("GET", "/broadcast_tx_sync") == []

    run(scenario)


def test_capabilities_no_native_market_and_cancel_by_client_id() -> None:
    """ccxt's has['createMarketOrder'] is false for dydx: market orders are bounded IOC limits."""
    venue, _http, _signed = dydx_venue()
    assert venue.capabilities.native_market is False
    assert venue.profile.cancel_by_client_id is True
    assert isinstance(venue.exchange, ccxt.dydx)
