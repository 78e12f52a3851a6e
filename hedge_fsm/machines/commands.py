"""Commands: what the machines ask the driver to do.

Machines append commands to their outbox; the driver carries them out against
a venue and a clock and feeds the outcome back as an event. ``leg`` is the
index of the leg (in the order of the specs) whose venue and symbol the
command addresses.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.values import Side

__all__ = [
    "AmendOrder",
    "CancelOrder",
    "Command",
    "FetchBbo",
    "PlaceLimit",
    "PlaceMarket",
    "QueryOrder",
    "ReadPosition",
    "WaitUntil",
]


@attrs.frozen(kw_only=True)
class FetchBbo:
    leg: int


@attrs.frozen(kw_only=True)
class PlaceLimit:
    leg: int
    client_order_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    post_only: bool
    reduce_only: bool
    rung: str = ""
    """Which step of the pricing ladder priced it (for reports)."""


@attrs.frozen(kw_only=True)
class PlaceMarket:
    leg: int
    client_order_id: str
    side: Side
    quantity: Decimal
    reduce_only: bool


@attrs.frozen(kw_only=True)
class CancelOrder:
    leg: int
    client_order_id: str
    order_id: str


@attrs.frozen(kw_only=True)
class AmendOrder:
    """Change a resting order in place (same order id): a new price and/or a new quantity.

    The venue and symbol are the leg's, as for every command. ``quantity`` is the order's
    new *total* quantity (what already filled included, as venues' edit calls take it), never
    more than it was: a hedge never amends up. At least one of ``price`` and ``quantity`` is
    given. Answered by ``OrderAmended``, ``AmendRejected`` or, when the outcome is unknown,
    ``AmendAmbiguous`` (the order is then looked up).
    """

    leg: int
    client_order_id: str
    order_id: str
    price: Decimal | None = None
    quantity: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        if self.price is None and self.quantity is None:
            raise InvalidValue(f"AmendOrder for {self.client_order_id!r} changes neither price nor quantity")


@attrs.frozen(kw_only=True)
class QueryOrder:
    """Look an order up: by venue id when known, else by client order id."""

    leg: int
    client_order_id: str
    order_id: str | None = None


@attrs.frozen(kw_only=True)
class ReadPosition:
    leg: int


@attrs.frozen(kw_only=True)
class WaitUntil:
    """Fire ``TimerFired(token=token)`` at ``at``; a newer WaitUntil of the same machine replaces it."""

    at: float
    token: int


Command = (
    FetchBbo | PlaceLimit | PlaceMarket | CancelOrder | AmendOrder | QueryOrder | ReadPosition | WaitUntil
)
