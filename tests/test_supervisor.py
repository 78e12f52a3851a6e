"""The supervisor machine, sans I/O: example runs driven event by event.

Each test plays the driver by hand: it dispatches an event on a route, takes the
commands the machines emitted (``drain_routed``) and answers some of them the
way ``engine._call_venue`` would map a venue's answer. Regression tests are
named after the invariant (docs/design.md, Invariants) they guard.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from hedge_fsm import (
    BBO,
    EntryHandoff,
    HedgeConfig,
    HedgeMode,
    IllegalTransition,
    Instrument,
    OrderInfo,
    OrderStatus,
    PartialEntryPolicy,
    RejectReason,
    RetryPolicy,
    Side,
)
from hedge_fsm.invariants import check_supervisor, exposure_bound
from hedge_fsm.machines.commands import (
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    ReadPosition,
    WaitUntil,
)
from hedge_fsm.machines.events import (
    BboReceived,
    BookUpdated,
    CancelConfirmed,
    Event,
    OrderAcked,
    OrderRejected,
    OrderUpdated,
    PositionRead,
    Start,
    TimerFired,
)
from hedge_fsm.machines.supervisor import SUPERVISOR_ROUTE, HedgeSupervisor, LegPlan, Route

ZERO = D(0)
BTC = Instrument(
    symbol="BTC", tick_size=D("0.1"), lot_size=D("0.01"), min_quantity=D("0.01"), min_notional=ZERO
)
PEPE = Instrument(  # 1 contract = 1 PEPE
    symbol="PEPE", tick_size=D("0.0000001"), lot_size=D("100"), min_quantity=D("100"), min_notional=ZERO
)
KPEPE = Instrument(  # 1 contract = 1000 PEPE
    symbol="kPEPE", tick_size=D("0.0001"), lot_size=D("1"), min_quantity=D("1"), min_notional=ZERO,
    multiplier=D("1000"),
)
FAST = RetryPolicy(max_attempts=2, budget=1.0, backoff=0.0, attempt_wait=0.5, poll_interval=0.05)


def plan(index: int, instrument: Instrument, side: Side, quantity: str, price: str | None,
         baseline: str = "0") -> LegPlan:
    return LegPlan(
        index=index, venue="ab"[index], instrument=instrument, side=side, quantity=D(quantity),
        price=D(price) if price is not None else None, reduce_only=False, baseline=D(baseline),
    )


class Driver:
    """Plays the engine's part by hand: dispatch, collect commands, remember timers."""

    def __init__(self, supervisor: HedgeSupervisor, now: float = 0.0) -> None:
        self.sup = supervisor
        self.commands: list[tuple[Route, Command]] = []
        """Commands not answered yet."""
        self.timers: dict[Route, WaitUntil] = {}
        self.order_ids: dict[str, str] = {}
        self.send(SUPERVISOR_ROUTE, Start(now=now))

    def send(self, route: Route, event: Event) -> None:
        self.sup.dispatch(route, event)
        for issued_route, command in self.sup.drain_routed():
            if isinstance(command, WaitUntil):
                self.timers[issued_route] = command  # a newer timer replaces the route's last
                continue
            self.commands.append((issued_route, command))

    def fire(self, route: Route = SUPERVISOR_ROUTE, now: float | None = None) -> None:
        """Fire the current timer of ``route`` (at its due time unless ``now`` is given)."""
        timer = self.timers.pop(route)
        self.send(route, TimerFired(now=timer.at if now is None else now, token=timer.token))

    def take(self, kind: type, leg: int) -> tuple[Route, Any]:
        """The oldest unanswered command of this type for this leg."""
        for item in self.commands:
            if isinstance(item[1], kind) and item[1].leg == leg:  # type: ignore[attr-defined]
                self.commands.remove(item)
                return item
        raise AssertionError(f"no pending {kind.__name__} for leg {leg}: {self.commands}")

    def report(self, placed: PlaceLimit | PlaceMarket, status: OrderStatus, filled: str = "0",
               price: str = "100") -> OrderInfo:
        """The venue's report of the order ``placed`` created."""
        cid = placed.client_order_id
        order_id = self.order_ids.setdefault(cid, f"v{len(self.order_ids) + 1}")
        return OrderInfo(
            order_id=order_id, client_order_id=cid, symbol=self.sup.plans[placed.leg].instrument.symbol,
            side=placed.side, quantity=placed.quantity,
            price=placed.price if isinstance(placed, PlaceLimit) else None, status=status,
            filled_quantity=D(filled), average_price=D(price) if D(filled) > 0 else None,
        )


def ack_entries(driver: Driver, now: float = 0.0) -> list[PlaceLimit]:
    entries = []
    for leg in (0, 1):
        route, command = driver.take(PlaceLimit, leg)
        assert isinstance(command, PlaceLimit)
        driver.send(route, OrderAcked(now=now, order=driver.report(command, OrderStatus.OPEN)))
        entries.append(command)
    return entries


def answer_reads(driver: Driver, now: float, positions: dict[int, str]) -> None:
    for leg, position in positions.items():
        route, _ = driver.take(ReadPosition, leg)
        driver.send(route, PositionRead(now=now, quantity=D(position)))


def settle_and_read(driver: Driver, positions: dict[int, str]) -> None:
    """Reconciliation: the settle delay passes, every leg's position is read and answered."""
    timer = driver.timers[SUPERVISOR_ROUTE]
    driver.fire()
    answer_reads(driver, timer.at, positions)


# --------------------------------------------------------------------------- happy paths


def test_trigger_fill_cancels_the_other_entry_and_hedges_it_to_done() -> None:
    """The long entry fills; the short entry is cancelled and confirmed; its hedge fills: done, flat."""
    config = HedgeConfig(
        opening=FAST, entry_timeout=5.0, entry_poll_interval=0.25, entry_handoff=EntryHandoff.CANCEL
    )
    sup = HedgeSupervisor(
        hedge_id="h", config=config,
        plans=[plan(0, BTC, Side.BUY, "0.02", "100.0"), plan(1, BTC, Side.SELL, "0.02", "100.2")],
    )
    driver = Driver(sup)
    long_entry, short_entry = ack_entries(driver)
    assert sup.state == "watching"
    driver.fire()  # poll
    route, _ = driver.take(QueryOrder, 0)
    driver.send(route, OrderUpdated(now=0.25, order=driver.report(long_entry, OrderStatus.FILLED, "0.02")))
    assert sup.state == "cancelling" and sup.trigger_leg == 0
    route, cancel = driver.take(CancelOrder, 1)
    assert cancel.client_order_id == short_entry.client_order_id
    driver.send(route, CancelConfirmed(now=0.3, order=driver.report(short_entry, OrderStatus.CANCELED)))
    assert sup.state == "hedging"
    route, _ = driver.take(FetchBbo, 1)
    driver.send(route, BboReceived(now=0.3, bbo=BBO(bid=D("100.0"), ask=D("100.3"))))
    route, hedge = driver.take(PlaceLimit, 1)
    assert hedge.side is Side.SELL and hedge.quantity == D("0.02")
    driver.send(route, OrderAcked(now=0.31, order=driver.report(hedge, OrderStatus.FILLED, "0.02", "100.2")))
    assert sup.state == "reconciling"
    # No read before the settle delay: a venue reports positions behind fills.
    assert not any(isinstance(c, ReadPosition) for _, c in driver.commands)
    assert driver.timers[SUPERVISOR_ROUTE].at == pytest.approx(0.31 + config.position_settle_delay)
    settle_and_read(driver, {0: "0.02", 1: "-0.02"})
    assert sup.state == "done"
    assert sup.net_exposure() == ZERO
    assert check_supervisor(sup) == []


def test_partial_entry_on_the_1x_leg_hedges_the_1000x_leg_rounded_down() -> None:
    """1500 PEPE filled by the timeout: the kPEPE leg is hedged to 1 contract (1.5 rounded down).

    What is left unhedged (500 PEPE) is below one kPEPE lot (1000 PEPE): invariant 6's bound.
    """
    config = HedgeConfig(
        opening=FAST, mode=HedgeMode.MARKET, entry_timeout=1.0, entry_poll_interval=0.5,
        partial_entry_policy=PartialEntryPolicy.HEDGE,
    )
    sup = HedgeSupervisor(
        hedge_id="h", config=config,
        plans=[plan(0, PEPE, Side.BUY, "2000", "0.0000100"), plan(1, KPEPE, Side.SELL, "2", "0.0100")],
    )
    driver = Driver(sup)
    pepe_entry, kpepe_entry = ack_entries(driver)
    driver.fire()  # poll at 0.5
    route, _ = driver.take(QueryOrder, 0)
    driver.send(route, OrderUpdated(
        now=0.5, order=driver.report(pepe_entry, OrderStatus.PARTIALLY_FILLED, "1500", "0.00001")
    ))
    driver.fire()  # entry timeout at 1.0
    assert sup.state == "cancelling"
    for leg, entry, filled in ((0, pepe_entry, "1500"), (1, kpepe_entry, "0")):
        route, _ = driver.take(CancelOrder, leg)
        driver.send(route, CancelConfirmed(
            now=1.0, order=driver.report(entry, OrderStatus.CANCELED, filled, "0.00001")
        ))
    assert sup.state == "hedging"
    assert [p.target for p in sup.plans] == [D("1500"), D("1")]
    route, market = driver.take(PlaceMarket, 1)
    assert market.quantity == D("1") and market.side is Side.SELL
    driver.send(route, OrderAcked(now=1.01, order=driver.report(market, OrderStatus.FILLED, "1", "0.01")))
    settle_and_read(driver, {0: "1500", 1: "-1"})
    assert sup.state == "done"
    assert sup.net_exposure() == D("500")
    assert abs(sup.net_exposure()) <= exposure_bound(sup) == D("1000")
    assert check_supervisor(sup) == []


def test_terminal_state_is_absorbing_and_refuses_events() -> None:
    """Invariant 1 and 8: after ``cancelled`` every event raises and nothing changes."""
    config = HedgeConfig(opening=FAST, entry_timeout=0.5, entry_poll_interval=0.25)
    sup = HedgeSupervisor(
        hedge_id="h", config=config,
        plans=[plan(0, BTC, Side.BUY, "0.01", "100.0"), plan(1, BTC, Side.SELL, "0.01", "100.2")],
    )
    driver = Driver(sup)
    entries = ack_entries(driver)
    driver.fire(now=0.25)
    driver.fire(now=0.5)  # entry timeout
    for leg, entry in enumerate(entries):
        route, _ = driver.take(CancelOrder, leg)
        driver.send(route, CancelConfirmed(now=0.5, order=driver.report(entry, OrderStatus.CANCELED)))
    assert sup.state == "cancelled"
    moves = len(sup.history)
    for route, event in [
        (SUPERVISOR_ROUTE, TimerFired(now=1.0, token=sup.timer_token)),
        (SUPERVISOR_ROUTE, Start(now=1.0)),
        (Route("supervisor", 0), OrderUpdated(now=1.0, order=driver.report(entries[0], OrderStatus.FILLED))),
        (Route("supervisor", 1), PositionRead(now=1.0, quantity=D("1"))),
    ]:
        with pytest.raises(IllegalTransition):
            sup.dispatch(route, event)
        assert sup.state == "cancelled" and len(sup.history) == moves
    assert sup.drain_routed() == []


# --------------------------------------------------------------------------- regressions (bugs)


def test_rolled_back_only_when_every_entry_order_is_closed() -> None:
    """Invariant 4: the venue accepts the cancel of an entry but has not applied it yet.

    The supervisor polls, sees the order still OPEN, and after ``stuck_timeout``
    gives up and rolls back. Positions read flat, so it ends ``rolled_back`` --
    with the entry order still resting at the venue, free to fill after the
    hedge "ended": naked exposure nobody watches.
    """
    config = HedgeConfig(
        opening=FAST, entry_timeout=0.5, entry_poll_interval=0.25, stuck_timeout=0.5,
    )
    sup = HedgeSupervisor(
        hedge_id="h", config=config,
        plans=[plan(0, BTC, Side.BUY, "0.01", "100.0"), plan(1, BTC, Side.SELL, "0.01", "100.2")],
    )
    driver = Driver(sup)
    long_entry, short_entry = ack_entries(driver)
    driver.fire(now=0.25)  # poll
    driver.commands.clear()  # (its queries are never answered: not needed)
    driver.fire(now=0.5)  # entry timeout: cancel both
    route, _ = driver.take(CancelOrder, 0)
    driver.send(route, CancelConfirmed(now=0.5, order=driver.report(long_entry, OrderStatus.CANCELED)))
    route, _ = driver.take(CancelOrder, 1)
    # The cancel is accepted but not applied yet: the venue returns the order still OPEN.
    driver.send(route, OrderUpdated(now=0.5, order=driver.report(short_entry, OrderStatus.OPEN)))
    now = 0.5
    while sup.state == "cancelling":
        now = driver.timers[SUPERVISOR_ROUTE].at
        driver.fire()
        for route, command in list(driver.commands):
            if isinstance(command, QueryOrder):
                driver.commands.remove((route, command))
                driver.send(route, OrderUpdated(now=now, order=driver.report(short_entry, OrderStatus.OPEN)))
    assert sup.state == "rolling_back"
    # While the entry still rests, the supervisor keeps cancelling it and reads no position.
    assert not any(isinstance(c, ReadPosition) for _, c in driver.commands)
    assert any(isinstance(c, CancelOrder) for _, c in driver.commands)
    live = [r.client_order_id for r in sup.plans[1].ledger.live_orders]
    assert live == [short_entry.client_order_id]
    # The venue finally applies the cancel: positions are read, flat, and only then rolled_back.
    route, _ = driver.take(CancelOrder, 1)
    driver.send(route, CancelConfirmed(now=now, order=driver.report(short_entry, OrderStatus.CANCELED)))
    answer_reads(driver, now, {0: "0", 1: "0"})
    assert sup.state == "rolled_back"


def test_a_rollback_round_waits_for_the_previous_rounds_orders() -> None:
    """Invariant 6: a duplicate position read must not start a second flattening order.

    In ``rolling_back`` every late report about a closed entry order re-sends the
    position reads. The first set of answers starts round 1 (sell 0.01). After
    that every position is known, so *each* answer of the second set -- read
    before round 1's order executed -- starts one more round at once: two more
    sells of 0.01 while the first is still live. All fill: leg 0 ends at 0.03,
    0.02 short of its 0.05 baseline (naked exposure created by the rollback
    itself). The baseline is long, so reduce-only does not stop it.
    """
    config = HedgeConfig(
        opening=FAST, entry_timeout=1.0, entry_poll_interval=0.5,
        partial_entry_policy=PartialEntryPolicy.ROLLBACK, rollback_attempts=3,
    )
    sup = HedgeSupervisor(
        hedge_id="h", config=config,
        plans=[
            plan(0, BTC, Side.BUY, "0.02", "100.0", baseline="0.05"),
            plan(1, BTC, Side.SELL, "0.02", "100.2"),
        ],
    )
    driver = Driver(sup)
    long_entry, short_entry = ack_entries(driver)
    driver.fire()  # poll at 0.5: queries for both entries (answered late, below)
    late_query = driver.take(QueryOrder, 1)
    driver.commands.clear()
    driver.fire()  # entry timeout at 1.0: cancel both
    route, _ = driver.take(CancelOrder, 0)
    driver.send(route, CancelConfirmed(
        now=1.0, order=driver.report(long_entry, OrderStatus.CANCELED, "0.01")
    ))
    route, _ = driver.take(CancelOrder, 1)
    driver.send(route, CancelConfirmed(now=1.0, order=driver.report(short_entry, OrderStatus.CANCELED)))
    assert sup.state == "rolling_back"  # partial entry, rollback policy
    # The poll's answer arrives late, while the positions are being read: it must not
    # start a second set of reads.
    driver.send(late_query[0], OrderUpdated(now=1.0, order=driver.report(short_entry, OrderStatus.OPEN)))
    settle_and_read(driver, {0: "0.06", 1: "0"})  # the only set
    route, first = driver.take(PlaceMarket, 0)
    assert first.side is Side.SELL and first.quantity == D("0.01")
    pending = [c for _, c in driver.commands if isinstance(c, PlaceMarket | ReadPosition)]
    assert pending == [], (
        f"{pending} sent while rollback order {first.client_order_id} may still fill: "
        "a second round would sell leg 0 below its 0.05 baseline"
    )


def test_rolled_back_is_not_declared_on_a_position_read_older_than_a_fill() -> None:
    """Invariant 6: a leg gives up on an unanswered market order; the order then fills.

    Direct market hedge. Leg 1's market order gets no answer within
    ``stuck_timeout``: the leg ends in ``rollback`` with the order unresolved
    and the supervisor reads positions at once. Leg 1 reads 0 (not executed
    yet); then the order's fill arrives (the ledgers now say net -0.01); then
    leg 0 reads 0 and the supervisor declares ``rolled_back`` -- while leg 1 is
    short 0.01 at the venue and in its own ledgers.
    """
    config = HedgeConfig(opening=FAST, mode=HedgeMode.MARKET, stuck_timeout=0.5)
    sup = HedgeSupervisor(
        hedge_id="h", config=config, direct=True,
        plans=[plan(0, BTC, Side.BUY, "0.01", None), plan(1, BTC, Side.SELL, "0.01", None)],
    )
    driver = Driver(sup)
    assert sup.state == "hedging"
    route, market0 = driver.take(PlaceMarket, 0)
    driver.send(route, OrderRejected(
        now=0.0, client_order_id=market0.client_order_id, reason=RejectReason.INSUFFICIENT_FUNDS
    ))
    route1, market1 = driver.take(PlaceMarket, 1)  # no answer yet
    driver.fire(Route("leg", 1))  # the leg's safety net: it gives up
    assert sup.state == "rolling_back"
    # The unresolved order is looked up by client id before any position is read.
    assert not any(isinstance(c, ReadPosition) for _, c in driver.commands)
    query_route, query = driver.take(QueryOrder, 1)
    assert query.client_order_id == market1.client_order_id
    filled = driver.report(market1, OrderStatus.FILLED, "0.01")
    driver.send(route1, OrderAcked(now=0.5, order=filled))  # the original answer, late
    driver.send(query_route, OrderUpdated(now=0.5, order=filled))
    assert sup.net_exposure() == D("-0.01")  # the supervisor's own ledgers know
    # Every order is closed now: positions are read once settled; leg 1 is short: bought back.
    settle_and_read(driver, {0: "0", 1: "-0.01"})
    assert sup.state == "rolling_back"
    _, buy_back = driver.take(PlaceMarket, 1)
    assert buy_back.side is Side.BUY and buy_back.quantity == D("0.01")
    positions = [ZERO, D("-0.01")]  # the venue's truth
    assert check_supervisor(sup, positions) == []


def test_the_entry_round_trip_and_the_latest_quote_are_handed_to_the_hedge() -> None:
    """The supervisor times each entry placement (sent at 0, acknowledged at 0.37 s) and keeps
    the latest quote pushed on a leg before its hedge starts (a repeat of the same prices is
    not kept again); the hedge leg starts from both: its urgency counts the venue's one-way
    time, and it judges its first order on the quote without asking for a BBO."""
    config = HedgeConfig(
        opening=FAST, entry_timeout=5.0, entry_poll_interval=0.25, entry_handoff=EntryHandoff.CANCEL
    )
    sup = HedgeSupervisor(
        hedge_id="h", config=config,
        plans=[plan(0, BTC, Side.BUY, "0.02", "100.0"), plan(1, BTC, Side.SELL, "0.02", "100.2")],
    )
    driver = Driver(sup)
    long_entry, short_entry = ack_entries(driver, now=0.37)
    assert [p.round_trip for p in sup.plans] == [pytest.approx(0.37), pytest.approx(0.37)]
    quote = BBO(bid=D("100.0"), ask=D("100.3"))
    assert sup.wants_quote(1, quote)
    sup.dispatch(Route("leg", 1), BookUpdated(now=0.4, bbo=quote))
    assert sup.plans[1].tape.bbo == quote and sup.plans[1].tape.at == 0.4
    assert not sup.wants_quote(1, BBO(bid=D("100.0"), ask=D("100.3"), bid_size=D("7")))
    driver.fire()  # poll
    route, _ = driver.take(QueryOrder, 0)
    driver.send(route, OrderUpdated(now=0.5, order=driver.report(long_entry, OrderStatus.FILLED, "0.02")))
    route, _ = driver.take(CancelOrder, 1)
    driver.send(route, CancelConfirmed(now=0.6, order=driver.report(short_entry, OrderStatus.CANCELED)))
    hedge = sup.plans[1].hedge
    assert hedge is not None
    assert hedge.round_trip == pytest.approx(0.37)
    assert (hedge.book_at, hedge.book_bbo) == (0.4, quote)
    assert not sup.wants_quote(1, BBO(bid=D("99.9"), ask=D("100.2")))  # the hedge takes them now
