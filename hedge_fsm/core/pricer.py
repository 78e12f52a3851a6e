"""The pricer: break-even, one tick inside the spread, then the touch.

Rules (docs/design.md, The leg machine):

* Prices land on *multiples* of the tick (a 0.05 tick has two decimals but
  0.07 is not on its grid). A passive buy rounds down, a passive sell rounds up.
* Break-even compares prices *per token* (price / multiplier) so a 1000x leg
  can be hedged against a 1x leg. A sell hedge must sell at or above what the
  trigger paid, a buy hedge must buy at or below what the trigger got; fees of
  both legs move it against the hedge. It is tried once, on attempt 0, when it
  is a valid passive price no more than ``break_even_max_ticks`` behind the
  inside-spread price.
* Inside spread is one tick better than the best own-side price (buy: ask -
  tick; sell: bid + tick); with a one-tick spread it joins the best own-side
  price. Post-only.
* The touch is a *marketable* limit at the opposite best, not post-only: a
  taker fill with a price cap (a post-only order there could never fill).
"""

from __future__ import annotations

import enum
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.values import BBO, Instrument, Side, TriggerFill

__all__ = [
    "PriceQuote",
    "Rung",
    "break_even_price",
    "inside_spread_price",
    "is_break_even_feasible",
    "price_attempt",
    "round_to_tick",
    "touch_price",
]


class Rung(enum.StrEnum):
    """Which step of the pricing ladder a price comes from."""

    BREAK_EVEN = "break_even"
    INSIDE_SPREAD = "inside_spread"
    TOUCH = "touch"


@attrs.frozen(kw_only=True)
class PriceQuote:
    """A price for one attempt and whether the order must be post-only."""

    price: Decimal
    post_only: bool
    rung: Rung


def round_to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """Round to a multiple of ``tick``: up (ceiling) or down (floor)."""
    if tick <= 0:
        raise InvalidValue(f"tick size must be > 0, got {tick!r}")
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return steps * tick


def _passive_round(price: Decimal, side: Side, tick: Decimal) -> Decimal:
    # Rounding away from the other side keeps a passive price passive.
    return round_to_tick(price, tick, up=side is Side.SELL)


def inside_spread_price(side: Side, bbo: BBO, tick: Decimal) -> Decimal:
    """One tick inside the spread on ``side``'s behalf; joins the best price on a one-tick spread."""
    if bbo.is_crossed:
        raise InvalidValue(f"cannot price inside a crossed book: bid {bbo.bid} >= ask {bbo.ask}")
    if side is Side.BUY:
        candidate = _passive_round(bbo.ask - tick, side, tick)
        # A one-tick spread: ask - tick is the bid itself, which is where we join.
        return candidate if candidate > bbo.bid else _passive_round(bbo.bid, side, tick)
    candidate = _passive_round(bbo.bid + tick, side, tick)
    return candidate if candidate < bbo.ask else _passive_round(bbo.ask, side, tick)


def touch_price(side: Side, bbo: BBO, tick: Decimal) -> Decimal:
    """The opposite best, rounded so the order stays marketable (a buy rounds up)."""
    if side is Side.BUY:
        return round_to_tick(bbo.ask, tick, up=True)
    return round_to_tick(bbo.bid, tick, up=False)


def break_even_price(
    hedge_side: Side,
    trigger: TriggerFill,
    instrument: Instrument,
    *,
    include_fees: bool,
) -> Decimal:
    """The least favourable price (per hedge contract, on the tick grid) that does not lose.

    A sell hedge (the trigger bought at p per token) needs
    ``sell * (1 - f_hedge) >= p * (1 + f_trigger)``; a buy hedge (the trigger
    sold at p) needs ``buy * (1 + f_hedge) <= p * (1 - f_trigger)``. The hedge
    is priced post-only, so its fee is the maker fee.
    """
    if hedge_side is trigger.side:
        raise InvalidValue(
            f"a hedge must trade against its trigger: hedge side {hedge_side} equals trigger side"
        )
    per_token = trigger.price_per_token
    trigger_fee = trigger.fee_rate if include_fees else Decimal(0)
    hedge_fee = instrument.maker_fee if include_fees else Decimal(0)
    if hedge_side is Side.SELL:
        per_token_limit = per_token * (1 + trigger_fee) / (1 - hedge_fee)
        # Rounding a sell up keeps it at or above break-even.
        return round_to_tick(per_token_limit * instrument.multiplier, instrument.tick_size, up=True)
    per_token_limit = per_token * (1 - trigger_fee) / (1 + hedge_fee)
    return round_to_tick(per_token_limit * instrument.multiplier, instrument.tick_size, up=False)


def is_break_even_feasible(
    hedge_side: Side, price: Decimal, bbo: BBO, tick: Decimal, max_ticks: int
) -> bool:
    """Passive against ``bbo`` and at most ``max_ticks`` behind the inside-spread price."""
    if price <= 0:
        return False  # a break-even so low it rounds to nothing is no price at all
    inside = inside_spread_price(hedge_side, bbo, tick)
    if hedge_side is Side.SELL:
        return bbo.bid < price <= inside + max_ticks * tick
    return inside - max_ticks * tick <= price < bbo.ask


def price_attempt(
    *,
    attempt: int,
    side: Side,
    bbo: BBO,
    instrument: Instrument,
    trigger: TriggerFill | None,
    inside_tick_attempts: int,
    break_even: bool = True,
    include_fees: bool = True,
    break_even_max_ticks: int = 2,
) -> PriceQuote:
    """The price of attempt number ``attempt`` (0-based) on the ladder."""
    tick = instrument.tick_size
    if attempt == 0 and break_even and trigger is not None:
        candidate = break_even_price(side, trigger, instrument, include_fees=include_fees)
        if is_break_even_feasible(side, candidate, bbo, tick, break_even_max_ticks):
            return PriceQuote(price=candidate, post_only=True, rung=Rung.BREAK_EVEN)
    if attempt < inside_tick_attempts:
        return PriceQuote(
            price=inside_spread_price(side, bbo, tick), post_only=True, rung=Rung.INSIDE_SPREAD
        )
    return PriceQuote(price=touch_price(side, bbo, tick), post_only=False, rung=Rung.TOUCH)
