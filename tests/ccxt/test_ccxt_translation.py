"""The adapter's pure translation rules: precision modes, numbers, statuses, errors, scrubbing."""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from hedge_fsm import (
    AmbiguousOutcome,
    InvalidValue,
    OrderNotFound,
    OrderStatus,
    RejectReason,
    Side,
    VenueRejected,
)
from hedge_fsm.errors import CapabilityError
from hedge_fsm.venues._ccxt_errors import Action, scrub, translate_error
from hedge_fsm.venues._ccxt_parse import (
    MissingFillPrice,
    ParseError,
    SentOrder,
    instrument_from_market,
    net_position,
    order_info_from_ccxt,
    step_from_precision,
    to_decimal,
)
from hedge_fsm.venues._ccxt_profiles import PROFILES
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import (
    API_KEY,
    SECRET,
    FakeHttp,
    assert_no_float,
    load_fixture,
    make_exchange,
    run,
)

# --------------------------------------------------------------------------- numbers and grids


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, "0.1"),
        (0.001, "0.001"),
        (1e-05, "0.00001"),
        (100.0, "100"),
        (65000.1, "65000.1"),
        ("0.010", "0.010"),
        (3, "3"),
        (Decimal("2.5"), "2.5"),
    ],
)
def test_to_decimal_recovers_the_exchange_decimal_from_ccxt_numbers(value: object, expected: str) -> None:
    """Floats go through repr (never Decimal(float)): 0.1 is 0.1, not 0.1000000000000000055."""
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert result == Decimal(expected)
    assert str(result) == expected


@pytest.mark.parametrize("value", [None, "", "  ", "abc", float("nan"), float("inf"), True, [1]])
def test_to_decimal_gives_none_for_what_is_not_a_finite_number(value: object) -> None:
    """Missing, empty, non-numeric and non-finite values are None, never a bad Decimal."""
    assert to_decimal(value) is None


@pytest.mark.parametrize(
    ("precision", "mode", "reference", "step"),
    [
        (0.1, TICK_SIZE, None, "0.1"),
        (1e-07, TICK_SIZE, None, "0.0000001"),
        (5.0, TICK_SIZE, None, "5"),
        (3, DECIMAL_PLACES, None, "0.001"),
        (0, DECIMAL_PLACES, None, "1"),
        (-1, DECIMAL_PLACES, None, "10"),
        (2.0, DECIMAL_PLACES, None, "0.01"),
        (5, SIGNIFICANT_DIGITS, Decimal("65000.1"), "1"),
        (5, SIGNIFICANT_DIGITS, Decimal("0.012345"), "0.000001"),
        (4, SIGNIFICANT_DIGITS, Decimal("1.5"), "0.001"),
    ],
)
def test_step_from_precision_under_each_ccxt_precision_mode(
    precision: object, mode: int, reference: Decimal | None, step: str
) -> None:
    """TICK_SIZE is the step; DECIMAL_PLACES n is 10**-n; SIGNIFICANT_DIGITS depends on the price."""
    assert step_from_precision(precision, mode, reference=reference) == Decimal(step)


@pytest.mark.parametrize(
    ("precision", "mode"),
    [(0, TICK_SIZE), (None, TICK_SIZE), (2.5, DECIMAL_PLACES), (5, SIGNIFICANT_DIGITS)],
)
def test_step_from_precision_refuses_what_has_no_step(precision: object, mode: int) -> None:
    """A zero tick, fractional places, or significant digits without a reference price."""
    with pytest.raises(ParseError):
        step_from_precision(precision, mode)


def _market(**overrides: Any) -> dict[str, Any]:
    market: dict[str, Any] = {
        "symbol": "BTC/USDT",
        "precision": {"amount": 4, "price": 2},
        "limits": {"amount": {"min": 0.0001, "max": None}, "cost": {"min": 10.0, "max": None}},
        "contractSize": None,
        "maker": 0.001,
        "taker": 0.001,
    }
    market.update(overrides)
    return market


def test_instrument_in_decimal_places_mode_uses_powers_of_ten() -> None:
    """An exchange in DECIMAL_PLACES mode: 2 places of price, 4 of amount; spot multiplier 1."""
    instrument = instrument_from_market(_market(), precision_mode=DECIMAL_PLACES)
    assert instrument.tick_size == Decimal("0.01")
    assert instrument.lot_size == Decimal("0.0001")
    assert instrument.min_quantity == Decimal("0.0001")
    assert instrument.min_notional == Decimal("10")
    assert instrument.multiplier == Decimal("1")
    assert instrument.maker_fee == Decimal("0.001")
    assert_no_float(instrument)


def test_instrument_in_significant_digits_mode_ticks_at_the_reference_price() -> None:
    """Prices in significant digits tick at the current price level; amounts stay in
    decimal places (as ccxt's bitfinex and bithumb format them)."""
    instrument = instrument_from_market(
        _market(precision={"amount": 8, "price": 5}),
        precision_mode=SIGNIFICANT_DIGITS,
        reference_price=Decimal("65000.5"),
    )
    assert instrument.tick_size == Decimal("1")
    assert instrument.lot_size == Decimal("0.00000001")


def test_net_position_sums_hedge_mode_sides() -> None:
    """A long and a short of the same symbol (hedge mode) net out; other symbols are ignored."""
    positions: list[dict[str, Any]] = [
        {"symbol": "BTC/USDT:USDT", "side": "long", "contracts": 0.005},
        {"symbol": "BTC/USDT:USDT", "side": "short", "contracts": 0.003},
        {"symbol": "ETH/USDT:USDT", "side": "long", "contracts": 7.0},
        {"symbol": "BTC/USDT:USDT", "side": None, "contracts": 0.0},
    ]
    assert net_position(positions, "BTC/USDT:USDT") == Decimal("0.002")


# --------------------------------------------------------------------------- orders


def _order(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": "7",
        "clientOrderId": None,
        "symbol": "BTC/USDT:USDT",
        "type": "limit",
        "side": "buy",
        "amount": 0.003,
        "price": 65000.1,
        "filled": 0.0,
        "average": None,
        "cost": 0.0,
        "status": "open",
        "postOnly": False,
        "timeInForce": "GTC",
        "trades": [],
        "info": {},
    }
    order.update(overrides)
    return order


def test_a_terse_acknowledgement_is_completed_from_what_was_sent() -> None:
    """Ids only (bybit, okx): side, quantity, price and client id come from the request; OPEN."""
    sent = SentOrder(
        symbol="BTC/USDT:USDT",
        side=Side.SELL,
        quantity=Decimal("0.003"),
        price=Decimal("65000.1"),
        client_order_id="cid-1",
        post_only=True,
    )
    terse = {
        "id": "7",
        "clientOrderId": None,
        "status": None,
        "amount": None,
        "filled": None,
        "side": None,
        "price": None,
        "info": {"orderId": "7"},
    }
    info = order_info_from_ccxt(terse, symbol="BTC/USDT:USDT", sent=sent)
    assert (info.side, info.quantity, info.price) == (Side.SELL, Decimal("0.003"), Decimal("65000.1"))
    assert info.client_order_id == "cid-1"
    assert info.status is OrderStatus.OPEN
    assert info.filled_quantity == 0


def test_computed_average_price_prefers_the_exchange_string() -> None:
    """ccxt's cost/filled float carries noise; the raw avgPrice string is exact."""
    order = _order(
        status="closed",
        filled=0.003,
        average=65000.13333333333,
        cost=195000.4,
        info={"avgPrice": "65000.1333"},
    )
    info = order_info_from_ccxt(order, symbol="BTC/USDT:USDT")
    assert str(info.average_price) == "65000.1333"


def test_maker_quantity_comes_from_trade_liquidity_when_reported() -> None:
    """Trades with takerOrMaker split the fill; without them a plain order reports None."""
    trades = [
        {"amount": 0.001, "takerOrMaker": "maker"},
        {"amount": 0.002, "takerOrMaker": "taker"},
    ]
    with_trades = order_info_from_ccxt(
        _order(status="closed", filled=0.003, average=65000.1, trades=trades),
        symbol="BTC/USDT:USDT",
    )
    without = order_info_from_ccxt(
        _order(status="closed", filled=0.003, average=65000.1), symbol="BTC/USDT:USDT"
    )
    assert with_trades.maker_quantity == Decimal("0.001")
    assert without.maker_quantity is None


def test_filled_order_without_any_fill_price_is_refused_not_given_the_limit_price() -> None:
    """Regression: a fill with no price reported is unreadable, never priced at the limit."""
    with pytest.raises(MissingFillPrice):
        order_info_from_ccxt(_order(status="closed", filled=0.003, cost=None), symbol="BTC/USDT:USDT")


def test_fill_price_is_computed_from_the_orders_own_trades() -> None:
    """Without an average, the VWAP of the venue's trades of this order (not others') is the price."""
    trades = [
        {"order": "7", "amount": 0.001, "price": 65000.0},
        {"order": "7", "amount": 0.002, "price": 65000.3},
        {"order": "8", "amount": 5.0, "price": 1.0},
    ]
    info = order_info_from_ccxt(
        _order(status="closed", filled=0.003, cost=None), symbol="BTC/USDT:USDT", trades=trades
    )
    assert info.average_price == (Decimal("65") + Decimal("130.0006")) / Decimal("0.003")


def test_a_missing_status_with_everything_filled_is_filled() -> None:
    """Regression (Hyperliquid's terse market ack): filled == amount and no status is FILLED."""
    info = order_info_from_ccxt(_order(status=None, filled=0.003, average=65000.5), symbol="BTC/USDT:USDT")
    assert info.status is OrderStatus.FILLED
    partial = order_info_from_ccxt(_order(status=None, filled=0.001, average=65000.5), symbol="BTC/USDT:USDT")
    assert partial.status is OrderStatus.PARTIALLY_FILLED


def test_venue_status_strings_are_mapped_by_the_profile_and_unknown_ones_refused() -> None:
    """GRVT 'pending' is open, Apex 'filled' is closed, dYdX 'canceling' still open; others fail."""
    grvt, apex, dydx = PROFILES["grvt"], PROFILES["apex"], PROFILES["dydx"]
    pending = order_info_from_ccxt(_order(status="pending", filled=0), symbol="S", profile=grvt)
    assert pending.status is OrderStatus.OPEN
    filled = order_info_from_ccxt(
        _order(status="filled", filled=None, average=65000.1), symbol="S", profile=apex
    )
    assert (filled.status, filled.filled_quantity) == (OrderStatus.FILLED, Decimal("0.003"))
    canceling = order_info_from_ccxt(_order(status="canceling", filled=0), symbol="S", profile=dydx)
    assert canceling.status is OrderStatus.OPEN
    with pytest.raises(ParseError, match="unknown ccxt order status"):
        order_info_from_ccxt(_order(status="pending", filled=0), symbol="S")


def test_unknown_status_and_missing_id_are_parse_errors() -> None:
    """What cannot be read is refused with a clear error, never guessed."""
    with pytest.raises(ParseError, match="unknown ccxt order status"):
        order_info_from_ccxt(_order(status="pending_new"), symbol="BTC/USDT:USDT")
    with pytest.raises(ParseError, match="no id"):
        order_info_from_ccxt(_order(id=None), symbol="BTC/USDT:USDT")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("error", "action", "expected", "reason"),
    [
        # Without a venue profile, neither ccxt's OrderImmediatelyFillable (a stop that would
        # trigger at once on binance) nor words in a message make a post-only refusal.
        (ccxt.OrderImmediatelyFillable("x"), Action.PLACE, VenueRejected, RejectReason.INVALID_ORDER),
        (
            ccxt.InvalidOrder("x Post Only order will be rejected"),
            Action.PLACE,
            VenueRejected,
            RejectReason.INVALID_ORDER,
        ),
        (ccxt.NotSupported("x"), Action.PLACE, CapabilityError, None),
        (ccxt.NotSupported("x"), Action.CANCEL, CapabilityError, None),
        (ccxt.InvalidOrder("x price out of range"), Action.PLACE, VenueRejected, RejectReason.INVALID_ORDER),
        (ccxt.InsufficientFunds("x"), Action.PLACE, VenueRejected, RejectReason.INSUFFICIENT_FUNDS),
        (ccxt.DuplicateOrderId("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.RequestTimeout("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.ExchangeNotAvailable("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.DDoSProtection("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.RateLimitExceeded("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.NetworkError("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.BadResponse("x"), Action.PLACE, AmbiguousOutcome, None),
        (ccxt.InvalidNonce("x"), Action.PLACE, VenueRejected, RejectReason.OTHER),
        (ccxt.AuthenticationError("x"), Action.PLACE, VenueRejected, RejectReason.OTHER),
        (ccxt.RequestTimeout("x"), Action.CANCEL, AmbiguousOutcome, None),
        (ccxt.DDoSProtection("x"), Action.CANCEL, AmbiguousOutcome, None),
        (ccxt.OrderNotFound("x"), Action.CANCEL, OrderNotFound, RejectReason.UNKNOWN_ORDER),
        (ccxt.OrderNotFound("x"), Action.QUERY, OrderNotFound, RejectReason.UNKNOWN_ORDER),
        (ccxt.RateLimitExceeded("x"), Action.QUERY, VenueRejected, RejectReason.RATE_LIMITED),
        (ccxt.DDoSProtection("x"), Action.QUERY, VenueRejected, RejectReason.RATE_LIMITED),
        (ccxt.RequestTimeout("x"), Action.QUERY, VenueRejected, RejectReason.VENUE_UNAVAILABLE),
        (ccxt.ExchangeNotAvailable("x"), Action.QUERY, VenueRejected, RejectReason.VENUE_UNAVAILABLE),
        (ccxt.BadSymbol("x"), Action.QUERY, VenueRejected, RejectReason.INVALID_ORDER),
    ],
)
def test_translate_error_by_action(
    error: Exception, action: Action, expected: type[Exception], reason: RejectReason | None
) -> None:
    """The same ccxt error means different things when placing, cancelling or querying."""
    translated = translate_error(error, action=action, venue="v", operation="op", symbol="S")
    assert type(translated) is expected
    if reason is not None:
        assert isinstance(translated, VenueRejected)
        assert translated.reason is reason


def test_scrub_removes_query_strings_signatures_and_credentials() -> None:
    """Signed URLs, signature pairs and the instance's own credentials never survive."""
    text = (
        "binanceusdm POST https://fapi.binance.com/fapi/v1/order?timestamp=1&signature=abc123 "
        f'{{"sign": "deadbeef", "apiKey": "{API_KEY}"}} secret={SECRET} raw {SECRET}'
    )
    cleaned = scrub(text, [API_KEY, SECRET])
    for leaked in ("abc123", "deadbeef", API_KEY, SECRET, "timestamp=1"):
        assert leaked not in cleaned
    assert "https://fapi.binance.com/fapi/v1/order?<redacted>" in cleaned


def test_translated_error_scrubs_the_ccxt_cause_in_place() -> None:
    """raise ... from exc keeps the cause in tracebacks, so the cause is scrubbed as well."""
    cause = ccxt.RequestTimeout("okx POST https://www.okx.com/api/v5/x?sign=zzz " + SECRET)
    translated = translate_error(
        cause, action=Action.PLACE, venue="okx", operation="place_limit", symbol="S", secrets=[SECRET]
    )
    assert SECRET not in str(cause) and "zzz" not in str(cause)
    assert SECRET not in str(translated)


# --------------------------------------------------------------------------- venue plumbing


def test_the_callers_decimal_context_is_left_untouched() -> None:
    """ccxt's precision helpers set ROUND_HALF_UP and trap Underflow on the current context;
    the venue runs them in a private context, so the caller's arithmetic is unaffected."""

    async def scenario() -> None:
        exchange = make_exchange("binanceusdm")
        http = FakeHttp(exchange).install()
        http.on("GET", "/fapi/v1/exchangeInfo", load_fixture("binanceusdm_exchange_info.json"))
        http.on("GET", "/sapi/v1/capital/config/getall", [])
        http.on("GET", "/sapi/v1/margin/allPairs", [])
        http.on(
            "POST",
            "/fapi/v1/order",
            {
                "orderId": 1,
                "status": "NEW",
                "clientOrderId": "c",
                "origQty": "0.003",
                "executedQty": "0",
                "price": "65000.1",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTX",
                "symbol": "BTCUSDT",
            },
        )
        venue = CcxtVenue(exchange)
        try:
            with decimal.localcontext() as context:
                await venue.place_limit(
                    "BTC/USDT:USDT",
                    Side.BUY,
                    Decimal("0.003"),
                    Decimal("65000.1"),
                    post_only=True,
                    reduce_only=False,
                    client_order_id="c",
                )
                assert context.rounding == decimal.ROUND_HALF_EVEN
                assert not context.traps[decimal.Underflow]
        finally:
            await exchange.close()

    run(scenario)


def test_venue_refuses_a_non_ccxt_object_and_names_itself_after_the_exchange() -> None:
    """The constructor checks its argument; name defaults to the exchange id."""

    async def scenario() -> None:
        exchange = make_exchange("okx")
        try:
            assert CcxtVenue(exchange).name == "okx"
            assert CcxtVenue(exchange, name="okx-demo").name == "okx-demo"
        finally:
            await exchange.close()

    with pytest.raises(InvalidValue, match=r"ccxt\.async_support"):
        CcxtVenue(object())
    run(scenario)
