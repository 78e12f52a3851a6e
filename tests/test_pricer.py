"""Pricer: break-even (per token, with fees), inside spread, touch, tick rounding, the ladder."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import BBO, Instrument, InvalidValue, Side, TriggerFill
from hedge_fsm.core.pricer import (
    PriceQuote,
    Rung,
    break_even_price,
    inside_spread_price,
    is_break_even_feasible,
    price_attempt,
    round_to_tick,
    touch_price,
)
from tests.strategies import bbos_for, instruments, is_multiple_of, sides, trigger_fills

D = Decimal


def instrument(
    tick: str = "0.05", multiplier: str = "1", maker_fee: str = "0", symbol: str = "BTC-PERP"
) -> Instrument:
    return Instrument(
        symbol=symbol,
        tick_size=D(tick),
        lot_size=D("0.001"),
        min_quantity=D("0"),
        min_notional=D("0"),
        multiplier=D(multiplier),
        maker_fee=D(maker_fee),
        taker_fee=D("0.0005"),
    )


def bbo(bid: str, ask: str) -> BBO:
    return BBO(bid=D(bid), ask=D(ask))


def trigger(side: Side, price: str, multiplier: str = "1", fee: str = "0") -> TriggerFill:
    return TriggerFill(side=side, price=D(price), multiplier=D(multiplier), fee_rate=D(fee))


# ------------------------------------------------------------------------------ rounding


def test_round_to_tick_uses_multiples_not_decimal_places() -> None:
    """With a 0.05 tick, 100.07 (two decimals, like the tick) is NOT on the grid:
    100.07 / 0.05 = 2001.4, floor 2001 * 0.05 = 100.05, ceiling 2002 * 0.05 = 100.10."""
    assert D("100.05") == round_to_tick(D("100.07"), D("0.05"), up=False)
    assert D("100.10") == round_to_tick(D("100.07"), D("0.05"), up=True)


def test_round_to_tick_keeps_on_grid_prices() -> None:
    """A price already on the grid (100.10 = 2002 ticks of 0.05) is unchanged either way."""
    assert D("100.10") == round_to_tick(D("100.10"), D("0.05"), up=False)
    assert D("100.10") == round_to_tick(D("100.10"), D("0.05"), up=True)


def test_round_to_tick_with_quarter_tick() -> None:
    """Tick 0.25: 10.30 / 0.25 = 41.2 -> down 41 * 0.25 = 10.25, up 42 * 0.25 = 10.50."""
    assert D("10.25") == round_to_tick(D("10.30"), D("0.25"), up=False)
    assert D("10.50") == round_to_tick(D("10.30"), D("0.25"), up=True)


@pytest.mark.parametrize("tick", [D("0"), D("-0.05")])
def test_round_to_tick_refuses_non_positive_tick(tick: Decimal) -> None:
    """A zero or negative tick is an InvalidValue, not a ZeroDivisionError or a silent result."""
    with pytest.raises(InvalidValue):
        round_to_tick(D("100"), tick, up=False)


def test_passive_buy_rounds_down_and_sell_rounds_up() -> None:
    """Off-grid books: a buy inside (ask 100.37 - 0.05 = 100.32) rounds down to 100.30;
    a sell inside (bid 100.02 + 0.05 = 100.07) rounds up to 100.10: both stay passive."""
    assert D("100.30") == inside_spread_price(Side.BUY, bbo("100.00", "100.37"), D("0.05"))
    assert D("100.10") == inside_spread_price(Side.SELL, bbo("100.02", "101.00"), D("0.05"))


# ------------------------------------------------------------------------------ inside / touch


def test_inside_spread_wide_spread() -> None:
    """Bid 100.00 / ask 101.00, tick 0.05: buy at ask - tick = 100.95,
    sell at bid + tick = 100.05."""
    book = bbo("100.00", "101.00")
    assert D("100.95") == inside_spread_price(Side.BUY, book, D("0.05"))
    assert D("100.05") == inside_spread_price(Side.SELL, book, D("0.05"))


def test_inside_spread_one_tick_spread_joins_own_best() -> None:
    """Bid 100.00 / ask 100.05 (one 0.05 tick): there is no price inside, so a buy joins the
    bid (100.00) and a sell joins the ask (100.05), both still post-only-safe."""
    book = bbo("100.00", "100.05")
    assert D("100.00") == inside_spread_price(Side.BUY, book, D("0.05"))
    assert D("100.05") == inside_spread_price(Side.SELL, book, D("0.05"))


@pytest.mark.parametrize(("bid", "ask"), [("100.05", "100.00"), ("100.00", "100.00")])
def test_inside_spread_refuses_crossed_or_locked_book(bid: str, ask: str) -> None:
    """A crossed or locked book cannot be priced passively: InvalidValue."""
    with pytest.raises(InvalidValue):
        inside_spread_price(Side.BUY, bbo(bid, ask), D("0.05"))


def test_touch_is_opposite_best() -> None:
    """The touch buys at the ask (101.00) and sells at the bid (100.00)."""
    book = bbo("100.00", "101.00")
    assert D("101.00") == touch_price(Side.BUY, book, D("0.05"))
    assert D("100.00") == touch_price(Side.SELL, book, D("0.05"))


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, "101.00"), (Side.SELL, "100.00")])
def test_touch_attempt_is_not_post_only(side: Side, price: str) -> None:
    """Past the inside attempts the ladder quotes the opposite best as a marketable limit:
    post_only=False (a post-only order at the touch would be rejected and never fill)."""
    quote = price_attempt(
        attempt=3,
        side=side,
        bbo=bbo("100.00", "101.00"),
        instrument=instrument(),
        trigger=None,
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D(price), post_only=False, rung=Rung.TOUCH) == quote


# ------------------------------------------------------------------------------ break-even


def test_sell_hedge_break_even_is_trigger_buy_price_without_fees() -> None:
    """Trigger bought at 100.00 (1x): a 1x sell hedge breaks even at 100.00 exactly."""
    assert D("100.00") == break_even_price(
        Side.SELL, trigger(Side.BUY, "100.00"), instrument(), include_fees=False
    )


def test_buy_hedge_break_even_is_trigger_sell_price_without_fees() -> None:
    """Trigger sold at 100.00 (1x): a 1x buy hedge breaks even at 100.00 exactly."""
    assert D("100.00") == break_even_price(
        Side.BUY, trigger(Side.SELL, "100.00"), instrument(), include_fees=False
    )


def test_sell_hedge_break_even_with_fees_rounds_up() -> None:
    """Trigger bought at 100.00 paying 2 bps, hedge maker fee 2 bps: the sell must satisfy
    sell * (1 - 0.0002) >= 100.00 * (1 + 0.0002), i.e. sell >= 100.02 / 0.9998 = 100.04000800...
    which rounds UP to the 0.05 grid: 100.05 (100.05 * 0.9998 = 100.02999 >= 100.02)."""
    price = break_even_price(
        Side.SELL,
        trigger(Side.BUY, "100.00", fee="0.0002"),
        instrument(maker_fee="0.0002"),
        include_fees=True,
    )
    assert D("100.05") == price
    assert price * D("0.9998") >= D("100.00") * D("1.0002")


def test_buy_hedge_break_even_with_fees_rounds_down() -> None:
    """Trigger sold at 100.00 paying 2 bps, hedge maker fee 2 bps: the buy must satisfy
    buy * (1 + 0.0002) <= 100.00 * (1 - 0.0002), i.e. buy <= 99.98 / 1.0002 = 99.96000799...
    which rounds DOWN to the 0.05 grid: 99.95 (99.95 * 1.0002 = 99.96999 <= 99.98)."""
    price = break_even_price(
        Side.BUY,
        trigger(Side.SELL, "100.00", fee="0.0002"),
        instrument(maker_fee="0.0002"),
        include_fees=True,
    )
    assert D("99.95") == price
    assert price * D("1.0002") <= D("100.00") * D("0.9998")


def test_fees_are_ignored_when_not_included() -> None:
    """include_fees=False: same 2 bps fees as above, break-even back to 100.00 for both sides."""
    fees_trigger_buy = trigger(Side.BUY, "100.00", fee="0.0002")
    fees_trigger_sell = trigger(Side.SELL, "100.00", fee="0.0002")
    hedge = instrument(maker_fee="0.0002")
    assert D("100.00") == break_even_price(Side.SELL, fees_trigger_buy, hedge, include_fees=False)
    assert D("100.00") == break_even_price(Side.BUY, fees_trigger_sell, hedge, include_fees=False)


def test_break_even_1000x_hedge_of_1x_trigger() -> None:
    """Trigger bought PEPE (1x) at 0.0123456 per token; a kPEPE (1000 tokens, tick 0.001) sell
    hedge needs >= 0.0123456 * 1000 = 12.3456 per contract -> rounds up to 12.346
    (12.346 / 1000 = 0.012346 >= 0.0123456). A buy hedge of a sell trigger rounds down to
    12.345 (0.012345 <= 0.0123456). Never the raw 0.0123456 compared across venues."""
    kpepe = instrument(tick="0.001", multiplier="1000", symbol="kPEPE")
    sell = break_even_price(Side.SELL, trigger(Side.BUY, "0.0123456"), kpepe, include_fees=False)
    buy = break_even_price(Side.BUY, trigger(Side.SELL, "0.0123456"), kpepe, include_fees=False)
    assert D("12.346") == sell
    assert D("12.345") == buy


def test_break_even_1x_hedge_of_1000x_trigger() -> None:
    """Trigger bought kPEPE at 12.3456 per 1000-token contract = 0.0123456 per token; a PEPE
    (1x, tick 0.000001) sell hedge rounds up to 0.012346; a buy hedge of a sold kPEPE trigger
    rounds down to 0.012345."""
    pepe = instrument(tick="0.000001", multiplier="1", symbol="PEPE")
    sell = break_even_price(
        Side.SELL, trigger(Side.BUY, "12.3456", multiplier="1000"), pepe, include_fees=False
    )
    buy = break_even_price(
        Side.BUY, trigger(Side.SELL, "12.3456", multiplier="1000"), pepe, include_fees=False
    )
    assert D("0.012346") == sell
    assert D("0.012345") == buy


def test_break_even_1000x_with_fees() -> None:
    """kPEPE trigger bought at 12.000 (0.012 per token) with 5 bps, 1x PEPE hedge with 5 bps
    maker fee: sell >= 0.012 * 1.0005 / 0.9995 = 0.012012006... -> up on 0.000001 -> 0.012013."""
    pepe = instrument(tick="0.000001", maker_fee="0.0005", symbol="PEPE")
    price = break_even_price(
        Side.SELL,
        trigger(Side.BUY, "12.000", multiplier="1000", fee="0.0005"),
        pepe,
        include_fees=True,
    )
    assert D("0.012013") == price


def test_break_even_refuses_hedge_on_trigger_side() -> None:
    """A hedge on the same side as its trigger would double the exposure: InvalidValue."""
    with pytest.raises(InvalidValue):
        break_even_price(Side.BUY, trigger(Side.BUY, "100"), instrument(), include_fees=False)


def test_break_even_feasible_within_max_ticks() -> None:
    """Sell hedge, break-even 100.05, book 99.90 / 100.20: inside = 99.95, limit
    99.95 + 2 * 0.05 = 100.05 -> exactly 2 ticks behind is still feasible; 100.10 is not."""
    book = bbo("99.90", "100.20")
    assert True is is_break_even_feasible(Side.SELL, D("100.05"), book, D("0.05"), 2)
    assert False is is_break_even_feasible(Side.SELL, D("100.10"), book, D("0.05"), 2)


def test_buy_break_even_feasible_within_max_ticks() -> None:
    """Buy hedge, book 99.80 / 100.10: inside = 100.05, lowest allowed 100.05 - 0.10 = 99.95:
    99.95 feasible, 99.90 three ticks behind is not."""
    book = bbo("99.80", "100.10")
    assert True is is_break_even_feasible(Side.BUY, D("99.95"), book, D("0.05"), 2)
    assert False is is_break_even_feasible(Side.BUY, D("99.90"), book, D("0.05"), 2)


def test_attempt_zero_uses_feasible_sell_break_even() -> None:
    """Trigger bought at 100.00, no fees, book 99.90 / 100.20: break-even 100.00 is passive
    (> bid 99.90) and within 99.95 + 0.10 = 100.05 -> attempt 0 quotes 100.00 post-only."""
    quote = price_attempt(
        attempt=0,
        side=Side.SELL,
        bbo=bbo("99.90", "100.20"),
        instrument=instrument(),
        trigger=trigger(Side.BUY, "100.00"),
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D("100.00"), post_only=True, rung=Rung.BREAK_EVEN) == quote


def test_attempt_zero_uses_feasible_buy_break_even_with_fees() -> None:
    """Trigger sold at 100.00, 2 bps both legs, book 99.80 / 100.10: break-even 99.95 (see the
    fee test) is within 100.05 - 0.10 = 99.95 and < ask -> quoted post-only."""
    quote = price_attempt(
        attempt=0,
        side=Side.BUY,
        bbo=bbo("99.80", "100.10"),
        instrument=instrument(maker_fee="0.0002"),
        trigger=trigger(Side.SELL, "100.00", fee="0.0002"),
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D("99.95"), post_only=True, rung=Rung.BREAK_EVEN) == quote


def test_break_even_not_passive_moves_to_inside_sell() -> None:
    """Trigger bought at 100.00; book 100.00 / 100.30: selling at 100.00 would hit the bid (not
    passive) -> attempt 0 falls to inside: 100.00 + 0.05 = 100.05."""
    quote = price_attempt(
        attempt=0,
        side=Side.SELL,
        bbo=bbo("100.00", "100.30"),
        instrument=instrument(),
        trigger=trigger(Side.BUY, "100.00"),
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D("100.05"), post_only=True, rung=Rung.INSIDE_SPREAD) == quote


def test_break_even_not_passive_moves_to_inside_buy() -> None:
    """Trigger sold at 100.00; book 99.70 / 100.00: buying at 100.00 would lift the ask ->
    attempt 0 falls to inside: 100.00 - 0.05 = 99.95."""
    quote = price_attempt(
        attempt=0,
        side=Side.BUY,
        bbo=bbo("99.70", "100.00"),
        instrument=instrument(),
        trigger=trigger(Side.SELL, "100.00"),
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D("99.95"), post_only=True, rung=Rung.INSIDE_SPREAD) == quote


def test_break_even_too_far_behind_moves_to_inside() -> None:
    """Trigger bought at 100.00; book 99.70 / 100.30: inside = 99.75, and break-even is
    (100.00 - 99.75) / 0.05 = 5 ticks behind > 2 -> inside 99.75. With max 5 ticks it is tried."""
    book = bbo("99.70", "100.30")
    far = price_attempt(
        attempt=0,
        side=Side.SELL,
        bbo=book,
        instrument=instrument(),
        trigger=trigger(Side.BUY, "100.00"),
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D("99.75"), post_only=True, rung=Rung.INSIDE_SPREAD) == far
    allowed = price_attempt(
        attempt=0,
        side=Side.SELL,
        bbo=book,
        instrument=instrument(),
        trigger=trigger(Side.BUY, "100.00"),
        inside_tick_attempts=3,
        break_even_max_ticks=5,
    )
    assert PriceQuote(price=D("100.00"), post_only=True, rung=Rung.BREAK_EVEN) == allowed


# ------------------------------------------------------------------------------ ladder


def ladder(
    *,
    side: Side = Side.SELL,
    trigger_fill: TriggerFill | None = None,
    break_even: bool = True,
    inside_tick_attempts: int = 3,
    attempts: int = 6,
) -> list[tuple[Rung, Decimal, bool]]:
    book = bbo("99.90", "100.20")
    quotes = [
        price_attempt(
            attempt=n,
            side=side,
            bbo=book,
            instrument=instrument(),
            trigger=trigger_fill,
            inside_tick_attempts=inside_tick_attempts,
            break_even=break_even,
        )
        for n in range(attempts)
    ]
    return [(q.rung, q.price, q.post_only) for q in quotes]


BE = (Rung.BREAK_EVEN, D("100.00"), True)
INSIDE_SELL = (Rung.INSIDE_SPREAD, D("99.95"), True)  # bid 99.90 + 0.05
TOUCH_SELL = (Rung.TOUCH, D("99.90"), False)  # the bid


def test_ladder_break_even_then_inside_then_touch() -> None:
    """Book 99.90 / 100.20, feasible break-even 100.00, inside_tick_attempts=3:
    attempt 0 break-even, attempts 1-2 inside (99.95), attempts 3+ touch (99.90, taker)."""
    expected = [BE, INSIDE_SELL, INSIDE_SELL, TOUCH_SELL, TOUCH_SELL, TOUCH_SELL]
    assert expected == ladder(trigger_fill=trigger(Side.BUY, "100.00"))


def test_ladder_without_trigger_starts_inside() -> None:
    """No trigger fill known: attempts 0-2 inside, then touch."""
    expected = [INSIDE_SELL, INSIDE_SELL, INSIDE_SELL, TOUCH_SELL, TOUCH_SELL, TOUCH_SELL]
    assert expected == ladder(trigger_fill=None)


def test_ladder_with_break_even_disabled_starts_inside() -> None:
    """break_even=False: the feasible break-even is never quoted."""
    expected = [INSIDE_SELL, INSIDE_SELL, INSIDE_SELL, TOUCH_SELL]
    assert expected == ladder(
        trigger_fill=trigger(Side.BUY, "100.00"), break_even=False, attempts=4
    )


def test_ladder_closing_policy_two_inside_attempts() -> None:
    """Closing policy (inside_tick_attempts=2): break-even, inside, then touch from attempt 2."""
    expected = [BE, INSIDE_SELL, TOUCH_SELL, TOUCH_SELL]
    assert expected == ladder(
        trigger_fill=trigger(Side.BUY, "100.00"), inside_tick_attempts=2, attempts=4
    )


def test_ladder_zero_inside_attempts_goes_straight_to_touch() -> None:
    """inside_tick_attempts=0 and no trigger: every attempt is the touch."""
    expected = [TOUCH_SELL, TOUCH_SELL]
    assert expected == ladder(inside_tick_attempts=0, attempts=2)


def test_break_even_only_on_attempt_zero() -> None:
    """A break-even that is feasible at every attempt is quoted only at attempt 0 (repeating it
    would block escalation until the budget is gone)."""
    rungs = [r for r, _, _ in ladder(trigger_fill=trigger(Side.BUY, "100.00"), attempts=8)]
    expected = [Rung.BREAK_EVEN] + [r for r in rungs[1:] if r is not Rung.BREAK_EVEN]
    assert expected == rungs


# ------------------------------------------------------------------------------ properties


def per_token(price: Decimal, multiplier: Decimal) -> Fraction:
    return Fraction(price) / Fraction(multiplier)


@given(data=st.data(), hedge_side=sides(), include_fees=st.booleans())
def test_break_even_never_loses_and_is_tight(
    data: st.DataObject, hedge_side: Side, include_fees: bool
) -> None:
    """For any trigger and hedge instrument (1x..1000x either way, fees and rebates), in exact
    arithmetic per token: a sell hedge at break-even satisfies sell*(1-fh) >= p*(1+ft) and a buy
    hedge buy*(1+fh) <= p*(1-ft); one tick more favourable to the counterparty would lose."""
    hedge = data.draw(instruments())
    fill = data.draw(trigger_fills(side=hedge_side.opposite))
    price = break_even_price(hedge_side, fill, hedge, include_fees=include_fees)
    assert is_multiple_of(price, hedge.tick_size)
    ft = Fraction(fill.fee_rate) if include_fees else Fraction(0)
    fh = Fraction(hedge.maker_fee) if include_fees else Fraction(0)
    trigger_value = per_token(fill.price, fill.multiplier)
    hedge_value = per_token(price, hedge.multiplier)
    one_tick_worse = per_token(
        price - hedge.tick_size if hedge_side is Side.SELL else price + hedge.tick_size,
        hedge.multiplier,
    )
    if hedge_side is Side.SELL:
        assert hedge_value * (1 - fh) >= trigger_value * (1 + ft)
        assert one_tick_worse * (1 - fh) < trigger_value * (1 + ft)
    else:
        assert hedge_value * (1 + fh) <= trigger_value * (1 - ft)
        assert one_tick_worse * (1 + fh) > trigger_value * (1 - ft)


@given(data=st.data(), hedge_side=sides())
def test_zero_fee_break_even_is_trigger_per_token_price(
    data: st.DataObject, hedge_side: Side
) -> None:
    """With zero fees, break-even is the trigger's per-token price times the hedge multiplier,
    rounded to the hedge tick on the break-even-keeping side (sell up, buy down)."""
    hedge = data.draw(instruments(with_fees=False))
    fill = data.draw(trigger_fills(side=hedge_side.opposite, with_fees=False))
    exact = Fraction(fill.price) / Fraction(fill.multiplier) * Fraction(hedge.multiplier)
    steps = exact / Fraction(hedge.tick_size)
    whole = steps.__ceil__() if hedge_side is Side.SELL else steps.__floor__()
    expected = Fraction(whole) * Fraction(hedge.tick_size)
    assert expected == Fraction(break_even_price(hedge_side, fill, hedge, include_fees=True))


@st.composite
def attempts(
    draw: st.DrawFn,
) -> tuple[int, Side, BBO, Instrument, TriggerFill | None, int, bool, int]:
    hedge = draw(instruments())
    side = draw(sides())
    book = draw(bbos_for(hedge))
    fill = draw(st.none() | trigger_fills(side=side.opposite))
    return (
        draw(st.integers(0, 10)),
        side,
        book,
        hedge,
        fill,
        draw(st.integers(0, 5)),
        draw(st.booleans()),
        draw(st.integers(0, 4)),
    )


def quote_for(
    case: tuple[int, Side, BBO, Instrument, TriggerFill | None, int, bool, int],
) -> PriceQuote:
    attempt, side, book, hedge, fill, inside_attempts, break_even, max_ticks = case
    return price_attempt(
        attempt=attempt,
        side=side,
        bbo=book,
        instrument=hedge,
        trigger=fill,
        inside_tick_attempts=inside_attempts,
        break_even=break_even,
        break_even_max_ticks=max_ticks,
    )


@given(attempts())
def test_every_price_is_on_the_tick_grid(case: tuple) -> None:  # type: ignore[type-arg]
    """Invariant 7: whatever the rung, the quoted price is an exact multiple of the tick."""
    hedge = case[3]
    quote = quote_for(case)
    assert is_multiple_of(quote.price, hedge.tick_size)
    assert quote.price > 0


@given(attempts())
def test_every_post_only_price_is_passive(case: tuple) -> None:  # type: ignore[type-arg]
    """Invariant 7: a post-only buy is strictly below the ask and a post-only sell strictly
    above the bid of the BBO it was priced on; only the touch is not post-only."""
    side, book = case[1], case[2]
    quote = quote_for(case)
    assert (quote.rung is not Rung.TOUCH) == quote.post_only
    if quote.post_only and side is Side.BUY:
        assert quote.price < book.ask
    if quote.post_only and side is Side.SELL:
        assert quote.price > book.bid


@given(attempts())
def test_ladder_rung_follows_attempt_number(case: tuple) -> None:  # type: ignore[type-arg]
    """Break-even only at attempt 0; attempts below inside_tick_attempts are inside (or
    break-even at 0); from inside_tick_attempts on, the touch at the opposite best."""
    attempt, side, book, _, fill, inside_attempts, break_even, _ = case
    quote = quote_for(case)
    if quote.rung is Rung.BREAK_EVEN:
        assert attempt == 0
        assert break_even and fill is not None
    elif attempt < inside_attempts:
        assert quote.rung is Rung.INSIDE_SPREAD
    else:
        assert quote.rung is Rung.TOUCH
        assert (book.ask if side is Side.BUY else book.bid) == quote.price


@given(attempts())
def test_break_even_quote_never_loses_per_token(case: tuple) -> None:  # type: ignore[type-arg]
    """When the ladder quotes break-even, the price per token is >= the trigger's buy (sell
    hedge) or <= the trigger's sell (buy hedge), fees included, and within max ticks of inside."""
    _, side, book, hedge, fill, _, _, max_ticks = case
    quote = quote_for(case)
    if quote.rung is not Rung.BREAK_EVEN:
        return
    assert fill is not None
    trigger_value = per_token(fill.price, fill.multiplier)
    ft, fh = Fraction(fill.fee_rate), Fraction(hedge.maker_fee)
    inside = inside_spread_price(side, book, hedge.tick_size)
    if side is Side.SELL:
        assert per_token(quote.price, hedge.multiplier) * (1 - fh) >= trigger_value * (1 + ft)
        assert quote.price <= inside + max_ticks * hedge.tick_size
    else:
        assert per_token(quote.price, hedge.multiplier) * (1 + fh) <= trigger_value * (1 - ft)
        assert quote.price >= inside - max_ticks * hedge.tick_size


@st.composite
def books_near_break_even(
    draw: st.DrawFn,
) -> tuple[Side, Instrument, TriggerFill, BBO, int, bool]:
    """A hedge whose book sits a few ticks either side of its break-even price."""
    side = draw(sides())
    hedge = draw(instruments())
    fill = draw(trigger_fills(side=side.opposite))
    include_fees = draw(st.booleans())
    be = break_even_price(side, fill, hedge, include_fees=include_fees)
    tick = hedge.tick_size
    bid = be + draw(st.integers(-8, 3)) * tick
    if bid <= 0:
        bid = tick
    book = BBO(bid=bid, ask=bid + draw(st.integers(1, 6)) * tick)
    return side, hedge, fill, book, draw(st.integers(0, 4)), include_fees


@given(books_near_break_even())
def test_attempt_zero_break_even_exactly_when_feasible(case: tuple) -> None:  # type: ignore[type-arg]
    """Attempt 0 quotes break-even iff it is passive (sell > bid, buy < ask) and at most
    max_ticks behind the inside price (inside = bid + tick / ask - tick, or the own best on
    a one-tick spread); otherwise it quotes the inside price."""
    side, hedge, fill, book, max_ticks, include_fees = case
    tick = hedge.tick_size
    be = break_even_price(side, fill, hedge, include_fees=include_fees)
    one_tick = book.ask - book.bid == tick
    if side is Side.SELL:
        inside = book.ask if one_tick else book.bid + tick
        feasible = book.bid < be <= inside + max_ticks * tick
    else:
        inside = book.bid if one_tick else book.ask - tick
        feasible = inside - max_ticks * tick <= be < book.ask and be > 0
    expected = (
        PriceQuote(price=be, post_only=True, rung=Rung.BREAK_EVEN)
        if feasible
        else PriceQuote(price=inside, post_only=True, rung=Rung.INSIDE_SPREAD)
    )
    quote = price_attempt(
        attempt=0,
        side=side,
        bbo=book,
        instrument=hedge,
        trigger=fill,
        inside_tick_attempts=3,
        include_fees=include_fees,
        break_even_max_ticks=max_ticks,
    )
    assert expected == quote


def test_break_even_rounding_to_zero_is_not_quoted() -> None:
    """Trigger sold at 0.000001 per token; the 1x hedge's tick is 0.01, so the buy break-even
    floor(0.000001 / 0.01) * 0.01 = 0 is not a price at all. Book 0.01 / 0.02 (one tick: inside
    joins the bid 0.01). A zero-price order can never be valid: attempt 0 must move on to the
    inside price 0.01, not quote 0."""
    quote = price_attempt(
        attempt=0,
        side=Side.BUY,
        bbo=bbo("0.01", "0.02"),
        instrument=instrument(tick="0.01"),
        trigger=trigger(Side.SELL, "0.000001"),
        inside_tick_attempts=3,
    )
    assert PriceQuote(price=D("0.01"), post_only=True, rung=Rung.INSIDE_SPREAD) == quote
