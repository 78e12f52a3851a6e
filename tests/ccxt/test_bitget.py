"""CcxtVenue over ccxt's real ``bitget`` class (v2 mix, USDT-FUTURES): Bitget's own rules.

Shared promises run in ``test_venue_contract.py``; here the wire: ``clientOid``
is the engine's id, post-only is ``force=post_only``, reduce-only ``reduceOnly=YES``,
amounts and prices exact; 22002 (no position to close) is a reduce-only refusal.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedge_fsm import RejectReason, Side, VenueRejected
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import BitgetSim

BTC = BitgetSim.symbol


def test_post_only_reduce_only_limit_on_the_wire() -> None:
    """force=post_only, reduceOnly=YES, clientOid the engine's id, size and price exact."""

    async def scenario() -> None:
        sim = canned_venue("bitget")
        sim.position = D("0.003")
        info = await sim.venue.place_limit(
            BTC,
            Side.SELL,
            D("0.003"),
            D("65010.5"),
            post_only=True,
            reduce_only=True,
            client_order_id="t1h1n0",
        )
        await sim.venue.close()
        sent = sim.http.last("POST", "/api/v2/mix/order/place-order").json
        assert (sent["clientOid"], sent["force"], sent["reduceOnly"]) == ("t1h1n0", "post_only", "YES")
        assert (sent["size"], sent["price"], sent["side"], sent["orderType"]) == (
            "0.003",
            "65010.5",
            "sell",
            "limit",
        )
        assert sent["productType"] == "USDT-FUTURES"
        assert info.client_order_id == "t1h1n0"

    run(scenario)


def test_no_position_to_close_is_a_reduce_only_refusal() -> None:
    """22002 on a reduce-only order with nothing to reduce: REDUCE_ONLY."""

    async def scenario() -> None:
        sim = canned_venue("bitget")
        with pytest.raises(VenueRejected) as caught:
            await sim.venue.place_market(
                BTC, Side.BUY, D("0.003"), reduce_only=True, client_order_id="t1r0n0"
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.REDUCE_ONLY

    run(scenario)
