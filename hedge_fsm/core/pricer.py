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

Urgency (:func:`urgent_attempt`): the ladder is climbed sooner once waiting has cost what
crossing would save. The risk that leaving ``exposure_share`` of the target unhedged for
``t`` seconds adds is ``risk_bps = exposure_share * sigma_bps * sqrt(t)`` (sigma in bps per
√second, one standard deviation of the move, as the quality benchmark's λ = 1 penalty
counts it); the leg takes ``t`` as the time since the trigger fill and scales the risk by
``HedgeConfig.risk_aversion``. Crossing costs ``crossing_cost_bps = spread_bps +
(taker_fee - maker_fee) in bps`` over a maker fill. When ``risk_bps >= crossing_cost_bps``
the attempt is priced at the touch at once (no maker fill can pay for more waiting); when
``risk_bps >= crossing_cost_bps / 2`` break-even (the slowest rung) is skipped; otherwise
the ladder is as above. The budget is a ceiling, not a target: a volatile market or a
cheap crossing crosses early, a quiet one with a fee gap waits for a maker fill.
Volatility is a statistic, not money, so it is a float; prices stay Decimal.

Queue (:func:`is_queue_too_deep`): an order that joined a level behind others'
quantity is too deep when what is ahead of it plus its own rest cannot trade
in the time left at the rate the level has been seen to trade; without an
observed rate nothing is judged.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.values import BBO, Instrument, Side, TriggerFill

__all__ = [
    "PriceQuote",
    "Rung",
    "break_even_price",
    "crossing_cost_bps",
    "inside_spread_price",
    "is_break_even_feasible",
    "is_more_aggressive",
    "is_queue_too_deep",
    "price_attempt",
    "realized_volatility_bps",
    "risk_bps",
    "round_to_tick",
    "touch_price",
    "urgent_attempt",
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


# ---------------------------------------------------------------------- urgency (issue 13)

BPS = 10_000.0
"""Basis points per unit."""


def realized_volatility_bps(
    samples: Sequence[tuple[float, Decimal]], *, min_span: float = 1.0, min_samples: int = 3
) -> float | None:
    """The mid's volatility in bps per √second from ``(time, mid)`` observations in time order.

    ``sqrt(Σ ln(m_i / m_{i-1})² / (t_n - t_0)) * 10⁴``: observations that only record changes
    (a quote stream) are fine, an unchanged interval adds no return. None when fewer than
    ``min_samples`` observations, or observations spanning less than ``min_span`` seconds:
    one jump in a short window says little about the next second.
    """
    if len(samples) < max(2, min_samples):
        return None
    span = samples[-1][0] - samples[0][0]
    if span < min_span or span <= 0:
        return None
    total = 0.0
    previous = samples[0][1]
    for _, mid in samples[1:]:
        if previous > 0 and mid > 0:
            total += math.log(float(mid / previous)) ** 2
        previous = mid
    return math.sqrt(total / span) * BPS


def risk_bps(*, volatility_bps: float, time_left: float, exposure_share: float) -> float:
    """One standard deviation of the move on what is still unhedged over ``time_left`` seconds
    (bps); the leg passes the time it has waited since the trigger."""
    return max(exposure_share, 0.0) * max(volatility_bps, 0.0) * math.sqrt(max(time_left, 0.0))


def crossing_cost_bps(bbo: BBO, instrument: Instrument) -> float:
    """What crossing now costs against resting: the spread plus the taker-maker fee gap (bps)."""
    mid = bbo.mid
    if mid <= 0:
        return math.inf
    spread = float((bbo.ask - bbo.bid) / mid) * BPS
    fee_gap = float(instrument.taker_fee - instrument.maker_fee) * BPS
    return max(spread, 0.0) + max(fee_gap, 0.0)


def urgent_attempt(
    *, attempt: int, inside_tick_attempts: int, risk: float, crossing_cost: float
) -> int:
    """The ladder attempt to price: ``attempt``, or a later one when waiting risks too much.

    ``risk >= crossing_cost``: the touch (``inside_tick_attempts``); ``risk >=
    crossing_cost / 2``: past break-even (at least attempt 1). Never an earlier attempt.
    """
    if risk >= crossing_cost:
        return max(attempt, inside_tick_attempts)
    if risk >= crossing_cost / 2:
        # Past break-even, but never past the touch (with no attempt inside the spread, the
        # touch is attempt 0).
        return max(attempt, min(1, inside_tick_attempts))
    return attempt


def is_more_aggressive(side: Side, price: Decimal, than: Decimal) -> bool:
    """Is ``price`` more aggressive than ``than`` for ``side`` (a higher buy, a lower sell)?"""
    return price > than if side is Side.BUY else price < than


def is_queue_too_deep(
    *, ahead: Decimal, quantity: Decimal, time_left: float, traded_per_second: float | None
) -> bool:
    """Can the queue ahead plus our own quantity not trade in ``time_left`` at the level's rate?

    Nothing ahead: never too deep (a new price cannot improve the queue). No observed
    rate (None): not judged.
    """
    if ahead <= 0 or traded_per_second is None:
        return False
    return float(ahead + quantity) > traded_per_second * max(time_left, 0.0)
