"""Read ccxt's unified structures (market, order book, order, position) into hedge_fsm values.

Pure functions over plain dicts, so they are testable without an exchange.

Numbers: ccxt parses the exchange's decimal strings into Python floats. A float
that came from a decimal string of at most 15 significant digits prints back
(``repr``) to exactly that decimal, so ``Decimal(repr(x))`` recovers the
exchange's value; :func:`to_decimal` does that and nothing else touches a float.
Where ccxt *computes* a number (an average price as cost / filled) the float
can carry binary noise, so the exchange's own string in ``info`` is preferred
for the average price.

Status: ccxt's unified status is mapped as documented in :func:`order_status`;
post-only refusals that a venue reports as an expired or cancelled order (not
as an error) keep ``reject_reason=POST_ONLY``, read from the raw ``info``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from hedge_fsm.errors import InvalidValue, RejectReason
from hedge_fsm.values import BBO, Instrument, OrderInfo, OrderStatus, Side
from hedge_fsm.venues._ccxt_profiles import GENERIC, VenueProfile

__all__ = [
    "FeeSchedule",
    "MissingFillPrice",
    "ParseError",
    "PositionSignUnknown",
    "SentOrder",
    "bbo_from_order_book",
    "instrument_from_market",
    "net_position",
    "order_info_from_ccxt",
    "order_status",
    "step_from_precision",
    "to_decimal",
]

ZERO = Decimal(0)

# Raw average-price fields, by exchange API: binance avgPrice, bybit avgPrice, okx avgPx.
_RAW_AVERAGE_KEYS = ("avgPrice", "avgPx", "averagePrice", "avg_price")
# Raw fields where venues say why they cancelled or rejected an order (bybit rejectReason,
# okx cancelSource, paradex cancel_reason, hyperliquid/lighter status, extended statusReason).
_RAW_REASON_KEYS = (
    "rejectReason",
    "cancelSource",
    "cancelSourceReason",
    "cancelReason",
    "cancel_reason",
    "reject_reason",
    "statusReason",
    "reason",
    "cancelType",
    "status",
)
# ccxt's unified timeInForce for post-only (binance GTX, bybit PostOnly, okx post_only).
_POST_ONLY_TIME_IN_FORCE = frozenset({"PO", "GTX"})


class ParseError(ValueError):
    """A ccxt structure lacks what a hedge_fsm value needs (the venue adapter wraps it)."""


class MissingFillPrice(ParseError):
    """An order reports a fill but no price for it (and no trades to compute one from)."""


class PositionSignUnknown(ParseError):
    """A position whose direction the venue's answer does not say."""


@attrs.frozen(kw_only=True)
class FeeSchedule:
    """Maker and taker fee rates (``Decimal("0.0002")`` is 2 bps; negative is a rebate)."""

    maker: Decimal = attrs.field()
    taker: Decimal = attrs.field()

    @maker.validator
    @taker.validator
    def _is_finite_decimal(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
            raise InvalidValue(f"FeeSchedule.{attribute.name} must be a finite Decimal, got {value!r}")


@attrs.frozen(kw_only=True)
class SentOrder:
    """What we asked the venue for: fills the gaps of a terse acknowledgement."""

    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal | None
    client_order_id: str
    post_only: bool = False


def to_decimal(value: object) -> Decimal | None:
    """A Decimal from a ccxt number or string; None for missing, empty or non-finite values.

    Floats go through ``repr`` (the shortest string that round-trips), never
    through ``Decimal(float)``, which would expose binary noise.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # repr gives "100.0" for a float parsed from "100": report the integer as such.
        result = Decimal(int(value)) if value.is_integer() else Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            result = Decimal(text)
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def _positive(value: object) -> Decimal | None:
    number = to_decimal(value)
    return number if number is not None and number > 0 else None


def step_from_precision(precision: object, mode: int, *, reference: Decimal | None = None) -> Decimal:
    """The grid step a ccxt precision value stands for, under ccxt's ``precisionMode``.

    * ``TICK_SIZE``: the precision *is* the step (``0.1``, ``1e-05``).
    * ``DECIMAL_PLACES``: ``n`` places is a step of ``10**-n`` (``-1`` is a step of 10).
    * ``SIGNIFICANT_DIGITS``: the step depends on the magnitude of the number;
      it is computed at ``reference`` (for a price: the current mid), and is only
      valid within that power of ten.
    """
    if mode == TICK_SIZE:
        step = to_decimal(precision)
        if step is None or step <= 0:
            raise ParseError(f"tick-size precision must be a positive number, got {precision!r}")
        return step
    digits = to_decimal(precision)
    if digits is None or digits != digits.to_integral_value():
        raise ParseError(f"precision must be a whole number of digits, got {precision!r}")
    places = int(digits)
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-places)
    if mode == SIGNIFICANT_DIGITS:
        if reference is None or reference <= 0:
            raise ParseError("significant-digit precision needs a positive reference value to give a step")
        return Decimal(1).scaleb(reference.adjusted() - places + 1)
    raise ParseError(f"unknown ccxt precisionMode {mode!r}")


def instrument_from_market(
    market: Mapping[str, Any],
    *,
    precision_mode: int,
    fees: FeeSchedule | None = None,
    reference_price: Decimal | None = None,
) -> Instrument:
    """An :class:`Instrument` from a loaded ccxt market.

    Tick and lot from ``precision`` (per ``precision_mode``), minimum quantity from
    ``limits.amount.min``, minimum notional from ``limits.cost.min``, multiplier
    from ``contractSize`` (1 for spot), fees from ``fees`` if given, else the
    market's ``maker``/``taker`` (ccxt's defaults, not the account's tier).
    """
    symbol = str(market.get("symbol") or "")
    if not symbol:
        raise ParseError("market has no symbol")
    precision = market.get("precision") or {}
    if precision.get("price") is None or precision.get("amount") is None:
        raise ParseError(f"market {symbol} has no price or amount precision")
    tick = step_from_precision(precision["price"], precision_mode, reference=reference_price)
    # Exchanges that count prices in significant digits (bitfinex, bithumb) still count
    # amounts in decimal places: ccxt overrides their amount_to_precision to say so.
    # (Significant-digit amounts would have no fixed lot at all.)
    amount_mode = DECIMAL_PLACES if precision_mode == SIGNIFICANT_DIGITS else precision_mode
    lot = step_from_precision(precision["amount"], amount_mode)
    limits = market.get("limits") or {}
    min_quantity = to_decimal((limits.get("amount") or {}).get("min")) or ZERO
    min_notional = to_decimal((limits.get("cost") or {}).get("min")) or ZERO
    multiplier = _positive(market.get("contractSize")) or Decimal(1)
    if fees is None:
        fees = FeeSchedule(
            maker=to_decimal(market.get("maker")) or ZERO,
            taker=to_decimal(market.get("taker")) or ZERO,
        )
    return Instrument(
        symbol=symbol,
        tick_size=tick,
        lot_size=lot,
        min_quantity=max(min_quantity, ZERO),
        min_notional=max(min_notional, ZERO),
        multiplier=multiplier,
        maker_fee=fees.maker,
        taker_fee=fees.taker,
    )


def bbo_from_order_book(book: Mapping[str, Any], *, fallback_timestamp_ms: int) -> BBO:
    """The top of a ccxt order book; the timestamp is in Decimal seconds.

    Venues that do not stamp their books (``timestamp`` None) get the local
    receive time, ``fallback_timestamp_ms``.
    """
    bids: Sequence[Sequence[Any]] = book.get("bids") or []
    asks: Sequence[Sequence[Any]] = book.get("asks") or []
    if not bids or not asks:
        raise ParseError("order book has an empty side")
    bid, bid_size = _level(bids[0])
    ask, ask_size = _level(asks[0])
    stamp = book.get("timestamp")
    millis = stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None
    if millis is None:
        millis = fallback_timestamp_ms
    return BBO(
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
        timestamp=Decimal(millis) / Decimal(1000),
    )


def _level(level: Sequence[Any]) -> tuple[Decimal, Decimal]:
    price = _positive(level[0]) if len(level) > 0 else None
    size = to_decimal(level[1]) if len(level) > 1 else None
    if price is None:
        raise ParseError(f"order book level without a positive price: {list(level)!r}")
    return price, size if size is not None and size > 0 else ZERO


def net_position(
    positions: Sequence[Mapping[str, Any]], symbol: str, *, signed_size_keys: Sequence[str] = ()
) -> Decimal:
    """Signed net contracts of ``symbol`` (long positive), summing hedge-mode sides.

    The direction comes only from what the venue sent: the sign of its raw signed
    size when it has one (``signed_size_keys`` of ``info``: binance/aster
    ``positionAmt``, hyperliquid ``szi``, backpack ``netQuantity``), else ccxt's
    ``side``, else a negative ``contracts`` (a sign can only come from the venue). A non-zero position
    without any of these raises :class:`PositionSignUnknown`: ccxt's Aster parser,
    for one, strips the sign and derives the side from ``notional``, which the
    venue may leave out; reading such a short as a long would double it.
    """
    net = ZERO
    for position in positions:
        if position.get("symbol") != symbol:
            continue
        contracts = to_decimal(position.get("contracts"))
        if contracts is None or contracts == 0:
            continue
        signed = _raw_signed_size(position, signed_size_keys)
        side = position.get("side")
        if signed is not None and signed != 0:
            # The venue's own signed size wins over ccxt's side, which some parsers derive
            # from other fields (backpack from netCost, aster from notional).
            net += abs(contracts) if signed > 0 else -abs(contracts)
        elif side == "long":
            net += abs(contracts)
        elif side == "short":
            net -= abs(contracts)
        elif contracts < 0:
            net += contracts
        else:
            raise PositionSignUnknown(
                f"position {symbol} of {contracts} contracts has no side and no signed size: "
                "long or short cannot be told"
            )
    return net


def _raw_signed_size(position: Mapping[str, Any], keys: Sequence[str]) -> Decimal | None:
    info = position.get("info")
    if not isinstance(info, Mapping):
        return None
    for key in keys:
        if key == "sign":
            # lighter: "sign": 1 long, -1 short, beside an unsigned "position".
            sign = to_decimal(info.get("sign"))
            if sign is not None and sign != 0:
                return sign
            continue
        value = to_decimal(info.get(key))
        if value is not None:
            return value
    return None


def order_status(
    order: Mapping[str, Any], filled: Decimal, quantity: Decimal, profile: VenueProfile = GENERIC
) -> tuple[OrderStatus, RejectReason | None]:
    """hedge_fsm's status (and post-only reason) for a ccxt unified order.

    ====================  ===========================================================
    ccxt ``status``        hedge_fsm
    ====================  ===========================================================
    ``open`` (or none)     FILLED when filled == quantity (a terse market ack that says
                           how much filled but no status, Hyperliquid's ``filled``);
                           PARTIALLY_FILLED if filled > 0, else OPEN. An acknowledgement
                           without a status is an order the venue accepted.
    ``closed``             FILLED; but CANCELED when filled < quantity (bybit reports
                           ``PartiallyFilledCanceled`` as ``closed``).
    ``canceled``           CANCELED; REJECTED with POST_ONLY when the venue cancelled a
                           post-only order, unfilled, because it would have taken
                           (bybit ``EC_PostOnlyWillTakeLiquidity``, okx cancelSource 31).
    ``expired``            EXPIRED; with POST_ONLY when the order was post-only and
                           nothing filled (binance GTX orders expire, EXPIRED or
                           EXPIRED_IN_MATCH, instead of crossing).
    ``rejected``           REJECTED; with POST_ONLY when the reason says so.
    ====================  ===========================================================

    Non-unified strings a venue's ccxt class passes through (GRVT ``pending``,
    Apex ``filled``, dYdX ``canceling``) are mapped by the venue's profile first;
    any other unknown string is a :class:`ParseError`, never a guess.
    """
    status = order.get("status")
    if isinstance(status, str):
        status = profile.status_map.get(status, status)
    if status == "closed":
        return (OrderStatus.FILLED, None) if filled >= quantity else (OrderStatus.CANCELED, None)
    if status == "canceled":
        if filled == 0 and _venue_cancelled_post_only(order, profile):
            return OrderStatus.REJECTED, RejectReason.POST_ONLY
        return OrderStatus.CANCELED, None
    if status == "expired":
        post_only = filled == 0 and (_is_post_only_order(order) or _venue_cancelled_post_only(order, profile))
        return OrderStatus.EXPIRED, RejectReason.POST_ONLY if post_only else None
    if status == "rejected":
        if _venue_cancelled_post_only(order, profile):
            return OrderStatus.REJECTED, RejectReason.POST_ONLY
        return OrderStatus.REJECTED, _venue_reject_reason(order, profile)
    if status in (None, "open"):
        if filled >= quantity:
            return OrderStatus.FILLED, None
        return (OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN), None
    raise ParseError(f"unknown ccxt order status {status!r}")


def _is_post_only_order(order: Mapping[str, Any]) -> bool:
    if order.get("postOnly") is True or order.get("timeInForce") in _POST_ONLY_TIME_IN_FORCE:
        return True
    info = order.get("info") or {}
    return isinstance(info, Mapping) and info.get("timeInForce") in ("GTX", "PostOnly")


def _venue_cancelled_post_only(order: Mapping[str, Any], profile: VenueProfile) -> bool:
    """The venue's own reason string (exactly) says: cancelled because post-only would take."""
    reasons = profile.post_only_cancel_reasons
    if not reasons:
        return False
    info = order.get("info") or {}
    if not isinstance(info, Mapping):
        return False
    nested = [info] + [v for v in info.values() if isinstance(v, Mapping)]
    return any(
        isinstance(part.get(key), str | int) and str(part.get(key)) in reasons
        for part in nested
        for key in _RAW_REASON_KEYS
    )


def average_from_trades(trades: Sequence[Mapping[str, Any]], order_id: str) -> tuple[Decimal, Decimal] | None:
    """(filled, average price) of ``order_id``'s trades in a ccxt trade list, or None."""
    quantity = notional = ZERO
    for trade in trades:
        if str(trade.get("order")) != order_id:
            continue
        amount, price = _positive(trade.get("amount")), _positive(trade.get("price"))
        if amount is None or price is None:
            continue
        quantity += amount
        notional += amount * price
    return (quantity, notional / quantity) if quantity > 0 else None


def _venue_reject_reason(order: Mapping[str, Any], profile: VenueProfile) -> RejectReason | None:
    """Our reason for a venue's own rejection string (exactly, per the profile)."""
    info = order.get("info") or {}
    if not profile.reject_reasons or not isinstance(info, Mapping):
        return None
    for key in _RAW_REASON_KEYS:
        value = info.get(key)
        if isinstance(value, str) and value in profile.reject_reasons:
            return profile.reject_reasons[value]
    return None


def _average_price(
    order: Mapping[str, Any], filled: Decimal, profile: VenueProfile = GENERIC
) -> Decimal | None:
    """The venue's average fill price: its own raw field, else ccxt's ``average``.

    ccxt's ``average`` is the venue's (or the venue's cost over the fill); ccxt's
    ``cost`` is not used: when the venue gives no average, ccxt fills ``cost`` in
    as filled x *limit price*, which is not a fill price.
    """
    info = order.get("info") or {}
    if isinstance(info, Mapping):
        for key in _RAW_AVERAGE_KEYS:
            raw = _positive(info.get(key))
            if raw is not None:
                return raw
        if profile.fill_value_keys is not None:
            value_key, size_key = profile.fill_value_keys
            value, size = _positive(info.get(value_key)), _positive(info.get(size_key))
            if value is not None and size is not None:
                return value / size
    return _positive(order.get("average"))


def _maker_quantity(order: Mapping[str, Any], filled: Decimal, post_only: bool) -> Decimal | None:
    trades = order.get("trades") or []
    if trades and all(isinstance(t, Mapping) and t.get("takerOrMaker") for t in trades):
        maker = sum(
            (to_decimal(t.get("amount")) or ZERO for t in trades if t.get("takerOrMaker") == "maker"),
            ZERO,
        )
        return min(maker, filled)
    if post_only:
        # A post-only order can only ever fill as maker.
        return filled
    return None


def order_info_from_ccxt(
    order: Mapping[str, Any],
    *,
    symbol: str,
    sent: SentOrder | None = None,
    client_order_id: str | None = None,
    profile: VenueProfile = GENERIC,
    engine_client_id: Callable[[str], str] | None = None,
    trades: Sequence[Mapping[str, Any]] | None = None,
) -> OrderInfo:
    """An :class:`OrderInfo` from a ccxt unified order.

    ``sent`` (what we placed) fills fields a terse acknowledgement leaves out
    (bybit and okx answer a new order with ids only); ``client_order_id`` is the
    id to report when neither the venue nor ``sent`` gives one. ``engine_client_id``
    turns the venue's client id (Hyperliquid hex, Lighter integer, Gate ``t-...``)
    back into the engine's. ``trades`` (the venue's fills of this order) give the
    average price when the order itself reports none; without either, a filled
    order raises :class:`MissingFillPrice`: the limit price is not a fill price.
    """
    order_id = order.get("id")
    if order_id is None or str(order_id) == "":
        raise ParseError("order has no id")
    order_id = str(order_id)
    side_text = order.get("side")
    if side_text in ("buy", "sell"):
        side = Side(side_text)
    elif sent is not None:
        side = sent.side
    else:
        raise ParseError(f"order {order_id} has no side")
    quantity = _positive(order.get("amount")) or (sent.quantity if sent is not None else None)
    if quantity is None:
        raise ParseError(f"order {order_id} has no quantity")
    filled = to_decimal(order.get("filled"))
    if filled is None:
        raw_status = order.get("status")
        mapped = profile.status_map.get(raw_status, raw_status) if isinstance(raw_status, str) else None
        filled = quantity if mapped == "closed" else ZERO
    status, reason = order_status(order, filled, quantity, profile)
    is_market = order.get("type") == "market"
    price = None if is_market else _positive(order.get("price"))
    if price is None and sent is not None and not is_market:
        price = sent.price
    average = _average_price(order, filled, profile) if filled > 0 else None
    if filled > 0 and average is None and trades:
        computed = average_from_trades(trades, order_id)
        if computed is not None and computed[0] >= filled:
            average = computed[1]
    if filled > 0 and average is None:
        raise MissingFillPrice(f"order {order_id} reports {filled} filled but no fill price")
    post_only = (sent is not None and sent.post_only) or _is_post_only_order(order)
    reported_client_id = order.get("clientOrderId")
    if reported_client_id not in (None, "") and engine_client_id is not None:
        reported_client_id = engine_client_id(str(reported_client_id))
    client_id = (
        str(reported_client_id)
        if reported_client_id not in (None, "")
        else (sent.client_order_id if sent is not None else client_order_id) or order_id
    )
    try:
        return OrderInfo(
            order_id=order_id,
            client_order_id=client_id,
            symbol=symbol,
            side=side,
            quantity=quantity,
            price=price,
            status=status,
            filled_quantity=filled,
            average_price=average,
            reject_reason=reason,
            maker_quantity=_maker_quantity(order, filled, post_only) if filled > 0 else None,
        )
    except InvalidValue as exc:
        raise ParseError(str(exc)) from exc
