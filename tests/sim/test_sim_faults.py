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
from hedge_fsm.sim import FAULTY, BookConfig, FaultPlan, LatencyModel, SimVenue, run

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
