"""The supervisor machine: one multi-leg entry (or a direct hedge), from first order to flat.

Theory of operation
-------------------
``idle → entering → watching → cancelling → targeting → hedging → reconciling → done``,
with ``trimming``, ``rolling_back → rolled_back``, ``failed`` and ``cancelled``.

``entering`` / ``watching``
    Every leg's entry limit order is sent (``entering``) and, once all are
    acknowledged, watched by polling (``watching``). The first leg whose entry
    order is fully filled is the **trigger**. Every leg filled → ``reconciling``.
    An entry refused, closed by the venue, or timed out aborts the entry.
``cancelling``
    Every other entry order is cancelled, and the supervisor waits until each
    one is *confirmed* terminal (its final cumulative fill counted, including
    fills that landed during the cancel).

    With ``entry_handoff="adopt"`` (the default; not for market-only hedges) an
    other leg's entry order that is live, acknowledged and on the hedge side
    is *not* cancelled when the trigger fills: the targets are computed at once
    (``targeting``, straight from ``entering``/``watching`` when every other
    entry is adoptable or closed; through ``cancelling`` for the others) and
    the order is handed to that leg's machine as attempt 0. The order record
    moves from the supervisor's ledger to the leg's (one record, so no fill is
    counted twice), with the fills it already had, and the leg's target is the
    leg's whole target. ``"cancel"`` keeps the cancel-first path for every
    entry.
``targeting``
    A momentary state: each leg's hedge target is computed from the
    **reference** leg's actual fill through the contract multipliers
    (``scaled_target``: for two balanced legs, reference tokens / leg
    multiplier, rounded down to the leg's lot). The reference is the trigger;
    after an aborted entry it is the leg with the largest filled share, and the
    partial-entry policy decides between hedging to it and rolling back. There
    is no fallback to the spec quantity: no fill, no target.
``hedging``
    One leg machine per leg with something left to hedge, all running at once.
    When every leg machine has ended: all ``done`` → ``reconciling``; any
    ``rollback`` → ``rolling_back``.
``trimming``
    Every leg machine is done (or nothing was left to hedge), yet a venue minimum
    (quantity, notional) left the hedge legs short by more than the exposure bound:
    the trigger (reference) leg is reduced by the unhedged amount with one market
    order (tokens through the multipliers, floored to its lot) where that order is
    placeable and smaller than the trigger's own fill. Balanced once the trim
    settles → ``reconciling``; refused, short, lost or unsettled within
    ``rollback_budget`` → ``rolling_back`` (only then is everything unwound).
``reconciling``
    Before ``done``: once ``position_settle_delay`` has passed since the last
    fill on each leg's (venue, symbol), the legs' positions are read and
    compared with what the engine's position book expects (baseline + every
    fill it knows). Agreement within a lot → ``done``. A venue showing *more*
    traded on the leg's own side than was reported (an over-hedge no report
    showed) is traded back with a reduce-only order, then read again; any
    other difference is read again (reads lag), and what is still different
    when the rounds or the budget run out → ``failed`` with the residual.
    Never ``done`` on a position the venue does not confirm.
``rolling_back``
    Every order is closed first. Then this hedge's *own* fills, from its
    ledgers (fills are the truth), are flattened with market orders on the
    opposite side of what each leg traded. Position reads only *confirm*:
    they are taken ``position_settle_delay`` after the last fill on the key,
    and never drive a trade of what the ledger says is already flat. A leg
    whose settled read disagrees with the book (the venue closed the position
    itself: auto-deleverage, liquidation) is unwound at most by what the venue
    still shows, reduce-only, and the difference is reported; an order that
    would open a position is never sent. Rounds repeat within
    ``rollback_attempts`` and ``rollback_budget``. Flat and confirmed →
    ``rolled_back``; otherwise → ``failed`` with the residual in the result.

Positions go through one :class:`~hedge_fsm.core.book.PositionBook` per
engine (a private one when none is given): a hedge's baseline excludes other
live hedges' fills on the same venue and symbol, so concurrent hedges never
take each other's fills for their own.

Orders the supervisor sends itself (entries, rollback and correction orders)
follow the *possibly live* rule: an ambiguous placement that the venue does
not show is taken as never placed only once it is provably dead (the venue's
request window, else ``ambiguous_horizon``, has passed, plus one query
timeout so the lookup that says so was sent after it); its id is still
watched afterwards, so a late appearance is cancelled and its fills counted.

The supervisor owns its leg machines and routes events to them: events
addressed to a leg machine go there; events about entry and rollback orders
(sent by the supervisor itself) come here with the leg index. A leg machine
reaching a terminal state is announced to the supervisor as ``leg_finished``;
``targeting`` is left at once through ``targets_set``.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import attrs

from hedge_fsm.config import EntryHandoff, HedgeConfig, HedgeMode, PartialEntryPolicy
from hedge_fsm.core.book import BookView, PositionBook
from hedge_fsm.core.ledger import Ledger, OrderRecord
from hedge_fsm.core.quotes import QuoteTape
from hedge_fsm.core.targets import floor_to_step, is_unplaceable, scaled_target
from hedge_fsm.core.tracker import build_hedge_result, cost_bps, trade_cost
from hedge_fsm.machines.base import Edge, FsmModel, MachineKind, late_report_edges
from hedge_fsm.machines.commands import (
    CancelOrder,
    Command,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    ReadPosition,
    WaitUntil,
    make_wait_until,
)
from hedge_fsm.machines.events import (
    BookUpdated,
    CancelFailed,
    Event,
    OrderAcked,
    OrderMissing,
    OrderRejected,
    PositionRead,
    PostOnlyRejected,
    TimerFired,
    make_leg_finished,
    make_start,
    make_targets_set,
)
from hedge_fsm.machines.leg import LegHedge, LegState
from hedge_fsm.values import (
    BBO,
    ExecutionMode,
    ExecutionResult,
    HedgeResult,
    Instrument,
    OrderInfo,
    Side,
    TriggerFill,
)
from hedge_fsm.venue import DEFAULT_CAPABILITIES, VenueCapabilities

__all__ = ["SUPERVISOR", "SUPERVISOR_EDGES", "HedgeSupervisor", "LegPlan", "Route", "SupervisorState"]

ZERO = Decimal(0)
_EPSILON = 1e-9
"""Clock slack: an event loop may fire a timer a clock resolution early."""


_CORRECTION_TAG = "c"
"""The client-order-id tag of reconciliation's trade-back orders."""


def _reduces(side: Side, quantity: Decimal, position: Decimal) -> bool:
    """Does an order reduce ``position`` without going past flat (a valid reduce-only order)?"""
    reduces = (position > 0 and side is Side.SELL) or (position < 0 and side is Side.BUY)
    return reduces and quantity <= abs(position)


class SupervisorState(enum.StrEnum):
    IDLE = "idle"
    ENTERING = "entering"
    WATCHING = "watching"
    CANCELLING = "cancelling"
    TARGETING = "targeting"
    HEDGING = "hedging"
    RECONCILING = "reconciling"
    ROLLING_BACK = "rolling_back"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TRIMMING = "trimming"


S = SupervisorState
E = Edge

LATE = "reports come late, twice or out of order; a fill on an earlier order must still count"
AMBIGUOUS = "timeout, 5xx or lost ack: the order may exist; look it up, never resend blindly"


def _entry_rows(state: S) -> tuple[Edge, ...]:
    """The rows shared by ``entering`` and ``watching`` (only their all-acked edge differs)."""
    return (
        E("order_acked",         state, S.RECONCILING, ("is_all_filled",), ("record_report", "begin_reconcile")),
        E("order_acked",         state, S.TARGETING,  ("has_trigger", "is_handoff_ready"), ("record_report", "compute_targets")),
        E("order_acked",         state, S.CANCELLING, ("has_trigger",), ("record_report", "cancel_entries")),
        E("order_acked",         state, S.CANCELLING, ("is_entry_closed",), ("record_report", "abort_entry"),
          "a venue may expire or cancel an entry order on its own"),
        E("order_acked",         state, S.WATCHING,   ("is_all_acked",), ("record_report", "schedule_entry_poll")),
        E("order_acked",         state, None,         (), ("record_report",)),
        E("order_updated",       state, S.RECONCILING, ("is_all_filled",), ("record_report", "begin_reconcile")),
        E("order_updated",       state, S.TARGETING,  ("has_trigger", "is_handoff_ready"), ("record_report", "compute_targets")),
        E("order_updated",       state, S.CANCELLING, ("has_trigger",), ("record_report", "cancel_entries")),
        E("order_updated",       state, S.CANCELLING, ("is_entry_closed",), ("record_report", "abort_entry"),
          "a venue may expire or cancel an entry order on its own"),
        E("order_updated",       state, S.WATCHING,   ("is_all_acked",), ("record_report", "schedule_entry_poll")),
        E("order_updated",       state, None,         (), ("record_report",)),
        E("post_only_rejected",  state, S.CANCELLING, (), ("close_order", "abort_entry")),
        E("order_rejected",      state, S.CANCELLING, (), ("close_order", "abort_entry")),
        E("placement_ambiguous", state, None,         (), ("begin_lookup",), AMBIGUOUS),
        E("order_not_found",     state, S.CANCELLING, ("is_lookup_exhausted",), ("abandon_order", "abort_entry")),
        E("order_not_found",     state, None,         (), ("note_missing",), "a venue may not show an order it is still processing"),
        E("query_failed",        state, None,         (), ()),
        E("timer_fired",         state, None,         ("is_stale_timer",), ()),
        E("timer_fired",         state, S.CANCELLING, ("is_entry_timed_out",), ("abort_entry",)),
        E("timer_fired",         state, None,         (), ("poll_orders",)),
    )


TRIM = (
    "a venue minimum (notional, quantity) left more than a lot unhedged: reduce the trigger leg "
    "by it rather than unwind the whole position"
)


def _trim_rows(trigger: str, record: str) -> tuple[Edge, ...]:
    """A report (or refusal) about the trim order: balanced → reconcile; settled short → unwind."""
    return (
        E(trigger, S.TRIMMING, S.RECONCILING,  ("is_trim_settled", "is_balanced_after"), (record, "begin_reconcile")),
        E(trigger, S.TRIMMING, S.ROLLING_BACK, ("is_trim_settled",), (record, "note_untrimmed", "begin_rollback"),
          "a venue may refuse a trim or fill it only in part: unwind what cannot be balanced"),
        E(trigger, S.TRIMMING, None,           (), (record,)),
    )


# fmt: off
SUPERVISOR_EDGES: tuple[Edge, ...] = (
    E("start",               S.IDLE, S.TARGETING,         ("is_direct_hedge",), ("compute_targets",)),
    E("start",               S.IDLE, S.ENTERING,          (), ("place_entry_orders",)),

    *_entry_rows(S.ENTERING),
    *_entry_rows(S.WATCHING),

    # ---- cancelling: every other entry order is cancelled and confirmed
    E("order_acked",         S.CANCELLING, S.TARGETING,    ("is_all_closed",), ("record_report", "compute_targets"),
      "an entry ack can arrive after the trigger filled"),
    E("order_acked",         S.CANCELLING, S.TARGETING,    ("is_handoff_ready",), ("record_report", "compute_targets"),
      "an entry ack can arrive after the trigger filled: that entry is adopted"),
    E("order_acked",         S.CANCELLING, None,           (), ("record_report", "cancel_entries")),
    E("order_updated",       S.CANCELLING, S.TARGETING,    ("is_all_closed",), ("record_report", "compute_targets")),
    E("order_updated",       S.CANCELLING, S.TARGETING,    ("is_handoff_ready",), ("record_report", "compute_targets")),
    E("order_updated",       S.CANCELLING, None,           (), ("record_report", "cancel_entries")),
    E("cancel_confirmed",    S.CANCELLING, S.TARGETING,    ("is_all_closed",), ("record_report", "compute_targets")),
    E("cancel_confirmed",    S.CANCELLING, S.TARGETING,    ("is_handoff_ready",), ("record_report", "compute_targets")),
    E("cancel_confirmed",    S.CANCELLING, None,           (), ("record_report",)),
    E("cancel_failed",       S.CANCELLING, None,           (), ("requery_order",),
      "cancelling an order that just filled is refused by many venues"),
    E("post_only_rejected",  S.CANCELLING, S.TARGETING,    ("is_all_closed",), ("close_order", "compute_targets")),
    E("post_only_rejected",  S.CANCELLING, S.TARGETING,    ("is_handoff_ready",), ("close_order", "compute_targets")),
    E("post_only_rejected",  S.CANCELLING, None,           (), ("close_order",)),
    E("order_rejected",      S.CANCELLING, S.TARGETING,    ("is_all_closed",), ("close_order", "compute_targets")),
    E("order_rejected",      S.CANCELLING, S.TARGETING,    ("is_handoff_ready",), ("close_order", "compute_targets")),
    E("order_rejected",      S.CANCELLING, None,           (), ("close_order",)),
    E("placement_ambiguous", S.CANCELLING, None,           (), ("begin_lookup",), AMBIGUOUS),
    E("order_not_found",     S.CANCELLING, S.TARGETING,    ("is_lookup_exhausted", "is_all_closed"), ("abandon_order", "compute_targets")),
    E("order_not_found",     S.CANCELLING, S.TARGETING,    ("is_lookup_exhausted", "is_handoff_ready"), ("abandon_order", "compute_targets")),
    E("order_not_found",     S.CANCELLING, None,           ("is_lookup_exhausted",), ("abandon_order",)),
    E("order_not_found",     S.CANCELLING, None,           (), ("note_missing",)),
    E("query_failed",        S.CANCELLING, None,           (), ()),
    E("timer_fired",         S.CANCELLING, None,           ("is_stale_timer",), ()),
    E("timer_fired",         S.CANCELLING, S.ROLLING_BACK, ("is_stuck",), ("give_up", "begin_rollback"),
      "the venue never confirms the cancel: unwind what is known"),
    E("timer_fired",         S.CANCELLING, None,           (), ("chase_cancels",)),

    # ---- targeting: momentary, left at once
    E("targets_set",         S.TARGETING, S.CANCELLED,     ("is_unfilled",), ("finish",)),
    E("targets_set",         S.TARGETING, S.ROLLING_BACK,  ("is_rollback_policy",), ("begin_rollback",)),
    E("targets_set",         S.TARGETING, S.RECONCILING,   ("is_nothing_to_hedge", "is_exposure_within_bound"), ("begin_reconcile",)),
    E("targets_set",         S.TARGETING, S.TRIMMING,      ("is_nothing_to_hedge", "is_trim_placeable"), ("place_trim",), TRIM),
    E("targets_set",         S.TARGETING, S.ROLLING_BACK,  ("is_nothing_to_hedge",), ("note_unhedgeable", "begin_rollback"),
      "fills that round to nothing on the other legs leave more than a lot exposed: unwind"),
    E("targets_set",         S.TARGETING, S.HEDGING,       (), ("start_leg_hedges",)),

    # ---- hedging: the leg machines run concurrently
    E("leg_finished",        S.HEDGING, S.ROLLING_BACK,    ("is_every_leg_finished", "has_failed_leg"), ("begin_rollback",)),
    E("leg_finished",        S.HEDGING, S.RECONCILING,     ("is_every_leg_finished", "is_exposure_within_bound"), ("begin_reconcile",)),
    E("leg_finished",        S.HEDGING, S.TRIMMING,        ("is_every_leg_finished", "is_trim_placeable"), ("place_trim",), TRIM),
    E("leg_finished",        S.HEDGING, S.ROLLING_BACK,    ("is_every_leg_finished",), ("note_unhedgeable", "begin_rollback"),
      "a venue minimum (notional, quantity) left more than a lot unhedged: unwind instead"),
    E("leg_finished",        S.HEDGING, None,              (), ()),

    # ---- reconciling: settled position reads must confirm the book before done
    E("position_read",       S.RECONCILING, S.DONE,         ("is_reading_complete", "is_reconciled"), ("record_position", "finish")),
    E("position_read",       S.RECONCILING, S.FAILED,       ("is_reading_complete", "is_rollback_exhausted"), ("record_position", "report_residual")),
    E("position_read",       S.RECONCILING, None,           ("is_reading_complete",), ("record_position", "place_corrections"),
      "a venue may fill more than it reports, close a position itself, or report positions late"),
    E("position_read",       S.RECONCILING, None,           (), ("record_position",),
      "an answer to an older read, or reads still out: only a complete, settled set decides"),
    E("position_failed",     S.RECONCILING, None,           (), ("reread_position",)),
    E("order_acked",         S.RECONCILING, None,           (), ("record_report", "continue_rollback")),
    E("order_updated",       S.RECONCILING, None,           (), ("record_report", "continue_rollback"), LATE),
    E("cancel_confirmed",    S.RECONCILING, None,           (), ("record_report", "continue_rollback")),
    E("cancel_failed",       S.RECONCILING, None,           (), ("requery_order",),
      "cancelling an order that just filled is refused by many venues"),
    E("order_rejected",      S.RECONCILING, None,           (), ("close_order", "continue_rollback")),
    E("placement_ambiguous", S.RECONCILING, None,           (), ("begin_lookup",), AMBIGUOUS),
    E("order_not_found",     S.RECONCILING, None,           ("is_lookup_exhausted",), ("abandon_order", "continue_rollback")),
    E("order_not_found",     S.RECONCILING, None,           (), ("note_missing",)),
    E("timer_fired",         S.RECONCILING, None,           ("is_stale_timer",), ()),
    E("timer_fired",         S.RECONCILING, S.FAILED,       ("is_rollback_budget_spent",), ("report_residual",)),
    E("timer_fired",         S.RECONCILING, None,           (), ("chase_rollback",)),

    # ---- rolling_back: close every order, read positions, flatten, read again, within budget
    E("position_read",       S.ROLLING_BACK, S.ROLLED_BACK, ("is_reading_complete", "is_flat"), ("record_position", "finish")),
    E("position_read",       S.ROLLING_BACK, S.FAILED,      ("is_reading_complete", "is_rollback_exhausted"), ("record_position", "report_residual")),
    E("position_read",       S.ROLLING_BACK, None,          ("is_reading_complete",), ("record_position", "place_rollback_orders"),
      "a venue may close a position itself (auto-deleverage) or report it late: unwind only what is confirmed"),
    E("position_read",       S.ROLLING_BACK, None,          (), ("record_position",),
      "an answer to an older read, or reads still out: only a complete, settled set decides"),
    E("position_failed",     S.ROLLING_BACK, None,          (), ("reread_position",)),
    E("order_acked",         S.ROLLING_BACK, None,          (), ("record_report", "continue_rollback")),
    E("order_updated",       S.ROLLING_BACK, None,          (), ("record_report", "continue_rollback"), LATE),
    E("cancel_confirmed",    S.ROLLING_BACK, None,          (), ("record_report", "continue_rollback")),
    E("cancel_failed",       S.ROLLING_BACK, None,          (), ("requery_order",),
      "cancelling an order that just filled is refused by many venues"),
    E("order_rejected",      S.ROLLING_BACK, None,          (), ("close_order", "continue_rollback")),
    E("post_only_rejected",  S.ROLLING_BACK, None,          (), ("close_order", "continue_rollback")),
    E("placement_ambiguous", S.ROLLING_BACK, None,          (), ("begin_lookup",), AMBIGUOUS),
    E("order_not_found",     S.ROLLING_BACK, None,          ("is_lookup_exhausted",), ("abandon_order", "continue_rollback")),
    E("order_not_found",     S.ROLLING_BACK, None,          (), ("note_missing",)),
    E("timer_fired",         S.ROLLING_BACK, None,          ("is_stale_timer",), ()),
    E("timer_fired",         S.ROLLING_BACK, S.FAILED,      ("is_rollback_budget_spent",), ("report_residual",)),
    E("timer_fired",         S.ROLLING_BACK, None,          (), ("chase_rollback",)),

    # ---- trimming: the trigger leg gives back what a venue minimum left unhedged
    *_trim_rows("order_acked", "record_report"),
    *_trim_rows("order_updated", "record_report"),
    *_trim_rows("cancel_confirmed", "record_report"),
    *_trim_rows("order_rejected", "close_order"),
    *_trim_rows("post_only_rejected", "close_order"),
    E("cancel_failed",       S.TRIMMING, None,              (), ("requery_order",),
      "cancelling an order that just filled is refused by many venues"),
    E("placement_ambiguous", S.TRIMMING, None,              (), ("begin_lookup",), AMBIGUOUS),
    E("order_not_found",     S.TRIMMING, S.RECONCILING,     ("is_lookup_exhausted", "is_trim_settled", "is_balanced_after"),
      ("abandon_order", "begin_reconcile")),
    E("order_not_found",     S.TRIMMING, S.ROLLING_BACK,    ("is_lookup_exhausted", "is_trim_settled"),
      ("abandon_order", "note_untrimmed", "begin_rollback"), "a trim that never reached the venue balances nothing"),
    E("order_not_found",     S.TRIMMING, None,              ("is_lookup_exhausted",), ("abandon_order",)),
    E("order_not_found",     S.TRIMMING, None,              (), ("note_missing",), "a venue may not show an order it is still processing"),
    E("query_failed",        S.TRIMMING, None,              (), ()),
    E("timer_fired",         S.TRIMMING, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.TRIMMING, S.ROLLING_BACK,    ("is_trim_budget_spent",), ("note_untrimmed", "begin_rollback"),
      "the venue never settles the trim: unwind instead (the rollback still chases the trim order)"),
    E("timer_fired",         S.TRIMMING, None,              (), ("chase_trim",)),
)
# fmt: on

_LIVE = (S.ENTERING, S.WATCHING, S.CANCELLING, S.HEDGING, S.RECONCILING, S.ROLLING_BACK, S.TRIMMING)
_LATE_TRIGGERS = (
    "order_acked", "post_only_rejected", "order_rejected", "placement_ambiguous",
    "order_updated", "cancel_confirmed", "cancel_failed", "order_not_found", "query_failed",
    "timer_fired",
)
SUPERVISOR_EDGES += late_report_edges(SUPERVISOR_EDGES, _LIVE, _LATE_TRIGGERS, LATE)

SUPERVISOR = MachineKind(
    "supervisor",
    states=list(SupervisorState),
    initial=S.IDLE,
    terminal=(S.DONE, S.ROLLED_BACK, S.FAILED, S.CANCELLED),
    edges=SUPERVISOR_EDGES,
    passes_leg=True,
)


@attrs.frozen
class Route:
    """Who a command came from and whom its outcome goes back to."""

    machine: str
    """``"supervisor"`` or ``"leg"``."""
    leg: int | None


SUPERVISOR_ROUTE = Route("supervisor", None)

_ROUTES: dict[tuple[str, int | None], Route] = {}


def _route(machine: str, leg: int | None) -> Route:
    """The (immutable) Route for ``machine`` and ``leg``, built once: one per command otherwise."""
    route = _ROUTES.get((machine, leg))
    if route is None:
        route = _ROUTES[(machine, leg)] = Route(machine, leg)
    return route


@attrs.define(eq=False)
class LegPlan:
    """One leg as the supervisor sees it."""

    index: int
    venue: str
    instrument: Instrument
    side: Side
    quantity: Decimal
    """The spec's entry quantity, or the direct hedge target."""
    price: Decimal | None
    """The entry limit price (None for a direct hedge)."""
    reduce_only: bool
    baseline: Decimal
    """The venue position before anything was sent (rollback returns to it)."""
    capabilities: VenueCapabilities = DEFAULT_CAPABILITIES
    """What the leg's venue can do (request window, amend, lookups...), read at set-up."""
    ledger: Ledger = attrs.Factory(Ledger)
    """The supervisor's own orders on this leg: the entry order and rollback orders."""
    entry: OrderRecord | None = None
    target: Decimal = ZERO
    """The leg's total hedge target (entry fill included)."""
    hedge: LegHedge | None = None
    position: Decimal | None = None
    looking_up: set[str] = attrs.Factory(set)
    missing: dict[str, int] = attrs.Factory(dict)
    cancelling: dict[str, float] = attrs.Factory(dict)
    """Client ids with a cancel in flight, and when it was sent."""
    reads_pending: int = 0
    """Position reads sent and not yet answered."""
    orders_sent: int = 0
    sent_at: dict[str, float] = attrs.Factory(dict)
    """When each of the supervisor's own orders was sent (or first looked up): the start of
    its possibly-live window."""
    watched: set[str] = attrs.Factory(set)
    """Orders taken as never placed: still looked up now and then, in case they appear."""
    read_sent_at: float = 0.0
    """When the position read now out (or last answered) was sent."""
    measured: Decimal = ZERO
    """Signed contracts the venue's position showed this hedge traded beyond every report
    (found by reconciliation, then traded back)."""
    dispute: str | None = None
    """Why the venue's settled position and the book disagree on this leg, if they do."""
    book_mark: tuple[Decimal, Decimal | None, Decimal] | None = None
    """The fill totals last told to the position book."""
    post_only: bool = True
    """The entry order rests as a maker order (``LegSpec.post_only``); a direct hedge ignores it."""
    baseline_read_at: float | None = None
    """When the baseline position read was sent (None: at the hedge's first event). The book
    trusts the read only if this engine's last fill on the key came well before it: a read
    sent before a fill of another hedge cannot show it."""
    trims: set[str] = attrs.Factory(set)
    """Client ids of the trim orders sent on this leg (in :attr:`ledger`, apart from rollback's)."""
    tape: QuoteTape = attrs.Factory(QuoteTape)
    """The quotes pushed on the leg's venue before its hedge started, handed to the hedge: it
    judges an adopted entry on the latest at once, and its urgency starts from their volatility."""
    round_trip: float | None = None
    """Seconds from sending the entry order to its acknowledgement: how long the leg's venue
    takes to answer a placement, for the hedge's urgency."""

    def ledgers(self) -> list[Ledger]:
        """Every ledger of the leg: the supervisor's orders, then the leg machine's."""
        return [self.ledger] if self.hedge is None else [self.ledger, self.hedge.ledger]

    def find(self, report: OrderInfo) -> tuple[Ledger, OrderRecord] | None:
        for ledger in self.ledgers():
            record = ledger.find(report)
            if record is not None:
                return ledger, record
        return None

    def record(self, client_order_id: str) -> OrderRecord | None:
        for ledger in self.ledgers():
            record = ledger.orders.get(client_order_id)
            if record is not None:
                return record
        return None

    def live_orders(self) -> list[OrderRecord]:
        return [r for ledger in self.ledgers() for r in ledger.live_orders]

    @property
    def entry_filled(self) -> Decimal:
        return self.entry.filled if self.entry is not None else ZERO

    def net_signed(self) -> Decimal:
        """Signed net contracts this hedge traded on the leg (entry, hedge, rollback, and what
        reconciliation measured beyond the reports)."""
        total = self.measured
        for ledger in (self.ledger, self.hedge.ledger if self.hedge else None):
            if ledger is None:
                continue
            for record in ledger.orders.values():
                total += record.side.sign * record.filled
        return total


class HedgeSupervisor(FsmModel):
    """A whole hedge, sans I/O: the supervisor and the leg machines it runs.

    Drive it with :meth:`dispatch` (route, event) and carry out :meth:`drain`'s
    commands. ``direct=True`` skips the entry: each plan's ``quantity`` is a
    hedge target (``HedgeEngine.hedge``).
    """

    KIND = SUPERVISOR

    def __init__(
        self,
        *,
        hedge_id: str,
        plans: list[LegPlan],
        config: HedgeConfig,
        direct: bool = False,
        trigger: TriggerFill | None = None,
        market_only: bool = False,
        book: PositionBook | None = None,
    ) -> None:
        self.state = S.IDLE.value
        self.leg_index = None
        self.outbox: list[Command] = []
        self.history = []
        self.hedge_id = hedge_id
        self.plans = plans
        self.config = config
        self.direct = direct
        self.direct_trigger = trigger
        self.market_only = market_only or config.mode is HedgeMode.MARKET
        self.trigger_leg: int | None = None
        self.reference_leg: int | None = None
        self.trigger_fill: TriggerFill | None = None
        self.trigger_at: float | None = None
        """When the trigger's fill was first seen complete (the legs' reaction time runs from it)."""
        self.entry_deadline = 0.0
        self.stuck_since: float | None = None
        self.rollback_deadline = 0.0
        self.rollback_round = 0
        self.reads_dirty = False
        self.timer_token = 0
        self.error: str | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._routed: list[tuple[Route, Command]] = []
        self._starting: list[LegHedge] = []
        self.poll_interval = config.opening.poll_interval
        self.unwinding = False
        """Positions are read to roll back (True) or to reconcile before done (False)."""
        self.read_due = 0.0
        """Positions are not read before this time (settle delay, or a pause between reads)."""
        # One book per engine; a supervisor on its own (tests, journal replay) keeps a private one.
        self.book: BookView = (book if book is not None else PositionBook()).view(hedge_id)
        self._book_closed = False
        self.trim_deadline = 0.0
        """When a trim that has not settled is given up for a rollback."""

    # ------------------------------------------------------------------ driving

    def dispatch(self, route: Route, event: Event) -> None:
        """Deliver one event to the machine it is addressed to, then settle."""
        if self.started_at is None:
            self.started_at = event.now
            self._open_book(event.now)
        if route.machine == "leg":
            assert route.leg is not None
            self._dispatch_to_leg(route.leg, event)
        else:
            self.KIND.fire(self, event, route.leg)
        if self.state == S.TARGETING:
            self.KIND.fire(self, make_targets_set(event.now))
        if self._starting:
            starting, self._starting = self._starting, []
            for hedge in starting:
                assert hedge.leg_index is not None
                self._dispatch_to_leg(hedge.leg_index, make_start(event.now))
        self._sync_book(event.now)

    def _open_book(self, now: float) -> None:
        """Register this hedge's legs in the engine's book at its first event.

        A set-up read taken soon after this engine's own fills on the key may lag them
        (the fault soak found a second hedge taking the first's fills for an unreported
        over-hedge): within the settle delay plus the set-up reads' bound it is not trusted.
        The window is judged from when the read was *sent* (soak episode 1542: a read sent
        before another hedge's fill, whose set-up then took 4 s, replaced the book's figure
        and its reconciliation traded back the other hedge's fill).
        """
        untrusted_for = self.config.position_settle_delay + self.config.call_timeouts.longest
        for plan in self.plans:
            read_at = plan.baseline_read_at if plan.baseline_read_at is not None else now
            plan.baseline = self.book.open(
                plan.venue, plan.instrument.symbol, plan.baseline, now=read_at, untrusted_for=untrusted_for
            )

    def _sync_book(self, now: float) -> None:
        """Tell the book this hedge's net fill per leg; a fill while reads are out spoils them."""
        for plan in self.plans:
            # Fills only ever grow: unchanged totals mean an unchanged net (skip the sum).
            mark = (plan.ledger.filled, plan.hedge.ledger.filled if plan.hedge else None, plan.measured)
            if mark == plan.book_mark:
                continue
            plan.book_mark = mark
            changed = self.book.record(plan.venue, plan.instrument.symbol, plan.net_signed(), now)
            if changed and any(p.reads_pending for p in self.plans):
                self.reads_dirty = True
        if self.is_finished and not self._book_closed:
            self._book_closed = True
            for plan in self.plans:
                self.book.close(plan.venue, plan.instrument.symbol)

    def _dispatch_to_leg(self, index: int, event: Event) -> None:
        leg = self.plans[index].hedge
        if leg is None:
            if isinstance(event, BookUpdated):
                # Kept for the leg's hedge to start from (no machine moves).
                self.plans[index].tape.note(event.now, event.bbo)
            return
        if leg.is_finished:
            # Explicitly ignored by the machine, but a late report still counts in the ledger.
            report = getattr(event, "order", None)
            if isinstance(report, OrderInfo):
                delta = leg.ledger.apply(report)
                record = leg.ledger.find(report)
                # An order the finished leg gave up on shows up live: the leg can no longer
                # act, so its cancel is the supervisor's, at once.
                if record is not None and not record.terminal and not self.is_finished and self._cancel_revived(
                    self.plans[index], record, delta.revived, event
                ):
                    leg.stray_cancels[record.client_order_id] = event.now
                self._sync_book(event.now)
            return
        leg.feed(event)
        for command in leg.drain():
            self._routed.append((_route("leg", index), command))
        self._sync_book(event.now)
        if leg.is_finished and self.state == S.HEDGING:
            self.KIND.fire(self, make_leg_finished(event.now), index)

    def wants_quote(self, leg: int, bbo: BBO) -> bool:
        """Does the supervisor keep this quote for leg ``leg``'s hedge (not started yet, the
        hedge not over, and the quote's prices new)?"""
        plan = self.plans[leg]
        return plan.hedge is None and not self.is_finished and not plan.tape.has_prices_of(bbo)

    def route_for(self, leg: int, report: OrderInfo) -> Route | None:
        """Whose order a pushed report is about (None: not an order of this hedge)."""
        plan = self.plans[leg]
        if plan.hedge is not None and plan.hedge.ledger.find(report) is not None:
            return _route("leg", leg)
        if plan.ledger.find(report) is not None:
            return _route("supervisor", leg)
        return None

    def absorb_late(self, route: Route, event: Event) -> None:
        """After the end: no machine moves, but a report still counts in its ledger."""
        report = getattr(event, "order", None)
        if not isinstance(report, OrderInfo) or route.leg is None:
            return
        plan = self.plans[route.leg]
        found = plan.find(report)
        (found[0] if found is not None else plan.ledger).apply(report)
        self._sync_book(event.now)  # a late fill is still in the account: later hedges count it

    def drain_routed(self) -> list[tuple[Route, Command]]:
        """Every command emitted since the last call, with the route of its answer."""
        routed = self._routed
        self._routed = []
        for command in self.drain():
            leg = getattr(command, "leg", None) if not isinstance(command, WaitUntil) else None
            routed.append((_route("supervisor", leg), command))
        return routed

    # ------------------------------------------------------------------ helpers

    def _emit(self, command: Command) -> None:
        self.outbox.append(command)

    def _wake_at(self, at: float) -> None:
        self.timer_token += 1
        self._emit(make_wait_until(at, self.timer_token))

    def _cancel_revived(self, plan: LegPlan, record: OrderRecord, revived: bool, event: Event) -> bool:
        """An order taken as never placed is live after all: cancel it at once (once).
        Was a cancel sent?"""
        if not revived or record.order_id is None:
            return False
        if record.client_order_id in plan.cancelling:
            return False
        self._send_cancel(plan, record, event)
        return True

    def _send_cancel(self, plan: LegPlan, record: OrderRecord, event: Event) -> None:
        """Cancel one of the hedge's orders and note when, so a lost cancel is sent again."""
        assert record.order_id is not None
        plan.cancelling[record.client_order_id] = event.now
        self._emit(
            CancelOrder(leg=plan.index, client_order_id=record.client_order_id, order_id=record.order_id)
        )

    def _client_id(self, plan: LegPlan, tag: str) -> str:
        plan.orders_sent += 1
        return f"{self.hedge_id}{tag}{plan.index}n{plan.orders_sent}"

    def _record_of(self, leg: int, event: Event) -> OrderRecord | None:
        plan = self.plans[leg]
        report = getattr(event, "order", None)
        if isinstance(report, OrderInfo):
            found = plan.find(report)
            return found[1] if found is not None else None
        client_order_id = getattr(event, "client_order_id", None)
        return plan.record(client_order_id) if client_order_id else None

    def _entry_filled_after(self, leg: int, event: Event, index: int) -> Decimal:
        plan = self.plans[index]
        report = getattr(event, "order", None)
        if (
            index == leg
            and isinstance(report, OrderInfo)
            and plan.entry is not None
            and plan.ledger.find(report) is plan.entry
            and report.filled_quantity > plan.entry.filled
        ):
            return report.filled_quantity
        return plan.entry_filled

    def _closed_after(self, leg: int | None, event: Event, record: OrderRecord) -> bool:
        if record.terminal:
            return True
        if leg is None or self._record_of(leg, event) is not record:
            return False
        if isinstance(event, PostOnlyRejected | OrderRejected):
            return True
        if isinstance(event, OrderMissing):
            return self.is_lookup_exhausted(leg, event)
        report = getattr(event, "order", None)
        return isinstance(report, OrderInfo) and report.is_terminal

    # ------------------------------------------------------------------ conditions (pure)

    def is_direct_hedge(self, leg: int | None, event: Event) -> bool:
        return self.direct

    def is_all_filled(self, leg: int, event: Event) -> bool:
        """Did every leg's entry order fill completely (balanced by construction)?"""
        return all(
            self._entry_filled_after(leg, event, p.index) >= p.quantity for p in self.plans
        )

    def has_trigger(self, leg: int, event: Event) -> bool:
        """Is some leg's entry order completely filled (after this report)?"""
        return any(
            self._entry_filled_after(leg, event, p.index) >= p.quantity for p in self.plans
        )

    def is_entry_closed(self, leg: int, event: Event) -> bool:
        """Did the venue close this leg's entry order without filling it completely?"""
        entry = self.plans[leg].entry
        return entry is not None and self._record_of(leg, event) is entry and self._closed_after(
            leg, event, entry
        )

    def is_all_acked(self, leg: int, event: Event) -> bool:
        """Has every entry order been acknowledged (or this report acknowledges the last)?"""
        for plan in self.plans:
            entry = plan.entry
            if entry is None:
                return False
            if entry.status is None and not (plan.index == leg and self._record_of(leg, event) is entry):
                return False
        return True

    def is_lookup_exhausted(self, leg: int, event: Event) -> bool:
        """Is a looked-up order provably dead: missing often enough, and missing past its window?

        An ambiguous placement may reach the matching engine late. Only once the venue's
        request window (else ``ambiguous_horizon``) has passed since it was sent can it no
        longer appear; one query timeout more makes sure this lookup was sent after that.
        """
        record = self._record_of(leg, event)
        plan = self.plans[leg]
        if record is None or record.client_order_id not in plan.looking_up:
            return False
        misses = plan.missing.get(record.client_order_id, 0)
        return misses + 1 >= self.config.lookup_attempts and event.now + _EPSILON >= self._dead_at(
            plan, record.client_order_id
        )

    def _dead_at(self, plan: LegPlan, client_order_id: str) -> float:
        """When an order the venue never showed is provably dead (see ``is_lookup_exhausted``)."""
        window = plan.capabilities.request_window
        if window is None:
            window = self.config.ambiguous_horizon
        return plan.sent_at.get(client_order_id, 0.0) + window + self.config.call_timeouts.query

    def is_all_closed(self, leg: int | None, event: Event) -> bool:
        """Is every order the supervisor sent terminal, this event included?"""
        return all(
            self._closed_after(leg if leg == p.index else None, event, record)
            for p in self.plans
            for ledger in p.ledgers()
            for record in ledger.orders.values()
        )

    def is_stale_timer(self, leg: int | None, event: Event) -> bool:
        assert isinstance(event, TimerFired)
        return event.token != self.timer_token

    def is_entry_timed_out(self, leg: int | None, event: Event) -> bool:
        return event.now >= self.entry_deadline

    def is_stuck(self, leg: int | None, event: Event) -> bool:
        """Has the venue left us waiting past ``stuck_timeout``, with no order that may still appear?

        An order being looked up is waited on until it is provably dead (its window, bounded)
        and one more lookup has had time to say so, even past the stuck timeout: giving up
        earlier would unwind a position while an order that can still fill is out.
        """
        if self.stuck_since is None or event.now - self.stuck_since < self.config.stuck_timeout:
            return False
        last_lookup = self.config.call_timeouts.query + self.poll_interval
        return not any(
            event.now + _EPSILON < self._dead_at(plan, client_order_id) + last_lookup
            for plan in self.plans
            for client_order_id in plan.looking_up
        )

    def is_unfilled(self, leg: int | None, event: Event) -> bool:
        """Did nothing fill at all (so there is nothing to hedge or unwind)?"""
        return not self.direct and all(p.entry_filled == 0 for p in self.plans)

    def is_rollback_policy(self, leg: int | None, event: Event) -> bool:
        """No trigger, partial fills, and the policy says unwind."""
        return (
            not self.direct
            and self.trigger_leg is None
            and self.config.partial_entry_policy is PartialEntryPolicy.ROLLBACK
        )

    def is_nothing_to_hedge(self, leg: int | None, event: Event) -> bool:
        return all(self._is_small(p, self._leg_remaining(p)) for p in self.plans)

    def is_every_leg_finished(self, leg: int | None, event: Event) -> bool:
        return all(p.hedge is None or p.hedge.is_finished for p in self.plans)

    def exposure_bound(self) -> Decimal:
        """Invariant 6's bound: one placeable unit of the coarsest leg, in tokens, plus dust."""
        return max(
            (
                max(p.instrument.placeable_minimum, self.config.dust_tolerance) * p.instrument.multiplier
                for p in self.plans
            ),
            default=ZERO,
        )

    def is_exposure_within_bound(self, leg: int | None, event: Event) -> bool:
        """Is the net exposure across legs (tokens) within one lot of the coarsest leg?

        A direct hedge's legs offset a position held elsewhere: each is judged alone.
        """
        return self.direct or abs(self.net_exposure()) <= self.exposure_bound()

    def has_failed_leg(self, leg: int | None, event: Event) -> bool:
        return any(p.hedge is not None and p.hedge.state == LegState.ROLLBACK for p in self.plans)

    def is_reading_complete(self, leg: int, event: Event) -> bool:
        """Does this read complete a settled set (every leg read, none still out, each sent at
        least ``position_settle_delay`` after the last fill on its key, no fill since)?"""
        if not self._is_read_set_trusted():
            return False
        for plan in self.plans:
            if plan.index == leg:
                if plan.reads_pending != 1:
                    return False
            elif plan.reads_pending != 0 or plan.position is None:
                return False
        return True

    def is_flat(self, leg: int, event: Event) -> bool:
        """Is this hedge's own net fill flat on every leg, no order live, and does every
        settled read confirm it (the venue shows what the book expects)?"""
        assert isinstance(event, PositionRead)
        for plan in self.plans:
            position = event.quantity if plan.index == leg else plan.position
            assert position is not None
            if not self._is_small(plan, plan.net_signed()) or plan.live_orders():
                return False
            if self._dispute_of(plan, position) is not None:
                return False
        return True

    def is_rollback_exhausted(self, leg: int | None, event: Event) -> bool:
        return (
            self.rollback_round >= self.config.rollback_attempts
            or event.now >= self.rollback_deadline
        )

    def is_rollback_budget_spent(self, leg: int | None, event: Event) -> bool:
        return event.now >= self.rollback_deadline

    # ------------------------------------------------------------------ entry handoff (adopt)

    def is_handoff_ready(self, leg: int | None, event: Event) -> bool:
        """Adopting, a trigger after this event, and every order of the hedge closed or a live
        entry to adopt (so the targets can be computed now, nothing else being cancelled)?"""
        if not self._is_adopting() or leg is None or not self.has_trigger(leg, event):
            return False
        for plan in self.plans:
            here = leg if leg == plan.index else None
            for ledger in plan.ledgers():
                for record in ledger.orders.values():
                    if self._closed_after(here, event, record):
                        continue
                    if record is plan.entry and self._is_adoptable(plan, here, event):
                        continue
                    return False
        return True

    def _is_adopting(self) -> bool:
        return (
            self.config.entry_handoff is EntryHandoff.ADOPT and not self.market_only and not self.direct
        )

    def _is_adoptable(self, plan: LegPlan, leg: int | None, event: Event | None) -> bool:
        """Can this leg's entry order be handed to its leg machine (this event included)?

        It is live, on the leg's (hedge) side, known to the venue by id, and neither being
        cancelled nor looked up.
        """
        entry = plan.entry
        if entry is None or entry.side is not plan.side or entry.client_order_id in plan.cancelling:
            return False
        # A report of the entry itself (its ack, its lookup's answer) makes it known.
        about = (
            event is not None
            and leg == plan.index
            and isinstance(getattr(event, "order", None), OrderInfo)
            and self._record_of(plan.index, event) is entry
        )
        if entry.client_order_id in plan.looking_up and not about:
            return False
        if entry.terminal or (event is not None and self._closed_after(leg, event, entry)):
            return False
        return entry.order_id is not None or about

    def _adoptable_entry(self, plan: LegPlan) -> OrderRecord | None:
        """The entry to hand over at the start of the hedge, if any (a trigger is needed)."""
        if not self._is_adopting() or self.trigger_leg is None or plan.index == self.trigger_leg:
            return None
        return plan.entry if self._is_adoptable(plan, None, None) else None

    # ------------------------------------------------------------------ quantities

    def _is_small(self, plan: LegPlan, quantity: Decimal) -> bool:
        return is_unplaceable(quantity, plan.instrument, self.config.dust_tolerance)

    def _leg_remaining(self, plan: LegPlan) -> Decimal:
        return max(ZERO, plan.target - plan.entry_filled)

    # ------------------------------------------------------------------ callbacks: entry

    def place_entry_orders(self, leg: int | None, event: Event) -> None:
        """Send every leg's entry limit order and arm the entry timeout."""
        self.entry_deadline = event.now + self.config.entry_timeout
        for plan in self.plans:
            assert plan.price is not None
            client_order_id = self._client_id(plan, "e")
            plan.entry = plan.ledger.register(
                client_order_id, side=plan.side, quantity=plan.quantity, post_only=plan.post_only
            )
            plan.sent_at[client_order_id] = event.now
            self._emit(
                PlaceLimit(
                    leg=plan.index,
                    client_order_id=client_order_id,
                    side=plan.side,
                    quantity=plan.quantity,
                    price=plan.price,
                    post_only=plan.post_only,
                    reduce_only=plan.reduce_only,
                    rung="entry",
                )
            )
        self._wake_at(min(event.now + self.config.entry_poll_interval, self.entry_deadline))

    def record_report(self, leg: int | None, event: Event) -> None:
        """Fold an order report into the leg's ledger (max cumulative, never twice)."""
        report = getattr(event, "order", None)
        if leg is None or not isinstance(report, OrderInfo):
            return
        plan = self.plans[leg]
        found = plan.find(report)
        if found is None:
            plan.ledger.apply(report)  # quarantined there: never counted
            return
        ledger, record = found
        delta = ledger.apply(report)
        added = delta.quantity
        if isinstance(event, OrderAcked) and record is plan.entry and plan.round_trip is None:
            sent = plan.sent_at.get(record.client_order_id)
            if sent is not None:
                plan.round_trip = max(0.0, event.now - sent)
        plan.looking_up.discard(record.client_order_id)
        plan.watched.discard(record.client_order_id)
        self._cancel_revived(plan, record, delta.revived, event)
        if report.is_terminal:
            plan.cancelling.pop(record.client_order_id, None)
        if added > 0 and any(p.reads_pending for p in self.plans):
            # A fill landed while positions were being read: those reads may predate it.
            self.reads_dirty = True
        if self.trigger_leg is None and plan.entry is not None and plan.entry.filled >= plan.quantity:
            self.trigger_leg = leg
            self.trigger_at = event.now
        self._sync_book(event.now)

    def schedule_entry_poll(self, leg: int | None, event: Event) -> None:
        self._wake_at(min(event.now + self.config.entry_poll_interval, self.entry_deadline))

    def poll_orders(self, leg: int | None, event: Event) -> None:
        """Ask how every live order stands (entry orders, lookups), then poll again later."""
        for plan in self.plans:
            for record in plan.ledger.live_orders:
                if record.order_id is None and record.client_order_id not in plan.looking_up:
                    continue  # its placement is still in flight: the answer will come
                self._emit(
                    QueryOrder(
                        leg=plan.index,
                        client_order_id=record.client_order_id,
                        order_id=record.order_id,
                    )
                )
            self._watch(plan)
        self._wake_at(min(event.now + self.config.entry_poll_interval, self.entry_deadline)
                      if self.state in (S.ENTERING, S.WATCHING)
                      else event.now + self.poll_interval)

    def close_order(self, leg: int, event: Event) -> None:
        """A placement was refused: the order never existed."""
        record = self._record_of(leg, event)
        if record is not None:
            self.plans[leg].ledger.mark_terminal(record.client_order_id)
        message = getattr(event, "message", "")
        self._note(f"leg {leg}: order {getattr(event, 'client_order_id', '?')} refused: {message}")

    def begin_lookup(self, leg: int, event: Event) -> None:
        """An ambiguous placement: look the order up by client id before anything else."""
        record = self._record_of(leg, event)
        if record is None:
            return
        plan = self.plans[leg]
        plan.looking_up.add(record.client_order_id)
        plan.sent_at.setdefault(record.client_order_id, event.now)
        self._emit(QueryOrder(leg=leg, client_order_id=record.client_order_id))

    def note_missing(self, leg: int, event: Event) -> None:
        """Not found (yet): the next poll asks again."""
        record = self._record_of(leg, event)
        if record is not None and record.client_order_id in self.plans[leg].looking_up:
            misses = self.plans[leg].missing
            misses[record.client_order_id] = misses.get(record.client_order_id, 0) + 1

    def abandon_order(self, leg: int, event: Event) -> None:
        """Provably dead (see ``is_lookup_exhausted``): never placed; its id is still watched."""
        record = self._record_of(leg, event)
        if record is not None:
            plan = self.plans[leg]
            for ledger in plan.ledgers():
                if ledger.orders.get(record.client_order_id) is record:
                    ledger.mark_terminal(record.client_order_id)
            plan.looking_up.discard(record.client_order_id)
            plan.watched.add(record.client_order_id)

    def cancel_entries(self, leg: int | None, event: Event) -> None:
        """Cancel every entry order that may still fill (a no-op for closed or cancelling ones)."""
        if self.stuck_since is None:
            self.stuck_since = event.now
        for plan in self.plans:
            entry = plan.entry
            if entry is None or entry.terminal or entry.client_order_id in plan.cancelling:
                continue
            if entry.order_id is None:
                continue  # not acknowledged yet: its ack or lookup will bring it back here
            if self._adoptable_entry(plan) is not None:
                continue  # handed to the leg's machine as its first attempt (entry_handoff)
            self._send_cancel(plan, entry, event)
        self._wake_at(event.now + self.poll_interval)

    def abort_entry(self, leg: int | None, event: Event) -> None:
        """The entry cannot complete (refused, closed by the venue, timed out): cancel it all."""
        if self.error is None:
            self.error = (
                "entry timed out" if isinstance(event, TimerFired) else f"entry of leg {leg} failed"
            )
        self.cancel_entries(leg, event)

    def requery_order(self, leg: int, event: Event) -> None:
        """The cancel failed: find out whether the order filled or is gone."""
        assert isinstance(event, CancelFailed)
        record = self._record_of(leg, event)
        if record is None:
            return
        self.plans[leg].cancelling.pop(record.client_order_id, None)
        self._emit(QueryOrder(leg=leg, client_order_id=record.client_order_id, order_id=record.order_id))

    def chase_cancels(self, leg: int | None, event: Event) -> None:
        """Still unconfirmed: query live orders, resend cancels that are not in flight."""
        self._chase_live_orders(event)
        self._wake_at(event.now + self.poll_interval)

    def _chase_live_orders(self, event: Event) -> bool:
        """Cancel every live order (again, when a cancel got no terminal answer for a while),
        or look it up when the venue has not given its id; True when any order is live."""
        any_live = False
        for plan in self.plans:
            for record in plan.live_orders():
                any_live = True
                sent = plan.cancelling.get(record.client_order_id)
                stale = sent is not None and event.now - sent >= 5 * self.poll_interval
                # A market order is never cancelled (it executes or expires at once): only asked.
                cancel = not record.is_market and (sent is None or stale)
                if record.order_id is not None and cancel:
                    self._send_cancel(plan, record, event)
                elif record.order_id is not None or record.client_order_id in plan.looking_up:
                    self._emit(
                        QueryOrder(
                            leg=plan.index,
                            client_order_id=record.client_order_id,
                            order_id=record.order_id,
                        )
                    )
                elif plan.hedge is not None and plan.hedge.ledger.orders.get(
                    record.client_order_id
                ) is record:
                    # A leg machine gave up on this order without learning its fate: look it up.
                    plan.looking_up.add(record.client_order_id)
                    plan.sent_at.setdefault(record.client_order_id, event.now)
                    self._emit(QueryOrder(leg=plan.index, client_order_id=record.client_order_id))
                # else: our own placement is still in flight; its answer will come.
            self._watch(plan)
        return any_live

    def _watch(self, plan: LegPlan) -> None:
        """Look up the orders taken as never placed once more: a late one is cancelled and counted."""
        for client_order_id in sorted(plan.watched):
            self._emit(QueryOrder(leg=plan.index, client_order_id=client_order_id))

    def note_unhedgeable(self, leg: int | None, event: Event) -> None:
        self._note(
            f"net exposure {self.net_exposure()} tokens is more than one lot "
            f"({self.exposure_bound()} tokens) and cannot be hedged (venue minimums); rolling back"
        )

    def give_up(self, leg: int | None, event: Event) -> None:
        self._note(f"venue gave no answer for {self.config.stuck_timeout}s while cancelling")

    # ------------------------------------------------------------------ callbacks: targets, hedging

    def _reference(self) -> int | None:
        """The leg the others hedge against: the trigger, else the largest filled share."""
        if self.trigger_leg is not None:
            return self.trigger_leg
        best: int | None = None
        best_share = ZERO
        for plan in self.plans:
            share = plan.entry_filled / plan.quantity
            if share > best_share:
                best, best_share = plan.index, share
        return best

    def compute_targets(self, leg: int | None, event: Event) -> None:
        """Set every leg's hedge target from the reference leg's actual fill (never the spec)."""
        self.trigger_fill = self.direct_trigger
        if self.direct:
            for plan in self.plans:
                plan.target = plan.quantity
                if self._is_small(plan, plan.target):
                    self._note(
                        f"leg {plan.index}: target {plan.target} is below what {plan.venue} "
                        f"{plan.instrument.symbol} accepts (minimum {plan.instrument.placeable_minimum}): "
                        "nothing traded"
                    )
            return
        reference = self._reference()
        if reference is None:
            return  # nothing filled: no target at all (the entry is cancelled)
        self.reference_leg = reference
        ref = self.plans[reference]
        for plan in self.plans:
            if plan.index == reference:
                plan.target = ref.entry_filled
            else:
                plan.target = scaled_target(
                    plan.quantity, ref.entry_filled, ref.quantity, plan.instrument.lot_size
                )
        self.trigger_fill = self._trigger_fill(ref)

    def start_leg_hedges(self, leg: int | None, event: Event) -> None:
        """Start one leg machine per leg with a placeable remainder, all at once."""
        for plan in self.plans:
            adopted = self._adoptable_entry(plan)
            if adopted is not None:
                self._hand_over(plan, adopted, event)
                continue
            remaining = floor_to_step(self._leg_remaining(plan), plan.instrument.lot_size)
            if self._is_small(plan, remaining):
                continue
            plan.hedge = self._new_hedge(plan, remaining, event.now)
        # The legs start once this transition is recorded (see dispatch), so the
        # history reads supervisor first, then its legs.
        self._starting = [p.hedge for p in self.plans if p.hedge is not None]

    def _hand_over(self, plan: LegPlan, entry: OrderRecord, event: Event) -> None:
        """Start the leg's machine with its live entry order as attempt 0 (entry_handoff="adopt").

        The record moves from the supervisor's ledger to the leg's with the fills it has, so
        every fill is counted once; the leg's target is the leg's whole target (entry fill
        included). Even with nothing left to hedge the leg starts: it cancels the order.
        """
        hedge = self._new_hedge(
            plan, plan.target, event.now, adopted=plan.ledger.release(entry.client_order_id)
        )
        hedge.ledger.take_over(entry)
        if entry.sent_at is None:
            # The leg's book rules measure an order's rest from when it was sent.
            entry.sent_at = plan.sent_at.get(entry.client_order_id)
        plan.hedge = hedge

    def _new_hedge(
        self, plan: LegPlan, target: Decimal, now: float, *, adopted: OrderRecord | None = None
    ) -> LegHedge:
        """The leg's hedge machine for ``target``, starting from what the plan knows (its venue's
        quotes and round trip) and sharing the hedge's one ordered history."""
        trigger_fill = self.trigger_fill
        hedge = LegHedge(
            leg=plan.index,
            hedge_id=self.hedge_id,
            venue=plan.venue,
            instrument=plan.instrument,
            side=plan.side,
            target=target,
            reduce_only=plan.reduce_only,
            config=self.config,
            started_at=now,
            trigger=trigger_fill if trigger_fill is not None and trigger_fill.side is not plan.side else None,
            market_only=self.market_only,
            capabilities=plan.capabilities,
            trigger_at=self.trigger_at,
            adopted=adopted,
            adopted_price=plan.price if adopted is not None else None,
            tape=plan.tape,
            round_trip=plan.round_trip,
        )
        hedge.history = self.history
        return hedge

    def _trigger_fill(self, ref: LegPlan) -> TriggerFill | None:
        entry = ref.entry
        if entry is None or entry.average_price is None or entry.filled == 0:
            return None
        fee = (
            entry.maker * ref.instrument.maker_fee + entry.taker * ref.instrument.taker_fee
        ) / entry.filled
        return TriggerFill(
            side=ref.side,
            price=entry.average_price,
            multiplier=ref.instrument.multiplier,
            fee_rate=fee,
        )

    # ------------------------------------------------------------------ callbacks: rollback, reconciliation

    def begin_rollback(self, leg: int | None, event: Event) -> None:
        """Start unwinding: close every order first, then read settled positions, then flatten."""
        if self.error is None:
            failed = [p.index for p in self.plans if p.hedge and p.hedge.state == LegState.ROLLBACK]
            self.error = (
                f"leg(s) {failed} could not be hedged; rolling back" if failed
                else "partial entry: rolling back"
            )
        self.unwinding = True
        self._begin_reading(event)

    def begin_reconcile(self, leg: int | None, event: Event) -> None:
        """Before ``done``: read every leg's settled position and compare it with the book."""
        self.unwinding = False
        self._begin_reading(event)

    def _begin_reading(self, event: Event) -> None:
        self.rollback_deadline = event.now + self.config.rollback_budget
        self.rollback_round = 0
        self.read_due = 0.0
        for plan in self.plans:
            plan.position = None
            plan.dispute = None
        if self._chase_live_orders(event):
            self._wake_at(event.now + self.poll_interval)
        else:
            self._read_when_settled(event)

    def continue_rollback(self, leg: int | None, event: Event) -> None:
        """Once no order is live (and no read is out), read every position when settled.

        Live orders are chased by the timer at the poll interval, not on every report:
        a report that changes nothing must not send another request at once.
        """
        if (
            not any(p.live_orders() for p in self.plans)
            and not any(p.reads_pending for p in self.plans)
            and any(p.position is None for p in self.plans)
        ):
            self._read_when_settled(event)

    def _settled_at(self) -> float:
        """When every leg's position read can be trusted to include every fill known."""
        due = self.read_due
        for plan in self.plans:
            last = self.book.last_fill_at(plan.venue, plan.instrument.symbol)
            if last is not None:
                due = max(due, last + self.config.position_settle_delay)
        return due

    def _read_when_settled(self, event: Event) -> None:
        """Read every position now, or wake up when the last fill has had time to show."""
        due = self._settled_at()
        if event.now + _EPSILON < due:
            self._wake_at(due)
        else:
            self._read_positions(event)

    def _read_positions(self, event: Event) -> None:
        # Only ever with no order live, so what is read cannot change before it is used.
        self.reads_dirty = False
        for plan in self.plans:
            plan.position = None
            plan.reads_pending += 1
            plan.read_sent_at = event.now
            self._emit(ReadPosition(leg=plan.index))
        self._wake_at(event.now + self.poll_interval * 5)

    def _is_read_trusted(self, plan: LegPlan) -> bool:
        """Was the leg's read sent long enough after the last fill on its key to include it?"""
        last = self.book.last_fill_at(plan.venue, plan.instrument.symbol)
        return last is None or last + self.config.position_settle_delay <= plan.read_sent_at + _EPSILON

    def _is_read_set_trusted(self) -> bool:
        return not self.reads_dirty and all(self._is_read_trusted(p) for p in self.plans)

    def record_position(self, leg: int, event: Event) -> None:
        """Take a read; an answer to an older read (another is still out) is not trusted."""
        assert isinstance(event, PositionRead)
        plan = self.plans[leg]
        plan.reads_pending = max(0, plan.reads_pending - 1)
        if plan.reads_pending == 0:
            plan.position = event.quantity
        if not any(p.reads_pending for p in self.plans) and not self._is_read_set_trusted():
            # A fill landed after these reads were sent: they may not show it. Read again.
            for other in self.plans:
                other.position = None
            self._read_when_settled(event)

    def reread_position(self, leg: int, event: Event) -> None:
        """A read failed: ask that leg again."""
        self._emit(ReadPosition(leg=leg))

    def _expected(self, plan: LegPlan) -> Decimal:
        """The leg's account position as the engine's book knows it (every hedge's fills)."""
        return self.book.expected(plan.venue, plan.instrument.symbol)

    def _dispute_of(self, plan: LegPlan, position: Decimal) -> str | None:
        """Why a settled read and the book disagree on this leg (None: within a lot)."""
        expected = self._expected(plan)
        if self._is_small(plan, position - expected):
            return None
        own = plan.net_signed()
        return (
            f"leg {plan.index} ({plan.venue} {plan.instrument.symbol}): the venue shows position "
            f"{position}, the book expects {expected} (baseline {plan.baseline}, this hedge's fills "
            f"{own}, other hedges' {expected - plan.baseline - own}): a difference of "
            f"{position - expected} (the venue moved the position itself: auto-deleverage, "
            "liquidation; or a fill never reported; or a trade outside this engine)"
        )

    def _pause_then_read(self, event: Event) -> None:
        """Nothing to send, the venue still disagrees: read again after a pause (reads lag)."""
        self.read_due = event.now + max(self.config.position_settle_delay, self.poll_interval)
        self._read_when_settled(event)

    def place_rollback_orders(self, leg: int | None, event: Event) -> None:
        """One flattening round: per leg, a market order undoing this hedge's own net fill.

        The quantity comes from the ledgers, never from a read: a read only confirms. Where a
        settled read disagrees with the book (the venue closed the position itself), at most
        what the venue still shows of this hedge is unwound, and the rest is reported.
        """
        self.rollback_round += 1
        sent = False
        for plan in self.plans:
            position = plan.position
            assert position is not None
            plan.position = None
            own = plan.net_signed()
            if self._is_small(plan, own):
                continue  # flat by the ledgers: no read may drive a trade here
            expected = self._expected(plan)
            unwind = own
            plan.dispute = self._dispute_of(plan, position)
            if plan.dispute is not None:
                # What the venue still shows of this hedge, taking the others as the book has them.
                shown = position - (expected - own)
                if shown * own <= 0:
                    unwind = ZERO  # already gone at the venue: trading would open a position
                elif abs(shown) < abs(own):
                    unwind = shown
                plan.dispute += f"; unwinding {unwind} of this hedge's {own}"
            quantity = floor_to_step(abs(unwind), plan.instrument.lot_size)
            if self._is_small(plan, quantity):
                continue
            side = Side.SELL if unwind > 0 else Side.BUY
            self._send_market(
                plan, "r", side, quantity, reduce_only=_reduces(side, quantity, expected), event=event
            )
            sent = True
        if sent:
            self._wake_at(event.now + self.poll_interval)
        else:
            self._pause_then_read(event)

    def place_corrections(self, leg: int | None, event: Event) -> None:
        """One reconciliation round: trade back an over-hedge the venue shows; else read again.

        A venue showing more traded on a leg's own side than any report said (and no other
        hedge live on the key to own it) holds fills of this hedge that were never reported:
        they are counted, and the excess is sold (bought) back reduce-only. Any other
        difference (a position closed by the venue, a read still behind) is read again and,
        when it persists, reported: an order that would open a position is never sent.
        """
        self.rollback_round += 1
        sent = False
        for plan in self.plans:
            position = plan.position
            assert position is not None
            plan.position = None
            plan.dispute = self._dispute_of(plan, position)
            if plan.dispute is None:
                sent = self._trade_back_again(plan, position, event) or sent
                continue
            difference = position - self._expected(plan)
            over = difference * plan.side.sign > 0
            if not over or self.book.others_live(plan.venue, plan.instrument.symbol):
                continue
            side = plan.side.opposite
            quantity = floor_to_step(abs(difference), plan.instrument.lot_size)
            if self._is_small(plan, quantity) or not _reduces(side, quantity, position):
                continue  # trading it back would open a position: report instead
            plan.measured += difference
            self._note(
                f"leg {plan.index}: the venue shows {difference} contracts more than reported; "
                f"traded back {quantity}"
            )
            self._send_market(plan, _CORRECTION_TAG, side, quantity, reduce_only=True, event=event)
            sent = True
        if sent:
            self._wake_at(event.now + self.poll_interval)
        else:
            self._pause_then_read(event)

    def _untraded_surplus(self, plan: LegPlan) -> Decimal:
        """Contracts the venue showed beyond the reports (counted in ``measured``) that no
        correction order has traded back yet: a refused or unfilled trade-back leaves them."""
        surplus = plan.measured * plan.side.sign
        if surplus <= 0:
            return ZERO
        prefix = f"{self.hedge_id}{_CORRECTION_TAG}{plan.index}n"
        traded_back = sum(
            (r.filled for cid, r in plan.ledger.orders.items() if cid.startswith(prefix)), ZERO
        )
        return max(surplus - traded_back, ZERO)

    def _trade_back_again(self, plan: LegPlan, position: Decimal, event: Event) -> bool:
        """The venue agrees with the book, but a counted surplus was not traded back (its
        correction was refused or did not fill): send the trade-back again. Was one sent?"""
        untraded = self._untraded_surplus(plan)
        if untraded == 0 or plan.live_orders() or self.book.others_live(plan.venue, plan.instrument.symbol):
            return False
        side = plan.side.opposite
        quantity = floor_to_step(untraded, plan.instrument.lot_size)
        if self._is_small(plan, quantity) or not _reduces(side, quantity, position):
            return False
        self._note(f"leg {plan.index}: {untraded} contracts shown beyond the reports not traded back yet; "
                   f"trading back {quantity} again")
        self._send_market(plan, _CORRECTION_TAG, side, quantity, reduce_only=True, event=event)
        return True

    def _send_market(
        self, plan: LegPlan, tag: str, side: Side, quantity: Decimal, *, reduce_only: bool, event: Event
    ) -> str:
        client_order_id = self._client_id(plan, tag)
        plan.ledger.register(client_order_id, side=side, quantity=quantity, is_market=True)
        plan.sent_at[client_order_id] = event.now
        self._emit(
            PlaceMarket(
                leg=plan.index,
                client_order_id=client_order_id,
                side=side,
                quantity=quantity,
                reduce_only=reduce_only,
            )
        )
        return client_order_id

    def _note(self, message: str) -> None:
        """Keep what went wrong: the top-level error tells every problem of a hedge."""
        self.error = message if self.error is None else f"{self.error}; {message}"

    def chase_rollback(self, leg: int | None, event: Event) -> None:
        """No news for a while: chase live orders, re-ask unanswered reads, or take the next step."""
        if self._chase_live_orders(event):
            self._wake_at(event.now + self.poll_interval)
            return
        waiting = [p for p in self.plans if p.reads_pending]
        for plan in waiting:
            self._emit(ReadPosition(leg=plan.index))
            plan.reads_pending += 1
        if waiting:
            self._wake_at(event.now + self.poll_interval * 5)
        else:
            self.continue_rollback(leg, event)

    def is_reconciled(self, leg: int, event: Event) -> bool:
        """Does every leg's settled position agree with the book (within a lot), no order live,
        and is the net exposure by the fills within the bound?

        The last clause is invariant 6 asked directly: whatever the reads say (a venue-side
        move taken for an unreported over-hedge whose trade-back was refused leaves the book
        agreeing with the venue while the legs do not offset), ``done`` is never claimed
        beyond the bound; the untraded-surplus check below names that case's residual.
        """
        assert isinstance(event, PositionRead)
        if not self.is_exposure_within_bound(leg, event):
            return False
        for plan in self.plans:
            position = event.quantity if plan.index == leg else plan.position
            assert position is not None
            if plan.live_orders() or self._dispute_of(plan, position) is not None:
                return False
            if not self._is_small(plan, self._untraded_surplus(plan)):
                return False  # a surplus the venue showed is still held: an over-hedge
        return True

    def report_residual(self, leg: int | None, event: Event) -> None:
        """Rollback or reconciliation could not finish: say exactly what is left, per leg."""
        residuals = []
        for plan in self.plans:
            position = plan.position
            if isinstance(event, PositionRead) and plan.index == leg:
                position = event.quantity
            dispute = self._dispute_of(plan, position) if position is not None else plan.dispute
            own = plan.net_signed()
            if self.unwinding and own != 0:
                residuals.append(
                    f"leg {plan.index} ({plan.venue} {plan.instrument.symbol}): {own} contracts "
                    "of this hedge's fills not unwound"
                )
            if dispute is not None:
                residuals.append(dispute)
            untraded = self._untraded_surplus(plan)
            if not self._is_small(plan, untraded):
                residuals.append(
                    f"leg {plan.index} ({plan.venue} {plan.instrument.symbol}): {untraded} contracts "
                    "the venue showed beyond the reports not traded back"
                )
        live = [r.client_order_id for p in self.plans for r in p.live_orders()]
        what = "rollback could not flatten" if self.unwinding else "positions do not reconcile"
        message = f"{what}; residual " + (", ".join(residuals) or "unknown")
        if not self.unwinding:
            message += f"; net exposure by the fills {self.net_exposure()} tokens"
        if live:
            message += f"; orders still live: {live}"
        self._note(message)
        self.finished_at = event.now

    def finish(self, leg: int | None, event: Event) -> None:
        self.finished_at = event.now

    # ------------------------------------------------------------------ trim before unwind
    #
    # When the hedge legs end short of their targets because a venue minimum (notional,
    # quantity) refuses the remainder, the exposure left is the trigger leg's excess: the
    # trigger leg is reduced by it (converted through the multipliers, floored to its lot,
    # a market order, reduce-only where it reduces the account's position), instead of
    # unwinding every leg. Only what the trim cannot balance is rolled back: a trim that is
    # not placeable (below the trigger venue's own minimums), would take the whole trigger
    # fill (nothing would stay hedged: that is a rollback), is refused, fills short, or is
    # not settled within ``rollback_budget``. The trim order follows the possibly-live rule
    # of every supervisor order.

    def _trim_plan(self) -> LegPlan | None:
        """The leg a trim reduces: the reference leg (the trigger, else the largest share)."""
        reference = self.reference_leg if self.reference_leg is not None else self.trigger_leg
        return self.plans[reference] if reference is not None else None

    def trim_quantity(self) -> Decimal:
        """Contracts of the trigger leg that offset the net exposure (0: no trim can help).

        The exposure (tokens) must lie on the trigger's own side (the other legs fell short);
        it is converted to the trigger's contracts and floored to its lot, so a trim never
        goes past balanced.
        """
        plan = self._trim_plan()
        if plan is None:
            return ZERO
        exposure = self.net_exposure()
        if exposure * plan.side.sign <= 0:
            return ZERO
        return floor_to_step(abs(exposure) / plan.instrument.multiplier, plan.instrument.lot_size)

    def _trim_price(self, plan: LegPlan) -> Decimal | None:
        """The price a trim's notional is judged at: the trigger's own fill, else its limit."""
        entry = plan.entry
        if entry is not None and entry.average_price is not None:
            return entry.average_price
        return plan.price

    def is_trim_placeable(self, leg: int | None, event: Event) -> bool:
        """Would a trim of the trigger leg balance what the other legs could not place?

        Only when trimming is enabled, no leg machine failed (a failed leg is unwound), the
        exposure is beyond the bound, and the trim is a valid order on the trigger's venue
        (lot, minimum quantity, minimum notional at the trigger's fill price) smaller than
        the trigger leg's own net fill (trimming all of it is a rollback).
        """
        if self.direct or not self.config.trim_before_unwind:
            return False
        if self.has_failed_leg(leg, event) or self.is_exposure_within_bound(leg, event):
            return False
        plan = self._trim_plan()
        quantity = self.trim_quantity()
        if plan is None or self._is_small(plan, quantity):
            return False
        price = self._trim_price(plan)
        if price is None or quantity * price < plan.instrument.min_notional:
            return False
        return quantity < abs(plan.net_signed())

    def _exposure_after(self, leg: int | None, event: Event) -> Decimal:
        """The net exposure (tokens) once this event's report is folded in (pure)."""
        exposure = self.net_exposure()
        report = getattr(event, "order", None)
        if leg is None or not isinstance(report, OrderInfo):
            return exposure
        plan = self.plans[leg]
        found = plan.find(report)
        if found is None or report.filled_quantity <= found[1].filled:
            return exposure
        added = report.filled_quantity - found[1].filled
        return exposure + found[1].side.sign * added * plan.instrument.multiplier

    def is_trim_settled(self, leg: int | None, event: Event) -> bool:
        """Is the trim order (and every other order of the hedge) terminal, this event included?"""
        return self.is_all_closed(leg, event)

    def is_balanced_after(self, leg: int | None, event: Event) -> bool:
        """Is the net exposure within the bound once this event is taken into account?"""
        return abs(self._exposure_after(leg, event)) <= self.exposure_bound()

    def is_trim_budget_spent(self, leg: int | None, event: Event) -> bool:
        return event.now + _EPSILON >= self.trim_deadline

    def place_trim(self, leg: int | None, event: Event) -> None:
        """Send the trim: a market order on the trigger leg, opposite its side, for the excess."""
        plan = self._trim_plan()
        assert plan is not None
        quantity = self.trim_quantity()
        side = plan.side.opposite
        client_order_id = self._send_market(
            plan, "t", side, quantity, reduce_only=_reduces(side, quantity, self._expected(plan)), event=event
        )
        plan.trims.add(client_order_id)
        self.trim_deadline = event.now + self.config.rollback_budget
        self._wake_at(event.now + self.poll_interval)

    def chase_trim(self, leg: int | None, event: Event) -> None:
        """No news: ask how the trim stands (a market order is never cancelled), then wait."""
        self._chase_live_orders(event)
        self._wake_at(min(event.now + self.poll_interval, max(self.trim_deadline, event.now)))

    def note_untrimmed(self, leg: int | None, event: Event) -> None:
        self._note(
            f"the trim left net exposure {self._exposure_after(leg, event)} tokens, more than one lot "
            f"({self.exposure_bound()} tokens); rolling back"
        )

    # ------------------------------------------------------------------ result

    def net_exposure(self) -> Decimal:
        """Signed net position across legs in tokens, from the ledgers."""
        return sum(
            (p.net_signed() * p.instrument.multiplier for p in self.plans),
            ZERO,
        )

    def leg_results(self) -> tuple[HedgeResult, ...]:
        """One :class:`HedgeResult` per leg: its entry fill and its hedge together.

        A leg succeeded only when the whole hedge is ``done`` and the leg traded something;
        fills only reconciliation found (no report showed them) count, without a price.
        """
        results = []
        for plan in self.plans:
            own = [r for r in plan.ledger.orders.values() if r.side is plan.side]
            measured = plan.measured * plan.side.sign  # on the leg's own side: a fill; else unwound
            entry_filled = sum((r.filled for r in own), ZERO) + max(measured, ZERO)
            instrument = plan.instrument
            hedge = plan.hedge
            traded = (hedge.ledger.filled if hedge is not None else ZERO) + entry_filled
            leg_done = hedge is None or hedge.state == LegState.DONE
            result = build_hedge_result(
                hedge.ledger if hedge is not None else Ledger(),
                target=plan.target if plan.target > 0 else entry_filled,
                success=self.state == S.DONE and leg_done and traded > 0,
                instrument=instrument,
                side=plan.side,
                venue=plan.venue,
                attempts=hedge.attempts if hedge is not None else 0,
                state=hedge.state if hedge is not None else ("entry" if entry_filled else "idle"),
                error=hedge.error if hedge is not None else None,
                extra_filled=entry_filled,
                extra_notional=sum((r.notional for r in own), ZERO),
                extra_maker=sum((r.maker for r in own), ZERO),
                extra_fees=sum((r.fee(instrument.maker_fee, instrument.taker_fee) for r in own), ZERO),
                mode=ExecutionMode.ENTRY if hedge is None and entry_filled > 0 else None,
            )
            rolled_back = sum(
                (r.filled for r in plan.ledger.orders.values()
                 if r.side is not plan.side and r.client_order_id not in plan.trims),
                ZERO,
            ) + max(-measured, ZERO)
            results.append(
                attrs.evolve(
                    result,
                    rolled_back_quantity=rolled_back,
                    reaction_time=hedge.reaction_time if hedge is not None else None,
                    **self._leg_costs(plan),
                )
            )
        return tuple(results)

    # ------------------------------------------------------------------ result: costs

    def _intended_price(self, plan: LegPlan) -> Decimal | None:
        """The price costs are measured against: the entry limit, else (a direct hedge) the
        trigger's price per token in this leg's contracts."""
        if plan.price is not None:
            return plan.price
        trigger = self.direct_trigger
        return trigger.price_per_token * plan.instrument.multiplier if trigger is not None else None

    def _leg_costs(self, plan: LegPlan) -> dict[str, Any]:
        """The cost fields of one leg's :class:`HedgeResult` (entry, hedge, unwind, trim)."""
        mark = self._intended_price(plan)
        fees = {"maker_fee": plan.instrument.maker_fee, "taker_fee": plan.instrument.taker_fee}
        records = list(plan.ledger.orders.values())
        entry = trade_cost((r for r in records if r.side is plan.side), mark=mark, **fees)
        hedge = trade_cost(plan.hedge.ledger.orders.values() if plan.hedge else (), mark=mark, **fees)
        unwind = trade_cost(
            (r for r in records if r.side is not plan.side and r.client_order_id not in plan.trims),
            mark=mark, **fees,
        )
        trim = trade_cost((r for r in records if r.client_order_id in plan.trims), mark=mark, **fees)
        parts = (entry.cost, hedge.cost, unwind.cost, trim.cost)
        return {
            "intended_price": mark,
            "entry_cost": entry.cost,
            "hedge_cost": hedge.cost,
            "unwind_average_price": unwind.average_price,
            "unwind_fees": unwind.fees,
            "unwind_cost": unwind.cost,
            "unwind_cost_bps": cost_bps(unwind.cost, unwind.quantity * mark) if mark else None,
            "trimmed_quantity": trim.quantity,
            "trim_average_price": trim.average_price,
            "trim_fees": trim.fees,
            "trim_cost": trim.cost,
            "trim_cost_bps": cost_bps(trim.cost, trim.quantity * mark) if mark else None,
            "total_cost": None if any(p is None for p in parts) else sum((p for p in parts if p is not None), ZERO),
        }

    def cost_basis(self) -> Decimal | None:
        """The notional costs are in bps of: the reference leg's entry fill at its intended
        price; a direct hedge: every leg's target at its intended price."""
        if self.direct:
            total = ZERO
            for plan in self.plans:
                mark = self._intended_price(plan)
                if mark is None:
                    return None
                total += plan.target * mark
            return total
        reference = self._trim_plan()
        if reference is None:
            return ZERO
        mark = self._intended_price(reference)
        return reference.entry_filled * mark if mark is not None else None

    @staticmethod
    def _episode_costs(legs: tuple[HedgeResult, ...], basis: Decimal | None) -> dict[str, Any]:
        """The :class:`ExecutionResult` cost fields: the legs' costs summed, in bps of ``basis``."""

        def total(name: str) -> Decimal | None:
            values = [getattr(leg, name) for leg in legs]
            return None if any(v is None for v in values) else sum(values, ZERO)

        costs: dict[str, Any] = {"cost_basis": basis}
        for part in ("entry", "hedge", "unwind", "trim", "total"):
            cost = total(f"{part}_cost")
            costs[f"{part}_cost"] = cost
            costs[f"{part}_cost_bps"] = cost_bps(cost, basis)
        costs["total_fees"] = sum((leg.fees + leg.unwind_fees + leg.trim_fees for leg in legs), ZERO)
        costs["trimmed"] = any(leg.trimmed_quantity > 0 for leg in legs)
        return costs

    def result(self) -> ExecutionResult:
        legs = self.leg_results()
        return ExecutionResult(
            **self._episode_costs(legs, self.cost_basis()),
            state=self.state,
            legs=legs,
            net_exposure=self.net_exposure(),
            transitions=tuple(self.history),
            hedge_id=self.hedge_id,
            # Kept whatever the end: a done hedge with an error is not a clean hedge.
            error_message=self.error,
            started_at=self.started_at or 0.0,
            finished_at=self.finished_at or 0.0,
        )


