"""Shared Hypothesis strategies for hedge_fsm's tests.

Import them as ``from tests.strategies import ...`` (or ``from strategies import ...``).

Everything here builds *valid* values: prices and quantities are Decimals on
their grids (never floats), BBOs are on the tick grid with a spread of at least
one tick, and order reports are consistent with the order they describe
(cumulative fill on the lot grid and never above the order's quantity, an
average price whenever something filled, a status that matches the fill).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs
from hypothesis import strategies as st

from hedge_fsm import BBO, Instrument, OrderInfo, OrderStatus, Side, TriggerFill

__all__ = [
    "FEE_RATES",
    "LOTS",
    "MULTIPLIERS",
    "TICKS",
    "bbos",
    "bbos_for",
    "fee_rates",
    "fill_trajectories",
    "instruments",
    "is_multiple_of",
    "lots",
    "multipliers",
    "on_grid",
    "order_reports",
    "placed_orders",
    "reports_along",
    "sides",
    "ticks",
    "trigger_fills",
]

TICKS: tuple[Decimal, ...] = tuple(
    Decimal(s) for s in ("0.000001", "0.0001", "0.01", "0.05", "0.1", "0.25", "0.5", "1", "5")
)
"""Tick sizes seen on real venues, including ones (0.05, 0.25, 5) that are not a power of ten."""

LOTS: tuple[Decimal, ...] = tuple(
    Decimal(s) for s in ("0.0001", "0.001", "0.01", "0.1", "1", "10", "100")
)

MULTIPLIERS: tuple[Decimal, ...] = tuple(Decimal(s) for s in ("1", "10", "100", "1000"))
"""Tokens per contract: 1 for a plain perpetual, 1000 for ``kPEPE``-style contracts."""

FEE_RATES: tuple[Decimal, ...] = tuple(
    Decimal(s) for s in ("0", "0.0001", "0.0002", "0.00025", "0.0005", "0.001", "-0.0001")
)
"""Fee rates; the negative one is a maker rebate."""


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an exact integer multiple of ``step`` (on its grid)."""
    return value % step == 0


def sides() -> st.SearchStrategy[Side]:
    return st.sampled_from(Side)


def ticks() -> st.SearchStrategy[Decimal]:
    return st.sampled_from(TICKS)


def lots() -> st.SearchStrategy[Decimal]:
    return st.sampled_from(LOTS)


def multipliers() -> st.SearchStrategy[Decimal]:
    return st.sampled_from(MULTIPLIERS)


def fee_rates() -> st.SearchStrategy[Decimal]:
    return st.sampled_from(FEE_RATES)


def on_grid(
    step: Decimal, *, min_steps: int = 0, max_steps: int = 1_000_000
) -> st.SearchStrategy[Decimal]:
    """Exact multiples ``n * step`` with ``min_steps <= n <= max_steps``."""
    return st.integers(min_value=min_steps, max_value=max_steps).map(lambda n: n * step)


@st.composite
def instruments(
    draw: st.DrawFn,
    *,
    tick: Decimal | None = None,
    lot: Decimal | None = None,
    multiplier: Decimal | None = None,
    with_fees: bool = True,
    symbol: str | None = None,
) -> Instrument:
    """An instrument; any argument given is fixed, the others are drawn."""
    lot_size = lot if lot is not None else draw(lots())
    return Instrument(
        symbol=symbol
        if symbol is not None
        else draw(st.sampled_from(["BTC-PERP", "kPEPE", "PEPE"])),
        tick_size=tick if tick is not None else draw(ticks()),
        lot_size=lot_size,
        min_quantity=lot_size * draw(st.integers(min_value=0, max_value=3)),
        min_notional=Decimal(draw(st.sampled_from([0, 1, 5, 10]))),
        multiplier=multiplier if multiplier is not None else draw(multipliers()),
        maker_fee=draw(fee_rates()) if with_fees else Decimal(0),
        taker_fee=draw(fee_rates()) if with_fees else Decimal(0),
    )


@st.composite
def bbos(
    draw: st.DrawFn,
    tick: Decimal,
    *,
    min_spread_ticks: int = 1,
    max_spread_ticks: int = 40,
    max_bid_ticks: int = 1_000_000,
) -> BBO:
    """A BBO whose bid and ask are on ``tick``'s grid, with ask - bid >= ``min_spread_ticks``."""
    if min_spread_ticks < 1:
        raise ValueError("a BBO strategy needs a spread of at least one tick")
    bid = draw(on_grid(tick, min_steps=1, max_steps=max_bid_ticks))
    spread = draw(st.integers(min_value=min_spread_ticks, max_value=max_spread_ticks))
    return BBO(
        bid=bid,
        ask=bid + spread * tick,
        bid_size=Decimal(draw(st.integers(min_value=0, max_value=1000))),
        ask_size=Decimal(draw(st.integers(min_value=0, max_value=1000))),
        timestamp=Decimal(draw(st.integers(min_value=0, max_value=10**6))) / 1000,
    )


def bbos_for(instrument: Instrument, **kwargs: int) -> st.SearchStrategy[BBO]:
    """BBOs on ``instrument``'s tick grid (see :func:`bbos` for the keywords)."""
    return bbos(instrument.tick_size, **kwargs)


@st.composite
def trigger_fills(
    draw: st.DrawFn,
    *,
    side: Side | None = None,
    tick: Decimal | None = None,
    multiplier: Decimal | None = None,
    with_fees: bool = True,
) -> TriggerFill:
    """A trigger's fill: an average price on the trigger venue's tick grid."""
    price_tick = tick if tick is not None else draw(ticks())
    return TriggerFill(
        side=side if side is not None else draw(sides()),
        price=draw(on_grid(price_tick, min_steps=1, max_steps=1_000_000)),
        multiplier=multiplier if multiplier is not None else draw(multipliers()),
        fee_rate=draw(fee_rates()) if with_fees else Decimal(0),
    )


@st.composite
def placed_orders(
    draw: st.DrawFn,
    *,
    lot: Decimal | None = None,
    tick: Decimal | None = None,
    client_order_id: str | None = None,
    max_lots: int = 50,
) -> OrderInfo:
    """An order as the venue acknowledges it: OPEN, nothing filled, quantity on the lot grid."""
    lot_size = lot if lot is not None else draw(lots())
    price_tick = tick if tick is not None else draw(ticks())
    index = draw(st.integers(min_value=0, max_value=10**6))
    return OrderInfo(
        order_id=f"venue-{index}",
        client_order_id=client_order_id if client_order_id is not None else f"hedge-{index}",
        symbol=draw(st.sampled_from(["BTC-PERP", "kPEPE", "PEPE"])),
        side=draw(sides()),
        quantity=draw(on_grid(lot_size, min_steps=1, max_steps=max_lots)),
        price=draw(on_grid(price_tick, min_steps=1, max_steps=1_000_000)),
        status=OrderStatus.OPEN,
    )


def _status_for(filled: Decimal, quantity: Decimal, *, terminal: OrderStatus | None) -> OrderStatus:
    """The status a venue reports for an order with ``filled`` of ``quantity`` done."""
    if filled == quantity:
        return OrderStatus.FILLED
    if terminal is not None:
        return terminal
    return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN


@st.composite
def order_reports(
    draw: st.DrawFn,
    order: OrderInfo,
    *,
    lot: Decimal,
    tick: Decimal,
    with_maker: bool | None = None,
) -> OrderInfo:
    """One report about ``order``: a cumulative fill on the ``lot`` grid, <= its quantity.

    The status matches the fill (FILLED when complete; OPEN, PARTIALLY_FILLED or a
    terminal CANCELED/EXPIRED otherwise); an average price on ``tick``'s grid is
    present whenever something filled. ``with_maker`` forces the venue's
    ``maker_quantity`` to be reported (True), absent (False), or either (None).
    """
    max_lots = int(order.quantity / lot)
    filled = draw(st.integers(min_value=0, max_value=max_lots)) * lot
    terminal = draw(st.sampled_from([None, OrderStatus.CANCELED, OrderStatus.EXPIRED]))
    average = draw(on_grid(tick, min_steps=1, max_steps=1_000_000)) if filled > 0 else None
    report_maker = draw(st.booleans()) if with_maker is None else with_maker
    maker = (
        draw(st.integers(min_value=0, max_value=int(filled / lot))) * lot if report_maker else None
    )
    return attrs.evolve(
        order,
        status=_status_for(filled, order.quantity, terminal=terminal),
        filled_quantity=filled,
        average_price=average,
        maker_quantity=maker,
    )


def fill_trajectories(
    quantity: Decimal, lot: Decimal, *, max_reports: int = 8
) -> st.SearchStrategy[list[Decimal]]:
    """A true, monotone (non-decreasing) sequence of cumulative fills for one order."""
    max_lots = int(quantity / lot)
    return st.lists(
        st.integers(min_value=0, max_value=max_lots), min_size=1, max_size=max_reports
    ).map(lambda steps: [n * lot for n in sorted(steps)])


def reports_along(
    order: OrderInfo,
    fills: Sequence[Decimal],
    *,
    average_price: Decimal,
    terminal_from: int | None = None,
    maker: Sequence[Decimal] | None = None,
) -> list[OrderInfo]:
    """The venue's snapshots of ``order`` along a true fill trajectory ``fills``.

    From index ``terminal_from`` on, an unfinished order is reported CANCELED (a
    fill may still grow after that: real venues report late fills). ``maker``,
    when given, is the venue's cumulative maker quantity at each snapshot.
    """
    return [
        attrs.evolve(
            order,
            status=_status_for(
                filled,
                order.quantity,
                terminal=(
                    OrderStatus.CANCELED
                    if terminal_from is not None and index >= terminal_from
                    else None
                ),
            ),
            filled_quantity=filled,
            average_price=average_price if filled > 0 else None,
            maker_quantity=maker[index] if maker is not None else None,
        )
        for index, filled in enumerate(fills)
    ]
