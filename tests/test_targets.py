"""Targets: multiplier conversion, rounding down to the lot, remaining quantity."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import InvalidValue
from hedge_fsm.core.targets import (
    floor_to_step,
    hedge_target,
    remaining_quantity,
    scaled_target,
    to_tokens,
)
from tests.strategies import is_multiple_of, lots, multipliers, on_grid

D = Decimal


# ------------------------------------------------------------------------------ examples


def test_to_tokens_multiplies_by_contract_size() -> None:
    """1.5 kPEPE contracts of 1000 tokens = 1.5 * 1000 = 1500 PEPE."""
    assert D("1500") == to_tokens(D("1.5"), D("1000"))


def test_hedge_target_1000x_trigger_into_1x_leg() -> None:
    """Trigger filled 1.5 kPEPE (x1000) -> 1500 tokens -> 1500 PEPE contracts on a lot of 1."""
    assert D("1500") == hedge_target(D("1.5"), D("1000"), D("1"), D("1"))


def test_hedge_target_1x_trigger_into_1000x_leg_rounds_down() -> None:
    """Trigger filled 12345 PEPE (x1) -> 12345 / 1000 = 12.345 kPEPE: lot 1 -> 12, lot 0.1 ->
    12.3 (down, never 12.4: hedging more than the trigger would over-hedge)."""
    assert D("12") == hedge_target(D("12345"), D("1"), D("1000"), D("1"))
    assert D("12.3") == hedge_target(D("12345"), D("1"), D("1000"), D("0.1"))


def test_hedge_target_equal_multipliers_is_lot_floor() -> None:
    """Same contract on both legs: 0.0237 filled, lot 0.01 -> 0.02."""
    assert D("0.02") == hedge_target(D("0.0237"), D("1"), D("1"), D("0.01"))


def test_hedge_target_refuses_negative_fill() -> None:
    """A negative trigger fill is an InvalidValue, not a negative target."""
    with pytest.raises(InvalidValue):
        hedge_target(D("-1"), D("1"), D("1"), D("1"))


@pytest.mark.parametrize("step", [D("0"), D("-0.1")])
def test_floor_to_step_refuses_non_positive_step(step: Decimal) -> None:
    """A zero or negative lot is an InvalidValue."""
    with pytest.raises(InvalidValue):
        floor_to_step(D("1"), step)


def test_floor_to_step_examples() -> None:
    """0.37 on a 0.05 grid floors to 0.35 (7 steps); 0.35 stays 0.35; 0.04 floors to 0."""
    assert D("0.35") == floor_to_step(D("0.37"), D("0.05"))
    assert D("0.35") == floor_to_step(D("0.35"), D("0.05"))
    assert D("0") == floor_to_step(D("0.04"), D("0.05"))


def test_scaled_target_keeps_the_legs_share() -> None:
    """Reference filled 3 of 4; a leg of 2 keeps 2 * 3 / 4 = 1.5 (lot 0.1 -> 1.5); a leg of 1
    keeps 0.75 -> lot 0.1 -> 0.7."""
    assert D("1.5") == scaled_target(D("2"), D("3"), D("4"), D("0.1"))
    assert D("0.7") == scaled_target(D("1"), D("3"), D("4"), D("0.1"))


def test_scaled_target_refuses_non_positive_reference() -> None:
    """A zero reference quantity cannot be a denominator: InvalidValue."""
    with pytest.raises(InvalidValue):
        scaled_target(D("1"), D("0"), D("0"), D("1"))


def test_remaining_examples() -> None:
    """5 - 2 = 3 left; 5 - 5 = 0; an overfill 5 - 6 shows as 0 remaining, never -1."""
    assert D("3") == remaining_quantity(D("5"), D("2"))
    assert D("0") == remaining_quantity(D("5"), D("5"))
    assert D("0") == remaining_quantity(D("5"), D("6"))


# ------------------------------------------------------------------------------ properties


@given(
    trigger_lot=lots(),
    filled_lots=st.integers(0, 10**6),
    trigger_multiplier=multipliers(),
    leg_multiplier=multipliers(),
    leg_lot=lots(),
)
def test_hedge_target_never_over_hedges_and_is_on_the_lot_grid(
    trigger_lot: Decimal,
    filled_lots: int,
    trigger_multiplier: Decimal,
    leg_multiplier: Decimal,
    leg_lot: Decimal,
) -> None:
    """target <= exact (tokens / leg multiplier), exact - target < one lot, target on the grid:
    in tokens the hedge is never above the trigger and at most one leg lot below it."""
    filled = filled_lots * trigger_lot
    target = hedge_target(filled, trigger_multiplier, leg_multiplier, leg_lot)
    exact = Fraction(filled) * Fraction(trigger_multiplier) / Fraction(leg_multiplier)
    assert Fraction(target) <= exact
    assert exact - Fraction(target) < Fraction(leg_lot)
    assert is_multiple_of(target, leg_lot)
    assert target >= 0


@given(
    quantity=st.integers(0, 10**9).map(lambda n: D(n) / 1000),
    step=lots() | st.sampled_from([D("0.05"), D("0.25"), D("5")]),
)
def test_floor_to_step_properties(quantity: Decimal, step: Decimal) -> None:
    """floor_to_step(q, s) is the largest multiple of s that is <= q."""
    floored = floor_to_step(quantity, step)
    assert is_multiple_of(floored, step)
    assert floored <= quantity < floored + step


@st.composite
def balanced_legs(draw: st.DrawFn) -> tuple[Decimal, ...]:
    """Two legs holding the same tokens: (ref qty, ref mult, ref lot, leg qty, leg mult, leg lot,
    ref filled), every quantity on its leg's lot grid."""
    ref_mult, leg_mult = draw(multipliers()), draw(multipliers())
    ref_lot, leg_lot = draw(lots()), draw(lots())
    # Both lots are powers of ten in tokens too, so the larger is a multiple of the smaller.
    token_step = max(ref_lot * ref_mult, leg_lot * leg_mult)
    tokens = draw(st.integers(1, 10**4)) * token_step
    ref_quantity, leg_quantity = tokens / ref_mult, tokens / leg_mult
    ref_filled = draw(st.integers(0, int(ref_quantity / ref_lot))) * ref_lot
    return ref_quantity, ref_mult, ref_lot, leg_quantity, leg_mult, leg_lot, ref_filled


@given(balanced_legs())
def test_scaled_target_equals_hedge_target_for_balanced_legs(legs: tuple[Decimal, ...]) -> None:
    """With two legs of equal token size, scaling the leg by the reference's fill ratio gives the
    same target as converting the reference's fill through the multipliers."""
    ref_quantity, ref_mult, _, leg_quantity, leg_mult, leg_lot, ref_filled = legs
    assert hedge_target(ref_filled, ref_mult, leg_mult, leg_lot) == scaled_target(
        leg_quantity, ref_filled, ref_quantity, leg_lot
    )


@given(
    target=on_grid(D("0.001"), max_steps=10**6),
    filled=on_grid(D("0.001"), max_steps=2 * 10**6),
)
def test_remaining_is_never_negative(target: Decimal, filled: Decimal) -> None:
    """remaining = max(0, target - filled): exact when short, zero (not negative) when over."""
    remaining = remaining_quantity(target, filled)
    assert remaining >= 0
    assert (target - filled if filled <= target else D(0)) == remaining
