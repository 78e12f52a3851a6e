"""CcxtVenue over ccxt's real ``kucoinfutures`` class: KuCoin Futures' own rules.

Shared promises run in ``test_venue_contract.py``; here: ccxt's kucoinfutures
compares ``amount < 1``, so an amount handed over as a string raised a raw
``TypeError`` on every placement; the adapter hands numbers (rounded to the
market first). Sizes are integer lots; the order book only takes depth 20/100.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedge_fsm import OrderStatus, Side
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import KucoinFuturesSim

BTC = KucoinFuturesSim.symbol


def test_ccxt_kucoinfutures_raises_type_error_on_a_string_amount() -> None:
    """The premise of the regression: ccxt itself cannot take the amount as a string."""

    async def scenario() -> None:
        sim = canned_venue("kucoinfutures")
        await sim.venue.instrument(BTC)
        with pytest.raises(TypeError):
            await sim.venue.exchange.create_order(BTC, "limit", "buy", "3", "64990", {"clientOid": "x"})
        await sim.venue.close()

    run(scenario)


def test_every_placement_sends_integer_lots_and_succeeds() -> None:
    """Regression: amounts go to ccxt as numbers: the order is placed, size an integer in JSON."""

    async def scenario() -> None:
        sim = canned_venue("kucoinfutures")
        limit = await sim.venue.place_limit(
            BTC, Side.BUY, D(3), D("64990.5"), post_only=True, reduce_only=False, client_order_id="t1e0n1"
        )
        market = await sim.venue.place_market(
            BTC, Side.SELL, D(2), reduce_only=False, client_order_id="t1h0n0"
        )
        await sim.venue.close()
        first, second = sim.http.sent("POST", "/api/v1/orders")
        assert first.json == {
            "clientOid": "t1e0n1",
            "side": "buy",
            "symbol": "XBTUSDTM",
            "type": "limit",
            "leverage": 1,
            "size": 3,
            "price": "64990.5",
            "postOnly": True,
        }
        assert second.json["size"] == 2 and second.json["type"] == "market"
        assert limit.status is OrderStatus.OPEN and market.client_order_id == "t1h0n0"

    run(scenario)


def test_the_book_is_read_at_a_depth_kucoin_accepts() -> None:
    """ccxt refuses depth 5 for KuCoin Futures: the profile asks for 20."""

    async def scenario() -> None:
        sim = canned_venue("kucoinfutures")
        bbo = await sim.venue.best_bid_offer(BTC)
        await sim.venue.close()
        assert (bbo.bid, bbo.ask) == (sim.bid, sim.ask)
        assert sim.http.requests[-1].path == "/api/v1/level2/depth20"

    run(scenario)
