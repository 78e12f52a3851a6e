"""The leg hedge machine: one leg's hedge, from "quantity to hedge" to done or rollback.

Theory of operation
-------------------
A leg is given a *target* (contracts to trade on one side) and works it with
aggressive limit orders, then a market order, and ends in ``done`` (hedged:
what remains is below one placeable unit, reported exactly) or ``rollback``
(it could not be hedged; the supervisor unwinds the position).

States:

``pricing``
    Waiting for a fresh BBO to price the next attempt.
``placed``
    An order was sent; its answer has not arrived. After an ambiguous outcome
    (timeout, 5xx, lost ack) the order is *possibly live*: it is looked up by
    client order id, and nothing else is placed until the venue shows it or it
    is *provably dead* (see below).
``polling``
    The order rests; it is polled until it fills or its attempt time runs out.
``partial``
    Fills were seen but the target is not reached; the rest of the order is
    being cancelled. Left only once the cancel is *confirmed* (with the order's
    final cumulative fill).
``cancelling``
    The attempt timed out with no fill (or a late fill made the order too
    large); the order is being cancelled. A fill during the cancel moves to
    ``partial``.
``confirming``
    A terminal report that may understate the fill is being confirmed by a
    query before the next order is sized.
``amending``
    The resting order is changed in place (same order id), where the venue
    amends: an adopted entry order larger than the target is amended *down* to
    it (never up), an attempt whose time is up is repriced (a fresh BBO,
    then an amend to the next rung's price), and so is an order the book has
    left (on the book update itself). The order rests and may fill all
    along; an amend refused as post-only leaves it resting at its old price
    (``polling``); any other refusal, an unusable BBO or silence falls back to
    cancel and replace (``cancelling``); an amend with no answer is looked up, and if the
    lookup does not show it, the order is cancelled and replaced too.
``retry``
    Backoff before the next attempt.
``market_fallback``
    The limit budget is spent: a market order for what remains is in flight. A market
    order refused for a passing reason, or provably dead, is sent again under a new id,
    but only within ``stuck_timeout`` of the first market order: a venue whose every
    placement hangs would otherwise keep the leg waiting one horizon per order up to
    ``max_orders_per_leg``. Past that time the leg rolls back (the trigger is unwound).
``done`` / ``rollback``
    Terminal; no edge leaves them and every event there is refused.

A leg may start with an *adopted* order: the hedge leg's own resting entry
order, handed over by the supervisor when the trigger fills
(``entry_handoff="adopt"``). It is attempt 0: its fills (those before the
handoff included) count in the leg's ledger, and its target is the leg's whole
target. It rests (``polling``), is amended down first when its open quantity
plus fills exceed the target (``amending``), or is cancelled when the venue
cannot amend (``cancelling``, the rest re-placed after the confirmation) or
nothing is left to hedge. Fills it had before the handoff do not make it a
``partial`` attempt.

Rules that hold (the invariants (docs/design.md)):

* At most one order of the leg can fill at any time: a new order is placed only
  when every earlier one is terminal (filled, rejected, cancel confirmed, or
  provably dead). Each order is sized ``floor_to_lot(target - filled -
  reserved)``, where *reserved* is what may still fill on orders not confirmed
  terminal, so the sum of fills never exceeds the target. An amend changes the
  one live order and never adds one: its new total quantity is the order's
  fill plus ``floor_to_lot(target - filled - reserved by other orders)``, never
  more than it was (a quantity is only ever amended down, so a fill racing the
  amend is covered by the total). The order's reserved quantity is lowered only
  when the venue shows the amend.
* **Possibly live.** An ambiguous placement stays possibly live until the venue
  reports it, or it is *provably dead*: ``lookup_attempts`` lookups *sent* after
  its validity window (``capabilities.request_window`` after the ambiguous
  answer, plus the place timeout as a margin for clock skew; where the venue
  has no window, ``config.ambiguous_horizon``) found nothing. Until then the leg
  waits in ``placed`` (or ``market_fallback``: never a second market order
  while the first may be live), its lookups spaced out up to the window's end.
  A placement with no answer at all (the leg's own timer) may not even have been
  sent: it is never taken as dead, only waited on, up to ``stuck_timeout``.
  An order taken as dead is still watched: if the venue shows it later it is
  cancelled at once, its fills counted, and nothing is placed while it may fill.
* **Confirmed terminal reports.** A terminal report is confirmed by a query
  (``confirming``) before the next order is sized when it is a cancel's answer
  from a venue that ``reports_cancel_early``, or when it *conflicts* with what
  was seen: its fill is below a fill already reported for the order, or the
  order was already reported terminal with a different fill. A FILLED report
  cannot understate. Otherwise it is trusted: the confirmation costs one round
  trip per retry, paid only where the venue is known to need it or shows it.
* **Late fills.** A late fill on an earlier order that would make the resting
  order over-hedge (filled + its open quantity > target) cancels that order at
  once (``cancelling``); the remainder is re-placed after the confirmation.
* **Timers.** Every live state has a timer: a BBO request, a placement, a
  lookup, a cancel and a confirmation are each asked again, or given up on
  (``rollback``), on the leg's own clock, so silence never leaves it waiting.
  Backoffs are capped at the limit budget left.
* Every report is folded into the per-order :class:`Ledger` (max cumulative),
  whatever state the leg is in and however late it comes, so duplicates never
  count twice and fills after a cancel are never lost.
* Conditions are pure questions about the model *and the incoming event*; the
  ``after`` callbacks record and emit. The machine never awaits and never reads
  a clock: every event carries ``now``.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from hedge_fsm.config import HedgeConfig
from hedge_fsm.core.ledger import Ledger, OrderRecord
from hedge_fsm.core.pricer import (
    PriceQuote,
    crossing_cost_bps,
    is_more_aggressive,
    is_queue_too_deep,
    price_attempt,
    realized_volatility_bps,
    risk_bps,
    urgent_attempt,
)
from hedge_fsm.core.quotes import QuoteTape
from hedge_fsm.core.targets import floor_to_step, is_unplaceable, remaining_quantity
from hedge_fsm.core.tracker import build_hedge_result
from hedge_fsm.errors import RejectReason
from hedge_fsm.machines.base import Edge, FsmModel, MachineKind, late_report_edges
from hedge_fsm.machines.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    make_wait_until,
)
from hedge_fsm.machines.events import (
    AmendRejected,
    BboFailed,
    BboReceived,
    BookUpdated,
    CancelConfirmed,
    CancelFailed,
    Event,
    OrderAcked,
    OrderAmended,
    OrderRejected,
    OrderUpdated,
    PlacementAmbiguous,
    PostOnlyRejected,
    QueryFailed,
    TimerFired,
)
from hedge_fsm.values import BBO, HedgeResult, Instrument, OrderInfo, OrderStatus, Side, TriggerFill
from hedge_fsm.venue import DEFAULT_CAPABILITIES, AmendSupport, VenueCapabilities

__all__ = ["LEG", "LEG_EDGES", "LegHedge", "LegState"]

ZERO = Decimal(0)
VOLATILITY_MIN_SPAN = 0.25
"""Seconds of book updates (three at least) a measured volatility needs."""


class LegState(enum.StrEnum):
    PRICING = "pricing"
    PLACED = "placed"
    POLLING = "polling"
    PARTIAL = "partial"
    CANCELLING = "cancelling"
    CONFIRMING = "confirming"
    AMENDING = "amending"
    RETRY = "retry"
    MARKET_FALLBACK = "market_fallback"
    DONE = "done"
    ROLLBACK = "rollback"


S = LegState
E = Edge

# Shared reasons for edges that exist because venues misbehave.
LATE = "reports come late, twice or out of order; a fill on an earlier order must still count"
CLOSED_BY_VENUE = "venues expire or cancel resting orders on their own"
FILL_DURING_CANCEL = "a fill can land while the cancel is in flight"
AMBIGUOUS = "timeout, 5xx or lost ack: the order may exist; never place another before knowing"
POSSIBLY_LIVE = (
    "an ambiguous order can reach the matching engine late: it is possibly live (its quantity "
    "reserved) until its request window or the horizon has passed"
)
SILENT = "a venue call may never return: the leg bounds every wait with its own timer"
DOUBTFUL = (
    "venues answer a cancel before its last fills are booked, replicas lag: a terminal report "
    "that may understate the fill is confirmed by a query before the next order is sized"
)
LATE_FILL_OVER = (
    "a fill on an earlier order can arrive while the next one rests: the rest would over-hedge, "
    "so it is cancelled and re-placed for what remains"
)
STRAY = (
    "an order taken as never placed can still show up: it is cancelled at once, and nothing is "
    "placed while it may fill"
)
OLD_ANSWER = "a placement's answer can come after the leg stopped waiting for it (timer, lookup)"
AMEND_REFUSED = (
    "venues refuse an amend (the order is filling or closed, a price band, a post-only cross, "
    "no amend at all): cancel and replace"
)
# Repricing on the book (issue 13 item 2): see BOOK_EDGES below the table.
BOOK_AWAY = (
    "the book moved away from the resting order (or its queue cannot trade in the time left): "
    "after the minimum rest it is repriced instead of waiting out its attempt"
)
BOOK_NOTED = "a book update that asks nothing of the order is only noted (volatility, queue)"
BOOK_LATE = "the book is kept up to date in every live state: the leg prices from it when its order rests"

# fmt: off
LEG_EDGES: tuple[Edge, ...] = (
    # ---- pricing: waiting for a BBO to price the next attempt
    E("start",               S.PRICING, None,              ("is_started",), (), "a repeated start changes nothing"),
    # -- an adopted entry order (entry_handoff="adopt"): attempt 0, already working at the venue
    E("start",               S.PRICING, S.CANCELLING,      ("is_adopted", "is_nothing_left"), ("adopt_order", "emit_cancel")),
    E("start",               S.PRICING, S.AMENDING,        ("is_adopted", "is_over_target", "is_amendable"), ("adopt_order", "amend_down")),
    E("start",               S.PRICING, S.CANCELLING,      ("is_adopted", "is_over_target"), ("adopt_order", "emit_cancel")),
    E("start",               S.PRICING, S.AMENDING,        ("is_adopted", "is_reprice_due", "is_amendable_on_book"), ("mark_book_reprice", "adopt_order", "reprice_order"), BOOK_AWAY),
    E("start",               S.PRICING, S.CANCELLING,      ("is_adopted", "is_reprice_due"), ("mark_book_reprice", "adopt_order", "emit_cancel"), BOOK_AWAY),
    E("start",               S.PRICING, S.POLLING,         ("is_adopted",), ("adopt_order", "schedule_poll")),
    E("start",               S.PRICING, S.DONE,            ("is_nothing_left",), ("finish",)),
    E("start",               S.PRICING, S.MARKET_FALLBACK, ("is_market_only",), ("emit_market_order",)),
    E("start",               S.PRICING, None,              (), ("request_bbo",)),
    E("bbo_received",        S.PRICING, S.DONE,            ("is_nothing_left",), ("finish",)),
    E("bbo_received",        S.PRICING, None,              ("is_waiting_on_strays",), ("chase_strays",), STRAY),
    E("bbo_received",        S.PRICING, S.MARKET_FALLBACK, ("is_budget_spent",), ("emit_market_order",)),
    E("bbo_received",        S.PRICING, None,              ("is_bbo_unusable",), ("schedule_bbo_retry",),
      "venues publish locked or crossed books during fast moves"),
    E("bbo_received",        S.PRICING, S.PLACED,          (), ("place_limit_order",)),
    E("bbo_failed",          S.PRICING, None,              (), ("schedule_bbo_retry",)),
    E("timer_fired",         S.PRICING, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.PRICING, S.DONE,            ("is_nothing_left",), ("finish",), LATE),
    E("timer_fired",         S.PRICING, S.ROLLBACK,        ("is_stuck",), ("give_up",), "the venue never confirms a stray order's cancel"),
    E("timer_fired",         S.PRICING, None,              ("is_waiting_on_strays",), ("chase_strays",), STRAY),
    E("timer_fired",         S.PRICING, S.MARKET_FALLBACK, ("is_budget_spent",), ("emit_market_order",)),
    E("timer_fired",         S.PRICING, None,              (), ("request_bbo",)),

    # ---- placed: the ack (or, after an ambiguous outcome, the lookup) is awaited
    E("order_acked",         S.PLACED, None,               ("is_stale_report",), ("record_report",), LATE),
    E("order_acked",         S.PLACED, S.DONE,             ("is_hedged",), ("record_report", "finish")),
    E("order_acked",         S.PLACED, S.CONFIRMING,       ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("order_acked",         S.PLACED, S.MARKET_FALLBACK,  ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("order_acked",         S.PLACED, S.RETRY,            ("is_order_closed",), ("record_report", "schedule_backoff")),
    E("order_acked",         S.PLACED, S.PARTIAL,          ("has_fill",), ("record_report", "emit_cancel")),
    E("order_acked",         S.PLACED, S.CANCELLING,       ("is_over_target",), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("order_acked",         S.PLACED, S.POLLING,          (), ("record_report", "schedule_poll")),
    E("order_updated",       S.PLACED, None,               ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.PLACED, S.DONE,             ("is_hedged",), ("record_report", "finish")),
    E("order_updated",       S.PLACED, S.CONFIRMING,       ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("order_updated",       S.PLACED, S.MARKET_FALLBACK,  ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("order_updated",       S.PLACED, S.RETRY,            ("is_order_closed",), ("record_report", "schedule_backoff")),
    E("order_updated",       S.PLACED, S.PARTIAL,          ("has_fill",), ("record_report", "emit_cancel")),
    E("order_updated",       S.PLACED, S.CANCELLING,       ("is_over_target",), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("order_updated",       S.PLACED, S.POLLING,          (), ("record_report", "schedule_poll"),
      "a stream update or a lookup can answer before the ack"),
    E("post_only_rejected",  S.PLACED, None,               ("is_old_placement_answer",), (), OLD_ANSWER),
    E("post_only_rejected",  S.PLACED, S.DONE,             ("is_nothing_left",), ("close_rejected_order", "finish"), LATE),
    E("post_only_rejected",  S.PLACED, S.MARKET_FALLBACK,  ("is_budget_spent",), ("close_rejected_order", "emit_market_order")),
    E("post_only_rejected",  S.PLACED, S.RETRY,            (), ("close_rejected_order", "schedule_backoff"),
      "post-only is judged on arrival: the book moved during the latency"),
    E("order_rejected",      S.PLACED, None,               ("is_old_placement_answer",), (), OLD_ANSWER),
    E("order_rejected",      S.PLACED, S.DONE,             ("is_nothing_left",), ("close_rejected_order", "finish"), LATE),
    E("order_rejected",      S.PLACED, S.MARKET_FALLBACK,  ("is_budget_spent",), ("close_rejected_order", "emit_market_order")),
    E("order_rejected",      S.PLACED, S.RETRY,            (), ("close_rejected_order", "schedule_backoff")),
    E("placement_ambiguous", S.PLACED, None,               ("is_old_placement_answer",), (), OLD_ANSWER),
    E("placement_ambiguous", S.PLACED, None,               (), ("begin_lookup",), AMBIGUOUS),
    E("order_not_found",     S.PLACED, None,               ("is_stale_report",), ()),
    E("order_not_found",     S.PLACED, None,               ("is_not_looking_up",), ()),
    E("order_not_found",     S.PLACED, S.DONE,             ("is_provably_dead", "is_nothing_left"), ("abandon_order", "finish"), LATE),
    E("order_not_found",     S.PLACED, S.MARKET_FALLBACK,  ("is_provably_dead", "is_budget_spent"), ("abandon_order", "emit_market_order")),
    E("order_not_found",     S.PLACED, S.RETRY,            ("is_provably_dead",), ("abandon_order", "schedule_backoff")),
    E("order_not_found",     S.PLACED, None,               (), ("schedule_lookup",), POSSIBLY_LIVE),
    E("query_failed",        S.PLACED, None,               ("is_stale_report",), ()),
    E("query_failed",        S.PLACED, None,               ("is_looking_up",), ("schedule_lookup",)),
    E("query_failed",        S.PLACED, None,               (), ()),
    E("timer_fired",         S.PLACED, None,               ("is_stale_timer",), ()),
    E("timer_fired",         S.PLACED, S.ROLLBACK,         ("is_stuck",), ("give_up",),
      "the venue never says whether the order exists"),
    E("timer_fired",         S.PLACED, None,               ("is_not_looking_up",), ("begin_lookup",), SILENT),
    E("timer_fired",         S.PLACED, None,               (), ("emit_lookup",)),

    # ---- polling: the order rests
    E("order_updated",       S.POLLING, S.PARTIAL,         ("is_stale_report", "is_over_target", "has_fill"), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("order_updated",       S.POLLING, S.CANCELLING,      ("is_stale_report", "is_over_target"), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("order_updated",       S.POLLING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.POLLING, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("order_updated",       S.POLLING, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("order_updated",       S.POLLING, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order"), CLOSED_BY_VENUE),
    E("order_updated",       S.POLLING, S.RETRY,           ("is_order_closed",), ("record_report", "schedule_backoff"), CLOSED_BY_VENUE),
    E("order_updated",       S.POLLING, S.PARTIAL,         ("has_fill",), ("record_report", "emit_cancel")),
    E("order_updated",       S.POLLING, None,              (), ("record_report",)),
    E("cancel_confirmed",    S.POLLING, S.PARTIAL,         ("is_stale_report", "is_over_target", "has_fill"), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("cancel_confirmed",    S.POLLING, S.CANCELLING,      ("is_stale_report", "is_over_target"), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("cancel_confirmed",    S.POLLING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("cancel_confirmed",    S.POLLING, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("cancel_confirmed",    S.POLLING, S.CONFIRMING,      ("is_order_closed",), ("record_report", "confirm_terminal"),
      "a cancel nobody sent in this state: its answer is confirmed before the next order is sized"),
    E("cancel_confirmed",    S.POLLING, None,              (), ("record_report",)),
    E("order_not_found",     S.POLLING, None,              (), (), "a lagging replica may not show a resting order; the next poll asks again"),
    E("query_failed",        S.POLLING, None,              (), ()),
    E("timer_fired",         S.POLLING, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.POLLING, S.AMENDING,        ("is_attempt_expired", "is_amendable"), ("reprice_order",)),
    E("timer_fired",         S.POLLING, S.CANCELLING,      ("is_attempt_expired",), ("emit_cancel",)),
    E("timer_fired",         S.POLLING, S.AMENDING,        ("is_reprice_due", "is_amendable_on_book"), ("mark_book_reprice", "reprice_order"),
      "the book moved away during the minimum rest and has not moved since: the poll reprices"),
    E("timer_fired",         S.POLLING, S.CANCELLING,      ("is_reprice_due",), ("mark_book_reprice", "emit_cancel"),
      "the book moved away during the minimum rest and has not moved since: the poll reprices"),
    E("timer_fired",         S.POLLING, None,              (), ("poll_order",)),

    # ---- partial: fills seen, target not reached, the rest is being cancelled
    E("cancel_confirmed",    S.PARTIAL, None,              ("is_stale_report",), ("record_report",), LATE),
    E("cancel_confirmed",    S.PARTIAL, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("cancel_confirmed",    S.PARTIAL, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("cancel_confirmed",    S.PARTIAL, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("cancel_confirmed",    S.PARTIAL, S.RETRY,           ("is_order_closed",), ("record_report", "schedule_backoff")),
    E("cancel_confirmed",    S.PARTIAL, None,              (), ("record_report",)),
    E("order_updated",       S.PARTIAL, None,              ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.PARTIAL, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("order_updated",       S.PARTIAL, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("order_updated",       S.PARTIAL, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("order_updated",       S.PARTIAL, S.RETRY,           ("is_order_closed",), ("record_report", "schedule_backoff")),
    E("order_updated",       S.PARTIAL, None,              (), ("record_report",), FILL_DURING_CANCEL),
    E("cancel_failed",       S.PARTIAL, None,              ("is_stale_report",), ()),
    E("cancel_failed",       S.PARTIAL, None,              (), ("requery_order",),
      "cancelling an order that just filled is refused by many venues"),
    E("order_not_found",     S.PARTIAL, None,              (), ()),
    E("query_failed",        S.PARTIAL, None,              (), ()),
    E("timer_fired",         S.PARTIAL, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.PARTIAL, S.ROLLBACK,        ("is_stuck",), ("give_up",), "the venue never confirms the cancel"),
    E("timer_fired",         S.PARTIAL, None,              (), ("chase_cancel",)),

    # ---- cancelling: the attempt timed out (or would over-hedge); cancel in flight
    E("cancel_confirmed",    S.CANCELLING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("cancel_confirmed",    S.CANCELLING, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("cancel_confirmed",    S.CANCELLING, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("cancel_confirmed",    S.CANCELLING, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("cancel_confirmed",    S.CANCELLING, S.RETRY,           ("is_order_closed",), ("record_report", "schedule_backoff")),
    E("cancel_confirmed",    S.CANCELLING, None,              (), ("record_report",)),
    E("order_updated",       S.CANCELLING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.CANCELLING, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("order_updated",       S.CANCELLING, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("order_updated",       S.CANCELLING, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("order_updated",       S.CANCELLING, S.RETRY,           ("is_order_closed",), ("record_report", "schedule_backoff")),
    E("order_updated",       S.CANCELLING, S.PARTIAL,         ("has_fill",), ("record_report",), FILL_DURING_CANCEL),
    E("order_updated",       S.CANCELLING, None,              (), ("record_report",)),
    E("cancel_failed",       S.CANCELLING, None,              ("is_stale_report",), ()),
    E("cancel_failed",       S.CANCELLING, None,              (), ("requery_order",),
      "cancelling an order that just filled is refused by many venues"),
    E("order_not_found",     S.CANCELLING, None,              (), ()),
    E("query_failed",        S.CANCELLING, None,              (), ()),
    E("timer_fired",         S.CANCELLING, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.CANCELLING, S.ROLLBACK,        ("is_stuck",), ("give_up",), "the venue never confirms the cancel"),
    E("timer_fired",         S.CANCELLING, None,              (), ("chase_cancel",)),

    # ---- confirming: a terminal report that may understate the fill is checked by a query
    E("order_updated",       S.CONFIRMING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.CONFIRMING, None,              ("is_terminal_report", "is_below_a_seen_fill"), ("record_report", "schedule_confirmation"),
      "a lagging replica can repeat the understated answer: only a report showing every fill seen confirms"),
    E("order_updated",       S.CONFIRMING, S.DONE,            ("is_terminal_report", "is_hedged"), ("record_report", "finish")),
    E("order_updated",       S.CONFIRMING, S.MARKET_FALLBACK, ("is_terminal_report", "is_budget_spent"), ("record_report", "emit_market_order")),
    E("order_updated",       S.CONFIRMING, S.RETRY,           ("is_terminal_report",), ("record_report", "schedule_backoff")),
    E("order_updated",       S.CONFIRMING, None,              (), ("record_report", "schedule_confirmation"),
      "a lagging replica can still show the order live: ask again"),
    E("cancel_confirmed",    S.CONFIRMING, None,              (), ("record_report",), "a second cancel answer is no confirmation: only a query is"),
    E("order_not_found",     S.CONFIRMING, None,              (), ("schedule_confirmation",), "a lagging replica may not show the order"),
    E("query_failed",        S.CONFIRMING, None,              (), ("schedule_confirmation",)),
    E("timer_fired",         S.CONFIRMING, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.CONFIRMING, S.ROLLBACK,        ("is_stuck",), ("give_up",), "the venue never answers the confirming query"),
    E("timer_fired",         S.CONFIRMING, None,              (), ("ask_confirmation",)),

    # ---- amending: the resting order is repriced or resized in place (same order id)
    E("bbo_received",        S.AMENDING, None,              ("is_amend_sent",), (), "a BBO asked again can be answered twice"),
    E("bbo_received",        S.AMENDING, S.CANCELLING,      ("is_bbo_unusable",), ("emit_cancel",),
      "venues publish locked or crossed books during fast moves: cancel and replace instead"),
    E("bbo_received",        S.AMENDING, S.POLLING,         ("is_quote_unchanged",), ("restart_attempt",)),
    E("bbo_received",        S.AMENDING, S.CANCELLING,      ("is_amend_unfit",), ("emit_cancel",),
      "an amend cannot change the post-only flag: the next rung crosses a post-only order (refused), or sends one that may take to a passive price on a book that may move: cancel and replace"),
    E("bbo_received",        S.AMENDING, None,              (), ("amend_price",)),
    E("bbo_failed",          S.AMENDING, None,              ("is_amend_sent",), ()),
    E("bbo_failed",          S.AMENDING, S.CANCELLING,      (), ("emit_cancel",)),
    E("order_amended",       S.AMENDING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("order_amended",       S.AMENDING, S.DONE,            ("is_hedged",), ("record_report", "note_amended", "finish")),
    E("order_amended",       S.AMENDING, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "note_amended", "confirm_terminal"), DOUBTFUL),
    E("order_amended",       S.AMENDING, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "note_amended", "emit_market_order")),
    E("order_amended",       S.AMENDING, S.RETRY,           ("is_order_closed",), ("record_report", "note_amended", "schedule_backoff")),
    E("order_amended",       S.AMENDING, S.CANCELLING,      ("is_over_target",), ("record_report", "note_amended", "emit_cancel"), LATE_FILL_OVER),
    E("order_amended",       S.AMENDING, S.POLLING,         (), ("record_report", "note_amended", "schedule_poll")),
    E("amend_rejected",      S.AMENDING, None,              ("is_old_amend_answer",), (), OLD_ANSWER),
    E("amend_rejected",      S.AMENDING, S.POLLING,         ("is_post_only_refusal",), ("keep_order", "schedule_poll"),
      "post-only is judged on arrival: the book moved during the latency; the order rests unchanged at its old price, and the book reprices it again"),
    E("amend_rejected",      S.AMENDING, S.CANCELLING,      (), ("emit_cancel",), AMEND_REFUSED),
    E("amend_ambiguous",     S.AMENDING, None,              ("is_old_amend_answer",), (), OLD_ANSWER),
    E("amend_ambiguous",     S.AMENDING, None,              (), ("look_up_amend",),
      "timeout, 5xx or lost answer: the amend may or may not have landed; look the order up"),
    E("order_updated",       S.AMENDING, S.CANCELLING,      ("is_stale_report", "is_over_target"), ("record_report", "emit_cancel"), LATE_FILL_OVER),
    E("order_updated",       S.AMENDING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.AMENDING, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("order_updated",       S.AMENDING, S.CONFIRMING,      ("is_order_closed", "is_report_doubtful"), ("record_report", "confirm_terminal"), DOUBTFUL),
    E("order_updated",       S.AMENDING, S.MARKET_FALLBACK, ("is_order_closed", "is_budget_spent"), ("record_report", "emit_market_order"), CLOSED_BY_VENUE),
    E("order_updated",       S.AMENDING, S.RETRY,           ("is_order_closed",), ("record_report", "schedule_backoff"), CLOSED_BY_VENUE),
    E("order_updated",       S.AMENDING, S.POLLING,         ("is_amend_unknown", "is_amend_shown"), ("record_report", "note_amended", "schedule_poll")),
    E("order_updated",       S.AMENDING, S.CANCELLING,      ("is_amend_unknown",), ("record_report", "emit_cancel"),
      "the lookup does not show the amend (it may still land): cancel and replace; the cancel's answer is the truth"),
    E("order_updated",       S.AMENDING, None,              (), ("record_report",), "a fill can land while the amend is in flight"),
    E("cancel_confirmed",    S.AMENDING, None,              ("is_stale_report",), ("record_report",), LATE),
    E("cancel_confirmed",    S.AMENDING, S.DONE,            ("is_hedged",), ("record_report", "finish")),
    E("cancel_confirmed",    S.AMENDING, S.CONFIRMING,      ("is_order_closed",), ("record_report", "confirm_terminal"),
      "a cancel nobody sent in this state: its answer is confirmed before the next order is sized"),
    E("cancel_confirmed",    S.AMENDING, None,              (), ("record_report",)),
    E("order_not_found",     S.AMENDING, None,              (), (), "a lagging replica may not show a resting order"),
    E("query_failed",        S.AMENDING, None,              (), ()),
    E("timer_fired",         S.AMENDING, None,              ("is_stale_timer",), ()),
    E("timer_fired",         S.AMENDING, S.CANCELLING,      (), ("emit_cancel",),
      "no BBO or no amend answer in time: cancel and replace (the cancel is chased and bounded)"),

    # ---- retry: backoff before the next attempt
    E("timer_fired",         S.RETRY, None,                ("is_stale_timer",), ()),
    E("timer_fired",         S.RETRY, S.DONE,              ("is_nothing_left",), ("finish",)),
    E("timer_fired",         S.RETRY, S.ROLLBACK,          ("is_stuck",), ("give_up",), "the venue never confirms a stray order's cancel"),
    E("timer_fired",         S.RETRY, None,                ("is_waiting_on_strays",), ("chase_strays",), STRAY),
    E("timer_fired",         S.RETRY, S.MARKET_FALLBACK,   ("is_budget_spent",), ("emit_market_order",)),
    E("timer_fired",         S.RETRY, S.PLACED,            ("is_book_streamed",), ("place_limit_order",)),
    E("timer_fired",         S.RETRY, S.PRICING,           (), ("request_bbo",)),

    # ---- market_fallback: a market order for what remains
    E("order_acked",         S.MARKET_FALLBACK, None,       ("is_stale_report",), ("record_report",), LATE),
    E("order_acked",         S.MARKET_FALLBACK, S.DONE,     ("is_hedged",), ("record_report", "finish")),
    E("order_acked",         S.MARKET_FALLBACK, S.ROLLBACK, ("is_order_closed",), ("record_report", "fail_market")),
    E("order_acked",         S.MARKET_FALLBACK, None,       (), ("record_report", "schedule_poll"),
      "some venues acknowledge a market order before it executes"),
    E("order_updated",       S.MARKET_FALLBACK, None,       ("is_stale_report",), ("record_report",), LATE),
    E("order_updated",       S.MARKET_FALLBACK, S.DONE,     ("is_hedged",), ("record_report", "finish")),
    E("order_updated",       S.MARKET_FALLBACK, S.ROLLBACK, ("is_order_closed",), ("record_report", "fail_market")),
    E("order_updated",       S.MARKET_FALLBACK, None,       (), ("record_report", "schedule_poll")),
    E("cancel_confirmed",    S.MARKET_FALLBACK, None,       ("is_stale_report",), ("record_report",), LATE),
    E("cancel_confirmed",    S.MARKET_FALLBACK, S.DONE,     ("is_hedged",), ("record_report", "finish"),
      "a venue can report a market order's end as a cancel (IOC rest, price band)"),
    E("cancel_confirmed",    S.MARKET_FALLBACK, S.ROLLBACK, ("is_order_closed",), ("record_report", "fail_market")),
    E("cancel_confirmed",    S.MARKET_FALLBACK, None,       (), ("record_report",)),
    E("order_rejected",      S.MARKET_FALLBACK, None,       ("is_old_placement_answer",), (), OLD_ANSWER),
    E("order_rejected",      S.MARKET_FALLBACK, None,       ("is_transient_refusal", "has_orders_left"), ("close_rejected_order", "schedule_backoff"),
      "rate limits and short outages pass: send the market order again after the backoff"),
    E("order_rejected",      S.MARKET_FALLBACK, S.ROLLBACK, (), ("close_rejected_order", "fail_market")),
    E("post_only_rejected",  S.MARKET_FALLBACK, None,       ("is_old_placement_answer",), (), OLD_ANSWER),
    E("post_only_rejected",  S.MARKET_FALLBACK, S.ROLLBACK, (), ("close_rejected_order", "fail_market"),
      "a venue misreporting a market order's refusal"),
    E("placement_ambiguous", S.MARKET_FALLBACK, None,       ("is_old_placement_answer",), (), OLD_ANSWER),
    E("placement_ambiguous", S.MARKET_FALLBACK, None,       (), ("begin_lookup",), AMBIGUOUS),
    E("order_not_found",     S.MARKET_FALLBACK, None,       ("is_stale_report",), ()),
    E("order_not_found",     S.MARKET_FALLBACK, S.DONE,     ("is_looking_up", "is_provably_dead", "is_nothing_left"), ("abandon_order", "finish"), LATE),
    E("order_not_found",     S.MARKET_FALLBACK, S.ROLLBACK, ("is_looking_up", "is_provably_dead", "is_out_of_orders"), ("abandon_order", "fail_market")),
    E("order_not_found",     S.MARKET_FALLBACK, S.ROLLBACK, ("is_looking_up", "is_provably_dead", "is_market_time_spent"), ("abandon_order", "fail_market"),
      "every market order vanishes (placements that hang): the fallback's time is bounded, then the position is unwound"),
    E("order_not_found",     S.MARKET_FALLBACK, None,       ("is_looking_up", "is_provably_dead"), ("abandon_order", "emit_market_order"),
      "the market order never reached the venue (provably dead): send it again under a new id"),
    E("order_not_found",     S.MARKET_FALLBACK, None,       ("is_looking_up",), ("schedule_lookup",), POSSIBLY_LIVE),
    E("order_not_found",     S.MARKET_FALLBACK, None,       (), (),
      "a lagging replica may not show an acknowledged order; the next poll asks again"),
    E("query_failed",        S.MARKET_FALLBACK, None,       ("is_stale_report",), ()),
    E("query_failed",        S.MARKET_FALLBACK, None,       ("is_looking_up",), ("schedule_lookup",)),
    E("query_failed",        S.MARKET_FALLBACK, None,       (), ()),
    E("timer_fired",         S.MARKET_FALLBACK, None,       ("is_stale_timer",), ()),
    E("timer_fired",         S.MARKET_FALLBACK, S.ROLLBACK, ("is_stuck",), ("give_up",),
      "the venue never reports the market order's outcome"),
    E("timer_fired",         S.MARKET_FALLBACK, S.DONE,     ("is_hedged",), ("finish",), LATE),
    E("timer_fired",         S.MARKET_FALLBACK, S.ROLLBACK, ("is_order_closed", "is_market_time_spent"), ("fail_market",),
      "transient refusals for longer than the fallback's time: unwind rather than retry forever"),
    E("timer_fired",         S.MARKET_FALLBACK, None,       ("is_order_closed", "has_orders_left"), ("emit_market_order",),
      "the backoff after a transient refusal is over: the market order goes again, under a new id"),
    E("timer_fired",         S.MARKET_FALLBACK, S.ROLLBACK, ("is_order_closed",), ("fail_market",)),
    E("timer_fired",         S.MARKET_FALLBACK, None,       ("is_placement_unanswered",), ("begin_lookup",), SILENT),
    E("timer_fired",         S.MARKET_FALLBACK, None,       ("is_looking_up",), ("emit_lookup",)),
    E("timer_fired",         S.MARKET_FALLBACK, None,       (), ("poll_order",)),
)
# fmt: on

_LIVE = (
    S.PRICING, S.PLACED, S.POLLING, S.PARTIAL, S.CANCELLING, S.CONFIRMING, S.RETRY, S.MARKET_FALLBACK,
    S.AMENDING,
)
_LATE_TRIGGERS = (
    "order_acked", "order_updated", "cancel_confirmed", "cancel_failed", "order_not_found", "query_failed",
    "order_amended",
)
# ---- book updates (issue 13 item 2): a resting order is repriced on the book, not only on the
# attempt's timer. The decision (``is_reprice_due``) is apart from the mechanism: in place by
# amend where the venue and the order allow it (``amending``: same order id, no cancel/fill
# race, one one-way latency), else cancel and replace (``cancelling`` -> retry -> pricing).
# The polling timer's ``is_reprice_due`` edges, in the table above, do the same.
# fmt: off
BOOK_EDGES: tuple[Edge, ...] = (
    E("book_updated",        S.POLLING, S.AMENDING,        ("is_reprice_due", "is_amendable_on_book"), ("mark_book_reprice", "reprice_order", "note_book"), BOOK_AWAY),
    E("book_updated",        S.POLLING, S.CANCELLING,      ("is_reprice_due",), ("mark_book_reprice", "emit_cancel", "note_book"), BOOK_AWAY),
    E("book_updated",        S.POLLING, None,              (), ("note_book",), BOOK_NOTED),
    E("bbo_received",        S.POLLING, S.AMENDING,        ("is_reprice_due", "is_amendable_on_book"), ("mark_book_reprice", "reprice_order", "note_book"),
      "a venue without a quote stream: the BBO polled with the resting order shows the book moved away"),
    E("bbo_received",        S.POLLING, S.CANCELLING,      ("is_reprice_due",), ("mark_book_reprice", "emit_cancel", "note_book"),
      "a venue without a quote stream: the BBO polled with the resting order shows the book moved away"),
    E("bbo_received",        S.POLLING, None,              (), ("note_book",), BOOK_NOTED),
)
# fmt: on
LEG_EDGES += BOOK_EDGES
LEG_EDGES += tuple(E("book_updated", state, None, (), ("note_book",), BOOK_LATE) for state in _LIVE if state != S.POLLING)

LEG_EDGES += late_report_edges(LEG_EDGES, _LIVE, _LATE_TRIGGERS, LATE)
# A placement's own answer (refusal, ambiguity) can arrive once the leg has moved on: its
# lookup found the order, or the leg's timer gave up waiting. It carries no fill: ignored.
LEG_EDGES += late_report_edges(
    LEG_EDGES, _LIVE, ("placement_ambiguous", "post_only_rejected", "order_rejected"), OLD_ANSWER
)
# An amend's refusal or ambiguity can arrive once the leg gave up waiting on it (its timer sent
# a cancel): it carries no fill, and the cancel's answer tells how the order stands.
LEG_EDGES += late_report_edges(LEG_EDGES, _LIVE, ("amend_rejected", "amend_ambiguous"), OLD_ANSWER)
# A BBO request that got no answer in time is asked again: the first answer can still come.
LEG_EDGES += late_report_edges(
    LEG_EDGES, _LIVE, ("bbo_received", "bbo_failed"), "a BBO asked again can be answered twice"
)

LEG = MachineKind(
    "leg",
    states=list(LegState),
    initial=S.PRICING,
    terminal=(S.DONE, S.ROLLBACK),
    edges=LEG_EDGES,
)


def _is_working(report: OrderInfo) -> bool:
    """Is the order working at the venue (resting, or it has filled)?"""
    return report.filled_quantity > 0 or report.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


def _report_of(event: Event) -> OrderInfo | None:
    order = getattr(event, "order", None)
    return order if isinstance(order, OrderInfo) else None


class LegHedge(FsmModel):
    """One leg's hedge. Build it, ``feed(Start(now=...))``, then feed the driver's events.

    ``target`` is the quantity (contracts) this machine must trade on ``side``;
    ``trigger`` (the trigger leg's fill) enables break-even pricing.
    """

    KIND = LEG

    def __init__(
        self,
        *,
        leg: int,
        hedge_id: str,
        venue: str,
        instrument: Instrument,
        side: Side,
        target: Decimal,
        reduce_only: bool,
        config: HedgeConfig,
        started_at: float,
        trigger: TriggerFill | None = None,
        market_only: bool = False,
        order_tag: str = "h",
        capabilities: VenueCapabilities = DEFAULT_CAPABILITIES,
        trigger_at: float | None = None,
        adopted: OrderRecord | None = None,
        adopted_price: Decimal | None = None,
        tape: QuoteTape | None = None,
        round_trip: float | None = None,
    ) -> None:
        self.state = S.PRICING.value
        self.capabilities = capabilities
        """What the venue can do: its request window bounds how long an ambiguous order lives."""
        self.leg_index = leg
        self.outbox: list[Command] = []
        self.history = []
        self.hedge_id = hedge_id
        self.venue = venue
        self.instrument = instrument
        self.side = side
        self.target = target
        self.reduce_only = reduce_only
        self.config = config
        self.policy = config.policy_for(reduce_only)
        self.trigger = trigger
        self.market_only = market_only
        self.order_tag = order_tag
        self.started_at = started_at
        self.deadline = started_at + self.policy.budget
        self.ledger = Ledger()
        self.attempts = 0
        """Limit orders placed (the ladder's attempt counter)."""
        self.orders_sent = 0
        self.current: OrderRecord | None = None
        """The latest order; the only one that may still be live."""
        self.attempt_deadline = 0.0
        self.waiting_since: float | None = None
        """Since when the leg waits on the venue to confirm a cancel or reveal an order."""
        self.looking_up = False
        self.lookups_missed = 0
        self.cancel_in_flight = False
        self.timer_token = 0
        self.last_bbo: BBO | None = None
        self.last_quote: PriceQuote | None = None
        self.error: str | None = None
        self.finished_at: float | None = None
        self.market_since: float | None = None
        """When the first market order was sent (the fallback's time runs from there)."""
        self.started = False
        self.stray_cancels: dict[str, float] = {}
        """Orders taken as never placed that the venue later showed live: when their cancel went."""
        self.waiting_in: str | None = None
        self.cancel_sent_at = 0.0
        self.lookups_out: list[float] = []
        """When each lookup of the current order still unanswered was sent (answers cannot be
        matched to their query, so the newest is taken off per answer: the oldest time kept
        is never later than the oldest query really outstanding)."""
        self.proof_misses = 0
        """Not-found answers to lookups sent after the current order's possibly-live window."""
        self.trigger_at = started_at if trigger_at is None else trigger_at
        """When the engine learned of the trigger fill (the leg's start for a direct hedge)."""
        self.working_at: float | None = None
        """When the venue first showed one of the leg's orders working (resting or filled)."""
        self.adopted = adopted
        """The resting entry order handed over as attempt 0 (already in this leg's ledger)."""
        self.adopted_fill = adopted.filled if adopted is not None else ZERO
        """What the adopted order had filled at the handoff: not this attempt's own fill."""
        self.adopted_excess = max(ZERO, adopted.quantity - target) if adopted is not None else ZERO
        """How far the adopted order exceeded the target at the handoff: it may fill before its
        amend or cancel lands (the one over-hedge the leg cannot prevent)."""
        if adopted is not None:
            self.current = adopted  # the one order that may fill, from the start
        self.amend_sent_at: float | None = None
        """When the amend now out was sent (None: none out, or the BBO to price it is awaited)."""
        self.amend_wanted: tuple[Decimal, Decimal] = (ZERO, ZERO)
        """The (price, total quantity) the amend now out asks for (ZERO price: unchanged)."""
        self.amend_unknown = False
        """The amend had no answer: the order is being looked up to see whether it landed."""
        self.order_price: Decimal | None = adopted_price
        """The price the live limit order was last sent or amended at (None: unknown, market)."""
        self.price_before_amend: Decimal | None = adopted_price
        """The order's price before the amend now out (restored when the venue refuses it)."""
        self.repriced_at: float | None = None
        """When the live order was last amended to a new price: its minimum rest starts again."""
        self.repriced_before_amend: float | None = None
        # ---- repricing on the book (issue 13 item 2)
        self.rung_index = -1
        """The ladder attempt (after urgency) the latest limit order was priced at."""
        self.reprice_rung: int | None = None
        """Set when the book asked for a reprice: the ladder attempt the replacement is priced at."""
        self.book_reprices = 0
        """Limit orders placed because the book moved (not counted in ``attempts``: a reprice
        keeps the ladder's rung, so noise never climbs it; ``max_orders_per_leg`` bounds them)."""
        self.tape = tape.copy() if tape is not None else QuoteTape()
        """The venue's latest quote and recent mids (the supervisor's, from before the start:
        the first order is priced and judged on it, as on any later update)."""
        self.queue_ahead = ZERO
        """Others' displayed quantity at the current order's level when it joined (0: it made
        the level)."""
        self.queue_level_size = ZERO
        """The smallest displayed size seen at that level since (its fall is what traded)."""
        self.queue_since = 0.0
        self.round_trip = round_trip
        """The venue's latest placement round trip seen (send to acknowledgement), if any."""
        if adopted is not None:
            # Judged on the book from the start (as :meth:`adopt_order` sets them), so the
            # start itself may reprice the adopted order.
            self.rung_index = 0
            self.attempt_deadline = started_at + min(self.policy.attempt_wait, self.policy.budget)

    # ------------------------------------------------------------------ the book

    @property
    def book_bbo(self) -> BBO | None:
        """The latest usable quote of the leg's venue (None: none yet)."""
        return self.tape.bbo

    @property
    def book_at(self) -> float:
        """When :attr:`book_bbo` came (engine clock)."""
        return self.tape.at

    # ------------------------------------------------------------------ quantities

    @property
    def remaining(self) -> Decimal:
        return remaining_quantity(self.target, self.ledger.filled)

    def _remaining_after(self, event: Event) -> Decimal:
        report = _report_of(event)
        filled = self.ledger.filled_after(report) if report is not None else self.ledger.filled
        return remaining_quantity(self.target, filled)

    def _is_small(self, remaining: Decimal) -> bool:
        if is_unplaceable(remaining, self.instrument, self.config.dust_tolerance):
            return True
        # Below the venue's minimum notional at the last known price, no order can carry it.
        bbo = self.last_bbo
        return bbo is not None and (
            floor_to_step(remaining, self.instrument.lot_size) * bbo.mid < self.instrument.min_notional
        )

    def _order_quantity(self) -> Decimal:
        # What may still fill on an earlier order is reserved, never ordered twice.
        free = max(ZERO, self.remaining - self.ledger.reserved)
        return floor_to_step(free, self.instrument.lot_size)

    def _is_about_current(self, report: OrderInfo | None) -> bool:
        return report is not None and self.current is not None and self.ledger.find(report) is self.current

    def _possibly_live_until(self, now: float) -> float:
        """Until when an order whose placement turned ambiguous at ``now`` may still reach the venue.

        With a request window the venue refuses the request once the window has passed (the
        request was stamped before ``now``); the place timeout is the margin for clock skew.
        Without one, the configured horizon.
        """
        window = self.capabilities.request_window
        if window is not None:
            return now + window + self.config.call_timeouts.place
        return now + self.config.ambiguous_horizon

    def _give_up_at(self) -> float:
        """When silence (or answers that prove nothing) has lasted long enough to give up."""
        assert self.waiting_since is not None
        give_up = self.waiting_since + self.config.stuck_timeout
        current = self.current
        if current is not None and current.possibly_live_until is not None and current.status is None:
            # A possibly-live order is waited for until it is provably dead, then as long again.
            give_up = max(give_up, current.possibly_live_until + self.config.stuck_timeout)
        return give_up

    # ------------------------------------------------------------------ conditions (pure)

    def is_nothing_left(self, event: Event) -> bool:
        """Is what remains too small to place (so the leg is hedged)?"""
        remaining = self._remaining_after(event)
        if isinstance(event, BboReceived) and not is_unplaceable(
            remaining, self.instrument, self.config.dust_tolerance
        ):
            notional = floor_to_step(remaining, self.instrument.lot_size) * event.bbo.mid
            return notional < self.instrument.min_notional
        return self._is_small(remaining)

    def is_started(self, event: Event) -> bool:
        return self.started

    def is_market_only(self, event: Event) -> bool:
        return self.market_only

    def is_budget_spent(self, event: Event) -> bool:
        """Out of time or attempts for limit orders?"""
        return (
            event.now >= self.deadline
            or self.attempts >= self.policy.max_attempts
            or self.orders_sent >= self.config.max_orders_per_leg - 1
        )

    def is_bbo_unusable(self, event: Event) -> bool:
        assert isinstance(event, BboReceived)
        return event.bbo.is_crossed

    def is_stale_report(self, event: Event) -> bool:
        """Is the event about an order other than the current one?"""
        current = self.current
        if current is None:
            return True
        report = _report_of(event)
        if report is not None:
            return self.ledger.find(report) is not current
        client_order_id = getattr(event, "client_order_id", None)
        return client_order_id != current.client_order_id

    def is_order_closed(self, event: Event) -> bool:
        """Is the current order terminal once this event is taken into account?"""
        current = self.current
        if current is None or current.terminal:
            return True
        report = _report_of(event)
        return report is not None and report.is_terminal

    def is_hedged(self, event: Event) -> bool:
        """Nothing left to place, and the current order can no longer fill."""
        return self.is_nothing_left(event) and self.is_order_closed(event)

    def has_fill(self, event: Event) -> bool:
        """Has the current order filled anything (after this report, when it is about it)?"""
        report = _report_of(event)
        current = self.current
        if current is None:
            return False
        # An adopted order's fills from before the handoff are not this attempt's.
        base = self.adopted_fill if current is self.adopted else ZERO
        return current.filled > base or (
            self._is_about_current(report) and report is not None and report.filled_quantity > base
        )

    def is_stale_timer(self, event: Event) -> bool:
        assert isinstance(event, TimerFired)
        return event.token != self.timer_token

    def is_attempt_expired(self, event: Event) -> bool:
        return event.now >= self.attempt_deadline

    def is_stuck(self, event: Event) -> bool:
        """Has the venue left us without a usable answer for longer than ``stuck_timeout``
        (counted, for a possibly-live order, from when it could be proven dead)?"""
        return self.waiting_since is not None and event.now >= self._give_up_at()

    def is_provably_dead(self, event: Event) -> bool:
        """Does this not-found answer prove the current (ambiguous) order will never exist?

        Only a lookup *sent* after the order's possibly-live window proves it, and
        ``lookup_attempts`` such answers are asked for (a venue may not show at once an
        order it is still processing).
        """
        current = self.current
        if current is None or current.possibly_live_until is None or not self.lookups_out:
            return False
        proving = min(self.lookups_out) >= current.possibly_live_until
        return proving and self.proof_misses + 1 >= self.config.lookup_attempts

    def is_old_placement_answer(self, event: Event) -> bool:
        """Is this refusal or ambiguity about another order, or one the venue has since shown?"""
        current = self.current
        client_order_id = getattr(event, "client_order_id", None)
        return current is None or client_order_id != current.client_order_id or current.status is not None

    def is_placement_unanswered(self, event: Event) -> bool:
        """Has the current order's placement had no answer at all (nor a lookup started)?"""
        current = self.current
        return (
            current is not None
            and current.status is None
            and not current.terminal
            and not self.looking_up
        )

    def is_over_target(self, event: Event) -> bool:
        """Would the current order's unfilled rest, if it filled, take the leg past its target?

        A late fill on an earlier order can make a resting order too large.
        """
        current = self.current
        if current is None or current.terminal:
            return False
        report = _report_of(event)
        filled = self.ledger.filled_after(report) if report is not None else self.ledger.filled
        current_filled = current.filled
        quantity = current.quantity
        if self._is_about_current(report):
            assert report is not None
            if report.is_terminal:
                return False
            current_filled = max(current_filled, report.filled_quantity)
            if isinstance(event, OrderAmended):
                quantity = min(quantity, report.quantity)  # the amend's answer: the new size
        return filled + (quantity - current_filled) > self.target

    def is_report_doubtful(self, event: Event) -> bool:
        """Must this terminal report of the current order be confirmed before sizing the next one?

        Yes when the venue is known to answer cancels before their last fills are booked
        (``reports_cancel_early``) and this is a cancel answer, or when the report *conflicts*
        with what was seen of the order: its fill is below a fill already reported for it, or
        the order was already reported terminal with a different fill. A FILLED report cannot
        understate anything.
        """
        report = _report_of(event)
        current = self.current
        if report is None or current is None or not report.is_terminal or not self._is_about_current(report):
            return False
        if report.status is OrderStatus.FILLED:
            return False
        if isinstance(event, CancelConfirmed) and self.capabilities.reports_cancel_early:
            return True
        if report.filled_quantity < current.filled:
            return True
        return current.terminal and current.status is not None and report.filled_quantity != current.filled

    def is_below_a_seen_fill(self, event: Event) -> bool:
        """Does this report of the current order show less than a fill already reported for it?

        Such a report cannot be the order's final truth (fills never go back), so it
        confirms nothing, whatever its status says.
        """
        report = _report_of(event)
        current = self.current
        return (
            report is not None
            and current is not None
            and self._is_about_current(report)
            and report.filled_quantity < current.filled
        )

    def is_terminal_report(self, event: Event) -> bool:
        """Is the event a terminal report of the current order (a confirmation)?"""
        report = _report_of(event)
        return report is not None and report.is_terminal and self._is_about_current(report)

    def is_waiting_on_strays(self, event: Event) -> bool:
        """May an earlier order still fill (one the venue showed after it was taken as dead)?"""
        return any(self._is_stray(r) for r in self.ledger.orders.values())

    def _is_stray(self, record: OrderRecord) -> bool:
        return not record.terminal and (record.revived or record is not self.current)

    def is_lookup_exhausted(self, event: Event) -> bool:
        return self.lookups_missed + 1 >= self.config.lookup_attempts

    def is_looking_up(self, event: Event) -> bool:
        return self.looking_up

    def is_transient_refusal(self, event: Event) -> bool:
        """Was the order refused for a reason that passes (rate limit, venue briefly down)?"""
        return isinstance(event, OrderRejected) and event.reason in (
            RejectReason.RATE_LIMITED,
            RejectReason.VENUE_UNAVAILABLE,
        )

    def has_orders_left(self, event: Event) -> bool:
        """May the leg still send another order under ``max_orders_per_leg``?"""
        return self.orders_sent < self.config.max_orders_per_leg

    def is_market_time_spent(self, event: Event) -> bool:
        """Has the market fallback run for ``stuck_timeout`` since its first market order?

        The fallback is the sure path, but a venue whose every market order vanishes (it hangs,
        then shows nothing) would have it re-send up to ``max_orders_per_leg`` times: past this
        time the leg gives up to rollback instead, keeping the run within its bound.
        """
        return self.market_since is not None and event.now >= self.market_since + self.config.stuck_timeout

    def is_out_of_orders(self, event: Event) -> bool:
        """Has the leg sent as many orders as ``max_orders_per_leg`` allows?"""
        return self.orders_sent >= self.config.max_orders_per_leg

    def is_not_looking_up(self, event: Event) -> bool:
        return not self.looking_up

    # ---- repricing on the book (issue 13 item 2): pure questions

    @property
    def wants_book_updates(self) -> bool:
        """Does the leg want book updates (it is live)? Drivers deliver them only then.

        Only a resting order acts on them, but the leg keeps the latest quote in every live
        state: a quote that moved while the order travelled reprices it once it rests.
        """
        return not self.is_finished

    def _volatility_bps(self) -> float | None:
        """The volatility behind the urgency: measured on the book updates (the entry phase's
        included) once at least three span a quarter of a second (a fast market changes its
        quote dozens of times in that, a quiet one seldom three), else the configured estimate
        (``config.volatility_bps``)."""
        measured = realized_volatility_bps(tuple(self.tape.samples), min_span=VOLATILITY_MIN_SPAN)
        return measured if measured is not None else self.config.volatility_bps

    def _urgent_index(self, index: int, bbo: BBO, now: float) -> int:
        """``index``, or a later ladder attempt once waiting has cost what crossing saves.

        The risk the hedge will have carried when an order sent now lands (:meth:`_waited_risk`;
        ``share`` the part of the target still unhedged) is set against what crossing costs
        over a maker fill (spread plus the fee gap): once it reaches the crossing cost, no maker
        fill can pay for the wait any more and the order crosses; past half of it, break-even
        (the slowest rung) is skipped. A volatile market or a large remainder crosses early, a
        quiet one waits for its maker fill: the budget is the ceiling, not the plan.
        """
        risk = self._waited_risk(now)
        if risk is None:
            return index
        return urgent_attempt(
            attempt=index,
            inside_tick_attempts=self.policy.inside_tick_attempts,
            risk=risk,
            crossing_cost=crossing_cost_bps(bbo, self.instrument),
        )

    def _waited_risk(self, now: float) -> float | None:
        """``λ · share · σ · √(now − trigger + ℓ)`` in bps: the risk the hedge will have carried
        when an order sent now reaches the venue (``ℓ``, half the venue's latest placement
        round trip, 0 while none was seen); None without a volatility (or λ = 0)."""
        volatility = self._volatility_bps()
        if volatility is None or self.target <= 0 or self.config.risk_aversion <= 0:
            return None
        one_way = self.round_trip / 2 if self.round_trip is not None else 0.0
        return self.config.risk_aversion * risk_bps(
            volatility_bps=volatility,
            time_left=now - self.trigger_at + one_way,
            exposure_share=float(self.remaining / self.target),
        )

    def _is_hurried(self, bbo: BBO, now: float) -> bool:
        """Has waiting cost half of what crossing would (the ladder skips break-even)?"""
        risk = self._waited_risk(now)
        return risk is not None and risk >= crossing_cost_bps(bbo, self.instrument) / 2

    def _next_rung(self) -> int:
        """The ladder attempt the next order (or amend) is priced at: the rung a book reprice
        keeps, else the next attempt (never back below a rung a reprice already reached)."""
        if self.reprice_rung is not None:
            return self.reprice_rung
        return max(self.attempts, self.rung_index)

    def _take_rung(self) -> int:
        """:meth:`_next_rung`, counted: a book reprice is no attempt, anything else is one."""
        index = self._next_rung()
        if self.reprice_rung is not None:
            self.reprice_rung = None
            self.book_reprices += 1
        else:
            self.attempts += 1
        return index

    def _quote_at(self, index: int, bbo: BBO, now: float) -> tuple[int, PriceQuote]:
        """The ladder's price for attempt ``index`` (urgency applied) on ``bbo``."""
        index = self._urgent_index(index, bbo, now)
        quote = price_attempt(
            attempt=index,
            side=self.side,
            bbo=bbo,
            instrument=self.instrument,
            trigger=self.trigger,
            inside_tick_attempts=self.policy.inside_tick_attempts,
            break_even=self.config.break_even,
            include_fees=self.config.break_even_include_fees,
            break_even_max_ticks=self.config.break_even_max_ticks,
        )
        return index, quote

    def _is_book_away(self, bbo: BBO, now: float) -> bool:
        """Does the ladder, on ``bbo``, want a more aggressive price than the order's?"""
        assert self.order_price is not None
        _, wanted = self._quote_at(self.rung_index, bbo, now)
        return is_more_aggressive(self.side, wanted.price, self.order_price)

    def _level_size_after(self, bbo: BBO | None) -> Decimal:
        """The smallest displayed size seen at the current order's level, ``bbo`` included."""
        price = self.order_price
        if bbo is None or price is None or self.queue_ahead <= 0:
            return self.queue_level_size
        best, size = (bbo.bid, bbo.bid_size) if self.side is Side.BUY else (bbo.ask, bbo.ask_size)
        return min(self.queue_level_size, size) if best == price else self.queue_level_size

    def _traded_per_second(self, level_size: Decimal, now: float) -> float | None:
        """How fast the current order's level has been seen to trade (None: no trade seen)."""
        traded = self.queue_ahead - level_size
        elapsed = now - self.queue_since
        if traded <= 0 or elapsed <= 0:
            return None
        return float(traded) / elapsed

    def _is_queue_deep(self, bbo: BBO | None, now: float) -> bool:
        current = self.current
        assert current is not None
        # Real venues show our own order in the level's size, the simulator does not: taking
        # the smallest size seen as what is still ahead errs towards "too deep" by our quantity.
        level_size = self._level_size_after(bbo)
        return is_queue_too_deep(
            ahead=max(ZERO, level_size),
            quantity=current.quantity - current.filled,
            time_left=self.attempt_deadline - now,
            traded_per_second=self._traded_per_second(level_size, now),
        )

    def is_reprice_due(self, event: Event) -> bool:
        """Is the resting order no longer where the ladder wants it, after its minimum rest?

        The book moved away (the ladder's price on this book is more aggressive than the
        order's), or the queue ahead cannot trade in the attempt's time left. Not before
        ``config.min_rest`` (priority is not thrown away on noise), not once the attempt's own
        time is up (its timer cancels it), and only while a replacement and the market fallback
        still fit under ``max_orders_per_leg``.
        """
        bbo = self._book_for(event)
        current = self.current
        min_rest = self.config.min_rest
        if (
            min_rest is None
            or bbo is None
            or bbo.is_crossed
            or current is None
            or self.order_price is None
            or current.terminal
            or current.is_market
            or current.order_id is None
            or current.filled > (self.adopted_fill if current is self.adopted else ZERO)
            or current.sent_at is None
            or self.cancel_in_flight
            or self.amend_sent_at is not None
        ):
            return False
        if event.now >= min(self.attempt_deadline, self.deadline):
            return False
        if self.orders_sent >= self.config.max_orders_per_leg - 2:
            return False
        if not (self._is_book_away(bbo, event.now) or self._is_queue_deep(bbo, event.now)):
            return False
        # The reprice must move the order: its rung can price where the order already is.
        _, quote = self._quote_at(self._book_reprice_rung(bbo, event.now), bbo, event.now)
        if quote.price == self.order_price:
            return False
        # The minimum rest keeps queue priority from being thrown away on noise; a hedge that
        # must cross now (urgency priced the touch) has no priority left to keep.
        return event.now >= self._resting_since(current) + min_rest or not quote.post_only

    def _resting_since(self, current: OrderRecord) -> float:
        """Since when the order rests at its price: its send, or the latest amend to a new
        price (an amended price is at the back of its level, as a new order would be)."""
        assert current.sent_at is not None
        if self.repriced_at is not None and self.repriced_at > current.sent_at:
            return self.repriced_at
        return current.sent_at

    def _book_for(self, event: Event) -> BBO | None:
        """The book to judge the resting order on: the event's, or (a timer) the latest update
        when it came after the order was sent (an older one is no newer than its price)."""
        bbo = getattr(event, "bbo", None)
        if isinstance(bbo, BBO):
            return bbo
        current = self.current
        if self.book_bbo is None or current is None or current.sent_at is None:
            return None
        return self.book_bbo if self.book_at >= current.sent_at else None

    def _polls_book(self, event: Event) -> bool:
        """Without a quote stream, is the book fetched with this poll (the order has rested
        about ``min_rest``, so an answer may reprice it)?"""
        current = self.current
        min_rest = self.config.min_rest
        return (
            min_rest is not None
            and not self.capabilities.book_stream
            and self.state == S.POLLING
            and current is not None
            and current.sent_at is not None
            and event.now + self.policy.poll_interval >= self._resting_since(current) + min_rest
        )

    # ------------------------------------------------------------------ callbacks (do things)

    def _emit(self, command: Command) -> None:
        self.outbox.append(command)

    def _wait(self, event: Event) -> None:
        # Called after the move: the state is the one the leg now waits in.
        self.waiting_since = event.now
        self.waiting_in = self.state

    def _wake_at(self, at: float) -> None:
        self.timer_token += 1
        self._emit(make_wait_until(at, self.timer_token))

    def _next_client_id(self) -> str:
        # Letters and digits only, at most 32 characters: what every venue accepts (OKX's rule).
        return f"{self.hedge_id}{self.order_tag}{self.leg_index}n{self.orders_sent}"

    def request_bbo(self, event: Event) -> None:
        """Ask for a fresh BBO to price the next attempt."""
        self.started = True
        self.waiting_since = None
        assert self.leg_index is not None
        self._emit(FetchBbo(leg=self.leg_index))
        # Asked again should the answer never come (the driver bounds the call; this is the
        # machine's own bound).
        self._wake_at(event.now + self.config.call_timeouts.bbo + self.policy.poll_interval)

    def schedule_bbo_retry(self, event: Event) -> None:
        """The BBO was unusable or unavailable: ask again after the backoff."""
        if isinstance(event, BboFailed):
            self.error = f"BBO unavailable: {event.message}"
        self._wake_at(event.now + self._backoff(event))

    def _backoff(self, event: Event) -> float:
        """The backoff, capped at the limit budget left: a backoff never pushes a leg past it.

        The market phase comes after the budget: its backoff (after a transient refusal) is
        the policy's own.
        """
        if self.state == S.MARKET_FALLBACK:
            return self.policy.backoff
        return min(self.policy.backoff, max(self.deadline - event.now, 0.0))

    def _new_current(self, record: OrderRecord, event: Event) -> None:
        """``record`` is the order now being sent: the leg waits on its placement's answer."""
        self.current = record
        self.orders_sent += 1
        self.looking_up = False
        self.lookups_missed = 0
        self.proof_misses = 0
        self.lookups_out = []
        self.cancel_in_flight = False
        self._wait(event)

    def _arm_placement_timer(self, event: Event) -> None:
        # The driver bounds the call; this timer is the machine's own bound should no
        # answer ever come: the placement is then treated as ambiguous.
        self._wake_at(event.now + self.config.call_timeouts.place + self.policy.poll_interval)

    def place_limit_order(self, event: Event) -> None:
        """Price the attempt on the ladder and send a limit order for what remains (on the
        BBO answered, or the quote stream's latest update)."""
        assert self.leg_index is not None
        self.started = True
        bbo = event.bbo if isinstance(event, BboReceived) else self.book_bbo
        assert bbo is not None
        self.rung_index, quote = self._quote_at(self._take_rung(), bbo, event.now)
        self._note_queue(quote.price, bbo, event.now)
        quantity = self._order_quantity()
        client_order_id = self._next_client_id()
        record = self.ledger.register(
            client_order_id, side=self.side, quantity=quantity, post_only=quote.post_only
        )
        record.sent_at = event.now
        self.last_bbo = bbo
        self.last_quote = quote
        self.order_price = quote.price
        wait = min(self.policy.attempt_wait, max(self.deadline - event.now, 0.0))
        self.attempt_deadline = event.now + wait
        self._new_current(record, event)
        self._emit(
            PlaceLimit(
                leg=self.leg_index,
                client_order_id=client_order_id,
                side=self.side,
                quantity=quantity,
                price=quote.price,
                post_only=quote.post_only,
                reduce_only=self.reduce_only,
                rung=quote.rung.value,
            )
        )
        self._arm_placement_timer(event)

    def emit_market_order(self, event: Event) -> None:
        """Send a market order for everything that remains."""
        assert self.leg_index is not None
        self.started = True
        if self.market_since is None:
            self.market_since = event.now
        self.reprice_rung = None
        quantity = self._order_quantity()
        client_order_id = self._next_client_id()
        record = self.ledger.register(client_order_id, side=self.side, quantity=quantity, is_market=True)
        record.sent_at = event.now
        self._new_current(record, event)
        self._emit(
            PlaceMarket(
                leg=self.leg_index,
                client_order_id=client_order_id,
                side=self.side,
                quantity=quantity,
                reduce_only=self.reduce_only,
            )
        )
        self._arm_placement_timer(event)

    def record_report(self, event: Event) -> None:
        """Fold an order report into the ledger (max cumulative: never twice, never back)."""
        report = _report_of(event)
        if report is None:
            return
        delta = self.ledger.apply(report)
        record = self.ledger.find(report)
        if record is None:
            return
        if self.working_at is None and record is not self.adopted and _is_working(report):
            self.working_at = event.now
        if isinstance(event, OrderAcked) and record is self.current and record.sent_at is not None:
            self.round_trip = max(0.0, event.now - record.sent_at)
        if record is self.current and not delta.revived:
            # The venue has shown the order: it is known, no longer possibly live.
            self.looking_up = False
            self.lookups_out = []
        elif delta.revived and record.client_order_id not in self.stray_cancels:
            # An order the leg had taken as never placed turns out to be live at the
            # venue: the leg has moved on, so cancel it at once (its fills still count).
            self._cancel_stray(record, event)

    def _cancel_stray(self, record: OrderRecord, event: Event) -> None:
        assert self.leg_index is not None and record.order_id is not None
        self.stray_cancels[record.client_order_id] = event.now
        self._emit(
            CancelOrder(leg=self.leg_index, client_order_id=record.client_order_id, order_id=record.order_id)
        )

    def chase_strays(self, event: Event) -> None:
        """Wait for the strays to end: cancel again when a cancel got no answer, else look."""
        assert self.leg_index is not None
        if self.waiting_since is None:
            self._wait(event)
        for record in self.ledger.orders.values():
            if not self._is_stray(record):
                continue
            sent = self.stray_cancels.get(record.client_order_id)
            resend = sent is None or event.now - sent >= 5 * self.policy.poll_interval
            if record.order_id is not None and not record.is_market and resend:
                self._cancel_stray(record, event)
            else:
                self._emit(
                    QueryOrder(
                        leg=self.leg_index, client_order_id=record.client_order_id, order_id=record.order_id
                    )
                )
        self._wake_at(event.now + self.policy.poll_interval)

    def schedule_poll(self, event: Event) -> None:
        """Poll the resting order at the poll interval, or cancel it when its time is up."""
        wake = event.now + self.policy.poll_interval
        if self.state == S.POLLING:
            # The attempt's own deadline comes first when it is sooner than the next poll.
            wake = min(wake, self.attempt_deadline)
        self._wake_at(wake)

    def poll_order(self, event: Event) -> None:
        """Ask the venue how the current order stands (and, without a quote stream, how the
        book stands once the order has rested), and schedule the next poll."""
        self._query_current(event)
        if self._polls_book(event):
            assert self.leg_index is not None
            self._emit(FetchBbo(leg=self.leg_index))
        self.schedule_poll(event)

    def _query_current(self, event: Event) -> None:
        assert self.current is not None and self.leg_index is not None
        if self.looking_up:
            self.lookups_out.append(event.now)
        self._emit(
            QueryOrder(
                leg=self.leg_index,
                client_order_id=self.current.client_order_id,
                order_id=self.current.order_id,
            )
        )

    # ---- repricing on the book (issue 13 item 2): callbacks

    def note_book(self, event: Event) -> None:
        """Keep the book update: the latest quote, a volatility sample, what traded at our level."""
        assert isinstance(event, BookUpdated | BboReceived)
        if self.tape.note(event.now, event.bbo):
            self.queue_level_size = self._level_size_after(event.bbo)

    def _note_queue(self, price: Decimal, bbo: BBO, now: float) -> None:
        """Remember what is ahead of an order joining ``bbo``'s best level (nothing inside it)."""
        best, size = (bbo.bid, bbo.bid_size) if self.side is Side.BUY else (bbo.ask, bbo.ask_size)
        self.queue_ahead = size if price == best else ZERO
        self.queue_level_size = self.queue_ahead
        self.queue_since = now

    def mark_book_reprice(self, event: Event) -> None:
        """The book asked for a reprice: the replacement keeps the rung (past break-even), or
        steps to the touch when the queue, not the price, is the problem."""
        bbo = self._book_for(event)
        assert bbo is not None
        self.reprice_rung = self._book_reprice_rung(bbo, event.now)

    def _book_reprice_rung(self, bbo: BBO, now: float) -> int:
        floor = max(self.rung_index, 1)
        if self._is_book_away(bbo, now):
            return floor
        return max(floor, self.policy.inside_tick_attempts)

    def emit_cancel(self, event: Event) -> None:
        """Cancel the current order; the leg waits for the venue to confirm it."""
        assert self.current is not None and self.leg_index is not None
        # An amend given up on (refused, unanswered, unknown) is no longer waited for: its
        # late answer is an old one, and the replacement's book reprices are not held by it.
        self.amend_sent_at = None
        self.amend_unknown = False
        self._wait(event)
        if self.current.order_id is None:
            # Known only by client id (found by a lookup that has not answered yet).
            self._query_current(event)
        else:
            self._send_cancel(event)
        self._wake_at(event.now + self.policy.poll_interval)

    def _send_cancel(self, event: Event) -> None:
        assert self.current is not None and self.current.order_id is not None
        assert self.leg_index is not None
        self.cancel_in_flight = True
        self.cancel_sent_at = event.now
        self._emit(
            CancelOrder(
                leg=self.leg_index,
                client_order_id=self.current.client_order_id,
                order_id=self.current.order_id,
            )
        )

    def chase_cancel(self, event: Event) -> None:
        """No confirmation yet: ask again (resend the cancel if none is in flight)."""
        assert self.current is not None and self.leg_index is not None
        # A cancel answered "still open" (or lost) is sent again after a few polls.
        resend = not self.cancel_in_flight or (
            event.now - self.cancel_sent_at >= 5 * self.policy.poll_interval
        )
        if resend and self.current.order_id is not None:
            self._send_cancel(event)
        else:
            self._query_current(event)
        self._wake_at(event.now + self.policy.poll_interval)

    def requery_order(self, event: Event) -> None:
        """The cancel failed: find out whether the order filled or is gone."""
        assert isinstance(event, CancelFailed)
        self.cancel_in_flight = False
        self._query_current(event)

    def schedule_backoff(self, event: Event) -> None:
        """Wait the backoff before the next attempt (none after a cancel the book asked for:
        the backoff is for refusals, and the book has already said where to go)."""
        self.cancel_in_flight = False
        self.waiting_since = None
        book_reprice = self.reprice_rung is not None and isinstance(event, CancelConfirmed | OrderUpdated)
        self._wake_at(event.now + (0.0 if book_reprice else self._backoff(event)))

    def close_rejected_order(self, event: Event) -> None:
        """The placement was refused: the order never existed."""
        assert isinstance(event, PostOnlyRejected | OrderRejected)
        if self.current is not None:
            self.ledger.mark_terminal(self.current.client_order_id)
        if isinstance(event, OrderRejected):
            self.error = f"order rejected ({event.reason}): {event.message}"

    def begin_lookup(self, event: Event) -> None:
        """An ambiguous outcome (or no answer at all): the order is possibly live; look it up.

        Its quantity stays reserved until the venue shows it or it is provably dead
        (see :meth:`is_provably_dead`).
        """
        assert isinstance(event, PlacementAmbiguous | TimerFired) and self.current is not None
        self.looking_up = True
        self._wait(event)
        self.lookups_missed = 0
        self.proof_misses = 0
        if isinstance(event, PlacementAmbiguous):
            # The request was stamped before its outcome turned ambiguous: its window runs
            # from no later than now. When the call has not answered at all (the leg's own
            # timer), it may not even have been sent yet: never provably dead, only waited on
            # (bounded by ``stuck_timeout``).
            self.current.possibly_live_until = self._possibly_live_until(event.now)
            if event.restarted:
                # The restart, not the venue, lost this answer (the order may never have
                # been sent): the recovered run's fallback time counts from the first
                # market order it sends itself, as its own bound does.
                self.market_since = None
        self.emit_lookup(event)

    def emit_lookup(self, event: Event) -> None:
        """Query the current order (by client id until the venue gave an order id)."""
        self._query_current(event)
        # Asked again if no answer comes within the query's own bound.
        again = event.now + max(self.policy.poll_interval, self.config.call_timeouts.query)
        self._wake_at(min(again, self._give_up_at()))

    def _take_lookup_answer(self) -> bool:
        """One lookup answered: was it sent after the possibly-live window (a proof)?"""
        current = self.current
        proving = (
            current is not None
            and current.possibly_live_until is not None
            and bool(self.lookups_out)
            and min(self.lookups_out) >= current.possibly_live_until
        )
        if self.lookups_out:
            self.lookups_out.pop()
        return proving

    def schedule_lookup(self, event: Event) -> None:
        """Not found (yet): ask again; quickly at first, then spaced out up to the window's end."""
        proving = self._take_lookup_answer()
        if not isinstance(event, QueryFailed):
            self.lookups_missed += 1
            self.proof_misses += int(proving)
        poll = self.policy.poll_interval
        current = self.current
        until = current.possibly_live_until if current is not None else None
        wake = event.now + poll
        if (until is None or event.now < until) and self.lookups_missed >= self.config.lookup_attempts:
            # The venue does not show it yet and the order cannot be proven dead before
            # ``until``: look less often, and once more right when the window ends.
            spaced = event.now + poll * 2 ** min(self.lookups_missed - self.config.lookup_attempts + 1, 6)
            wake = spaced if until is None else min(until, spaced)
        self._wake_at(wake)

    def abandon_order(self, event: Event) -> None:
        """Lookups sent after its window found nothing: the order is dead (its id still watched)."""
        assert self.current is not None
        self._take_lookup_answer()
        self.ledger.mark_terminal(self.current.client_order_id)
        self.looking_up = False
        self.waiting_since = None

    def confirm_terminal(self, event: Event) -> None:
        """A terminal report that may understate the fill: ask the venue before sizing anything."""
        self.cancel_in_flight = False
        self._wait(event)
        self.ask_confirmation(event)

    def ask_confirmation(self, event: Event) -> None:
        """Query the current order for its final fill; ask again if no terminal answer comes."""
        self._query_current(event)
        self._wake_at(event.now + self.policy.poll_interval)

    def schedule_confirmation(self, event: Event) -> None:
        """No usable confirmation yet: ask again after the poll interval."""
        self._wake_at(event.now + self.policy.poll_interval)

    def fail_market(self, event: Event) -> None:
        """The market fallback did not complete the hedge."""
        filled = self.current.filled if self.current is not None else ZERO
        detail = self.error or ""
        self.error = (
            f"market fallback filled {filled} of {self.current.quantity if self.current else ZERO}"
            + (f"; {detail}" if detail else "")
        )
        self.finished_at = event.now

    def give_up(self, event: Event) -> None:
        """The venue stopped answering: report instead of waiting forever."""
        self.error = (
            f"venue gave no answer for {self.config.stuck_timeout}s in state {self.waiting_in}; "
            f"order {self.current.client_order_id if self.current else '-'} unresolved"
        )
        self.finished_at = event.now

    def finish(self, event: Event) -> None:
        """The leg is hedged; note a residual the venue's minimums left behind."""
        self.started = True
        self.finished_at = event.now
        self.waiting_since = None
        self.error = None
        if not is_unplaceable(self.remaining, self.instrument, self.config.dust_tolerance):
            self.error = (
                f"remaining {self.remaining} is below the venue's minimum notional "
                f"{self.instrument.min_notional}; left unhedged"
            )

    # ------------------------------------------------------------------ adopt and amend
    # Conditions first (pure questions), then the callbacks that act on them.

    def is_adopted(self, event: Event) -> bool:
        """Was the leg handed a resting entry order as its attempt 0?"""
        return self.adopted is not None

    def is_amendable(self, event: Event) -> bool:
        """Can the live order be changed in place now (venue amends, order known and resting,
        limit budget left, and a placeable rest to amend it to)?"""
        current = self.current
        return (
            self.capabilities.amend is not AmendSupport.NONE
            and current is not None
            and not current.terminal
            and not current.is_market
            and current.order_id is not None
            and not self.looking_up
            and not self.is_budget_spent(event)
            and self._amend_total() is not None
        )

    def _is_fit_for(self, quote: PriceQuote, bbo: BBO, now: float) -> bool:
        """Can the current order be amended to ``quote`` (an amend keeps its post-only flag)?

        A post-only order amended to cross is refused. An order that may take, amended to a
        passive price, takes liquidity (at its own limit, as taker: the fee gap over a maker
        fill) if the book has moved on when the amend lands: worth it where there is no gap,
        or once waiting has cost enough that the ladder hurries (past break-even).
        """
        current = self.current
        assert current is not None
        if quote.post_only == current.post_only:
            return True
        if current.post_only:
            return False
        return self.instrument.taker_fee <= self.instrument.maker_fee or self._is_hurried(bbo, now)

    def is_amend_unfit(self, event: Event) -> bool:
        """Would the next rung, priced on this BBO, be an amend the order's flag does not fit?"""
        assert isinstance(event, BboReceived)
        _, quote = self._quote_at(self._next_rung(), event.bbo, event.now)
        return not self._is_fit_for(quote, event.bbo, event.now)

    def is_amendable_on_book(self, event: Event) -> bool:
        """Can the book's reprice be an amend: the order is amendable, and the price the book
        wants is meant as the order is flagged? An amend cannot change the post-only flag: a
        post-only order amended to cross is refused, and an order that may take, amended to a
        passive price on a book one latency old, takes liquidity when the book has moved on
        (a new post-only order would be refused instead, and priced again)."""
        if not self.is_amendable(event):
            return False
        bbo = self._book_for(event)
        if bbo is None:
            return True
        _, quote = self._quote_at(self._book_reprice_rung(bbo, event.now), bbo, event.now)
        return self._is_fit_for(quote, bbo, event.now)

    def is_book_streamed(self, event: Event) -> bool:
        """Can the next order be priced on the quote stream's latest update instead of a BBO
        request (a round trip saved)? The venue pushes its book, and the latest update is
        usable and no older than a BBO request may take."""
        bbo = self.book_bbo
        return (
            self.capabilities.book_stream
            and bbo is not None
            and not bbo.is_crossed
            and event.now - self.book_at <= self.config.call_timeouts.bbo
        )

    def is_post_only_refusal(self, event: Event) -> bool:
        """Was the amend refused only because its new price would have taken liquidity?"""
        return isinstance(event, AmendRejected) and event.reason is RejectReason.POST_ONLY

    def is_amend_sent(self, event: Event) -> bool:
        """Is an amend already out (so a BBO answer now is a late duplicate)?"""
        return self.amend_sent_at is not None

    def is_quote_unchanged(self, event: Event) -> bool:
        """Would the next rung price the order where it already is, at the size it has?"""
        assert isinstance(event, BboReceived)
        current = self.current
        assert current is not None
        _, quote = self._quote_at(self._next_rung(), event.bbo, event.now)
        return quote.price == self._current_price() and self._amend_total() == current.quantity

    def is_old_amend_answer(self, event: Event) -> bool:
        """Is this refusal or ambiguity about another order, or is no amend out?"""
        current = self.current
        return (
            current is None
            or getattr(event, "client_order_id", None) != current.client_order_id
            or self.amend_sent_at is None
        )

    def is_amend_unknown(self, event: Event) -> bool:
        return self.amend_unknown

    def is_amend_shown(self, event: Event) -> bool:
        """Does this report of the current order show the amend landed (its price and size)?"""
        report = _report_of(event)
        if report is None or not self._is_about_current(report):
            return False
        price, total = self.amend_wanted
        return report.quantity == total and (price == 0 or report.price == price)

    def _current_price(self) -> Decimal | None:
        """The live order's price as last asked for (the quote, or the adopted entry's price)."""
        return self.order_price

    def _amend_total(self) -> Decimal | None:
        """The live order's new total quantity: its fill plus what the target leaves once every
        other order's reserve is counted, never more than it is (never amended up); None when
        no placeable rest would be left (cancel it instead)."""
        current = self.current
        if current is None or current.terminal:
            return None
        others = self.ledger.reserved - current.open_quantity
        free = floor_to_step(max(ZERO, self.remaining - others), self.instrument.lot_size)
        rest = min(free, current.quantity - current.filled)
        if rest <= 0 or rest < self.instrument.placeable_minimum:
            return None
        return current.filled + rest

    def adopt_order(self, event: Event) -> None:
        """Take the handed-over entry order as attempt 0: it is already working at the venue."""
        assert self.adopted is not None
        self.started = True
        self.current = self.adopted
        self.attempts = 1
        self.rung_index = 0  # the book judges it as the ladder's first rung
        self.waiting_since = None
        wait = min(self.policy.attempt_wait, max(self.deadline - event.now, 0.0))
        self.attempt_deadline = event.now + wait
        if self.state in (S.POLLING, S.AMENDING) or self.reprice_rung is not None:
            # Kept (maybe amended down or repriced, or resting while its replacement is on
            # its way): the hedge works from the moment of the handoff.
            self.working_at = event.now

    def reprice_order(self, event: Event) -> None:
        """Reprice the resting order: in place by amend where the venue and the order allow it
        (state ``amending``), else by cancel and replace (``cancelling``).

        The one place the choice is made, for every reason to reprice (the attempt's time is
        up, the book moved). With a BBO on the event the amend goes at once; else one is asked.
        """
        if self.state != S.AMENDING:
            self.emit_cancel(event)
            return
        assert self.leg_index is not None
        self.amend_sent_at = None
        self.amend_unknown = False
        if self._pricing_book(event) is not None:
            self.amend_price(event)
            return
        self._emit(FetchBbo(leg=self.leg_index))
        self._wake_at(event.now + self.config.call_timeouts.bbo + self.policy.poll_interval)

    def _send_amend(self, event: Event, price: Decimal | None, total: Decimal | None) -> None:
        current = self.current
        assert current is not None and current.order_id is not None and self.leg_index is not None
        self.amend_sent_at = event.now
        self.amend_unknown = False
        self.amend_wanted = (price if price is not None else ZERO, total if total is not None else current.quantity)
        self._emit(
            AmendOrder(
                leg=self.leg_index,
                client_order_id=current.client_order_id,
                order_id=current.order_id,
                price=price,
                quantity=total,
            )
        )
        # The driver bounds the call (as a cancel); this is the machine's own bound.
        self._wake_at(event.now + self.config.call_timeouts.cancel + self.policy.poll_interval)

    def amend_down(self, event: Event) -> None:
        """Amend the adopted order's quantity down to what the target leaves (price kept)."""
        total = self._amend_total()
        assert total is not None
        self._send_amend(event, None, total)

    def _pricing_book(self, event: Event) -> BBO | None:
        """The book to price an amend on without asking: the event's own, or the quote stream's
        latest since the order was sent (a stream pushes every change, so its latest update is
        the book as the venue last showed it); None: a BBO must be asked for."""
        bbo = getattr(event, "bbo", None)
        if not isinstance(bbo, BBO) and self.capabilities.book_stream and self.reprice_rung is not None:
            # Only for a reprice the book asked for (it moves the order, see is_reprice_due);
            # an attempt whose time is up asks for a BBO, which may leave the order as it is.
            bbo = self._book_for(event)
        return bbo if isinstance(bbo, BBO) and not bbo.is_crossed else None

    def amend_price(self, event: Event) -> None:
        """Price the next rung on the book and amend the order to it (and down in size)."""
        bbo = self._pricing_book(event)
        assert bbo is not None
        current = self.current
        assert current is not None
        total = self._amend_total()
        if total is None:
            # A fill since the choice left no placeable rest: cancel instead.
            self.reprice_rung = None
            self.emit_cancel(event)
            return
        self.rung_index, quote = self._quote_at(self._take_rung(), bbo, event.now)
        self.last_bbo = bbo
        self.last_quote = quote
        wait = min(self.policy.attempt_wait, max(self.deadline - event.now, 0.0))
        self.attempt_deadline = event.now + wait
        price = quote.price if quote.price != self._current_price() else None
        self._send_amend(event, price, total if total < current.quantity else None)
        self.price_before_amend = self.order_price
        self.repriced_before_amend = self.repriced_at
        if price is not None:
            self.order_price = price
            self.repriced_at = event.now

    def keep_order(self, event: Event) -> None:
        """The amend was refused and the order is as it was: its price (and its place in the
        queue) is the one before."""
        self.order_price = self.price_before_amend
        self.repriced_at = self.repriced_before_amend
        self.amend_sent_at = None
        self.amend_unknown = False

    def restart_attempt(self, event: Event) -> None:
        """The next rung prices the order where it rests: keep it, with a new attempt's time."""
        assert isinstance(event, BboReceived)
        self.rung_index, self.last_quote = self._quote_at(self._take_rung(), event.bbo, event.now)
        self.last_bbo = event.bbo
        wait = min(self.policy.attempt_wait, max(self.deadline - event.now, 0.0))
        self.attempt_deadline = event.now + wait
        self.schedule_poll(event)

    def note_amended(self, event: Event) -> None:
        """The venue shows the amend (its report already folded in): the order's reserved size
        follows it, only ever down, and no amend is out any more."""
        report = _report_of(event)
        current = self.current
        if report is not None and current is not None and self._is_about_current(report):
            if report.quantity < current.quantity:
                current.quantity = max(report.quantity, current.filled)
            if report.price is not None:
                self.order_price = report.price
        self.amend_sent_at = None
        self.amend_unknown = False

    def look_up_amend(self, event: Event) -> None:
        """The amend had no answer: look the order up; its answer says whether it landed."""
        self.amend_unknown = True
        self._query_current(event)
        self._wake_at(event.now + self.config.call_timeouts.query + self.policy.poll_interval)

    # ------------------------------------------------------------------ result

    @property
    def reaction_time(self) -> float | None:
        """Seconds from the trigger fill to the leg's first order working at the venue."""
        if self.working_at is None:
            return None
        return max(0.0, self.working_at - self.trigger_at)

    def result(self) -> HedgeResult:
        """The leg's :class:`HedgeResult` as it stands."""
        result = build_hedge_result(
            self.ledger,
            target=self.target,
            success=self.state == S.DONE,
            instrument=self.instrument,
            side=self.side,
            venue=self.venue,
            attempts=self.attempts,
            state=self.state,
            error=self.error,
        )
        return attrs.evolve(result, reaction_time=self.reaction_time)
