"""The one cattrs converter: (un)structuring rules live here, apart from the models.

Decimal travels as a string and is never built from a float. Enums travel as
their values. Unknown keys are refused. :func:`structure_problems` turns a
structuring failure into one line per problem, each with the field's path
(config files and journal records report the same way).
"""

from __future__ import annotations

import enum
from decimal import Decimal, InvalidOperation
from typing import Any

import cattrs

from hedge_fsm.errors import InvalidValue

__all__ = ["converter", "structure_decimal", "structure_problems"]


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


_FIELD_MARK = "\x00"
_PATH_MARK = "\x01"


def _describe(exc: BaseException, type_: type | None) -> str:
    # Our own validators and hooks already say what was wrong and what was expected.
    # A validator of a nested class fails in that class's __init__, which cattrs reports
    # at the class's path: the field's name is carried along to complete the path.
    render = getattr(exc, "render_fields", None)
    if callable(render):
        # An error naming several fields (a contradiction): each is named by its full path,
        # known only once cattrs adds " @ path".
        return str(render(_PATH_MARK))
    if isinstance(exc, InvalidValue) and exc.field:
        return f"{exc}{_FIELD_MARK}{exc.field}"
    if isinstance(exc, ValueError) and str(exc) and not isinstance(exc, cattrs.BaseValidationError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _with_field_path(line: str) -> str:
    if _PATH_MARK in line:
        message, _, path = line.rpartition(" @ ")
        return message.replace(_PATH_MARK, f"{path}.")
    message, marker, rest = line.partition(_FIELD_MARK)
    if not marker:
        return line
    field, _, path = rest.partition(" @ ")
    return f"{message} @ {path}.{field}" if path else f"{message} @ {field}"


def structure_problems(exc: cattrs.BaseValidationError, path: str) -> list[str]:
    """One line per problem in a failed ``converter.structure``, each ending ``@ <path>.field``.

    An error that names several fields (it has a ``render_fields(prefix)`` method, such as
    :class:`hedge_fsm.config.ContradictoryConfig`) names each by its full path instead.
    """
    return [
        _with_field_path(line)
        for line in cattrs.transform_error(exc, path=path, format_exception=_describe)
    ]
