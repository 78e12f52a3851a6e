"""Translate ccxt's exceptions into hedge_fsm's at the venue boundary, without leaking secrets.

What an error *means* depends on what was being done when it happened:

* **place** (``place_limit``, ``place_market``): a transport failure (timeout, 5xx,
  dropped connection, DDoS/rate-limit answer from a proxy, unparseable body) leaves
  the order's existence unknown -> :class:`~hedge_fsm.errors.AmbiguousOutcome`.
  An answer from the exchange that refuses the order is definitive ->
  :class:`~hedge_fsm.errors.VenueRejected` with the most precise
  :class:`~hedge_fsm.errors.RejectReason` we can justify (post-only stays
  distinguishable).
* **cancel**: same split; a transport failure means the cancel may or may not
  have happened -> ``AmbiguousOutcome``.
* **query** (order, book, position, markets): nothing changes on the venue, so a
  transport failure is a retryable refusal (``RATE_LIMITED`` or
  ``VENUE_UNAVAILABLE``), and an unknown order is
  :class:`~hedge_fsm.errors.OrderNotFound`.

ccxt messages can carry a request URL whose query string holds a signature (for
example a timed-out signed GET on binance); every message we build is scrubbed
of query strings, signature-like key/value pairs and the credentials the
exchange instance holds, and the original ccxt exception's message is scrubbed
in place too, because ``raise ... from exc`` keeps it in the traceback.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

import ccxt.async_support as ccxt

from hedge_fsm.errors import (
    AmbiguousOutcome,
    CapabilityError,
    HedgeError,
    OrderNotFound,
    RejectReason,
    VenueError,
    VenueRejected,
)
from hedge_fsm.venues._ccxt_profiles import GENERIC, VenueProfile

__all__ = [
    "CREDENTIAL_ATTRIBUTES",
    "Action",
    "credentials_of",
    "error_codes",
    "is_post_only_refusal",
    "scrub",
    "scrub_exception",
    "translate_error",
]

_MAX_MESSAGE = 600
_REDACTED = "<redacted>"

# A URL's query string: signed GET requests put timestamp and signature there.
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s\"'<>]*")
# key=value / "key": "value" pairs whose value is a credential or a signature.
_SECRET_PAIR = re.compile(
    r"(?i)(\"?\b(?:signature|sign|api[-_]?key|secret|passphrase|password|private[-_]?key|"
    r"x-mbx-apikey|x-bapi-api-key|x-bapi-sign|ok-access-key|ok-access-sign|"
    r"ok-access-passphrase)\b\"?\s*[:=]\s*\"?)([^\"&\s,;}]+)"
)
# Reduce-only refusals. Deliberately narrow: binance's min-notional message says
# "(unless you choose reduce only)" and must stay an INVALID_ORDER.
_REDUCE_ONLY_TEXT = re.compile(
    r"(?i)reduce[\s_-]?only (?:order )?(?:is )?rejected|reduce[\s_-]?only rule|"
    r"reduce[\s_-]?only order.{0,40}(?:increase|not allowed|rejected)"
)
# The credential attributes a ccxt exchange instance may hold (ccxt's requiredCredentials).
CREDENTIAL_ATTRIBUTES = (
    "apiKey",
    "secret",
    "password",
    "uid",
    "login",
    "privateKey",
    "token",
    "twofa",
)


class Action(enum.Enum):
    """What the failed call was doing; it decides what an error means."""

    PLACE = "place"
    CANCEL = "cancel"
    QUERY = "query"


def credentials_of(exchange: object) -> tuple[str, ...]:
    """The credential strings held by a ccxt exchange instance (to redact them)."""
    found: list[str] = []
    for attribute in CREDENTIAL_ATTRIBUTES:
        value = getattr(exchange, attribute, None)
        # Very short values would redact ordinary words; ccxt credentials are long.
        if isinstance(value, str) and len(value) >= 6:
            found.append(value)
    return tuple(found)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without URL query strings, signature-like pairs or the given secrets."""
    text = _URL_QUERY.sub(rf"\1?{_REDACTED}", text)
    text = _SECRET_PAIR.sub(rf"\1{_REDACTED}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    return text


def scrub_exception(exc: BaseException, secrets: Iterable[str] = ()) -> None:
    """Scrub ``exc`` and every exception chained to it, in place.

    ``exc`` stays reachable as the ``__cause__`` of the error we raise, so its
    message (and those of its own causes and contexts) is scrubbed, and its
    traceback is dropped: the frames inside ccxt hold the signed request (URL,
    headers with the API key, body) in their local variables, which tools that
    print locals with a traceback (loguru's ``diagnose``, the default) would
    show. What failed stays in the message: the exception type and ccxt's text.
    """
    secrets = tuple(secrets)
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        # hedge_fsm's own errors further up the chain (being handled when ccxt was
        # called) are already clean, and not ours to rewrite.
        if id(current) in seen or isinstance(current, HedgeError):
            continue
        seen.add(id(current))
        current.args = tuple(scrub(arg, secrets) if isinstance(arg, str) else arg for arg in current.args)
        current.__traceback__ = None
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


_CODE_KEYS = ("code", "retCode", "sCode", "label", "error", "error_code", "errorCode", "err_code", "status")


def _values(payload: Any, depth: int = 0) -> Iterator[str]:
    if depth > 3:
        return
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in _CODE_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
                yield str(value)
            elif isinstance(value, dict | list):
                yield from _values(value, depth + 1)
    elif isinstance(payload, list):
        for item in payload:
            yield from _values(item, depth + 1)


def error_codes(text: str) -> frozenset[str]:
    """The venue's error codes and labels in a ccxt message (``"<id> <json body>"``).

    ccxt puts the exchange's answer body after the exchange id; the codes are read
    from that JSON (``code``, ``retCode``, okx ``sCode``, gate ``label``, ...), not
    guessed from the words around them.
    """
    for opening in ("{", "["):
        start = text.find(opening)
        if start < 0:
            continue
        try:
            payload = json.loads(text[start:])
        except ValueError:
            continue
        return frozenset(_values(payload))
    return frozenset()


def is_post_only_refusal(exc: BaseException, profile: VenueProfile = GENERIC) -> bool:
    """True when ``exc`` is this venue's refusal of a post-only order that would have taken.

    Only the venue's own codes or exact phrases (its profile) count, and ccxt's
    ``OrderImmediatelyFillable`` only where the venue uses it for post-only (Gate's
    POC): elsewhere it means a stop that would trigger at once.
    """
    if isinstance(exc, ccxt.OrderImmediatelyFillable) and profile.immediately_fillable_is_post_only:
        return True
    text = str(exc)
    if profile.post_only_codes & error_codes(text):
        return True
    return any(phrase in text for phrase in profile.post_only_messages)


def _is_reduce_only_refusal(exc: BaseException, profile: VenueProfile) -> bool:
    text = str(exc)
    if profile.reduce_only_codes & error_codes(text):
        return True
    if any(phrase in text for phrase in profile.reduce_only_messages):
        return True
    listed = isinstance(exc, ccxt.InvalidOrder | ccxt.OperationRejected)
    return listed and bool(_REDUCE_ONLY_TEXT.search(text))


def translate_error(
    exc: ccxt.BaseError,
    *,
    action: Action,
    venue: str,
    operation: str,
    symbol: str,
    secrets: Iterable[str] = (),
    profile: VenueProfile = GENERIC,
) -> HedgeError:
    """The hedge_fsm error for ccxt's ``exc`` raised while doing ``action``.

    The caller raises the result ``from exc``; ``exc``'s message is scrubbed here.
    ccxt's ``NotSupported`` (raised before anything is sent) becomes a
    :class:`~hedge_fsm.errors.CapabilityError`, never an answer about an order.
    """
    secrets = tuple(secrets)
    scrub_exception(exc, secrets)
    detail = scrub(str(exc), secrets)
    message = f"{venue}: {operation} {symbol} failed: {type(exc).__name__}: {detail}"
    if isinstance(exc, ccxt.NotSupported):
        return CapabilityError(
            f"{message} (ccxt cannot do this on {venue}; nothing was sent)", venue=venue, operation=operation
        )
    if action is Action.PLACE:
        return _placing(exc, message, venue=venue, operation=operation, profile=profile)
    if profile.not_found_codes & error_codes(str(exc)):
        # The venue's own "no such order", whatever ccxt filed it under (Backpack's
        # RESOURCE_NOT_FOUND is an ExchangeNotAvailable in ccxt).
        return OrderNotFound(message, venue=venue, operation=operation)
    if action is Action.CANCEL:
        return _cancelling(exc, message, venue=venue, operation=operation)
    return _querying(exc, message, venue=venue, operation=operation)


def _rejected(message: str, reason: RejectReason, *, venue: str, operation: str) -> VenueRejected:
    return VenueRejected(message, reason=reason, venue=venue, operation=operation)


def _is_transport_failure(exc: ccxt.BaseError) -> bool:
    # InvalidNonce (a timestamp outside the receive window) is a NetworkError in ccxt's
    # tree, but the exchange answered and refused the request: it is definitive.
    if isinstance(exc, ccxt.InvalidNonce):
        return False
    # OperationFailed covers NetworkError (timeouts, 5xx, DDoS/rate limits, outages),
    # BadResponse (a body we could not read) and CancelPending.
    return isinstance(exc, ccxt.OperationFailed)


def _placing(
    exc: ccxt.BaseError, message: str, *, venue: str, operation: str, profile: VenueProfile
) -> VenueError:
    if isinstance(exc, ccxt.DuplicateOrderId):
        # The client order id is already taken: an earlier attempt did create an order.
        # Saying "ambiguous" sends the engine to look it up by client id, which is right.
        return AmbiguousOutcome(message, venue=venue, operation=operation)
    if is_post_only_refusal(exc, profile):
        return _rejected(message, RejectReason.POST_ONLY, venue=venue, operation=operation)
    if _is_reduce_only_refusal(exc, profile):
        return _rejected(message, RejectReason.REDUCE_ONLY, venue=venue, operation=operation)
    if isinstance(exc, ccxt.InsufficientFunds):
        return _rejected(message, RejectReason.INSUFFICIENT_FUNDS, venue=venue, operation=operation)
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.ArgumentsRequired):
        return _rejected(message, RejectReason.INVALID_ORDER, venue=venue, operation=operation)
    if _is_transport_failure(exc):
        return AmbiguousOutcome(message, venue=venue, operation=operation)
    if isinstance(exc, ccxt.ExchangeError | ccxt.InvalidNonce):
        return _rejected(message, RejectReason.OTHER, venue=venue, operation=operation)
    # Anything else from ccxt while placing: we cannot tell whether the order went out.
    return AmbiguousOutcome(message, venue=venue, operation=operation)


def _cancelling(exc: ccxt.BaseError, message: str, *, venue: str, operation: str) -> VenueError:
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(message, venue=venue, operation=operation)
    if _is_transport_failure(exc):
        return AmbiguousOutcome(message, venue=venue, operation=operation)
    if isinstance(exc, ccxt.ExchangeError | ccxt.InvalidNonce):
        return _rejected(message, RejectReason.OTHER, venue=venue, operation=operation)
    return AmbiguousOutcome(message, venue=venue, operation=operation)


def _querying(exc: ccxt.BaseError, message: str, *, venue: str, operation: str) -> VenueError:
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(message, venue=venue, operation=operation)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return _rejected(message, RejectReason.RATE_LIMITED, venue=venue, operation=operation)
    if _is_transport_failure(exc):
        return _rejected(message, RejectReason.VENUE_UNAVAILABLE, venue=venue, operation=operation)
    if isinstance(exc, ccxt.BadSymbol):
        return _rejected(message, RejectReason.INVALID_ORDER, venue=venue, operation=operation)
    return _rejected(message, RejectReason.OTHER, venue=venue, operation=operation)
