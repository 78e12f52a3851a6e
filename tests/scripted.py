"""A scripted test venue: follows the Venue protocol, and the test decides every answer.

Orders live in memory; a test queues *behaviours* for the next placements and
cancels (rest, fill, partial, post-only reject, reject, ambiguous with or
without creating the order, fill during the cancel...) and fills resting
orders itself with :meth:`ScriptedVenue.fill`, typically from a
``loop.call_at`` under :func:`hedge_fsm.sim.run` (virtual time). Unscripted
placements rest (limit) or fill at the touch (market and marketable limits).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import attrs

from hedge_fsm import (
    BBO,
    AmbiguousOutcome,
    Instrument,
    OrderInfo,
    OrderNotFound,
    OrderStatus,
    RejectReason,
    Side,
    VenueRejected,
)
from hedge_fsm.venue import VenueCapabilities

ZERO = Decimal(0)


@attrs.frozen
class Place:
    """What the next placement does."""

    kind: str = "auto"
    """auto | rest | fill | partial | post_only | reject | rate_limited | ambiguous_created |
    ambiguous_lost | ambiguous_late (times out; the order reaches the venue ``delay`` seconds
    later, or, with no delay, only when the test calls :meth:`ScriptedVenue.arrive`) | hang |
    raise"""
    quantity: Decimal = ZERO
    """For ``partial``: how much fills at once."""
    price: Decimal | None = None
    """Fill price (default: the order's limit price, or the touch for market orders)."""
    delay: float = 0.0
    """For ``ambiguous_late``: the placement times out (ambiguous) and the request reaches the
    matching engine ``delay`` seconds later, where it is handled as ``auto`` (unless the
    venue's request window has passed by then: the venue refuses it, nothing is created)."""


@attrs.frozen
class Cancel:
    """What the next cancel does."""

    kind: str = "normal"
    """normal | fill_first (fill ``quantity`` during the cancel) | fail | ambiguous | ignore |
    understate (fill ``quantity`` during the cancel, but answer CANCELED with the fill as it
    stood before, or ``reported`` when given: the venue books its last fills after answering)"""
    quantity: Decimal = ZERO
    reported: Decimal | None = None


class ScriptedVenue:
    """An in-memory venue whose answers a test scripts."""

    def __init__(
        self,
        name: str,
        instruments: list[Instrument],
        bbos: dict[str, BBO],
        *,
        latency: float = 0.001,
        capabilities: VenueCapabilities | None = None,
        order_stream: bool = False,
    ) -> None:
        self.name = name
        if capabilities is not None:
            self.capabilities = capabilities
        self._order_stream = order_stream
        self._updates: asyncio.Queue[OrderInfo] = asyncio.Queue()
        self.instruments = {i.symbol: i for i in instruments}
        self.bbos = dict(bbos)
        self.latency = latency
        self.orders: dict[str, OrderInfo] = {}
        self.by_client: dict[str, str] = {}
        self.positions: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.place_script: dict[str, deque[Place]] = defaultdict(deque)
        self.cancel_script: dict[str, deque[Cancel]] = defaultdict(deque)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.position_failures = 0
        self.market_fill_ratio: Decimal | None = None
        """When set, market orders fill only this share of their quantity."""
        self.on_place: Callable[[OrderInfo], None] | None = None
        self._ids = itertools.count(1)
        self.position_lag = 0.0
        """``position`` reports the position as it was this many seconds ago (venues lag fills)."""
        self._position_log: dict[str, list[tuple[float, Decimal]]] = defaultdict(list)
        """Per symbol: (time of a change, position just before it)."""
        self.late_arrivals: dict[str, dict[str, Any]] = {}
        """Placements that timed out before reaching the matching engine (``ambiguous_late``)."""

    # ------------------------------------------------------------------ scripting

    def script_place(self, symbol: str, *behaviours: Place) -> None:
        self.place_script[symbol].extend(behaviours)

    def script_cancel(self, symbol: str, *behaviours: Cancel) -> None:
        self.cancel_script[symbol].extend(behaviours)

    def fill(self, order_id: str, quantity: Decimal, price: Decimal | None = None) -> OrderInfo:
        """Fill a live order by ``quantity`` (capped at what is left); updates the position."""
        order = self.orders[order_id]
        if order.is_terminal:
            return order
        quantity = min(quantity, order.quantity - order.filled_quantity)
        if quantity <= 0:
            return order
        fill_price = price if price is not None else order.price
        assert fill_price is not None
        filled = order.filled_quantity + quantity
        notional = (order.average_price or ZERO) * order.filled_quantity + fill_price * quantity
        status = OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED
        updated = attrs.evolve(
            order, filled_quantity=filled, average_price=notional / filled, status=status
        )
        self.orders[order_id] = updated
        self._log_position(order.symbol)
        self.positions[order.symbol] += order.side.sign * quantity
        return updated

    def push(self, order_id: str) -> None:
        """Push the order's current state on the order stream (needs ``order_stream=True``)."""
        self._updates.put_nowait(self.orders[order_id])

    @property
    def supports_order_updates(self) -> bool:
        return self._order_stream

    async def order_updates(self, symbol: str) -> AsyncIterator[OrderInfo]:
        while True:
            order = await self._updates.get()
            if order.symbol == symbol:
                yield order

    def shift_position(self, symbol: str, delta: Decimal) -> None:
        """The venue moves the position with no order of ours: auto-deleverage, liquidation,
        or a fill it never reports."""
        self._log_position(symbol)
        self.positions[symbol] += delta

    def _log_position(self, symbol: str) -> None:
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            now = 0.0
        self._position_log[symbol].append((now, self.positions[symbol]))

    def _reported_position(self, symbol: str) -> Decimal:
        """The position as of ``position_lag`` seconds ago."""
        if self.position_lag <= 0:
            return self.positions[symbol]
        as_of = asyncio.get_running_loop().time() - self.position_lag
        for changed_at, before in self._position_log[symbol]:
            if changed_at > as_of:
                return before
        return self.positions[symbol]

    def arrive(self, client_order_id: str) -> OrderInfo:
        """A placement that timed out (``ambiguous_late``) reaches the matching engine now: it rests."""
        args = self.late_arrivals.pop(client_order_id)
        order = OrderInfo(
            order_id=f"{self.name}-{next(self._ids)}",
            client_order_id=client_order_id,
            symbol=args["symbol"],
            side=args["side"],
            quantity=args["quantity"],
            price=args["price"],
            status=OrderStatus.OPEN,
        )
        self.orders[order.order_id] = order
        self.by_client[client_order_id] = order.order_id
        return order

    def live_orders(self) -> list[OrderInfo]:
        return [o for o in self.orders.values() if not o.is_terminal]

    def by_client_id(self, client_order_id: str) -> OrderInfo:
        return self.orders[self.by_client[client_order_id]]

    def placed(self) -> list[dict[str, Any]]:
        return [args for op, args in self.calls if op in ("place_limit", "place_market")]

    # ------------------------------------------------------------------ protocol

    async def instrument(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    async def best_bid_offer(self, symbol: str) -> BBO:
        await asyncio.sleep(self.latency)
        self.calls.append(("bbo", {"symbol": symbol}))
        return self.bbos[symbol]

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
        args = dict(symbol=symbol, side=side, quantity=quantity, price=price, post_only=post_only,
                    reduce_only=reduce_only, client_order_id=client_order_id, kind="limit")
        return await self._place(args)

    async def place_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        args = dict(symbol=symbol, side=side, quantity=quantity, price=None, post_only=False,
                    reduce_only=reduce_only, client_order_id=client_order_id, kind="market")
        return await self._place(args)

    async def _place(self, args: dict[str, Any]) -> OrderInfo:
        await asyncio.sleep(self.latency)
        self.calls.append(("place_" + args["kind"], args))
        symbol: str = args["symbol"]
        script = self.place_script[symbol]
        behaviour = script.popleft() if script else Place()
        if behaviour.kind == "post_only":
            raise VenueRejected("would take liquidity", reason=RejectReason.POST_ONLY, venue=self.name)
        if behaviour.kind == "reject":
            raise VenueRejected(
                "insufficient margin", reason=RejectReason.INSUFFICIENT_FUNDS, venue=self.name
            )
        if behaviour.kind == "rate_limited":
            raise VenueRejected("too many requests", reason=RejectReason.RATE_LIMITED, venue=self.name)
        if behaviour.kind == "ambiguous_lost":
            raise AmbiguousOutcome("timeout", venue=self.name)
        if behaviour.kind == "hang":
            # A call that never returns (until the caller gives up on it).
            await asyncio.get_running_loop().create_future()
        if behaviour.kind == "ambiguous_late":
            if behaviour.delay > 0:
                sent_at = asyncio.get_running_loop().time()
                asyncio.get_running_loop().call_later(
                    behaviour.delay, self._arrive_late, args, behaviour.price, sent_at
                )
            else:
                self.late_arrivals[args["client_order_id"]] = args
            raise AmbiguousOutcome("timeout; the request is still on its way", venue=self.name)
        if behaviour.kind == "raise":
            raise RuntimeError("adapter bug")
        order = self._create(args, behaviour)
        if behaviour.kind == "ambiguous_created":
            raise AmbiguousOutcome("gateway timeout after the order was accepted", venue=self.name)
        return order

    def _create(self, args: dict[str, Any], behaviour: Place) -> OrderInfo:
        symbol: str = args["symbol"]
        bbo = self.bbos[symbol]
        side: Side = args["side"]
        touch = bbo.ask if side is Side.BUY else bbo.bid
        is_market = args["kind"] == "market"
        order = OrderInfo(
            order_id=f"{self.name}-{next(self._ids)}",
            client_order_id=args["client_order_id"],
            symbol=symbol,
            side=side,
            quantity=args["quantity"],
            price=None if is_market else args["price"],
            status=OrderStatus.OPEN,
        )
        self.orders[order.order_id] = order
        self.by_client[order.client_order_id] = order.order_id
        marketable = is_market or (
            not args["post_only"]
            and (args["price"] >= bbo.ask if side is Side.BUY else args["price"] <= bbo.bid)
        )
        kind = behaviour.kind
        if kind == "auto":
            kind = "fill" if marketable else "rest"
        if kind == "fill":
            ratio = Decimal(1)
            if is_market and self.market_fill_ratio is not None:
                ratio = self.market_fill_ratio
            price = behaviour.price or (touch if marketable else args["price"])
            order = self.fill(order.order_id, args["quantity"] * ratio, price)
            if is_market and order.status is not OrderStatus.FILLED:
                # A market order's unfilled rest is cancelled at once (IOC), as venues do.
                order = attrs.evolve(order, status=OrderStatus.CANCELED)
                self.orders[order.order_id] = order
        elif kind == "partial":
            order = self.fill(order.order_id, behaviour.quantity, behaviour.price)
        if self.on_place is not None:
            self.on_place(order)
        return order

    def _arrive_late(self, args: dict[str, Any], price: Decimal | None, sent_at: float) -> None:
        """A request that timed out reaches the matching engine now (or is refused: too late)."""
        window = getattr(getattr(self, "capabilities", None), "request_window", None)
        now = asyncio.get_running_loop().time()
        if window is not None and now - sent_at > window:
            self.calls.append(("refused_late", args))
            return
        self.calls.append(("arrived_late", args))
        self._create(args, Place("auto", price=price))

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        await asyncio.sleep(self.latency)
        self.calls.append(("cancel", {"symbol": symbol, "order_id": order_id}))
        script = self.cancel_script[symbol]
        behaviour = script.popleft() if script else Cancel()
        if order_id not in self.orders:
            raise OrderNotFound(f"unknown order {order_id}", venue=self.name)
        if behaviour.kind == "fail":
            raise VenueRejected("cancel refused", reason=RejectReason.OTHER, venue=self.name)
        if behaviour.kind == "ambiguous":
            raise AmbiguousOutcome("timeout", venue=self.name)
        if behaviour.kind == "fill_first":
            self.fill(order_id, behaviour.quantity)
        if behaviour.kind == "understate":
            before = self.orders[order_id]
            self.fill(order_id, behaviour.quantity)
            truth = attrs.evolve(self.orders[order_id], status=OrderStatus.CANCELED)
            if truth.filled_quantity == truth.quantity:
                truth = attrs.evolve(truth, status=OrderStatus.FILLED)
            self.orders[order_id] = truth
            told = behaviour.reported if behaviour.reported is not None else before.filled_quantity
            return attrs.evolve(
                truth,
                status=OrderStatus.CANCELED,
                filled_quantity=told,
                average_price=truth.average_price if told > 0 else None,
            )
        order = self.orders[order_id]
        if behaviour.kind == "ignore" or order.is_terminal:
            return order
        order = attrs.evolve(order, status=OrderStatus.CANCELED)
        self.orders[order_id] = order
        return order

    async def order(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderInfo:
        await asyncio.sleep(self.latency)
        self.calls.append(("order", {"order_id": order_id, "client_order_id": client_order_id}))
        if order_id is None and client_order_id is not None:
            order_id = self.by_client.get(client_order_id)
        if order_id is None or order_id not in self.orders:
            raise OrderNotFound(f"no order {order_id or client_order_id}", venue=self.name)
        return self.orders[order_id]

    async def position(self, symbol: str) -> Decimal:
        await asyncio.sleep(self.latency)
        self.calls.append(("position", {"symbol": symbol}))
        if self.position_failures > 0:
            self.position_failures -= 1
            raise VenueRejected("position endpoint down", reason=RejectReason.VENUE_UNAVAILABLE)
        return self._reported_position(symbol)
