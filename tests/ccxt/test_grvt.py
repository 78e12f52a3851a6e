"""CcxtVenue over ccxt's real ``grvt`` class: GRVT's own rules.

Shared promises run in ``test_venue_contract.py``; here: GRVT acknowledges a new
order as ``PENDING`` (ccxt: the non-unified ``'pending'``) under the placeholder
id ``0x00``; the adapter never keeps that id and looks the order up by the client
id, a uint64 in the range GRVT leaves to API clients. The wallet login's cookie
and account id (response headers) sign every later request.
"""

from __future__ import annotations

from decimal import Decimal as D

from hedge_fsm import OrderStatus, Side
from hedge_fsm.venues._ccxt_parse import order_info_from_ccxt
from hedge_fsm.venues._ccxt_profiles import PROFILES, wire_client_id
from tests.ccxt.fixtures.fake_http import run
from tests.ccxt.fixtures.sims import SimOrder, canned_venue
from tests.ccxt.fixtures.venue_sims import GrvtSim

BTC = GrvtSim.symbol


def test_a_pending_ack_with_placeholder_id_is_resolved_by_client_id() -> None:
    """Regression: every accepted order came back ambiguous ('pending'), and the 0x00 id would
    have become the order's identity. The order is reported under its real id, OPEN."""

    async def scenario() -> None:
        sim = canned_venue("grvt")
        info = await sim.venue.place_limit(
            BTC,
            Side.BUY,
            D("0.003"),
            D("64990.5"),
            post_only=True,
            reduce_only=False,
            client_order_id="t1e0n1",
        )
        await sim.venue.close()
        create, lookup = (
            sim.http.sent("POST", "/full/v1/create_order")[0],
            sim.http.sent("POST", "/full/v1/order")[-1],
        )
        wire = wire_client_id(PROFILES["grvt"], "t1e0n1")
        assert create.json["order"]["metadata"]["client_order_id"] == wire
        assert 2**63 <= int(wire) < 2**64
        assert create.json["order"]["post_only"] is True
        assert lookup.json == {"sub_account_id": "2147050003876484", "client_order_id": wire}
        assert info.order_id == sim.order_for("t1e0n1").order_id != "0x00"
        assert (info.client_order_id, info.status) == ("t1e0n1", OrderStatus.OPEN)

    run(scenario)


def test_pending_is_an_open_order() -> None:
    """ccxt's grvt maps PENDING to 'pending'; the profile reads it as open."""
    sim = canned_venue("grvt")
    pending = SimOrder(
        order_id="0x01",
        client_order_id="1",
        side="buy",
        kind="limit",
        quantity=D("0.003"),
        price=D("64990"),
        post_only=False,
        reduce_only=False,
    )
    raw = sim.venue.exchange.parse_order(sim.wire(pending, placeholder=True))
    assert raw["status"] == "pending"
    info = order_info_from_ccxt(dict(raw, id="0x01"), symbol=BTC, profile=PROFILES["grvt"])
    assert info.status is OrderStatus.OPEN


def test_the_wallet_login_cookie_signs_later_requests_and_the_window_is_the_signature_expiry() -> None:
    """Login once (EIP-712), then Cookie + X-Grvt-Account-Id; request window 30 s."""

    async def scenario() -> None:
        sim = canned_venue("grvt")
        await sim.venue.place_limit(
            BTC,
            Side.SELL,
            D("0.003"),
            D("65010"),
            post_only=True,
            reduce_only=False,
            client_order_id="t1e0n2",
        )
        await sim.venue.close()
        assert len(sim.http.sent("POST", "/auth/wallet/login")) == 1
        create = sim.http.last("POST", "/full/v1/create_order")
        assert create.headers["Cookie"] == "gravity=eyJ.test.cookie"
        assert sim.venue.capabilities.request_window == 30

    run(scenario)
