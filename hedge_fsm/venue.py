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

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Protocol, runtime_checkable

from hedge_fsm.values import BBO, Instrument, OrderInfo, Side

__all__ = ["OrderStream", "Venue"]


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
