"""Secrets: credentials that can be used but never shown.

Theory of operation
-------------------
A credential enters hedge_fsm only as a :class:`Secret`. A Secret's ``repr``
and ``str`` are masked, it refuses to be pickled, copied into JSON or
unstructured by cattrs, and its value is registered so that :func:`redact`
removes it from any text. The value is read with :meth:`Secret.reveal`, at the
one place that signs a request.

Text that leaves the library (log records, journal records, exception
messages built from venue errors) goes through :func:`redact`, which removes
registered secret values and anything shaped like a key or a signature
(``signature=...``, ``apiKey=...``, long hex or base64 tokens, bearer tokens).
Library logging goes through :data:`log`, a loguru logger whose patcher
redacts every record's message and extras.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from loguru import logger

from hedge_fsm.convert import converter

__all__ = ["MASK", "Secret", "log", "logging_wanted", "redact", "redact_record"]

MASK = "***"

_KNOWN: set[str] = set()

_PATTERNS = [
    # key=value pairs in query strings, headers and messages
    re.compile(
        r"(?i)\b(signature|sign|sig|api[_-]?key|apikey|secret|passphrase|password|token|"
        r"x-mbx-apikey|ok-access-key|ok-access-sign|x-bapi-api-key|x-bapi-sign)"
        r"([\"']?\s*[=:]\s*[\"']?)([^\s&\"',;}]+)"
    ),
    re.compile(r"(?i)\b(bearer)(\s+)([A-Za-z0-9._~+/=-]+)"),
    # long hex strings (HMAC-SHA256 signatures are 64 hex digits) and long base64 tokens
    re.compile(r"()()\b([0-9a-fA-F]{32,})\b"),
    re.compile(r"()()(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/_-]{40,}={0,2})(?![A-Za-z0-9+/=_-])"),
]


class Secret:
    """A credential. Masked everywhere; read it with :meth:`reveal` where a request is signed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise TypeError("Secret needs a non-empty str")
        self._value = value
        _KNOWN.add(value)

    def reveal(self) -> str:
        """The credential itself. Never log or store what this returns."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled or serialized")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))


def _refuse_unstructure(_secret: Secret) -> NoReturn:
    raise TypeError("a Secret cannot be unstructured or serialized; reveal() it where a request is signed")


# The library's one converter (journal, config, results) refuses a Secret outright,
# rather than passing the object through for a later serializer to stringify.
converter.register_unstructure_hook(Secret, _refuse_unstructure)


def redact(text: str) -> str:
    """``text`` with registered secrets and anything shaped like a key or signature masked."""
    for value in _KNOWN:
        if value in text:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Secret):
        return MASK
    return value


def redact_record(record: Any) -> None:
    """A loguru patcher: redacts the message and every extra of a record, in place."""
    record["message"] = redact(record["message"])
    extra = record["extra"]
    for key, value in list(extra.items()):
        extra[key] = _redact_value(value)
    exception = record.get("exception")
    if exception is not None and exception.value is not None:
        exception.value.args = tuple(_redact_value(a) for a in exception.value.args)


log = logger.patch(redact_record)
"""The library's logger: every record is redacted before any sink sees it."""


_LEVELS: dict[str, int] = {}


def logging_wanted(level: str = "DEBUG", name: str = "hedge_fsm") -> bool:
    """Whether a ``level`` record from module ``name`` (pass ``__name__``) could reach a sink.

    A cheap check, as loguru decides: the longest enabled/disabled prefix of ``name`` wins.

    Lets hot paths skip binding and formatting a record nobody will see: no sink
    at that level, or the package disabled (its default), means no. Loguru keeps
    both answers in its core; if its internals ever change, the answer is yes.
    """
    try:
        core = logger._core  # type: ignore[attr-defined]
        number = _LEVELS.get(level)
        if number is None:
            number = _LEVELS[level] = logger.level(level).no
        if core.min_level > number:
            return False
        # Loguru keeps the most specific prefix first: the first that matches decides.
        dotted = name + "."
        for prefix, active in core.activation_list:
            if dotted.startswith(prefix):
                return bool(active)
        return True
    except Exception:  # loguru's internals moved: log, as if the check did not exist
        return True
