"""The ccxt adapter: any ``ccxt.async_support`` exchange as a hedge_fsm :class:`~hedge_fsm.Venue`.

Theory of operation
-------------------
:class:`CcxtVenue` wraps one ccxt exchange instance that the user builds (keys,
testnet/sandbox, market types to load). Every call goes through ccxt's own
unified methods, so ccxt builds and signs each request and parses each
response; the adapter only translates at the edges:

* **In**: Decimals become strings formatted by the market's own precision
  (``amount_to_precision`` / ``price_to_precision``). If formatting would change
  the value (a price off the tick grid, a quantity off the lot grid) the order
  is refused *before* anything is sent, with ``VenueRejected(INVALID_ORDER)``:
  the engine asked for something the venue cannot represent, and silently
  rounding would break its accounting. Post-only, reduce-only and the client
  order id go out as ccxt's unified ``postOnly``, ``reduceOnly`` and
  ``clientOrderId`` params, which ccxt maps per exchange (binance
  ``timeInForce=GTX`` / ``newClientOrderId``, bybit ``timeInForce=PostOnly`` /
  ``orderLinkId``, okx ``ordType=post_only`` / ``clOrdId``).
* **Out**: ccxt's unified structures become :class:`~hedge_fsm.Instrument`,
  :class:`~hedge_fsm.BBO`, :class:`~hedge_fsm.OrderInfo` with every number a
  Decimal (see :mod:`hedge_fsm.venues._ccxt_parse` for the float handling and
  the status table). A terse acknowledgement (bybit and okx answer a new order
  with its ids only) is completed from what was sent and reported OPEN; the
  first poll tells the rest.
* **Errors**: ccxt exceptions become ``VenueRejected`` (definitive),
  ``OrderNotFound`` or ``AmbiguousOutcome`` (the order may or may not exist)
  depending on what was being done; see :mod:`hedge_fsm.venues._ccxt_errors`.
  Messages never carry keys, secrets or signatures.
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
import logging
import re
import sys
import traceback
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt
from ccxt.base.decimal_to_precision import SIGNIFICANT_DIGITS

from hedge_fsm.errors import (
    AmbiguousOutcome,
    InvalidValue,
    OrderNotFound,
    RejectReason,
    VenueError,
    VenueRejected,
)
from hedge_fsm.secrets import MASK, Secret, log, redact
from hedge_fsm.values import BBO, Instrument, OrderInfo, Side
from hedge_fsm.venues._ccxt_errors import (
    CREDENTIAL_ATTRIBUTES,
    Action,
    credentials_of,
    scrub,
    translate_error,
)
from hedge_fsm.venues._ccxt_parse import (
    FeeSchedule,
    ParseError,
    SentOrder,
    bbo_from_order_book,
    instrument_from_market,
    net_position,
    order_info_from_ccxt,
)

__all__ = ["CcxtVenue", "CredentialError", "FeeSchedule"]

_T = TypeVar("_T")

# How to look an order up by client order id, per exchange family: the param that
# ccxt turns into binance's origClientOrderId and okx's clOrdId, and bybit's
# orderLinkId (which goes through fetch_open_orders, see _order_by_client_id).
_CLIENT_ID_LOOKUP_PARAM: Mapping[str, str] = {
    "binance": "clientOrderId",
    "okx": "clOrdId",
    "bybit": "orderLinkId",
}
# Extra params fetch_order needs, per exchange family. bybit's unified-account
# fetch_order only sees the last 500 orders and insists on being told so; a hedge
# looks up orders it placed seconds ago.
_FETCH_ORDER_PARAMS: Mapping[str, Mapping[str, Any]] = {
    "bybit": {"acknowledged": True},
}
# Client order id rules, per exchange family, from each venue's API docs (binance
# newClientOrderId, bybit orderLinkId, okx clOrdId). A bad id is refused before
# sending, naming the rule: the venues' own answers are vaguer.
_CLIENT_ID_RULES: Mapping[str, tuple[re.Pattern[str], str]] = {
    "binance": (re.compile(r"[.A-Z:/a-z0-9_-]{1,36}"), "1 to 36 of A-Z a-z 0-9 . : / _ -"),
    "bybit": (re.compile(r"[A-Za-z0-9_-]{1,36}"), "1 to 36 of A-Z a-z 0-9 _ -"),
    "okx": (re.compile(r"[A-Za-z0-9]{1,32}"), "1 to 32 letters and digits"),
}
# Orders placed through this venue, remembered to fill the gaps of terse answers.
_REMEMBERED_ORDERS = 4096


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
    BBO (5 is accepted by binance, bybit and okx).
    """

    def __init__(
        self,
        exchange: Any,
        *,
        name: str | None = None,
        fees: FeeSchedule | Mapping[str, FeeSchedule] | None = None,
        order_book_depth: int = 5,
    ) -> None:
        if not isinstance(exchange, ccxt.Exchange):
            raise InvalidValue(
                "CcxtVenue needs a ccxt.async_support (or ccxt.pro) exchange instance, got "
                f"{type(exchange).__module__}.{type(exchange).__name__}"
            )
        self._exchange = exchange
        self.name: str = name or str(exchange.id)
        self._fees = fees
        self._order_book_depth = order_book_depth
        self._family = _exchange_family(exchange)
        self._instruments: dict[str, Instrument] = {}
        self._sent: OrderedDict[str, SentOrder] = OrderedDict()
        self._log = log.bind(venue=self.name)
        self._guard_credentials()

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
        api_key: Secret,
        secret: Secret,
        password: Secret | None = None,
        options: Mapping[str, Any] | None = None,
        sandbox: bool = False,
        config: Mapping[str, Any] | None = None,
        pro: bool = False,
        name: str | None = None,
        fees: FeeSchedule | Mapping[str, FeeSchedule] | None = None,
        order_book_depth: int = 5,
    ) -> CcxtVenue:
        """A venue over a new ccxt exchange instance signed with the given credentials.

        ``exchange_id`` is a ccxt id (``"binanceusdm"``, ``"bybit"``, ``"okx"``);
        ``api_key``, ``secret`` and ``password`` (okx's passphrase) must be
        :class:`~hedge_fsm.secrets.Secret` values: a plain ``str`` raises
        :class:`CredentialError` naming the parameter. ``options`` becomes the
        instance's ccxt ``options``; ``config`` holds any other ccxt constructor
        setting (``enableRateLimit``, ``timeout``, ...) but no credential and no
        ``verbose``. ``sandbox`` switches to the exchange's testnet. ``pro``
        builds a ccxt.pro instance (order streams). The rest is as for
        :class:`CcxtVenue`.
        """
        given = {"api_key": api_key, "secret": secret, "password": password}
        wrong = [
            (parameter, type(value).__name__)
            for parameter, value in given.items()
            if not isinstance(value, Secret) and not (parameter == "password" and value is None)
        ]
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
        settings["apiKey"] = api_key.reveal()
        settings["secret"] = secret.reveal()
        if password is not None:
            settings["password"] = password.reveal()
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
            credentials = [c.reveal() for c in (api_key, secret, password) if c is not None]
            failure = scrub(failure, credentials)
            raise InvalidValue(
                f"CcxtVenue.from_credentials: {failure}",
                field="sandbox" if exchange is not None else "config",
            )
        return cls(exchange, name=name, fees=fees, order_book_depth=order_book_depth)

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
        """Run one ccxt call in a private decimal context, translating its errors."""
        try:
            with decimal.localcontext():
                return await call()
        except ccxt.BaseError as exc:
            raise self._translate(exc, action, operation, symbol) from exc

    def _translate(self, exc: ccxt.BaseError, action: Action, operation: str, symbol: str) -> VenueError:
        return translate_error(
            exc,
            action=action,
            venue=self.name,
            operation=operation,
            symbol=symbol,
            secrets=credentials_of(self._exchange),
        )

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

    def _remember(self, order_id: str, sent: SentOrder) -> None:
        self._sent[order_id] = sent
        self._sent.move_to_end(order_id)
        while len(self._sent) > _REMEMBERED_ORDERS:
            self._sent.popitem(last=False)

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
        if sent is None and raw.get("id") is not None:
            sent = self._sent.get(str(raw["id"]))
        try:
            return order_info_from_ccxt(raw, symbol=symbol, sent=sent, client_order_id=client_order_id)
        except ParseError as exc:
            message = (
                f"{self.name}: {operation} {symbol}: unreadable order: "
                f"{scrub(str(exc), credentials_of(self._exchange))}"
            )
            if action is Action.QUERY:
                raise VenueRejected(
                    message, reason=RejectReason.OTHER, venue=self.name, operation=operation
                ) from exc
            # The place or cancel did happen; only its answer is unreadable. Saying
            # "rejected" would hide a live order: the engine must look it up instead.
            raise AmbiguousOutcome(message, venue=self.name, operation=operation) from exc

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
        except (ccxt.BaseError, ArithmeticError, ValueError, AssertionError) as exc:
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

    def _check_client_order_id(self, symbol: str, client_order_id: str, operation: str) -> None:
        rule = _CLIENT_ID_RULES.get(self._family)
        if rule is not None and not rule[0].fullmatch(client_order_id):
            raise VenueRejected(
                f"{self.name}: {operation} {symbol}: client order id {client_order_id!r} breaks "
                f"{self._family}'s rule ({rule[1]}); nothing was sent",
                reason=RejectReason.INVALID_ORDER,
                venue=self.name,
                operation=operation,
            )

    # ------------------------------------------------------------------ Venue protocol

    async def instrument(self, symbol: str) -> Instrument:
        """Tick, lot, minimums, multiplier and fees of ``symbol`` from its loaded ccxt market.

        Cached per symbol, except on exchanges that count prices in significant
        digits (bitfinex, bithumb): there the tick depends on the price level, so
        it is computed at the current mid each time and holds within that power
        of ten; a price the venue cannot represent is still refused at placement.
        """
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
        if instrument.symbol != symbol:
            # ccxt resolves market ids too ("BTCUSDT"); report under the name we were asked.
            instrument = Instrument(
                symbol=symbol,
                tick_size=instrument.tick_size,
                lot_size=instrument.lot_size,
                min_quantity=instrument.min_quantity,
                min_notional=instrument.min_notional,
                multiplier=instrument.multiplier,
                maker_fee=instrument.maker_fee,
                taker_fee=instrument.taker_fee,
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
        """Place a market order; returns it as acknowledged (filled already on some venues)."""
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
        await self._market(symbol, operation)
        self._check_client_order_id(symbol, client_order_id, operation)
        amount_text = self._format(symbol, quantity, what="amount", operation=operation)
        price_text = None if price is None else self._format(symbol, price, what="price", operation=operation)
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if post_only:
            params["postOnly"] = True
        if reduce_only:
            params["reduceOnly"] = True
        order_type = "market" if price is None else "limit"
        sent = SentOrder(
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            client_order_id=client_order_id,
            post_only=post_only,
        )
        self._log.debug(
            "{} {} {} {} @ {} post_only={} reduce_only={} client_order_id={}",
            operation,
            symbol,
            side.value,
            amount_text,
            price_text,
            post_only,
            reduce_only,
            client_order_id,
        )
        # Strings, not floats, go to ccxt: its request builders format them with
        # the same precision helpers, and a string cannot pick up binary noise.
        raw: Mapping[str, Any] = await self._call(
            Action.PLACE,
            operation,
            symbol,
            lambda: self._exchange.create_order(
                symbol, order_type, side.value, amount_text, price_text, params
            ),
        )
        if not raw or raw.get("id") in (None, ""):
            # The venue answered without an order id: we cannot tell which order (if
            # any) exists. The engine must look it up by client order id.
            raise AmbiguousOutcome(
                f"{self.name}: {operation} {symbol}: the answer carries no order id "
                f"(client order id {client_order_id})",
                venue=self.name,
                operation=operation,
            )
        self._remember(str(raw["id"]), sent)
        return self._order_info(raw, symbol, operation, sent=sent, action=Action.PLACE)

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        """Cancel; returns the order as it stands afterwards (possibly FILLED).

        If the venue refuses the cancel because the order is no longer open, the
        order is looked up and returned as it is (FILLED or CANCELED); an order
        the venue does not know raises :class:`~hedge_fsm.errors.OrderNotFound`.
        """
        try:
            with decimal.localcontext():
                raw: Mapping[str, Any] = await self._exchange.cancel_order(order_id, symbol)
        except (ccxt.InvalidOrder, ccxt.OperationRejected) as exc:
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
        except ccxt.BaseError as exc:
            raise self._translate(exc, Action.CANCEL, "cancel", symbol) from exc
        if (
            not raw
            or raw.get("id") in (None, "")
            or raw.get("status") in (None, "open")
            or raw.get("filled") is None
        ):
            # The cancel answer does not say how much filled (bybit, okx answer with
            # ids only): the fill count is what matters, so read the order.
            return await self.order(symbol, order_id=order_id)
        return self._order_info(raw, symbol, "cancel", action=Action.CANCEL)

    async def order(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderInfo:
        """Look an order up by venue id, or by client order id when no venue id is given."""
        if order_id is None and client_order_id is None:
            raise InvalidValue("order() needs an order_id or a client_order_id, got neither")
        params: dict[str, Any] = dict(_FETCH_ORDER_PARAMS.get(self._family, {}))
        raw: Mapping[str, Any] | None
        if order_id is None:
            assert client_order_id is not None
            params[_CLIENT_ID_LOOKUP_PARAM.get(self._family, "clientOrderId")] = client_order_id
            raw = await self._order_by_client_id(symbol, client_order_id, params)
        else:
            raw = await self._call(
                Action.QUERY,
                "order",
                symbol,
                lambda: self._exchange.fetch_order(order_id, symbol, params),
            )
        if not raw or raw.get("id") in (None, ""):
            raise OrderNotFound(
                f"{self.name}: order {symbol}: no order with id {order_id!r} / client order id "
                f"{client_order_id!r}",
                venue=self.name,
            )
        return self._order_info(raw, symbol, "order", client_order_id=client_order_id)

    async def _order_by_client_id(
        self, symbol: str, client_order_id: str, params: dict[str, Any]
    ) -> Mapping[str, Any] | None:
        if self._family != "bybit":
            return await self._call(
                Action.QUERY,
                "order",
                symbol,
                lambda: self._exchange.fetch_order(None, symbol, params),
            )
        # ccxt's bybit fetch_order always sends orderId ("None" when absent), and bybit
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
            if found.get("clientOrderId") == client_order_id:
                return found
        return None

    async def position(self, symbol: str) -> Decimal:
        """Signed net position of ``symbol`` in contracts (``fetch_positions``; long positive)."""
        market = await self._market(symbol, "position")
        positions: list[Mapping[str, Any]] = await self._call(
            Action.QUERY,
            "position",
            symbol,
            lambda: self._exchange.fetch_positions([symbol]),
        )
        # ccxt reports positions under the unified symbol; the caller may have used an id.
        return net_position(positions or [], str(market.get("symbol", symbol)))

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


def _exchange_family(exchange: Any) -> str:
    """The exchange family (``binance`` for binanceusdm and ccxt.pro's binance, ...)."""
    candidates = [str(getattr(exchange, "id", ""))]
    candidates += [cls.__name__ for cls in type(exchange).__mro__]
    for candidate in candidates:
        for family in _CLIENT_ID_LOOKUP_PARAM:
            if candidate == family:
                return family
    for candidate in candidates:
        for family in _CLIENT_ID_LOOKUP_PARAM:
            if candidate.startswith(family):
                return family
    return str(getattr(exchange, "id", ""))
