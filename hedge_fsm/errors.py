"""The error hierarchy: one root, a few precise children.

Every error hedge_fsm raises is a :class:`HedgeError`. Messages name the
offending value and what was expected, and never carry a credential.
"""

from __future__ import annotations

import enum

__all__ = [
    "AmbiguousOutcome",
    "CapabilityError",
    "ConfigError",
    "HedgeError",
    "IllegalTransition",
    "InvalidValue",
    "OrderNotFound",
    "RejectReason",
    "VenueError",
    "VenueRejected",
]


class RejectReason(enum.StrEnum):
    """Why a venue refused an order; ``POST_ONLY`` stays distinguishable."""

    POST_ONLY = "post_only"
    """The order would have taken liquidity and was post-only."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_ORDER = "invalid_order"
    REDUCE_ONLY = "reduce_only"
    """A reduce-only order would have increased the position."""
    RATE_LIMITED = "rate_limited"
    VENUE_UNAVAILABLE = "venue_unavailable"
    UNKNOWN_ORDER = "unknown_order"
    OTHER = "other"


class HedgeError(Exception):
    """Root of every error raised by hedge_fsm."""


class InvalidValue(HedgeError, ValueError):
    """A value failed validation where it entered the library.

    The message names the class, the field and the offending value; ``field``
    holds the field's name when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ConfigError(HedgeError, ValueError):
    """A configuration file or mapping is malformed; the message gives the path of the field."""


class IllegalTransition(HedgeError):
    """An event arrived in a state that has no edge for it. Nothing was changed."""

    def __init__(self, machine: str, state: str, trigger: str, detail: str = "") -> None:
        self.machine = machine
        self.state = state
        self.trigger = trigger
        message = f"{machine} machine: event {trigger!r} is not allowed in state {state!r}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)


class VenueError(HedgeError):
    """A venue call did not give a usable answer."""

    def __init__(self, message: str, *, venue: str = "", operation: str = "") -> None:
        self.venue = venue
        self.operation = operation
        super().__init__(message)


class VenueRejected(VenueError):
    """The venue definitively refused the request; nothing was created or changed."""

    def __init__(
        self,
        message: str,
        *,
        reason: RejectReason = RejectReason.OTHER,
        venue: str = "",
        operation: str = "",
    ) -> None:
        self.reason = reason
        super().__init__(message, venue=venue, operation=operation)


class OrderNotFound(VenueRejected):
    """The venue knows no order with the given id (it may never have been created)."""

    def __init__(self, message: str, *, venue: str = "", operation: str = "order") -> None:
        super().__init__(message, reason=RejectReason.UNKNOWN_ORDER, venue=venue, operation=operation)


class AmbiguousOutcome(VenueError):
    """The outcome is unknown (timeout, 5xx, lost ack): the order may or may not exist.

    Whoever sees this must look the order up by client order id before placing
    another one for the same leg.
    """


class CapabilityError(HedgeError):
    """A venue cannot do what was asked of it; refused at set-up, before anything is sent.

    Raised when an adapter knows (from its capability data or its library's
    ``NotSupported``) that an operation is impossible on a venue: for example a
    ccxt class that needs a native signer the environment lacks. It is not an
    answer about any order: nothing was sent. ``venue`` and ``operation`` name
    what was refused.
    """

    def __init__(self, message: str, *, venue: str = "", operation: str = "") -> None:
        self.venue = venue
        self.operation = operation
        super().__init__(message)
