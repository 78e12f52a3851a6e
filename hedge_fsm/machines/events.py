"""Events: what the driver feeds into the machines.

Small frozen values; each names its trigger (the edge label in the transition
tables) and carries the time it happened (``now``, seconds on the engine's
clock), because the machines never read a clock themselves.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import attrs

from hedge_fsm.errors import RejectReason
from hedge_fsm.values import BBO, OrderInfo

__all__ = [
    "AmendAmbiguous",
    "AmendRejected",
    "BboFailed",
    "BboReceived",
    "BookUpdated",
    "CancelConfirmed",
    "CancelFailed",
    "Event",
    "LegFinished",
    "OrderAcked",
    "OrderAmended",
    "OrderMissing",
    "OrderRejected",
    "OrderUpdated",
    "PlacementAmbiguous",
    "PositionFailed",
    "PositionRead",
    "PostOnlyRejected",
    "QueryFailed",
    "Start",
    "TargetsSet",
    "TimerFired",
]


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event: the time it happened on the engine's clock."""

    TRIGGER: ClassVar[str] = ""
    now: float


@attrs.frozen(kw_only=True)
class Start(Event):
    """Begin working."""

    TRIGGER: ClassVar[str] = "start"


@attrs.frozen(kw_only=True)
class BboReceived(Event):
    TRIGGER: ClassVar[str] = "bbo_received"
    bbo: BBO


@attrs.frozen(kw_only=True)
class BboFailed(Event):
    TRIGGER: ClassVar[str] = "bbo_failed"
    message: str = ""


@attrs.frozen(kw_only=True)
class OrderAcked(Event):
    """The venue's answer to a placement: the order as acknowledged (maybe already filled)."""

    TRIGGER: ClassVar[str] = "order_acked"
    order: OrderInfo


@attrs.frozen(kw_only=True)
class PostOnlyRejected(Event):
    """A post-only order would have taken liquidity when it arrived."""

    TRIGGER: ClassVar[str] = "post_only_rejected"
    client_order_id: str
    message: str = ""


@attrs.frozen(kw_only=True)
class OrderRejected(Event):
    """A placement was definitively refused (nothing was created)."""

    TRIGGER: ClassVar[str] = "order_rejected"
    client_order_id: str
    reason: RejectReason = RejectReason.OTHER
    message: str = ""


@attrs.frozen(kw_only=True)
class PlacementAmbiguous(Event):
    """Timeout, 5xx or lost ack: the order may or may not exist."""

    TRIGGER: ClassVar[str] = "placement_ambiguous"
    client_order_id: str
    message: str = ""
    restarted: bool = False
    """Raised by a recovery, not by the venue: the placement was journaled as sent and the
    engine stopped before its answer came. The recovered run's own time bounds (the market
    fallback's) count from here: the venue did not make the hedge wait, the restart did."""


@attrs.frozen(kw_only=True)
class OrderUpdated(Event):
    """A later report of an order: poll, stream push or lookup result."""

    TRIGGER: ClassVar[str] = "order_updated"
    order: OrderInfo


@attrs.frozen(kw_only=True)
class OrderMissing(Event):
    """A lookup found no such order at the venue."""

    TRIGGER: ClassVar[str] = "order_not_found"
    client_order_id: str


@attrs.frozen(kw_only=True)
class QueryFailed(Event):
    """A lookup or poll got no usable answer (it will be asked again)."""

    TRIGGER: ClassVar[str] = "query_failed"
    client_order_id: str
    message: str = ""


@attrs.frozen(kw_only=True)
class CancelConfirmed(Event):
    """A cancel's answer: the order as it stands after the cancel, terminal (may be FILLED)."""

    TRIGGER: ClassVar[str] = "cancel_confirmed"
    order: OrderInfo


@attrs.frozen(kw_only=True)
class CancelFailed(Event):
    """A cancel was refused or its outcome is unknown; the order must be looked at again."""

    TRIGGER: ClassVar[str] = "cancel_failed"
    client_order_id: str
    message: str = ""


@attrs.frozen(kw_only=True)
class OrderAmended(Event):
    """An amend's answer: the order as it stands after the venue changed it (same order id).

    Its ``quantity`` and ``price`` are the new ones; its fill is cumulative, so a fill that
    raced the amend is in it. It may already be terminal (filled before the amend landed).
    """

    TRIGGER: ClassVar[str] = "order_amended"
    order: OrderInfo


@attrs.frozen(kw_only=True)
class AmendRejected(Event):
    """An amend was definitively refused: the order is unchanged (it may have filled or closed
    meanwhile: the leg cancels and replaces, and the cancel's answer says how it stands)."""

    TRIGGER: ClassVar[str] = "amend_rejected"
    client_order_id: str
    reason: RejectReason = RejectReason.OTHER
    message: str = ""


@attrs.frozen(kw_only=True)
class AmendAmbiguous(Event):
    """Timeout, 5xx or lost answer to an amend: the order may be changed or not. It is looked
    up; its old quantity stays reserved (amends only ever go down, so that is safe)."""

    TRIGGER: ClassVar[str] = "amend_ambiguous"
    client_order_id: str
    message: str = ""


@attrs.frozen(kw_only=True)
class TimerFired(Event):
    """A ``WaitUntil`` came due; ``token`` says which one (older ones are stale)."""

    TRIGGER: ClassVar[str] = "timer_fired"
    token: int


@attrs.frozen(kw_only=True)
class PositionRead(Event):
    TRIGGER: ClassVar[str] = "position_read"
    quantity: Decimal


@attrs.frozen(kw_only=True)
class PositionFailed(Event):
    TRIGGER: ClassVar[str] = "position_failed"
    message: str = ""


@attrs.frozen(kw_only=True)
class TargetsSet(Event):
    """The supervisor computed the hedge targets (an internal, immediate step)."""

    TRIGGER: ClassVar[str] = "targets_set"


@attrs.frozen(kw_only=True)
class LegFinished(Event):
    """A leg machine reached a terminal state."""

    TRIGGER: ClassVar[str] = "leg_finished"


@attrs.frozen(kw_only=True)
class BookUpdated(Event):
    """The top of the book moved (a venue's quote stream, or a BBO polled while an order rests).

    Delivered to a leg whose order rests, so it can reprice when the order is no longer where
    the ladder wants it; ``bbo`` is the quote as it reached the engine.
    """

    TRIGGER: ClassVar[str] = "book_updated"
    bbo: BBO
