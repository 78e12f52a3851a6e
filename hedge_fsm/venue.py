"""The one I/O seam: an async venue protocol.

Quantities and prices are Decimals in the venue's own contract units. Errors:

* :class:`~hedge_fsm.errors.VenueRejected` (and its child
  :class:`~hedge_fsm.errors.OrderNotFound`): a definitive answer, nothing was
  created or changed. A post-only order that would take liquidity is refused
  with ``reason=RejectReason.POST_ONLY`` (or reported as an order with status
  REJECTED/EXPIRED and that reason; both are understood).
* :class:`~hedge_fsm.errors.AmbiguousOutcome`: timeout, 5xx, lost ack. The
  order may or may not exist; the engine looks it up by client order id before
  it places anything else for that leg.

Implementations: :mod:`hedge_fsm.sim` (simulated, virtual time) and
:mod:`hedge_fsm.venues.ccxt` (real exchanges).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.validators import boolean
from hedge_fsm.values import BBO, Instrument, OrderInfo, Side

__all__ = [
    "DEFAULT_CAPABILITIES",
    "AmendSupport",
    "AmendableVenue",
    "BookStream",
    "OrderStream",
    "Venue",
    "VenueCapabilities",
    "can_amend",
    "capabilities_of",
]


class AmendSupport(enum.StrEnum):
    """How a venue changes a resting order."""

    NONE = "none"
    """No amend: the engine cancels and re-places."""
    NATIVE = "native"
    """The venue edits the order in place (same order id)."""
    EMULATED = "emulated"
    """The adapter cancels and re-places under the hood (a new order id)."""


def _optional_positive_seconds(
    instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidValue(
            f"{type(instance).__name__}.{attribute.name} must be None or seconds > 0, got {value!r}",
            field=attribute.name,
        )


@attrs.frozen(kw_only=True)
class VenueCapabilities:
    """What a venue (through its adapter) can do: data, read by the engine at set-up.

    A venue exposes it as a ``capabilities`` attribute; a venue without one gets
    :data:`DEFAULT_CAPABILITIES` (see :func:`capabilities_of`). A leg that needs
    a capability its venue lacks is refused before anything is sent.
    """

    order_lookup: bool = attrs.field(default=True, validator=boolean)
    """``order(symbol, order_id=...)`` works (natively or emulated from order lists)."""
    lookup_by_client_id: bool = attrs.field(default=True, validator=boolean)
    """``order(symbol, client_order_id=...)`` works: needed to resolve an ambiguous placement."""
    native_market: bool = attrs.field(default=True, validator=boolean)
    """Market orders are native; otherwise the adapter sends a marketable limit bounded by a
    slippage cap from the BBO."""
    amend: AmendSupport = AmendSupport.NONE
    amend_keeps_priority_on_decrease: bool = attrs.field(default=False, validator=boolean)
    """A size decrease by amend keeps the order's place in the queue."""
    request_window: float | None = attrs.field(default=None, validator=_optional_positive_seconds)
    """Seconds after sending within which a request must reach the matching engine, or the
    venue refuses it (Binance/Bybit ``recvWindow``, OKX ``expTime``, Hyperliquid
    ``expiresAfter``). With a window an ambiguous placement is *provably dead* once the
    window has passed without the venue showing it; None: no such guarantee."""
    reports_cancel_early: bool = attrs.field(default=False, validator=boolean)
    """The venue's cancel answer may understate the final fill (later fills are reported
    later): a terminal cancel report is always confirmed by a query."""
    order_stream: bool = attrs.field(default=False, validator=boolean)
    book_stream: bool = attrs.field(default=False, validator=boolean)
    """The venue pushes its top of book (:class:`BookStream`): a resting order is repriced as
    the book moves. Without it the leg polls the BBO with its resting order."""


DEFAULT_CAPABILITIES = VenueCapabilities()
"""What the engine assumes of a venue that says nothing: lookups by id and client id, native
market orders, no amend, no request window (a configured horizon applies instead)."""


def capabilities_of(venue: object) -> VenueCapabilities:
    """The venue's :class:`VenueCapabilities`, or :data:`DEFAULT_CAPABILITIES`."""
    caps = getattr(venue, "capabilities", None)
    return caps if isinstance(caps, VenueCapabilities) else DEFAULT_CAPABILITIES


@runtime_checkable
class Venue(Protocol):
    """What the engine needs from an exchange."""

    name: str

    async def instrument(self, symbol: str) -> Instrument:
        """Tick size, lot size, minimums, multiplier and fees of ``symbol``."""
        ...

    async def best_bid_offer(self, symbol: str) -> BBO:
        """Top of the book."""
        ...

    async def place_limit(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        *,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        """Place a limit order; returns the order as acknowledged."""
        ...

    async def place_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        """Place a market order; returns the order as acknowledged (often already FILLED)."""
        ...

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        """Cancel; returns the order as it stands after the cancel (it may be FILLED)."""
        ...

    async def order(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderInfo:
        """Look an order up by venue id or by client order id."""
        ...

    async def position(self, symbol: str) -> Decimal:
        """Signed net position in contracts (positive long)."""
        ...


@runtime_checkable
class AmendableVenue(Protocol):
    """Optional: a venue that changes a resting order in place (``capabilities.amend``).

    A venue without ``amend_order`` is used as before: its orders are repriced by cancel and
    replace. The engine sends an amend only where ``capabilities_of(venue).amend`` is not
    ``AmendSupport.NONE`` and the venue has this method.
    """

    async def amend_order(
        self,
        symbol: str,
        order_id: str,
        *,
        price: Decimal | None = None,
        quantity: Decimal | None = None,
    ) -> OrderInfo:
        """Change the order's price and/or total quantity (fills included); returns the order
        as it stands after the change (cumulative fill, maybe already terminal). Raises
        :class:`~hedge_fsm.errors.VenueRejected` when refused (the order is unchanged: filled,
        closed, or a quantity at or below what already filled), and
        :class:`~hedge_fsm.errors.AmbiguousOutcome` when the outcome is unknown."""
        ...


def can_amend(venue: object) -> bool:
    """Does the venue both say it amends and offer ``amend_order``?"""
    return capabilities_of(venue).amend is not AmendSupport.NONE and callable(
        getattr(venue, "amend_order", None)
    )


@runtime_checkable
class OrderStream(Protocol):
    """Optional: a venue that pushes order updates (e.g. ccxt.pro ``watch_orders``).

    When a venue offers it (and ``supports_order_updates`` is true), the engine
    consumes the stream while a hedge runs and reacts to a pushed fill at once;
    polling goes on underneath as the fallback.
    """

    @property
    def supports_order_updates(self) -> bool: ...

    def order_updates(self, symbol: str) -> AsyncIterator[OrderInfo]:
        """Each update: the order's current state, with its cumulative fill."""
        ...


@runtime_checkable
class BookStream(Protocol):
    """Optional: a venue that pushes its top of book (e.g. ccxt.pro ``watch_bids_asks``).

    When a venue offers it (and ``supports_book_updates`` is true), the engine follows the
    stream of every leg's symbol while a hedge runs and tells a leg whose order rests; with
    ``capabilities.book_stream`` false the leg polls the BBO instead.
    """

    @property
    def supports_book_updates(self) -> bool: ...

    def book_updates(self, symbol: str) -> AsyncIterator[BBO]:
        """Each update: the top of the book as it reached the client (changes only)."""
        ...
