"""The shared command → venue call → event mapping (hedge_fsm.driving), command by command.

Both drivers (asyncio and the simulation's) carry commands out through this
module, so it must name, for every command kind, the venue method it calls,
the operation and timeout that bound the call, and the event its answer or
failure becomes.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from hedge_fsm import OrderInfo, OrderStatus, Side
from hedge_fsm.config import CallTimeouts
from hedge_fsm.driving import answer_event, call_operation, call_timeout, failure_event, venue_request
from hedge_fsm.errors import AmbiguousOutcome, InvalidValue, OrderNotFound, RejectReason, VenueRejected
from hedge_fsm.machines import events as ev
from hedge_fsm.machines.commands import (
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    ReadPosition,
)

COMMANDS: list[Command] = [
    FetchBbo(leg=0),
    PlaceLimit(leg=0, client_order_id="c1", side=Side.BUY, quantity=Decimal(2), price=Decimal("1.5"),
               post_only=True, reduce_only=False),
    PlaceMarket(leg=0, client_order_id="c2", side=Side.SELL, quantity=Decimal(2), reduce_only=True),
    CancelOrder(leg=0, client_order_id="c1", order_id="o1"),
    QueryOrder(leg=0, client_order_id="c1", order_id="o1"),
    QueryOrder(leg=0, client_order_id="c1"),
    ReadPosition(leg=0),
]


class Recording:
    """A venue that writes down the method and arguments of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return call


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_the_request_calls_the_method_its_operation_names(command: Command) -> None:
    """venue_request calls exactly the venue method call_operation names, on the leg's symbol."""
    venue = Recording()
    asyncio.run(venue_request(venue, "X", command))  # type: ignore[arg-type]
    assert [name for name, _, _ in venue.calls] == [call_operation(command)]
    assert venue.calls[0][1][0] == "X"


def test_each_operation_has_its_own_timeout() -> None:
    """Placements use ``place``, cancels ``cancel``, lookups ``query``, quotes ``bbo``, reads ``position``."""
    timeouts = CallTimeouts(place=1.0, cancel=2.0, query=3.0, bbo=4.0, position=5.0)
    assert [call_timeout(c, timeouts) for c in COMMANDS] == [4.0, 1.0, 1.0, 2.0, 3.0, 3.0, 5.0]


def _order(status: OrderStatus, cid: str = "c1", filled: Decimal = Decimal(0)) -> OrderInfo:
    return OrderInfo(order_id="o1", client_order_id=cid, symbol="X", side=Side.BUY,
                     quantity=Decimal(2), price=Decimal("1.5"), status=status, filled_quantity=filled,
                     average_price=Decimal("1.5") if filled else None)


def test_answers_become_their_events() -> None:
    """An ack, a terminal cancel answer, a live cancel answer, a lookup, a foreign answer."""
    place, cancel, query = COMMANDS[1], COMMANDS[3], COMMANDS[4]
    assert isinstance(answer_event(place, "X", _order(OrderStatus.OPEN), 1.0), ev.OrderAcked)
    assert isinstance(answer_event(cancel, "X", _order(OrderStatus.CANCELED), 1.0), ev.CancelConfirmed)
    assert isinstance(answer_event(cancel, "X", _order(OrderStatus.OPEN), 1.0), ev.OrderUpdated)
    assert isinstance(answer_event(query, "X", _order(OrderStatus.FILLED, filled=Decimal(2)), 1.0),
                      ev.OrderUpdated)
    foreign = answer_event(place, "X", _order(OrderStatus.OPEN, cid="other"), 1.0)
    assert isinstance(foreign, ev.PlacementAmbiguous)
    with pytest.raises(InvalidValue, match="symbol"):
        answer_event(query, "Y", _order(OrderStatus.OPEN), 1.0)


def test_failures_become_their_events() -> None:
    """Post-only and other refusals, ambiguity, a missing order, failed reads."""
    place, cancel, query = COMMANDS[1], COMMANDS[3], COMMANDS[5]
    post_only = VenueRejected("would cross", reason=RejectReason.POST_ONLY)
    assert isinstance(failure_event(place, post_only, 1.0), ev.PostOnlyRejected)
    assert isinstance(failure_event(place, VenueRejected("no", reason=RejectReason.OTHER), 1.0),
                      ev.OrderRejected)
    assert isinstance(failure_event(place, AmbiguousOutcome("timeout"), 1.0), ev.PlacementAmbiguous)
    assert isinstance(failure_event(place, RuntimeError("boom"), 1.0), ev.PlacementAmbiguous)
    assert isinstance(failure_event(cancel, AmbiguousOutcome("timeout"), 1.0), ev.CancelFailed)
    assert isinstance(failure_event(query, OrderNotFound("gone"), 1.0), ev.OrderMissing)
    assert isinstance(failure_event(query, AmbiguousOutcome("timeout"), 1.0), ev.QueryFailed)
    assert isinstance(failure_event(COMMANDS[0], AmbiguousOutcome("t"), 1.0), ev.BboFailed)
    assert isinstance(failure_event(COMMANDS[6], AmbiguousOutcome("t"), 1.0), ev.PositionFailed)
