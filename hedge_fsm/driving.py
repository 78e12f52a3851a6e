"""The one command → venue call → event mapping, shared by every driver.

Theory of operation
-------------------
A driver carries a machine's command out against a venue and feeds the
outcome back as an event. What that means is driver-independent, so it lives
here once: :func:`venue_request` says which venue method a command calls and
with which arguments (it returns the venue's awaitable, not yet awaited);
:func:`answer_event` turns the venue's answer into the event the machines
expect; :func:`failure_event` does the same for an exception. The asyncio
driver (:class:`hedge_fsm.HedgeEngine`) awaits the request on its loop; the
simulation driver (:mod:`hedge_fsm.sim.driver`) runs the same awaitable inline
on its own virtual clock. Both therefore make the same moves from the same
answers.

Mapping venue outcomes to events is the one place where exceptions become
data: a post-only refusal becomes ``PostOnlyRejected``; any other definitive
refusal ``OrderRejected``; an ambiguous outcome — or any unexpected exception
during a placement, since the order may exist — ``PlacementAmbiguous``. An
amend (``AmendOrder``, only sent where the venue says it amends) is answered
``OrderAmended`` with the order as changed, ``AmendRejected`` when refused (the
order is unchanged; a venue with no ``amend_order`` refuses too) and
``AmendAmbiguous`` when the outcome is unknown (the machine looks the order
up). An amend is bounded by the cancel timeout: both change a resting order. A
report that cannot be about the order asked for (wrong symbol, side or id) is
quarantined: it never reaches a ledger.

:func:`call_operation` and :func:`call_timeout` name a command's venue
operation and its per-operation bound (``HedgeConfig.call_timeouts``), for a
driver that bounds each call on its clock.

Book updates are the one event no command asks for: a driver follows the quote
stream of every leg whose venue has one (:func:`book_streams`) for as long as
the hedge runs, and :func:`book_event` says which machine a pushed quote goes
to. A subscription the driver keeps, rather than a ``WatchBook`` command per
resting order: opening a stream costs a round trip before its first quote, which
would come exactly when a freshly placed order needs it, and the leg would need a
matching ``UnwatchBook`` on every edge out of ``polling``. A stream for a leg
that is not resting costs only dropped quotes: :func:`book_event` delivers to a
leg whose limit order rests (``LegHedge.wants_book_updates``) and to nobody else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from hedge_fsm.config import CallTimeouts
from hedge_fsm.errors import (
    AmbiguousOutcome,
    HedgeError,
    InvalidValue,
    OrderNotFound,
    RejectReason,
    VenueRejected,
)
from hedge_fsm.machines.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    ReadPosition,
)
from hedge_fsm.machines.events import (
    AmendAmbiguous,
    AmendRejected,
    BboFailed,
    BookUpdated,
    CancelFailed,
    Event,
    OrderAmended,
    OrderMissing,
    OrderRejected,
    PlacementAmbiguous,
    PositionFailed,
    PositionRead,
    PostOnlyRejected,
    QueryFailed,
    make_bbo_received,
    make_cancel_confirmed,
    make_order_acked,
    make_order_updated,
)
from hedge_fsm.machines.supervisor import HedgeSupervisor, Route
from hedge_fsm.secrets import log
from hedge_fsm.values import BBO, OrderInfo, OrderStatus
from hedge_fsm.venue import BookStream, Venue

__all__ = [
    "answer_event",
    "book_event",
    "book_streams",
    "call_operation",
    "call_timeout",
    "checked",
    "failure_event",
    "placement_event",
    "venue_request",
]

_log = log.bind(component="engine")


def call_operation(command: Command) -> str:
    """The venue operation a command calls (as venues and errors name it)."""
    if isinstance(command, FetchBbo):
        return "best_bid_offer"
    if isinstance(command, PlaceLimit):
        return "place_limit"
    if isinstance(command, PlaceMarket):
        return "place_market"
    if isinstance(command, CancelOrder):
        return "cancel"
    if isinstance(command, AmendOrder):
        return "amend_order"
    if isinstance(command, QueryOrder):
        return "order"
    if isinstance(command, ReadPosition):
        return "position"
    raise AssertionError(f"unknown command {command!r}")


def call_timeout(command: Command, timeouts: CallTimeouts) -> float:
    """How long a driver waits for the venue call that carries ``command`` out."""
    if isinstance(command, FetchBbo):
        return timeouts.bbo
    if isinstance(command, PlaceLimit | PlaceMarket):
        return timeouts.place
    if isinstance(command, CancelOrder | AmendOrder):
        return timeouts.cancel
    if isinstance(command, QueryOrder):
        return timeouts.query
    if isinstance(command, ReadPosition):
        return timeouts.position
    raise AssertionError(f"unknown command {command!r}")


def venue_request(venue: Venue, symbol: str, command: Command) -> Awaitable[Any]:
    """The venue call that carries ``command`` out (not awaited yet)."""
    if isinstance(command, FetchBbo):
        return venue.best_bid_offer(symbol)
    if isinstance(command, PlaceLimit):
        return venue.place_limit(
            symbol,
            command.side,
            command.quantity,
            command.price,
            post_only=command.post_only,
            reduce_only=command.reduce_only,
            client_order_id=command.client_order_id,
        )
    if isinstance(command, PlaceMarket):
        return venue.place_market(
            symbol,
            command.side,
            command.quantity,
            reduce_only=command.reduce_only,
            client_order_id=command.client_order_id,
        )
    if isinstance(command, CancelOrder):
        return venue.cancel(symbol, command.order_id)
    if isinstance(command, AmendOrder):
        amend = getattr(venue, "amend_order", None)
        if amend is None:
            return _refuse_amend(getattr(venue, "name", "venue"))
        request: Awaitable[Any] = amend(
            symbol, command.order_id, price=command.price, quantity=command.quantity
        )
        return request
    if isinstance(command, QueryOrder):
        if command.order_id is not None:
            return venue.order(symbol, order_id=command.order_id)
        return venue.order(symbol, client_order_id=command.client_order_id)
    if isinstance(command, ReadPosition):
        return venue.position(symbol)
    raise AssertionError(f"unknown command {command!r}")


async def _refuse_amend(name: str) -> OrderInfo:
    # A venue that offers no amend_order refuses the amend: the machine cancels and replaces.
    raise VenueRejected(
        f"{name}: amend_order is not supported", reason=RejectReason.OTHER, venue=name,
        operation="amend_order",
    )


def answer_event(command: Command, symbol: str, answer: Any, now: float) -> Event:
    """The event for the venue's answer to ``command`` (raises when the answer is quarantined)."""
    # The answers are already values (an OrderInfo or BBO validated when the venue built it):
    # the events around them are built without keyword binding (``make_*``).
    if isinstance(command, QueryOrder):
        return make_order_updated(now, checked(command, symbol, answer))
    if isinstance(command, FetchBbo):
        return make_bbo_received(now, answer)
    if isinstance(command, PlaceLimit | PlaceMarket):
        return placement_event(command, checked(command, symbol, answer), now)
    if isinstance(command, CancelOrder):
        order = checked(command, symbol, answer)
        if order.is_terminal:
            return make_cancel_confirmed(now, order)
        return make_order_updated(now, order)
    if isinstance(command, AmendOrder):
        return OrderAmended(now=now, order=checked(command, symbol, answer))
    if isinstance(command, ReadPosition):
        return PositionRead(now=now, quantity=answer)
    raise AssertionError(f"unknown command {command!r}")


def placement_event(command: PlaceLimit | PlaceMarket, order: OrderInfo, now: float) -> Event:
    """The event for a placement's answer: ack, post-only reject or definitive reject."""
    if order.client_order_id != command.client_order_id:
        # The venue answered about another order: trust nothing, look ours up.
        return PlacementAmbiguous(
            now=now,
            client_order_id=command.client_order_id,
            message=f"venue answered with client order id {order.client_order_id!r}",
        )
    if order.is_post_only_reject:
        return PostOnlyRejected(now=now, client_order_id=order.client_order_id)
    if order.status is OrderStatus.REJECTED and order.filled_quantity == 0:
        return OrderRejected(
            now=now,
            client_order_id=order.client_order_id,
            reason=order.reject_reason or RejectReason.OTHER,
            message=f"order {order.order_id} rejected",
        )
    return make_order_acked(now, order)


def checked(command: Command, symbol: str, order: OrderInfo) -> OrderInfo:
    """Quarantine a report that cannot be about the order asked for (it never reaches a ledger)."""
    problems = []
    if order.symbol != symbol:
        problems.append(f"symbol {order.symbol!r} != {symbol!r}")
    side = getattr(command, "side", None)
    if side is not None and order.side is not side:
        problems.append(f"side {order.side} != {side}")
    order_id = getattr(command, "order_id", None)
    if order_id is not None and order.order_id != order_id:
        problems.append(f"order id {order.order_id!r} != {order_id!r}")
    if isinstance(command, QueryOrder) and command.order_id is None and (
        order.client_order_id != command.client_order_id
    ):
        problems.append(f"client order id {order.client_order_id!r} != {command.client_order_id!r}")
    if problems:
        _log.warning("quarantined a venue report for {}: {}", type(command).__name__, "; ".join(problems))
        raise InvalidValue(f"venue report quarantined: {'; '.join(problems)}")
    return order


def failure_event(command: Command, exc: Exception, now: float) -> Event:
    """The event for an exception raised while carrying ``command`` out."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(command, PlaceLimit | PlaceMarket):
        if isinstance(exc, VenueRejected) and not isinstance(exc, OrderNotFound):
            if exc.reason is RejectReason.POST_ONLY:
                return PostOnlyRejected(now=now, client_order_id=command.client_order_id, message=message)
            return OrderRejected(
                now=now, client_order_id=command.client_order_id, reason=exc.reason, message=message
            )
        # Ambiguous, or an unexpected error: the order may exist. Look it up.
        return PlacementAmbiguous(now=now, client_order_id=command.client_order_id, message=message)
    if isinstance(command, CancelOrder):
        return CancelFailed(now=now, client_order_id=command.client_order_id, message=message)
    if isinstance(command, AmendOrder):
        if isinstance(exc, VenueRejected):
            # Refused (not found included): the order is unchanged, whatever it now is.
            return AmendRejected(
                now=now, client_order_id=command.client_order_id, reason=exc.reason, message=message
            )
        return AmendAmbiguous(now=now, client_order_id=command.client_order_id, message=message)
    if isinstance(command, QueryOrder):
        if isinstance(exc, OrderNotFound):
            return OrderMissing(now=now, client_order_id=command.client_order_id)
        return QueryFailed(now=now, client_order_id=command.client_order_id, message=message)
    if isinstance(command, FetchBbo):
        return BboFailed(now=now, message=message)
    if isinstance(command, ReadPosition):
        return PositionFailed(now=now, message=message)
    if isinstance(exc, HedgeError | AmbiguousOutcome):
        raise exc
    raise AssertionError(f"unknown command {command!r}") from exc


def book_streams(
    venues: Mapping[str, Venue], supervisor: HedgeSupervisor
) -> list[tuple[int, BookStream, str]]:
    """``(leg, venue, symbol)`` for every leg whose venue pushes its book (capability and stream)."""
    streams: list[tuple[int, BookStream, str]] = []
    for plan in supervisor.plans:
        venue = venues[plan.venue]
        if (
            plan.capabilities.book_stream
            and isinstance(venue, BookStream)
            and venue.supports_book_updates
        ):
            streams.append((plan.index, venue, plan.instrument.symbol))
    return streams


def book_event(
    supervisor: HedgeSupervisor, leg: int, bbo: object, now: float
) -> tuple[Route, Event] | None:
    """The ``BookUpdated`` for a quote pushed on leg ``leg``'s book, and its route; None when no
    machine wants it (the leg's hedge is over, or it has not started and the quote's prices are
    the ones the supervisor already keeps) or the quote is no BBO (quarantined, never priced on)."""
    if not isinstance(bbo, BBO):
        _log.warning("quarantined a pushed quote for leg {}: {!r} is not a BBO", leg, type(bbo).__name__)
        return None
    hedge = supervisor.plans[leg].hedge
    if hedge is None:
        # Before the leg's hedge starts, the supervisor keeps the latest quote (when its
        # prices changed) for the hedge to price its first order on, and to measure volatility.
        if not supervisor.wants_quote(leg, bbo):
            return None
    elif hedge.is_finished or not hedge.wants_book_updates:
        return None
    return Route("leg", leg), BookUpdated(now=now, bbo=bbo)
