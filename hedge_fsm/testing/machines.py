"""Property-test the hedge machines for *your* ``HedgeConfig`` and instruments.

Theory of operation
-------------------
:func:`leg_machine` and :func:`supervisor_machine` build Hypothesis
``RuleBasedStateMachine`` classes. Each run builds one machine (a
:class:`~hedge_fsm.machines.leg.LegHedge`, or a
:class:`~hedge_fsm.machines.supervisor.HedgeSupervisor` over two offsetting
legs) from your configuration and instruments, with a side, a size, a
reduce-only flag and a trigger drawn at random, and then plays the driver *and*
the venue synchronously: the commands the machine emits wait in a pending list,
and rules answer them in any order, the way the engine maps a venue's answer
(or exception) to an event.

The model venue is **adversarial but honest**. Per order it keeps the truth, the
snapshots the order went through (a cumulative fill that only grows, never past
the quantity, final once terminal), and per leg the true position. Answers
come out of order and late; partial fills, fills during a cancel, duplicate and
stale reports, post-only and definitive rejects, ambiguous placements (the order
created, or not; created ones may stay invisible to fewer than ``lookup_attempts``
lookups by client id), failed lookups and cancels, cancels that take effect later,
expiries, crossed and locked books, failed BBO and position reads, current and
stale timers. What it never does is lie: a report is a snapshot the order
really had since the question was asked; a reduce-only order that would open or
flip a position is refused.

After every step the invariants of :mod:`hedge_fsm.invariants` are checked
(``check_leg`` / ``check_supervisor``, ``check_order_command`` on every order
sent against the BBO it was priced on), and against the venue's truth: every
move is a row of the machine's table; terminal states are absorbing; an event
a state has no edge for raises and changes nothing; each ledger holds, per
order, exactly the largest fill ever reported, and fills never decrease; what
the hedge orders *really* filled never exceeds the hedge target; no order is
sent while an earlier one of the same leg can still fill; a machine that is not
finished always waits on something (a command or a timer). When a run stops,
the venue turns cooperative and the machine must end within a bounded number of
steps and of virtual time; once ended, no order may still fill at the venue,
``done`` is balanced within one lot in tokens, ``rolled_back`` is flat, and
``cancelled`` traded nothing.

Use::

    from hedge_fsm.testing.machines import Market, leg_machine, supervisor_machine

    MY_CONFIG = HedgeConfig(...)
    BTC = Market(instrument=Instrument(...), price=Decimal("60000"))
    TestMyLeg = leg_machine(MY_CONFIG, [BTC]).TestCase
    TestMyHedge = supervisor_machine(MY_CONFIG, [(BTC, BTC)]).TestCase

Needs Hypothesis: ``pip install "hedge-fsm[testing]"``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import Any, ClassVar

import attrs

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
except ImportError as error:  # pragma: no cover - exercised only without Hypothesis
    raise ImportError(
        'hedge_fsm.testing.machines needs Hypothesis: pip install "hedge-fsm[testing]"'
    ) from error

from hedge_fsm.config import HedgeConfig
from hedge_fsm.core.ledger import Ledger
from hedge_fsm.core.targets import is_unplaceable
from hedge_fsm.errors import IllegalTransition, InvalidValue, RejectReason
from hedge_fsm.invariants import check_leg, check_order_command, check_supervisor, exposure_bound
from hedge_fsm.machines.base import MachineKind
from hedge_fsm.machines.commands import (
    AmendOrder,
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
    AmendAmbiguous,
    AmendRejected,
    BboFailed,
    BboReceived,
    BookUpdated,
    CancelConfirmed,
    CancelFailed,
    Event,
    LegFinished,
    OrderAcked,
    OrderAmended,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    PlacementAmbiguous,
    PositionFailed,
    PositionRead,
    PostOnlyRejected,
    QueryFailed,
    Start,
    TargetsSet,
    TimerFired,
)
from hedge_fsm.machines.leg import LEG, LegHedge, LegState
from hedge_fsm.machines.supervisor import (
    SUPERVISOR,
    SUPERVISOR_ROUTE,
    HedgeSupervisor,
    LegPlan,
    Route,
    SupervisorState,
)
from hedge_fsm.values import BBO, Instrument, OrderInfo, OrderStatus, Side, TransitionRecord, TriggerFill
from hedge_fsm.venue import DEFAULT_CAPABILITIES, VenueCapabilities

__all__ = [
    "COOPERATIVE_STEPS",
    "ConfigSource",
    "Market",
    "leg_machine",
    "leg_time_bound",
    "supervisor_machine",
    "supervisor_time_bound",
]

ZERO = Decimal(0)
COOPERATIVE_STEPS = 3000
"""Steps a cooperative venue allows a machine to reach a terminal state (invariant 2)."""

TRACE_LINES = 30
"""Events shown (the latest first) with a broken invariant."""

TimeBound = Callable[[HedgeConfig], float]


def _market_price(instance: Market, attribute: attrs.Attribute[Decimal], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidValue(f"Market.price must be a positive Decimal, got {value!r}", field="price")
    tick = instance.instrument.tick_size
    if value < 10 * tick or value % tick != 0:
        raise InvalidValue(
            f"Market.price {value} must be on the tick grid {tick} and at least 10 ticks "
            f"(books are drawn a few ticks around it)",
            field="price",
        )


@attrs.frozen(kw_only=True)
class Market:
    """An instrument, the price its book is quoted around (per contract), its venue's capabilities."""

    instrument: Instrument
    price: Decimal = attrs.field(validator=_market_price)
    capabilities: VenueCapabilities = DEFAULT_CAPABILITIES


def leg_time_bound(config: HedgeConfig) -> float:
    """How long a cooperative venue may take to end a leg from any state (virtual seconds).

    One limit budget, one attempt, a backoff and polls, a lookup per allowed miss and a few
    stuck timeouts (cancel, market fallback), the ambiguous horizon, a second of slack.
    """
    policy = max((config.opening, config.closing), key=lambda p: p.budget + p.attempt_wait)
    return (
        policy.budget
        + policy.attempt_wait
        + policy.backoff
        + 6 * policy.poll_interval
        + (config.lookup_attempts + 4) * config.stuck_timeout
        + config.ambiguous_horizon
        + config.call_timeouts.longest
        + 1.0
    )


def supervisor_time_bound(config: HedgeConfig) -> float:
    """How long a cooperative venue may take to end a whole hedge from any state."""
    policies = (config.opening, config.closing)
    return (
        config.entry_timeout
        + config.entry_poll_interval
        + 3 * config.stuck_timeout
        + max(p.budget + p.attempt_wait + p.backoff + p.poll_interval for p in policies)
        + config.rollback_budget
        + 6 * config.opening.poll_interval
        + config.ambiguous_horizon
        + (config.rollback_attempts + 1) * config.position_settle_delay
        + config.call_timeouts.longest
        + 1.0
    )


# --------------------------------------------------------------------------- the model venue


@attrs.define(eq=False)
class _Order:
    """The truth about one order: every snapshot it went through at the venue."""

    client_order_id: str
    route: Route
    leg: int
    kind: str
    """``entry``, ``hedge`` or ``rollback``."""
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None
    post_only: bool
    reduce_only: bool
    is_market: bool
    fill_price: Decimal
    reports_maker: bool
    created: bool = False
    answered: bool = False
    """The placement's answer was delivered (only then can a poll or a push mention it)."""
    order_id: str | None = None
    cancel_requested: bool = False
    """A cancel was accepted but has not taken effect yet."""
    known: bool = False
    """The machine has received a report of it (only then may a push mention it)."""
    cancel_sent: bool = False
    """The machine asked to cancel it (only then may a late cancel answer arrive)."""
    hidden: int = 0
    """Lookups by client id still answered "not found" although the order exists (in flight
    between the venue's gateway and its order store, after an ambiguous placement)."""
    snapshots: list[OrderInfo] = attrs.Factory(list)

    @property
    def current(self) -> OrderInfo | None:
        return self.snapshots[-1] if self.snapshots else None

    @property
    def filled(self) -> Decimal:
        return self.snapshots[-1].filled_quantity if self.snapshots else ZERO

    @property
    def live(self) -> bool:
        return self.created and not self.snapshots[-1].is_terminal

    @property
    def may_fill(self) -> bool:
        """Live, or its placement still unanswered (it may be created any moment)."""
        return self.live or not self.answered


class _Venue:
    """Orders and positions as they really are, per leg."""

    def __init__(self, instruments: Sequence[Instrument], baselines: Sequence[Decimal]) -> None:
        self.instruments = list(instruments)
        self.orders: dict[str, _Order] = {}
        self.positions: list[Decimal] = list(baselines)
        self.position_history: list[tuple[Decimal, ...]] = [tuple(self.positions)]
        self.created = 0
        self.world: _World | None = None
        """Whose clock fills are stamped with (an attribute, not a closure: copies keep their own)."""
        self.fill_log: list[tuple[float, int, Decimal]] = []
        """(time, leg, signed quantity) of every fill: what a lagging position read leaves out."""

    def now(self) -> float:
        return self.world.now if self.world is not None else 0.0

    def lagging_position(self, leg: int, lag: float) -> Decimal:
        """The position as reported ``lag`` seconds behind the fills."""
        since = self.now() - lag
        recent = sum((q for t, i, q in self.fill_log if i == leg and t > since), ZERO)
        return self.positions[leg] - recent

    def snapshot(self, order: _Order, filled: Decimal, status: OrderStatus) -> None:
        assert order.order_id is not None
        maker = (filled if order.post_only else ZERO) if order.reports_maker else None
        order.snapshots.append(
            OrderInfo(
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                quantity=order.quantity,
                price=order.price,
                status=status,
                filled_quantity=filled,
                average_price=order.fill_price if filled > 0 else None,
                maker_quantity=maker,
            )
        )

    def create(self, order: _Order) -> None:
        order.created = True
        self.created += 1
        order.order_id = f"v{self.created}"
        self.snapshot(order, ZERO, OrderStatus.OPEN)

    def fill(self, order: _Order, lots: int | None = None) -> None:
        """Fill ``lots`` more lots (all that is left when None), capped at the quantity."""
        if not order.live:
            return
        lot = self.instruments[order.leg].lot_size
        left = order.quantity - order.filled
        quantity = left if lots is None else min(left, lots * lot)
        if quantity <= 0:
            return
        filled = order.filled + quantity
        status = OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED
        self.snapshot(order, filled, status)
        self.positions[order.leg] += order.side.sign * quantity
        self.position_history.append(tuple(self.positions))
        self.fill_log.append((self.now(), order.leg, order.side.sign * quantity))

    def close(self, order: _Order, status: OrderStatus = OrderStatus.CANCELED) -> None:
        if order.live:
            final = OrderStatus.FILLED if order.filled == order.quantity else status
            self.snapshot(order, order.filled, final)
            order.cancel_requested = False

    def reduce_only_refused(self, order: _Order) -> bool:
        """A reduce-only order that would open or flip the position is refused."""
        if not order.reduce_only:
            return False
        position = self.positions[order.leg]
        return order.side.sign * position >= 0 or order.quantity > abs(position)

    def live_orders(self) -> list[_Order]:
        return [o for o in self.orders.values() if o.live]


@attrs.define
class _Pending:
    """A command handed to the driver, with what the venue looked like when it was sent."""

    route: Route
    command: Command
    snapshot_index: int
    position_index: int


# Outcomes are picked by index modulo the length: repeats weigh the common cases.
_PLACE = ("rest", "rest", "rest", "partial", "partial", "full", "full", "post_only", "reject",
          "ambiguous_created", "ambiguous_lost", "market_open")  # fmt: skip
_CANCEL = (
    "confirm",
    "confirm",
    "fill_then_confirm",
    "fail",
    "fill_then_fail",
    "applied_then_fail",
    "pending",
)
_QUERY = ("current", "current", "stale", "failed")
_AMEND = ("applied", "applied", "fill_then_applied", "refused", "ambiguous_applied", "ambiguous_lost")
_POSITION = ("current", "stale", "failed", "lagging")
_BBO = ("normal", "normal", "normal", "wide", "one_tick", "locked", "crossed", "failed")


def _foreign_order() -> OrderInfo:
    """A report about an order no machine knows (for illegal-event checks)."""
    return OrderInfo(
        order_id="foreign-1",
        client_order_id="foreign-1",
        symbol="FOREIGN",
        side=Side.BUY,
        quantity=Decimal(1),
        price=Decimal(1),
        status=OrderStatus.FILLED,
        filled_quantity=Decimal(1),
        average_price=Decimal(1),
    )


def _event_for(trigger: str, now: float) -> Event:
    """An event of each trigger, about nothing the machine knows."""
    order = _foreign_order()
    cid = order.client_order_id
    build: dict[str, Callable[[], Event]] = {
        "start": lambda: Start(now=now),
        "bbo_received": lambda: BboReceived(now=now, bbo=BBO(bid=Decimal(99), ask=Decimal(101))),
        "bbo_failed": lambda: BboFailed(now=now),
        "order_acked": lambda: OrderAcked(now=now, order=order),
        "post_only_rejected": lambda: PostOnlyRejected(now=now, client_order_id=cid),
        "order_rejected": lambda: OrderRejected(now=now, client_order_id=cid),
        "placement_ambiguous": lambda: PlacementAmbiguous(now=now, client_order_id=cid),
        "order_updated": lambda: OrderUpdated(now=now, order=order),
        "order_not_found": lambda: OrderMissing(now=now, client_order_id=cid),
        "query_failed": lambda: QueryFailed(now=now, client_order_id=cid),
        "cancel_confirmed": lambda: CancelConfirmed(now=now, order=order),
        "cancel_failed": lambda: CancelFailed(now=now, client_order_id=cid),
        "order_amended": lambda: OrderAmended(now=now, order=order),
        "amend_rejected": lambda: AmendRejected(now=now, client_order_id=cid),
        "amend_ambiguous": lambda: AmendAmbiguous(now=now, client_order_id=cid),
        "timer_fired": lambda: TimerFired(now=now, token=-1),
        "position_read": lambda: PositionRead(now=now, quantity=ZERO),
        "position_failed": lambda: PositionFailed(now=now),
        "targets_set": lambda: TargetsSet(now=now),
        "leg_finished": lambda: LegFinished(now=now),
        "book_updated": lambda: BookUpdated(now=now, bbo=BBO(bid=Decimal(99), ask=Decimal(101))),
    }
    return build[trigger]()


_ALL_TRIGGERS = tuple(sorted(LEG.triggers | SUPERVISOR.triggers | {"start"}))


# --------------------------------------------------------------------------- what is driven


class _Driven:
    """The machine under test, as the world drives it (one leg, or a whole hedge)."""

    kind: MachineKind
    closed_states: frozenset[str]
    """Terminal states in which no order of the machine may still fill at the venue."""
    instruments: list[Instrument]
    baselines: list[Decimal]
    started_at: float = 0.0

    def deliver(self, route: Route, event: Event) -> None:
        raise NotImplementedError

    def drain(self) -> list[tuple[Route, Command]]:
        raise NotImplementedError

    @property
    def model(self) -> LegHedge | HedgeSupervisor:
        raise NotImplementedError

    @property
    def is_finished(self) -> bool:
        return self.model.is_finished

    @property
    def state(self) -> str:
        return self.model.state

    def history(self) -> list[TransitionRecord]:
        return self.model.history

    def ledgers(self) -> list[tuple[int, Ledger]]:
        raise NotImplementedError

    def ledger_of(self, order: _Order) -> Ledger | None:
        raise NotImplementedError

    def bbo_for(self, route: Route) -> BBO | None:
        raise NotImplementedError

    def kind_of(self, route: Route, command: PlaceLimit | PlaceMarket) -> str:
        raise NotImplementedError

    def leg_side(self, leg: int) -> Side:
        raise NotImplementedError

    def hedge_targets(self) -> dict[int, Decimal]:
        raise NotImplementedError

    def adopted(self, leg: int) -> tuple[str, Decimal] | None:
        """The adopted entry order of ``leg`` (client id, fill at the handoff), if any."""
        return None

    def problems(self, venue: _Venue) -> list[str]:
        raise NotImplementedError

    def fingerprint(self) -> object:
        raise NotImplementedError

    def refuse(self, trigger: str, now: float) -> str | None:
        """Feed an event the current state has no edge for: a problem if it did anything."""
        before = self.fingerprint()
        model = self.model
        try:
            self._feed_directly(_event_for(trigger, now))
        except IllegalTransition as error:
            if error.state != model.state or error.trigger != trigger:
                return f"refused {trigger} named state {error.state!r}, trigger {error.trigger!r}"
        else:
            return f"{self.kind.name}: {trigger} accepted in state {model.state}, which has no edge for it"
        if self.fingerprint() != before:
            return f"{self.kind.name}: a refused {trigger} in state {model.state} changed the machine"
        return None

    def _feed_directly(self, event: Event) -> None:
        raise NotImplementedError


class _DrivenLeg(_Driven):
    kind = LEG
    # A leg that ends in ``rollback`` hands its orders to the supervisor, which closes them.
    closed_states = frozenset({LegState.DONE.value})

    def __init__(self, leg: LegHedge, baseline: Decimal) -> None:
        self.leg = leg
        self.instruments = [leg.instrument]
        self.baselines = [baseline]

    @property
    def model(self) -> LegHedge:
        return self.leg

    def deliver(self, route: Route, event: Event) -> None:
        if self.leg.is_finished:
            # The driver folds late answers into the ledger; the machine no longer moves.
            report = getattr(event, "order", None)
            if isinstance(report, OrderInfo):
                self.leg.ledger.apply(report)
            return
        self.leg.feed(event)

    def _feed_directly(self, event: Event) -> None:
        self.leg.feed(event)

    def drain(self) -> list[tuple[Route, Command]]:
        return [(Route("leg", 0), command) for command in self.leg.drain()]

    def ledgers(self) -> list[tuple[int, Ledger]]:
        return [(0, self.leg.ledger)]

    def ledger_of(self, order: _Order) -> Ledger | None:
        return self.leg.ledger

    def bbo_for(self, route: Route) -> BBO | None:
        return self.leg.last_bbo

    def kind_of(self, route: Route, command: PlaceLimit | PlaceMarket) -> str:
        return "hedge"

    def leg_side(self, leg: int) -> Side:
        return self.leg.side

    def hedge_targets(self) -> dict[int, Decimal]:
        return {0: self.leg.target}

    def problems(self, venue: _Venue) -> list[str]:
        problems = check_leg(self.leg)
        if self.leg.attempts > self.leg.policy.max_attempts:
            problems.append(f"{self.leg.attempts} attempts > max {self.leg.policy.max_attempts}")
        return problems

    def fingerprint(self) -> object:
        leg = self.leg
        return (
            leg.state,
            len(leg.history),
            leg.ledger.filled,
            tuple((r.client_order_id, r.filled, r.terminal, r.status) for r in leg.ledger.orders.values()),
            len(leg.ledger.quarantined),
            len(leg.outbox),
            leg.attempts,
            leg.orders_sent,
            leg.timer_token,
            leg.error,
        )


class _DrivenSupervisor(_Driven):
    kind = SUPERVISOR
    # ``failed`` reports what it could not close, as the operator's job.
    closed_states = frozenset(
        {SupervisorState.DONE.value, SupervisorState.ROLLED_BACK.value, SupervisorState.CANCELLED.value}
    )

    def __init__(self, supervisor: HedgeSupervisor) -> None:
        self.sup = supervisor
        self.instruments = [plan.instrument for plan in supervisor.plans]
        self.baselines = [plan.baseline for plan in supervisor.plans]

    @property
    def model(self) -> HedgeSupervisor:
        return self.sup

    def deliver(self, route: Route, event: Event) -> None:
        if self.sup.is_finished:
            self.sup.absorb_late(route, event)
        else:
            self.sup.dispatch(route, event)

    def _feed_directly(self, event: Event) -> None:
        self.sup.dispatch(SUPERVISOR_ROUTE, event)

    def drain(self) -> list[tuple[Route, Command]]:
        return self.sup.drain_routed()

    def ledgers(self) -> list[tuple[int, Ledger]]:
        return [(plan.index, ledger) for plan in self.sup.plans for ledger in plan.ledgers()]

    def ledger_of(self, order: _Order) -> Ledger | None:
        plan = self.sup.plans[order.leg]
        for ledger in plan.ledgers():
            if order.client_order_id in ledger.orders:
                return ledger  # an adopted entry moved to its leg's ledger
        if order.route.machine == "leg":
            return plan.hedge.ledger if plan.hedge is not None else None
        return plan.ledger

    def bbo_for(self, route: Route) -> BBO | None:
        if route.machine != "leg" or route.leg is None:
            return None
        hedge = self.sup.plans[route.leg].hedge
        return hedge.last_bbo if hedge is not None else None

    def kind_of(self, route: Route, command: PlaceLimit | PlaceMarket) -> str:
        plan = self.sup.plans[command.leg]
        if route.machine == "leg":
            return "hedge"
        if plan.entry is not None and plan.entry.client_order_id == command.client_order_id:
            return "entry"
        return "rollback"

    def leg_side(self, leg: int) -> Side:
        return self.sup.plans[leg].side

    def hedge_targets(self) -> dict[int, Decimal]:
        return {p.index: p.hedge.target for p in self.sup.plans if p.hedge is not None}

    def adopted(self, leg: int) -> tuple[str, Decimal] | None:
        hedge = self.sup.plans[leg].hedge
        if hedge is None or hedge.adopted is None:
            return None
        return hedge.adopted.client_order_id, hedge.adopted_fill

    def problems(self, venue: _Venue) -> list[str]:
        sup = self.sup
        problems = check_supervisor(sup, venue.positions)
        for plan in sup.plans:
            adopted = plan.hedge is not None and plan.hedge.adopted is not None
            if adopted and plan.hedge is not None and plan.hedge.target > plan.target:
                problems.append(
                    f"leg {plan.index}: adopted-entry hedge target {plan.hedge.target} > "
                    f"leg target {plan.target}"
                )
            if not adopted and plan.hedge is not None and plan.entry_filled + plan.hedge.target > plan.target:
                problems.append(
                    f"leg {plan.index}: entry {plan.entry_filled} + hedge target {plan.hedge.target} "
                    f"> leg target {plan.target}"
                )
            # A rollback trades against what the leg traded, and never past flat.
            traded = sum(
                (
                    o.side.sign * o.filled
                    for o in venue.orders.values()
                    if o.leg == plan.index and o.kind != "rollback"
                ),
                ZERO,
            )
            unwound = sum(
                (
                    o.side.sign * o.filled
                    for o in venue.orders.values()
                    if o.leg == plan.index and o.kind == "rollback"
                ),
                ZERO,
            )
            if unwound != 0 and (traded == 0 or unwound * traded > 0):
                problems.append(
                    f"leg {plan.index}: rollback trades the wrong way: traded {traded}, unwound {unwound}"
                )
            elif unwound != 0 and (traded + unwound) * traded < 0:
                problems.append(f"leg {plan.index}: rollback overshoots: traded {traded}, unwound {unwound}")
        true_tokens = sum(
            ((venue.positions[p.index] - p.baseline) * p.instrument.multiplier for p in sup.plans), ZERO
        )
        state = sup.state
        if state == SupervisorState.DONE and not sup.direct and abs(true_tokens) > exposure_bound(sup):
            problems.append(f"done with true net exposure {true_tokens} tokens > {exposure_bound(sup)}")
        if state == SupervisorState.ROLLED_BACK:
            for plan in sup.plans:
                residual = venue.positions[plan.index] - plan.baseline
                if not is_unplaceable(residual, plan.instrument, sup.config.dust_tolerance):
                    problems.append(
                        f"rolled_back: leg {plan.index} at {venue.positions[plan.index]}, "
                        f"baseline {plan.baseline}"
                    )
        if state == SupervisorState.CANCELLED and any(o.filled for o in venue.orders.values()):
            problems.append("cancelled although orders filled")
        return problems

    def fingerprint(self) -> object:
        sup = self.sup
        ledgers = tuple(
            tuple((r.client_order_id, r.filled, r.terminal, r.status) for r in ledger.orders.values())
            for _, ledger in self.ledgers()
        )
        return (
            sup.state, len(sup.history), sup.error, sup.finished_at, sup.timer_token, len(sup.outbox),
            tuple(p.position for p in sup.plans), tuple(p.target for p in sup.plans), ledgers,
            tuple(p.hedge.state if p.hedge is not None else None for p in sup.plans),
        )  # fmt: skip


# --------------------------------------------------------------------------- the world


class _World:
    """The machine, the model venue, and the driver between them (pending commands, timers)."""

    def __init__(
        self,
        driven: _Driven,
        time_bound: float,
        prices: Sequence[Decimal],
        lookup_attempts: int,
        position_settle_delay: float,
    ) -> None:
        self.driven = driven
        self.lookup_attempts = lookup_attempts
        self.position_settle_delay = position_settle_delay
        self.time_bound = time_bound
        self.prices = list(prices)
        self.venue = _Venue(driven.instruments, driven.baselines)
        self.now = 0.0
        self.venue.world = self
        self.pending: list[_Pending] = []
        self.timers: dict[Route, WaitUntil] = {}
        self.stale_timers: list[tuple[Route, int]] = []
        self.reported: dict[str, Decimal] = {}
        self.command_problems: list[str] = []
        self.terminal_state: str | None = None
        self.last_filled: dict[str, Decimal] = {}
        self.moves_checked = 0
        self.trace: list[str] = []
        """Every event delivered and the state after it: printed when an invariant breaks."""
        """History records already checked against the tables (a bad one stays reported)."""
        self.moves = {(e.source, e.trigger, e.destination) for e in LEG.edges} | {
            (e.source, e.trigger, e.destination) for e in SUPERVISOR.edges
        }
        self.pump()

    # ------------------------------------------------------------------ the driver

    def deliver(self, route: Route, event: Event) -> None:
        self.driven.deliver(route, event)
        self.trace.append(f"t={self.now:.3f} {route.machine} {route.leg}: {event!r} -> {self.driven.state}")
        report = getattr(event, "order", None)
        if isinstance(report, OrderInfo):
            cid = report.client_order_id
            self.reported[cid] = max(self.reported.get(cid, ZERO), report.filled_quantity)
            if cid in self.venue.orders:
                self.venue.orders[cid].known = True
        self.pump()

    def pump(self) -> None:
        for route, command in self.driven.drain():
            if isinstance(command, WaitUntil):
                previous = self.timers.get(route)
                if previous is not None:
                    self.stale_timers.append((route, previous.token))  # it may still race in
                self.timers[route] = command
                continue
            if isinstance(command, PlaceLimit | PlaceMarket):
                self._register(route, command)
            order = self.venue.orders.get(getattr(command, "client_order_id", ""))
            if isinstance(command, CancelOrder) and order is not None:
                order.cancel_sent = True
            if isinstance(command, AmendOrder):
                if order is None or order.order_id != command.order_id:
                    self.command_problems.append(f"amend of an order the venue never acknowledged: {command}")
                elif command.quantity is not None and command.quantity > order.quantity:
                    self.command_problems.append(f"{command} amends {order.quantity} up")
            self.pending.append(
                _Pending(
                    route=route,
                    command=command,
                    snapshot_index=max(len(order.snapshots) - 1, 0) if order is not None else 0,
                    position_index=len(self.venue.position_history) - 1,
                )
            )
        if self.driven.is_finished:
            # The engine cancels every timer at the end.
            self.timers.clear()
            self.stale_timers.clear()

    def _register(self, route: Route, command: PlaceLimit | PlaceMarket) -> None:
        cid = command.client_order_id
        leg = command.leg
        instrument = self.venue.instruments[leg]
        where = f"{type(command).__name__} {cid} (leg {leg}, {route.machine})"
        if cid in self.venue.orders:
            self.command_problems.append(f"{where}: client order id sent twice")
            return
        bbo = self.driven.bbo_for(route)
        if isinstance(command, PlaceLimit) and route.machine == "leg" and bbo is None:
            self.command_problems.append(f"{where}: a hedge limit priced on no BBO")
        self.command_problems += check_order_command(command, instrument, bbo)
        kind = self.driven.kind_of(route, command)
        if kind in ("hedge", "rollback"):
            others = [
                o.client_order_id
                for o in self.venue.orders.values()
                if o.leg == leg and o.kind == kind and o.may_fill
            ]
            adopted = self.driven.adopted(leg) if kind == "hedge" else None
            if adopted is not None and self.venue.orders[adopted[0]].may_fill:
                others.append(adopted[0])  # the adopted entry is one of the leg's orders
            if others:
                self.command_problems.append(f"{where} sent while {kind} order(s) {others} may still fill")
        if kind == "hedge" and command.side is not self.driven.leg_side(leg):
            self.command_problems.append(
                f"{where}: hedge on {command.side}, leg is {self.driven.leg_side(leg)}"
            )
        price = command.price if isinstance(command, PlaceLimit) else None
        self.venue.orders[cid] = _Order(
            client_order_id=cid,
            route=route,
            leg=leg,
            kind=kind,
            symbol=instrument.symbol,
            side=command.side,
            quantity=command.quantity,
            price=price,
            post_only=isinstance(command, PlaceLimit) and command.post_only,
            reduce_only=command.reduce_only,
            is_market=isinstance(command, PlaceMarket),
            fill_price=price if price is not None else self.prices[leg],
            reports_maker=len(self.venue.orders) % 3 == 1,  # some venues report fill liquidity
        )

    def advance(self, seconds: float) -> None:
        self.now += seconds

    # ------------------------------------------------------------------ answering commands

    def answer(self, index: int, outcome: int, amount: int) -> None:
        """Answer one pending command (honestly), as the driver would map the venue's answer."""
        pending = self.pending.pop(index)
        command = pending.command
        event: Event
        if isinstance(command, PlaceLimit | PlaceMarket):
            event = self._answer_place(command, _PLACE[outcome % len(_PLACE)], amount)
        elif isinstance(command, CancelOrder):
            event = self._answer_cancel(command, _CANCEL[outcome % len(_CANCEL)], amount)
        elif isinstance(command, AmendOrder):
            event = self._answer_amend(command, _AMEND[outcome % len(_AMEND)], amount)
        elif isinstance(command, QueryOrder):
            event = self._answer_query(pending, _QUERY[outcome % len(_QUERY)], amount)
        elif isinstance(command, ReadPosition):
            choice = _POSITION[outcome % len(_POSITION)]
            if choice == "failed":
                event = PositionFailed(now=self.now, message="position endpoint down")
            else:
                history = self.venue.position_history
                at = len(history) - 1
                if choice == "stale":
                    at = pending.position_index + amount % (len(history) - pending.position_index)
                quantity = history[at][command.leg]
                if choice == "lagging":
                    # Behind the fills by up to the settle delay: venues report positions late.
                    lag = max(0.0, self.position_settle_delay * (amount % 4) / 3 - 1e-6)
                    quantity = self.venue.lagging_position(command.leg, lag)
                event = PositionRead(now=self.now, quantity=quantity)
        else:
            assert isinstance(command, FetchBbo), f"unexpected command {command}"
            event = self._answer_bbo(command, _BBO[outcome % len(_BBO)], amount)
        self.deliver(pending.route, event)

    def _lots(self, order: _Order, amount: int, *, below_all: bool) -> int:
        lot = self.venue.instruments[order.leg].lot_size
        left = int((order.quantity - order.filled) / lot)
        if below_all and left > 1:
            return 1 + amount % (left - 1)
        return 1 + amount % max(left, 1)

    def _answer_place(self, command: PlaceLimit | PlaceMarket, choice: str, amount: int) -> Event:
        order = self.venue.orders[command.client_order_id]
        order.answered = True
        cid = command.client_order_id
        if choice == "post_only" and not order.post_only:
            choice = "reject"
        if choice == "post_only":
            return PostOnlyRejected(now=self.now, client_order_id=cid, message="would take liquidity")
        if choice == "reject":
            reasons = [r for r in RejectReason if r is not RejectReason.POST_ONLY]
            reason = reasons[amount % len(reasons)]
            return OrderRejected(now=self.now, client_order_id=cid, reason=reason, message="refused")
        if choice == "ambiguous_lost":
            return PlacementAmbiguous(now=self.now, client_order_id=cid, message="timeout")
        if self.venue.reduce_only_refused(order):
            return OrderRejected(now=self.now, client_order_id=cid, reason=RejectReason.REDUCE_ONLY)
        self.venue.create(order)
        if choice == "partial":
            self.venue.fill(order, self._lots(order, amount, below_all=True))
        elif choice == "full" or (order.is_market and choice in ("rest", "ambiguous_created")):
            self.venue.fill(order)
        elif choice == "ambiguous_created" and amount % 3 == 0:
            self.venue.fill(order, self._lots(order, amount, below_all=False))
        if order.is_market and choice != "market_open" and order.live:
            self.venue.close(order)  # a market order's unfilled rest is cancelled at once (IOC)
        if choice == "ambiguous_created":
            # The machine's assumption: an order created after an ambiguous placement shows up
            # before ``lookup_attempts`` lookups have missed it.
            order.hidden = amount % self.lookup_attempts
            return PlacementAmbiguous(now=self.now, client_order_id=cid, message="gateway timeout")
        assert order.current is not None
        return OrderAcked(now=self.now, order=order.current)

    def _answer_cancel(self, command: CancelOrder, choice: str, amount: int) -> Event:
        order = self.venue.orders.get(command.client_order_id)
        if order is None or not order.created or order.order_id != command.order_id:
            self.command_problems.append(f"cancel of an order the venue never acknowledged: {command}")
            return CancelFailed(
                now=self.now, client_order_id=command.client_order_id, message="unknown order"
            )
        if choice.startswith("fill_then"):
            self.venue.fill(order, self._lots(order, amount, below_all=False))  # a fill during the cancel
        if choice == "applied_then_fail":
            self.venue.close(order)  # the cancel worked, its answer was lost
        if choice.endswith("fail"):
            return CancelFailed(now=self.now, client_order_id=order.client_order_id, message="refused")
        if choice == "pending":
            order.cancel_requested = True  # accepted; the venue applies it later
        else:
            self.venue.close(order)
        assert order.current is not None
        if order.current.is_terminal:
            return CancelConfirmed(now=self.now, order=order.current)
        return OrderUpdated(now=self.now, order=order.current)  # accepted, not effective yet

    def _answer_amend(self, command: AmendOrder, choice: str, amount: int) -> Event:
        """An honest amend: applied to what is left (a fill may race it), refused, or unknown."""
        cid = command.client_order_id
        order = self.venue.orders.get(cid)
        if order is None or not order.created or order.order_id != command.order_id:
            return AmendRejected(now=self.now, client_order_id=cid, reason=RejectReason.UNKNOWN_ORDER)
        if choice.startswith("fill_then"):
            self.venue.fill(order, self._lots(order, amount, below_all=False))  # a fill racing it
        quantity = command.quantity if command.quantity is not None else order.quantity
        if choice == "refused" or not order.live or quantity <= order.filled:
            return AmendRejected(now=self.now, client_order_id=cid, message="cannot amend")
        if choice == "ambiguous_lost":
            return AmendAmbiguous(now=self.now, client_order_id=cid, message="timeout")
        order.quantity = quantity
        if command.price is not None:
            order.price = order.fill_price = command.price
        status = OrderStatus.PARTIALLY_FILLED if order.filled > 0 else OrderStatus.OPEN
        self.venue.snapshot(order, order.filled, status)
        if choice == "ambiguous_applied":
            return AmendAmbiguous(now=self.now, client_order_id=cid, message="reply lost")
        assert order.current is not None
        return OrderAmended(now=self.now, order=order.current)

    def _answer_query(self, pending: _Pending, choice: str, amount: int) -> Event:
        command = pending.command
        assert isinstance(command, QueryOrder)
        order = self.venue.orders.get(command.client_order_id)
        if choice == "failed":
            return QueryFailed(now=self.now, client_order_id=command.client_order_id, message="502")
        if order is None or not order.created:
            return OrderMissing(now=self.now, client_order_id=command.client_order_id)
        if command.order_id is None and order.hidden > 0:
            order.hidden -= 1
            return OrderMissing(now=self.now, client_order_id=command.client_order_id)
        at = len(order.snapshots) - 1
        if choice == "stale":
            # Any snapshot from when the query was sent until now: answers travel.
            at = pending.snapshot_index + amount % (len(order.snapshots) - pending.snapshot_index)
        return OrderUpdated(now=self.now, order=order.snapshots[at])

    def _answer_bbo(self, command: FetchBbo, choice: str, amount: int) -> Event:
        if choice == "failed":
            return BboFailed(now=self.now, message="timeout")
        tick = self.venue.instruments[command.leg].tick_size
        bid = self.prices[command.leg] + (amount % 7 - 3) * tick
        spread = {"normal": 2 + amount % 3, "wide": 8, "one_tick": 1, "locked": 0, "crossed": -1}[choice]
        return BboReceived(
            now=self.now,
            bbo=BBO(bid=bid, ask=bid + spread * tick, bid_size=Decimal(10), ask_size=Decimal(10)),
        )

    # ------------------------------------------------------------------ the venue acting on its own

    def venue_fill(self, index: int, amount: int, *, all_of_it: bool) -> None:
        live = self.venue.live_orders()
        if live:
            order = live[index % len(live)]
            self.venue.fill(order, None if all_of_it else self._lots(order, amount, below_all=False))

    def venue_fill_entries(self) -> None:
        """Every entry order fills completely at the same moment."""
        for order in self.venue.live_orders():
            if order.kind == "entry":
                self.venue.fill(order)

    def venue_close(self, index: int, expired: bool) -> None:
        live = self.venue.live_orders()
        if live:
            order = live[index % len(live)]
            if order.cancel_requested or expired:
                self.venue.close(order, OrderStatus.EXPIRED if expired else OrderStatus.CANCELED)

    def push(self, index: int, which: int) -> None:
        """A stream push, a duplicate or an older snapshot that arrives late."""
        known = [o for o in self.venue.orders.values() if o.created and o.known]
        if known:
            order = known[index % len(known)]
            snapshot = order.snapshots[which % len(order.snapshots)]
            if snapshot.is_terminal and order.cancel_sent and which % 2:
                # A second (or late) answer to a cancel the machine did send.
                self.deliver(order.route, CancelConfirmed(now=self.now, order=snapshot))
            else:
                self.deliver(order.route, OrderUpdated(now=self.now, order=snapshot))

    def fire_timer(self, index: int, delay: float) -> None:
        routes = sorted(self.timers, key=lambda r: (r.machine, -1 if r.leg is None else r.leg))
        if routes:
            route = routes[index % len(routes)]
            timer = self.timers.pop(route)
            self.now = max(self.now, timer.at) + delay
            self.deliver(route, TimerFired(now=self.now, token=timer.token))

    def fire_stale_timer(self, index: int) -> None:
        if self.stale_timers:
            route, token = self.stale_timers.pop(index % len(self.stale_timers))
            self.deliver(route, TimerFired(now=self.now, token=token))

    def drive(self, answers: Sequence[tuple[int, int, float]]) -> None:
        """Answer the oldest command with the given outcomes, or fire the next timer; in order."""
        for outcome, amount, delay in answers:
            if amount % 4 == 0:
                self.venue_fill(outcome, amount // 4, all_of_it=False)  # fills land at any time
            if self.pending:
                self.advance(delay)
                self.answer(0, outcome, amount)
            elif self.timers:
                route, timer = min(self.timers.items(), key=lambda item: item[1].at)
                del self.timers[route]
                self.now = max(self.now, timer.at) + delay
                self.deliver(route, TimerFired(now=self.now, token=timer.token))
            else:
                return
            self.assert_invariants()

    # ------------------------------------------------------------------ a cooperative venue

    def cooperative_step(self) -> bool:
        """One step of a venue that answers everything, fills hedges and confirms cancels."""
        for order in self.venue.live_orders():
            if order.cancel_requested:
                self.venue.close(order)
            elif order.kind != "entry":
                self.venue.fill(order)
        if self.pending:
            pending = self.pending.pop(0)
            command = pending.command
            event: Event
            if isinstance(command, PlaceLimit | PlaceMarket):
                order = self.venue.orders[command.client_order_id]
                event = self._answer_place(command, "rest" if order.kind == "entry" else "full", 0)
            elif isinstance(command, CancelOrder):
                event = self._answer_cancel(command, "confirm", 0)
            elif isinstance(command, AmendOrder):
                event = self._answer_amend(command, "applied", 0)
            elif isinstance(command, QueryOrder):
                hidden = self.venue.orders.get(command.client_order_id)
                if hidden is not None:
                    hidden.hidden = 0  # a cooperative venue shows what it has
                event = self._answer_query(pending, "current", 0)
            elif isinstance(command, ReadPosition):
                event = PositionRead(now=self.now, quantity=self.venue.positions[command.leg])
            else:
                assert isinstance(command, FetchBbo)
                event = self._answer_bbo(command, "normal", 3)
            self.deliver(pending.route, event)
            return True
        if self.timers:
            route, timer = min(self.timers.items(), key=lambda item: item[1].at)
            del self.timers[route]
            self.now = max(self.now, timer.at)
            self.deliver(route, TimerFired(now=self.now, token=timer.token))
            return True
        return False

    def cooperate(self, steps: int | None = None) -> None:
        """Let a cooperative venue drive the machine (``steps`` steps, or to its end and beyond)."""
        if steps is not None:
            for _ in range(steps):
                if self.driven.is_finished or not self.cooperative_step():
                    break
                self.assert_invariants()
            return
        started = self.now
        taken = 0
        while not self.driven.is_finished:
            assert taken < COOPERATIVE_STEPS, (
                f"a cooperative venue did not end the {self.driven.kind.name} in {COOPERATIVE_STEPS} "
                f"steps; state {self.driven.state}"
            )
            assert self.cooperative_step(), (
                f"the {self.driven.kind.name} waits for nothing in state {self.driven.state}: "
                f"no command out, no timer armed"
            )
            taken += 1
            self.assert_invariants()
        assert self.now - started <= self.time_bound, (
            f"a cooperative venue took {self.now - started:.3f}s of virtual time to end the "
            f"{self.driven.kind.name} (bound {self.time_bound:.3f}s), ending {self.driven.state}"
        )
        # After the end the engine still awaits the calls in flight and folds their answers in.
        while self.pending:
            self.cooperative_step()
            self.assert_invariants()

    # ------------------------------------------------------------------ invariants

    def problems(self) -> list[str]:
        driven = self.driven
        venue = self.venue
        problems = list(self.command_problems)
        problems += driven.problems(venue)
        history = driven.history()
        for move in history[self.moves_checked :]:
            if (move.source, move.trigger, move.destination) not in self.moves:
                self.command_problems.append(f"move not in the table: {move.describe()}")
        self.moves_checked = len(history)
        # Terminal states are absorbing (invariant 1).
        if self.terminal_state is not None and driven.state != self.terminal_state:
            problems.append(f"left terminal state {self.terminal_state} for {driven.state}")
        if driven.is_finished and self.terminal_state is None:
            self.terminal_state = driven.state
        # Fill conservation (invariant 5): each ledger holds the largest fill reported, once.
        for leg, ledger in driven.ledgers():
            total = sum((r.filled for r in ledger.orders.values()), ZERO)
            if total != ledger.filled:
                problems.append(f"leg {leg}: ledger total {ledger.filled} != sum of its orders {total}")
            if ledger.quarantined:
                problems.append(f"leg {leg}: reports of unknown orders quarantined: {ledger.quarantined}")
            # Per order, not per ledger: an adopted entry's record moves to its leg's ledger.
            for cid, kept in ledger.orders.items():
                before = self.last_filled.get(cid, ZERO)
                if kept.filled < before:
                    problems.append(f"leg {leg}: order {cid} filled went down from {before} to {kept.filled}")
                self.last_filled[cid] = kept.filled
        for order in venue.orders.values():
            owner = driven.ledger_of(order)
            record = owner.orders.get(order.client_order_id) if owner is not None else None
            reported = self.reported.get(order.client_order_id, ZERO)
            if record is None:
                problems.append(f"order {order.client_order_id} is not in its ledger")
                continue
            if record.filled != reported:
                problems.append(
                    f"order {order.client_order_id}: ledger {record.filled} != largest reported {reported}"
                )
            if record.terminal and order.live:
                problems.append(
                    f"order {order.client_order_id}: the ledger says terminal, the venue says live"
                )
        # Never over-hedge (invariant 3), in the venue's truth.
        for leg, target in driven.hedge_targets().items():
            hedged = sum(
                (o.filled for o in venue.orders.values() if o.leg == leg and o.kind == "hedge"), ZERO
            )
            adopted = driven.adopted(leg)
            if adopted is not None:
                # An adopted entry is the leg's attempt 0: its fills count (those before the
                # handoff too, which the leg could not prevent from exceeding the target).
                cid, at_handoff = adopted
                hedged += venue.orders[cid].filled
                target = max(target, at_handoff)
            if hedged > target:
                problems.append(
                    f"leg {leg}: over-hedged at the venue: hedge orders filled {hedged} > target {target}"
                )
        # No open order at a terminal state (invariant 4), in the venue's truth.
        if driven.is_finished and driven.state in driven.closed_states:
            live = [o.client_order_id for o in venue.orders.values() if o.may_fill]
            if live:
                problems.append(f"{driven.state} while orders {live} may still fill at the venue")
        return problems

    def assert_invariants(self) -> None:
        problems = self.problems()
        assert problems == [], "\n".join(
            [*problems, "events, last first:", *reversed(self.trace[-TRACE_LINES:])]
        )

    def assert_waits_on_something(self) -> None:
        """Liveness: a machine that is not finished has a command out or a timer armed."""
        if not self.driven.is_finished:
            assert self.pending or self.timers, (
                f"{self.driven.kind.name} stuck in {self.driven.state} with nothing in flight"
            )


# --------------------------------------------------------------------------- the state machine

_PICK = st.integers(0, 1000)
_DELAYS = st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.2])


class _MachineUnderTest(RuleBasedStateMachine):
    """Random, adversarial but honest venue behaviour against one machine (see the module doc)."""

    WORLDS: ClassVar[st.SearchStrategy[_Setup]]
    COPIES_PER_RUN: ClassVar[int] = 2
    """How often one run checks, on a copy, that a cooperative venue ends it from the current state
    (each check replays the rest of the hedge: the costliest rule)."""
    world: _World
    healthy = True
    copies = 0

    def _run(self, action: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except BaseException:
            self.healthy = False  # teardown must not mask the failure
            raise

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        build = data.draw(type(self).WORLDS, label="setup")
        self._run(lambda: setattr(self, "world", build()))

    @precondition(lambda self: bool(self.world.pending))
    @rule(index=_PICK, outcome=_PICK, amount=_PICK, delay=_DELAYS)
    def answer_a_command(self, index: int, outcome: int, amount: int, delay: float) -> None:
        """Answer any outstanding command (answers come out of order)."""
        self.world.advance(delay)
        self._run(self.world.answer, index % len(self.world.pending), outcome, amount)

    @precondition(lambda self: bool(self.world.pending))
    @rule(outcome=_PICK, amount=_PICK)
    def answer_the_oldest_command(self, outcome: int, amount: int) -> None:
        self._run(self.world.answer, 0, outcome, amount)

    @precondition(lambda self: bool(self.world.pending))
    @rule(outcome=_PICK, amount=_PICK)
    def answer_the_newest_command(self, outcome: int, amount: int) -> None:
        self._run(self.world.answer, len(self.world.pending) - 1, outcome, amount)

    @precondition(lambda self: bool(self.world.venue.live_orders()))
    @rule(index=_PICK, amount=_PICK, how=st.sampled_from(["some", "some", "all", "both_entries"]))
    def venue_fills(self, index: int, amount: int, how: str) -> None:
        """Some or all of one live order fills; or every entry order at the same moment."""
        if how == "both_entries":
            self._run(self.world.venue_fill_entries)
        else:
            self._run(self.world.venue_fill, index, amount, all_of_it=how == "all")

    @precondition(lambda self: bool(self.world.venue.live_orders()))
    @rule(index=_PICK, expired=st.booleans())
    def venue_closes_an_order(self, index: int, expired: bool) -> None:
        """The venue expires an order, or a pending cancel takes effect."""
        self._run(self.world.venue_close, index, expired)

    @precondition(lambda self: not self.world.driven.is_finished)
    @rule(index=_PICK, which=_PICK)
    def duplicate_or_stale_report(self, index: int, which: int) -> None:
        self._run(self.world.push, index, which)

    @precondition(lambda self: bool(self.world.timers))
    @rule(index=_PICK, delay=_DELAYS)
    def timer_fires(self, index: int, delay: float) -> None:
        self._run(self.world.fire_timer, index, delay)

    @precondition(lambda self: bool(self.world.stale_timers))
    @rule(index=_PICK)
    def stale_timer_fires(self, index: int) -> None:
        self._run(self.world.fire_stale_timer, index)

    @precondition(lambda self: not self.world.driven.is_finished)
    @rule(delay=st.sampled_from([0.1, 0.5, 1.0, 3.0]))
    def time_passes(self, delay: float) -> None:
        self.world.advance(delay)

    @precondition(lambda self: not self.world.driven.is_finished)
    @rule(answers=st.lists(st.tuples(_PICK, _PICK, _DELAYS), min_size=1, max_size=30))
    def driver_runs_for_a_while(self, answers: list[tuple[int, int, float]]) -> None:
        """The oldest command is answered (any outcome), or else the next timer fires."""
        self._run(self.world.drive, answers)

    @precondition(lambda self: not self.world.driven.is_finished)
    @rule(steps=st.integers(1, 25))
    def venue_cooperates_for_a_while(self, steps: int) -> None:
        self._run(self.world.cooperate, steps)

    @precondition(lambda self: not self.world.driven.is_finished and self.copies < self.COPIES_PER_RUN)
    @rule()
    def a_cooperative_venue_ends_it_from_here(self) -> None:
        """Invariant 2 from this very state, on a copy (the run goes on adversarially)."""
        self.copies += 1
        self._run(copy.deepcopy(self.world).cooperate)

    @rule(pick=_PICK)
    def an_event_without_an_edge_raises_and_changes_nothing(self, pick: int) -> None:
        """Invariants 1 and 8: a trigger the state has no edge for raises and leaves no trace."""
        driven = self.world.driven
        refused = [t for t in _ALL_TRIGGERS if t not in driven.kind.allowed[driven.state]]
        if refused:
            problem = driven.refuse(refused[pick % len(refused)], self.world.now)
            self._run(lambda: _expect_none(problem))

    @invariant()
    def invariants_hold(self) -> None:
        self._run(self.world.assert_invariants)

    @invariant()
    def a_live_machine_always_waits_on_something(self) -> None:
        self._run(self.world.assert_waits_on_something)

    def teardown(self) -> None:
        if self.healthy and hasattr(self, "world"):
            self.world.cooperate()


def _expect_none(problem: str | None) -> None:
    assert problem is None, problem


# --------------------------------------------------------------------------- factories


class _Setup:
    """What a run drew: builds its world, and prints as the drawn values (in failure reports)."""

    def __init__(self, build: Callable[[], _World], description: str) -> None:
        self.build = build
        self.description = description

    def __call__(self) -> _World:
        return self.build()

    def __repr__(self) -> str:
        return self.description


def _as_markets(markets: Market | Sequence[Market]) -> tuple[Market, ...]:
    chosen = (
        (markets,) if isinstance(markets, Market) else tuple(markets) if isinstance(markets, Sequence) else ()
    )
    if not chosen or not all(isinstance(m, Market) for m in chosen):
        raise InvalidValue(f"expected one or more Market values, got {markets!r}")
    return chosen


def _flags(value: bool | None) -> st.SearchStrategy[bool]:
    return st.booleans() if value is None else st.just(value)


ConfigSource = HedgeConfig | st.SearchStrategy[HedgeConfig]
"""One configuration, or a Hypothesis strategy drawing one per run."""


def _check_config(config: object) -> st.SearchStrategy[HedgeConfig]:
    if isinstance(config, st.SearchStrategy):
        return config
    if not isinstance(config, HedgeConfig):
        raise InvalidValue(
            f"expected a HedgeConfig (or a strategy of them), got {type(config).__name__} {config!r}"
        )
    return st.just(config)


def leg_machine(
    config: ConfigSource,
    markets: Market | Sequence[Market],
    *,
    max_lots: int = 40,
    reduce_only: bool | None = None,
    market_only: bool | None = None,
    with_trigger: bool | None = None,
    time_bound: TimeBound = leg_time_bound,
) -> type[RuleBasedStateMachine]:
    """A stateful test of one leg hedge machine under ``config``, on each of ``markets``.

    ``config`` is your ``HedgeConfig``, or a Hypothesis strategy of them (one drawn per run).

    Each run draws a market, a side, a target of 1..``max_lots`` lots, and (where
    the argument is None) whether the leg is reduce-only, market-only and has a
    trigger fill for break-even pricing. Use ``leg_machine(...).TestCase`` as a
    test class, with Hypothesis ``settings`` as you like.
    """
    configs = _check_config(config)
    chosen = _as_markets(markets)
    if not isinstance(max_lots, int) or max_lots < 1:
        raise InvalidValue(f"max_lots must be an int >= 1, got {max_lots!r}")

    @st.composite
    def worlds(draw: st.DrawFn) -> _Setup:
        drawn = draw(configs, label="config")
        bound = time_bound(drawn)
        market = draw(st.sampled_from(chosen), label="market")
        instrument = market.instrument
        side = draw(st.sampled_from(Side), label="side")
        target = draw(st.integers(1, max_lots), label="target_lots") * instrument.lot_size
        closing = draw(_flags(reduce_only), label="reduce_only")
        trigger = None
        if draw(_flags(with_trigger), label="has_trigger"):
            ticks = draw(st.integers(-30, 30), label="trigger_ticks")
            contract_price = max(market.price + ticks * instrument.tick_size, instrument.tick_size)
            trigger = TriggerFill(
                side=side.opposite,
                price=contract_price / instrument.multiplier,  # a 1x trigger venue, same token price
                multiplier=Decimal(1),
                fee_rate=draw(st.sampled_from([ZERO, Decimal("0.0002")]), label="trigger_fee"),
            )
        only_market = draw(
            st.sampled_from([False, False, False, True]) if market_only is None else st.just(market_only),
            label="market_only",
        )
        # A closing leg reduces a position twice its target: every order of its is reducing.
        baseline = -side.sign * 2 * target if closing else ZERO

        def build() -> _World:
            leg = LegHedge(
                leg=0,
                hedge_id="kit",
                venue="model",
                instrument=instrument,
                side=side,
                target=target,
                reduce_only=closing,
                config=drawn,
                started_at=0.0,
                trigger=trigger,
                market_only=only_market,
                capabilities=market.capabilities,
            )
            driven = _DrivenLeg(leg, baseline)
            leg.feed(Start(now=0.0))
            return _World(driven, bound, [market.price], drawn.lookup_attempts, drawn.position_settle_delay)

        return _Setup(
            build,
            f"leg on {instrument.symbol}: {side} target {target}, reduce_only={closing}, "
            f"market_only={only_market}, trigger={trigger!r}, config={drawn!r}",
        )

    return type("LegMachine", (_MachineUnderTest,), {"WORLDS": worlds(), "__doc__": leg_machine.__doc__})


def _entry_quantities(first: Market, second: Market, units: int) -> tuple[Decimal, Decimal]:
    """Entry sizes with the same number of tokens on both legs (as near as the lots allow)."""
    unit = max(first.instrument.placeable_minimum * first.instrument.multiplier,
               second.instrument.placeable_minimum * second.instrument.multiplier)  # fmt: skip
    quantities = []
    for market in (first, second):
        inst = market.instrument
        contracts = units * unit / inst.multiplier
        lots = max((contracts / inst.lot_size).to_integral_value(rounding=ROUND_FLOOR), Decimal(1))
        quantities.append(lots * inst.lot_size)
    return quantities[0], quantities[1]


def supervisor_machine(
    config: ConfigSource,
    pairs: tuple[Market, Market] | Sequence[tuple[Market, Market]],
    *,
    max_units: int = 5,
    reduce_only: bool | None = None,
    direct: bool | None = None,
    time_bound: TimeBound = supervisor_time_bound,
) -> type[RuleBasedStateMachine]:
    """A stateful test of a whole two-leg hedge (supervisor and leg machines) under ``config``.

    ``config`` is your ``HedgeConfig``, or a Hypothesis strategy of them (one drawn per run).

    ``pairs``: the two legs' markets (or several such pairs, one drawn per run).
    Each run draws a pair, which leg buys, entry sizes of 1..``max_units`` units of
    the coarser leg in tokens (so that both legs carry the same tokens), entry
    prices a few ticks around each market's price, baseline positions, and (where
    the argument is None) whether the legs close positions (reduce-only) and
    whether the hedge is direct (``HedgeEngine.hedge``: no entry phase).
    """
    configs = _check_config(config)
    if not isinstance(pairs, Sequence):
        raise InvalidValue(f"expected a pair of Market values or a sequence of pairs, got {pairs!r}")
    if len(pairs) == 2 and all(isinstance(m, Market) for m in pairs):
        chosen: tuple[tuple[Market, Market], ...] = (pairs,)  # type: ignore[assignment]
    else:
        chosen = tuple(pairs)  # type: ignore[arg-type]
    for pair in chosen:
        if not isinstance(pair, Sequence) or len(pair) != 2 or not all(isinstance(m, Market) for m in pair):
            raise InvalidValue(f"each pair must be two Market values, got {pair!r}")
    if not isinstance(max_units, int) or max_units < 1:
        raise InvalidValue(f"max_units must be an int >= 1, got {max_units!r}")

    @st.composite
    def worlds(draw: st.DrawFn) -> _Setup:
        drawn = draw(configs, label="config")
        bound = time_bound(drawn)
        first, second = draw(st.sampled_from(chosen), label="pair")
        markets = (first, second)
        quantities = _entry_quantities(first, second, draw(st.integers(1, max_units), label="units"))
        buyer = draw(st.sampled_from(Side), label="first_side")
        sides = (buyer, buyer.opposite)
        prices = tuple(
            m.price + draw(st.integers(-3, 3), label="entry_ticks") * m.instrument.tick_size for m in markets
        )
        closing = draw(_flags(reduce_only), label="reduce_only")
        if closing:
            # Each leg reduces a position two or three times its quantity.
            baselines = tuple(
                -s.sign * q * draw(st.integers(2, 3), label="baseline")
                for s, q in zip(sides, quantities, strict=True)
            )
        else:
            baselines = tuple(
                draw(st.integers(-2, 2), label="baseline") * m.instrument.lot_size for m in markets
            )
        is_direct = draw(_flags(direct), label="direct")
        trigger = None
        if is_direct and draw(st.booleans(), label="has_trigger"):
            trigger = TriggerFill(side=sides[0], price=prices[0], multiplier=first.instrument.multiplier)

        def build() -> _World:
            plans = [
                LegPlan(
                    index=i,
                    venue=f"venue{i}",
                    instrument=markets[i].instrument,
                    side=sides[i],
                    quantity=quantities[i],
                    price=None if is_direct else prices[i],
                    reduce_only=closing,
                    baseline=baselines[i],
                    capabilities=markets[i].capabilities,
                )
                for i in range(2)
            ]
            sup = HedgeSupervisor(
                hedge_id="kit", plans=plans, config=drawn, direct=is_direct, trigger=trigger
            )
            driven = _DrivenSupervisor(sup)
            sup.dispatch(SUPERVISOR_ROUTE, Start(now=0.0))
            return _World(
                driven, bound, [m.price for m in markets], drawn.lookup_attempts, drawn.position_settle_delay
            )

        return _Setup(
            build,
            f"hedge {first.instrument.symbol}/{second.instrument.symbol}: sides {sides}, quantities "
            f"{quantities}, prices {prices}, baselines {baselines}, reduce_only={closing}, "
            f"direct={is_direct}, trigger={trigger!r}, config={drawn!r}",
        )

    return type(
        "SupervisorMachine", (_MachineUnderTest,), {"WORLDS": worlds(), "__doc__": supervisor_machine.__doc__}
    )
