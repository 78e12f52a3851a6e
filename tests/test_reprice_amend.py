"""Book-driven reprices amend in place; an adopted entry is judged on the book (issue 13).

What is guarded here (commit "Leg: book-driven reprices amend in place..."):

* A book reprice (``book_updated``, a polled ``bbo_received``, the poll timer) goes to
  ``amending`` (an ``AmendOrder`` of the same order) where the venue amends, the order is
  known and the wanted price keeps a post-only order post-only; else it cancels and replaces.
* An adopted entry order is judged on the book from the handoff: as the ladder's first rung,
  at the entry's price, its minimum rest counted from when the *entry* was sent.
* No reprice that would leave the order where it is; none while an amend is out; an adopted
  order's fill from before the handoff does not block it.
* A book reprice by amend keeps the rung (``book_reprices``, not ``attempts``).
* Urgency: ``risk_aversion * share * sigma * sqrt(now - trigger_at)`` against the crossing cost
  (spread plus taker-maker fee gap), sigma measured on the leg's book else
  ``HedgeConfig.volatility_bps``.
* And the follow-ups on main: an urgent reprice to the touch does not wait out the rest; an
  order that may take is amended to a passive price only when hurried (else cancel and
  replace); an amend refused as post-only keeps the order where it was.

Three of them were ``xfail(strict=True)`` until the fixes landed: an amend to a new price now
restarts the minimum rest; an amend given up on no longer holds the replacement's reprices;
the supervisor keeps the latest pushed quote until the leg's hedge starts, so an adopted entry
the book left before the handoff is repriced at the start.

Every expected price and time below is worked out by hand from the ladder's rules (tick 0.1,
one tick inside the spread, the touch at the opposite best), never read off the code.

Instrument ``TEST``: tick 0.1, lot 0.001, min quantity 0.01, min notional 10, maker 2 bps,
taker 5 bps (a fee gap of 3 bps).
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal as D

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import BBO, ExecutionResult, HedgeConfig, Instrument, LegSpec, OrderInfo, OrderStatus, Side
from hedge_fsm.core.ledger import Ledger
from hedge_fsm.errors import RejectReason
from hedge_fsm.invariants import check_supervisor
from hedge_fsm.machines.commands import (
    AmendOrder,
    CancelOrder,
    Command,
    FetchBbo,
    PlaceLimit,
    PlaceMarket,
    QueryOrder,
    WaitUntil,
)
from hedge_fsm.machines.events import (
    AmendRejected,
    BboReceived,
    BookUpdated,
    CancelConfirmed,
    Event,
    OrderAcked,
    OrderAmended,
    OrderUpdated,
    Start,
    TimerFired,
)
from hedge_fsm.machines.leg import LegHedge, LegState
from hedge_fsm.sim import BookConfig, MarketModel, SimVenue, SymbolSpec
from hedge_fsm.sim.driver import SimEngine
from hedge_fsm.venue import AmendSupport, VenueCapabilities
from tests.test_engine import InvariantWatch

TICK = D("0.1")
TEST = Instrument(
    symbol="TEST",
    tick_size=TICK,
    lot_size=D("0.001"),
    min_quantity=D("0.01"),
    min_notional=D("10"),
    multiplier=D(1),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)
AMENDS = VenueCapabilities(amend=AmendSupport.NATIVE, book_stream=True)
NO_AMEND = VenueCapabilities(book_stream=True)
MIN_REST = 0.5  # HedgeConfig's default: half the opening attempt_wait of 1.5 s
CONFIG = HedgeConfig()  # no volatility prior: no urgency until a leg has measured one

# The adopted entry: a post-only sell resting at the ask of a one-tick book.
AT_HANDOFF = BBO(bid=D("100.0"), ask=D("100.1"), bid_size=D("5"), ask_size=D("5"))
ENTRY_PRICE = D("100.1")
# The book falls away from the sell, three ticks wide: one tick inside is bid + tick = 99.7
# (below the ask 99.9, so inside), more aggressive (lower) than the order's 100.1.
FALLEN = BBO(bid=D("99.6"), ask=D("99.9"), bid_size=D("5"), ask_size=D("5"))
FALLEN_INSIDE = D("99.7")


def adopted_sell(
    *,
    caps: VenueCapabilities = AMENDS,
    config: HedgeConfig = CONFIG,
    sent_at: float = -1.0,
    entry: D = D("1"),
    target: D = D("1"),
    filled: D = D(0),
    post_only: bool = True,
    price: D = ENTRY_PRICE,
    trigger_at: float | None = None,
) -> LegHedge:
    """A leg handed a resting entry sell (client id ``e1``, venue id ``v-e1``) at t = 0, the
    entry sent at ``sent_at`` with ``filled`` already filled; started, so it rests (polling)."""
    ledger = Ledger()
    record = ledger.register("e1", side=Side.SELL, quantity=entry, post_only=post_only)
    record.order_id = "v-e1"
    record.sent_at = sent_at
    if filled:
        ledger.apply(entry_report(entry, price, OrderStatus.PARTIALLY_FILLED, filled=filled))
    leg = LegHedge(
        leg=0, hedge_id="ra", venue="sim", instrument=TEST, side=Side.SELL, target=target,
        reduce_only=False, config=config, started_at=0.0, capabilities=caps,
        trigger_at=trigger_at, adopted=ledger.release("e1"), adopted_price=price,
    )
    leg.ledger.take_over(record)
    leg.feed(Start(now=0.0))
    return leg


def entry_report(
    quantity: D, price: D, status: OrderStatus = OrderStatus.OPEN, *, filled: D = D(0)
) -> OrderInfo:
    return OrderInfo(
        order_id="v-e1", client_order_id="e1", symbol="TEST", side=Side.SELL, quantity=quantity,
        price=price, status=status, filled_quantity=filled,
        average_price=ENTRY_PRICE if filled else None,
    )


def amends(commands: list[Command]) -> list[AmendOrder]:
    return [c for c in commands if isinstance(c, AmendOrder)]


def cancels(commands: list[Command]) -> list[CancelOrder]:
    return [c for c in commands if isinstance(c, CancelOrder)]


def replace_after_cancel(leg: LegHedge, now: float, bbo: BBO) -> tuple[PlaceLimit, list[Command]]:
    """Confirm the cancel of the entry at ``now``, fire the retry timer when it is due and,
    should the leg ask for a BBO, answer ``bbo``: the replacement order, and every command
    the leg sent on the way."""
    leg.feed(CancelConfirmed(now=now, order=entry_report(D("1"), ENTRY_PRICE, OrderStatus.CANCELED)))
    assert leg.state == LegState.RETRY
    sent = leg.drain()
    (wait,) = [c for c in sent if isinstance(c, WaitUntil)]
    leg.feed(TimerFired(now=wait.at, token=wait.token))
    sent += leg.drain()
    if leg.state == LegState.PRICING:
        leg.feed(BboReceived(now=wait.at + 0.02, bbo=bbo))
        sent += leg.drain()
    places = [c for c in sent if isinstance(c, PlaceLimit)]
    assert len(places) == 1, sent
    return places[0], sent


# ------------------------------------------------------------------ a. amend, or cancel and replace


def test_adopted_order_is_amended_at_the_first_book_update_after_its_rest() -> None:
    """The entry was sent 1 s before the handoff (past the 0.5 s rest); the first book update,
    50 ms after the handoff, shows the book fallen three ticks: the leg amends the same order
    (client id e1, venue id v-e1) to one tick inside the new spread, 99.7, quantity unchanged
    (None), and sends no cancel."""
    leg = adopted_sell()
    assert leg.state == LegState.POLLING
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    commands = leg.drain()
    assert leg.state == LegState.AMENDING
    assert cancels(commands) == []
    (amend,) = amends(commands)
    assert (amend.client_order_id, amend.order_id) == ("e1", "v-e1")
    assert (amend.price, amend.quantity) == (FALLEN_INSIDE, None)


def test_adopted_order_on_a_venue_without_amend_is_cancelled_and_replaced_at_the_same_rung() -> None:
    """The same move on a venue that cannot amend: the entry is cancelled at the first book
    update, and once the cancel is confirmed the replacement is a new post-only sell one tick
    inside the fallen book (99.7), a book reprice (``book_reprices`` 1), not a ladder attempt
    (``attempts`` stays 1: the adopted entry was attempt 0)."""
    leg = adopted_sell(caps=NO_AMEND)
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    commands = leg.drain()
    assert leg.state == LegState.CANCELLING
    assert amends(commands) == []
    assert [c.client_order_id for c in cancels(commands)] == ["e1"]
    place, sent = replace_after_cancel(leg, 0.07, FALLEN)
    # The book asked for it: no backoff, and priced on the stream's update (no BBO asked).
    assert not any(isinstance(c, FetchBbo) for c in sent)
    assert [c.at for c in sent if isinstance(c, WaitUntil)][0] == 0.07
    assert (place.price, place.post_only, place.quantity) == (FALLEN_INSIDE, True, D("1"))
    assert place.client_order_id != "e1"
    assert (leg.attempts, leg.book_reprices) == (1, 1)


def test_adopted_order_part_filled_before_the_handoff_is_still_repriced_on_the_book() -> None:
    """0.4 of the entry filled while it rested as an entry (before the trigger): that fill is
    not this attempt's, so it does not make the order a partial attempt nor block the book's
    reprice: the first update on the fallen book amends the order (the rest, 0.6, and its
    total, 1, unchanged) to 99.7."""
    leg = adopted_sell(filled=D("0.4"))
    assert leg.state == LegState.POLLING
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    assert leg.state == LegState.AMENDING
    (amend,) = amends(leg.drain())
    assert (amend.price, amend.quantity) == (FALLEN_INSIDE, None)


def test_entry_larger_than_the_target_is_amended_down_then_repriced_on_the_book() -> None:
    """An entry of 1.5 for a target of 1: the handoff amends it down to 1 at its price (the
    quantity only); once that is shown, the fallen book amends its price to 99.7 with no
    second change of size (the total is already the target)."""
    leg = adopted_sell(entry=D("1.5"))
    assert leg.state == LegState.AMENDING
    (down,) = amends(leg.drain())
    assert (down.price, down.quantity) == (None, D("1"))
    leg.feed(OrderAmended(now=0.02, order=entry_report(D("1"), ENTRY_PRICE)))
    assert leg.state == LegState.POLLING
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    (amend,) = amends(leg.drain())
    assert (amend.price, amend.quantity) == (FALLEN_INSIDE, None)
    assert (leg.attempts, leg.book_reprices) == (1, 1)


# ------------------------------------------------------------------ b. the rest counts from the entry's send


def test_adopted_order_within_its_rest_is_not_repriced_and_the_rest_counts_from_its_send() -> None:
    """The entry was sent 0.2 s before the handoff. A book update at 0.25 s (0.45 s after the
    send, inside the 0.5 s rest) that has fallen away is only noted; one at 0.31 s (0.51 s
    after the send, though only 0.31 s after the handoff) reprices it: the rest runs from when
    the entry was sent, not from the handoff."""
    leg = adopted_sell(sent_at=-0.2)
    leg.drain()
    leg.feed(BookUpdated(now=0.25, bbo=FALLEN))
    assert leg.state == LegState.POLLING
    assert amends(leg.drain()) == []
    assert CONFIG.min_rest == MIN_REST > 0.31  # the handoff's clock is still inside the rest
    leg.feed(BookUpdated(now=0.31, bbo=FALLEN))
    assert leg.state == LegState.AMENDING
    (amend,) = amends(leg.drain())
    assert amend.price == FALLEN_INSIDE


def test_adopted_order_rested_during_a_book_move_is_repriced_by_the_poll() -> None:
    """No update after the rest: the book fell inside the rest (noted only), and the first
    poll at or after 0.5 s from the entry's send reprices on the book last seen (the polling
    timer's ``is_reprice_due`` edge, by amend on an amending venue)."""
    leg = adopted_sell(sent_at=-0.2)
    leg.drain()
    leg.feed(BookUpdated(now=0.1, bbo=FALLEN))
    assert leg.state == LegState.POLLING
    leg.drain()
    leg.feed(TimerFired(now=0.2, token=leg.timer_token))  # 0.4 s after the send: still resting
    assert leg.state == LegState.POLLING
    assert amends(leg.drain()) == []
    leg.feed(TimerFired(now=0.3, token=leg.timer_token))  # 0.5 s after the send
    assert leg.state == LegState.AMENDING
    (amend,) = amends(leg.drain())
    assert amend.price == FALLEN_INSIDE


def test_without_a_quote_stream_the_polled_bbo_amends_the_adopted_order() -> None:
    """A venue that amends but pushes no quotes: once the entry has rested, each poll asks for
    the BBO with the order; the answer showing the fallen book goes straight to an amend of
    the same order to 99.7, priced on that answer (no second BBO asked)."""
    leg = adopted_sell(caps=VenueCapabilities(amend=AmendSupport.NATIVE, book_stream=False))
    leg.drain()
    leg.feed(TimerFired(now=0.1, token=leg.timer_token))
    assert any(isinstance(c, FetchBbo) for c in leg.drain())  # rested 1.1 s: the book is asked
    leg.feed(BboReceived(now=0.11, bbo=FALLEN))
    assert leg.state == LegState.AMENDING
    commands = leg.drain()
    assert not any(isinstance(c, FetchBbo) for c in commands)
    (amend,) = amends(commands)
    assert (amend.client_order_id, amend.price) == ("e1", FALLEN_INSIDE)


def test_attempt_timer_that_would_price_the_order_where_it_is_sends_no_amend() -> None:
    """The book never moves: at the adopted order's attempt deadline (1.5 s after the handoff)
    the next rung (one tick inside a one-tick book: the ask, 100.1) is where the order
    already rests, at its size: the leg keeps it with a new attempt's time (attempts 1 -> 2),
    and no AmendOrder (it would change nothing) is sent."""
    leg = adopted_sell()
    leg.drain()
    leg.feed(TimerFired(now=1.5, token=leg.timer_token))  # the first poll's timer, fired late
    assert leg.state == LegState.AMENDING
    assert any(isinstance(c, FetchBbo) for c in leg.drain())
    leg.feed(BboReceived(now=1.52, bbo=AT_HANDOFF))
    assert leg.state == LegState.POLLING
    assert amends(leg.drain()) == []
    assert (leg.attempts, leg.book_reprices) == (2, 0)


# ------------------------------------------------------------------ c. post-only and the touch


def crossing_cost(bbo: BBO) -> float:
    """The rule's crossing cost, by hand: the spread over the mid in bps plus the taker-maker
    fee gap (5 - 2 = 3 bps)."""
    mid = (bbo.bid + bbo.ask) / 2
    return float((bbo.ask - bbo.bid) / mid) * 1e4 + 3.0


# Volatility 10 bps/sqrt(s), the trigger 10 s before the handoff: by the first update the risk
# waited is 10 * sqrt(10.05) = 31.7 bps, past crossing the one-tick book (1000 / 100.05 + 3 =
# 13.0 bps): the ladder wants the touch, a sell at the bid 100.0, which is not post-only.
URGENT = HedgeConfig(volatility_bps=10.0)


def test_urgent_post_only_adopted_order_is_cancelled_not_amended_to_cross() -> None:
    """A post-only adopted sell that urgency wants at the touch: an amend to the bid would be
    refused as crossing, so the leg cancels it (no AmendOrder), and the replacement is the
    touch (100.0, not post-only), a book reprice, not an attempt."""
    assert 10.0 * math.sqrt(10.05) > crossing_cost(AT_HANDOFF)
    leg = adopted_sell(config=URGENT, trigger_at=-10.0, post_only=True)
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=AT_HANDOFF))
    commands = leg.drain()
    assert leg.state == LegState.CANCELLING
    assert amends(commands) == [] and [c.client_order_id for c in cancels(commands)] == ["e1"]
    place, _ = replace_after_cancel(leg, 0.07, AT_HANDOFF)
    assert (place.price, place.post_only) == (AT_HANDOFF.bid, False)
    assert (leg.attempts, leg.book_reprices) == (1, 1)


def test_urgent_adopted_order_that_is_not_post_only_is_amended_to_the_touch() -> None:
    """The same urgency on an adopted sell that is not post-only: amended in place (same
    order) to the touch, the bid 100.0."""
    leg = adopted_sell(config=URGENT, trigger_at=-10.0, post_only=False)
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=AT_HANDOFF))
    commands = leg.drain()
    assert leg.state == LegState.AMENDING
    assert cancels(commands) == []
    (amend,) = amends(commands)
    assert (amend.client_order_id, amend.price) == ("e1", AT_HANDOFF.bid)


def test_post_only_adopted_order_amends_while_the_wanted_price_stays_passive() -> None:
    """Post-only is only in the way of a crossing price: with the same volatility prior but the
    trigger only 0.5 s before, the risk waited (10 * sqrt(0.55) = 7.4 bps) is below half the
    crossing cost of the fallen three-tick book (0.3 / 99.75 * 1e4 + 3 = 33.1 bps), so the rung
    stays inside the spread and the post-only order is amended, to 99.7."""
    assert 10.0 * math.sqrt(0.55) < crossing_cost(FALLEN) / 2
    leg = adopted_sell(config=URGENT, trigger_at=-0.5, post_only=True)
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    (amend,) = amends(leg.drain())
    assert leg.state == LegState.AMENDING
    assert amend.price == FALLEN_INSIDE


def test_an_urgent_reprice_to_the_touch_does_not_wait_out_the_rest() -> None:
    """The rest guards queue priority, and a hedge that must cross has none to keep: the entry
    sent only 0.2 s before the handoff (inside its rest until 0.3 s) that urgency wants at the
    touch at 0.05 s is repriced at once: amended to the bid 100.0 when it may take, cancelled
    (to be replaced at the touch) when it is post-only."""
    taking = adopted_sell(config=URGENT, trigger_at=-10.0, post_only=False, sent_at=-0.2)
    taking.drain()
    taking.feed(BookUpdated(now=0.05, bbo=AT_HANDOFF))
    assert [a.price for a in amends(taking.drain())] == [AT_HANDOFF.bid]
    passive = adopted_sell(config=URGENT, trigger_at=-10.0, post_only=True, sent_at=-0.2)
    passive.drain()
    passive.feed(BookUpdated(now=0.05, bbo=AT_HANDOFF))
    assert passive.state == LegState.CANCELLING
    assert [c.client_order_id for c in cancels(passive.drain())] == ["e1"]


def test_an_order_that_may_take_is_not_amended_to_a_passive_price_unhurried() -> None:
    """An adopted sell that is not post-only, the book fallen, no urgency: the ladder wants a
    post-only price (99.7); an amend cannot make the order post-only, and if the book moved on
    before it lands it would take at the 3 bps fee gap: the leg cancels and replaces instead."""
    leg = adopted_sell(post_only=False)
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    assert leg.state == LegState.CANCELLING
    assert amends(leg.drain()) == []


def test_an_order_that_may_take_is_amended_to_a_passive_price_when_hurried() -> None:
    """The same order once waiting has cost half of crossing: sigma 10, the trigger 4 s before,
    so at 0.05 s the risk is 10 * sqrt(4.05) = 20.1 bps, at least half the fallen book's
    crossing cost (0.3 / 99.75 * 1e4 + 3 = 33.1 bps) but short of all of it: still one tick
    inside (99.7), and amended in place, taking the fee-gap risk to save the round trip."""
    risk = 10.0 * math.sqrt(4.05)
    assert crossing_cost(FALLEN) / 2 <= risk < crossing_cost(FALLEN)
    leg = adopted_sell(config=URGENT, trigger_at=-4.0, post_only=False)
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    assert leg.state == LegState.AMENDING
    assert [a.price for a in amends(leg.drain())] == [FALLEN_INSIDE]


def test_an_amend_refused_as_post_only_keeps_the_order_and_the_book_reprices_it_again() -> None:
    """The book moved during the amend's latency and the venue refused it as crossing: the
    order rests unchanged at 100.1 (not cancelled); the next book update, still fallen,
    amends it again to 99.7."""
    leg = adopted_sell()
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    assert len(amends(leg.drain())) == 1
    leg.feed(AmendRejected(now=0.07, client_order_id="e1", reason=RejectReason.POST_ONLY))
    assert leg.state == LegState.POLLING
    commands = leg.drain()
    assert cancels(commands) == [] and amends(commands) == []
    assert leg.order_price == ENTRY_PRICE
    leg.feed(BookUpdated(now=0.1, bbo=FALLEN))
    assert [a.price for a in amends(leg.drain())] == [FALLEN_INSIDE]


# ------------------------------------------------------------------ d. amends keep the rung


def amended(leg: LegHedge, amend: AmendOrder, now: float, *, quantity: D = D("1")) -> None:
    """The venue shows the amend: the order rests at its new price."""
    assert amend.price is not None
    leg.feed(OrderAmended(now=now, order=entry_report(quantity, amend.price)))
    assert leg.state == LegState.POLLING
    leg.drain()


def test_book_reprices_by_amend_are_no_attempts_and_never_climb_the_ladder() -> None:
    """Three book moves, each a tick further down (a three-tick spread each time), amend the
    adopted sell three times to one tick inside each book (99.7, 99.6, 99.5): ``attempts``
    stays 1 (the adopted entry), ``book_reprices`` counts 3, and every amend is post-only
    inside the spread at the first rung, never the touch."""
    leg = adopted_sell()
    leg.drain()
    now = 0.0
    prices = []
    for step in range(3):
        now += 0.6  # each move after a full rest at the last price
        down = D(step) * TICK
        book = BBO(bid=FALLEN.bid - down, ask=FALLEN.ask - down, bid_size=D("5"), ask_size=D("5"))
        leg.feed(BookUpdated(now=now, bbo=book))
        assert leg.state == LegState.AMENDING, f"move {step} was not repriced"
        (amend,) = amends(leg.drain())
        assert amend.client_order_id == "e1"
        assert amend.price is not None and amend.price > book.bid  # passive: not the touch
        prices.append(amend.price)
        assert (leg.attempts, leg.book_reprices, leg.rung_index) == (1, step + 1, 1)
        amended(leg, amend, now + 0.02)
    assert prices == [D("99.7"), D("99.6"), D("99.5")]


def test_no_second_reprice_while_an_amend_is_out() -> None:
    """While the amend to 99.7 is unanswered, the book falls twice more: both updates are only
    noted (no second AmendOrder, no cancel: one change of the order at a time)."""
    leg = adopted_sell()
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    assert len(amends(leg.drain())) == 1
    for i, now in enumerate((0.06, 0.07), start=1):
        down = D(i) * TICK
        book = BBO(bid=FALLEN.bid - down, ask=FALLEN.ask - down, bid_size=D("5"), ask_size=D("5"))
        leg.feed(BookUpdated(now=now, bbo=book))
        assert leg.state == LegState.AMENDING
        commands = leg.drain()
        assert amends(commands) == [] and cancels(commands) == []
    assert leg.book_reprices == 1


def test_an_order_amended_to_a_new_price_rests_the_minimum_rest_before_the_next_reprice() -> None:
    """Priority is not thrown away on noise after an amend either: the adopted sell is amended
    to 99.7 at 0.05 s (the venue shows it at 0.07 s, at the back of the 99.7 queue); a further
    tick down at 0.15 s (0.1 s after the amend, inside the 0.5 s rest) must not reprice it
    again, exactly as a replacement placed at 0.05 s would not be; at 0.6 s it may."""
    leg = adopted_sell()
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    (amend,) = amends(leg.drain())
    amended(leg, amend, 0.07)
    lower = BBO(bid=D("99.5"), ask=D("99.8"), bid_size=D("5"), ask_size=D("5"))
    leg.feed(BookUpdated(now=0.15, bbo=lower))
    assert leg.state == LegState.POLLING
    assert amends(leg.drain()) == []


def _replace_after_refused_amend(leg: LegHedge) -> PlaceLimit:
    """Book update -> amend refused -> cancel confirmed -> backoff -> a new order at 99.7 (sent
    at 0.165 s, after the 75 ms backoff), acknowledged at 0.24 s; the leg rests it (polling)."""
    leg.drain()
    leg.feed(BookUpdated(now=0.05, bbo=FALLEN))
    assert amends(leg.drain())
    leg.feed(AmendRejected(now=0.07, client_order_id="e1", message="price band"))
    assert leg.state == LegState.CANCELLING
    leg.drain()
    place, _ = replace_after_cancel(leg, 0.09, FALLEN)
    assert place.price == FALLEN_INSIDE
    info = OrderInfo(
        order_id="v2", client_order_id=place.client_order_id, symbol="TEST", side=Side.SELL,
        quantity=place.quantity, price=place.price, status=OrderStatus.OPEN,
    )
    leg.feed(OrderAcked(now=0.24, order=info))
    assert leg.state == LegState.POLLING
    leg.drain()
    return place


def test_the_replacement_after_a_refused_amend_is_still_repriced_on_the_book() -> None:
    """A refused amend falls back to cancel and replace; the replacement (99.7, sent at
    0.165 s) is an ordinary resting order: when the book falls three more ticks at 1.0 s (0.835 s
    after it was sent, past the rest, inside its 1.5 s attempt), it is repriced (to one tick
    inside, 99.4), by amend or by cancel."""
    leg = adopted_sell()
    place = _replace_after_refused_amend(leg)
    lower = BBO(bid=D("99.3"), ask=D("99.6"), bid_size=D("5"), ask_size=D("5"))
    leg.feed(BookUpdated(now=1.0, bbo=lower))
    commands = leg.drain()
    assert leg.state in (LegState.AMENDING, LegState.CANCELLING)
    assert [a.price for a in amends(commands)] == [D("99.4")] or [
        c.client_order_id for c in cancels(commands)
    ] == [place.client_order_id]


# ------------------------------------------------------------------ e. no amend that changes nothing


@dataclasses.dataclass
class _Order:
    """One order as the venue holds it."""

    order_id: str
    price: D
    quantity: D
    filled: D
    status: OrderStatus
    post_only: bool

    @property
    def live(self) -> bool:
        return self.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


class _Truth:
    """A minimal honest venue for one leg: it keeps each order's price, size and fill and
    answers the leg's commands in the order they were sent, when the test says so."""

    def __init__(self, entry: D, filled: D, post_only: bool) -> None:
        status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.OPEN
        self.orders = {"e1": _Order("v-e1", ENTRY_PRICE, entry, filled, status, post_only)}
        self.pending: list[Command] = []
        self.timer: tuple[float, int] | None = None
        self.book = AT_HANDOFF
        self.amends_seen = 0

    def info(self, client_id: str) -> OrderInfo:
        order = self.orders[client_id]
        return OrderInfo(
            order_id=order.order_id, client_order_id=client_id, symbol="TEST", side=Side.SELL,
            quantity=order.quantity, price=order.price, status=order.status,
            filled_quantity=order.filled, average_price=order.price if order.filled else None,
        )

    def take(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, AmendOrder):
                self.check_amend(command)
            if isinstance(command, WaitUntil):
                self.timer = (command.at, command.token)
            else:
                self.pending.append(command)

    def check_amend(self, amend: AmendOrder) -> None:
        """The property: an amend asks for a new price or a new size of the order as it is."""
        order = self.orders[amend.client_order_id]
        assert amend.price is not None or amend.quantity is not None, amend
        assert (amend.price is not None and amend.price != order.price) or (
            amend.quantity is not None and amend.quantity != order.quantity
        ), f"{amend} changes nothing of {order}"
        self.amends_seen += 1

    def answer(self, now: float) -> Event | None:
        """The venue's answer to the oldest command still unanswered (None: it needs none)."""
        command = self.pending.pop(0)
        if isinstance(command, FetchBbo):
            return BboReceived(now=now, bbo=self.book)
        if isinstance(command, PlaceLimit):
            self.orders[command.client_order_id] = _Order(
                f"v-{command.client_order_id}", command.price, command.quantity, D(0),
                OrderStatus.OPEN, command.post_only,
            )
            return OrderAcked(now=now, order=self.info(command.client_order_id))
        if isinstance(command, PlaceMarket):
            self.orders[command.client_order_id] = _Order(
                f"v-{command.client_order_id}", self.book.bid, command.quantity, command.quantity,
                OrderStatus.FILLED, False,
            )
            return OrderAcked(now=now, order=self.info(command.client_order_id))
        if isinstance(command, QueryOrder):
            return OrderUpdated(now=now, order=self.info(command.client_order_id))
        if isinstance(command, CancelOrder):
            order = self.orders[command.client_order_id]
            if order.live:
                order.status = OrderStatus.CANCELED
            return CancelConfirmed(now=now, order=self.info(command.client_order_id))
        if isinstance(command, AmendOrder):
            order = self.orders[command.client_order_id]
            price = command.price if command.price is not None else order.price
            quantity = command.quantity if command.quantity is not None else order.quantity
            if not order.live or (order.post_only and price <= self.book.bid) or quantity <= order.filled:
                return AmendRejected(now=now, client_order_id=command.client_order_id)
            order.price, order.quantity = price, quantity
            return OrderAmended(now=now, order=self.info(command.client_order_id))
        return None

    def fill(self, client_id: str, quantity: D) -> None:
        """Someone lifts ``quantity`` of the order (capped at its rest)."""
        order = self.orders.get(client_id)
        if order is not None and order.live:
            order.filled = min(order.quantity, order.filled + quantity)
            full = order.filled == order.quantity
            order.status = OrderStatus.FILLED if full else OrderStatus.PARTIALLY_FILLED


# A book move: the bid steps by a few ticks (mostly down, away from the sell), the spread
# is one to four ticks.
_moves = st.tuples(st.integers(-3, 2), st.integers(1, 4), st.integers(1, 10))


def _moved(book: BBO, move: tuple[int, int, int]) -> BBO:
    step, spread, size = move
    bid = max(book.bid + step * TICK, D("90"))
    return BBO(bid=bid, ask=bid + spread * TICK, bid_size=D(size), ask_size=D(size))


_book_step = st.tuples(st.just("book"), st.floats(0.01, 0.4), _moves)
_answer_step = st.tuples(st.just("answer"), st.floats(0.0, 0.05), st.none())
_steps = st.lists(
    st.one_of(
        # Book moves and the venue's answers most of the time: amends happen between them.
        _book_step,
        _book_step,
        _answer_step,
        _answer_step,
        st.tuples(st.just("timer"), st.floats(0.0, 0.0), st.none()),
        st.tuples(st.just("fill"), st.floats(0.0, 0.05), st.sampled_from([D("0.1"), D("0.3")])),
    ),
    min_size=10,
    max_size=60,
)


@given(
    steps=_steps,
    entry=st.sampled_from([D("1"), D("1.5")]),
    before=st.sampled_from([D(0), D("0.2")]),
    post_only=st.booleans(),
    volatility=st.sampled_from([None, 5.0, 40.0]),
    sent_at=st.sampled_from([-1.0, -0.2]),
)
def test_no_amend_the_leg_sends_leaves_the_order_as_it_is(
    steps: list[tuple[str, float, object]],
    entry: D,
    before: D,
    post_only: bool,
    volatility: float | None,
    sent_at: float,
) -> None:
    """Whatever the book does (a random walk, one to four ticks wide, at random times), with
    the venue's answers, timers and others' fills interleaved at random: every AmendOrder the
    leg sends changes the order's price or its size as the venue holds it, never neither
    (an amend that changes nothing is a wasted round trip and, on some venues, a lost place).
    The adopted entry may be larger than the target (1), part-filled before the handoff, post-only
    or not; urgency off or on."""
    config = HedgeConfig(volatility_bps=volatility)
    truth = _Truth(entry, before, post_only)
    leg = adopted_sell(
        config=config, entry=entry, filled=before, post_only=post_only, sent_at=sent_at,
        trigger_at=-0.5,
    )
    truth.take(leg.drain())
    now = 0.0
    for kind, dt, payload in steps:
        if leg.is_finished:
            break
        now += dt
        event: Event | None = None
        if kind == "book":
            assert isinstance(payload, tuple)
            truth.book = _moved(truth.book, payload)
            event = BookUpdated(now=now, bbo=truth.book)
        elif kind in ("answer", "timer") and truth.pending:
            # A timer fires once the venue has answered (a silent venue is not this test's).
            event = truth.answer(now)
        elif kind == "timer" and truth.timer is not None:
            now = max(now, truth.timer[0])
            event = TimerFired(now=now, token=truth.timer[1])
        elif kind == "fill" and leg.current is not None:
            assert isinstance(payload, D)
            truth.fill(leg.current.client_order_id, payload)
        if event is not None:
            leg.feed(event)
            truth.take(leg.drain())
    hypothesis.event(f"amends sent: {min(truth.amends_seen, 3)}{'+' if truth.amends_seen >= 3 else ''}")


# ------------------------------------------------------------------ f. urgency: the risk waited

# Two ticks wide at a mid of 100: crossing costs 0.2 / 100 * 1e4 = 20 bps of spread plus the
# 3 bps fee gap, 23 bps. An adopted sell (not post-only) rests one tick inside, at 100.0,
# exactly where the ladder's first rungs want it: only urgency (the touch, the bid 99.9) moves it.
TWO_TICKS = BBO(bid=D("99.9"), ask=D("100.1"), bid_size=D("5"), ask_size=D("5"))
INSIDE = D("100.0")
CROSSING = 23.0


def resting_inside(config: HedgeConfig, *, trigger_at: float = 0.0) -> LegHedge:
    leg = adopted_sell(config=config, price=INSIDE, post_only=False, trigger_at=trigger_at)
    leg.drain()
    return leg


def touch_at(leg: LegHedge, now: float, bbo: BBO = TWO_TICKS) -> D | None:
    """Feed a book update at ``now``: the price the leg amends to, None if it keeps its place."""
    leg.feed(BookUpdated(now=now, bbo=bbo))
    prices = [a.price for a in amends(leg.drain())]
    assert prices == [] or leg.state == LegState.AMENDING
    return prices[0] if prices else None


def test_urgency_crosses_once_the_risk_waited_reaches_the_crossing_cost_and_not_before() -> None:
    """sigma 23 bps/sqrt(s) (the prior), risk aversion 1, the whole target unhedged: the risk
    waited is 23 * sqrt(t) bps t seconds after the trigger, so it reaches the 23 bps of crossing
    at t = 1 s. At 0.99 s (22.9 bps) the order keeps its place; at 1.01 s (23.1 bps) it is
    amended to the touch, the bid 99.9 (the budget's 6 s are far from spent: the budget is a
    ceiling, not the plan)."""
    assert crossing_cost(TWO_TICKS) == pytest.approx(CROSSING)
    leg = resting_inside(HedgeConfig(volatility_bps=23.0, risk_aversion=1.0))
    assert touch_at(leg, 0.99) is None
    assert touch_at(leg, 1.01) == TWO_TICKS.bid


def test_the_venue_round_trip_counts_half_of_it_as_time_already_waited() -> None:
    """A venue whose placements took 0.4 s to acknowledge: an order sent now reaches it 0.2 s
    later, so the risk counted is 23 * sqrt(t + 0.2), which reaches the 23 bps of crossing at
    t = 0.8 s (not 1 s as with no round trip known). At 0.79 s (22.9 bps) the order keeps its
    place; at 0.81 s (23.1 bps) it is amended to the touch."""
    leg = resting_inside(HedgeConfig(volatility_bps=23.0, risk_aversion=1.0))
    leg.round_trip = 0.4
    assert touch_at(leg, 0.79) is None
    assert touch_at(leg, 0.81) == TWO_TICKS.bid


def test_risk_aversion_scales_the_risk() -> None:
    """Risk aversion 2 doubles the risk: 2 * 23 * sqrt(t) reaches 23 bps at t = 0.25 s, so the
    same leg keeps its place at 0.24 s and crosses at 0.26 s."""
    leg = resting_inside(HedgeConfig(volatility_bps=23.0, risk_aversion=2.0))
    assert touch_at(leg, 0.24) is None
    assert touch_at(leg, 0.26) == TWO_TICKS.bid


def test_the_share_still_unhedged_scales_the_risk() -> None:
    """Half the target filled before the handoff (the adopted entry's own fill): the risk is
    0.5 * 46 * sqrt(t), the crossing cost reached at t = 1 s, not at the 0.25 s a whole
    unhedged target would take at 46 bps/sqrt(s). And the pre-handoff fill does not stop the
    adopted order from being repriced."""
    config = HedgeConfig(volatility_bps=46.0)
    leg = adopted_sell(config=config, price=INSIDE, post_only=False, trigger_at=0.0, filled=D("0.5"))
    leg.drain()
    assert leg.state == LegState.POLLING
    assert touch_at(leg, 0.3) is None  # a whole target would have crossed at 0.25 s
    assert touch_at(leg, 0.99) is None
    assert touch_at(leg, 1.01) == TWO_TICKS.bid


def test_risk_aversion_zero_never_crosses_early() -> None:
    """Risk aversion 0 turns urgency off: even a 1000 bps/sqrt(s) prior, 1.4 s after the
    trigger (a risk of 1183 bps at aversion 1), leaves the order inside the spread until its
    attempt's own time is up."""
    leg = resting_inside(HedgeConfig(volatility_bps=1000.0, risk_aversion=0.0))
    for now in (0.3, 0.8, 1.01, 1.4):
        assert touch_at(leg, now) is None
    assert leg.state == LegState.POLLING


def test_no_volatility_at_all_never_crosses_early() -> None:
    """No prior (``volatility_bps=None``) and no measured volatility (a single book update
    says nothing): no urgency, the order keeps its place."""
    leg = resting_inside(HedgeConfig())
    assert touch_at(leg, 1.4) is None


def test_a_measured_volatility_replaces_the_prior() -> None:
    """A 15 bps/sqrt(s) prior would cross, the trigger 1 s before the handoff, once
    15 * sqrt(1 + t) >= 23, at t = (23 / 15)^2 - 1 = 1.35 s: a leg that saw no book until then
    crosses at 1.4 s. A leg that saw the book sit still at 0.0, 0.5 and 1.0 s (three samples
    over a second: a measured volatility of 0) does not: the measurement replaces the prior."""
    config = HedgeConfig(volatility_bps=15.0)
    assert 1.35 < (CROSSING / 15.0) ** 2 - 1.0 < 1.4
    blind = resting_inside(config, trigger_at=-1.0)
    assert touch_at(blind, 1.4) == TWO_TICKS.bid
    watched = resting_inside(config, trigger_at=-1.0)
    for now in (0.0, 0.5, 1.0):  # 15 * sqrt(2.0) = 21.2 bps at 1.0 s: below the crossing cost
        assert touch_at(watched, now) is None
    assert touch_at(watched, 1.4) is None


def test_a_measured_volatility_drives_urgency_without_a_prior() -> None:
    """No prior, but the book's mid flickers between 100.0 and 100.05 every 25 ms for a second
    (the ask 100.1 / 100.2, the bid 99.9: the sell at 100.0 stays one tick inside): 40 moves of
    ln(100.05 / 100) each per second measure sigma = sqrt(40) * ln(1.0005) * 1e4 = 31.6
    bps/sqrt(s), from a quarter second of samples on. The risk 31.6 * sqrt(t) passes the 23 bps
    of crossing at t = 0.53 s: at 0.525 s (22.9 bps) the order keeps its place, at 0.55 s
    (23.4 bps) it goes to the touch."""
    sigma = math.sqrt(40 * math.log(100.05 / 100.0) ** 2 / 1.0) * 1e4
    assert sigma * math.sqrt(0.525) < CROSSING < sigma * math.sqrt(0.55)
    wider = BBO(bid=D("99.9"), ask=D("100.2"), bid_size=D("5"), ask_size=D("5"))
    leg = resting_inside(HedgeConfig())
    for i in range(22):
        assert touch_at(leg, 0.025 * i, TWO_TICKS if i % 2 == 0 else wider) is None
    assert touch_at(leg, 0.55, TWO_TICKS) == TWO_TICKS.bid


# ------------------------------------------------------------------ end to end on the sync driver
#
# Two quiet simulated venues (no volatility, no random trades, no latency), one tick wide at
# 100.0 / 100.1. The entry buys 1 on a at its bid and sells 1 on b at its ask. The script: a's
# entry is hit at 0.7 s (the trigger; the supervisor sees it at its 0.75 s entry poll and hands
# b's resting entry over); b's book falls to 99.5 / 99.6 at 0.8 s; someone lifts b's asks at
# 1.5 s. b's entry was sent at 0.0 s: by 0.8 s it has rested past the 0.5 s minimum, though
# only 0.05 s have passed since the handoff. The ladder on b's fallen book: break-even (the
# trigger bought at 100.0: 100.0 * 1.0002 / 0.9998 = 100.04, up to the tick 100.1) is more than
# two ticks behind one tick inside (99.6, the ask itself on a one-tick book), so not feasible;
# the first rung is one tick inside, 99.6, post-only.

E2E_BOOK = BookConfig(reference_price=D("100.0"), spread_ticks=1, depth=D("1.0"), depth_levels=5)
E2E_LEGS = [
    LegSpec(venue="a", symbol="TEST", side=Side.BUY, quantity=D("1"), price=D("100.0")),
    LegSpec(venue="b", symbol="TEST", side=Side.SELL, quantity=D("1"), price=D("100.1")),
]
TRIGGER_AT, MOVE_AT, LIFT_AT = 0.7, 0.8, 1.5


def _e2e(
    caps: VenueCapabilities, *, move_at: float = MOVE_AT
) -> tuple[ExecutionResult, SimVenue, InvariantWatch]:
    """The script above on the synchronous driver (``SimEngine``); b has ``caps``. Checks the
    venues' truth at the end: positions are what the results say, nothing is left open."""
    market = MarketModel(3)
    a = SimVenue("a", market, [SymbolSpec(instrument=TEST, book=E2E_BOOK)], capabilities=VenueCapabilities())
    b = SimVenue("b", market, [SymbolSpec(instrument=TEST, book=E2E_BOOK)], capabilities=caps)
    watch = InvariantWatch()
    engine = SimEngine({"a": a, "b": b}, HedgeConfig(), observers=[watch], hedge_ids=lambda: "x1")
    hit = D("100.0")
    engine.loop.call_at(TRIGGER_AT, lambda: a.hooks.inject_trade("TEST", Side.SELL, D("2.0"), price=hit))
    engine.loop.call_at(move_at, lambda: b.hooks.set_quote("TEST", bid=D("99.5"), ask=D("99.6")))
    engine.loop.call_at(LIFT_AT, lambda: b.hooks.inject_trade("TEST", Side.BUY, D("3.0")))
    result = engine.execute(E2E_LEGS)
    positions = [venue.positions()["TEST"] for venue in (a, b)]
    assert watch.supervisor is not None
    assert check_supervisor(watch.supervisor, positions) + watch.problems == []
    assert positions == [leg.filled_quantity * (1 if leg.side is Side.BUY else -1) for leg in result.legs]
    assert a.open_orders() == [] and b.open_orders() == []
    return result, b, watch


def _requests(venue: SimVenue, operation: str) -> list[tuple[float, str]]:
    return [
        (r.time, r.detail) for r in venue.log
        if r.event == "request" and r.detail.split(" ", 1)[0] == operation
    ]


def test_e2e_adopted_entry_is_amended_in_place_when_the_book_moves_after_its_rest() -> None:
    """Amend-capable b: the adopted entry (b's only order, venue id b-1) is amended once, at
    the book move itself (0.8 s: the stream's update, no latency), to 99.6, before the handoff
    plus the minimum rest (1.25 s) — the rest counted from the entry's send at 0.0 s, which the
    supervisor handed over with the record — and never cancelled; it fills at 99.6 when the
    asks are lifted, and the hedge is done with the book reprice no ladder attempt."""
    result, b, watch = _e2e(VenueCapabilities(amend=AmendSupport.NATIVE, book_stream=True))
    assert result.state == "done"
    (entry_sent, _), = _requests(b, "place_limit")
    assert entry_sent == 0.0
    assert watch.supervisor is not None
    hedge = watch.supervisor.plans[1].hedge
    assert hedge is not None and hedge.adopted is not None
    assert hedge.adopted.sent_at == entry_sent
    handoff = next(t.time for t in result.transitions if t.machine == "leg" and t.leg == 1)
    assert TRIGGER_AT < handoff < MOVE_AT
    ((amended_at, detail),) = _requests(b, "amend_order")
    assert amended_at == pytest.approx(MOVE_AT) and amended_at < handoff + MIN_REST
    assert detail == "amend_order TEST b-1 price=99.6 quantity=None"
    assert _requests(b, "cancel") == []
    assert [o.order_id for o in b.orders()] == ["b-1"]
    leg = result.legs[1]
    assert (leg.filled_quantity, leg.average_price) == (D("1"), D("99.6"))
    assert (hedge.attempts, hedge.book_reprices) == (1, 1)


def test_e2e_venue_without_amend_cancels_the_adopted_entry_and_replaces_it() -> None:
    """b without amend: at the same move the adopted entry is cancelled (at 0.8 s, before the
    handoff plus the rest), and the replacement is a new post-only sell at 99.6 (one tick
    inside the fallen book), which fills; no amend is ever sent, and the replacement is a book
    reprice, not a ladder attempt."""
    result, b, watch = _e2e(VenueCapabilities(book_stream=True))
    assert result.state == "done"
    assert _requests(b, "amend_order") == []
    ((cancelled_at, detail),) = _requests(b, "cancel")
    assert cancelled_at == pytest.approx(MOVE_AT) and "b-1" in detail
    places = _requests(b, "place_limit")
    assert len(places) == 2
    assert places[1][1].startswith("place_limit x1h1n0 TEST sell 1.000 @ 99.6 post_only=True")
    leg = result.legs[1]
    assert (leg.filled_quantity, leg.average_price) == (D("1"), D("99.6"))
    assert watch.supervisor is not None
    hedge = watch.supervisor.plans[1].hedge
    assert hedge is not None and (hedge.attempts, hedge.book_reprices) == (1, 1)


def test_e2e_a_book_that_moved_before_the_handoff_reprices_the_adopted_entry_soon_after_it() -> None:
    """b's book falls at 0.6 s, before the trigger, and then stays still. The adopted entry
    (resting since 0.0 s) is away from the book from the handoff (0.75 s) on: it is judged on
    the book from the handoff, so it is amended well before the handoff plus the rest (1.25 s),
    not left at 100.1 until its attempt's time is up (0.75 + 1.5 = 2.25 s)."""
    result, b, _ = _e2e(VenueCapabilities(amend=AmendSupport.NATIVE, book_stream=True), move_at=0.6)
    handoff = next(t.time for t in result.transitions if t.machine == "leg" and t.leg == 1)
    first_amend = _requests(b, "amend_order")[0][0]
    assert first_amend < handoff + MIN_REST
