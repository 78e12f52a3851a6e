"""Issue 11, the leg machine's part: regression tests through the public API, on virtual time.

Each test hedges on a scripted venue (``tests/scripted.py``) that misbehaves the way real
venues do, and checks *venue truth* at the end: the venue's position equals what the result
says was traded, no order is left open, the fills never exceed the target, and ``done``
means within one lot of it.

Instrument: BTC, tick 0.1, lot 0.001, quoted 100.0 / 100.2. A direct hedge sells 1 BTC on
venue ``b`` with no trigger, so attempt 0 is priced inside the spread (a post-only sell at
100.1) unless a test sets ``inside_tick_attempts=0`` (then the touch, 100.0, marketable).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal as D

from hedge_fsm import ExecutionResult, HedgeConfig, HedgeEngine, HedgeTarget, RetryPolicy, Side
from hedge_fsm.sim.loop import run
from hedge_fsm.venue import VenueCapabilities
from tests.scripted import Cancel, Place, ScriptedVenue
from tests.test_engine import BTC, btc_bbo

TARGET = D("1")
Action = tuple[float, Callable[[], object]]


def venue(**kwargs: object) -> ScriptedVenue:
    return ScriptedVenue("b", [BTC], {"BTC": btc_bbo()}, **kwargs)  # type: ignore[arg-type]


def hedge(
    b: ScriptedVenue,
    *,
    actions: Sequence[Action] = (),
    config: HedgeConfig | None = None,
    market_only: bool = False,
    check_done: bool = True,
) -> tuple[ExecutionResult, float]:
    """Sell ``TARGET`` on ``b`` directly; check venue truth; return the result and its end time."""

    async def main() -> tuple[ExecutionResult, float]:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        engine = HedgeEngine({"b": b}, config or HedgeConfig(), hedge_ids=lambda: "g1")
        result = await engine.hedge(
            [HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=TARGET)],
            market_only=market_only,
        )
        return result, loop.time()

    result, ended = run(main())
    leg = result.legs[0]
    assert b.live_orders() == [], f"open orders left: {b.live_orders()}"
    assert b.positions["BTC"] == -leg.filled_quantity, "the venue moved by what the result says"
    assert leg.filled_quantity <= TARGET, f"over-hedged: {leg.filled_quantity} > {TARGET}"
    if result.state == "done" and check_done:
        assert TARGET - leg.filled_quantity < BTC.lot_size
    return result, ended


def first_order_id(b: ScriptedVenue) -> str:
    return next(iter(b.orders))


def fill_the_first_order(b: ScriptedVenue, quantity: D) -> Callable[[], object]:
    return lambda: b.fill(first_order_id(b), quantity)


def fill_every_live_order(b: ScriptedVenue) -> Callable[[], object]:
    def fill() -> None:
        for order in b.live_orders():
            b.fill(order.order_id, order.quantity)

    return fill


def hedge_orders(b: ScriptedVenue) -> list[str]:
    return [args["kind"] for args in b.placed()]


TOUCH_FIRST = HedgeConfig(opening=RetryPolicy(inside_tick_attempts=0))
"""Attempt 0 at the touch: an order that reaches the venue fills at once."""


# --------------------------------------------------------------------------- case 2


def test_ambiguous_placement_that_shows_up_late_is_not_hedged_twice() -> None:
    """Case 2: the placement times out and the request reaches the matching engine 0.5 s later,
    where it fills at the touch. Three quick lookups (~0.3 s) miss it; before the fix the leg
    took it as never placed and sold again (2 BTC sold for a 1 BTC target). The order is
    possibly live (no request window: the 10 s horizon), so nothing else is placed: a later
    lookup finds it filled and the leg is done with one order."""
    b = venue()
    b.script_place("BTC", Place("ambiguous_late", delay=0.5))
    result, _ = hedge(b, config=TOUCH_FIRST)
    assert result.state == "done"
    assert hedge_orders(b) == ["limit"]
    assert b.positions["BTC"] == -TARGET


def test_ambiguous_market_order_that_shows_up_late_is_not_sent_twice() -> None:
    """Case 2 on the market fallback: a market order whose placement times out and which
    executes 0.5 s later. Before the fix a second market order went out after three misses;
    now no second market order is sent while the first may be live."""
    b = venue()
    b.script_place("BTC", Place("ambiguous_late", delay=0.5))
    result, _ = hedge(b, market_only=True)
    assert result.state == "done"
    assert hedge_orders(b) == ["market"]
    assert b.positions["BTC"] == -TARGET


def test_request_window_proves_an_ambiguous_order_dead_and_the_leg_moves_on() -> None:
    """Case 2 with a request window (1 s): the timed-out request would arrive after 5 s, so the
    venue refuses it. The order is provably dead 1 s + the place timeout (2 s) after the
    ambiguous answer; the leg then places a replacement, well before the 10 s horizon."""
    b = venue(capabilities=VenueCapabilities(request_window=1.0))
    b.script_place("BTC", Place("ambiguous_late", delay=5.0))
    result, ended = hedge(b, config=TOUCH_FIRST)
    assert result.state == "done"
    assert hedge_orders(b) == ["limit", "limit"]
    assert len(b.orders) == 1, "the first request never reached the matching engine"
    assert 3.0 <= ended < 10.0
    assert b.positions["BTC"] == -TARGET


def test_late_order_within_the_request_window_is_found_not_doubled() -> None:
    """Case 2 with a request window (1 s): the request arrives after 0.5 s, inside its window;
    it fills and the leg finds it, one order only."""
    b = venue(capabilities=VenueCapabilities(request_window=1.0))
    b.script_place("BTC", Place("ambiguous_late", delay=0.5))
    result, _ = hedge(b, config=TOUCH_FIRST)
    assert result.state == "done"
    assert hedge_orders(b) == ["limit"]


# --------------------------------------------------------------------------- case 3


def test_cancel_reply_that_understates_the_fill_is_confirmed_when_the_venue_reports_cancels_early() -> None:
    """Case 3: 0.4 of the resting order fills (seen by a poll); the cancel's reply says
    CANCELED with 0.4 while 0.3 more filled during the cancel (truth 0.7). The venue says it
    reports cancels early, so the leg confirms with a query and sizes the next order 0.3,
    not 0.6 (before the fix: 1.3 sold)."""
    b = venue(capabilities=VenueCapabilities(reports_cancel_early=True))
    b.script_cancel("BTC", Cancel("understate", quantity=D("0.3")))
    result, _ = hedge(b, actions=[(0.5, fill_the_first_order(b, D("0.4"))), (3.0, fill_every_live_order(b))])
    assert result.state == "done"
    second = b.placed()[1]
    assert second["quantity"] == D("0.3")
    assert b.positions["BTC"] == -TARGET


def test_cancel_reply_below_a_fill_already_seen_is_confirmed_before_sizing() -> None:
    """Case 3, a conflict: a poll saw 0.5 filled, the cancel's reply says CANCELED with 0.4
    (below what was seen) while the truth is 0.7. The venue does not declare early cancel
    reports, but the conflict alone makes the leg confirm: the next order is 0.3 (before the
    fix: 0.5, and 1.2 sold)."""
    b = venue()
    b.script_cancel("BTC", Cancel("understate", quantity=D("0.2"), reported=D("0.4")))
    result, _ = hedge(b, actions=[(0.5, fill_the_first_order(b, D("0.5"))), (3.0, fill_every_live_order(b))])
    assert result.state == "done"
    assert b.placed()[1]["quantity"] == D("0.3")
    assert b.positions["BTC"] == -TARGET


# --------------------------------------------------------------------------- case 4


def test_late_fill_on_an_earlier_order_cancels_the_resting_order_that_would_over_hedge() -> None:
    """Case 4: the cancel of order 1 answers CANCELED 0.4 (truth 0.7; the venue does not say
    it reports early, and nothing conflicts), so order 2 rests for 0.6. At 1.0 s the order
    stream pushes order 1's truth (0.7): 0.7 + 0.6 > 1, so order 2 is cancelled at once and
    0.3 re-placed. At 1.5 s everything resting fills: 1.0 sold (before the fix: 1.3)."""
    b = venue(order_stream=True)
    b.script_cancel("BTC", Cancel("understate", quantity=D("0.3")))
    actions = [
        (0.5, fill_the_first_order(b, D("0.4"))),
        (1.0, lambda: b.push(first_order_id(b))),
        (1.5, fill_every_live_order(b)),
    ]
    result, _ = hedge(b, actions=actions)
    assert result.state == "done"
    quantities = [args["quantity"] for args in b.placed()]
    assert quantities[:3] == [D("1"), D("0.6"), D("0.3")]
    cancels = [args["order_id"] for op, args in b.calls if op == "cancel"]
    assert len(cancels) == 2, "order 1 after its partial fill, order 2 after the late fill"
    assert b.positions["BTC"] == -TARGET


# --------------------------------------------------------------------------- results, budget


def test_backoff_never_pushes_the_leg_past_its_budget() -> None:
    """A backoff (5 s) longer than the budget left: two post-only attempts are refused (at 0 s,
    then at 5 s, the backoff capped at the 1 s left); the market fallback goes out when the
    6 s budget ends, not a whole backoff (10 s) after it."""
    b = venue()
    b.script_place("BTC", Place("post_only"), Place("post_only"))
    config = HedgeConfig(opening=RetryPolicy(backoff=5.0, budget=6.0))
    times: list[float] = []
    original = b.place_market

    async def timed_market(*args: object, **kwargs: object) -> object:
        times.append(asyncio.get_running_loop().time())
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    b.place_market = timed_market  # type: ignore[method-assign,assignment]
    result, _ = hedge(b, config=config)
    assert result.state == "done"
    assert len(times) == 1
    assert 6.0 <= times[0] < 6.5


def test_placement_that_never_answers_ends_the_hedge_in_bounded_time() -> None:
    """Invariant 2: a placement call that never returns. The driver bounds it (place timeout,
    2 s) and reports it ambiguous; the order is possibly live for the 10 s horizon, during which
    nothing else is placed; then, provably dead, the budget is spent and the market fallback
    hedges. The hedge ends within budget + place timeout + horizon + stuck timeout."""
    b = venue()
    b.script_place("BTC", Place("hang"))
    result, ended = hedge(b)
    config = HedgeConfig()
    assert result.state == "done"
    assert hedge_orders(b) == ["limit", "market"]
    bound = (config.opening.budget + config.call_timeouts.place + config.ambiguous_horizon
             + config.stuck_timeout)
    assert ended <= bound, f"ended at {ended:.2f}s > {bound:.2f}s"
