"""The Venue contract on every ccxt venue, through ccxt's real classes on canned HTTP.

Each case runs against :func:`tests.ccxt.fixtures.sims.canned_venue`: ccxt builds
and signs the requests, parses the answers and classifies the error bodies; the
simulator answers in the venue's own format. Venue-specific wire details (what
the request looks like) are in each venue's own test module; here the same
promises are checked everywhere: the instrument, the BBO, ids that round-trip,
post-only and reduce-only refusals told apart, cancel reporting the final fill,
lookups by id and by client id, position signs, Decimals, and what every kind of
failure means.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import ccxt.async_support as ccxt
import pytest

from hedge_fsm import AmbiguousOutcome, OrderNotFound, OrderStatus, RejectReason, Side, VenueRejected
from tests.ccxt.fixtures.fake_http import assert_no_float, assert_secret_free, run
from tests.ccxt.fixtures.sims import SIMS, VenueSim, canned_venue
from tests.ccxt.fixtures.venue_sims import TRADEABLE

VENUES = sorted(TRADEABLE)


def _venue_sim(exchange_id: str) -> VenueSim:
    return canned_venue(exchange_id)


async def _rest(sim: VenueSim, client_order_id: str = "t1e0n1", side: Side = Side.BUY) -> Any:
    """A resting post-only limit two ticks away from the touch."""
    price = sim.bid - 2 * sim.tick if side is Side.BUY else sim.ask + 2 * sim.tick
    return await sim.venue.place_limit(
        sim.symbol,
        side,
        sim.quantity,
        price,
        post_only=True,
        reduce_only=False,
        client_order_id=client_order_id,
    )


def test_every_sim_is_registered() -> None:
    """The canned venues cover every tradeable ccxt venue this adapter supports."""
    assert set(VENUES) <= set(SIMS)
    assert {"hyperliquid"} <= set(VENUES)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_instrument_is_the_venues_market_data_in_decimals(exchange_id: str) -> None:
    """Tick, lot, minimums, contract size and fees as the venue's market data says."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        instrument = await sim.venue.instrument(sim.symbol)
        await sim.venue.close()
        assert_no_float(instrument)
        got = {name: str(getattr(instrument, name).normalize()) for name in sim.expected_instrument}
        assert got == {k: str(D(v).normalize()) for k, v in sim.expected_instrument.items()}

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_best_bid_offer_is_the_top_of_the_book(exchange_id: str) -> None:
    """The BBO's prices are exactly the book's, in Decimals."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        bbo = await sim.venue.best_bid_offer(sim.symbol)
        await sim.venue.close()
        assert (bbo.bid, bbo.ask) == (sim.bid, sim.ask)
        assert bbo.bid_size > 0 and bbo.ask_size > 0
        assert_no_float(bbo)

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_a_resting_post_only_order_round_trips_its_ids(exchange_id: str) -> None:
    """Placed, acknowledged OPEN under the engine's client id; found by id and by client id."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        placed = await _rest(sim)
        booked = sim.order_for("t1e0n1")
        by_id = await sim.venue.order(sim.symbol, order_id=placed.order_id)
        by_client = await sim.venue.order(sim.symbol, client_order_id="t1e0n1")
        await sim.venue.close()
        assert booked.post_only and not booked.reduce_only
        assert booked.price == sim.bid - 2 * sim.tick and booked.quantity == sim.quantity
        for info in (placed, by_id, by_client):
            assert info.client_order_id == "t1e0n1"
            assert info.order_id == placed.order_id == booked.order_id
            assert info.status is OrderStatus.OPEN
            assert info.filled_quantity == 0
            assert_no_float(info)

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_a_lookup_by_client_id_works_from_a_fresh_venue_object(exchange_id: str) -> None:
    """After a restart (no in-memory map) the engine's client id still finds the order."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        placed = await _rest(sim, "r7e0n3")
        fresh = type(sim).make_venue(name=exchange_id)
        sim.http.exchange = fresh.exchange
        sim.http.install()
        found = await fresh.order(sim.symbol, client_order_id="r7e0n3")
        await sim.venue.close()
        await fresh.close()
        assert (found.order_id, found.client_order_id) == (placed.order_id, "r7e0n3")

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_cancel_reports_the_final_fill_and_a_filled_order_reports_its_venue_price(exchange_id: str) -> None:
    """A partly filled order cancelled: CANCELED with the fill and the venue's fill price."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        placed = await _rest(sim)
        order = sim.order_for("t1e0n1")
        sim.fill(order, sim.quantity / 3, price=order.price)
        cancelled = await sim.venue.cancel(sim.symbol, placed.order_id)
        await sim.venue.close()
        assert cancelled.status is OrderStatus.CANCELED
        assert cancelled.filled_quantity == sim.quantity / 3
        assert cancelled.average_price == order.price
        assert cancelled.client_order_id == "t1e0n1"

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_a_cancel_that_loses_the_race_to_a_fill_reports_filled(exchange_id: str) -> None:
    """The venue refuses the cancel of a filled order: the lookup says FILLED, fill counted."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        placed = await _rest(sim)
        sim.fill(sim.order_for("t1e0n1"))
        after = await sim.venue.cancel(sim.symbol, placed.order_id)
        await sim.venue.close()
        assert after.status is OrderStatus.FILLED
        assert after.filled_quantity == sim.quantity
        assert after.average_price == sim.bid - 2 * sim.tick

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_market_order_fills_at_the_touch_within_the_slippage_bound(exchange_id: str) -> None:
    """A market sell fills at the bid; where it is a bounded limit, the bound is below the bid."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        info = await sim.venue.place_market(
            sim.symbol, Side.SELL, sim.quantity, reduce_only=False, client_order_id="t1h0n0"
        )
        looked_up = await sim.venue.order(sim.symbol, client_order_id="t1h0n0")
        booked = sim.order_for("t1h0n0")
        await sim.venue.close()
        assert sim.position == -sim.quantity
        for report in (info, looked_up):
            assert report.client_order_id == "t1h0n0"
        assert looked_up.status is OrderStatus.FILLED
        assert looked_up.average_price == sim.bid
        if booked.price is not None:
            # A marketable limit: at most market_slippage_bps (50) below the bid.
            assert sim.bid * D("0.995") <= booked.price < sim.bid

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_positions_are_signed_from_what_the_venue_sent(exchange_id: str) -> None:
    """Short negative, long positive, flat zero."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        flat = await sim.venue.position(sim.symbol)
        sim.position = -sim.quantity * 4 / 3
        short = await sim.venue.position(sim.symbol)
        sim.position = sim.quantity * 2 / 3
        long = await sim.venue.position(sim.symbol)
        await sim.venue.close()
        assert (flat, short, long) == (D(0), -sim.quantity * 4 / 3, sim.quantity * 2 / 3)
        assert all(isinstance(x, D) for x in (flat, short, long))

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_a_post_only_order_that_would_take_is_told_apart(exchange_id: str) -> None:
    """A crossing post-only order: refused (or reported) with reason POST_ONLY, nothing filled."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        outcome: Any
        try:
            outcome = await sim.venue.place_limit(
                sim.symbol,
                Side.BUY,
                sim.quantity,
                sim.ask,
                post_only=True,
                reduce_only=False,
                client_order_id="t1h0n1",
            )
        except VenueRejected as exc:
            outcome = exc
        if not isinstance(outcome, VenueRejected) and outcome.status is OrderStatus.OPEN:
            # Venues that accept, then cancel it: the next look says why.
            outcome = await sim.venue.order(sim.symbol, order_id=outcome.order_id)
        await sim.venue.close()
        assert sim.position == 0
        if isinstance(outcome, VenueRejected):
            assert outcome.reason is RejectReason.POST_ONLY, outcome
            assert not isinstance(outcome, AmbiguousOutcome)
        else:
            assert outcome.is_post_only_reject, outcome

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_reduce_only_that_would_grow_the_position_is_refused(exchange_id: str) -> None:
    """Flat account, reduce-only buy: refused, definitively, nothing booked."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        outcome: Any
        try:
            outcome = await sim.venue.place_market(
                sim.symbol, Side.BUY, sim.quantity, reduce_only=True, client_order_id="t1r0n0"
            )
        except VenueRejected as exc:
            outcome = exc
        await sim.venue.close()
        assert sim.position == 0
        if isinstance(outcome, VenueRejected):
            assert outcome.reason in (RejectReason.REDUCE_ONLY, RejectReason.INVALID_ORDER), outcome
        else:
            assert outcome.status in (OrderStatus.REJECTED, OrderStatus.CANCELED), outcome
            assert outcome.filled_quantity == 0

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
@pytest.mark.parametrize(
    ("kind", "reason"),
    [("insufficient_funds", RejectReason.INSUFFICIENT_FUNDS), ("invalid_order", RejectReason.INVALID_ORDER)],
)
def test_definitive_refusals_keep_their_reason(exchange_id: str, kind: str, reason: RejectReason) -> None:
    """The venue's own margin and validity refusals: VenueRejected with the right reason."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        sim.refuse_with(kind)
        try:
            outcome: Any = await _rest(sim)
        except VenueRejected as exc:
            outcome = exc
        await sim.venue.close()
        if isinstance(outcome, VenueRejected):
            assert outcome.reason is reason
            assert_secret_free(outcome)
        else:
            # Venues that accept, then close the order with their reason (Paradex margin).
            assert (outcome.status, outcome.reject_reason) == (OrderStatus.REJECTED, reason), outcome
            assert outcome.filled_quantity == 0

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_a_placement_timeout_is_ambiguous_and_a_query_timeout_is_not(exchange_id: str) -> None:
    """The request may have reached the venue: ambiguous; a read that times out is retryable."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        await sim.venue.instrument(sim.symbol)
        method, path = sim.create_route
        sim.http.timeout(method, path)
        with pytest.raises(AmbiguousOutcome) as caught:
            await _rest(sim)
        await sim.venue.close()
        assert caught.value.operation == "place_limit"
        assert_secret_free(caught.value)

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_a_non_ccxt_exception_inside_ccxt_is_ambiguous_on_placement(exchange_id: str) -> None:
    """Regression (KuCoin Futures TypeError): a raw exception from ccxt never escapes a placement."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        await sim.venue.instrument(sim.symbol)
        method, path = sim.create_route
        sim.http.fail(method, path, lambda _r: TypeError("'<' not supported between 'str' and 'int'"))
        with pytest.raises(AmbiguousOutcome, match="unexpected TypeError"):
            await _rest(sim)
        await sim.venue.close()

    run(scenario)


@pytest.mark.parametrize("exchange_id", VENUES)
def test_an_unknown_order_is_not_found(exchange_id: str) -> None:
    """A lookup of an id or a client id the venue never saw: OrderNotFound."""

    async def scenario() -> None:
        sim = _venue_sim(exchange_id)
        with pytest.raises(OrderNotFound):
            await sim.venue.order(sim.symbol, client_order_id="z9e9n9")
        await sim.venue.close()

    run(scenario)


def test_ccxt_not_supported_is_a_capability_error_never_an_answer_about_an_order() -> None:
    """ccxt's NotSupported (raised before anything is sent) is refused as a capability."""
    from hedge_fsm.errors import CapabilityError

    async def scenario() -> None:
        sim = _venue_sim(VENUES[0])
        await sim.venue.instrument(sim.symbol)

        def unsupported(*_args: Any, **_kwargs: Any) -> Any:
            raise ccxt.NotSupported(f"{sim.exchange_id} createOrder() does not support this")

        sim.venue.exchange.create_order = unsupported
        with pytest.raises(CapabilityError):
            await _rest(sim)
        await sim.venue.close()

    run(scenario)
