"""The reconciler's ledger: per order, the cumulative fill, folded by maximum.

Venues send duplicate, stale and out-of-order reports, and some report a fill
*after* they reported the order CANCELED. The ledger keys every order by its
client order id (ours, known before the venue answers) and keeps, per order,
the largest cumulative filled quantity ever reported, with the average price
of that report. So:

* a duplicate or stale report changes nothing (max-fold: fills never go back);
* an out-of-order report can only move the fill forward;
* a fill reported after CANCELED is counted (the terminal flag is sticky but
  never stops a larger cumulative fill from being recorded);
* every fill is counted exactly once, whatever path the report came by.

Maker/taker: the venue's ``maker_quantity`` when it reports one; otherwise a
post-only order's fills are maker and every other order's fills are taker.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.values import OrderInfo, OrderStatus, Side

__all__ = ["FillDelta", "Ledger", "OrderRecord"]

ZERO = Decimal(0)


@attrs.define(slots=True)
class OrderRecord:
    """What the ledger knows of one order."""

    client_order_id: str
    side: Side
    quantity: Decimal
    post_only: bool
    is_market: bool
    order_id: str | None = None
    filled: Decimal = ZERO
    average_price: Decimal | None = None
    status: OrderStatus | None = None
    """None until the venue has reported the order at all."""
    maker: Decimal = ZERO
    terminal: bool = False
    abandoned: bool = False
    """Taken as never placed (refused, or not found by lookups) without any report from the venue."""
    sent_at: float | None = None
    """When the leg sent it (engine clock), where known."""
    possibly_live_until: float | None = None
    """Set when the placement was ambiguous: until this time (engine clock) the order may still
    reach the venue's matching engine, so it is *possibly live* and its quantity reserved."""
    revived: bool = False
    """Taken as never placed, then shown live by the venue: a stray the leg cancels at once."""

    @property
    def notional(self) -> Decimal:
        return self.filled * self.average_price if self.average_price is not None else ZERO

    @property
    def taker(self) -> Decimal:
        return self.filled - self.maker

    @property
    def open_quantity(self) -> Decimal:
        """What may still fill: the unfilled rest of an order not yet confirmed terminal."""
        return ZERO if self.terminal else self.quantity - self.filled

    def fee(self, maker_fee: Decimal, taker_fee: Decimal) -> Decimal:
        """Fee paid on this order's fills (quote currency), from its maker/taker split."""
        if self.average_price is None:
            return ZERO
        return self.average_price * (self.maker * maker_fee + self.taker * taker_fee)


@attrs.frozen
class FillDelta:
    """What one report added: new quantity (0 for duplicates) and whether it was late."""

    quantity: Decimal
    after_terminal: bool = False
    revived: bool = False
    """The order had been taken as never placed, and the venue just showed it live."""


class Ledger:
    """Every order of one leg, and the totals derived from them."""

    __slots__ = ("_by_order_id", "filled", "orders", "quarantined")

    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self._by_order_id: dict[str, str] = {}
        self.filled: Decimal = ZERO
        """Sum of every order's cumulative fill."""
        self.quarantined: list[OrderInfo] = []
        """Reports about orders this ledger never registered (kept, never counted)."""

    def register(
        self,
        client_order_id: str,
        *,
        side: Side,
        quantity: Decimal,
        post_only: bool = False,
        is_market: bool = False,
    ) -> OrderRecord:
        """Note an order we are about to send, before any venue answer can arrive."""
        if client_order_id in self.orders:
            raise InvalidValue(f"client order id {client_order_id!r} is already in the ledger")
        record = OrderRecord(
            client_order_id=client_order_id,
            side=side,
            quantity=quantity,
            post_only=post_only,
            is_market=is_market,
        )
        self.orders[client_order_id] = record
        return record

    def find(self, report: OrderInfo) -> OrderRecord | None:
        """The record a report is about, by client order id, else by venue order id."""
        record = self.orders.get(report.client_order_id)
        if record is None:
            client_id = self._by_order_id.get(report.order_id)
            record = self.orders.get(client_id) if client_id is not None else None
        return record

    def filled_after(self, report: OrderInfo) -> Decimal:
        """The ledger's total fill if ``report`` were applied (pure: nothing changes)."""
        record = self.find(report)
        if record is None or report.filled_quantity <= record.filled:
            return self.filled
        return self.filled + (report.filled_quantity - record.filled)

    def apply(self, report: OrderInfo) -> FillDelta:
        """Fold a report in; returns what it added. Unknown orders are quarantined."""
        record = self.find(report)
        if record is None:
            self.quarantined.append(report)
            return FillDelta(ZERO)
        if record.order_id is None:
            record.order_id = report.order_id
            self._by_order_id[report.order_id] = record.client_order_id
        revived = record.abandoned and not report.is_terminal
        if revived:
            # The venue shows an order we had given up as never placed: it is live after all.
            record.terminal = False
            record.revived = True
        record.abandoned = False
        was_terminal = record.terminal
        added = ZERO
        if report.filled_quantity > record.filled:
            added = report.filled_quantity - record.filled
            record.maker = self._maker_part(record, report, added)
            record.filled = report.filled_quantity
            record.average_price = report.average_price
            self.filled += added
        if report.is_terminal:
            record.terminal = True
            record.status = report.status
        elif not record.terminal and report.filled_quantity >= record.filled:
            # Only the freshest report may set a live status (a stale OPEN never undoes a fill).
            record.status = report.status
        return FillDelta(added, after_terminal=was_terminal and added > 0, revived=revived)

    def release(self, client_order_id: str) -> OrderRecord:
        """Hand an order over to another ledger: it and its fills leave this one.

        The record itself moves (see :meth:`take_over`), so every fill is counted once,
        wherever later reports of it are folded in.
        """
        record = self.orders.pop(client_order_id)
        if record.order_id is not None:
            self._by_order_id.pop(record.order_id, None)
        self.filled -= record.filled
        return record

    def take_over(self, record: OrderRecord) -> None:
        """Take an order another ledger released, with the fills it already has."""
        if record.client_order_id in self.orders:
            raise InvalidValue(f"client order id {record.client_order_id!r} is already in the ledger")
        self.orders[record.client_order_id] = record
        if record.order_id is not None:
            self._by_order_id[record.order_id] = record.client_order_id
        self.filled += record.filled

    def mark_terminal(self, client_order_id: str) -> None:
        """An order known never to fill (never placed, definitively rejected)."""
        record = self.orders.get(client_order_id)
        if record is not None and not record.terminal:
            record.terminal = True
            if record.status is None:
                record.status = OrderStatus.REJECTED
                record.abandoned = True

    @staticmethod
    def _maker_part(record: OrderRecord, report: OrderInfo, added: Decimal) -> Decimal:
        if report.maker_quantity is not None:
            return min(max(record.maker, report.maker_quantity), report.filled_quantity)
        # No liquidity reported: keep what is known, and a post-only fill can only be maker.
        return record.maker + (added if record.post_only else ZERO)

    # ------------------------------------------------------------------ totals

    @property
    def maker(self) -> Decimal:
        return sum((r.maker for r in self.orders.values()), ZERO)

    @property
    def taker(self) -> Decimal:
        return self.filled - self.maker

    @property
    def notional(self) -> Decimal:
        return sum((r.notional for r in self.orders.values()), ZERO)

    @property
    def average_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled > 0 else None

    @property
    def live_orders(self) -> list[OrderRecord]:
        """Orders that may still fill: not yet confirmed terminal."""
        return [r for r in self.orders.values() if not r.terminal]

    @property
    def reserved(self) -> Decimal:
        """Quantity that may still fill on orders not confirmed terminal (possibly live included).

        The next order is sized ``target - filled - reserved``: what might still fill is never
        ordered twice.
        """
        return sum((r.open_quantity for r in self.orders.values()), ZERO)

    @property
    def market_filled(self) -> Decimal:
        return sum((r.filled for r in self.orders.values() if r.is_market), ZERO)

    def fees(self, maker_fee: Decimal, taker_fee: Decimal) -> Decimal:
        """Fees paid (quote currency), from each order's maker/taker split and price."""
        return sum((r.fee(maker_fee, taker_fee) for r in self.orders.values()), ZERO)
