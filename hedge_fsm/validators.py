"""attrs validators shared by every value of the library: checks at the edges, one wording.

Each validator raises :class:`~hedge_fsm.errors.InvalidValue` naming the class,
the field and the offending value (and sets ``field`` so config loading can
report the field's full path).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from hedge_fsm.errors import InvalidValue

__all__ = [
    "FEE_RATE_MAX",
    "FEE_RATE_MIN",
    "Validator",
    "boolean",
    "check_decimal",
    "decimal_in",
    "enum_member",
    "fee_rate",
    "integer_at_least",
    "non_empty_str",
    "non_negative",
    "non_negative_decimal",
    "number_in",
    "optional",
    "positive",
]

Validator = Callable[[object, "attrs.Attribute[Any]", object], None]


def _where(instance: object, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _fail(instance: object, attribute: attrs.Attribute[Any], expected: str, value: object) -> None:
    raise InvalidValue(
        f"{_where(instance, attribute)} must be {expected}, got {value!r}", field=attribute.name
    )


def check_decimal(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Refuse anything but a finite Decimal (floats lose money silently)."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        hint = " (floats are refused: pass Decimal('...'))" if isinstance(value, float) else ""
        raise InvalidValue(
            f"{_where(instance, attribute)} must be a Decimal, got "
            f"{type(value).__name__} {value!r}{hint}",
            field=attribute.name,
        )
    if not value.is_finite():
        _fail(instance, attribute, "finite", value)


def positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite Decimal strictly above zero."""
    check_decimal(instance, attribute, value)
    assert isinstance(value, Decimal)
    if value <= 0:
        _fail(instance, attribute, "> 0", value)


def non_negative(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """A finite Decimal at or above zero."""
    check_decimal(instance, attribute, value)
    assert isinstance(value, Decimal)
    if value < 0:
        _fail(instance, attribute, ">= 0", value)


non_negative_decimal = non_negative


def optional(check: Validator) -> Validator:
    """Apply ``check`` unless the value is None."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check(instance, attribute, value)

    return validate


def enum_member(kind: type[enum.Enum]) -> Validator:
    """Refuse anything that is not a member of ``kind`` (a bare string included)."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise InvalidValue(
                f"{_where(instance, attribute)} must be a {kind.__name__}, got "
                f"{type(value).__name__} {value!r}",
                field=attribute.name,
            )

    return validate


def non_empty_str(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        _fail(instance, attribute, "a non-empty str", value)


def number_in(
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    what: str = "a number",
) -> Validator:
    """A finite int or float (not a bool) in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    bounds = f"{'>' if low_open else '>='} {low:g}" if high == math.inf else (
        f"in {'(' if low_open else '['}{low:g}, {high:g}]"
    )
    expected = f"{what} {bounds}"

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value > high
            or (value <= low if low_open else value < low)
        ):
            _fail(instance, attribute, expected, value)

    return validate


def integer_at_least(minimum: int) -> Validator:
    """An int (not a bool) at or above ``minimum``."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            _fail(instance, attribute, f"an integer >= {minimum}", value)

    return validate


def boolean(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """True or False, nothing else (``"yes"``, ``1`` and ``None`` are refused)."""
    if not isinstance(value, bool):
        raise InvalidValue(
            f"{_where(instance, attribute)} must be True or False, got "
            f"{type(value).__name__} {value!r}",
            field=attribute.name,
        )


def decimal_in(low: Decimal, high: Decimal, *, what: str = "") -> Validator:
    """A finite Decimal in ``[low, high]``; ``what`` explains the range in the message."""
    expected = f"in [{low}, {high}]" + (f" ({what})" if what else "")

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_decimal(instance, attribute, value)
        assert isinstance(value, Decimal)
        if not low <= value <= high:
            _fail(instance, attribute, expected, value)

    return validate


FEE_RATE_MIN = Decimal("-0.01")
"""The largest rebate a fee rate may carry: -1 % (real rebates are a few bps)."""
FEE_RATE_MAX = Decimal("0.10")
"""The largest fee rate accepted: 10 % (real fees are a few bps; 5 means 500 %, a typo)."""

fee_rate = decimal_in(
    FEE_RATE_MIN, FEE_RATE_MAX, what="a rate from a 1 % rebate to a 10 % fee; Decimal('0.0002') is 2 bps"
)
"""A fee rate between a 1 % rebate and a 10 % fee."""
