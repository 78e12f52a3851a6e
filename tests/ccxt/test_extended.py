"""CcxtVenue over ccxt's real ``extended`` class: Extended's own rules.

Shared promises run in ``test_venue_contract.py``; here: ccxt's extended refuses a
market order without a price (``ArgumentsRequired``), so the adapter sends the
slippage-bounded worst price; every order carries a Stark-signed settlement and
the engine's id as ``externalId``; ccxt's builder fee is in the instrument's fees.
"""

from __future__ import annotations

from decimal import Decimal as D

import ccxt.async_support as ccxt
import pytest

from hedge_fsm import OrderStatus, Side
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import ExtendedSim

BTC = ExtendedSim.symbol


def test_ccxt_extended_needs_a_price_for_a_market_order() -> None:
    """The premise: a market order without a price is refused by ccxt before signing."""

    async def scenario() -> None:
        sim = canned_venue("extended")
        await sim.venue.instrument(BTC)
        with pytest.raises(ccxt.ArgumentsRequired):
            await sim.venue.exchange.create_order(BTC, "market", "buy", 0.003, None, {})
        await sim.venue.close()

    run(scenario)


def test_market_orders_carry_the_slippage_bounded_worst_price() -> None:
    """Regression: a market buy goes out as MARKET/IOC capped 50 bps above the ask, and fills."""

    async def scenario() -> None:
        sim = canned_venue("extended")
        info = await sim.venue.place_market(
            BTC, Side.BUY, D("0.003"), reduce_only=False, client_order_id="t1h0n0"
        )
        found = await sim.venue.order(BTC, client_order_id="t1h0n0")
        await sim.venue.close()
        sent = sim.http.last("POST", "/api/v1/user/order").json
        # ask 65001 x 1.005 = 65326.005, floored to the 1-dollar tick.
        assert (sent["type"], sent["timeInForce"], sent["price"]) == ("MARKET", "IOC", "65326")
        assert sent["id"] == "t1h0n0" and sent["settlement"]["signature"]["r"].startswith("0x")
        assert info.client_order_id == "t1h0n0"
        assert (found.status, found.average_price) == (OrderStatus.FILLED, sim.ask)
        assert sim.venue.capabilities.native_market is False

    run(scenario)


def test_ccxts_builder_fee_is_in_the_fees() -> None:
    """ccxt attaches builderFee 0.0001 to every order: both rates carry it."""

    async def scenario() -> None:
        sim = canned_venue("extended")
        with_builder = await sim.venue.instrument(BTC)
        off = canned_venue("extended")
        off.venue.exchange.options["builderFee"] = False
        plain = await off.venue.instrument(BTC)
        await sim.venue.close()
        await off.venue.close()
        assert with_builder.taker_fee - plain.taker_fee == D("0.0001")
        assert with_builder.maker_fee - plain.maker_fee == D("0.0001")

    run(scenario)
