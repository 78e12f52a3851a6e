"""Values: validated at construction, refused with an error naming class.field and the value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import (
    BBO,
    Instrument,
    InvalidValue,
    LegSpec,
    OrderInfo,
    OrderStatus,
    Side,
    TriggerFill,
)
from tests.strategies import (
    bbos,
    instruments,
    is_multiple_of,
    order_reports,
    placed_orders,
    ticks,
)

D = Decimal


def valid_instrument() -> dict[str, Any]:
    return {
        "symbol": "BTC-PERP",
        "tick_size": D("0.05"),
        "lot_size": D("0.001"),
        "min_quantity": D("0.001"),
        "min_notional": D("5"),
        "multiplier": D("1"),
        "maker_fee": D("0.0002"),
        "taker_fee": D("0.0005"),
    }


def valid_bbo() -> dict[str, Any]:
    return {
        "bid": D("100.00"),
        "ask": D("100.05"),
        "bid_size": D("3"),
        "ask_size": D("4"),
        "timestamp": D("12.5"),
    }


def valid_order_info() -> dict[str, Any]:
    return {
        "order_id": "v-1",
        "client_order_id": "c-1",
        "symbol": "BTC-PERP",
        "side": Side.BUY,
        "quantity": D("2"),
        "price": D("100.00"),
        "status": OrderStatus.PARTIALLY_FILLED,
        "filled_quantity": D("1"),
        "average_price": D("100.00"),
    }


def valid_leg_spec() -> dict[str, Any]:
    return {
        "venue": "alpha",
        "symbol": "BTC-PERP",
        "side": Side.SELL,
        "quantity": D("0.5"),
        "price": D("100.10"),
    }


def valid_trigger_fill() -> dict[str, Any]:
    return {
        "side": Side.BUY,
        "price": D("100.00"),
        "multiplier": D("1000"),
        "fee_rate": D("0.0002"),
    }


VALID = {
    Instrument: valid_instrument,
    BBO: valid_bbo,
    OrderInfo: valid_order_info,
    LegSpec: valid_leg_spec,
    TriggerFill: valid_trigger_fill,
}

NOT_A_DECIMAL = [1.5, D("NaN"), D("sNaN"), D("Infinity"), D("-Infinity"), True, "1.5", 2]
"""Refused wherever a Decimal is expected: float, NaN, infinities, bool, str, int."""
NOT_POSITIVE = [D("0"), D("-0"), D("-1"), D("-0.05")]
NEGATIVE = [D("-1"), D("-0.001")]
NOT_A_SIDE = ["buy", "sell", "BUY", "long", None, 1]

# (class, field, bad value): every field that carries a number, a side or a status.
REJECTIONS: list[tuple[type, str, object]] = [
    *[(Instrument, f, v) for f in ("tick_size", "lot_size", "multiplier") for v in NOT_A_DECIMAL],
    *[(Instrument, f, v) for f in ("tick_size", "lot_size", "multiplier") for v in NOT_POSITIVE],
    *[(Instrument, f, v) for f in ("min_quantity", "min_notional") for v in NOT_A_DECIMAL],
    *[(Instrument, f, v) for f in ("min_quantity", "min_notional") for v in NEGATIVE],
    *[(Instrument, f, v) for f in ("maker_fee", "taker_fee") for v in NOT_A_DECIMAL],
    *[(BBO, f, v) for f in ("bid", "ask") for v in NOT_A_DECIMAL + NOT_POSITIVE],
    *[(BBO, f, v) for f in ("bid_size", "ask_size", "timestamp") for v in NOT_A_DECIMAL + NEGATIVE],
    *[(OrderInfo, "side", v) for v in NOT_A_SIDE],
    *[(OrderInfo, "status", v) for v in ["open", "filled", None]],
    *[(OrderInfo, "quantity", v) for v in NOT_A_DECIMAL + NOT_POSITIVE],
    *[(OrderInfo, "price", v) for v in NOT_A_DECIMAL + NOT_POSITIVE],
    *[(OrderInfo, "filled_quantity", v) for v in NOT_A_DECIMAL + NEGATIVE],
    *[(OrderInfo, "average_price", v) for v in NOT_A_DECIMAL + NOT_POSITIVE],
    *[(OrderInfo, "maker_quantity", v) for v in [1.5, D("NaN"), D("-1")]],
    *[(LegSpec, "side", v) for v in NOT_A_SIDE],
    *[(LegSpec, f, v) for f in ("quantity", "price") for v in NOT_A_DECIMAL + NOT_POSITIVE],
    *[(TriggerFill, "side", v) for v in NOT_A_SIDE],
    *[(TriggerFill, f, v) for f in ("price", "multiplier") for v in NOT_A_DECIMAL + NOT_POSITIVE],
    *[(TriggerFill, "fee_rate", v) for v in NOT_A_DECIMAL],
]


@pytest.mark.parametrize("cls", list(VALID))
def test_valid_keyword_construction_keeps_every_field(cls: type) -> None:
    """The reference kwargs are valid, so every rejection below is caused by the one bad field."""
    kwargs = VALID[cls]()
    value = cls(**kwargs)
    assert kwargs == {name: getattr(value, name) for name in kwargs}


@pytest.mark.parametrize(
    ("cls", "field", "bad"),
    REJECTIONS,
    ids=[f"{c.__name__}.{f}={b!r}" for c, f, b in REJECTIONS],
)
def test_bad_value_is_rejected_naming_class_field_and_value(
    cls: type, field: str, bad: object
) -> None:
    """A float, NaN, infinity, non-positive size or bare-string side fails with InvalidValue
    whose message names ``Class.field`` and shows the offending value."""
    kwargs = VALID[cls]()
    kwargs[field] = bad
    with pytest.raises(InvalidValue) as caught:
        cls(**kwargs)
    message = str(caught.value)
    assert f"{cls.__name__}.{field}" in message
    assert str(bad) in message


def test_float_rejection_says_to_pass_a_decimal() -> None:
    """A float is refused with a hint to pass Decimal('...') (floats lose money silently)."""
    with pytest.raises(InvalidValue, match=r"Decimal\('\.\.\.'\)"):
        Instrument(**{**valid_instrument(), "tick_size": 0.05})


def test_values_are_frozen() -> None:
    """Values cannot be mutated after validation (change goes through ``attrs.evolve``)."""
    bbo = BBO(**valid_bbo())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        bbo.bid = D("1")  # type: ignore[misc]


def test_negative_fees_are_rebates_and_accepted() -> None:
    """A negative maker fee (a rebate) is a valid Instrument fee rate."""
    instrument = Instrument(**{**valid_instrument(), "maker_fee": D("-0.0001")})
    assert D("-0.0001") == instrument.maker_fee


def test_order_info_filled_above_quantity_is_rejected() -> None:
    """An order cannot report more cumulative fill than its quantity (2 > 1.5)."""
    with pytest.raises(InvalidValue) as caught:
        OrderInfo(
            **{
                **valid_order_info(),
                "quantity": D("1.5"),
                "filled_quantity": D("2"),
                "status": OrderStatus.FILLED,
            }
        )
    message = str(caught.value)
    assert "OrderInfo.filled_quantity" in message
    assert "2" in message and "1.5" in message


def test_order_info_fill_without_average_price_is_rejected() -> None:
    """filled_quantity > 0 with average_price None is refused: a fill always has a price."""
    with pytest.raises(InvalidValue, match=r"OrderInfo\.average_price"):
        OrderInfo(**{**valid_order_info(), "filled_quantity": D("0.5"), "average_price": None})


def test_order_info_nothing_filled_needs_no_average_price() -> None:
    """An OPEN order with nothing filled is valid without an average price."""
    order = OrderInfo(
        **{
            **valid_order_info(),
            "status": OrderStatus.OPEN,
            "filled_quantity": D("0"),
            "average_price": None,
        }
    )
    assert None is order.average_price


def test_order_info_maker_above_filled_is_rejected() -> None:
    """The venue's maker quantity cannot exceed the cumulative fill (1.5 > 1)."""
    with pytest.raises(InvalidValue, match=r"OrderInfo\.maker_quantity"):
        OrderInfo(**{**valid_order_info(), "maker_quantity": D("1.5")})


def test_order_info_without_price_is_a_market_order() -> None:
    """price=None is accepted (a market order has no limit price)."""
    order = OrderInfo(**{**valid_order_info(), "price": None})
    assert None is order.price


@pytest.mark.parametrize(
    ("side", "opposite", "sign"), [(Side.BUY, Side.SELL, 1), (Side.SELL, Side.BUY, -1)]
)
def test_side_opposite_and_sign(side: Side, opposite: Side, sign: int) -> None:
    """BUY and SELL are each other's opposite; a buy adds (+1) and a sell removes (-1) position."""
    assert opposite == side.opposite
    assert side == side.opposite.opposite
    assert sign == side.sign


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        (OrderStatus.OPEN, False),
        (OrderStatus.PARTIALLY_FILLED, False),
        (OrderStatus.FILLED, True),
        (OrderStatus.CANCELED, True),
        (OrderStatus.REJECTED, True),
        (OrderStatus.EXPIRED, True),
    ],
)
def test_order_status_is_terminal(status: OrderStatus, terminal: bool) -> None:
    """Only OPEN and PARTIALLY_FILLED can still fill; the four others are terminal."""
    assert terminal == status.is_terminal


def test_order_status_has_exactly_six_members() -> None:
    """The public contract lists six statuses; the terminal table above covers all of them."""
    expected = {"open", "partially_filled", "filled", "canceled", "rejected", "expired"}
    assert expected == {s.value for s in OrderStatus}


def test_trigger_price_per_token_divides_by_multiplier() -> None:
    """A kPEPE trigger at 12.3456 per 1000-token contract is 12.3456 / 1000 = 0.0123456 per
    token."""
    trigger = TriggerFill(side=Side.BUY, price=D("12.3456"), multiplier=D("1000"))
    assert D("0.0123456") == trigger.price_per_token


def test_bbo_mid_and_crossed() -> None:
    """mid = (100.00 + 100.10) / 2 = 100.05; bid >= ask is crossed (locked counts)."""
    assert D("100.05") == BBO(bid=D("100.00"), ask=D("100.10")).mid
    assert False is BBO(bid=D("100.00"), ask=D("100.10")).is_crossed
    assert True is BBO(bid=D("100.10"), ask=D("100.10")).is_crossed


@given(st.data())
def test_strategies_build_consistent_values(data: st.DataObject) -> None:
    """The shared strategies only build valid values: BBOs on the tick grid with a spread of at
    least one tick, reports whose fill is on the lot grid and at most the order's quantity."""
    tick = data.draw(ticks())
    bbo = data.draw(bbos(tick))
    assert is_multiple_of(bbo.bid, tick)
    assert is_multiple_of(bbo.ask, tick)
    assert bbo.ask - bbo.bid >= tick
    instrument = data.draw(instruments())
    order = data.draw(placed_orders(lot=instrument.lot_size, tick=instrument.tick_size))
    report = data.draw(order_reports(order, lot=instrument.lot_size, tick=instrument.tick_size))
    assert is_multiple_of(report.filled_quantity, instrument.lot_size)
    assert report.filled_quantity <= report.quantity
    assert (report.filled_quantity == report.quantity) == (report.status is OrderStatus.FILLED)
    assert order.client_order_id == report.client_order_id


# --------------------------------------------------------------------------- what a trader never means


@pytest.mark.parametrize(
    ("field", "rate"),
    [("taker_fee", "5"), ("maker_fee", "0.5"), ("taker_fee", "0.1001"), ("maker_fee", "-0.0101")],
)
def test_instrument_fee_outside_minus_1_to_10_percent_is_refused(field: str, rate: str) -> None:
    """``taker_fee=5`` is 500 %, a typo for 5 bps: a fee rate outside [-1 %, 10 %] is refused by name."""
    with pytest.raises(InvalidValue) as caught:
        Instrument(**{**valid_instrument(), field: D(rate)})
    message = str(caught.value)
    assert f"Instrument.{field}" in message
    assert "[-0.01, 0.10]" in message and f"Decimal('{rate}')" in message


@pytest.mark.parametrize("rate", ["-0.01", "0", "0.0005", "0.10"])
def test_instrument_fee_at_the_edges_of_the_range_is_accepted(rate: str) -> None:
    """A 1 % rebate and a 10 % fee are the extremes still accepted, both included."""
    instrument = Instrument(**{**valid_instrument(), "maker_fee": D(rate), "taker_fee": D(rate)})
    assert (instrument.maker_fee, instrument.taker_fee) == (D(rate), D(rate))


def test_trigger_fill_fee_rate_outside_the_range_is_refused() -> None:
    """The trigger's fee rate is a rate too: 0.2 (20 %) is refused, naming the field."""
    with pytest.raises(InvalidValue, match=r"TriggerFill\.fee_rate must be in \[-0\.01, 0\.10\]"):
        TriggerFill(side=Side.BUY, price=D("100"), fee_rate=D("0.2"))


@pytest.mark.parametrize("value", ["yes", 1, 0, None, "False"])
def test_leg_spec_reduce_only_must_be_a_bool_and_fails_with_invalid_value(value: object) -> None:
    """``LegSpec(reduce_only="yes")`` raises InvalidValue (a HedgeError) naming the field, not a TypeError."""
    with pytest.raises(InvalidValue) as caught:
        LegSpec(venue="a", symbol="X", side=Side.BUY, quantity=D(1), price=D(1), reduce_only=value)
    assert str(caught.value) == (
        f"LegSpec.reduce_only must be True or False, got {type(value).__name__} {value!r}"
    )
    assert caught.value.field == "reduce_only"


def test_hedge_target_reduce_only_must_be_a_bool() -> None:
    """HedgeTarget's bool field is checked the same way as LegSpec's."""
    from hedge_fsm import HedgeTarget

    with pytest.raises(InvalidValue, match=r"HedgeTarget\.reduce_only must be True or False, got str 'no'"):
        HedgeTarget(venue="a", symbol="X", side=Side.SELL, quantity=D(1), reduce_only="no")


def test_every_bool_field_of_the_public_values_is_checked() -> None:
    """Each bool-typed field of a public value refuses a str with InvalidValue (none left to raw attrs)."""
    import hedge_fsm.values as values

    for cls in (values.LegSpec, values.HedgeTarget):
        for field in attrs.fields(cls):
            if field.type in (bool, "bool"):
                assert field.validator is not None, f"{cls.__name__}.{field.name} has no validator"
                with pytest.raises(InvalidValue):
                    field.validator(None, field, "yes")
