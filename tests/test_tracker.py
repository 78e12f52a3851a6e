"""Tracker: a leg's HedgeResult built exactly from its ledger (nothing rounded away)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import ExecutionMode, HedgeResult, Instrument, OrderInfo, OrderStatus, Side
from hedge_fsm.core.ledger import Ledger
from hedge_fsm.core.tracker import build_hedge_result, cost_bps, execution_mode, trade_cost
from tests.strategies import lots, ticks

D = Decimal

BTC = Instrument(
    symbol="BTC-PERP",
    tick_size=D("0.05"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    min_notional=D("5"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)


def fill(
    ledger: Ledger,
    client_order_id: str,
    filled: str,
    average: str,
    *,
    post_only: bool = False,
    is_market: bool = False,
    quantity: str = "10",
) -> None:
    """Register an order and apply one report of its cumulative fill."""
    ledger.register(
        client_order_id,
        side=Side.SELL,
        quantity=D(quantity),
        post_only=post_only,
        is_market=is_market,
    )
    ledger.apply(
        OrderInfo(
            order_id=f"v-{client_order_id}",
            client_order_id=client_order_id,
            symbol="BTC-PERP",
            side=Side.SELL,
            quantity=D(quantity),
            price=None if is_market else D(average),
            status=OrderStatus.FILLED if D(filled) == D(quantity) else OrderStatus.CANCELED,
            filled_quantity=D(filled),
            average_price=D(average) if D(filled) > 0 else None,
        )
    )


def result(ledger: Ledger, target: str, **kwargs: object) -> HedgeResult:
    options: dict[str, object] = {
        "target": D(target),
        "success": True,
        "instrument": BTC,
        "side": Side.SELL,
        "venue": "alpha",
        "attempts": 2,
        "state": "done",
    }
    options.update(kwargs)
    return build_hedge_result(ledger, **options)  # type: ignore[arg-type]


def test_hedge_result_fields_from_ledger() -> None:
    """Post-only 2 @ 100.00 and a marketable 1 @ 100.30 against a target of 3.5:
    filled 3; average (200.00 + 100.30) / 3 = 100.10; maker 2, taker 1 (2 + 1 = 3); residual
    3.5 - 3 = 0.5; mode MIXED; fees 2*100.00*0.0002 + 1*100.30*0.0005 = 0.04 + 0.05015 = 0.09015."""
    ledger = Ledger()
    fill(ledger, "c-1", "2", "100.00", post_only=True)
    fill(ledger, "c-2", "1", "100.30")
    expected = HedgeResult(
        success=True,
        filled_quantity=D("3"),
        average_price=D("100.10"),
        execution_mode=ExecutionMode.MIXED,
        maker_quantity=D("2"),
        taker_quantity=D("1"),
        unhedged_residual=D("0.5"),
        error_message=None,
        attempts_used=2,
        venue="alpha",
        symbol="BTC-PERP",
        side=Side.SELL,
        target_quantity=D("3.5"),
        fees=D("0.09015"),
        state="done",
    )
    assert expected == result(ledger, "3.5")


def test_residual_below_one_lot_is_reported_exactly() -> None:
    """Done with 2.999 of 3.000 (one 0.001 lot short): residual 3.000 - 2.999 = 0.001, not 0."""
    ledger = Ledger()
    fill(ledger, "c-1", "2.999", "100.00", post_only=True)
    hedge = result(ledger, "3.000")
    assert D("0.001") == hedge.unhedged_residual
    assert D("2.999") == hedge.filled_quantity


def test_overfill_shows_as_negative_residual() -> None:
    """Filled 3 against a target of 2: residual 2 - 3 = -1 (reported, not clamped)."""
    ledger = Ledger()
    fill(ledger, "c-1", "3", "100.00")
    assert D("-1") == result(ledger, "2").unhedged_residual


def test_failure_carries_error_and_state() -> None:
    """A leg that ends in rollback reports success False, its state and the error message."""
    ledger = Ledger()
    fill(ledger, "c-1", "1", "100.00", is_market=True)
    hedge = result(ledger, "2", success=False, state="rollback", error="market fallback partial")
    assert (False, "rollback", "market fallback partial", D("1")) == (
        hedge.success,
        hedge.state,
        hedge.error_message,
        hedge.unhedged_residual,
    )


def test_nothing_filled_has_no_average_price() -> None:
    """No fill: filled 0, average None, maker 0, taker 0, residual = the whole target 2."""
    hedge = result(Ledger(), "2", success=False, state="rollback")
    assert (D("0"), None, D("0"), D("0"), D("2")) == (
        hedge.filled_quantity,
        hedge.average_price,
        hedge.maker_quantity,
        hedge.taker_quantity,
        hedge.unhedged_residual,
    )


def test_entry_fills_fold_in() -> None:
    """Entry fill 2 @ 100.00 as maker (extra_*) + a hedge taker fill 1 @ 100.30:
    filled 3, average (200.00 + 100.30) / 3 = 100.10, maker 2, taker 3 - 2 = 1,
    fees 1*100.30*0.0005 + entry 0.04 = 0.09015; an explicit mode is kept."""
    ledger = Ledger()
    fill(ledger, "c-1", "1", "100.30")
    hedge = result(
        ledger,
        "3",
        extra_filled=D("2"),
        extra_notional=D("200.00"),
        extra_maker=D("2"),
        extra_fees=D("0.04"),
        mode=ExecutionMode.ENTRY,
    )
    assert (D("3"), D("100.10"), D("2"), D("1"), D("0"), D("0.09015"), ExecutionMode.ENTRY) == (
        hedge.filled_quantity,
        hedge.average_price,
        hedge.maker_quantity,
        hedge.taker_quantity,
        hedge.unhedged_residual,
        hedge.fees,
        hedge.execution_mode,
    )


def test_entry_only_fill_is_not_reported_as_nothing_traded() -> None:
    """A leg whose whole quantity came from its own entry order (2 @ 100.00 folded in through
    extra_*, nothing in the hedge ledger) has traded: its mode must not be NONE ("nothing was
    traded") while filled_quantity is 2. ExecutionMode.ENTRY is the mode for exactly this."""
    hedge = result(Ledger(), "2", extra_filled=D("2"), extra_notional=D("200.00"))
    assert D("2") == hedge.filled_quantity
    assert hedge.execution_mode is ExecutionMode.ENTRY


@pytest.mark.parametrize(
    ("orders", "target", "mode"),
    [
        ([("2", True, False)], "2", ExecutionMode.MAKER),
        ([("2", False, False)], "2", ExecutionMode.TAKER),
        ([("1", True, False), ("1", False, False)], "2", ExecutionMode.MIXED),
        ([("1", True, False), ("1", False, True)], "2", ExecutionMode.MARKET),
        ([], "2", ExecutionMode.NONE),
        ([("0", True, False)], "2", ExecutionMode.NONE),
        ([], "0", ExecutionMode.SKIPPED),
    ],
)
def test_execution_mode(
    orders: list[tuple[str, bool, bool]], target: str, mode: ExecutionMode
) -> None:
    """Only post-only fills -> MAKER; only taker -> TAKER; both -> MIXED; any market fill ->
    MARKET; nothing with something to do -> NONE; nothing to do -> SKIPPED."""
    ledger = Ledger()
    for index, (filled, post_only, is_market) in enumerate(orders):
        fill(ledger, f"c-{index}", filled, "100.00", post_only=post_only, is_market=is_market)
    assert mode == execution_mode(ledger, target=D(target))
    assert mode == result(ledger, target).execution_mode


@given(
    lot=lots(),
    tick=ticks(),
    orders=st.lists(
        st.tuples(st.integers(0, 50), st.integers(1, 10**5), st.booleans(), st.booleans()),
        max_size=6,
    ),
    target_lots=st.integers(0, 300),
)
def test_result_is_exact_for_any_ledger(
    lot: Decimal, tick: Decimal, orders: list[tuple[int, int, bool, bool]], target_lots: int
) -> None:
    """For any set of fills: filled = sum of fills, maker + taker == filled, maker = post-only
    fills, residual = target - filled exactly, average = notional / filled."""
    ledger = Ledger()
    expected_filled, expected_maker, notional = D(0), D(0), D(0)
    for index, (fill_lots, price_ticks, post_only, is_market) in enumerate(orders):
        filled, price = fill_lots * lot, price_ticks * tick
        fill(
            ledger,
            f"c-{index}",
            str(filled),
            str(price),
            post_only=post_only and not is_market,
            is_market=is_market,
            quantity=str(50 * lot),
        )
        expected_filled += filled
        expected_maker += filled if post_only and not is_market else D(0)
        notional += filled * price
    target = target_lots * lot
    hedge = result(ledger, str(target))
    assert expected_filled == hedge.filled_quantity
    assert expected_maker == hedge.maker_quantity
    assert hedge.filled_quantity == hedge.maker_quantity + hedge.taker_quantity
    assert target - expected_filled == hedge.unhedged_residual
    assert (notional / expected_filled if expected_filled > 0 else None) == hedge.average_price


def test_a_leg_that_traded_nothing_is_never_a_success() -> None:
    """Results tell the truth: a machine that says ``done`` with nothing filled (a target below
    the venue's minimums) yields success False, and an error saying nothing was traded."""
    hedge = result(Ledger(), "2", success=True, state="done")
    assert hedge.success is False
    assert hedge.error_message is not None and "nothing traded" in hedge.error_message


def test_a_leg_that_traded_nothing_keeps_its_own_error() -> None:
    """An error already given is kept (not replaced by the nothing-traded note)."""
    hedge = result(Ledger(), "2", success=True, state="done", error="below min notional")
    assert (hedge.success, hedge.error_message) == (False, "below min notional")


# ---------------------------------------------------------------------------- trade costs


def test_trade_cost_prices_slippage_against_the_mark_plus_fees() -> None:
    """By hand, mark 100: a post-only buy of 2 at 99.95 (maker, 2 bps) and a market sell of
    0.5 at 99.90 (taker, 5 bps). Slippage: 2 x (99.95 - 100) = -0.1 (bought below the mark),
    -1 x 0.5 x (99.90 - 100) = +0.05 (sold below it). Fees: 2 x 99.95 x 0.0002 = 0.03998 and
    0.5 x 99.90 x 0.0005 = 0.024975. Cost -0.1 + 0.05 + 0.064955 = 0.014955; average price
    (199.9 + 49.95) / 2.5 = 99.94."""
    ledger = Ledger()
    for cid, side, quantity, price, post_only in (
        ("b", Side.BUY, D("2"), D("99.95"), True), ("s", Side.SELL, D("0.5"), D("99.90"), False)
    ):
        ledger.register(cid, side=side, quantity=quantity, post_only=post_only, is_market=not post_only)
        ledger.apply(OrderInfo(order_id=f"v-{cid}", client_order_id=cid, symbol="BTC-PERP", side=side,
                               quantity=quantity, price=price if post_only else None,
                               status=OrderStatus.FILLED, filled_quantity=quantity, average_price=price))
    cost = trade_cost(
        ledger.orders.values(), mark=D("100"), maker_fee=BTC.maker_fee, taker_fee=BTC.taker_fee
    )

    assert cost.quantity == D("2.5")
    assert cost.average_price == D("99.94")
    assert cost.fees == D("0.064955")
    assert cost.cost == D("0.014955")


def test_trade_cost_without_a_mark_is_unknown_unless_nothing_traded() -> None:
    """No intended price: a group with fills has no cost (None), an empty group costs 0."""
    ledger = Ledger()
    fill(ledger, "b", "1", "100")
    assert trade_cost(ledger.orders.values(), mark=None, maker_fee=D(0), taker_fee=D(0)).cost is None
    assert trade_cost((), mark=None, maker_fee=D(0), taker_fee=D(0)).cost == 0


def test_cost_bps_is_none_without_a_basis() -> None:
    """7 USDT on a 200 USDT basis is 350 bps; no basis (or a zero one) gives None."""
    assert cost_bps(D("7"), D("200")) == D("350")
    assert cost_bps(D("7"), D("0")) is None and cost_bps(None, D("200")) is None
