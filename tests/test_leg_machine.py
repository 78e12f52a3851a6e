"""The leg hedge machine, example by example (docs/design.md: The leg machine, Invariants, Pitfalls).

Each test drives one ``LegHedge`` by hand, as the driver would: every command the
machine leaves in its outbox is answered with the event a venue's outcome becomes.
Expected prices and quantities are worked out by hand in each docstring.

Unless a test says otherwise the leg is a **sell** hedge of 10 ``ETH-PERP``
contracts (tick 0.5, lot 1) against a trigger that **bought** at 2001.5, fees zero,
default config (opening policy: 8 attempts, 6 s budget, 75 ms backoff, 3
inside-tick attempts, 1.5 s per attempt, 100 ms polls), quoted ``2000.0 / 2003.0``:

* break-even sell = 2001.5 (the trigger's price, on the grid); inside-spread sell =
  bid + tick = 2000.5; break-even is feasible because 2000.0 < 2001.5 <= 2000.5 + 2
  ticks = 2001.5;
* touch sell = the bid, 2000.0, not post-only.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedge_fsm import (
    BBO,
    ExecutionMode,
    HedgeConfig,
    IllegalTransition,
    Instrument,
    OrderInfo,
    OrderStatus,
    RejectReason,
    RetryPolicy,
    Side,
    TriggerFill,
)
from hedge_fsm.config import CallTimeouts
from hedge_fsm.invariants import check_leg, check_order_command
from hedge_fsm.machines.commands import (
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    WaitUntil,
)
from hedge_fsm.machines.events import (
    BboFailed,
    BboReceived,
    CancelConfirmed,
    CancelFailed,
    Event,
    LegFinished,
    OrderAcked,
    OrderMissing,
    OrderRejected,
    OrderUpdated,
    PlacementAmbiguous,
    PositionFailed,
    PositionRead,
    PostOnlyRejected,
    QueryFailed,
    Start,
    TargetsSet,
    TimerFired,
)
from hedge_fsm.machines.leg import LEG, LegHedge, LegState
from hedge_fsm.venue import VenueCapabilities

D = Decimal
OPEN = OrderStatus.OPEN
PARTIAL = OrderStatus.PARTIALLY_FILLED
FILLED = OrderStatus.FILLED
CANCELED = OrderStatus.CANCELED

ETH = Instrument(
    symbol="ETH-PERP", tick_size=D("0.5"), lot_size=D("1"), min_quantity=D("1"), min_notional=D("0")
)
QUOTE = BBO(bid=D("2000.0"), ask=D("2003.0"))
BOUGHT = TriggerFill(side=Side.BUY, price=D("2001.5"))

BREAK_EVEN_SELL = D("2001.5")
INSIDE_SELL = D("2000.5")
TOUCH_SELL = D("2000.0")


# --------------------------------------------------------------------------- helpers


def make_leg(**overrides: object) -> LegHedge:
    arguments: dict[str, object] = {
        "leg": 1,
        "hedge_id": "h7",
        "venue": "venue-a",
        "instrument": ETH,
        "side": Side.SELL,
        "target": D("10"),
        "reduce_only": False,
        "config": HedgeConfig(),
        "started_at": 0.0,
        "trigger": BOUGHT,
        "market_only": False,
    }
    arguments.update(overrides)
    return LegHedge(**arguments)  # type: ignore[arg-type]


def feed(leg: LegHedge, event: Event) -> list[Command]:
    """Feed one event and take what the machine asked for; every order it sends must be valid."""
    leg.feed(event)
    commands = leg.drain()
    bbo = event.bbo if isinstance(event, BboReceived) else None
    for command in commands:
        assert check_order_command(command, leg.instrument, bbo) == []
    assert check_leg(leg) == []
    return commands


def only(commands: list[Command], kind: type) -> Command:
    """The single command of ``kind`` among ``commands``."""
    found = [c for c in commands if isinstance(c, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {commands}"
    return found[0]


def asks_for_bbo(commands: list[Command]) -> FetchBbo:
    """The commands are a BBO request and the timer that asks again should no answer come."""
    assert len(commands) == 2, commands
    fetch = only(commands, FetchBbo)
    only(commands, WaitUntil)
    assert isinstance(fetch, FetchBbo)
    return fetch


def none_of(commands: list[Command], *kinds: type) -> bool:
    return not any(isinstance(c, kinds) for c in commands)


def report(
    command: PlaceLimit | PlaceMarket,
    *,
    status: OrderStatus,
    filled: str = "0",
    order_id: str = "v-1",
    average: str | None = None,
) -> OrderInfo:
    """The venue's snapshot of the order ``command`` placed."""
    fill = D(filled)
    price = command.price if isinstance(command, PlaceLimit) else None
    if fill > 0:
        avg = D(average) if average is not None else (price if price is not None else D("2000.0"))
    else:
        avg = None
    return OrderInfo(
        order_id=order_id,
        client_order_id=command.client_order_id,
        symbol=ETH.symbol,
        side=command.side,
        quantity=command.quantity,
        price=price,
        status=status,
        filled_quantity=fill,
        average_price=avg,
    )


def start_and_place(leg: LegHedge, bbo: BBO = QUOTE, now: float = 0.0) -> PlaceLimit:
    """Start the leg (or price its next attempt) and return the limit order it sends."""
    if leg.state == LegState.PRICING and not leg.history:
        assert asks_for_bbo(feed(leg, Start(now=now))) == FetchBbo(leg=leg.leg_index)
    commands = feed(leg, BboReceived(now=now, bbo=bbo))
    assert leg.state == LegState.PLACED
    # The order, and the leg's own bound on its placement's answer (the place timeout + a poll).
    assert len(commands) == 2
    bound = leg.config.call_timeouts.place + leg.policy.poll_interval  # 2 s + 0.1 s by default
    assert only(commands, WaitUntil).at == pytest.approx(now + bound)
    place = only(commands, PlaceLimit)
    assert isinstance(place, PlaceLimit)
    return place


def fire(leg: LegHedge, wait: Command, now: float | None = None) -> list[Command]:
    """Deliver the timer ``wait`` asked for (at its time, or later)."""
    assert isinstance(wait, WaitUntil)
    return feed(leg, TimerFired(now=wait.at if now is None else now, token=wait.token))


def refuse(leg: LegHedge, place: PlaceLimit, now: float) -> None:
    """The venue refuses ``place`` (post-only for a post-only order); the backoff runs to pricing."""
    if place.post_only:
        commands = feed(leg, PostOnlyRejected(now=now, client_order_id=place.client_order_id))
    else:
        commands = feed(leg, OrderRejected(now=now, client_order_id=place.client_order_id))
    assert leg.state == LegState.RETRY
    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=leg.leg_index)
    assert leg.state == LegState.PRICING


FOREIGN = OrderInfo(
    order_id="foreign-9",
    client_order_id="foreign-9",
    symbol=ETH.symbol,
    side=Side.SELL,
    quantity=D("1"),
    price=D("2000.0"),
    status=OrderStatus.FILLED,
    filled_quantity=D("1"),
    average_price=D("2000.0"),
)


def sample_events(now: float) -> list[Event]:
    """One event per trigger in the events module (all of them, whatever machine uses them)."""
    return [
        Start(now=now),
        BboReceived(now=now, bbo=QUOTE),
        BboFailed(now=now, message="down"),
        OrderAcked(now=now, order=FOREIGN),
        PostOnlyRejected(now=now, client_order_id="foreign-9"),
        OrderRejected(now=now, client_order_id="foreign-9", reason=RejectReason.OTHER),
        PlacementAmbiguous(now=now, client_order_id="foreign-9"),
        OrderUpdated(now=now, order=FOREIGN),
        OrderMissing(now=now, client_order_id="foreign-9"),
        QueryFailed(now=now, client_order_id="foreign-9"),
        CancelConfirmed(now=now, order=FOREIGN),
        CancelFailed(now=now, client_order_id="foreign-9"),
        TimerFired(now=now, token=10_000),
        PositionRead(now=now, quantity=D("0")),
        PositionFailed(now=now),
        TargetsSet(now=now),
        LegFinished(now=now),
    ]


def snapshot(leg: LegHedge) -> tuple[object, ...]:
    return (
        leg.state,
        len(leg.history),
        leg.ledger.filled,
        len(leg.ledger.orders),
        len(leg.ledger.quarantined),
        leg.attempts,
        leg.orders_sent,
        leg.timer_token,
        leg.error,
        leg.finished_at,
        len(leg.outbox),
    )


# --------------------------------------------------------------------------- the happy path


def test_clean_maker_hedge_breaks_even_on_attempt_0_and_is_done() -> None:
    """Attempt 0 sells all 10 at break-even 2001.5 post-only; it fills as maker and the leg is done.

    Ack at 0.01 → polling, first poll at min(0.01 + 0.1, attempt deadline 1.5) = 0.11;
    the poll reports FILLED 10 @ 2001.5 → done: filled 10 = maker 10, taker 0, no residual.
    """
    leg = make_leg()
    place = start_and_place(leg)
    assert place == PlaceLimit(
        leg=1,
        client_order_id=place.client_order_id,
        side=Side.SELL,
        quantity=D("10"),
        price=BREAK_EVEN_SELL,
        post_only=True,
        reduce_only=False,
        rung="break_even",
    )

    commands = feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    assert leg.state == LegState.POLLING
    wait = only(commands, WaitUntil)
    assert wait.at == pytest.approx(0.11)

    commands = fire(leg, wait)
    assert only(commands, QueryOrder) == QueryOrder(
        leg=1, client_order_id=place.client_order_id, order_id="v-1"
    )

    assert feed(leg, OrderUpdated(now=0.15, order=report(place, status=FILLED, filled="10"))) == []
    assert leg.state == LegState.DONE
    assert leg.is_finished
    result = leg.result()
    assert result.success is True
    assert result.state == "done"
    assert result.filled_quantity == D("10")
    assert result.maker_quantity == D("10") == result.filled_quantity
    assert result.taker_quantity == D("0")
    assert result.average_price == BREAK_EVEN_SELL
    assert result.unhedged_residual == D("0")
    assert result.execution_mode == ExecutionMode.MAKER
    assert result.attempts_used == 1
    assert result.error_message is None
    assert leg.finished_at == 0.15


def test_ack_already_filled_is_done_at_once() -> None:
    """An ack that reports the order already FILLED (it rested and was hit before the ack) ends the leg."""
    leg = make_leg()
    place = start_and_place(leg)
    assert feed(leg, OrderAcked(now=0.01, order=report(place, status=FILLED, filled="10"))) == []
    assert leg.state == LegState.DONE
    assert leg.result().filled_quantity == D("10")


def test_nothing_to_hedge_is_done_at_start() -> None:
    """A target below one placeable unit (lot 1 here) sends nothing: done, the residual reported.

    Nothing was traded, so the result is not a success (results tell the truth).
    """
    leg = make_leg(target=D("0.5"))
    assert feed(leg, Start(now=0.0)) == []
    assert leg.state == LegState.DONE
    result = leg.result()
    assert result.success is False
    assert result.error_message is not None and "nothing traded" in result.error_message
    assert result.filled_quantity == D("0")
    assert result.unhedged_residual == D("0.5")
    assert result.attempts_used == 0


# --------------------------------------------------------------------------- the pricing ladder


def test_post_only_reject_retries_inside_the_spread_not_break_even_again() -> None:
    """A post-only reject of the break-even order backs off 75 ms, then prices *inside the spread*.

    Break-even is tried once (docs/design.md, Pitfalls: repeating it blocked escalation):
    attempt 1 sells
    at bid + tick = 2000.5, post-only, with a new client order id, still for all 10.
    """
    leg = make_leg()
    first = start_and_place(leg)
    assert first.rung == "break_even"

    commands = feed(leg, PostOnlyRejected(now=0.01, client_order_id=first.client_order_id))
    assert leg.state == LegState.RETRY
    wait = only(commands, WaitUntil)
    assert wait.at == pytest.approx(0.01 + 0.075)
    assert none_of(commands, PlaceLimit, PlaceMarket)
    record = leg.ledger.orders[first.client_order_id]
    assert record.terminal and record.filled == 0

    assert asks_for_bbo(fire(leg, wait)) == FetchBbo(leg=1)
    assert leg.state == LegState.PRICING
    second = start_and_place(leg, now=0.1)
    assert second.rung == "inside_spread"
    assert second.price == INSIDE_SELL
    assert second.post_only is True
    assert second.quantity == D("10")
    assert second.client_order_id != first.client_order_id
    assert leg.attempts == 2


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (
            BOUGHT,
            [
                ("break_even", BREAK_EVEN_SELL, True),
                ("inside_spread", INSIDE_SELL, True),
                ("inside_spread", INSIDE_SELL, True),
                ("touch", TOUCH_SELL, False),
            ],
        ),
        (
            None,
            [
                ("inside_spread", INSIDE_SELL, True),
                ("inside_spread", INSIDE_SELL, True),
                ("inside_spread", INSIDE_SELL, True),
                ("touch", TOUCH_SELL, False),
            ],
        ),
    ],
    ids=["with-trigger-price", "no-trigger-price"],
)
def test_ladder_escalates_to_touch_after_inside_tick_attempts(
    trigger: TriggerFill | None, expected: list[tuple[str, Decimal, bool]]
) -> None:
    """After 3 inside-tick attempts (break-even counts as one) comes the touch: at the bid, not post-only.

    docs/design.md, Pitfalls: a post-only order at the opposite best could never fill, so the touch is a
    marketable limit (a taker fill with a price cap).
    """
    leg = make_leg(trigger=trigger)
    rungs = []
    now = 0.0
    for _ in range(4):
        place = start_and_place(leg, now=now)
        rungs.append((place.rung, place.price, place.post_only))
        now += 0.2
        refuse(leg, place, now)
        now += 0.2
    assert rungs == expected
    assert leg.attempts == 4


# --------------------------------------------------------------------------- fills, cancels, retries


def test_partial_fill_cancels_counts_the_fill_during_cancel_and_sizes_the_next_order_to_the_rest() -> None:
    """A partial fill (3 of 10) moves to ``partial`` and cancels; the cancel confirms 4 filled.

    The fill that landed during the cancel counts: the ledger holds 4, not 3, and the next
    order (attempt 1, inside spread 2000.5) is for exactly 10 - 4 = 6.
    """
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))

    commands = feed(leg, OrderUpdated(now=0.2, order=report(place, status=PARTIAL, filled="3")))
    assert leg.state == LegState.PARTIAL
    assert only(commands, CancelOrder) == CancelOrder(
        leg=1, client_order_id=place.client_order_id, order_id="v-1"
    )
    assert leg.ledger.filled == D("3")

    commands = feed(leg, CancelConfirmed(now=0.25, order=report(place, status=CANCELED, filled="4")))
    assert leg.state == LegState.RETRY
    assert leg.ledger.filled == D("4")
    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=1)

    second = start_and_place(leg, now=0.4)
    assert second.quantity == D("6")
    assert second.price == INSIDE_SELL
    assert second.rung == "inside_spread"


def test_duplicate_and_stale_reports_never_double_count() -> None:
    """The same partial fill reported twice, then an older OPEN snapshot, leaves the ledger at 3."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    feed(leg, OrderUpdated(now=0.2, order=report(place, status=PARTIAL, filled="3")))
    assert leg.state == LegState.PARTIAL
    feed(leg, OrderUpdated(now=0.21, order=report(place, status=PARTIAL, filled="3")))
    feed(leg, OrderUpdated(now=0.22, order=report(place, status=OPEN)))
    assert leg.state == LegState.PARTIAL
    assert leg.ledger.filled == D("3")


def test_attempt_timeout_cancels_then_retries_after_the_confirmation() -> None:
    """An order resting unfilled for the attempt's 1.5 s is cancelled (``cancelling``); confirmed → retry.

    Polls run every 100 ms but the last one is capped at the attempt deadline 1.5; at
    1.5 the timer cancels instead of polling. CANCELED with nothing filled → retry, and
    the next order is again for all 10.
    """
    leg = make_leg()
    place = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.0, order=report(place, status=OPEN)))
    for _ in range(40):
        wait = only(commands, WaitUntil)
        assert isinstance(wait, WaitUntil)
        assert wait.at <= 1.5 + 1e-9
        commands = fire(leg, wait)
        if leg.state == LegState.CANCELLING:
            break
        assert leg.state == LegState.POLLING
        only(commands, QueryOrder)
        feed(leg, OrderUpdated(now=wait.at, order=report(place, status=OPEN)))
    assert leg.state == LegState.CANCELLING
    assert wait.at == pytest.approx(1.5)
    assert only(commands, CancelOrder) == CancelOrder(
        leg=1, client_order_id=place.client_order_id, order_id="v-1"
    )

    commands = feed(leg, CancelConfirmed(now=1.55, order=report(place, status=CANCELED)))
    assert leg.state == LegState.RETRY
    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=1)
    second = start_and_place(leg, now=1.7)
    assert second.quantity == D("10")
    assert second.rung == "inside_spread"


def test_fill_during_cancel_of_a_timed_out_order_moves_to_partial() -> None:
    """While ``cancelling`` a timed-out order, a report with a fill moves to ``partial``; it still counts."""
    leg = make_leg()
    place = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.0, order=report(place, status=OPEN)))
    commands = fire(leg, only(commands, WaitUntil), now=1.5)
    assert leg.state == LegState.CANCELLING
    feed(leg, OrderUpdated(now=1.52, order=report(place, status=PARTIAL, filled="2")))
    assert leg.state == LegState.PARTIAL
    assert leg.ledger.filled == D("2")
    feed(leg, CancelConfirmed(now=1.55, order=report(place, status=CANCELED, filled="2")))
    assert leg.state == LegState.RETRY


def test_late_fill_after_canceled_is_counted_and_the_next_order_is_smaller() -> None:
    """A fill reported on an earlier order *after* its CANCELED report still counts
    (docs/design.md, The leg machine).

    The first order is confirmed CANCELED with 0 filled → retry; then a late report says
    it filled 2 (CANCELED). The ledger counts it while in ``retry``, and the next order
    is 10 - 2 = 8.
    """
    leg = make_leg()
    place = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.0, order=report(place, status=OPEN)))
    commands = fire(leg, only(commands, WaitUntil), now=1.5)
    commands = feed(leg, CancelConfirmed(now=1.55, order=report(place, status=CANCELED)))
    assert leg.state == LegState.RETRY
    wait = only(commands, WaitUntil)

    late = feed(leg, OrderUpdated(now=1.56, order=report(place, status=CANCELED, filled="2")))
    assert late == []
    assert leg.state == LegState.RETRY
    assert leg.ledger.filled == D("2")

    assert asks_for_bbo(fire(leg, wait)) == FetchBbo(leg=1)
    second = start_and_place(leg, now=1.7)
    assert second.quantity == D("8")


def test_cancel_failed_requeries_the_order_then_resends_the_cancel() -> None:
    """A refused cancel (often: the order just filled) is followed by a lookup of the order.

    The next chase timer resends the cancel, since none is in flight any more.
    """
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    commands = feed(leg, OrderUpdated(now=0.2, order=report(place, status=PARTIAL, filled="3")))
    assert leg.state == LegState.PARTIAL
    chase = only(commands, WaitUntil)

    commands = feed(leg, CancelFailed(now=0.22, client_order_id=place.client_order_id))
    assert commands == [QueryOrder(leg=1, client_order_id=place.client_order_id, order_id="v-1")]
    assert leg.state == LegState.PARTIAL

    commands = fire(leg, chase)
    assert only(commands, CancelOrder) == CancelOrder(
        leg=1, client_order_id=place.client_order_id, order_id="v-1"
    )
    feed(leg, CancelConfirmed(now=0.35, order=report(place, status=CANCELED, filled="3")))
    assert leg.state == LegState.RETRY
    assert leg.ledger.filled == D("3")


def test_cancel_answered_filled_ends_done() -> None:
    """The cancel's answer says the order FILLED in the meantime: 10 of 10, the leg is done."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    feed(leg, OrderUpdated(now=0.2, order=report(place, status=PARTIAL, filled="3")))
    feed(leg, CancelConfirmed(now=0.25, order=report(place, status=FILLED, filled="10")))
    assert leg.state == LegState.DONE
    assert leg.result().filled_quantity == D("10")


def test_stale_timer_is_ignored() -> None:
    """A timer whose token was replaced by a newer WaitUntil changes nothing and sends nothing."""
    leg = make_leg()
    place = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    first = only(commands, WaitUntil)
    commands = fire(leg, first)
    second = only(commands, WaitUntil)
    assert isinstance(first, WaitUntil) and isinstance(second, WaitUntil)
    assert second.token != first.token

    before = snapshot(leg)
    assert feed(leg, TimerFired(now=1.4, token=first.token)) == []
    after = snapshot(leg)
    assert after[0] == LegState.POLLING
    # Only the history grows (the ignored timer is an internal move, recorded).
    assert before[:1] + before[2:] == after[:1] + after[2:]
    assert leg.timer_token == second.token


# --------------------------------------------------------------------------- budget and market fallback


def test_budget_spent_falls_back_to_market_for_the_remainder() -> None:
    """3 of 10 fill as maker; the retry timer comes due after the 6 s budget: a market order for 7.

    The market order fills 7 @ 2000.0 → done, maker 3 + taker 7 = 10, mode market.
    """
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    feed(leg, OrderUpdated(now=1.0, order=report(place, status=PARTIAL, filled="3")))
    commands = feed(leg, CancelConfirmed(now=5.96, order=report(place, status=CANCELED, filled="3")))
    assert leg.state == LegState.RETRY
    wait = only(commands, WaitUntil)
    assert isinstance(wait, WaitUntil) and wait.at >= 6.0

    commands = fire(leg, wait)
    assert leg.state == LegState.MARKET_FALLBACK
    market = only(commands, PlaceMarket)
    assert market == PlaceMarket(
        leg=1, client_order_id=market.client_order_id, side=Side.SELL, quantity=D("7"), reduce_only=False
    )
    # The leg's own bound on the placement's answer: the place timeout (2 s) + a poll.
    safety = only(commands, WaitUntil)
    assert safety.at == pytest.approx(wait.at + 2.1)

    assert feed(leg, OrderAcked(now=6.1, order=report(market, status=FILLED, filled="7"))) == []
    assert leg.state == LegState.DONE
    result = leg.result()
    assert result.success is True
    assert result.filled_quantity == D("10")
    assert result.maker_quantity == D("3")
    assert result.taker_quantity == D("7")
    assert result.unhedged_residual == D("0")
    assert result.execution_mode == ExecutionMode.MARKET


def test_cancel_confirmed_after_the_budget_goes_straight_to_market() -> None:
    """A cancel confirmed at 6.0 (budget spent) sends the market order at once, without a retry."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    feed(leg, OrderUpdated(now=1.0, order=report(place, status=PARTIAL, filled="3")))
    commands = feed(leg, CancelConfirmed(now=6.0, order=report(place, status=CANCELED, filled="3")))
    assert leg.state == LegState.MARKET_FALLBACK
    assert only(commands, PlaceMarket).quantity == D("7")


def test_market_partial_fill_rolls_back() -> None:
    """A market order that fills 4 of 10 and is closed (IOC remainder cancelled) ends in ``rollback``."""
    leg = make_leg(market_only=True)
    commands = feed(leg, Start(now=0.0))
    assert leg.state == LegState.MARKET_FALLBACK
    market = only(commands, PlaceMarket)
    assert market.quantity == D("10")
    assert none_of(commands, FetchBbo, PlaceLimit)

    assert feed(leg, OrderAcked(now=0.05, order=report(market, status=CANCELED, filled="4"))) == []
    assert leg.state == LegState.ROLLBACK
    result = leg.result()
    assert result.success is False
    assert result.state == "rollback"
    assert result.filled_quantity == D("4")
    assert result.taker_quantity == D("4")
    assert result.unhedged_residual == D("6")
    assert result.error_message is not None and "4 of 10" in result.error_message


def test_market_order_rejected_rolls_back() -> None:
    """A refused market order leaves nothing to fall back on: ``rollback`` with the reason reported."""
    leg = make_leg(market_only=True)
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    feed(
        leg,
        OrderRejected(
            now=0.05,
            client_order_id=market.client_order_id,
            reason=RejectReason.INSUFFICIENT_FUNDS,
            message="margin",
        ),
    )
    assert leg.state == LegState.ROLLBACK
    assert leg.error is not None and "insufficient_funds" in leg.error


# --------------------------------------------------------------------------- ambiguous placements


def test_ambiguous_placement_looks_up_by_client_id_and_places_nothing_until_resolved() -> None:
    """A timeout on the placement: look the order up by *client* id (no venue id yet), never resend.

    Not-found answers re-ask after the poll interval; a failed lookup too; no new
    PlaceLimit is sent while the first order's existence is unknown.
    """
    leg = make_leg()
    place = start_and_place(leg)
    lookup = QueryOrder(leg=1, client_order_id=place.client_order_id, order_id=None)

    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    assert leg.state == LegState.PLACED
    assert only(commands, QueryOrder) == lookup
    # Asked again if the lookup gets no answer within the query timeout (2 s).
    assert only(commands, WaitUntil).at == pytest.approx(2.01)
    assert none_of(commands, PlaceLimit, PlaceMarket)

    commands = feed(leg, OrderMissing(now=0.02, client_order_id=place.client_order_id))
    assert leg.state == LegState.PLACED
    wait = only(commands, WaitUntil)
    assert wait.at == pytest.approx(0.12)
    assert none_of(commands, PlaceLimit, PlaceMarket, QueryOrder)

    commands = fire(leg, wait)
    assert only(commands, QueryOrder) == lookup
    assert none_of(commands, PlaceLimit, PlaceMarket)

    commands = feed(leg, QueryFailed(now=0.13, client_order_id=place.client_order_id))
    assert leg.state == LegState.PLACED
    assert none_of(commands, PlaceLimit, PlaceMarket)
    assert len(leg.ledger.orders) == 1


def test_lookup_that_finds_the_order_moves_to_polling() -> None:
    """The lookup answers with the order (OPEN, venue id v-9): polling, and later polls use that id."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    commands = feed(leg, OrderUpdated(now=0.05, order=report(place, status=OPEN, order_id="v-9")))
    assert leg.state == LegState.POLLING
    assert leg.looking_up is False
    commands = fire(leg, only(commands, WaitUntil))
    assert only(commands, QueryOrder) == QueryOrder(
        leg=1, client_order_id=place.client_order_id, order_id="v-9"
    )


def test_lookup_that_finds_a_partial_fill_cancels_by_venue_id() -> None:
    """The lookup finds 2 filled: ``partial``, cancelling by the venue id it just learned."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    commands = feed(
        leg, OrderUpdated(now=0.05, order=report(place, status=PARTIAL, filled="2", order_id="v-9"))
    )
    assert leg.state == LegState.PARTIAL
    assert only(commands, CancelOrder).order_id == "v-9"
    assert leg.ledger.filled == D("2")


def answer_lookups_not_found(leg: LegHedge, place: PlaceLimit | PlaceMarket, commands: list[Command],
                             latency: float = 0.01) -> tuple[list[Command], list[float]]:
    """Answer every lookup "not found" (after ``latency``) and fire every timer, until the leg
    leaves ``placed`` / ``market_fallback`` or sends another order. Returns the last commands
    and the times lookups were sent."""
    sent: list[float] = []
    now = 0.0
    for _ in range(200):
        if any(isinstance(c, PlaceLimit | PlaceMarket) for c in commands) or leg.is_finished:
            return commands, sent
        if leg.state not in (LegState.PLACED, LegState.MARKET_FALLBACK):
            return commands, sent
        lookup = next((c for c in commands if isinstance(c, QueryOrder)), None)
        wait = next((c for c in reversed(commands) if isinstance(c, WaitUntil)), None)
        if lookup is not None:
            now = max(now, leg.history[-1].time) + latency
            sent.append(leg.history[-1].time)
            commands = feed(leg, OrderMissing(now=now, client_order_id=place.client_order_id))
        else:
            assert isinstance(wait, WaitUntil)
            commands = fire(leg, wait)
    raise AssertionError("the leg never left its lookup")


@pytest.mark.parametrize("lookup_attempts", [1, 3])
def test_lookups_exhausted_retry_only_once_the_order_is_provably_dead(lookup_attempts: int) -> None:
    """Case 2 (possibly live): not-found answers do not prove an ambiguous order dead.

    The venue has no request window, so the order stays possibly live for the 10 s
    ambiguous horizon from the ambiguous answer (0.01 → 10.01); only ``lookup_attempts``
    not-found answers to lookups *sent* at or after 10.01 take it as never placed. Until
    then nothing else is placed. The abandoned order is closed in the ledger (REJECTED,
    nothing filled); the next attempt is priced inside the spread for the full 10 under a
    different client id. (A 30 s budget: with the default 6 s the wait would spend it and
    the leg would go to the market fallback.)
    """
    leg = make_leg(config=HedgeConfig(lookup_attempts=lookup_attempts, opening=RetryPolicy(budget=30.0)))
    place = start_and_place(leg)
    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    commands, sent = answer_lookups_not_found(leg, place, commands)
    assert leg.state == LegState.RETRY
    proving = [t for t in sent if t >= 10.01 - 1e-9]
    assert len(proving) == lookup_attempts
    # Before the horizon the lookups space out (not one per poll for 10 s).
    assert len(sent) - len(proving) <= lookup_attempts + 8
    record = leg.ledger.orders[place.client_order_id]
    assert record.terminal
    assert record.status == OrderStatus.REJECTED
    assert leg.looking_up is False

    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=1)
    second = start_and_place(leg, now=leg.history[-1].time)
    assert second.client_order_id != place.client_order_id
    assert second.quantity == D("10")
    assert second.rung == "inside_spread"


def test_request_window_proves_an_ambiguous_order_dead_sooner() -> None:
    """With a 1 s request window the order is provably dead 1 s + the place timeout (2 s) after
    the ambiguous answer (0.01 → 3.01), not after the 10 s horizon."""
    leg = make_leg(capabilities=VenueCapabilities(request_window=1.0))
    place = start_and_place(leg)
    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    commands, sent = answer_lookups_not_found(leg, place, commands)
    assert leg.state == LegState.RETRY
    assert leg.history[-1].time < 3.5
    assert [t for t in sent if t >= 3.01 - 1e-9] != []


def test_ambiguous_placement_never_answered_gives_up_after_horizon_and_stuck_timeout() -> None:
    """A venue that never says whether the order exists (lookups unanswered): the leg asks
    again every query timeout, places nothing, and gives up (rollback) once the order could
    be proven dead (10.01 s) and ``stuck_timeout`` (10 s) more have passed: at 20.01 s."""
    leg = make_leg()
    place = start_and_place(leg)
    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    for _ in range(50):
        if leg.is_finished:
            break
        assert none_of(commands, PlaceLimit, PlaceMarket)
        commands = fire(leg, only(commands, WaitUntil))
    assert leg.state == LegState.ROLLBACK
    assert leg.finished_at == pytest.approx(20.01)
    assert leg.error is not None and place.client_order_id in leg.error


# ------------------------------------------------------------------- terminal states and illegal events


def _done_leg() -> LegHedge:
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=FILLED, filled="10")))
    assert leg.state == LegState.DONE
    return leg


def _rollback_leg() -> LegHedge:
    leg = make_leg(market_only=True)
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    feed(leg, OrderAcked(now=0.05, order=report(market, status=CANCELED, filled="4")))
    assert leg.state == LegState.ROLLBACK
    return leg


@pytest.mark.parametrize("build", [_done_leg, _rollback_leg], ids=["done", "rollback"])
def test_terminal_states_refuse_every_event_and_change_nothing(build: object) -> None:
    """Invariant 1 and 8: in ``done`` and ``rollback`` every event raises IllegalTransition, nothing moves."""
    assert callable(build)
    leg = build()
    before = snapshot(leg)
    for event in sample_events(now=20.0):
        with pytest.raises(IllegalTransition) as raised:
            leg.feed(event)
        assert raised.value.state == before[0]
        assert raised.value.trigger == event.TRIGGER
        assert snapshot(leg) == before
    assert leg.drain() == []


@pytest.mark.parametrize("state", [s for s in LEG.states if s not in LEG.terminal])
def test_illegal_triggers_raise_and_leave_the_state_unchanged(state: str) -> None:
    """Invariant 8: in every live state, each trigger the table does not allow raises and changes nothing."""
    leg = make_leg()
    leg.state = state
    for event in sample_events(now=0.5):
        if event.TRIGGER in LEG.allowed[state]:
            continue
        before = snapshot(leg)
        with pytest.raises(IllegalTransition, match=f"'{event.TRIGGER}' is not allowed in state '{state}'"):
            leg.feed(event)
        assert snapshot(leg) == before


# --------------------------------------------------------------------------- closing policy


def test_reduce_only_uses_the_closing_policy_five_attempts() -> None:
    """A reduce-only leg uses the closing policy: 5 attempts, 2 inside-tick, 50 ms backoff, 3 s budget.

    Ladder: break-even 2001.5, inside 2000.5, then touch 2000.0 (x3); every order is
    reduce-only; after the 5th refusal the attempts are spent → market for all 10, reduce-only.
    """
    leg = make_leg(reduce_only=True)
    assert leg.policy == HedgeConfig().closing
    assert (leg.policy.max_attempts, leg.policy.budget) == (5, 3.0)
    assert leg.deadline == 3.0

    rungs = []
    now = 0.0
    for attempt in range(5):
        place = start_and_place(leg, now=now)
        assert place.reduce_only is True
        rungs.append((place.rung, place.price, place.post_only))
        now += 0.1
        if attempt < 4:
            if place.post_only:
                commands = feed(leg, PostOnlyRejected(now=now, client_order_id=place.client_order_id))
            else:
                commands = feed(leg, OrderRejected(now=now, client_order_id=place.client_order_id))
            wait = only(commands, WaitUntil)
            assert wait.at == pytest.approx(now + 0.05)
            fire(leg, wait)
            now += 0.1
    assert rungs == [
        ("break_even", BREAK_EVEN_SELL, True),
        ("inside_spread", INSIDE_SELL, True),
        ("touch", TOUCH_SELL, False),
        ("touch", TOUCH_SELL, False),
        ("touch", TOUCH_SELL, False),
    ]
    commands = feed(leg, OrderRejected(now=now, client_order_id=place.client_order_id))
    assert leg.state == LegState.MARKET_FALLBACK
    market = only(commands, PlaceMarket)
    assert market.quantity == D("10")
    assert market.reduce_only is True
    assert leg.attempts == 5


@pytest.mark.parametrize(("reduce_only", "expected"), [(True, PlaceMarket), (False, PlaceLimit)])
def test_reduce_only_budget_is_three_seconds(reduce_only: bool, expected: type) -> None:
    """At 3.0 s a reduce-only leg's budget is spent (market); an opening leg (6 s) still places a limit."""
    leg = make_leg(reduce_only=reduce_only)
    place = start_and_place(leg)
    commands = feed(leg, PostOnlyRejected(now=2.9, client_order_id=place.client_order_id))
    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=1)
    commands = feed(leg, BboReceived(now=3.0, bbo=QUOTE))
    only(commands, expected)


# --------------------------------------------------------------------------- multipliers and minimums

KPEPE = Instrument(
    symbol="kPEPE",
    tick_size=D("0.000001"),
    lot_size=D("1"),
    min_quantity=D("1"),
    min_notional=D("0"),
    multiplier=D("1000"),
)


@pytest.mark.parametrize(
    ("side", "trigger", "bbo"),
    [
        (
            Side.SELL,
            TriggerFill(side=Side.BUY, price=D("0.00001000"), multiplier=D("1")),
            BBO(bid=D("0.009998"), ask=D("0.010003")),
        ),
        (
            Side.BUY,
            TriggerFill(side=Side.SELL, price=D("0.00001000"), multiplier=D("1")),
            BBO(bid=D("0.009997"), ask=D("0.010002")),
        ),
    ],
    ids=["sell-hedge", "buy-hedge"],
)
def test_1000x_leg_hedging_a_1x_trigger_prices_break_even_per_token(
    side: Side, trigger: TriggerFill, bbo: BBO
) -> None:
    """A kPEPE leg (1 contract = 1000 PEPE) hedging a PEPE fill at 0.00001 per token.

    Per token the break-even is 0.00001, i.e. 0.010000 per kPEPE contract
    (docs/design.md, Pitfalls: the
    seed compared 0.00001 raw against a ~0.01 book). Sell hedge: inside = 0.009999, and
    0.009998 < 0.010000 <= 0.009999 + 2 ticks → feasible. Buy hedge: inside = 0.010001,
    0.010001 - 2 ticks <= 0.010000 < 0.010002 → feasible.
    """
    leg = make_leg(instrument=KPEPE, side=side, trigger=trigger, target=D("50"))
    place = start_and_place(leg, bbo=bbo)
    assert place.rung == "break_even"
    assert place.price == D("0.010000")
    assert place.post_only is True
    assert place.quantity == D("50")


SOL = Instrument(
    symbol="SOL-PERP", tick_size=D("0.5"), lot_size=D("0.1"), min_quantity=D("0.1"), min_notional=D("10")
)
SOL_QUOTE = BBO(bid=D("50.0"), ask=D("51.0"))


def test_remainder_below_min_notional_ends_done_with_the_residual_reported() -> None:
    """0.9 of 1.0 fills; the rest, 0.1 at mid 50.5 = 5.05, is below the 10 minimum notional.

    The leg ends ``done`` as soon as the cancel is confirmed (the last BBO already says no
    order can carry it), without sending anything, and reports the 0.1 residual and why.
    """
    leg = make_leg(instrument=SOL, target=D("1.0"), trigger=None)
    place = start_and_place(leg, bbo=SOL_QUOTE)
    assert place.quantity == D("1.0")
    assert place.price == D("50.5")
    feed(leg, OrderAcked(now=0.01, order=report(place, status=PARTIAL, filled="0.9", average="50.5")))
    assert leg.state == LegState.PARTIAL
    commands = feed(
        leg, CancelConfirmed(now=0.05, order=report(place, status=CANCELED, filled="0.9", average="50.5"))
    )
    assert commands == []
    assert leg.state == LegState.DONE
    result = leg.result()
    assert result.success is True
    assert result.filled_quantity == D("0.9")
    assert result.unhedged_residual == D("0.1")
    assert result.error_message is not None and "minimum notional" in result.error_message


def test_whole_target_below_min_notional_sends_nothing() -> None:
    """A target of 0.1 SOL (5.05 notional < 10) is never sent: done, residual 0.1, reason reported."""
    leg = make_leg(instrument=SOL, target=D("0.1"), trigger=None)
    assert asks_for_bbo(feed(leg, Start(now=0.0))) == FetchBbo(leg=1)
    assert feed(leg, BboReceived(now=0.0, bbo=SOL_QUOTE)) == []
    assert leg.state == LegState.DONE
    assert leg.result().unhedged_residual == D("0.1")
    assert leg.result().filled_quantity == D("0")
    assert leg.error is not None


def test_crossed_book_is_not_priced_and_retried_after_backoff() -> None:
    """A locked book (bid == ask) cannot be priced passively: wait the backoff and ask again."""
    leg = make_leg()
    feed(leg, Start(now=0.0))
    commands = feed(leg, BboReceived(now=0.0, bbo=BBO(bid=D("2000.0"), ask=D("2000.0"))))
    assert leg.state == LegState.PRICING
    wait = only(commands, WaitUntil)
    assert none_of(commands, PlaceLimit, PlaceMarket)
    assert asks_for_bbo(fire(leg, wait)) == FetchBbo(leg=1)


# --------------------------------------------------------------------------- regressions (library bugs)


def test_ack_after_a_stream_update_of_the_same_order_is_folded_not_refused() -> None:
    """The table's own reason on ``placed --order_updated--> polling``: "a stream update or a lookup
    can answer before the ack". The ack that follows must then be accepted (folded as a report).

    Today ``order_acked`` has edges only from ``placed`` and ``market_fallback``: the ack
    arriving in ``polling`` raises IllegalTransition, and a driver that forwards it crashes.
    """
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderUpdated(now=0.01, order=report(place, status=OPEN)))
    assert leg.state == LegState.POLLING
    feed(leg, OrderAcked(now=0.02, order=report(place, status=OPEN)))
    assert leg.state == LegState.POLLING
    assert leg.ledger.filled == D("0")


def test_pricing_timer_after_a_late_fill_completes_the_hedge_instead_of_a_zero_market_order() -> None:
    """``pricing --timer_fired-->`` checks the budget but never whether anything is left.

    The first order is confirmed CANCELED with 0 → retry → pricing; the BBO request fails
    (backoff timer); a late report then says that order filled all 10
    (docs/design.md, The leg machine: fills can
    land after a CANCELED report). The timer comes due after the 6 s budget: the leg must
    end ``done`` (nothing left), not send a market order. Today it sends
    ``PlaceMarket(quantity=0)`` (invariant 7: quantity below the minimum).
    """
    leg = make_leg()
    place = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.0, order=report(place, status=OPEN)))
    commands = fire(leg, only(commands, WaitUntil), now=1.5)
    commands = feed(leg, CancelConfirmed(now=1.55, order=report(place, status=CANCELED)))
    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=1)
    leg.feed(BboFailed(now=5.99, message="timeout"))
    wait = only(leg.drain(), WaitUntil)
    leg.feed(OrderUpdated(now=6.0, order=report(place, status=CANCELED, filled="10")))
    assert leg.drain() == []
    assert leg.ledger.filled == D("10")

    leg.feed(TimerFired(now=wait.at, token=wait.token))
    commands = leg.drain()
    assert [c for c in commands if isinstance(c, PlaceMarket)] == []
    assert leg.state == LegState.DONE


def test_refusal_after_the_budget_with_nothing_left_completes_instead_of_a_zero_market_order() -> None:
    """``placed --post_only_rejected-->`` with the budget spent goes to market without asking what is left.

    Order 1 is CANCELED with 0 → retry → order 2 (10) is placed at 5.9; a late report says
    order 1 filled all 10; order 2 is then refused post-only at 6.0. Nothing is left and
    nothing is live: the leg must end ``done``. Today it sends ``PlaceMarket(quantity=0)``.
    """
    leg = make_leg()
    first = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.0, order=report(first, status=OPEN)))
    commands = fire(leg, only(commands, WaitUntil), now=1.5)
    commands = feed(leg, CancelConfirmed(now=1.55, order=report(first, status=CANCELED)))
    fire(leg, only(commands, WaitUntil), now=5.9)
    second = start_and_place(leg, now=5.9)
    leg.feed(OrderUpdated(now=5.95, order=report(first, status=CANCELED, filled="10")))
    assert leg.drain() == []

    leg.feed(PostOnlyRejected(now=6.0, client_order_id=second.client_order_id))
    commands = leg.drain()
    assert [c for c in commands if isinstance(c, PlaceMarket)] == []
    assert leg.state == LegState.DONE


def test_acknowledged_market_order_reported_missing_by_a_poll_is_not_abandoned() -> None:
    """A market order the venue *acknowledged* (venue id m-1) is not "never placed" when a poll misses it.

    In ``polling`` a not-found is ignored ("a lagging replica may not show a resting
    order"), but in ``market_fallback`` the same answer counts as a lookup miss even
    though no lookup is running: after ``lookup_attempts`` (3) misses the live order is
    marked terminal (invariant 4: it was never confirmed closed) and the leg rolls back.
    Expected: the leg keeps polling the order it knows exists.
    """
    leg = make_leg(market_only=True)
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    commands = feed(leg, OrderAcked(now=0.01, order=report(market, status=OPEN, order_id="m-1")))
    assert leg.state == LegState.MARKET_FALLBACK
    wait = only(commands, WaitUntil)
    for _ in range(3):
        commands = fire(leg, wait)
        assert only(commands, QueryOrder).order_id == "m-1"
        wait = only(commands, WaitUntil)
        assert isinstance(wait, WaitUntil)
        commands = feed(leg, OrderMissing(now=wait.at - 0.09, client_order_id=market.client_order_id))
        wait = next((c for c in reversed(commands) if isinstance(c, WaitUntil)), wait)
    assert leg.state == LegState.MARKET_FALLBACK
    assert leg.ledger.orders[market.client_order_id].terminal is False


def test_give_up_names_the_state_it_was_waiting_in() -> None:
    """The stuck-timeout error should say where the leg waited (``placed``), not ``rollback``.

    ``give_up`` runs as an ``after`` callback, i.e. once the state is already
    ``rollback``, and reads ``self.state``: the message says "in state rollback".
    """
    fast = CallTimeouts(place=0.2, query=0.2)
    leg = make_leg(config=HedgeConfig(ambiguous_horizon=0.5, stuck_timeout=1.0, call_timeouts=fast))
    place = start_and_place(leg)
    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    while not leg.is_finished:
        commands = fire(leg, only(commands, WaitUntil))
    assert leg.state == LegState.ROLLBACK
    assert leg.error is not None
    assert "in state placed" in leg.error


def test_remainder_equal_to_the_dust_tolerance_is_done_and_check_leg_agrees() -> None:
    """``HedgeConfig.dust_tolerance``: "a remainder at or below this counts as hedged".

    With a 1-contract dust tolerance, 9 of 10 fill and the cancel confirms: 1 is left,
    equal to the tolerance, so the leg is ``done`` (``LegHedge._is_small``: remaining <=
    dust). ``check_leg`` must accept that ending; today it reports "done with 1 left
    (placeable)" because it flags ``remaining >= max(placeable_minimum, dust_tolerance)``.
    """
    leg = make_leg(config=HedgeConfig(dust_tolerance=D("1")))
    place = start_and_place(leg)
    leg.feed(OrderAcked(now=0.01, order=report(place, status=PARTIAL, filled="9")))
    assert leg.state == LegState.PARTIAL
    leg.feed(CancelConfirmed(now=0.05, order=report(place, status=CANCELED, filled="9")))
    assert leg.state == LegState.DONE
    assert leg.result().unhedged_residual == D("1")
    assert check_leg(leg) == []


def test_remainder_below_min_notional_after_the_budget_is_not_sent_to_market() -> None:
    """Below the minimum notional the leg ends ``done`` with the residual (as in ``pricing``), budget or not.

    0.9 of 1.0 SOL fill; the cancel confirms at 6.0 s, after the budget. What remains,
    0.1 at about 50.5 = 5.05, is below the 10 minimum notional: a market order for it
    must be refused by the venue, and the leg would end in ``rollback`` (the supervisor
    then unwinds the whole position) over a residual the limit path accepts as done.
    Today the leg sends ``PlaceMarket(quantity=0.1)``.
    """
    leg = make_leg(instrument=SOL, target=D("1.0"), trigger=None)
    place = start_and_place(leg, bbo=SOL_QUOTE)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    feed(leg, OrderUpdated(now=1.0, order=report(place, status=PARTIAL, filled="0.9", average="50.5")))
    leg.feed(CancelConfirmed(now=6.0, order=report(place, status=CANCELED, filled="0.9", average="50.5")))
    commands = leg.drain()
    assert [c for c in commands if isinstance(c, PlaceMarket)] == []
    assert leg.state == LegState.DONE
    assert leg.result().unhedged_residual == D("0.1")


def test_query_failure_about_an_earlier_order_leaves_the_current_lookup_alone() -> None:
    """``placed --query_failed-->`` re-arms the lookup whenever one runs, whichever order failed.

    Order 1's poll is still out when it expires (→ retry → order 2); order 2's placement
    is ambiguous (lookup sent, stuck timer at 10.21 s). Then order 1's poll fails. That
    answer is about another order (``order_not_found`` has an ``is_stale_report`` guard
    here, ``query_failed`` has none): it must change nothing. Today it replaces the
    stuck timer with a poll-interval timer, which sends a second lookup for order 2
    while the first is still out.
    """
    leg = make_leg()
    first = start_and_place(leg)
    commands = feed(leg, OrderAcked(now=0.01, order=report(first, status=OPEN)))
    commands = fire(leg, only(commands, WaitUntil))
    only(commands, QueryOrder)
    commands = feed(leg, OrderUpdated(now=0.12, order=report(first, status=OrderStatus.EXPIRED)))
    assert leg.state == LegState.RETRY
    fire(leg, only(commands, WaitUntil))
    second = start_and_place(leg, now=0.2)
    commands = feed(leg, PlacementAmbiguous(now=0.21, client_order_id=second.client_order_id))
    lookup_timer = only(commands, WaitUntil)

    assert feed(leg, QueryFailed(now=0.22, client_order_id=first.client_order_id)) == []
    assert leg.timer_token == lookup_timer.token


def test_an_order_taken_as_never_placed_that_shows_up_live_is_cancelled() -> None:
    """Lookups found nothing, so the leg moved on; then the venue reports that order OPEN.

    The leg must cancel the stray order at once (only the current order may fill), and
    count any fill it reports.
    """
    config = HedgeConfig(
        lookup_attempts=1, ambiguous_horizon=0.05, call_timeouts=CallTimeouts(place=0.05, query=0.05)
    )
    leg = make_leg(config=config)
    place = start_and_place(leg)
    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    answer_lookups_not_found(leg, place, commands)
    assert leg.state == LegState.RETRY
    stray = report(place, status=OPEN)
    commands = feed(leg, OrderUpdated(now=0.3, order=stray))
    cancels = [c for c in commands if isinstance(c, CancelOrder)]
    assert [c.client_order_id for c in cancels] == [place.client_order_id]
    assert leg.state == LegState.RETRY
    # A second report of the same stray order does not send a second cancel.
    assert not any(isinstance(c, CancelOrder) for c in feed(leg, OrderUpdated(now=0.31, order=stray)))


# ------------------------------------------------------------------- issue 11: the leg's guarantees


def test_market_order_reported_filled_as_a_cancel_answer_ends_done_not_a_zero_market_order() -> None:
    """Case 9 (``--hypothesis-seed=4``): a market order's FILLED report arrives as a cancel's
    answer. ``market_fallback`` had no edge for it (only a ledger fold), so the leg stayed, and
    its next timer sent a market order for quantity 0. Now the report ends the leg ``done``."""
    leg = make_leg(market_only=True)
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    feed(leg, OrderAcked(now=0.01, order=report(market, status=OPEN)))
    commands = feed(leg, CancelConfirmed(now=0.05, order=report(market, status=FILLED, filled="10")))
    assert leg.state == LegState.DONE
    assert none_of(commands, PlaceMarket)


def test_market_order_cut_short_reported_as_a_cancel_answer_rolls_back_within_the_order_cap() -> None:
    """Case 9 (4 orders with ``max_orders_per_leg=3``): the market order's partial end came as
    a cancel's answer; the leg stayed in ``market_fallback`` and its timer re-sent a market
    order past the cap. Now the partial market fill rolls back, and no order exceeds the cap."""
    leg = make_leg(market_only=True, config=HedgeConfig(max_orders_per_leg=1))
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    feed(leg, OrderAcked(now=0.01, order=report(market, status=OPEN)))
    feed(leg, CancelConfirmed(now=0.05, order=report(market, status=CANCELED, filled="4")))
    assert leg.state == LegState.ROLLBACK
    assert leg.orders_sent == 1


def test_market_timer_after_a_transient_refusal_respects_the_order_cap() -> None:
    """A rate-limited market order is sent again after the backoff only while orders are left;
    the timer edge itself checks the cap (it did not)."""
    leg = make_leg(market_only=True, config=HedgeConfig(max_orders_per_leg=2))
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    commands = feed(leg, OrderRejected(now=0.01, client_order_id=market.client_order_id,
                                       reason=RejectReason.RATE_LIMITED))
    commands = fire(leg, only(commands, WaitUntil))
    second = only(commands, PlaceMarket)
    commands = feed(leg, OrderRejected(now=0.2, client_order_id=second.client_order_id,
                                       reason=RejectReason.RATE_LIMITED))
    assert leg.state == LegState.ROLLBACK
    assert leg.orders_sent == 2


def test_placed_timer_treats_a_placement_that_never_answers_as_ambiguous() -> None:
    """Every live state has a timer: the placement's answer never comes, so at the place
    timeout + a poll (2.1 s) the leg looks the order up by client id instead of waiting forever.
    Not knowing when the request left, it never takes the order as dead: it gives up (rollback)
    after ``stuck_timeout`` of lookups that find nothing, never placing a second order."""
    leg = make_leg()
    place = start_and_place(leg)
    commands = fire(leg, WaitUntil(at=2.1, token=leg.timer_token))
    assert only(commands, QueryOrder) == QueryOrder(leg=1, client_order_id=place.client_order_id)
    assert leg.looking_up
    commands, _ = answer_lookups_not_found(leg, place, commands)
    assert leg.state == LegState.ROLLBACK
    assert none_of(commands, PlaceLimit, PlaceMarket)
    assert len(leg.ledger.orders) == 1 and not leg.ledger.orders[place.client_order_id].terminal


def test_bbo_request_that_never_answers_is_asked_again() -> None:
    """Every live state has a timer: a BBO request without an answer is asked again after the
    BBO timeout + a poll (1.1 s); a second answer arriving later is ignored."""
    leg = make_leg()
    commands = feed(leg, Start(now=0.0))
    wait = only(commands, WaitUntil)
    assert isinstance(wait, WaitUntil) and wait.at == pytest.approx(1.1)
    assert asks_for_bbo(fire(leg, wait)) == FetchBbo(leg=1)
    start_and_place(leg, now=1.2)
    assert feed(leg, BboReceived(now=1.3, bbo=QUOTE)) == []
    assert leg.state == LegState.PLACED


def test_confirming_a_cancel_reply_when_the_venue_reports_cancels_early() -> None:
    """Case 3: with ``reports_cancel_early`` a CANCELED cancel answer (4 filled) is confirmed by
    a query (``confirming``); the query's truth (7 filled) sizes the next order: 3, not 6."""
    leg = make_leg(capabilities=VenueCapabilities(reports_cancel_early=True))
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=PARTIAL, filled="4")))
    assert leg.state == LegState.PARTIAL
    commands = feed(leg, CancelConfirmed(now=0.05, order=report(place, status=CANCELED, filled="4")))
    assert leg.state == LegState.CONFIRMING
    assert only(commands, QueryOrder).order_id == "v-1"
    commands = feed(leg, OrderUpdated(now=0.06, order=report(place, status=CANCELED, filled="7")))
    assert leg.state == LegState.RETRY
    assert asks_for_bbo(fire(leg, only(commands, WaitUntil))) == FetchBbo(leg=1)
    assert start_and_place(leg, now=0.2).quantity == D("3")


def test_a_cancel_reply_below_a_fill_already_seen_is_confirmed() -> None:
    """Case 3, a conflict: 5 were reported filled, the cancel answers CANCELED with 4. The venue
    does not declare early reports; the conflict alone sends the leg to ``confirming``."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=PARTIAL, filled="5")))
    feed(leg, CancelConfirmed(now=0.05, order=report(place, status=CANCELED, filled="4")))
    assert leg.state == LegState.CONFIRMING
    assert leg.ledger.filled == D("5")


def test_a_cancel_reply_that_agrees_with_what_was_seen_is_not_confirmed() -> None:
    """The cost rule: without ``reports_cancel_early`` and without a conflict, a terminal report
    is trusted (no extra round trip)."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=PARTIAL, filled="4")))
    feed(leg, CancelConfirmed(now=0.05, order=report(place, status=CANCELED, filled="4")))
    assert leg.state == LegState.RETRY


def test_late_fill_on_an_earlier_order_cancels_the_resting_order() -> None:
    """Case 4: order 1 ended with 4 filled (so order 2 rests for 6); a late report shows order 1
    at 7. 7 + 6 > 10: order 2 is cancelled at once (``cancelling``), then 3 are re-placed."""
    leg = make_leg()
    first = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(first, status=PARTIAL, filled="4")))
    commands = feed(leg, CancelConfirmed(now=0.05, order=report(first, status=CANCELED, filled="4")))
    fire(leg, only(commands, WaitUntil))
    second = start_and_place(leg, now=0.2)
    assert second.quantity == D("6")
    feed(leg, OrderAcked(now=0.21, order=report(second, status=OPEN, order_id="v-2")))
    assert leg.state == LegState.POLLING
    commands = feed(leg, OrderUpdated(now=0.3, order=report(first, status=CANCELED, filled="7")))
    assert leg.state == LegState.CANCELLING
    assert only(commands, CancelOrder).order_id == "v-2"
    commands = feed(leg, CancelConfirmed(now=0.35, order=report(second, status=CANCELED, order_id="v-2")))
    assert leg.state == LegState.RETRY
    fire(leg, only(commands, WaitUntil))
    assert start_and_place(leg, now=0.5).quantity == D("3")


def test_late_fill_that_leaves_room_for_the_resting_order_changes_nothing() -> None:
    """A late fill of 1 on order 1 (4 → 5) with order 2 resting for 6: 5 + 6 > 10, cancel; but a
    late fill that keeps filled + open within the target (none here beyond 4) leaves it alone."""
    leg = make_leg()
    first = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(first, status=PARTIAL, filled="4")))
    commands = feed(leg, CancelConfirmed(now=0.05, order=report(first, status=CANCELED, filled="4")))
    fire(leg, only(commands, WaitUntil))
    second = start_and_place(leg, now=0.2)
    feed(leg, OrderAcked(now=0.21, order=report(second, status=OPEN, order_id="v-2")))
    feed(leg, OrderUpdated(now=0.3, order=report(first, status=CANCELED, filled="4")))
    assert leg.state == LegState.POLLING


def test_nothing_is_placed_while_a_stray_order_may_fill() -> None:
    """An order taken as dead that the venue then shows live (a venue breaking its horizon) is
    cancelled at once; the leg waits in ``retry`` (chasing the cancel) and places nothing until
    the stray is confirmed closed, then sizes the next order from what it filled (2 → 8)."""
    config = HedgeConfig(
        lookup_attempts=1, ambiguous_horizon=0.05, call_timeouts=CallTimeouts(place=0.05, query=0.05)
    )
    leg = make_leg(config=config)
    place = start_and_place(leg)
    commands = feed(leg, PlacementAmbiguous(now=0.01, client_order_id=place.client_order_id))
    commands, _ = answer_lookups_not_found(leg, place, commands)
    assert leg.state == LegState.RETRY
    wait = only(commands, WaitUntil)
    feed(leg, OrderUpdated(now=0.2, order=report(place, status=PARTIAL, filled="2")))
    commands = fire(leg, wait, now=max(0.21, wait.at))
    assert leg.state == LegState.RETRY
    assert none_of(commands, PlaceLimit, PlaceMarket, FetchBbo)
    feed(leg, CancelConfirmed(now=0.3, order=report(place, status=CANCELED, filled="2")))
    commands = fire(leg, only(commands, WaitUntil))
    assert asks_for_bbo(commands) == FetchBbo(leg=1)
    assert start_and_place(leg, now=0.5).quantity == D("8")


def _vanish(leg: LegHedge, market: PlaceMarket, *, at: float, restarted: bool = False) -> list[Command]:
    """The market order's placement turns ambiguous at ``at``; every lookup the leg sends is
    answered "not found" at once and every timer fires on time, until the leg stops looking
    (it took the order as dead): the commands it sent with that last answer."""
    ambiguous = PlacementAmbiguous(now=at, client_order_id=market.client_order_id, restarted=restarted)
    commands = feed(leg, ambiguous)
    for _ in range(200):
        lookups = [c for c in commands if isinstance(c, QueryOrder)]
        if lookups:
            commands = feed(leg, OrderMissing(now=at, client_order_id=lookups[0].client_order_id))
            if not leg.looking_up:
                return commands
            continue
        timer = only(commands, WaitUntil)
        assert isinstance(timer, WaitUntil)
        at = timer.at
        commands = feed(leg, TimerFired(now=at, token=timer.token))
    raise AssertionError("the leg never stopped looking the order up")


def test_market_order_that_vanishes_after_the_fallback_time_is_not_sent_again() -> None:
    """Invariant 2, issue 11 case 1: a market order whose placement timed out (the venue
    hangs) and that is provably dead 10.3 s after the first market order is past the
    fallback's time (``stuck_timeout`` = 10 s from the first market order): the leg rolls
    back instead of sending another, so a venue whose every placement hangs cannot keep the
    hedge waiting a horizon per order up to ``max_orders_per_leg``."""
    leg = make_leg(market_only=True)
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    assert isinstance(market, PlaceMarket)
    commands = _vanish(leg, market, at=0.1)
    assert [c for c in commands if isinstance(c, PlaceMarket)] == []
    assert leg.state == LegState.ROLLBACK
    assert leg.orders_sent == 1


def test_market_order_lost_by_a_restart_is_sent_again_once_provably_dead() -> None:
    """Recovery: the placement was journaled, the engine restarted before its answer (the
    ambiguity is the restart's, ``restarted=True``). Once provably dead it is sent again
    under a new id, even though the first market order went 10.3 s earlier: the recovered
    run's fallback time counts from the market order it sends itself."""
    leg = make_leg(market_only=True)
    market = only(feed(leg, Start(now=0.0)), PlaceMarket)
    assert isinstance(market, PlaceMarket)
    commands = _vanish(leg, market, at=0.1, restarted=True)
    again = only(commands, PlaceMarket)
    assert isinstance(again, PlaceMarket)
    assert again.client_order_id != market.client_order_id
    assert again.quantity == market.quantity == D("10")
    assert leg.state == LegState.MARKET_FALLBACK


def test_confirmation_that_repeats_an_understated_fill_confirms_nothing() -> None:
    """Found by the stateful test under seed 110: a poll saw 6 of 10 filled, the cancel's
    answer says CANCELED with 2 (below what was seen: doubtful), and the confirming query,
    from a lagging replica, says CANCELED with 4, still below the 6 seen. Fills never go
    back, so that is no confirmation: the leg asks again instead of sizing from 6 (the truth
    here is 7). The next answer, CANCELED 7, confirms, and the next order is 10 - 7 = 3."""
    leg = make_leg()
    place = start_and_place(leg)
    feed(leg, OrderAcked(now=0.01, order=report(place, status=OPEN)))
    feed(leg, OrderUpdated(now=0.1, order=report(place, status=OrderStatus.PARTIALLY_FILLED, filled="6")))
    assert leg.state == LegState.PARTIAL
    asked = feed(leg, CancelConfirmed(now=0.2, order=report(place, status=OrderStatus.CANCELED, filled="2")))
    assert leg.state == LegState.CONFIRMING
    assert [c for c in asked if isinstance(c, QueryOrder)] != []
    again = feed(leg, OrderUpdated(now=0.3, order=report(place, status=OrderStatus.CANCELED, filled="4")))
    assert leg.state == LegState.CONFIRMING
    assert [c for c in again if isinstance(c, PlaceLimit | PlaceMarket)] == []
    timer = only(again, WaitUntil)
    assert isinstance(timer, WaitUntil)
    feed(leg, TimerFired(now=timer.at, token=timer.token))
    feed(leg, OrderUpdated(now=timer.at, order=report(place, status=OrderStatus.CANCELED, filled="7")))
    assert leg.state == LegState.RETRY
    assert leg.ledger.filled == D("7")
    # The backoff, then the next attempt is priced and sized from the confirmed 7.
    feed(leg, TimerFired(now=timer.at + 1.0, token=leg.timer_token))
    following = start_and_place(leg, now=timer.at + 1.0)
    assert following.quantity == D("3")
