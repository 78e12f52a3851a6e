"""Fault injection: each fault kind has its effect, and no fault makes the venue lie.

Faults are forced with probability 1 on the quiet ``TEST`` venue of ``conftest.py``
(bid 100.0, ask 100.1); the venue's state is then checked through a second,
fault-free view of the same order where needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import attrs
import pytest

from hedge_fsm import (
    AmbiguousOutcome,
    InvalidValue,
    OrderInfo,
    OrderNotFound,
    OrderStatus,
    RejectReason,
    Side,
    VenueError,
    VenueRejected,
)
from hedge_fsm.sim import (
    FAULTY,
    BookConfig,
    FaultPlan,
    LatencyModel,
    MarketModel,
    SimVenue,
    SymbolSpec,
    build_venues,
    run,
)
from hedge_fsm.venue import VenueCapabilities
from tests.sim.conftest import QUIET_BOOK, TEST_INSTRUMENT

D = Decimal
VenueFactory = Callable[..., SimVenue]
LATENCY = LatencyModel.uniform(0.1)  # the venue acts at +0.05 s, replies at +0.1 s


async def _bid(venue: SimVenue, cid: str, price: str = "100.0") -> OrderInfo:
    return await venue.place_limit(
        "TEST",
        Side.BUY,
        D("0.5"),
        D(price),
        post_only=True,
        reduce_only=False,
        client_order_id=cid,
    )



def test_rate_limit_refuses_every_call_and_does_nothing(make_venue: VenueFactory) -> None:
    """With rate_limit=1 places, lookups, quotes and positions raise RATE_LIMITED; no order."""

    async def scenario() -> list[RejectReason]:
        venue = make_venue(faults=FaultPlan(rate_limit=1.0))
        reasons = []
        calls = [
            _bid(venue, "rl"),
            venue.best_bid_offer("TEST"),
            venue.position("TEST"),
            venue.order("TEST", client_order_id="rl"),
        ]
        for call in calls:
            with pytest.raises(VenueRejected) as caught:
                await call
            reasons.append(caught.value.reason)
        assert venue.orders() == []
        return reasons

    assert run(scenario()) == [RejectReason.RATE_LIMITED] * 4


def test_place_reject_is_definitive(make_venue: VenueFactory) -> None:
    """A definitive reject raises VenueRejected (not ambiguous) and creates nothing."""

    async def scenario() -> tuple[type[BaseException], list[OrderInfo]]:
        venue = make_venue(faults=FaultPlan(place_reject=1.0))
        with pytest.raises(VenueError) as caught:
            await _bid(venue, "rj")
        return type(caught.value), venue.orders()

    assert run(scenario()) == (VenueRejected, [])


@pytest.mark.parametrize("processed", [True, False])
def test_place_timeout_is_ambiguous_and_raised_after_processing(
    make_venue: VenueFactory, processed: bool
) -> None:
    """A timed-out place raises AmbiguousOutcome only after the round trip plus the timeout
    delay; a lookup by client id then finds the order iff the venue processed it."""
    plan = FaultPlan(
        place_timeout=1.0, timeout_processed=1.0 if processed else 0.0, timeout_delay=0.4
    )

    async def scenario() -> tuple[float, bool]:
        venue = make_venue(faults=plan, latency=LATENCY)
        loop = asyncio.get_running_loop()
        with pytest.raises(AmbiguousOutcome):
            await _bid(venue, "to")
        raised_at = loop.time()
        try:  # lookups are not subject to place faults: this one tells the truth
            await venue.order("TEST", client_order_id="to")
            exists = True
        except OrderNotFound:
            exists = False
        return raised_at, exists

    raised_at, exists = run(scenario())
    assert raised_at == pytest.approx(0.5)
    assert exists is processed


@pytest.mark.parametrize("processed", [True, False])
def test_cancel_timeout_is_ambiguous(make_venue: VenueFactory, processed: bool) -> None:
    """A timed-out cancel raises AmbiguousOutcome; the order is CANCELED iff it was processed."""
    plan = FaultPlan(cancel_timeout=1.0, timeout_processed=1.0 if processed else 0.0)

    async def scenario() -> OrderStatus:
        venue = make_venue(faults=plan)
        order = await _bid(venue, "ct")
        with pytest.raises(AmbiguousOutcome):
            await venue.cancel("TEST", order.order_id)
        return (await venue.order("TEST", order_id=order.order_id)).status

    expected = OrderStatus.CANCELED if processed else OrderStatus.OPEN
    assert run(scenario()) is expected


def test_lost_ack_means_the_order_exists(make_venue: VenueFactory) -> None:
    """With every ack lost, the place raises AmbiguousOutcome but the order rests at the venue."""

    async def scenario() -> list[OrderInfo]:
        venue = make_venue(faults=FaultPlan(lost_ack=1.0), latency=LATENCY)
        with pytest.raises(AmbiguousOutcome):
            await _bid(venue, "la")
        return venue.open_orders()

    open_orders = run(scenario())
    assert [o.client_order_id for o in open_orders] == ["la"]


def test_duplicate_report_repeats_the_last_snapshot(make_venue: VenueFactory) -> None:
    """With duplicate reports, a lookup after a fill returns the ack's snapshot again (OPEN),
    never something newer than the truth."""

    async def scenario() -> tuple[OrderInfo, OrderInfo, OrderInfo]:
        venue = make_venue(faults=FaultPlan(duplicate_report=1.0))
        ack = await _bid(venue, "dr")
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.01"), price=D("99.9"))
        report = await venue.order("TEST", order_id=ack.order_id)
        return ack, report, venue.orders()[0]

    ack, report, truth = run(scenario())
    assert report == ack
    assert truth.status is OrderStatus.FILLED


def test_stale_reports_are_older_snapshots_never_future_ones(make_venue: VenueFactory) -> None:
    """Out-of-order reports come from the order's past: their cumulative fill never exceeds the
    truth at the time, and some reports really are older than the truth."""

    async def scenario() -> list[tuple[Decimal, Decimal]]:
        venue = make_venue(faults=FaultPlan(stale_report=0.7, seed=2))
        venue.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.2"))
        order = await _bid(venue, "sr")
        pairs = []
        for _ in range(5):
            venue.hooks.inject_trade("TEST", Side.SELL, D("0.1"))
            report = await venue.order("TEST", order_id=order.order_id)
            truth = venue.orders()[0]
            pairs.append((report.filled_quantity, truth.filled_quantity))
        return pairs

    pairs = run(scenario())
    assert all(reported <= truth for reported, truth in pairs)
    assert any(reported < truth for reported, truth in pairs)


def test_stale_bbo_is_an_older_quote_with_its_timestamp(make_venue: VenueFactory) -> None:
    """A stale BBO shows the quote from before a move, stamped with when it was current."""

    async def scenario() -> tuple[Decimal, Decimal]:
        venue = make_venue(faults=FaultPlan(stale_bbo=1.0, stale_bbo_age=0.5))
        await venue.best_bid_offer("TEST")  # at 0: the quote is 100.0 / 100.1
        await asyncio.sleep(1.0)
        venue.hooks.set_quote("TEST", bid=D("101.0"), ask=D("101.1"))
        bbo = await venue.best_bid_offer("TEST")  # at 1.0, showing a quote 0-0.5 s old
        return bbo.bid, bbo.timestamp

    assert run(scenario()) == (D("100.0"), D("0.0"))


def test_outage_window_refuses_calls_inside_it_only(make_venue: VenueFactory) -> None:
    """During [1, 2) every call is refused VENUE_UNAVAILABLE and nothing is created; after the
    window the same calls work."""

    async def scenario() -> tuple[list[RejectReason], OrderInfo]:
        venue = make_venue(faults=FaultPlan(outages=((1.0, 2.0),)))
        await asyncio.sleep(1.5)
        reasons = []
        for call in (_bid(venue, "out"), venue.best_bid_offer("TEST"), venue.position("TEST")):
            with pytest.raises(VenueRejected) as caught:
                await call
            reasons.append(caught.value.reason)
        assert venue.orders() == []
        await asyncio.sleep(0.5)
        return reasons, await _bid(venue, "out")

    reasons, placed = run(scenario())
    assert reasons == [RejectReason.VENUE_UNAVAILABLE] * 3
    assert placed.status is OrderStatus.OPEN


def test_outage_can_make_places_ambiguous_and_unprocessed(make_venue: VenueFactory) -> None:
    """With ``outage_places_ambiguous`` a place in an outage times out and was not processed."""
    plan = FaultPlan(outages=((0.0, 1.0),), outage_places_ambiguous=True)

    async def scenario() -> list[OrderInfo]:
        venue = make_venue(faults=plan)
        with pytest.raises(AmbiguousOutcome):
            await _bid(venue, "oa")
        return venue.orders()

    assert run(scenario()) == []


def test_recurring_outages() -> None:
    """``outage_every``/``outage_duration`` take the venue down at the end of every period."""
    plan = FaultPlan(outage_every=10.0, outage_duration=0.25)
    assert [plan.in_outage(t) for t in (0.0, 9.7, 9.8, 19.9, 20.0)] == [
        False,
        False,
        True,
        True,
        False,
    ]


def test_fault_plan_validates_probabilities() -> None:
    """A probability outside [0, 1] or a reversed outage window is refused at construction."""
    with pytest.raises(InvalidValue, match="rate_limit"):
        FaultPlan(rate_limit=1.5)
    with pytest.raises(InvalidValue, match="start < end"):
        FaultPlan(outages=((2.0, 1.0),))


def test_faults_never_overfill_or_misreport_a_terminal_order(make_venue: VenueFactory) -> None:
    """Under every fault kind at once, with random flow, no order fills beyond its quantity and
    every terminal report carries the order's true final fill."""
    book = BookConfig(
        reference_price=D("100.0"),
        volatility=0.0005,
        depth=D("1.0"),
        trade_rate=10.0,
        trade_size_mean=D("0.3"),
    )
    plan = attrs.evolve(FAULTY.faults, seed=5)

    async def scenario() -> tuple[list[OrderInfo], SimVenue]:
        venue = make_venue(faults=plan, latency=LatencyModel.uniform(0.03, 0.02), book=book, seed=5)
        reports: list[OrderInfo] = []
        for i in range(60):
            try:
                bbo = await venue.best_bid_offer("TEST")
                placed = await _bid(venue, f"f{i}", price=str(bbo.bid))
                reports.append(placed)
                await asyncio.sleep(0.2)
                reports.append(await venue.order("TEST", order_id=placed.order_id))
                reports.append(await venue.cancel("TEST", placed.order_id))
            except VenueError:
                await asyncio.sleep(0.1)
        return reports, venue

    reports, venue = run(scenario())
    final = {o.order_id: o for o in venue.orders()}
    assert sum(venue.faults.counts.values()) > 10  # the faults really happened
    for report in reports:
        assert report.filled_quantity <= report.quantity
        if report.is_terminal:
            assert report.filled_quantity == final[report.order_id].filled_quantity
    for order in final.values():
        fills = sum((f.quantity for f in venue.fills if f.order_id == order.order_id), D(0))
        assert fills == order.filled_quantity <= order.quantity


# ---------------------------------------------------------------------- untidier venues


@pytest.mark.parametrize("processed", [True, False])
def test_hung_place_never_replies_and_may_have_been_processed(
    make_venue: VenueFactory, processed: bool
) -> None:
    """A hung place never returns (only the caller's timeout ends the wait, on virtual time);
    the order exists iff the venue processed the request."""
    plan = FaultPlan(hang_place=1.0, timeout_processed=1.0 if processed else 0.0)

    async def scenario() -> tuple[float, list[OrderInfo]]:
        venue = make_venue(faults=plan, latency=LATENCY)
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_bid(venue, "hp"), timeout=30.0)
        return loop.time(), venue.orders()

    gave_up_at, orders = run(scenario())
    assert gave_up_at == pytest.approx(30.0)
    assert [o.client_order_id for o in orders] == (["hp"] if processed else [])


@pytest.mark.parametrize("operation", ["cancel", "order", "bbo", "position"])
def test_every_operation_can_hang(make_venue: VenueFactory, operation: str) -> None:
    """With ``hang_<operation>=1`` that call never returns, while the other calls still work."""
    field = {"cancel": "hang_cancel", "order": "hang_query", "bbo": "hang_bbo",
             "position": "hang_position"}[operation]  # fmt: skip
    plan = FaultPlan(**{field: 1.0, "timeout_processed": 0.0})  # type: ignore[arg-type]

    async def scenario() -> OrderStatus:
        venue = make_venue(faults=plan, latency=LATENCY)
        order = await _bid(venue, "h")
        calls = {
            "cancel": lambda: venue.cancel("TEST", order.order_id),
            "order": lambda: venue.order("TEST", order_id=order.order_id),
            "bbo": lambda: venue.best_bid_offer("TEST"),
            "position": lambda: venue.position("TEST"),
        }
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(calls[operation](), timeout=5.0)
        others = [name for name in calls if name not in (operation, "cancel")]
        for name in others:
            await asyncio.wait_for(calls[name](), timeout=5.0)
        return venue.orders()[0].status

    # A hung cancel that was not processed leaves the order resting.
    assert run(scenario()) is OrderStatus.OPEN


def test_late_place_appears_after_the_lookups_found_nothing(make_venue: VenueFactory) -> None:
    """A late place times out, a lookup right after finds nothing, and the order then appears
    at the venue seconds later (so "not found" is no proof that it is dead)."""
    plan = FaultPlan(late_place=1.0, late_delay_min=2.0, late_delay_max=2.0, timeout_delay=0.4)

    async def scenario() -> tuple[float, bool, list[str]]:
        venue = make_venue(faults=plan, latency=LATENCY)
        loop = asyncio.get_running_loop()
        with pytest.raises(AmbiguousOutcome):
            await _bid(venue, "late")
        told_at = loop.time()
        try:
            await venue.order("TEST", client_order_id="late")
            found_early = True
        except OrderNotFound:
            found_early = False
        assert venue.late_requests == 1
        await venue.settle()
        assert venue.late_requests == 0
        return told_at, found_early, [o.client_order_id for o in venue.open_orders()]

    told_at, found_early, resting = run(scenario())
    assert told_at == pytest.approx(0.5)  # round trip 0.1 + timeout delay 0.4
    assert found_early is False
    assert resting == ["late"]  # arrived at 0.05 + 2.0


def test_late_place_after_its_request_window_is_refused_never_executed(
    make_venue: VenueFactory,
) -> None:
    """A late place that reaches a venue with a 1 s request window 2 s after it was sent is
    refused on arrival: it never exists, whatever anyone waits."""
    plan = FaultPlan(late_place=1.0, late_delay_min=2.0, late_delay_max=2.0)

    async def scenario() -> tuple[list[OrderInfo], str]:
        venue = SimVenue(
            "win",
            MarketModel(0),
            [SymbolSpec(instrument=TEST_INSTRUMENT, book=QUIET_BOOK)],
            latency=LATENCY,
            faults=plan,
            capabilities=VenueCapabilities(request_window=1.0),
        )
        with pytest.raises(AmbiguousOutcome):
            await _bid(venue, "dead")
        await venue.settle()
        await asyncio.sleep(10.0)
        return venue.orders(), venue.log.text()

    orders, text = run(scenario())
    assert orders == []
    assert "outside the request window of 1.0 s" in text


def test_request_window_refuses_a_slow_request_definitively(make_venue: VenueFactory) -> None:
    """Without any fault, a place whose request travels longer than the window is refused
    (VenueRejected, nothing created); a fast one is accepted."""

    async def scenario() -> tuple[RejectReason, list[str]]:
        venue = SimVenue(
            "win",
            MarketModel(0),
            [SymbolSpec(instrument=TEST_INSTRUMENT, book=QUIET_BOOK)],
            latency=LatencyModel.uniform(0.1),  # arrives 0.05 s after sending
            capabilities=VenueCapabilities(request_window=0.01),
        )
        with pytest.raises(VenueRejected) as caught:
            await _bid(venue, "slow")
        return caught.value.reason, [o.client_order_id for o in venue.orders()]

    reason, orders = run(scenario())
    assert reason is RejectReason.OTHER
    assert orders == []


def test_understated_cancel_reply_lies_once_and_lookups_tell_the_truth(
    make_venue: VenueFactory,
) -> None:
    """A cancel reply understates a partial fill (CANCELED, less filled than the venue's own
    fills); the next lookup reports the true fill. The venue says it reports cancels early."""

    async def scenario() -> tuple[OrderInfo, OrderInfo, Decimal, bool]:
        venue = make_venue(faults=FaultPlan(understate_cancel=1.0, seed=3))
        venue.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.2"))
        order = await _bid(venue, "us")  # inside the spread: first in the queue
        venue.hooks.inject_trade("TEST", Side.SELL, D("0.3"))
        reply = await venue.cancel("TEST", order.order_id)
        later = await venue.order("TEST", order_id=order.order_id)
        filled = sum((f.quantity for f in venue.fills), D(0))
        return reply, later, filled, venue.capabilities.reports_cancel_early

    reply, later, filled, says_so = run(scenario())
    assert filled == D("0.3")
    assert reply.status is OrderStatus.CANCELED
    assert reply.filled_quantity < filled
    assert later.status is OrderStatus.CANCELED and later.filled_quantity == filled
    assert says_so is True


def test_understated_cancel_needs_a_fill_to_understate(make_venue: VenueFactory) -> None:
    """An order that filled nothing is reported truthfully (there is nothing to understate)."""

    async def scenario() -> OrderInfo:
        venue = make_venue(faults=FaultPlan(understate_cancel=1.0))
        order = await _bid(venue, "un")
        return await venue.cancel("TEST", order.order_id)

    reply = run(scenario())
    assert reply.status is OrderStatus.CANCELED and reply.filled_quantity == 0


def test_lagging_position_shows_a_fill_only_after_its_lag(make_venue: VenueFactory) -> None:
    """With every fill lagging up to 0.5 s, a read right after a fill does not show it yet; a
    read 0.5 s later shows the venue's true position."""
    plan = FaultPlan(position_lag=1.0, position_lag_max=0.5)

    async def scenario() -> tuple[Decimal, Decimal, Decimal]:
        venue = make_venue(faults=plan)
        await venue.place_market(
            "TEST", Side.BUY, D("0.2"), reduce_only=False, client_order_id="m"
        )
        early = await venue.position("TEST")
        await asyncio.sleep(0.5)
        late = await venue.position("TEST")
        return early, late, venue.positions()["TEST"]

    early, late, truth = run(scenario())
    assert truth == D("0.2")
    assert early == 0
    assert late == truth


def test_new_faults_keep_the_log_byte_identical_for_a_seed(make_venue: VenueFactory) -> None:
    """Same seed, same calls, every new fault kind on: the same log, byte for byte."""
    plan = FaultPlan(
        seed=4, hang_place=0.1, hang_cancel=0.1, hang_query=0.1, hang_bbo=0.1,
        hang_position=0.1, late_place=0.3, understate_cancel=0.5, position_lag=0.5,
    )  # fmt: skip

    async def scenario() -> str:
        venue = make_venue(faults=plan, latency=LatencyModel.uniform(0.03, 0.02), seed=4)
        for i in range(30):
            try:
                venue.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.2"))
                await asyncio.wait_for(_bid(venue, f"d{i}"), 1.0)
                venue.hooks.inject_trade("TEST", Side.SELL, D("0.2"))
                await asyncio.wait_for(venue.position("TEST"), 1.0)
                for order in venue.open_orders():
                    await asyncio.wait_for(venue.cancel("TEST", order.order_id), 1.0)
            except (VenueError, TimeoutError):
                pass
        await venue.settle()
        return venue.log.text()

    first = run(scenario())
    assert first == run(scenario())
    for kind in ("hang", "late", "understated", "lags"):
        assert kind in first, kind


def test_fault_plan_refuses_a_late_delay_range_upside_down() -> None:
    """``late_delay_min`` above ``late_delay_max`` is refused, naming both fields."""
    with pytest.raises(InvalidValue, match=r"late_delay_min.*late_delay_max"):
        FaultPlan(late_delay_min=3.0, late_delay_max=1.0)


def test_presets_say_their_request_window() -> None:
    """The Binance-like preset refuses requests older than its 5 s recvWindow; Lighter-like
    has no window (so the engine's horizon applies there)."""
    venues = build_venues("calm", seed=0)
    assert venues["binance"].capabilities.request_window == 5.0
    assert venues["lighter"].capabilities.request_window is None
    assert venues["binance"].capabilities.reports_cancel_early is False
