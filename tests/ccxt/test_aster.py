"""CcxtVenue over ccxt's real ``aster`` class: Aster's own rules.

Shared promises run in ``test_venue_contract.py``; here: the v3 signed request,
-5022 as the post-only refusal (ccxt files it as a generic exchange error),
-2021 (a stop that would trigger at once) not taken for post-only, the builder
fee ccxt attaches, and positions whose sign ccxt's parser drops.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedge_fsm import RejectReason, Side, VenueRejected
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import canned_venue
from tests.ccxt.fixtures.venue_sims import AsterSim

BTC = AsterSim.symbol


def test_post_only_limit_goes_out_as_gtx_signed_with_the_account_key_and_the_builder_fee() -> None:
    """timeInForce=GTX, newClientOrderId our id, an EIP-712 signature, ccxt's builder and feeRate."""

    async def scenario() -> None:
        sim = canned_venue("aster")
        await sim.venue.place_limit(
            BTC,
            Side.BUY,
            D("0.003"),
            D("64990.5"),
            post_only=True,
            reduce_only=False,
            client_order_id="t1e0n1",
        )
        await sim.venue.close()
        sent = sim.http.last("POST", "/fapi/v3/order").params
        assert (sent["timeInForce"], sent["newClientOrderId"]) == ("GTX", "t1e0n1")
        assert (sent["quantity"], sent["price"], sent["type"]) == ("0.003", "64990.5", "LIMIT")
        assert sent["signature"].startswith("0x") and "recvWindow" not in sent
        assert sent["feeRate"] == "0.001"

    run(scenario)


def test_code_5022_is_a_post_only_refusal() -> None:
    """Regression: Aster's -5022 came through as a generic error mapped to OTHER."""

    async def scenario() -> None:
        sim = canned_venue("aster")
        with pytest.raises(VenueRejected) as caught:
            await sim.venue.place_limit(
                BTC,
                Side.BUY,
                D("0.003"),
                sim.ask,
                post_only=True,
                reduce_only=False,
                client_order_id="t1h0n1",
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.POST_ONLY

    run(scenario)


def test_code_2021_order_would_immediately_trigger_is_not_post_only() -> None:
    """ccxt maps -2021 to OrderImmediatelyFillable; on Aster that is a stop trigger, not post-only."""

    async def scenario() -> None:
        sim = canned_venue("aster")
        sim.refuse = lambda _order: AsterSim.error(-2021, "Order would immediately trigger.")
        with pytest.raises(VenueRejected) as caught:
            await sim.venue.place_limit(
                BTC,
                Side.BUY,
                D("0.003"),
                D("64990"),
                post_only=True,
                reduce_only=False,
                client_order_id="t1h0n2",
            )
        await sim.venue.close()
        assert caught.value.reason is RejectReason.INVALID_ORDER

    run(scenario)


def test_a_short_without_notional_reads_short_from_the_signed_position_amount() -> None:
    """Regression: ccxt strips positionAmt's sign and takes the side from notional; without
    notional the short read as a long. The raw signed positionAmt decides."""

    async def scenario() -> None:
        sim = canned_venue("aster")
        sim.omit_notional = True
        sim.position = D("-0.004")
        short = await sim.venue.position(BTC)
        sim.position = D("0.002")
        long = await sim.venue.position(BTC)
        await sim.venue.close()
        assert (short, long) == (D("-0.004"), D("0.002"))

    run(scenario)


def test_a_position_whose_sign_cannot_be_known_is_refused() -> None:
    """No side, no notional, no signed size from the venue: refused, never guessed."""

    async def scenario() -> None:
        sim = canned_venue("aster")
        sim.omit_notional = True
        sim.position = D("-0.004")
        original = sim.venue.exchange.parse_position_risk

        def without_sign(position: dict, market: object = None) -> object:
            parsed = original(position, market)
            parsed["info"] = {k: v for k, v in parsed["info"].items() if k != "positionAmt"}
            return parsed

        sim.venue.exchange.parse_position_risk = without_sign
        with pytest.raises(VenueRejected, match="long or short cannot be told"):
            await sim.venue.position(BTC)
        await sim.venue.close()

    run(scenario)
