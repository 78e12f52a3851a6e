"""CcxtVenue over ccxt's real ``backpack`` class: Backpack's own rules.

Shared promises run in ``test_venue_contract.py``; here: client ids must be
uint32 (``clientId``), the signed request carries its window, and a position's
direction comes from Backpack's signed ``netQuantity``, not from the side ccxt
derives from ``netCost``.
"""

from __future__ import annotations

from decimal import Decimal as D

from hedge_fsm import Side
from hedge_fsm.venues._ccxt_profiles import PROFILES, wire_client_id
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import BackpackSim

BTC = BackpackSim.symbol


def test_client_ids_go_out_as_uint32_and_come_back_as_the_engines() -> None:
    """Regression: Backpack's clientId is a uint32; the engine's id is mapped both ways."""

    async def scenario() -> None:
        sim = canned_venue("backpack")
        info = await sim.venue.place_limit(
            BTC,
            Side.BUY,
            D("0.003"),
            D("64990.5"),
            post_only=True,
            reduce_only=False,
            client_order_id="t1e0n1",
        )
        found = await sim.venue.order(BTC, client_order_id="t1e0n1")
        await sim.venue.close()
        request = sim.http.last("POST", "/api/v1/order")
        sent = request.json
        assert sent["clientId"] == int(wire_client_id(PROFILES["backpack"], "t1e0n1"))
        assert 0 < sent["clientId"] < 2**32
        assert (sent["postOnly"], sent["price"], sent["quantity"]) == (True, "64990.5", "0.003")
        assert request.headers["X-Window"] == "5000"
        assert info.client_order_id == found.client_order_id == "t1e0n1"
        assert sim.venue.capabilities.request_window == 5.0

    run(scenario)


def test_a_short_reads_short_from_net_quantity_even_when_ccxt_says_long() -> None:
    """ccxt's backpack takes the side from netCost (long unless negative); netQuantity decides."""

    async def scenario() -> None:
        sim = canned_venue("backpack")
        sim.position = D("-0.004")
        answer = sim._positions

        def zero_cost(request: object) -> object:
            status, body = answer(request)  # type: ignore[arg-type]
            body[0]["netCost"] = "0"
            return status, body

        sim.http.respond("GET", "/api/v1/position", zero_cost)  # type: ignore[arg-type]
        raw = await sim.venue.exchange.fetch_positions([BTC])
        position = await sim.venue.position(BTC)
        await sim.venue.close()
        assert raw[0]["side"] == "long"  # what ccxt derives
        assert position == D("-0.004")

    run(scenario)
