"""CcxtVenue over ccxt's real ``hyperliquid`` class: what goes on the wire and what comes back.

The shared promises (instrument, lookups, refusals, positions) run for every venue
in ``test_venue_contract.py``; these are Hyperliquid's own: the ``cloid`` format,
``Alo`` post-only, market orders as an IOC bounded by ``market_slippage_bps``,
the terse ``filled`` acknowledgement, IOC refusals that are not post-only
refusals, fill prices from ``userFills``, and ccxt's builder fee in the fees.
"""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest

from hedge_fsm import OrderStatus, RejectReason, Side, VenueRejected
from hedge_fsm.venue import AmendSupport
from hedge_fsm.venues._ccxt_profiles import PROFILES, wire_client_id
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import HyperliquidSim

BTC = HyperliquidSim.symbol


def _orders_sent(sim: HyperliquidSim) -> list[dict[str, object]]:
    return [
        wire
        for r in sim.http.sent("POST", "/exchange")
        if r.json["action"]["type"] == "order"
        for wire in r.json["action"]["orders"]
    ]


def test_client_ids_go_out_as_0x_and_32_hex_digits_and_come_back_as_the_engines() -> None:
    """Regression: the engine's id is sent as a 128-bit hex cloid, reported as the engine's id."""

    async def scenario() -> None:
        sim = canned_venue("hyperliquid")
        sim.position = D("0.003")  # a long to reduce
        info = await sim.venue.place_limit(
            BTC,
            Side.SELL,
            D("0.003"),
            D("65010"),
            post_only=True,
            reduce_only=True,
            client_order_id="t1h1n0",
        )
        await sim.venue.close()
        (wire,) = _orders_sent(sim)
        assert re.fullmatch(r"0x[0-9a-f]{32}", str(wire["c"]))
        assert wire["c"] == wire_client_id(PROFILES["hyperliquid"], "t1h1n0")
        assert wire == {
            "a": 0,
            "b": False,
            "p": "65010",
            "s": "0.003",
            "r": True,
            "t": {"limit": {"tif": "Alo"}},
            "c": wire["c"],
        }
        assert info.client_order_id == "t1h1n0"

    run(scenario)


def test_market_order_is_an_ioc_bounded_by_the_slippage_setting() -> None:
    """Regression: ccxt needs a price for a market order; the adapter sends the touch and its bound."""

    async def scenario() -> None:
        sim = canned_venue("hyperliquid", venue_kwargs={"market_slippage_bps": D(20)})
        info = await sim.venue.place_market(
            BTC, Side.BUY, D("0.002"), reduce_only=False, client_order_id="t1h0n3"
        )
        await sim.venue.close()
        (wire,) = _orders_sent(sim)
        # ask 65001 + 20 bps = 65131.002, rounded by ccxt to 5 significant figures.
        assert wire["p"] == "65131"
        assert wire["t"] == {"limit": {"tif": "Ioc"}}
        # The terse ack {"filled": {totalSz, avgPx, oid}} has no status: filled == amount is FILLED.
        assert info.status is OrderStatus.FILLED
        assert (info.filled_quantity, info.average_price) == (D("0.002"), D("65001"))

    run(scenario)


def test_an_ioc_that_finds_nothing_to_take_is_not_a_post_only_refusal() -> None:
    """Regression: "could not immediately match" refuses an IOC; it is not POST_ONLY."""

    async def scenario() -> None:
        sim = canned_venue("hyperliquid")
        sim.refuse_with("ioc_nothing")
        with pytest.raises(VenueRejected) as caught:
            await sim.venue.place_market(
                BTC, Side.BUY, D("0.002"), reduce_only=False, client_order_id="t1h0n4"
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.INVALID_ORDER

    run(scenario)


def test_the_post_only_refusal_is_recognised_by_hyperliquids_own_words() -> None:
    """ "Post only order would have immediately matched" is POST_ONLY; nothing is booked."""

    async def scenario() -> None:
        sim = canned_venue("hyperliquid")
        with pytest.raises(VenueRejected) as caught:
            await sim.venue.place_limit(
                BTC,
                Side.BUY,
                D("0.003"),
                sim.ask,
                post_only=True,
                reduce_only=False,
                client_order_id="t1h0n5",
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.POST_ONLY
        assert "immediately matched" in str(caught.value)

    run(scenario)


def test_a_filled_order_looked_up_gets_its_price_from_the_fills_not_the_limit() -> None:
    """orderStatus has no average: the price comes from userFills (a fill better than the limit)."""

    async def scenario() -> None:
        sim = canned_venue("hyperliquid")
        placed = await sim.venue.place_limit(
            BTC, Side.BUY, D("0.003"), D("64990"), post_only=True, reduce_only=False, client_order_id="t1e0n1"
        )
        sim.fill(sim.order_for("t1e0n1"), price=D("64985"))
        found = await sim.venue.order(BTC, order_id=placed.order_id)
        await sim.venue.close()
        assert found.status is OrderStatus.FILLED
        assert found.average_price == D("64985")
        assert any(
            r.json.get("type") in ("userFills", "userFillsByTime") for r in sim.http.sent("POST", "/info")
        )

    run(scenario)


def test_the_builder_fee_ccxt_attaches_is_in_the_instruments_fees() -> None:
    """ccxt approves a builder fee and attaches it (f=10, 1 bp) to every order: both rates include it."""

    async def scenario() -> None:
        sim = canned_venue("hyperliquid")
        with_builder = await sim.venue.instrument(BTC)
        await sim.venue.place_limit(
            BTC, Side.BUY, D("0.003"), D("64990"), post_only=True, reduce_only=False, client_order_id="t1e0n1"
        )
        await sim.venue.close()
        order_action = next(
            r.json["action"]
            for r in sim.http.sent("POST", "/exchange")
            if r.json["action"]["type"] == "order"
        )
        assert order_action["builder"]["f"] == 10
        approvals = [
            r for r in sim.http.sent("POST", "/exchange") if r.json["action"]["type"] == "approveBuilderFee"
        ]
        assert approvals and approvals[0].json["action"]["maxFeeRate"] == "0.01%"
        assert (with_builder.maker_fee, with_builder.taker_fee) == (
            D("0.00015") + D("0.0001"),
            D("0.00045") + D("0.0001"),
        )

        off = canned_venue("hyperliquid")
        off.venue.exchange.options["builderFee"] = False
        plain = await off.venue.instrument(BTC)
        await off.venue.close()
        assert (plain.maker_fee, plain.taker_fee) == (D("0.00015"), D("0.00045"))

    run(scenario)


def test_capabilities_say_market_orders_are_bounded_limits_and_there_is_no_request_window() -> None:
    """native_market False (ccxt needs a price), lookups by id and cloid, native amend; no window:
    ccxt 4.5.90 signs orders without Hyperliquid's expiresAfter."""
    sim = canned_venue("hyperliquid")
    caps = sim.venue.capabilities
    assert caps.native_market is False
    assert caps.order_lookup and caps.lookup_by_client_id
    assert caps.amend is AmendSupport.NATIVE
    assert caps.request_window is None
    assert caps.order_stream is False  # an async_support instance: no ccxt.pro streams
