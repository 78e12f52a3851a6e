"""The leg hedge machine against an adversarial model venue (Hypothesis stateful testing).

The test plays the driver *and* the venue. The venue keeps, per order, the **true**
cumulative fill (monotone, never above the order's quantity, final once the order
is terminal) and answers the leg's commands adversarially and out of order:
partial fills, fills that land during a cancel (a CancelConfirmed larger than any
report before it), duplicate and stale snapshots delivered at random times,
post-only and definitive rejects, ambiguous placements (the order created or not,
and maybe not visible to the first lookups), failed lookups and cancels, cancels
left pending, orders the venue expires on its own, partial market fills, crossed
and moving books, current and stale timers.

After every step the invariants of docs/design.md, Invariants are checked (1-5, 7, 8):
``check_leg`` is clean; every order command passes ``check_order_command`` against
the BBO it was priced on; the ledger's fill never decreases and equals, per order,
the largest cumulative fill the venue ever *reported* (fill conservation, computed
here from the reports delivered); the venue's true fills never exceed the target;
a new order is only sent when every earlier one is truly unable to fill; attempts
stay within the policy; a live leg always has something in flight (a command or a
timer); illegal triggers raise and change nothing; terminal states are absorbing.

At the end of every run (``teardown``) the venue turns cooperative (fills what is
sent, confirms cancels, reveals orders) and the leg must reach a terminal state in
a bounded number of steps, within a bounded virtual time (invariant 2).

New misbehaviours (issue 11): ambiguous placements whose order reaches the matching
engine late or stays invisible to lookups for a while (always within the venue's request
window, or the configured horizon where it has none: the contract the leg relies on);
terminal reports that understate the fill (cancel answers of a venue that says it
``reports_cancel_early``, reports that conflict with a fill already reported, and an
*undeclared* liar whose hidden amount is counted); the truth pushed late, as a late fill on
an earlier order, maybe while the next order rests; calls that never return (at most one
per leg), so only the leg's own timers move it on. ``check_leg`` (with its reservation and
possibly-live checks) runs after every step.

Adopt and amend (issue 13): a leg may start with an *adopted* order (a resting entry handed
over as attempt 0, with fills of its own already, and maybe larger than the target), and the
venue may amend: amends are answered honestly too (applied to what is left of the order, a fill
racing it, refused, or with no answer whether it landed or not); an amend that would raise an
order's size is a broken invariant. The truth invariant allows the adopted order's excess over
the target (it may fill before its amend or cancel lands: no hedge can stop that), no more.

Model assumptions (the contract the machine relies on, stated so a failure is read
correctly): every command gets at most one answer; an order created after an ambiguous
placement is visible to lookups before its window (or the horizon) has passed; a venue
that understates without saying so can make the leg over-hedge by at most what it hid
(the truth invariant allows exactly that, no more).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hedge_fsm import (
    BBO,
    HedgeConfig,
    IllegalTransition,
    Instrument,
    OrderInfo,
    OrderStatus,
    RejectReason,
    RetryPolicy,
    Side,
    TriggerFill,
)
from hedge_fsm.config import CallTimeouts
from hedge_fsm.core.ledger import Ledger, OrderRecord
from hedge_fsm.invariants import check_leg, check_order_command
from hedge_fsm.machines.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
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
from hedge_fsm.machines.leg import LEG, LegHedge
from hedge_fsm.venue import AmendSupport, VenueCapabilities

D = Decimal
ZERO = D(0)
REFERENCE = D("100")
"""Every book is quoted around 100 (per contract)."""

INSTRUMENTS = (
    Instrument(
        symbol="BTC-PERP", tick_size=D("0.01"), lot_size=D("1"), min_quantity=D("1"), min_notional=D("0")
    ),
    # Min quantity 3 lots, a minimum notional that 3 lots (about 30) do not reach, a multiplier.
    Instrument(
        symbol="kPEPE",
        tick_size=D("0.05"),
        lot_size=D("0.1"),
        min_quantity=D("0.3"),
        min_notional=D("35"),
        multiplier=D("10"),
    ),
    # Fine lots, a maker rebate and a taker fee (break-even includes fees).
    Instrument(
        symbol="ETH-PERP",
        tick_size=D("0.5"),
        lot_size=D("0.001"),
        min_quantity=D("0.001"),
        min_notional=D("0"),
        maker_fee=D("-0.0001"),
        taker_fee=D("0.0005"),
    ),
)

FAST_OPENING = RetryPolicy(
    max_attempts=4, budget=1.0, backoff=0.05, inside_tick_attempts=2, attempt_wait=0.3, poll_interval=0.1
)
FAST_CLOSING = RetryPolicy(
    max_attempts=3, budget=0.6, backoff=0.03, inside_tick_attempts=1, attempt_wait=0.2, poll_interval=0.1
)
POLICIES = (
    (FAST_OPENING, FAST_CLOSING),
    (RetryPolicy(), RetryPolicy(max_attempts=5, budget=3.0, backoff=0.05, inside_tick_attempts=2)),
)

LATENCIES = (0.0, 0.0, 0.001, 0.01, 0.05, 0.2, 0.5)
"""How long the venue takes to answer (virtual seconds)."""

COOPERATIVE_STEPS = 300
"""Steps the cooperative venue allows the leg to reach a terminal state."""


@attrs.define
class VenueOrder:
    """The venue's truth about one order the leg sent."""

    client_order_id: str
    order_id: str
    side: Side
    quantity: Decimal
    price: Decimal | None
    post_only: bool
    is_market: bool
    symbol: str
    fill_price: Decimal
    reports_maker: bool
    created: bool = False
    visible_at: float = 0.0
    """Lookups by client id answer "not found" before this time although the order exists."""
    arrives_at: float | None = None
    """An ambiguous placement still travelling: it reaches the matching engine at this time."""
    filled: Decimal = ZERO
    status: OrderStatus = OrderStatus.OPEN
    cancel_pending: bool = False
    known: bool = False
    """The leg has received a report about it (its placement answered)."""
    snapshots: list[OrderInfo] = attrs.Factory(list)

    @property
    def terminal(self) -> bool:
        return self.created and self.status.is_terminal

    @property
    def live(self) -> bool:
        return self.created and not self.status.is_terminal

    def snapshot(self) -> OrderInfo:
        maker = None
        if self.reports_maker:
            maker = self.filled if self.post_only else ZERO
        return OrderInfo(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.fill_price if self.filled > 0 else None,
            maker_quantity=maker,
        )

    def record(self) -> None:
        info = self.snapshot()
        if not self.snapshots or self.snapshots[-1] != info:
            self.snapshots.append(info)

    def fill_to(self, filled: Decimal) -> None:
        """Move the true fill forward (never back, never past the quantity, never after terminal)."""
        assert not self.status.is_terminal
        assert self.filled <= filled <= self.quantity
        self.filled = filled
        if filled == self.quantity:
            self.status = OrderStatus.FILLED
        elif filled > 0:
            self.status = OrderStatus.PARTIALLY_FILLED
        self.record()

    def close(self, status: OrderStatus) -> None:
        """Terminate an unfilled remainder (cancel, expiry): the fill is final from here on."""
        if self.status.is_terminal:
            return
        self.status = OrderStatus.FILLED if self.filled == self.quantity else status
        self.cancel_pending = False
        self.record()


def step(function: Callable[..., None]) -> Callable[..., None]:
    """Mark the machine unclean while a step runs, so teardown skips a run that already failed."""

    @functools.wraps(function)
    def wrapper(self: LegAgainstAdversarialVenue, *args: Any, **kwargs: Any) -> None:
        self.clean = False
        function(self, *args, **kwargs)
        self.clean = True

    return wrapper


def foreign_order() -> OrderInfo:
    return OrderInfo(
        order_id="foreign-1",
        client_order_id="foreign-1",
        symbol="OTHER",
        side=Side.BUY,
        quantity=D("1"),
        price=D("1"),
        status=OrderStatus.FILLED,
        filled_quantity=D("1"),
        average_price=D("1"),
    )


def event_for(trigger: str, now: float) -> Event:
    """An event of each trigger, about nothing the leg knows (for illegal-trigger checks)."""
    order = foreign_order()
    bbo = BBO(bid=D("99"), ask=D("101"))
    build: dict[str, Callable[[], Event]] = {
        "start": lambda: Start(now=now),
        "bbo_received": lambda: BboReceived(now=now, bbo=bbo),
        "bbo_failed": lambda: BboFailed(now=now),
        "order_acked": lambda: OrderAcked(now=now, order=order),
        "post_only_rejected": lambda: PostOnlyRejected(now=now, client_order_id="foreign-1"),
        "order_rejected": lambda: OrderRejected(now=now, client_order_id="foreign-1"),
        "placement_ambiguous": lambda: PlacementAmbiguous(now=now, client_order_id="foreign-1"),
        "order_updated": lambda: OrderUpdated(now=now, order=order),
        "order_not_found": lambda: OrderMissing(now=now, client_order_id="foreign-1"),
        "query_failed": lambda: QueryFailed(now=now, client_order_id="foreign-1"),
        "cancel_confirmed": lambda: CancelConfirmed(now=now, order=order),
        "cancel_failed": lambda: CancelFailed(now=now, client_order_id="foreign-1"),
        "order_amended": lambda: OrderAmended(now=now, order=order),
        "amend_rejected": lambda: AmendRejected(now=now, client_order_id="foreign-1"),
        "amend_ambiguous": lambda: AmendAmbiguous(now=now, client_order_id="foreign-1"),
        "timer_fired": lambda: TimerFired(now=now, token=-1),
        "position_read": lambda: PositionRead(now=now, quantity=ZERO),
        "position_failed": lambda: PositionFailed(now=now),
        "targets_set": lambda: TargetsSet(now=now),
        "leg_finished": lambda: LegFinished(now=now),
        "book_updated": lambda: BookUpdated(now=now, bbo=bbo),
    }
    return build[trigger]()


ALL_TRIGGERS = tuple(
    sorted(
        {
            "start",
            "bbo_received",
            "bbo_failed",
            "order_acked",
            "post_only_rejected",
            "order_rejected",
            "placement_ambiguous",
            "order_updated",
            "order_not_found",
            "query_failed",
            "cancel_confirmed",
            "cancel_failed",
            "order_amended",
            "amend_rejected",
            "amend_ambiguous",
            "timer_fired",
            "position_read",
            "position_failed",
            "targets_set",
            "leg_finished",
            "book_updated",
        }
    )
)


class LegAgainstAdversarialVenue(RuleBasedStateMachine):
    """One leg machine, a model venue, a virtual clock, and the driver's bookkeeping."""

    BOOK_FOCUS: bool = False
    """Draw only set-ups where the book can reprice in place: an adopted entry with its sent
    time, on a venue that amends, room for replacements (see :class:`LegRepricedOnTheBook`)."""

    def __init__(self) -> None:
        super().__init__()
        self.clean = True
        self.legs_run = 0
        self.reset()

    def reset(self) -> None:
        """A fresh venue, clock and driver for a new leg."""
        self.leg: LegHedge | None = None
        self.now = 0.0
        self.latency = 0.0
        """Total virtual time spent waiting on the venue's answers (not the leg's own timers)."""
        self.pending: list[Command] = []
        self.timer: WaitUntil | None = None
        self.stale_tokens: list[int] = []
        self.orders: dict[str, VenueOrder] = {}
        self.reported: dict[str, Decimal] = {}
        """Per order, the largest cumulative fill any delivered report carried."""
        self.last_filled = ZERO
        self.order_counter = 0
        self.illegal_checks = 0
        self.hidden = ZERO
        """Fill the venue hid from the leg (undeclared understated cancel answers): the most the
        leg can over-hedge by before the truth reaches it."""
        self.hung: list[Command] = []
        """Commands the venue never answers."""
        self.ambiguous = 0
        self.adopted_excess = ZERO
        """How far the adopted entry exceeded the target at the handoff (it may fill before
        its amend or cancel lands)."""

    # ------------------------------------------------------------------ set-up

    @initialize(data=st.data())
    @step
    def build_leg(self, data: st.DataObject) -> None:
        self.new_leg(data)

    def new_leg(self, data: st.DataObject) -> None:
        self.reset()
        self.legs_run += 1
        instrument = data.draw(st.sampled_from(INSTRUMENTS), label="instrument")
        opening, closing = data.draw(st.sampled_from(POLICIES), label="policies")
        timeout = data.draw(st.sampled_from([0.2, 0.5]), label="call_timeout")
        config = HedgeConfig(
            opening=opening,
            closing=closing,
            call_timeouts=CallTimeouts(
                place=timeout, cancel=timeout, query=timeout, bbo=timeout, position=timeout
            ),
            # The horizon is never shorter than the place timeout (the config refuses that).
            ambiguous_horizon=data.draw(st.sampled_from([0.5, 1.0, 2.0]), label="horizon"),
            stuck_timeout=data.draw(st.sampled_from([0.5, 1.0, 2.0]), label="stuck_timeout"),
            lookup_attempts=data.draw(st.integers(1, 3), label="lookup_attempts"),
            break_even=data.draw(st.booleans(), label="break_even"),
            dust_tolerance=data.draw(st.sampled_from([ZERO, ZERO, instrument.lot_size]), label="dust"),
            max_orders_per_leg=data.draw(
                st.sampled_from([32] if self.BOOK_FOCUS else [3, 32]), label="max_orders"
            ),
        )
        side = data.draw(st.sampled_from(Side), label="side")
        lots = data.draw(st.integers(1, 40), label="target_lots")
        trigger = None
        if data.draw(st.booleans(), label="has_trigger"):
            ticks = data.draw(st.integers(-30, 30), label="trigger_ticks")
            contract_price = REFERENCE + ticks * instrument.tick_size
            trigger = TriggerFill(
                side=side.opposite,
                price=contract_price / instrument.multiplier,
                multiplier=D(1),
                fee_rate=data.draw(st.sampled_from([ZERO, D("0.0002")]), label="trigger_fee"),
            )
        self.instrument = instrument
        self.config = config
        kinds = ["honest", "reports_cancel_early", "undeclared"]
        honesty = data.draw(st.sampled_from(kinds), label="honesty")
        self.capabilities = VenueCapabilities(
            request_window=data.draw(st.sampled_from([None, None, 0.2, 1.0]), label="request_window"),
            reports_cancel_early=honesty == "reports_cancel_early",
        )
        self.undeclared_lies = honesty == "undeclared"
        """The venue understates terminal reports without saying so (later reports tell the truth)."""
        target = lots * instrument.lot_size
        reduce_only = data.draw(st.booleans(), label="reduce_only")
        market_only = not self.BOOK_FOCUS and data.draw(
            st.sampled_from([False, False, False, True]), label="market_only"
        )
        # Drawn last, so the runs drawn before adopt and amend existed are drawn as they were.
        if self.BOOK_FOCUS or data.draw(st.booleans(), label="amends"):
            self.capabilities = attrs.evolve(self.capabilities, amend=AmendSupport.NATIVE)
        adopted = None
        if not market_only and (self.BOOK_FOCUS or data.draw(st.booleans(), label="adopts")):
            adopted = self.adopt_entry(data, side, target)
        # Drawn after adopt and amend, so the runs drawn before book reprices are drawn as they
        # were. The supervisor hands an adopted entry over with the time it was sent (so the
        # book may reprice it, in place where the venue amends); a venue may push its book.
        if adopted is not None:
            sent_at = [0.0, -0.1, -1.0] if self.BOOK_FOCUS else [None, 0.0, -0.1, -1.0]
            adopted.sent_at = data.draw(st.sampled_from(sent_at), label="entry_sent_at")
        if data.draw(st.booleans(), label="book_stream"):
            self.capabilities = attrs.evolve(self.capabilities, book_stream=True)
        # Urgency (the price of waiting): no prior, a quiet or a wild one; risk aversion off,
        # the default, or high (crossing early, the ladder's later rungs at once).
        config = attrs.evolve(
            config,
            volatility_bps=data.draw(st.sampled_from([None, None, 0.0, 2.0, 50.0]), label="volatility_bps"),
            risk_aversion=data.draw(st.sampled_from([1.0, 1.0, 0.0, 20.0]), label="risk_aversion"),
        )
        self.config = config
        self.leg = LegHedge(
            leg=0,
            hedge_id=f"hx{self.legs_run}",
            venue="model",
            instrument=instrument,
            side=side,
            target=target,
            reduce_only=reduce_only,
            config=config,
            started_at=0.0,
            trigger=trigger,
            market_only=market_only,
            capabilities=self.capabilities,
            adopted=adopted,
            adopted_price=REFERENCE if adopted is not None else None,
        )
        if adopted is not None:
            self.leg.ledger.take_over(adopted)
        self.feed(Start(now=self.now))

    def adopt_entry(self, data: st.DataObject, side: Side, target: Decimal) -> OrderRecord:
        """A resting entry at the venue, handed over as attempt 0: up to the target filled
        already (and reported), its size the target or a few lots more."""
        lot = self.instrument.lot_size
        extra = data.draw(st.sampled_from([0, 0, 1, 3]), label="entry_extra_lots") * lot
        self.order_counter += 1
        order = VenueOrder(
            client_order_id="entry", order_id=f"v-{self.order_counter}", side=side,
            quantity=target + extra, price=REFERENCE, post_only=False, is_market=False,
            symbol=self.instrument.symbol, fill_price=REFERENCE, reports_maker=False,
            created=True, known=True,
        )
        order.record()
        prefilled = data.draw(st.integers(0, int(target / lot)), label="entry_prefilled_lots") * lot
        if prefilled:
            order.fill_to(prefilled)
        self.orders[order.client_order_id] = order
        self.adopted_excess = extra
        # What the supervisor's ledger knew of it at the handoff, record and all.
        supervisor = Ledger()
        supervisor.register("entry", side=side, quantity=order.quantity)
        supervisor.apply(order.snapshot())
        self.reported["entry"] = prefilled
        return supervisor.release("entry")

    # ------------------------------------------------------------------ the driver

    @property
    def finished(self) -> bool:
        return self.leg is not None and self.leg.is_finished

    def feed(self, event: Event) -> None:
        """Deliver one event, check what it did, and take the commands it produced."""
        leg = self.leg
        assert leg is not None
        report = getattr(event, "order", None)
        leg.feed(event)
        if isinstance(report, OrderInfo):
            cid = report.client_order_id
            self.reported[cid] = max(self.reported.get(cid, ZERO), report.filled_quantity)
            if cid in self.orders:
                self.orders[cid].known = True
        for command in leg.drain():
            self.take(command, event)

    def take(self, command: Command, cause: Event) -> None:
        if isinstance(command, WaitUntil):
            if self.timer is not None:
                self.stale_tokens.append(self.timer.token)
            self.timer = command
            return
        if isinstance(command, PlaceLimit | PlaceMarket):
            bbo = cause.bbo if isinstance(cause, BboReceived) else None
            if isinstance(command, PlaceLimit) and bbo is None and self.leg is not None:
                # On a venue that pushes its book, a replacement is priced on the stream's latest
                # update (no BBO round trip): that is the quote it was priced on.
                assert self.leg.capabilities.book_stream, f"{command} priced on a stream the venue lacks"
                bbo = self.leg.book_bbo
            if isinstance(command, PlaceLimit):
                # Invariant 7 needs the BBO the price came from: limits are priced on a fresh BBO.
                assert bbo is not None, f"{command} was not priced on a BBO (caused by {cause})"
            problems = check_order_command(command, self.instrument, bbo)
            assert problems == [], problems
            assert command.client_order_id not in self.orders, f"client order id reused: {command}"
            # No over-hedge by construction: nothing else of the leg can still fill.
            still_live = [o.client_order_id for o in self.orders.values() if o.live]
            assert still_live == [], f"{command} sent while {still_live} can still fill"
            travelling = [
                o.client_order_id for o in self.orders.values()
                if not o.created and o.arrives_at is not None and o.arrives_at > self.now
            ]
            assert travelling == [], f"{command} sent while {travelling} may still reach the venue"
            self.order_counter += 1
            price = command.price if isinstance(command, PlaceLimit) else None
            self.orders[command.client_order_id] = VenueOrder(
                client_order_id=command.client_order_id,
                order_id=f"v-{self.order_counter}",
                side=command.side,
                quantity=command.quantity,
                price=price,
                post_only=isinstance(command, PlaceLimit) and command.post_only,
                is_market=isinstance(command, PlaceMarket),
                symbol=self.instrument.symbol,
                fill_price=price if price is not None else REFERENCE,
                reports_maker=self.order_counter % 2 == 0,
            )
        if isinstance(command, AmendOrder) and command.price is not None:
            self.check_amend_price(command)
        self.pending.append(command)

    def check_amend_price(self, command: AmendOrder) -> None:
        """Invariant 7 for a reprice in place: the new price is on the tick grid and, for a
        post-only order, passive on the book it was priced on (a post-only amend that crosses
        is refused by the venue, or worse, takes)."""
        leg = self.leg
        assert leg is not None
        price = command.price
        assert price is not None
        tick = self.instrument.tick_size
        assert price > 0 and price % tick == 0, f"{command}: price off the tick grid {tick}"
        order = self.orders[command.client_order_id]
        bbo = leg.last_bbo
        if order.post_only and bbo is not None:
            passive = price < bbo.ask if order.side is Side.BUY else price > bbo.bid
            assert passive, f"{command}: post-only {order.side} amended across bid {bbo.bid} ask {bbo.ask}"

    def wait(self, data: st.DataObject) -> None:
        """The venue takes a little while to answer."""
        latency = data.draw(st.sampled_from(LATENCIES), label="latency")
        self.now += latency
        self.latency += latency
        self.settle()

    def settle(self) -> None:
        """Ambiguous placements still travelling reach the matching engine when their time comes."""
        for order in self.orders.values():
            if order.arrives_at is not None and not order.created and order.arrives_at <= self.now:
                order.created = True
                order.record()

    def arrival_deadline(self) -> float:
        """The latest an ambiguous placement answered now may reach the matching engine (and be
        visible): the venue's request window, else the horizon the leg is configured with (the
        contract the leg relies on)."""
        window = self.capabilities.request_window
        return self.now + (window if window is not None else self.config.ambiguous_horizon)

    def draw_bbo(self, data: st.DataObject) -> BBO:
        tick = self.instrument.tick_size
        bid = REFERENCE + data.draw(st.integers(-30, 30), label="bid_ticks") * tick
        shape = data.draw(st.sampled_from(["normal"] * 6 + ["one_tick", "locked", "crossed"]), label="book")
        if shape == "locked":
            ask = bid
        elif shape == "crossed":
            ask = bid - tick
        elif shape == "one_tick":
            ask = bid + tick
        else:
            ask = bid + data.draw(st.integers(2, 8), label="spread_ticks") * tick
        return BBO(bid=bid, ask=ask)

    def draw_fill(self, data: st.DataObject, order: VenueOrder, label: str) -> Decimal:
        """A true cumulative fill at or beyond the current one (on the lot grid)."""
        lot = self.instrument.lot_size
        done = int(order.filled / lot)
        total = int(order.quantity / lot)
        left = total - done
        size = data.draw(st.sampled_from(["one", "two", "half", "all", "none"]), label=label)
        add = {"one": 1, "two": 2, "half": left // 2, "all": left, "none": 0}[size]
        return (done + min(add, left)) * lot

    def progress(self, data: st.DataObject, order: VenueOrder, label: str) -> None:
        """The market trades against a live order (maybe not at all)."""
        if order.live and data.draw(st.booleans(), label=f"{label}_trades"):
            order.fill_to(self.draw_fill(data, order, label))

    # ------------------------------------------------------------------ rules: answers

    def has_pending(self) -> bool:
        return not self.finished and bool(self.pending)

    @precondition(lambda self: self.has_pending())
    @rule(data=st.data())
    @step
    def answer_a_command(self, data: st.DataObject) -> None:
        """Answer one outstanding command (any of them: answers come out of order)."""
        index = data.draw(st.integers(0, len(self.pending) - 1), label="which")
        self.answer(data, self.pending.pop(index))

    def answer(self, data: st.DataObject, command: Command) -> None:
        self.wait(data)
        if not self.hung and data.draw(st.integers(0, 39), label="hangs") == 0:
            # A call that never returns: only the leg's own timers can move it on.
            self.hung.append(command)
            return
        if isinstance(command, FetchBbo):
            self.answer_bbo(data)
        elif isinstance(command, PlaceLimit | PlaceMarket):
            self.answer_placement(data, command)
        elif isinstance(command, QueryOrder):
            self.answer_query(data, command)
        elif isinstance(command, CancelOrder):
            self.answer_cancel(data, command)
        elif isinstance(command, AmendOrder):
            self.answer_amend(data, command)
        else:  # pragma: no cover - the leg sends nothing else
            raise AssertionError(f"unexpected command {command}")

    @precondition(lambda self: self.has_pending())
    @rule(data=st.data())
    @step
    def answer_the_oldest_command(self, data: st.DataObject) -> None:
        """Answer the oldest outstanding command (the usual order, when the venue keeps up)."""
        self.answer(data, self.pending.pop(0))

    def answer_bbo(self, data: st.DataObject) -> None:
        if data.draw(st.integers(0, 5), label="bbo_fails") == 0:
            self.feed(BboFailed(now=self.now, message="timeout"))
        else:
            self.feed(BboReceived(now=self.now, bbo=self.draw_bbo(data)))

    def answer_placement(self, data: st.DataObject, command: PlaceLimit | PlaceMarket) -> None:
        order = self.orders[command.client_order_id]
        outcomes = ["ack", "ack", "ack", "reject", "ambiguous"]
        if isinstance(command, PlaceLimit) and command.post_only:
            outcomes += ["post_only", "post_only"]
        if isinstance(command, PlaceMarket):
            outcomes += ["post_only"]  # a venue misreporting a market order's refusal
        outcome = data.draw(st.sampled_from(outcomes), label="placement")
        if outcome == "post_only":
            self.feed(PostOnlyRejected(now=self.now, client_order_id=command.client_order_id))
        elif outcome == "reject":
            reason = data.draw(st.sampled_from(RejectReason), label="reason")
            self.feed(OrderRejected(now=self.now, client_order_id=command.client_order_id, reason=reason))
        elif outcome == "ambiguous":
            self.ambiguous += 1
            fates = ["lost", "created", "created_hidden", "arrives_late"]
            fate = data.draw(st.sampled_from(fates), label="fate")
            share = data.draw(st.sampled_from([0.0, 0.25, 0.5, 0.9]), label="delay_share")
            delay = share * (self.arrival_deadline() - self.now)
            if fate == "arrives_late":
                # Reaches the matching engine late, within its window (or the horizon).
                order.arrives_at = self.now + delay
                order.visible_at = order.arrives_at
            elif fate != "lost":
                order.created = True
                # Exists, but lookups do not show it for a while (never past the window).
                order.visible_at = self.now + (delay if fate == "created_hidden" else 0.0)
                order.record()
                self.progress(data, order, "after_ambiguous")
            self.feed(PlacementAmbiguous(now=self.now, client_order_id=command.client_order_id))
        else:
            order.created = True
            order.record()
            self.progress(data, order, "before_ack")
            marketable = isinstance(command, PlaceMarket) or not command.post_only
            if order.live and marketable and data.draw(st.booleans(), label="immediate_or_cancel"):
                # A taker order's unfilled rest is cancelled at once (IOC-like), or expires.
                order.close(data.draw(st.sampled_from([OrderStatus.CANCELED, OrderStatus.EXPIRED])))
            self.feed(OrderAcked(now=self.now, order=order.snapshot()))

    def answer_query(self, data: st.DataObject, command: QueryOrder) -> None:
        order = self.orders[command.client_order_id]
        if command.order_id is not None:
            assert order.created and command.order_id == order.order_id
        if not order.created or (command.order_id is None and self.now < order.visible_at):
            if data.draw(st.integers(0, 3), label="query_fails") == 0:
                self.feed(QueryFailed(now=self.now, client_order_id=command.client_order_id))
            else:
                self.feed(OrderMissing(now=self.now, client_order_id=command.client_order_id))
            return
        outcome = data.draw(st.sampled_from(["fresh", "fresh", "stale", "failed"]), label="query")
        if outcome == "failed":
            self.feed(QueryFailed(now=self.now, client_order_id=command.client_order_id))
            return
        self.progress(data, order, "before_query")
        if order.cancel_pending and data.draw(st.booleans(), label="cancel_lands"):
            order.close(OrderStatus.CANCELED)
        if outcome == "stale":
            # A lagging replica: any snapshot the venue has had, maybe an old one.
            which = data.draw(st.integers(0, len(order.snapshots) - 1), label="snapshot")
            self.feed(OrderUpdated(now=self.now, order=order.snapshots[which]))
        else:
            self.feed(OrderUpdated(now=self.now, order=self.understated(data, order, cancel_answer=False)))

    def answer_cancel(self, data: st.DataObject, command: CancelOrder) -> None:
        order = self.orders[command.client_order_id]
        assert order.created and command.order_id == order.order_id
        if order.terminal:
            if data.draw(st.booleans(), label="cancel_on_terminal_fails"):
                self.feed(CancelFailed(now=self.now, client_order_id=command.client_order_id))
            else:
                self.feed(CancelConfirmed(now=self.now, order=order.snapshot()))
            return
        # A fill can land while the cancel is in flight.
        self.progress(data, order, "during_cancel")
        outcome = data.draw(
            st.sampled_from(["confirm", "confirm", "failed", "failed_but_applied", "pending"]),
            label="cancel",
        )
        if outcome == "failed":
            self.feed(CancelFailed(now=self.now, client_order_id=command.client_order_id))
        elif outcome == "failed_but_applied":
            order.close(OrderStatus.CANCELED)
            self.feed(CancelFailed(now=self.now, client_order_id=command.client_order_id))
        elif outcome == "pending" and order.live:
            order.cancel_pending = True
            self.feed(OrderUpdated(now=self.now, order=order.snapshot()))
        else:
            order.close(OrderStatus.CANCELED)
            self.feed(CancelConfirmed(now=self.now, order=self.cancel_answer(data, order)))

    def answer_amend(self, data: st.DataObject, command: AmendOrder) -> None:
        """Honest: applied to what is left (a fill may race it), refused, or no answer."""
        order = self.orders[command.client_order_id]
        assert order.created and command.order_id == order.order_id, f"amend of an unknown order: {command}"
        assert command.quantity is None or command.quantity <= order.quantity, f"{command} amends up"
        self.progress(data, order, "before_amend")
        outcome = data.draw(
            st.sampled_from(["applied", "applied", "refused", "ambiguous_applied", "ambiguous_lost"]),
            label="amend",
        )
        quantity = command.quantity if command.quantity is not None else order.quantity
        cid = command.client_order_id
        if outcome == "refused" or not order.live or quantity <= order.filled:
            self.feed(AmendRejected(now=self.now, client_order_id=cid, message="cannot amend"))
            return
        if outcome == "ambiguous_lost":
            self.feed(AmendAmbiguous(now=self.now, client_order_id=cid, message="timeout"))
            return
        self.apply_amend(order, command, quantity)
        if outcome == "ambiguous_applied":
            self.feed(AmendAmbiguous(now=self.now, client_order_id=cid, message="reply lost"))
        else:
            self.feed(OrderAmended(now=self.now, order=order.snapshot()))

    @staticmethod
    def apply_amend(order: VenueOrder, command: AmendOrder, quantity: Decimal) -> None:
        order.quantity = quantity
        if command.price is not None:
            order.price = order.fill_price = command.price
        order.record()

    def cancel_answer(self, data: st.DataObject, order: VenueOrder) -> OrderInfo:
        """The cancel's answer: the truth, or (venues book the last fills after answering) a
        CANCELED report that understates the fill (see :meth:`understated`)."""
        return self.understated(data, order, cancel_answer=True)

    def understated(self, data: st.DataObject, order: VenueOrder, *, cancel_answer: bool) -> OrderInfo:
        """The truth, or a terminal report that understates the fill. The venue understates
        only where the leg is told it may (``reports_cancel_early``, for cancel answers), where
        the lie conflicts with a fill already reported, or, for an undeclared liar (a lagging
        replica, an early cancel answer), with the hidden amount counted."""
        truth = order.snapshot()
        if not order.status.is_terminal or order.status is OrderStatus.FILLED or order.filled == 0:
            return truth
        if not data.draw(st.sampled_from([True, True, False]), label="understate"):
            return truth
        lot = self.instrument.lot_size
        lots = int(order.filled / lot)
        told = data.draw(st.integers(0, lots - 1), label="told_lots") * lot
        seen = self.reported.get(order.client_order_id, ZERO)
        declared = cancel_answer and self.capabilities.reports_cancel_early
        if not (declared or told < seen or self.undeclared_lies):
            return truth
        if not (declared or told < seen):
            self.hidden += order.filled - max(told, seen)
        average = truth.average_price if told > 0 else None
        maker = None if truth.maker_quantity is None else min(truth.maker_quantity, told)
        return attrs.evolve(truth, filled_quantity=told, average_price=average, maker_quantity=maker)

    # ------------------------------------------------------------------ rules: the venue on its own

    def live_orders(self) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.live]

    @precondition(lambda self: not self.finished and bool(self.live_orders()))
    @rule(data=st.data())
    @step
    def market_trades(self, data: st.DataObject) -> None:
        """The venue moves on its own: fills, a pending cancel landing, or an expiry. No report."""
        live = self.live_orders()
        order = live[data.draw(st.integers(0, len(live) - 1), label="order")]
        move = data.draw(st.sampled_from(["fill", "fill", "cancel_lands", "expire"]), label="move")
        if move == "fill":
            order.fill_to(self.draw_fill(data, order, "fill"))
        elif move == "cancel_lands" and order.cancel_pending:
            order.close(OrderStatus.CANCELED)
        elif move == "expire":
            # Venues expire resting orders, and cancel a market order's rest beyond a price band.
            order.close(OrderStatus.EXPIRED)

    def known_orders(self) -> list[VenueOrder]:
        """Orders the order stream may report: known to the leg, or visible at the venue."""
        return [
            o for o in self.orders.values()
            if o.snapshots and (o.known or (o.created and self.now >= o.visible_at))
        ]

    @precondition(lambda self: not self.finished and bool(self.known_orders()))
    @rule(data=st.data())
    @step
    def deliver_unsolicited_report(self, data: st.DataObject) -> None:
        """A duplicate, stale or fresh snapshot of an order the leg knows, delivered at a random time.

        Terminal snapshots may come as a second cancel's answer (CancelConfirmed).
        """
        known = self.known_orders()
        order = known[data.draw(st.integers(0, len(known) - 1), label="order")]
        info = order.snapshots[data.draw(st.integers(0, len(order.snapshots) - 1), label="snapshot")]
        self.wait(data)
        if info.is_terminal and data.draw(st.booleans(), label="as_cancel_answer"):
            self.feed(CancelConfirmed(now=self.now, order=info))
        else:
            self.feed(OrderUpdated(now=self.now, order=info))

    def understated_orders(self) -> list[VenueOrder]:
        return [
            o for o in self.orders.values()
            if o.known and o.snapshots and o.filled > self.reported.get(o.client_order_id, ZERO)
        ]

    @precondition(lambda self: not self.finished and bool(self.understated_orders()))
    @rule(data=st.data())
    @step
    def push_the_truth_late(self, data: st.DataObject) -> None:
        """The order stream pushes, late, a fill the leg was not told of (after an understated
        cancel answer): a late fill on an earlier order, maybe while the next one rests."""
        orders = self.understated_orders()
        order = orders[data.draw(st.integers(0, len(orders) - 1), label="order")]
        self.wait(data)
        self.feed(OrderUpdated(now=self.now, order=order.snapshot()))

    # ------------------------------------------------------------------ rules: timers

    @precondition(lambda self: not self.finished and self.timer is not None)
    @rule()
    @step
    def timer_comes_due(self) -> None:
        """The live timer fires at its time (virtual time jumps there)."""
        timer = self.timer
        assert timer is not None
        self.timer = None
        self.now = max(self.now, timer.at)
        self.settle()
        self.feed(TimerFired(now=self.now, token=timer.token))

    @precondition(lambda self: not self.finished and bool(self.stale_tokens))
    @rule(data=st.data())
    @step
    def stale_timer_fires(self, data: st.DataObject) -> None:
        """A replaced timer's wake-up arrives anyway: it must be ignored."""
        token = data.draw(st.sampled_from(self.stale_tokens), label="token")
        leg = self.leg
        assert leg is not None
        before = (leg.state, len(self.pending), self.timer, leg.timer_token, leg.ledger.filled)
        self.feed(TimerFired(now=self.now, token=token))
        assert (leg.state, len(self.pending), self.timer, leg.timer_token, leg.ledger.filled) == before

    # ------------------------------------------------------------------ rules: book updates (issue 13)

    @precondition(lambda self: not self.finished)
    @rule(data=st.data())
    @step
    def book_updated(self, data: st.DataObject) -> None:
        """The venue pushes a quote (any shape, locked and crossed too) in whatever state the
        leg is: a resting order may be repriced, through a confirmed cancel, never beside a
        second live order (``take`` checks every placement)."""
        self.feed(BookUpdated(now=self.now, bbo=self.draw_bbo(data)))

    # ------------------------------------------------------------------ rules: the book moves under the order

    def resting_order(self) -> OrderRecord | None:
        """The leg's limit order the venue shows resting while the leg polls it, if any."""
        leg = self.leg
        if leg is None or leg.is_finished or leg.state != "polling":
            return None
        current = leg.current
        if current is None or current.terminal or current.is_market or current.order_id is None:
            return None
        return current if leg.order_price is not None else None

    def draw_moved_bbo(self, data: st.DataObject) -> BBO:
        """A quote a few ticks around the resting order's price, mostly moved away from it (the
        ladder then wants a more aggressive price), with displayed sizes (deep queues too)."""
        leg = self.leg
        assert leg is not None and leg.order_price is not None
        tick = self.instrument.tick_size
        away = data.draw(st.integers(-2, 6), label="away_ticks") * tick
        # Locked now and then (crossed books come from ``book_updated``): never priced on.
        spread = data.draw(st.sampled_from([1, 1, 2, 3, 6, 0]), label="moved_spread_ticks") * tick
        sizes = st.sampled_from([ZERO, D("1"), D("10"), D("1000000")])
        bid_size, ask_size = data.draw(sizes, label="bid_size"), data.draw(sizes, label="ask_size")
        # Away is up for a bid (a buy's touch rises above it), down for an ask.
        if leg.side is Side.BUY:
            bid = leg.order_price + away
            ask = bid + spread
        else:
            ask = leg.order_price - away
            bid = ask - spread
        if bid <= 0 or ask <= 0:
            bid, ask = REFERENCE, REFERENCE + tick
        return BBO(bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size)

    def rest_a_while(self, data: st.DataObject, order: OrderRecord) -> None:
        """Virtual time moves to around the order's minimum rest (before it, or past it), never
        past the leg's own timer (a late timer would be the test's delay, not the leg's)."""
        min_rest = self.config.min_rest or 0.0
        share = data.draw(st.sampled_from([0.5, 1.0, 1.0, 1.5, 1.5]), label="rest_share")
        sent = order.sent_at if order.sent_at is not None else self.now
        at = max(self.now, sent + share * min_rest)
        if self.timer is not None:
            at = min(at, max(self.now, self.timer.at))
        self.now = at
        self.settle()

    @precondition(lambda self: self.resting_order() is not None)
    @rule(data=st.data())
    @step
    def the_book_moves_under_the_resting_order(self, data: st.DataObject) -> None:
        """Around the resting order's minimum rest, the venue pushes a quote near its price,
        mostly moved away: the leg may reprice it on the book (in place by an amend where the
        venue amends, an adopted entry too; else cancel and replace), and every invariant still
        holds (an amend never raises the size; no second order beside a live one)."""
        order = self.resting_order()
        assert order is not None
        self.rest_a_while(data, order)
        self.feed(BookUpdated(now=self.now, bbo=self.draw_moved_bbo(data)))

    def bbo_poll_pending(self) -> bool:
        return self.resting_order() is not None and any(isinstance(c, FetchBbo) for c in self.pending)

    @precondition(lambda self: self.bbo_poll_pending())
    @rule(data=st.data())
    @step
    def the_polled_book_has_moved(self, data: st.DataObject) -> None:
        """A venue without a quote stream: the BBO polled with the resting order answers with a
        book moved around its price (the leg may reprice it from this answer)."""
        order = self.resting_order()
        assert order is not None
        index = next(i for i, c in enumerate(self.pending) if isinstance(c, FetchBbo))
        self.pending.pop(index)
        self.rest_a_while(data, order)
        self.feed(BboReceived(now=self.now, bbo=self.draw_moved_bbo(data)))

    # ------------------------------------------------------------------ rules: after the end

    @precondition(lambda self: self.finished)
    @rule(data=st.data())
    @step
    def late_event_after_the_end(self, data: st.DataObject) -> None:
        """Invariant 1: whatever still arrives once the leg is terminal raises and changes nothing.

        A real answer the venue still owes (a late report of one of the leg's orders)
        included: the driver must route those to the ledger, never to the machine.
        """
        leg = self.leg
        assert leg is not None
        events = [event_for(trigger, self.now) for trigger in ALL_TRIGGERS]
        events += [OrderUpdated(now=self.now, order=o.snapshot()) for o in self.orders.values() if o.created]
        event = events[data.draw(st.integers(0, len(events) - 1), label="late_event")]
        before = self.fingerprint()
        try:
            leg.feed(event)
        except IllegalTransition as error:
            assert error.state == leg.state and error.trigger == event.TRIGGER
        else:
            raise AssertionError(f"{event.TRIGGER} accepted in terminal state {leg.state}")
        assert self.fingerprint() == before

    @precondition(lambda self: self.finished)
    @rule(data=st.data())
    @step
    def start_another_leg(self, data: st.DataObject) -> None:
        """A finished leg has nothing left to explore: hedge another one, on a fresh venue."""
        self.new_leg(data)

    # ------------------------------------------------------------------ invariants: illegal events

    @invariant()
    def illegal_triggers_raise_and_change_nothing(self) -> None:
        """Invariants 1 and 8: an event the state has no edge for raises and leaves no trace.

        One refused trigger per step, rotating, so every (state, refused trigger) pair the
        run passes through gets tried over the steps.
        """
        leg = self.leg
        if leg is None:
            return
        refused = [t for t in ALL_TRIGGERS if t not in LEG.allowed[leg.state]]
        if not refused:
            return
        self.illegal_checks += 1
        trigger = refused[self.illegal_checks % len(refused)]
        before = self.fingerprint()
        try:
            leg.feed(event_for(trigger, self.now))
        except IllegalTransition as error:
            assert error.state == leg.state and error.trigger == trigger
        else:
            raise AssertionError(f"{trigger} accepted in {leg.state}")
        assert self.fingerprint() == before

    def fingerprint(self) -> tuple[object, ...]:
        leg = self.leg
        assert leg is not None
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

    # ------------------------------------------------------------------ invariants

    @invariant()
    def leg_invariants_hold(self) -> None:
        """check_leg (invariants 3-5), attempts within the policy, orders within the cap."""
        if self.leg is None:
            return
        problems = check_leg(self.leg)
        if self.leg.ledger.filled <= self.leg.target + self.hidden:
            # An over-hedge within what an undeclared liar hid is the venue's doing.
            problems = [p for p in problems if "over-hedged" not in p]
        assert problems == [], problems
        assert self.leg.attempts <= self.leg.policy.max_attempts

    @invariant()
    def filled_never_decreases(self) -> None:
        if self.leg is None:
            return
        assert self.leg.ledger.filled >= self.last_filled
        self.last_filled = self.leg.ledger.filled

    @invariant()
    def every_reported_fill_is_counted_exactly_once(self) -> None:
        """Fill conservation: per order, the ledger holds the largest cumulative fill ever reported."""
        if self.leg is None:
            return
        ledger = self.leg.ledger
        counted = {cid: r.filled for cid, r in ledger.orders.items() if r.filled > 0}
        reported = {cid: f for cid, f in self.reported.items() if f > 0}
        assert counted == reported
        assert ledger.filled == sum(self.reported.values(), ZERO)
        assert ledger.maker + ledger.taker == ledger.filled

    @invariant()
    def the_venue_never_trades_beyond_the_target(self) -> None:
        """Invariant 3 against the truth: everything that really filled is within the target."""
        if self.leg is None:
            return
        truly_filled = sum((o.filled for o in self.orders.values()), ZERO)
        assert truly_filled <= self.leg.target + self.hidden + self.adopted_excess

    @invariant()
    def a_live_leg_always_waits_on_something(self) -> None:
        """Liveness: a leg that is not finished has a command out or a timer armed (else it hangs)."""
        if self.leg is None or self.finished:
            return
        assert self.pending or self.timer is not None, f"leg stuck in {self.leg.state} with nothing in flight"

    @invariant()
    def a_finished_leg_ended_in_bounded_time(self) -> None:
        """Invariant 2: however adversarial the venue was, the leg ended within the time bound."""
        if not self.finished:
            return
        assert self.leg is not None and self.leg.finished_at is not None
        assert self.leg.finished_at <= self.time_bound(), (
            f"finished at {self.leg.finished_at:.3f}s, beyond the bound {self.time_bound():.3f}s"
        )

    @invariant()
    def terminal_states_are_absorbing(self) -> None:
        """Invariant 1: once terminal, an event the driver might still deliver raises and moves nothing."""
        if not self.finished:
            return
        assert self.leg is not None
        before = self.fingerprint()
        late = OrderUpdated(now=self.now, order=foreign_order())
        try:
            self.leg.feed(late)
        except IllegalTransition:
            pass
        else:
            raise AssertionError(f"{late.TRIGGER} accepted in terminal state {self.leg.state}")
        assert self.fingerprint() == before

    # ------------------------------------------------------------------ the end: a cooperative venue

    def teardown(self) -> None:
        """From wherever the run stopped, answer cooperatively: the leg must end, in bounded time."""
        if not self.clean or self.leg is None:
            return
        leg = self.leg
        for _ in range(COOPERATIVE_STEPS):
            if leg.is_finished:
                break
            hidden = self.understated_orders()
            if hidden:
                # The truth the venue hid reaches the leg now, maybe while its next order rests.
                self.feed(OrderUpdated(now=self.now, order=hidden[0].snapshot()))
            elif self.pending:
                self.answer_cooperatively(self.pending.pop(0))
            elif self.timer is not None:
                self.timer_comes_due()
            else:
                raise AssertionError(f"leg stuck in {leg.state} with nothing in flight")
            self.leg_invariants_hold()
            self.filled_never_decreases()
            self.every_reported_fill_is_counted_exactly_once()
            self.the_venue_never_trades_beyond_the_target()
        assert leg.is_finished, f"not finished after {COOPERATIVE_STEPS} cooperative steps: {leg.state}"
        self.terminal_states_are_absorbing()
        self.a_finished_leg_ended_in_bounded_time()

    def time_bound(self) -> float:
        """Invariant 2: the limit budget, then a bounded number of waiting phases.

        Each phase (an unanswered or ambiguous placement, a cancel, a confirmation, the market
        order) waits at most ``stuck_timeout`` for the venue, plus, for an ambiguous order, the
        time until it is provably dead (request window + place timeout, or the horizon) and the
        lookups that prove it; add the backoffs, poll intervals, call timeouts and the time the
        venue itself took to answer. There are at most ``2 + ambiguous`` such phases.
        """
        assert self.leg is not None
        policy = self.leg.policy
        config = self.config
        window = self.capabilities.request_window
        dead = window + config.call_timeouts.place if window is not None else config.ambiguous_horizon
        phase = (
            config.stuck_timeout
            + dead
            + (config.lookup_attempts + 8) * policy.poll_interval
            + config.call_timeouts.place
            + config.call_timeouts.query
            + policy.poll_interval
        )
        return (
            self.leg.started_at
            + policy.budget
            + (2 + self.ambiguous + len(self.hung)) * phase
            + 5 * config.stuck_timeout
            + 5 * policy.poll_interval
            + (3 + self.leg.orders_sent) * policy.backoff
            + self.latency
        )

    def answer_cooperatively(self, command: Command) -> None:
        if isinstance(command, FetchBbo):
            tick = self.instrument.tick_size
            self.feed(BboReceived(now=self.now, bbo=BBO(bid=REFERENCE, ask=REFERENCE + 4 * tick)))
            return
        if isinstance(command, PlaceLimit | PlaceMarket):
            order = self.orders[command.client_order_id]
            order.created = True
            order.record()
            order.fill_to(order.quantity)
            self.feed(OrderAcked(now=self.now, order=order.snapshot()))
            return
        order = self.orders[command.client_order_id]
        if isinstance(command, QueryOrder):
            if not order.created:
                self.feed(OrderMissing(now=self.now, client_order_id=command.client_order_id))
                return
            order.visible_at = min(order.visible_at, self.now)
            if order.live:
                if order.cancel_pending:
                    order.close(OrderStatus.CANCELED)
                else:
                    order.fill_to(order.quantity)
            self.feed(OrderUpdated(now=self.now, order=order.snapshot()))
            return
        if isinstance(command, AmendOrder):
            quantity = command.quantity if command.quantity is not None else order.quantity
            if not order.live or quantity <= order.filled:
                self.feed(AmendRejected(now=self.now, client_order_id=command.client_order_id))
                return
            self.apply_amend(order, command, quantity)
            self.feed(OrderAmended(now=self.now, order=order.snapshot()))
            return
        assert isinstance(command, CancelOrder)
        order.close(OrderStatus.CANCELED)
        self.feed(CancelConfirmed(now=self.now, order=order.snapshot()))


LegAgainstAdversarialVenue.TestCase.settings = settings(settings.default, stateful_step_count=50)
TestLegAgainstAdversarialVenue = LegAgainstAdversarialVenue.TestCase


class LegRepricedOnTheBook(LegAgainstAdversarialVenue):
    """The same leg, venue and invariants, drawn where the book reprices in place (issue 13):
    every leg adopts a resting entry (with the time it was sent) on a venue that amends, and may
    place up to 32 orders, so the rules that move the book under a resting order meet the edges
    ``polling -> amending`` on ``book_updated``, ``bbo_received`` and ``timer_fired`` (the
    general machine above reaches them only now and then)."""

    BOOK_FOCUS = True


LegRepricedOnTheBook.TestCase.settings = settings(
    settings.default, stateful_step_count=50, max_examples=max(1, settings.default.max_examples // 2)
)
TestLegRepricedOnTheBook = LegRepricedOnTheBook.TestCase


def test_an_expired_attempt_never_amends_a_post_only_order_across_the_book() -> None:
    """Found by the supervisor machine under ``HYPOTHESIS_PROFILE=ci`` (an adopted post-only
    entry), shown here on the leg alone: a post-only sell rests inside the spread (rung 0 of
    two, one inside-tick rung) on a venue that amends; its attempt's time runs out
    (``polling -> amending``) and the BBO, unchanged at 100.00 / 100.02, prices rung 1 at the
    touch (100.00, ``post_only`` False). The leg must not amend the post-only order to the bid
    (a venue refuses or cancels a post-only amend that crosses): it should cancel and replace,
    as ``is_amendable_on_book`` already makes a book reprice do. The stateful machine counts
    this case apart until the fix (``is_amend_unfit``)."""
    instrument = INSTRUMENTS[0]
    policy = RetryPolicy(
        max_attempts=2, budget=1.0, backoff=0.0, inside_tick_attempts=1, attempt_wait=0.2, poll_interval=0.05
    )
    leg = LegHedge(
        leg=0, hedge_id="h", venue="model", instrument=instrument, side=Side.SELL, target=D("1"),
        reduce_only=False, config=HedgeConfig(opening=policy, closing=policy), started_at=0.0,
        capabilities=VenueCapabilities(amend=AmendSupport.NATIVE),
    )
    book = BBO(bid=D("100.00"), ask=D("100.02"))
    leg.feed(Start(now=0.0))
    leg.drain()
    leg.feed(BboReceived(now=0.0, bbo=book))
    place = next(c for c in leg.drain() if isinstance(c, PlaceLimit))
    assert place.post_only and place.price == D("100.01")
    acked = OrderInfo(
        order_id="v-1", client_order_id=place.client_order_id, symbol=instrument.symbol, side=Side.SELL,
        quantity=place.quantity, price=place.price, status=OrderStatus.OPEN, filled_quantity=ZERO,
    )
    leg.feed(OrderAcked(now=0.01, order=acked))
    commands = leg.drain()
    while leg.state == "polling":
        timer = next(c for c in commands if isinstance(c, WaitUntil))
        now = timer.at
        leg.feed(TimerFired(now=now, token=timer.token))
        commands = leg.drain()
    assert leg.state == "amending"
    leg.feed(BboReceived(now=now, bbo=book))
    amends = [c for c in leg.drain() if isinstance(c, AmendOrder) and c.price is not None]
    crossing = [c for c in amends if c.price <= book.bid]
    assert crossing == [], f"post-only sell at {place.price} amended across bid {book.bid}: {crossing}"


def test_a_book_reprice_never_amends_a_post_only_order_across_the_book() -> None:
    """Found under ``--hypothesis-seed=318`` (tests/test_leg_stateful.py, the general machine):
    a post-only buy of 1 lot rests at 100.01 (rung 0 of 8, three inside-tick rungs) on a venue
    that amends, after two book updates (mid 100.01 at 0.3 s and 0.8 s). At 1.3 s, its minimum
    rest over, the book moves to 100.02 / 100.04: ``is_reprice_due`` and
    ``is_amendable_on_book`` judge rung 1 (100.03, post-only) on the samples *before* this
    update, so the leg amends in place; then ``note_book`` adds the update's own sample, the
    volatility becomes measurable (about 2 bps/√s), urgency lifts the rung to the touch, and
    ``amend_price`` amends the post-only order to 100.04, the ask (a venue refuses a post-only
    order there). Expected: the amend is priced as the conditions judged it (or the leg
    cancels and replaces when the price it amends to would cross)."""
    instrument = INSTRUMENTS[0]
    timeout = 0.2
    config = HedgeConfig(
        opening=RetryPolicy(
            max_attempts=8, budget=6.0, backoff=0.075, inside_tick_attempts=3, attempt_wait=1.5,
            poll_interval=0.1,
        ),
        closing=RetryPolicy(
            max_attempts=5, budget=3.0, backoff=0.05, inside_tick_attempts=2, attempt_wait=1.5,
            poll_interval=0.1,
        ),
        call_timeouts=CallTimeouts(
            place=timeout, cancel=timeout, query=timeout, bbo=timeout, position=timeout
        ),
        ambiguous_horizon=0.5, stuck_timeout=0.5, lookup_attempts=1, break_even=False, max_orders_per_leg=32,
    )
    leg = LegHedge(
        leg=0, hedge_id="hx1", venue="model", instrument=instrument, side=Side.BUY, target=D("1"),
        reduce_only=False, config=config, started_at=0.0,
        capabilities=VenueCapabilities(amend=AmendSupport.NATIVE),
    )
    quiet = BBO(bid=D("100.00"), ask=D("100.02"))
    leg.feed(Start(now=0.0))
    timer = next(c for c in leg.drain() if isinstance(c, WaitUntil))
    now = timer.at  # the BBO never came: asked again
    leg.feed(TimerFired(now=now, token=timer.token))
    leg.feed(BboFailed(now=now, message="timeout"))
    leg.feed(BookUpdated(now=now, bbo=quiet))
    leg.drain()
    now += 0.5
    leg.feed(BboReceived(now=now, bbo=quiet))
    place = next(c for c in leg.drain() if isinstance(c, PlaceLimit))
    assert place.post_only and place.price == D("100.01")
    leg.feed(BookUpdated(now=now, bbo=quiet))
    now += 0.5
    acked = OrderInfo(
        order_id="v-1", client_order_id=place.client_order_id, symbol=instrument.symbol, side=Side.BUY,
        quantity=place.quantity, price=place.price, status=OrderStatus.OPEN, filled_quantity=ZERO,
    )
    leg.feed(OrderAcked(now=now, order=acked))
    leg.drain()
    moved = BBO(bid=D("100.02"), ask=D("100.04"))
    leg.feed(BookUpdated(now=now, bbo=moved))
    commands = leg.drain()
    assert leg.book_reprices == 1 or any(isinstance(c, CancelOrder) for c in commands)
    amends = [c for c in commands if isinstance(c, AmendOrder) and c.price is not None]
    crossing = [c for c in amends if c.price is not None and c.price >= moved.ask]
    assert crossing == [], f"post-only buy amended across ask {moved.ask}: {crossing}"
