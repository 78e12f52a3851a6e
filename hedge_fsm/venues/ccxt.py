"""The ccxt adapter: any ``ccxt.async_support`` exchange as a hedge_fsm :class:`~hedge_fsm.Venue`.

Theory of operation
-------------------
:class:`CcxtVenue` wraps one ccxt exchange instance that the user builds (keys,
testnet/sandbox, market types to load). Every call goes through ccxt's own
unified methods, so ccxt builds and signs each request and parses each
response; the adapter only translates at the edges:

* **Venue profiles**: what ccxt's unified API does not hide about a venue (client
  id format, lookups, cancel by client id, market orders that need a price, the
  request window, post-only codes, non-unified statuses, placeholder ids,
  builder fees, whether it can trade here) is data in
  :mod:`hedge_fsm.venues._ccxt_profiles`; :attr:`CcxtVenue.capabilities` is
  what the engine reads at set-up. See ``docs/venues.md``.
* **In**: Decimals are checked against the market's own precision
  (``amount_to_precision`` / ``price_to_precision``). If formatting would change
  the value (a price off the tick grid, a quantity off the lot grid) the order
  is refused *before* anything is sent, with ``VenueRejected(INVALID_ORDER)``:
  the engine asked for something the venue cannot represent, and silently
  rounding would break its accounting. The checked value then goes to ccxt as a
  number (ccxt documents amounts and prices as numbers; KuCoin Futures raises
  ``TypeError`` on strings), one that prints back to exactly the same decimal.
  Post-only, reduce-only and the client order id go out as ccxt's unified
  ``postOnly``, ``reduceOnly`` and ``clientOrderId`` params, which ccxt maps per
  exchange (binance ``timeInForce=GTX`` / ``newClientOrderId``, bybit
  ``timeInForce=PostOnly`` / ``orderLinkId``, okx ``ordType=post_only`` /
  ``clOrdId``); the client id is the profile's image of the engine's id
  (Hyperliquid ``0x`` + 32 hex, Lighter/Backpack/dYdX/GRVT integers, Gate ``t-``),
  and the venue's echo is mapped back. A market order on a venue without a native
  one (through ccxt) is a marketable order bounded by ``market_slippage_bps``
  from the BBO.
* **Out**: ccxt's unified structures become :class:`~hedge_fsm.Instrument`,
  :class:`~hedge_fsm.BBO`, :class:`~hedge_fsm.OrderInfo` with every number a
  Decimal (see :mod:`hedge_fsm.venues._ccxt_parse` for the float handling and
  the status table). A terse acknowledgement (bybit and okx answer a new order
  with its ids only) is completed from what was sent and reported OPEN; the
  first poll tells the rest.
* **Errors**: ccxt exceptions become ``VenueRejected`` (definitive),
  ``OrderNotFound`` or ``AmbiguousOutcome`` (the order may or may not exist)
  depending on what was being done, and ``NotSupported`` a
  :class:`~hedge_fsm.errors.CapabilityError` (nothing was sent); see
  :mod:`hedge_fsm.venues._ccxt_errors`. A non-ccxt exception from inside ccxt is
  ambiguous on a placement or cancel, never raised raw. A fill price is the
  venue's (or computed from its trades), never the limit price. Messages never
  carry keys, secrets or signatures.
* **Cancel** returns the order as it stands afterwards: from the cancel answer
  when it says so (binance), else by looking the order up (bybit, okx answer
  with ids only). A cancel that fails because the order is already finished
  (filled, cancelled) is answered by looking the order up too: a fill that won
  the race with the cancel must be reported, not lost.
* **Order updates**: :meth:`CcxtVenue.order_updates` streams the account's
  order changes through ccxt.pro's ``watch_orders`` when the instance is a
  ccxt.pro exchange that has it; otherwise the engine polls :meth:`order`.

ccxt's precision helpers set the *current* decimal context's rounding to
ROUND_HALF_UP and trap Underflow, which would leak into every Decimal
computation of the caller's task. Every call into ccxt therefore runs inside a
private :func:`decimal.localcontext`.

Credentials
-----------
:meth:`CcxtVenue.from_credentials` is the way in for keys: it takes them only
as :class:`~hedge_fsm.secrets.Secret` values (a plain ``str`` is refused,
naming the parameter, never echoing the value) and reveals them once, into the
ccxt instance it builds, which signs requests with them. Whatever the way the
exchange was built, the venue keeps its keys out of what it shows:

* the keys the instance holds are registered with :func:`hedge_fsm.secrets.redact`,
  so every redacted text (library log records, journal messages) masks them;
* ccxt's own stdlib logging (``logging.getLogger("ccxt.base.exchange")``, which
  logs each request's URL, headers and body at DEBUG) goes through a redacting
  adapter: the records that reach your handlers carry no key, secret or signature;
* error messages are scrubbed, and the ccxt exceptions kept as ``__cause__``
  lose their tracebacks (their frames hold the signed request in local variables);
* ``repr(venue)`` names the venue and the exchange id, nothing else.

ccxt's ``verbose`` mode prints every request (headers included) with ``print``,
past any logging configuration: :meth:`CcxtVenue.from_credentials` refuses it,
and a venue wrapping a verbose instance logs a warning.

Usage::

    import os
    from hedge_fsm.secrets import Secret
    from hedge_fsm.venues.ccxt import CcxtVenue

    venue = CcxtVenue.from_credentials(
        "binanceusdm",
        api_key=Secret(os.environ["BINANCE_KEY"]),
        secret=Secret(os.environ["BINANCE_SECRET"]),
        sandbox=True,
        name="binance",
    )
    ...
    await venue.close()

An exchange instance built by hand (``CcxtVenue(ccxt.binanceusdm({...}))``) works
the same way once wrapped.
"""

from __future__ import annotations

import decimal
import functools
import logging
import os
import sys
import traceback
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs

try:
    import ccxt.async_support as ccxt
    from ccxt.base.decimal_to_precision import SIGNIFICANT_DIGITS
except ModuleNotFoundError as _missing:  # pragma: no cover - exercised in a subprocess test
    if _missing.name is None or not _missing.name.startswith("ccxt"):
        raise
    raise ModuleNotFoundError(
        "hedge_fsm.venues.ccxt needs the ccxt library, an optional dependency: "
        'install it with  pip install "hedge-fsm[ccxt]"',
        name="ccxt",
    ) from _missing

from hedge_fsm.errors import (
    AmbiguousOutcome,
    CapabilityError,
    HedgeError,
    InvalidValue,
    OrderNotFound,
    RejectReason,
    VenueRejected,
)
from hedge_fsm.secrets import MASK, Secret, log, redact
from hedge_fsm.values import BBO, Instrument, OrderInfo, OrderStatus, Side
from hedge_fsm.venue import VenueCapabilities
from hedge_fsm.venues._ccxt_errors import (
    CREDENTIAL_ATTRIBUTES,
    Action,
    credentials_of,
    error_codes,
    scrub,
    scrub_exception,
    translate_error,
)
from hedge_fsm.venues._ccxt_parse import (
    FeeSchedule,
    MissingFillPrice,
    ParseError,
    SentOrder,
    bbo_from_order_book,
    instrument_from_market,
    net_position,
    order_info_from_ccxt,
)
from hedge_fsm.venues._ccxt_profiles import (
    ClientIdFormat,
    MarketMode,
    VenueProfile,
    capabilities_for,
    client_id_problem,
    engine_client_id,
    market_mode,
    profile_for,
    wire_client_id,
)

__all__ = ["CcxtVenue", "CredentialError", "FeeSchedule", "VenueProfile"]

_T = TypeVar("_T")

# Orders placed through this venue, remembered to fill the gaps of terse answers.
_REMEMBERED_ORDERS = 4096
# Default bound on a marketable limit standing in for a market order: 50 bps past the touch.
DEFAULT_MARKET_SLIPPAGE_BPS = Decimal(50)
_BPS = Decimal(10000)


class CredentialError(InvalidValue, TypeError):
    """A credential was given as something other than a :class:`~hedge_fsm.secrets.Secret`.

    The message names the parameter and the type received, never the value.
    Both an :class:`~hedge_fsm.errors.InvalidValue` and a ``TypeError``.
    """


class _RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """Stands in for a ccxt instance's stdlib logger: every record is redacted first.

    ccxt logs each request at DEBUG as ``"%s %s, Request: %s %s"`` with the URL
    (binance puts the signature in its query string), the headers (the API key)
    and the body. The message is formatted here, redacted (registered secrets,
    key and signature shapes, and the instance's own credentials), and handed on
    as a plain string: handlers and formatters never see the raw arguments.
    """

    def __init__(self, logger: logging.Logger, exchange: Any) -> None:
        super().__init__(logger)
        self._exchange = weakref.ref(exchange)

    def _redact(self, text: str) -> str:
        exchange = self._exchange()
        text = redact(text)
        for credential in credentials_of(exchange) if exchange is not None else ():
            text = text.replace(credential, MASK)
        return text

    def log(
        self,
        level: int,
        msg: object,
        *args: object,
        exc_info: Any = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        extra: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError, KeyError):
            text = " ".join(str(part) for part in (msg, *args))
        if exc_info:
            # Formatted here so that the exception's text is redacted with the rest.
            info: tuple[Any, Any, Any]
            if isinstance(exc_info, BaseException):
                info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif isinstance(exc_info, tuple):
                info = exc_info
            else:
                info = sys.exc_info()
            if info[0] is not None:
                text += "\n" + "".join(traceback.format_exception(*info)).rstrip()
        self.logger.log(
            level, "%s", self._redact(text), stack_info=stack_info, stacklevel=stacklevel + 1, extra=extra
        )


class CcxtVenue:
    """A hedge_fsm :class:`~hedge_fsm.Venue` backed by a ``ccxt.async_support`` exchange.

    ``exchange`` is a configured ccxt async exchange instance (keys, sandbox,
    options); the venue does not close it unless :meth:`close` is called.
    ``name`` defaults to the exchange id. ``fees`` overrides the market's
    maker/taker rates (ccxt's defaults, not your account's tier): one
    :class:`FeeSchedule` for every symbol, or a mapping from symbol to schedule.
    ``order_book_depth`` is the ``limit`` asked of ``fetch_order_book`` for the
    BBO (default: the profile's, 5, accepted by binance, bybit and okx; 20 on
    KuCoin Futures).

    ``market_slippage_bps`` bounds the marketable limit that stands in for a
    market order where the venue (through ccxt) has none or needs a price
    (Hyperliquid, Extended, Apex, Lighter, dYdX): a buy at most this many basis
    points above the best ask, a sell at least this far below the best bid.
    ``request_window`` (seconds) sets the venue's request validity window
    (``recvWindow`` and the like, see the profile) on the instance, so that it is
    sent with every signed request; :attr:`capabilities` reports the window in
    force either way. ``profile`` overrides the venue's
    :class:`~hedge_fsm.venues._ccxt_profiles.VenueProfile` (found by exchange id).
    """

    def __init__(
        self,
        exchange: Any,
        *,
        name: str | None = None,
        fees: FeeSchedule | Mapping[str, FeeSchedule] | None = None,
        order_book_depth: int | None = None,
        market_slippage_bps: Decimal = DEFAULT_MARKET_SLIPPAGE_BPS,
        request_window: float | None = None,
        profile: VenueProfile | None = None,
    ) -> None:
        if not isinstance(exchange, ccxt.Exchange):
            raise InvalidValue(
                "CcxtVenue needs a ccxt.async_support (or ccxt.pro) exchange instance, got "
                f"{type(exchange).__module__}.{type(exchange).__name__}"
            )
        if (
            isinstance(market_slippage_bps, bool)
            or not isinstance(market_slippage_bps, Decimal)
            or not market_slippage_bps.is_finite()
            or not Decimal(0) < market_slippage_bps < _BPS
        ):
            raise InvalidValue(
                f"CcxtVenue.market_slippage_bps must be a Decimal in (0, 10000), got {market_slippage_bps!r}",
                field="market_slippage_bps",
            )
        self._exchange = exchange
        self.name: str = name or str(exchange.id)
        self._fees = fees
        self.profile: VenueProfile = profile if profile is not None else profile_for(exchange)
        self._order_book_depth = (
            order_book_depth if order_book_depth is not None else self.profile.order_book_depth
        )
        self.market_slippage_bps = market_slippage_bps
        self._market_mode = market_mode(self.profile, self._has)
        if request_window is not None:
            self._set_request_window(request_window)
        self._instruments: dict[str, Instrument] = {}
        self._sent: OrderedDict[str, SentOrder] = OrderedDict()
        # Wire client id -> engine client id, for every id this venue sent (see the profile).
        self._engine_ids: OrderedDict[str, str] = OrderedDict()
        # Order ids this venue object sent a cancel for (see silent_post_only_cancel).
        self._cancels_sent: OrderedDict[str, None] = OrderedDict()
        self._log = log.bind(venue=self.name)
        self._guard_credentials()

    @property
    def _has(self) -> Mapping[str, Any]:
        has = getattr(self._exchange, "has", None)
        return has if isinstance(has, Mapping) else {}

    @property
    def capabilities(self) -> VenueCapabilities:
        """What this venue can do through ccxt (read by the engine at set-up).

        From the venue's profile and ccxt's own ``has`` of this instance; the request
        window is the one the instance sends (its ``recvWindow``-like option).
        """
        options = getattr(self._exchange, "options", None)
        return capabilities_for(
            self.profile,
            self._has,
            options if isinstance(options, Mapping) else {},
            pro=self.supports_order_updates,
        )

    def _set_request_window(self, seconds: float) -> None:
        option = self.profile.window_option
        if option is None:
            raise CapabilityError(
                f"CcxtVenue {self.name}: {self.profile.family or self._exchange.id} has no request "
                "validity window that ccxt sends; leave request_window unset",
                venue=self.name,
                operation="request_window",
            )
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise InvalidValue(
                f"CcxtVenue.request_window must be seconds > 0, got {seconds!r}", field="request_window"
            )
        value = Decimal(str(seconds)) / self.profile.window_unit
        self._exchange.options[option] = int(value)

    def _guard_credentials(self) -> None:
        """Register the instance's keys for redaction and redact ccxt's own log records."""
        for credential in credentials_of(self._exchange):
            Secret(credential)  # a Secret registers its value with redact()
        current = getattr(self._exchange, "logger", None)
        if not isinstance(current, _RedactingLogger):
            base = current if isinstance(current, logging.Logger) else logging.getLogger("ccxt.base.exchange")
            self._exchange.logger = _RedactingLogger(base, self._exchange)
        if getattr(self._exchange, "verbose", False):
            self._log.warning(
                "the ccxt instance is in verbose mode: ccxt prints every request, API key "
                "included, to stdout; turn verbose off outside of debugging"
            )

    def __repr__(self) -> str:
        # Never the exchange's attributes: ccxt instances hold the keys in them.
        return f"CcxtVenue(name={self.name!r}, exchange={str(getattr(self._exchange, 'id', '?'))!r})"

    @classmethod
    def from_credentials(
        cls,
        exchange_id: str,
        *,
        api_key: Secret | None = None,
        secret: Secret | None = None,
        password: Secret | None = None,
        private_key: Secret | None = None,
        wallet_address: str | None = None,
        options: Mapping[str, Any] | None = None,
        sandbox: bool = False,
        config: Mapping[str, Any] | None = None,
        pro: bool = False,
        name: str | None = None,
        fees: FeeSchedule | Mapping[str, FeeSchedule] | None = None,
        order_book_depth: int | None = None,
        market_slippage_bps: Decimal = DEFAULT_MARKET_SLIPPAGE_BPS,
        request_window: float | None = None,
    ) -> CcxtVenue:
        """A venue over a new ccxt exchange instance signed with the given credentials.

        ``exchange_id`` is a ccxt id (``"binanceusdm"``, ``"bybit"``, ``"okx"``);
        ``api_key``, ``secret``, ``password`` (okx's passphrase) and ``private_key``
        (the signing key of the DEXes: Hyperliquid, Paradex, Lighter, Aster, GRVT,
        Extended) must be :class:`~hedge_fsm.secrets.Secret` values: a plain ``str``
        raises :class:`CredentialError` naming the parameter. Give those the venue
        needs (ccxt's ``requiredCredentials``); ``wallet_address`` is public and goes
        in as is. ``options`` becomes the
        instance's ccxt ``options``; ``config`` holds any other ccxt constructor
        setting (``enableRateLimit``, ``timeout``, ...) but no credential and no
        ``verbose``. ``sandbox`` switches to the exchange's testnet. ``pro``
        builds a ccxt.pro instance (order streams). The rest is as for
        :class:`CcxtVenue`.
        """
        given = {"api_key": api_key, "secret": secret, "password": password, "private_key": private_key}
        wrong = [
            (parameter, type(value).__name__)
            for parameter, value in given.items()
            if value is not None and not isinstance(value, Secret)
        ]
        if not wrong and api_key is None and private_key is None:
            wrong = [("api_key", "None (give api_key and secret, or private_key)")]
        if wrong:
            parameter, kind = wrong[0]
            raise CredentialError(
                f"CcxtVenue.from_credentials: {parameter} must be a hedge_fsm.secrets.Secret, got "
                f"{kind}; wrap the value where it is read, e.g. Secret(os.environ[...])",
                field=parameter,
            )
        settings = dict(config or {})
        for key in settings:
            if key in CREDENTIAL_ATTRIBUTES:
                raise CredentialError(
                    f"CcxtVenue.from_credentials: config[{key!r}] is a credential; pass credentials "
                    "as Secret parameters (api_key, secret, password)",
                    field="config",
                )
        if settings.get("verbose"):
            raise InvalidValue(
                "CcxtVenue.from_credentials: config['verbose'] is refused: ccxt's verbose mode "
                "prints every request, API key included, to stdout",
                field="config",
            )
        module: Any = ccxt
        if pro:
            import ccxt.pro as ccxt_pro

            module = ccxt_pro
        exchange_class = getattr(module, exchange_id, None) if isinstance(exchange_id, str) else None
        if not (
            exchange_id in getattr(module, "exchanges", ())
            and isinstance(exchange_class, type)
            and issubclass(exchange_class, ccxt.Exchange)
        ):
            flavour = "ccxt.pro" if pro else "ccxt.async_support"
            raise InvalidValue(
                f"CcxtVenue.from_credentials: {exchange_id!r} is not a {flavour} exchange id",
                field="exchange_id",
            )
        for attribute, credential in (
            ("apiKey", api_key),
            ("secret", secret),
            ("password", password),
            ("privateKey", private_key),
        ):
            if credential is not None:
                settings[attribute] = credential.reveal()
        if wallet_address is not None:
            settings["walletAddress"] = wallet_address
        if options is not None:
            settings["options"] = dict(options)
        # Failures are raised outside the except blocks: ccxt's exception (whose frames
        # hold ``settings``, keys included, as local variables) is not chained to ours.
        failure: str | None = None
        exchange: Any = None
        try:
            exchange = exchange_class(settings)
        except Exception as exc:
            failure = f"ccxt cannot build {exchange_id}: {type(exc).__name__}: {exc}"
        finally:
            settings.clear()
        if exchange is not None and sandbox:
            try:
                exchange.set_sandbox_mode(True)
            except (ccxt.BaseError, TypeError, KeyError) as exc:
                # ccxt raises NotSupported, or trips over the missing test URLs.
                failure = f"{exchange_id} has no sandbox: {type(exc).__name__}: {exc}"
        if failure is not None:
            credentials = [c.reveal() for c in (api_key, secret, password, private_key) if c is not None]
            failure = scrub(failure, credentials)
            raise InvalidValue(
                f"CcxtVenue.from_credentials: {failure}",
                field="sandbox" if exchange is not None else "config",
            )
        return cls(
            exchange,
            name=name,
            fees=fees,
            order_book_depth=order_book_depth,
            market_slippage_bps=market_slippage_bps,
            request_window=request_window,
        )

    # ------------------------------------------------------------------ plumbing

    @property
    def exchange(self) -> Any:
        """The wrapped ccxt exchange instance."""
        return self._exchange

    @property
    def supports_order_updates(self) -> bool:
        """True when :meth:`order_updates` can stream (a ccxt.pro instance with watchOrders)."""
        has = getattr(self._exchange, "has", {}) or {}
        return bool(has.get("watchOrders")) and callable(getattr(self._exchange, "watch_orders", None))

    async def close(self) -> None:
        """Close the wrapped exchange's HTTP session (and websockets)."""
        await self._exchange.close()

    async def __aenter__(self) -> CcxtVenue:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _call(
        self,
        action: Action,
        operation: str,
        symbol: str,
        call: Callable[[], Awaitable[_T]],
    ) -> _T:
        """Run one ccxt call in a private decimal context, translating its errors.

        A non-ccxt exception from inside ccxt (a ``TypeError`` in a request builder, a
        ``KeyError`` in a parser) is translated too: ambiguous on a place or a cancel
        (the request may have gone out), a refusal on a query; it never escapes raw.
        """
        try:
            with decimal.localcontext():
                return await call()
        except ccxt.BaseError as exc:
            raise self._translate(exc, action, operation, symbol) from exc
        except HedgeError:
            raise
        except Exception as exc:
            raise self._unexpected(exc, action, operation, symbol) from exc

    def _translate(self, exc: ccxt.BaseError, action: Action, operation: str, symbol: str) -> HedgeError:
        return translate_error(
            exc,
            action=action,
            venue=self.name,
            operation=operation,
            symbol=symbol,
            secrets=credentials_of(self._exchange),
            profile=self.profile,
        )

    def _unexpected(self, exc: Exception, action: Action, operation: str, symbol: str) -> HedgeError:
        secrets = credentials_of(self._exchange)
        scrub_exception(exc, secrets)
        message = (
            f"{self.name}: {operation} {symbol}: unexpected {type(exc).__name__} inside ccxt: "
            f"{scrub(str(exc), secrets)}"
        )
        if action is Action.QUERY:
            return VenueRejected(message, reason=RejectReason.OTHER, venue=self.name, operation=operation)
        return AmbiguousOutcome(message, venue=self.name, operation=operation)

    async def _market(self, symbol: str, operation: str) -> Mapping[str, Any]:
        async def load() -> Mapping[str, Any]:
            await self._exchange.load_markets()
            market: Mapping[str, Any] = self._exchange.market(symbol)
            return market

        return await self._call(Action.QUERY, operation, symbol, load)

    def _fees_for(self, symbol: str) -> FeeSchedule | None:
        if self._fees is None or isinstance(self._fees, FeeSchedule):
            return self._fees
        return self._fees.get(symbol)

    def _extra_fee(self) -> Decimal:
        """Fees ccxt adds to every order on top of the venue's (Hyperliquid's and Aster's
        builder fee), per the profile; zero once ccxt's ``builderFee`` option is off
        (ccxt turns it off itself when the approval fails)."""
        option = self.profile.builder_fee_option
        if option is None:
            return Decimal(0)
        options = getattr(self._exchange, "options", {}) or {}
        if not options.get("builderFee", True):
            return Decimal(0)
        raw = options.get(option, self.profile.builder_fee_default)
        if isinstance(raw, bool) or not isinstance(raw, int | str | float):
            raw = self.profile.builder_fee_default
        try:
            return Decimal(str(raw)) * self.profile.builder_fee_unit
        except ArithmeticError:
            return Decimal(self.profile.builder_fee_default) * self.profile.builder_fee_unit

    def _remember(self, order_id: str, sent: SentOrder) -> None:
        self._sent[order_id] = sent
        self._sent.move_to_end(order_id)
        while len(self._sent) > _REMEMBERED_ORDERS:
            self._sent.popitem(last=False)

    def _note_client_id(self, wire_id: str, engine_id: str) -> None:
        self._engine_ids[wire_id] = engine_id
        self._engine_ids.move_to_end(wire_id)
        while len(self._engine_ids) > _REMEMBERED_ORDERS:
            self._engine_ids.popitem(last=False)

    def _engine_id_of(self, wire_id: str) -> str:
        """The engine's client id for a venue-reported one (the map, else the profile's rule)."""
        known = self._engine_ids.get(wire_id)
        return known if known is not None else engine_client_id(self.profile, wire_id)

    def _wire_value(self, wire_id: str) -> str | int:
        # Integer client ids go to ccxt as integers (it reads them with safe_integer).
        return int(wire_id) if self.profile.client_id is ClientIdFormat.UINT else wire_id

    def wire_client_id(self, client_order_id: str) -> str:
        """The client id this venue sends for the engine's ``client_order_id`` (deterministic)."""
        return wire_client_id(self.profile, client_order_id)

    def _wire_id(self, symbol: str, client_order_id: str, operation: str) -> str:
        problem = client_id_problem(self.profile, client_order_id)
        if problem is not None:
            raise VenueRejected(
                f"{self.name}: {operation} {symbol}: client order id {client_order_id!r} {problem}; "
                "nothing was sent",
                reason=RejectReason.INVALID_ORDER,
                venue=self.name,
                operation=operation,
            )
        wire = wire_client_id(self.profile, client_order_id)
        holder = self._engine_ids.get(wire)
        if holder is not None and holder != client_order_id:
            # A 32-bit image of two engine ids collided: sending would make two orders
            # indistinguishable on the venue.
            raise VenueRejected(
                f"{self.name}: {operation} {symbol}: client order id {client_order_id!r} maps to "
                f"{wire}, already used by {holder!r}; nothing was sent",
                reason=RejectReason.INVALID_ORDER,
                venue=self.name,
                operation=operation,
            )
        self._note_client_id(wire, client_order_id)
        return wire

    def _parse_order(
        self,
        raw: Mapping[str, Any],
        symbol: str,
        *,
        sent: SentOrder | None,
        client_order_id: str | None,
        trades: list[Mapping[str, Any]] | None = None,
    ) -> OrderInfo:
        if sent is None and raw.get("id") is not None:
            sent = self._sent.get(str(raw["id"]))
        info = order_info_from_ccxt(
            raw,
            symbol=symbol,
            sent=sent,
            client_order_id=client_order_id,
            profile=self.profile,
            engine_client_id=self._engine_id_of,
            trades=trades,
        )
        if (
            self.profile.silent_post_only_cancel
            and info.status is OrderStatus.CANCELED
            and info.filled_quantity == 0
            and sent is not None
            and sent.post_only
            and info.order_id not in self._cancels_sent
        ):
            # The venue cancelled our unfilled post-only order unasked: it would have taken.
            info = attrs.evolve(info, status=OrderStatus.REJECTED, reject_reason=RejectReason.POST_ONLY)
        return info

    def _unreadable(self, exc: ParseError, symbol: str, operation: str, action: Action) -> HedgeError:
        message = (
            f"{self.name}: {operation} {symbol}: unreadable order: "
            f"{scrub(str(exc), credentials_of(self._exchange))}"
        )
        if action is Action.QUERY:
            return VenueRejected(message, reason=RejectReason.OTHER, venue=self.name, operation=operation)
        # The place or cancel did happen; only its answer is unreadable. Saying
        # "rejected" would hide a live order: the engine must look it up instead.
        return AmbiguousOutcome(message, venue=self.name, operation=operation)

    def _order_info(
        self,
        raw: Mapping[str, Any],
        symbol: str,
        operation: str,
        *,
        sent: SentOrder | None = None,
        client_order_id: str | None = None,
        action: Action = Action.QUERY,
    ) -> OrderInfo:
        try:
            return self._parse_order(raw, symbol, sent=sent, client_order_id=client_order_id)
        except ParseError as exc:
            raise self._unreadable(exc, symbol, operation, action) from exc

    async def _read_order(
        self,
        raw: Mapping[str, Any],
        symbol: str,
        operation: str,
        *,
        sent: SentOrder | None = None,
        client_order_id: str | None = None,
        action: Action = Action.QUERY,
    ) -> OrderInfo:
        """:meth:`_order_info`, with the fill price computed from the venue's trades when the
        order reports a fill without one (never the limit price)."""
        try:
            return self._parse_order(raw, symbol, sent=sent, client_order_id=client_order_id)
        except MissingFillPrice as exc:
            if not self._has.get("fetchMyTrades"):
                raise self._unreadable(exc, symbol, operation, action) from exc
            missing = exc
        except ParseError as exc:
            raise self._unreadable(exc, symbol, operation, action) from exc
        trades: list[Mapping[str, Any]] = await self._call(
            Action.QUERY, operation, symbol, lambda: self._exchange.fetch_my_trades(symbol)
        )
        try:
            return self._parse_order(
                raw, symbol, sent=sent, client_order_id=client_order_id, trades=list(trades or [])
            )
        except ParseError as exc:
            raise self._unreadable(exc, symbol, operation, action) from missing

    def _format(self, symbol: str, value: Decimal, *, what: str, operation: str) -> str:
        """``value`` as ccxt formats it for ``symbol``; refused if formatting changes it."""
        text = format(value, "f")
        try:
            with decimal.localcontext():
                if what == "price":
                    formatted = str(self._exchange.price_to_precision(symbol, text))
                else:
                    formatted = str(self._exchange.amount_to_precision(symbol, text))
                changed = Decimal(formatted) != value
        except (ccxt.BaseError, ArithmeticError, ValueError, AssertionError, TypeError) as exc:
            # ccxt refused to format it (below one step, no precision, a bad number):
            # nothing was sent, so this is a definitive refusal.
            raise VenueRejected(
                f"{self.name}: {operation} {symbol}: {what} {text} cannot be formatted for "
                f"the market: {scrub(str(exc), credentials_of(self._exchange))}; nothing was sent",
                reason=RejectReason.INVALID_ORDER,
                venue=self.name,
                operation=operation,
            ) from exc
        if changed:
            raise VenueRejected(
                f"{self.name}: {operation} {symbol}: {what} {text} is not on the market's grid "
                f"(it would be sent as {formatted}); nothing was sent",
                reason=RejectReason.INVALID_ORDER,
                venue=self.name,
                operation=operation,
            )
        return formatted

    def _number(self, symbol: str, value: Decimal, *, what: str, operation: str) -> float | int:
        """``value`` as the number ccxt's API takes, once it is on the market's grid.

        ccxt documents amounts and prices as numbers (KuCoin Futures compares
        ``amount < 1`` and raises ``TypeError`` on a string). The Decimal stays the
        truth on our side: the number must print back to exactly the same decimal,
        or the order is refused before sending.
        """
        formatted = Decimal(self._format(symbol, value, what=what, operation=operation))
        number: float | int
        if formatted == formatted.to_integral_value() and abs(formatted) < 2**53:
            number = int(formatted)
        else:
            number = float(formatted)
            if Decimal(repr(number)) != formatted:
                raise VenueRejected(
                    f"{self.name}: {operation} {symbol}: {what} {formatted} has more digits than a "
                    "number can carry to ccxt exactly; nothing was sent",
                    reason=RejectReason.INVALID_ORDER,
                    venue=self.name,
                    operation=operation,
                )
        return number

    # ------------------------------------------------------------------ Venue protocol

    def _refuse_if_untradeable(self, operation: str) -> None:
        reason = self.profile.cannot_trade
        option = self.profile.can_trade_with_option
        if reason is not None and option is not None:
            path = (getattr(self._exchange, "options", {}) or {}).get(option)
            if isinstance(path, str) and os.path.isfile(path):
                return
        if reason is not None:
            raise CapabilityError(
                f"{self.name}: cannot trade through ccxt {ccxt.__version__}: {reason}; "
                "refused before anything is sent",
                venue=self.name,
                operation=operation,
            )

    async def instrument(self, symbol: str) -> Instrument:
        """Tick, lot, minimums, multiplier and fees of ``symbol`` from its loaded ccxt market.

        Cached per symbol, except on exchanges that count prices in significant
        digits (bitfinex, bithumb): there the tick depends on the price level, so
        it is computed at the current mid each time and holds within that power
        of ten; a price the venue cannot represent is still refused at placement.
        Fees that ccxt adds to every order (Hyperliquid's builder fee) are added
        to both rates. A venue that cannot trade through ccxt here (its profile's
        ``cannot_trade``) raises :class:`~hedge_fsm.errors.CapabilityError`: the
        engine reads instruments at set-up, so the leg is refused before any order.
        """
        self._refuse_if_untradeable("instrument")
        cached = self._instruments.get(symbol)
        if cached is not None:
            return cached
        market = await self._market(symbol, "instrument")
        mode = int(self._exchange.precisionMode)
        reference = None
        if mode == SIGNIFICANT_DIGITS:
            reference = (await self.best_bid_offer(symbol)).mid
        try:
            instrument = instrument_from_market(
                market, precision_mode=mode, fees=self._fees_for(symbol), reference_price=reference
            )
        except (ParseError, ValueError) as exc:
            raise VenueRejected(
                f"{self.name}: instrument {symbol}: {exc}",
                reason=RejectReason.OTHER,
                venue=self.name,
                operation="instrument",
            ) from exc
        extra = self._extra_fee()
        instrument = Instrument(
            # ccxt resolves market ids too ("BTCUSDT"); report under the name we were asked.
            symbol=symbol,
            tick_size=instrument.tick_size,
            lot_size=instrument.lot_size,
            min_quantity=instrument.min_quantity,
            min_notional=instrument.min_notional,
            multiplier=instrument.multiplier,
            maker_fee=instrument.maker_fee + extra,
            taker_fee=instrument.taker_fee + extra,
        )
        if mode != SIGNIFICANT_DIGITS:
            self._instruments[symbol] = instrument
        return instrument

    async def best_bid_offer(self, symbol: str) -> BBO:
        """Top of ``symbol``'s order book (``fetch_order_book`` with a small depth)."""
        book: Mapping[str, Any] = await self._call(
            Action.QUERY,
            "best_bid_offer",
            symbol,
            lambda: self._exchange.fetch_order_book(symbol, self._order_book_depth),
        )
        try:
            return bbo_from_order_book(book, fallback_timestamp_ms=int(self._exchange.milliseconds()))
        except (ParseError, ValueError) as exc:
            raise VenueRejected(
                f"{self.name}: best_bid_offer {symbol}: {exc}",
                reason=RejectReason.OTHER,
                venue=self.name,
                operation="best_bid_offer",
            ) from exc

    async def place_limit(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        *,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        """Place a limit order; returns it as acknowledged (OPEN when the answer is terse)."""
        return await self._place(
            symbol,
            side,
            quantity,
            price,
            post_only=post_only,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
            operation="place_limit",
        )

    async def place_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        """Place a market order; returns it as acknowledged (filled already on some venues).

        Where the venue has no native market order through ccxt (see
        :attr:`capabilities` ``native_market``), a marketable order bounded at
        ``market_slippage_bps`` past the current touch goes out instead (one BBO
        read first): Hyperliquid's ccxt market order with that slippage, a market
        order with that worst price (Extended, Apex, Lighter), or a limit IOC (dYdX).
        """
        return await self._place(
            symbol,
            side,
            quantity,
            None,
            post_only=False,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
            operation="place_market",
        )

    async def _slippage_bound(self, symbol: str, side: Side, operation: str) -> tuple[Decimal, Decimal]:
        """(touch, bound): the BBO's touch for ``side`` and the price ``market_slippage_bps`` past it,
        on the tick grid and never past the bound."""
        instrument = await self.instrument(symbol)
        bbo = await self.best_bid_offer(symbol)
        tick = instrument.tick_size
        share = self.market_slippage_bps / _BPS
        if side is Side.BUY:
            touch = bbo.ask
            raw = touch * (1 + share)
            bound = (raw / tick).to_integral_value(rounding=decimal.ROUND_FLOOR) * tick
        else:
            touch = bbo.bid
            raw = touch * (1 - share)
            bound = (raw / tick).to_integral_value(rounding=decimal.ROUND_CEILING) * tick
        # The venue's own formatting may be coarser than the tick (Hyperliquid's five
        # significant figures): keep the bound only if formatting leaves it within the cap.
        try:
            with decimal.localcontext():
                formatted = Decimal(str(self._exchange.price_to_precision(symbol, format(bound, "f"))))
        except (ccxt.BaseError, ArithmeticError, ValueError, TypeError):
            formatted = touch
        within = formatted <= raw if side is Side.BUY else formatted >= raw
        toward = formatted >= touch if side is Side.BUY else formatted <= touch
        return touch, formatted if within and toward and formatted > 0 else touch

    async def _place(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal | None,
        *,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
        operation: str,
    ) -> OrderInfo:
        self._refuse_if_untradeable(operation)
        await self._market(symbol, operation)
        wire_id = self._wire_id(symbol, client_order_id, operation)
        amount = self._number(symbol, quantity, what="amount", operation=operation)
        params: dict[str, Any] = {self.profile.client_id_param: self._wire_value(wire_id)}
        if post_only:
            params[self.profile.post_only_param] = True
        if reduce_only:
            params[self.profile.reduce_only_param] = True
        order_type = "limit"
        price_arg: float | int | None = None
        if price is not None:
            price_arg = self._number(symbol, price, what="price", operation=operation)
        elif self._market_mode is MarketMode.NATIVE:
            order_type = "market"
        else:
            touch, bound = await self._slippage_bound(symbol, side, operation)
            if self._market_mode is MarketMode.SLIPPAGE_PRICE:
                order_type = "market"
                price_arg = self._number(symbol, touch, what="price", operation=operation)
                params["slippage"] = format(self.market_slippage_bps / _BPS, "f")
            elif self._market_mode is MarketMode.WORST_PRICE:
                order_type = "market"
                price_arg = self._number(symbol, bound, what="price", operation=operation)
            else:
                price_arg = self._number(symbol, bound, what="price", operation=operation)
                params["timeInForce"] = "IOC"
        sent = SentOrder(
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            client_order_id=client_order_id,
            post_only=post_only,
        )
        self._log.debug(
            "{} {} {} {} {} @ {} post_only={} reduce_only={} client_order_id={} (wire {})",
            operation,
            symbol,
            order_type,
            side.value,
            amount,
            price_arg,
            post_only,
            reduce_only,
            client_order_id,
            wire_id,
        )
        raw: Mapping[str, Any] = await self._call(
            Action.PLACE,
            operation,
            symbol,
            lambda: self._exchange.create_order(symbol, order_type, side.value, amount, price_arg, params),
        )
        order_id = None if not raw else raw.get("id")
        if order_id in (None, "") or str(order_id) in self.profile.placeholder_ids:
            # No usable order id (none, or a placeholder such as GRVT's 0x00 before the
            # matching engine assigns one): the order is known by its client id only.
            try:
                found = await self.order(symbol, client_order_id=client_order_id)
            except HedgeError as exc:
                raise AmbiguousOutcome(
                    f"{self.name}: {operation} {symbol}: the answer carries no usable order id "
                    f"({order_id!r}) and the lookup by client order id {client_order_id} failed: {exc}",
                    venue=self.name,
                    operation=operation,
                ) from exc
            self._remember(found.order_id, sent)
            return found
        self._remember(str(order_id), sent)
        return await self._read_order(raw, symbol, operation, sent=sent, action=Action.PLACE)

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        """Cancel; returns the order as it stands afterwards (possibly FILLED).

        If the venue refuses the cancel because the order is no longer open, the
        order is looked up and returned as it is (FILLED or CANCELED); an order
        the venue does not know raises :class:`~hedge_fsm.errors.OrderNotFound`.
        Venues whose ccxt cancel wants the client id (dYdX) get the one this venue
        sent for the order.
        """
        params: dict[str, Any] = {}
        self._cancels_sent[order_id] = None
        while len(self._cancels_sent) > _REMEMBERED_ORDERS:
            self._cancels_sent.popitem(last=False)
        if self.profile.cancel_by_client_id:
            sent = self._sent.get(order_id)
            if sent is None:
                raise CapabilityError(
                    f"{self.name}: cancel {symbol}: {self.profile.family} cancels by client order id, "
                    f"and order {order_id!r} was not placed through this venue; nothing was sent",
                    venue=self.name,
                    operation="cancel",
                )
            wire = self.wire_client_id(sent.client_order_id)
            params["clientOrderId"] = self._wire_value(wire)
            # ccxt's dydx refuses any id that looks like an order id (it has dashes), even
            # with the client id given: the client id goes in the id's place too.
            cancel_id = wire
        else:
            cancel_id = order_id
        try:
            with decimal.localcontext():
                raw: Mapping[str, Any] = await self._exchange.cancel_order(cancel_id, symbol, params)
        except ccxt.BaseError as exc:
            if not self._cancel_refused_as_finished(exc):
                raise self._translate(exc, Action.CANCEL, "cancel", symbol) from exc
            # "Unknown order" / "already filled or cancelled": the order finished
            # before the cancel arrived (or never existed). Read what it became.
            translated = self._translate(exc, Action.CANCEL, "cancel", symbol)
            self._log.debug("cancel {} {} refused ({}); looking it up", symbol, order_id, translated)
            try:
                return await self.order(symbol, order_id=order_id)
            except OrderNotFound:
                raise OrderNotFound(
                    f"{self.name}: cancel {symbol}: the venue knows no order {order_id!r} "
                    f"(cancel refused: {translated})",
                    venue=self.name,
                    operation="cancel",
                ) from exc
        except HedgeError:
            raise
        except Exception as exc:
            raise self._unexpected(exc, Action.CANCEL, "cancel", symbol) from exc
        if (
            not raw
            or raw.get("id") in (None, "")
            or raw.get("status") in (None, "open")
            or raw.get("filled") is None
        ):
            # The cancel answer does not say how much filled (bybit, okx answer with
            # ids only): the fill count is what matters, so read the order.
            return await self.order(symbol, order_id=order_id)
        return await self._read_order(raw, symbol, "cancel", action=Action.CANCEL)

    def _cancel_refused_as_finished(self, exc: ccxt.BaseError) -> bool:
        """The venue refused a cancel because the order is no longer open (or unknown)."""
        if isinstance(exc, ccxt.InvalidOrder | ccxt.OperationRejected):
            return True
        codes = self.profile.cancel_finished_codes
        return bool(codes) and bool(codes & error_codes(str(exc)))

    async def order(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderInfo:
        """Look an order up by venue id, or by client order id when no venue id is given.

        Where ccxt has no ``fetch_order`` (Lighter) or no lookup by client id
        (Backpack, dYdX), the venue's open and closed order lists are searched.
        """
        if order_id is None and client_order_id is None:
            raise InvalidValue("order() needs an order_id or a client_order_id, got neither")
        params: dict[str, Any] = dict(self.profile.fetch_order_params)
        raw: Mapping[str, Any] | None
        if order_id is None:
            assert client_order_id is not None
            raw = await self._order_by_client_id(symbol, client_order_id, params)
        elif self._has.get("fetchOrder"):
            raw = await self._call(
                Action.QUERY,
                "order",
                symbol,
                lambda: self._exchange.fetch_order(order_id, symbol, params),
            )
        else:
            raw = await self._order_from_lists(symbol, lambda found: str(found.get("id")) == order_id)
        if not raw or raw.get("id") in (None, "") or str(raw.get("id")) in self.profile.placeholder_ids:
            raise OrderNotFound(
                f"{self.name}: order {symbol}: no order with id {order_id!r} / client order id "
                f"{client_order_id!r}",
                venue=self.name,
            )
        return await self._read_order(raw, symbol, "order", client_order_id=client_order_id)

    async def _order_by_client_id(
        self, symbol: str, client_order_id: str, params: dict[str, Any]
    ) -> Mapping[str, Any] | None:
        wire = self.wire_client_id(client_order_id)
        self._note_client_id(wire, client_order_id)
        how = self.profile.lookup_by_client_id
        if how == "lists" or not self._has.get("fetchOrder"):
            return await self._order_from_lists(symbol, lambda found: str(found.get("clientOrderId")) == wire)
        params[self.profile.lookup_param] = wire
        if how == "fetch_order":
            return await self._call(
                Action.QUERY,
                "order",
                symbol,
                lambda: self._exchange.fetch_order(None, symbol, params),
            )
        # bybit: ccxt's fetch_order always sends orderId ("None" when absent), and bybit
        # ranks orderId above orderLinkId. /v5/order/realtime queried by orderLinkId
        # alone ignores openOnly and returns the order whatever its status (bybit's
        # docs), which is the request fetch_open_orders builds.
        lookup = {key: value for key, value in params.items() if key != "acknowledged"}
        orders: list[Mapping[str, Any]] = await self._call(
            Action.QUERY,
            "order",
            symbol,
            lambda: self._exchange.fetch_open_orders(symbol, None, None, lookup),
        )
        for found in orders or []:
            if str(found.get("clientOrderId")) == wire:
                return found
        return None

    async def _order_from_lists(
        self, symbol: str, matches: Callable[[Mapping[str, Any]], bool]
    ) -> Mapping[str, Any] | None:
        """The first order in the venue's open, then closed, order lists that ``matches``."""
        listings = (
            ("fetchOpenOrders", "fetch_open_orders"),
            ("fetchClosedOrders", "fetch_closed_orders"),
            ("fetchOrders", "fetch_orders"),
        )
        searched = False
        for capability, method in listings:
            if not self._has.get(capability):
                continue
            searched = True
            fetch: Callable[[str], Awaitable[list[Mapping[str, Any]]]] = getattr(self._exchange, method)
            orders = await self._call(Action.QUERY, "order", symbol, functools.partial(fetch, symbol))
            for found in orders or []:
                if matches(found):
                    return found
        if not searched:
            raise CapabilityError(
                f"{self.name}: order {symbol}: ccxt has neither fetch_order nor order lists here",
                venue=self.name,
                operation="order",
            )
        return None

    async def position(self, symbol: str) -> Decimal:
        """Signed net position of ``symbol`` in contracts (``fetch_positions``; long positive).

        The sign comes only from what the venue sent (see
        :func:`~hedge_fsm.venues._ccxt_parse.net_position`); a position whose
        direction cannot be known is refused (``VenueRejected``), never guessed.
        """
        market = await self._market(symbol, "position")
        positions: list[Mapping[str, Any]] = await self._call(
            Action.QUERY,
            "position",
            symbol,
            lambda: self._exchange.fetch_positions([symbol], dict(self.profile.position_params)),
        )
        try:
            # ccxt reports positions under the unified symbol; the caller may have used an id.
            return net_position(
                positions or [],
                str(market.get("symbol", symbol)),
                signed_size_keys=self.profile.signed_size_keys,
            )
        except ParseError as exc:
            raise VenueRejected(
                f"{self.name}: position {symbol}: {exc}",
                reason=RejectReason.OTHER,
                venue=self.name,
                operation="position",
            ) from exc

    # ------------------------------------------------------------------ streaming

    async def order_updates(self, symbol: str) -> AsyncIterator[OrderInfo]:
        """Stream ``symbol``'s order changes as :class:`OrderInfo` (ccxt.pro ``watch_orders``).

        Needs a ccxt.pro instance whose ``has['watchOrders']`` is true (see
        :attr:`supports_order_updates`); otherwise raises ``VenueRejected`` at the
        first iteration and the caller keeps polling :meth:`order`. Each update
        carries the order's cumulative fill, like a poll; updates that cannot be
        read (orders placed elsewhere with missing fields) are skipped. The
        iterator ends only by error or when the consumer stops iterating.
        """
        if not self.supports_order_updates:
            raise VenueRejected(
                f"{self.name}: order_updates {symbol}: this exchange instance cannot stream "
                "orders (use a ccxt.pro instance with has['watchOrders']); poll order() instead",
                reason=RejectReason.OTHER,
                venue=self.name,
                operation="order_updates",
            )
        while True:
            updates: list[Mapping[str, Any]] = await self._call(
                Action.QUERY,
                "order_updates",
                symbol,
                lambda: self._exchange.watch_orders(symbol),
            )
            for update in updates or []:
                try:
                    yield self._order_info(update, symbol, "order_updates")
                except VenueRejected as exc:
                    self._log.warning("skipping an unreadable order update: {}", exc)



SUPPORTED_VENUES = (
    "binanceusdm",
    "bybit",
    "okx",
    "hyperliquid",
    "paradex",
    "lighter",
    "aster",
    "backpack",
    "grvt",
    "dydx",
    "extended",
    "apex",
    "gate",
    "kucoinfutures",
    "bitget",
)
"""The ccxt exchange ids this adapter has a profile for and tests offline."""

_TABLE_COLUMNS = (
    "venue",
    "client id",
    "order lookup",
    "by client id",
    "cancel by",
    "market orders",
    "request window",
    "amend",
    "streams (ccxt.pro)",
    "extra fee",
    "trades here",
)


def capability_row(exchange_id: str) -> dict[str, str]:
    """One venue's row of the capability table, from its profile and ccxt's own ``has``."""
    from hedge_fsm.venues._ccxt_profiles import ClientIdFormat, market_mode, profile_for

    exchange = getattr(ccxt, exchange_id)({})
    profile = profile_for(exchange)
    has = exchange.has
    pro_has: Mapping[str, Any] = {}
    try:
        import ccxt.pro as ccxt_pro

        pro_class = getattr(ccxt_pro, exchange_id, None)
        if pro_class is not None:
            pro_has = pro_class({}).has
    except ImportError:  # pragma: no cover - ccxt ships ccxt.pro
        pass
    caps = capabilities_for(profile, has, exchange.options, pro=True)
    if profile.client_id is ClientIdFormat.HEX128:
        client = "0x + 32 hex (hash of the engine id)"
    elif profile.client_id is ClientIdFormat.UINT:
        floor = f" >= 2^{profile.client_id_floor.bit_length() - 1}" if profile.client_id_floor else ""
        client = f"uint{profile.client_id_bits}{floor} (hash of the engine id)"
    elif profile.client_id is ClientIdFormat.PREFIXED:
        client = f"`{profile.client_id_prefix}` + engine id"
    else:
        client = profile.client_id_rule_text or "engine id as is"
    fetch = has.get("fetchOrder")
    lookup = "fetch_order" if fetch is True else "emulated (ccxt)" if fetch else "open/closed lists"
    by_client = {
        "fetch_order": f"fetch_order({profile.lookup_param})",
        "open_orders": f"open orders({profile.lookup_param})",
        "lists": "open/closed lists",
    }[profile.lookup_by_client_id]
    if not fetch and profile.lookup_by_client_id == "fetch_order":
        by_client = "open/closed lists"
    mode = market_mode(profile, has)
    market = {
        "native": "native",
        "slippage_price": "IOC from touch + slippage (ccxt `slippage`)",
        "worst_price": "market with worst price (touch ± slippage)",
        "ioc_limit": "limit IOC at touch ± slippage",
    }[mode.value]
    window = f"{caps.request_window:g} s (`{profile.window_option}`)" if caps.request_window else "none"
    amend = caps.amend.value
    if caps.amend_keeps_priority_on_decrease:
        amend += ", keeps priority on decrease"
    streams = ", ".join(
        name for name, key in (("orders", "watchOrders"), ("book", "watchOrderBook")) if pro_has.get(key)
    ) or "none"
    extra = (
        f"builder fee (`{profile.builder_fee_option}`, default "
        f"{Decimal(profile.builder_fee_default) * profile.builder_fee_unit:f})"
        if profile.builder_fee_option
        else "none"
    )
    trades = "yes"
    if profile.cannot_trade:
        trades = "no (native signer)"
        if profile.can_trade_with_option:
            trades = f"only with `options['{profile.can_trade_with_option}']`"
    return {
        "venue": exchange_id,
        "client id": client,
        "order lookup": lookup,
        "by client id": by_client,
        "cancel by": "client id" if profile.cancel_by_client_id else "order id",
        "market orders": market,
        "request window": window,
        "amend": amend,
        "streams (ccxt.pro)": streams,
        "extra fee": extra,
        "trades here": trades,
    }


def capability_table(exchange_ids: tuple[str, ...] = SUPPORTED_VENUES) -> str:
    """The venue x capability table (Markdown), generated from the profiles and ccxt's data."""
    rows = [capability_row(exchange_id) for exchange_id in exchange_ids]
    lines = [
        "| " + " | ".join(_TABLE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in _TABLE_COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(row[column] for column in _TABLE_COLUMNS) + " |" for row in rows]
    return "\n".join(lines)
