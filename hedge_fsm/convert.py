"""The one cattrs converter: (un)structuring rules live here, apart from the models.

Decimal travels as a string and is never built from a float. Enums travel as
their values. Unknown keys are refused.
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation
from typing import Any

import cattrs

__all__ = ["converter", "structure_decimal"]


def structure_decimal(value: Any, _: type) -> Decimal:
    """Decimal from a string or an int; floats are refused (they are already rounded)."""
    if isinstance(value, bool | float):
        raise ValueError(
            f"expected a decimal string such as \"0.1\", got {type(value).__name__} {value!r} "
            "(floats are refused: quote the number)"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a decimal string, got {value!r}") from None
    else:
        raise ValueError(f"expected a decimal string, got {type(value).__name__} {value!r}")
    if not result.is_finite():
        raise ValueError(f"expected a finite decimal, got {value!r}")
    return result


def _structure_float(value: Any, _: type) -> float:
    # Durations (seconds) are not money: TOML floats and ints are both fine here.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number of seconds, got {type(value).__name__} {value!r}")
    return float(value)


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {type(value).__name__} {value!r}")
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__} {value!r}")
    return value


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(Decimal, structure_decimal)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    # StrEnum must be named: its MRO puts ``str`` (passed through as is) before ``Enum``.
    conv.register_unstructure_hook(enum.StrEnum, _enum_value)
    conv.register_unstructure_hook(enum.Enum, _enum_value)
    return conv


converter = _make_converter()
"""The converter every (un)structuring in hedge_fsm goes through."""
