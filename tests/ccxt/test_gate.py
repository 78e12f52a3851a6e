"""CcxtVenue over ccxt's real ``gate`` class (USDT perpetuals): Gate's own rules.

Shared promises run in ``test_venue_contract.py``; here: the ``t-`` prefix ccxt
puts on client ids, mapped back so reports carry the engine's id; signed integer
contract sizes; ``tif=poc`` post-only and its ``ORDER_POC_IMMEDIATE`` refusal
(ccxt's OrderImmediatelyFillable, which on Gate *does* mean post-only).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedge_fsm import RejectReason, Side, VenueRejected
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import GateSim

BTC = GateSim.symbol


def test_client_ids_get_the_t_prefix_on_the_wire_and_lose_it_in_reports() -> None:
    """Regression: the engine saw Gate's echo 't-t1e0n1' instead of its own 't1e0n1'."""

    async def scenario() -> None:
        sim = canned_venue("gate")
        placed = await sim.venue.place_limit(
            BTC, Side.SELL, D(3), D("65010.5"), post_only=True, reduce_only=False, client_order_id="t1e0n1"
        )
        by_client = await sim.venue.order(BTC, client_order_id="t1e0n1")
        await sim.venue.close()
        sent = sim.http.last("POST", "/api/v4/futures/usdt/orders").json
        assert sent == {
            "contract": "BTC_USDT",
            "size": -3,
            "price": "65010.5",
            "tif": "poc",
            "text": "t-t1e0n1",
        }
        assert placed.client_order_id == by_client.client_order_id == "t1e0n1"
        # The lookup by client id goes to /orders/t-t1e0n1 (Gate accepts the text there).
        assert sim.http.requests[-1].path.endswith("/orders/t-t1e0n1")

    run(scenario)


def test_orders_reach_ccxt_as_numbers_and_sizes_as_integer_contracts() -> None:
    """Amounts and prices go to ccxt as numbers (rounded first), never strings."""

    async def scenario() -> None:
        sim = canned_venue("gate")
        seen: list[tuple[object, object]] = []
        create = sim.venue.exchange.create_order

        async def spy(
            symbol: str, kind: str, side: str, amount: object, price: object = None, params: object = None
        ):  # type: ignore[no-untyped-def]
            seen.append((amount, price))
            return await create(symbol, kind, side, amount, price, params)

        sim.venue.exchange.create_order = spy
        await sim.venue.place_limit(
            BTC, Side.BUY, D(3), D("64990.1"), post_only=True, reduce_only=False, client_order_id="t1e0n2"
        )
        await sim.venue.close()
        ((amount, price),) = seen
        assert (type(amount), amount) == (int, 3)
        assert (type(price), price) == (float, 64990.1)

    run(scenario)


def test_order_poc_immediate_is_post_only() -> None:
    """Gate's POC refusal label is recognised as post-only."""

    async def scenario() -> None:
        sim = canned_venue("gate")
        with pytest.raises(VenueRejected) as caught:
            await sim.venue.place_limit(
                BTC, Side.BUY, D(3), sim.ask, post_only=True, reduce_only=False, client_order_id="t1h0n1"
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.POST_ONLY

    run(scenario)


def test_a_client_id_too_long_for_gate_is_refused_before_sending() -> None:
    """Gate's text: at most 28 characters with the t- prefix."""

    async def scenario() -> None:
        sim = canned_venue("gate")
        with pytest.raises(VenueRejected, match="rule") as caught:
            await sim.venue.place_limit(
                BTC, Side.BUY, D(3), D("64990"), post_only=True, reduce_only=False, client_order_id="a" * 27
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.INVALID_ORDER
        assert sim.http.sent("POST", "/api/v4/futures/usdt/orders") == []

    run(scenario)
