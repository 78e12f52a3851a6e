"""The target calculator: hedge targets through contract multipliers, lot rounding, remaining.

A hedge target is always rounded *down* to the leg's lot: hedging a little less
than the exact target leaves at most one lot unhedged (reported), hedging more
would over-hedge.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from hedge_fsm.errors import InvalidValue
from hedge_fsm.values import Instrument

__all__ = [
    "floor_to_step",
    "hedge_target",
    "is_unplaceable",
    "remaining_quantity",
    "scaled_target",
    "to_tokens",
]

ZERO = Decimal(0)


def floor_to_step(quantity: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` that is <= ``quantity`` (for quantity >= 0)."""
    if step <= 0:
        raise InvalidValue(f"step must be > 0, got {step!r}")
    return (quantity / step).to_integral_value(rounding=ROUND_FLOOR) * step


def to_tokens(quantity: Decimal, multiplier: Decimal) -> Decimal:
    """Contracts to underlying tokens (1 kPEPE contract = 1000 PEPE)."""
    return quantity * multiplier


def hedge_target(
    trigger_filled: Decimal,
    trigger_multiplier: Decimal,
    leg_multiplier: Decimal,
    leg_lot: Decimal,
) -> Decimal:
    """The leg quantity matching the trigger's fill: tokens converted, rounded down to a lot."""
    if trigger_filled < 0:
        raise InvalidValue(f"trigger filled quantity must be >= 0, got {trigger_filled!r}")
    exact = to_tokens(trigger_filled, trigger_multiplier) / leg_multiplier
    return floor_to_step(exact, leg_lot)


def scaled_target(
    leg_quantity: Decimal,
    reference_filled: Decimal,
    reference_quantity: Decimal,
    leg_lot: Decimal,
) -> Decimal:
    """A leg's target when the reference leg filled ``reference_filled`` of ``reference_quantity``.

    Both quantities are in the reference leg's contracts; the result is in the
    leg's own contracts. For two balanced legs (same tokens on each side) this
    equals :func:`hedge_target`; with more legs each keeps its share.
    """
    if reference_quantity <= 0:
        raise InvalidValue(f"reference quantity must be > 0, got {reference_quantity!r}")
    exact = leg_quantity * reference_filled / reference_quantity
    return floor_to_step(exact, leg_lot)


def remaining_quantity(target: Decimal, filled: Decimal) -> Decimal:
    """What is left to hedge; never negative (an overfill shows as zero remaining)."""
    return max(ZERO, target - filled)


def is_unplaceable(quantity: Decimal, instrument: Instrument, dust_tolerance: Decimal) -> bool:
    """Too small to trade: within the dust tolerance, or no valid order (lot grid and minimum) fits.

    This is the one rule for "nothing left": a leg is hedged, a position is flat,
    when what remains is unplaceable.
    """
    quantity = abs(quantity)
    if quantity <= dust_tolerance:
        return True
    return floor_to_step(quantity, instrument.lot_size) < instrument.placeable_minimum
