"""Adopting the resting entry as the first hedge attempt, and amending it (issue 13, item 1).

End to end on two quiet simulated venues (no random trades, no volatility: every fill comes
from the test's own trades through the hooks), and for the leg alone on one simulated venue
driven through the one command -> event mapping (:mod:`hedge_fsm.driving`). Every test checks
the venue's truth at the end: positions equal what the results report, no order is left open,
no leg traded past its target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from hedge_fsm import EntryHandoff, ExecutionResult, HedgeConfig, HedgeEngine, Instrument, LegSpec, Side
from hedge_fsm.config import RetryPolicy
from hedge_fsm.core.ledger import Ledger
from hedge_fsm.driving import answer_event, failure_event, venue_request
from hedge_fsm.errors import RejectReason, VenueRejected
from hedge_fsm.invariants import check_supervisor
from hedge_fsm.machines.commands import AmendOrder, CancelOrder, PlaceLimit, WaitUntil
from hedge_fsm.machines.events import Event, Start, TimerFired
from hedge_fsm.machines.leg import LegHedge
from hedge_fsm.machines.supervisor import HedgeSupervisor
from hedge_fsm.sim import BookConfig, MarketModel, SimVenue, SymbolSpec, run
from hedge_fsm.venue import AmendSupport, VenueCapabilities
from tests.test_engine import InvariantWatch

D = Decimal
ZERO = Decimal(0)

TEST = Instrument(
    symbol="TEST",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.01"),
    min_notional=D("10"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)
QUIET = BookConfig(reference_price=D("100.0"), spread_ticks=1, depth=D("1.0"), depth_levels=5)
AMENDS = VenueCapabilities(amend=AmendSupport.NATIVE, amend_keeps_priority_on_decrease=True)
NO_AMEND = VenueCapabilities()


class RefusingVenue(SimVenue):
    """Says it amends, refuses every amend (as a venue does in a price band or mid-fill)."""

    amends_refused = 0

    async def amend_order(
        self, symbol: str, order_id: str, *, price: Decimal | None = None, quantity: Decimal | None = None
    ) -> object:
        self.amends_refused += 1
        raise VenueRejected(
            "amend refused", reason=RejectReason.OTHER, venue=self.name, operation="amend_order"
        )


def _venue(
    name: str, market: MarketModel, capabilities: VenueCapabilities, cls: type[SimVenue] = SimVenue
) -> SimVenue:
    return cls(name, market, [SymbolSpec(instrument=TEST, book=QUIET)], capabilities=capabilities)


LEGS = [
    # Both rest at the touch: a buy on the bid of a, a sell on the ask of b.
    LegSpec(venue="a", symbol="TEST", side=Side.BUY, quantity=D("1"), price=D("100.0")),
    LegSpec(venue="b", symbol="TEST", side=Side.SELL, quantity=D("1"), price=D("100.1")),
]
Script = Callable[[SimVenue, SimVenue], Awaitable[None]]


def _execute(
    script: Script,
    *,
    config: HedgeConfig | None = None,
    b_caps: VenueCapabilities = NO_AMEND,
    b_cls: type[SimVenue] = SimVenue,
) -> tuple[ExecutionResult, SimVenue, SimVenue, InvariantWatch]:
    """Run the two-leg entry with ``script`` moving the market alongside; check the venues."""
    market = MarketModel(3)
    holder: dict[str, SimVenue] = {}
    watch = InvariantWatch()

    async def main() -> ExecutionResult:
        a = holder["a"] = _venue("a", market, NO_AMEND)
        b = holder["b"] = _venue("b", market, b_caps, b_cls)
        engine = HedgeEngine(
            {"a": a, "b": b}, config or HedgeConfig(), observers=[watch], hedge_ids=lambda: "t1"
        )
        mover = asyncio.ensure_future(script(a, b))
        result = await engine.execute(LEGS)
        await mover
        return result

    result = run(main())
    a, b = holder["a"], holder["b"]
    assert watch.supervisor is not None
    positions = [venue.positions()["TEST"] for venue in (a, b)]
    assert check_supervisor(watch.supervisor, positions) + watch.problems == []
    # Venue truth: what the results report is what the venues hold, nothing left open.
    assert positions == [leg.filled_quantity * (1 if leg.side is Side.BUY else -1) for leg in result.legs]
    assert a.open_orders() == [] and b.open_orders() == []
    return result, a, b, watch


def _trigger_then_fill_b(b_fill_at: float = 0.3, b_before: Decimal | None = None) -> Script:
    """a's entry fills at 0.1 s (the trigger); b's resting sell is lifted at ``b_fill_at``."""

    async def script(a: SimVenue, b: SimVenue) -> None:
        if b_before is not None:
            await asyncio.sleep(0.05)
            b.hooks.inject_trade("TEST", Side.BUY, D("1.0") + b_before, price=D("100.1"))
        await asyncio.sleep(0.1)
        a.hooks.inject_trade("TEST", Side.SELL, D("2.0"), price=D("100.0"))
        await asyncio.sleep(b_fill_at)
        b.hooks.inject_trade("TEST", Side.BUY, D("2.0"), price=D("100.1"))

    return script


def _log(venue: SimVenue, event: str) -> list[str]:
    return [r.detail for r in venue.log if r.event == event]


def test_adopted_entry_hedges_in_place_with_zero_reaction_time() -> None:
    """The other leg's resting entry is not cancelled: it is attempt 0, its fill is the hedge.

    b's only order is its entry (no cancel, no second order), it fills at the entry price, and
    the leg's reaction time is 0.0: it was working at the venue when the trigger filled.
    """
    result, _, b, _ = _execute(_trigger_then_fill_b())
    assert result.state == "done"
    hedge = result.legs[1]
    assert hedge.filled_quantity == D("1") and hedge.unhedged_residual == 0
    assert hedge.reaction_time == 0.0
    assert result.legs[0].reaction_time is None  # the trigger placed no hedge order
    assert len(b.orders()) == 1 and b.orders()[0].client_order_id == "t1e1n1"
    assert _log(b, "cancel") == []
    assert hedge.average_price == D("100.1")


def test_cancel_handoff_keeps_the_cancel_first_path() -> None:
    """``entry_handoff="cancel"``: b's entry is cancelled first, a new order hedges, and the
    reaction time is that order's ack after the trigger (above 0)."""
    config = HedgeConfig(entry_handoff=EntryHandoff.CANCEL)
    result, _, b, watch = _execute(_trigger_then_fill_b(), config=config)
    assert result.state == "done"
    assert any("t1e1n1" in line or "b-1" in line for line in _log(b, "cancel"))
    assert len(b.orders()) >= 2  # the entry, then the hedge order(s)
    hedge = result.legs[1]
    assert hedge.reaction_time is not None and hedge.reaction_time >= 0.0
    assert watch.supervisor is not None
    assert "cancelling" in [t.destination for t in result.transitions if t.machine == "supervisor"]


def test_partial_entry_fill_before_the_trigger_counts_once() -> None:
    """b's entry filled 0.4 before the trigger: adopted with it, the rest fills on the same order,
    and the leg reports 1.0 in total (the supervisor's ledger and the leg's never both count it)."""
    result, _, b, watch = _execute(_trigger_then_fill_b(b_before=D("0.4")))
    assert result.state == "done"
    hedge = result.legs[1]
    assert hedge.filled_quantity == D("1")
    assert sum(f.quantity for f in b.fills) == D("1")
    assert watch.supervisor is not None
    plan = watch.supervisor.plans[1]
    assert plan.ledger.filled == 0 and plan.hedge is not None and plan.hedge.ledger.filled == D("1")
    assert plan.net_signed() == D("-1")


def _slow_b(a: SimVenue, b: SimVenue) -> Awaitable[None]:
    """The trigger at 0.1 s; then b's book moves a tick down, away from the resting sell, and
    only trades after two attempt waits (1.5 s each)."""

    async def script() -> None:
        await asyncio.sleep(0.1)
        a.hooks.inject_trade("TEST", Side.SELL, D("2.0"), price=D("100.0"))
        await asyncio.sleep(0.1)
        b.hooks.set_quote("TEST", bid=D("99.9"), ask=D("100.0"))
        await asyncio.sleep(3.4)
        b.hooks.inject_trade("TEST", Side.BUY, D("3.0"))  # lifts the asks, whatever ours is

    return script()


def test_expired_attempt_is_repriced_by_amend_on_the_same_order() -> None:
    """Where the venue amends, the expired adopted order is repriced in place: one order at b,
    amended (same id), never cancelled, and it fills."""
    result, _, b, _ = _execute(_slow_b, b_caps=AMENDS)
    assert result.state == "done"
    assert result.legs[1].filled_quantity == D("1")
    assert len(b.orders()) == 1
    assert _log(b, "amend") != []
    assert _log(b, "cancel") == []


def test_venue_without_amend_cancels_and_replaces() -> None:
    """A venue without amend: the expired adopted order is cancelled, and a new order hedges."""
    result, _, b, _ = _execute(_slow_b, b_caps=NO_AMEND)
    assert result.state == "done"
    assert result.legs[1].filled_quantity == D("1")
    assert _log(b, "amend") == []
    assert _log(b, "cancel") != []
    assert len(b.orders()) >= 2


def test_amend_refused_falls_back_to_cancel_and_replace() -> None:
    """An amend the venue refuses is not retried: the order is cancelled and replaced."""
    result, _, b, _ = _execute(_slow_b, b_caps=AMENDS, b_cls=RefusingVenue)
    assert result.state == "done"
    assert result.legs[1].filled_quantity == D("1")
    assert isinstance(b, RefusingVenue) and b.amends_refused >= 1
    assert _log(b, "cancel") != []
    assert len(b.orders()) >= 2


# --------------------------------------------------------------------------- the leg alone


def _drive_leg(
    leg: LegHedge, venue: SimVenue, *, until: float = 30.0, after: Callable[[LegHedge], None] | None = None
) -> None:
    """Carry a leg's commands out against ``venue`` (the engine's own mapping) until it ends;
    ``after`` is called after every event the leg takes (to move the market)."""

    def feed(event: Event) -> None:
        leg.feed(event)
        if after is not None:
            after(leg)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        feed(Start(now=loop.time()))
        timer: WaitUntil | None = None
        while not leg.is_finished and loop.time() < until:
            for command in leg.drain():
                if isinstance(command, WaitUntil):
                    timer = command
                    continue
                try:
                    answer = await venue_request(venue, "TEST", command)
                    event = answer_event(command, "TEST", answer, loop.time())
                except Exception as exc:  # every failure becomes an event, as in the engine
                    event = failure_event(command, exc, loop.time())
                feed(event)
            if not leg.outbox and timer is not None and not leg.is_finished:
                await asyncio.sleep(max(0.0, timer.at - loop.time()))
                fired, timer = timer, None
                feed(TimerFired(now=loop.time(), token=fired.token))

    run(main())


def _adopted_leg(
    venue: SimVenue, *, entry: Decimal, target: Decimal, caps: VenueCapabilities, before: Decimal = ZERO
) -> tuple[LegHedge, str]:
    """A resting sell of ``entry`` on ``venue`` handed to a leg of ``target`` as attempt 0.

    ``before`` is filled at the venue after the handoff, before the leg's first move: the leg
    does not know of it when it amends (a fill racing the amend).
    """
    placed: dict[str, str] = {}

    async def place() -> None:
        order = await venue.place_limit(
            "TEST", Side.SELL, entry, D("100.1"), post_only=False, reduce_only=False, client_order_id="e1"
        )
        placed["id"] = order.order_id

    run(place())
    ledger = Ledger()
    record = ledger.register("e1", side=Side.SELL, quantity=entry)
    record.order_id = placed["id"]
    leg = LegHedge(
        leg=0, hedge_id="t2", venue="sim", instrument=TEST, side=Side.SELL, target=target,
        reduce_only=False, config=HedgeConfig(opening=RetryPolicy(budget=3.0)), started_at=0.0,
        capabilities=caps, adopted=ledger.release("e1"), adopted_price=D("100.1"),
    )
    leg.ledger.take_over(record)
    if before:
        venue.hooks.inject_trade("TEST", Side.BUY, D("1.0") + before, price=D("100.1"))
    return leg, placed["id"]


def _lift_once(venue: SimVenue, when: Callable[[LegHedge], bool]) -> Callable[[LegHedge], None]:
    """Someone lifts every ask at 100.1 once, the first time ``when(leg)`` holds."""
    done: list[bool] = []

    def after(leg: LegHedge) -> None:
        if not done and when(leg):
            done.append(True)
            venue.hooks.inject_trade("TEST", Side.BUY, D("5.0"), price=D("100.1"))

    return after


@pytest.mark.parametrize("caps", [AMENDS, NO_AMEND], ids=["amend", "no-amend"])
def test_entry_larger_than_the_target_is_cut_to_the_target(caps: VenueCapabilities) -> None:
    """An adopted entry of 2 for a target of 1.5 never fills past 1.5: amended down where the
    venue amends (same order), else cancelled and the rest re-placed."""
    venue = _venue("sim", MarketModel(5), caps)
    leg, order_id = _adopted_leg(venue, entry=D("2"), target=D("1.5"), caps=caps)
    _drive_leg(leg, venue, after=_lift_once(venue, lambda leg: leg.state == "polling"))
    assert leg.state == "done"
    assert -venue.positions()["TEST"] == D("1.5") == leg.result().filled_quantity
    assert venue.open_orders() == []
    if caps.amend is AmendSupport.NATIVE:
        assert [o.order_id for o in venue.orders()] == [order_id]
        assert venue.orders()[0].quantity == D("1.5")
    else:
        assert _log(venue, "cancel") != []


def test_amend_that_races_a_fill_amends_the_remainder() -> None:
    """0.6 fills after the handoff, before the leg's amend lands: the venue amends the total
    (1.5, the rest is 0.9), and the leg ends at exactly its target of 1.5, never past it."""
    venue = _venue("sim", MarketModel(6), AMENDS)
    leg, order_id = _adopted_leg(venue, entry=D("2"), target=D("1.5"), caps=AMENDS, before=D("0.6"))
    amended = lambda leg: any(line.startswith(order_id) for line in _log(venue, "amend"))  # noqa: E731
    _drive_leg(leg, venue, after=_lift_once(venue, amended))
    line = next(line for line in _log(venue, "amend") if line.startswith(order_id))
    assert " 1.500 @ 100.1 " in line  # the total (fills included), its place kept
    assert leg.state == "done"
    assert -venue.positions()["TEST"] == D("1.5") == leg.result().filled_quantity
    assert venue.open_orders() == []


def test_amend_of_an_order_that_filled_first_is_refused_and_counted() -> None:
    """The whole entry filled before the amend arrived: the venue refuses the amend, the leg
    cancels, learns the full fill from the cancel's answer and ends with it counted once."""
    venue = _venue("sim", MarketModel(7), AMENDS)
    leg, _ = _adopted_leg(venue, entry=D("2"), target=D("1.5"), caps=AMENDS, before=D("2"))
    _drive_leg(leg, venue)
    assert -venue.positions()["TEST"] == D("2") == leg.result().filled_quantity
    assert leg.state == "done" and venue.open_orders() == []
    assert _log(venue, "amend") == []  # refused on arrival: the order was already filled
    assert any("amend_order" in r.detail for r in venue.log if r.event == "refuse")


def test_adopted_leg_reports_zero_reaction_time_and_places_nothing_new() -> None:
    """A kept adopted order: reaction time 0.0 and no placement command at all."""
    venue = _venue("sim", MarketModel(8), NO_AMEND)
    leg, _ = _adopted_leg(venue, entry=D("1"), target=D("1"), caps=NO_AMEND)
    leg.feed(Start(now=0.0))
    commands = leg.drain()
    assert leg.state == "polling"
    assert not any(isinstance(c, PlaceLimit | CancelOrder | AmendOrder) for c in commands)
    assert leg.result().reaction_time == 0.0


def test_supervisor_hands_over_the_entry_record_itself() -> None:
    """The handoff moves the entry's record from the supervisor's ledger to the leg's: one
    record, counted once in the hedge's net position."""
    result, _, _, watch = _execute(_trigger_then_fill_b(b_before=D("0.2")))
    sup = watch.supervisor
    assert isinstance(sup, HedgeSupervisor) and result.state == "done"
    plan = sup.plans[1]
    assert plan.hedge is not None and plan.hedge.adopted is plan.entry
    assert "t1e1n1" not in plan.ledger.orders and "t1e1n1" in plan.hedge.ledger.orders
