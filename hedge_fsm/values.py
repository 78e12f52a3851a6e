"""Frozen values: what flows between venues, machines, driver and users.

Every number that is money or a quantity is a :class:`decimal.Decimal`. Values
are validated where they are built (the edges of the library) and trusted
inside: a float, NaN, an infinity, a negative or zero size, an unknown side are
refused at construction with an error naming the class, the field and the value.
"""

from __future__ import annotations

import enum
from decimal import Decimal

import attrs

from hedge_fsm.errors import InvalidValue, RejectReason
from hedge_fsm.validators import (
    boolean,
    check_decimal,
    enum_member,
    non_empty_str,
    non_negative,
    optional,
    positive,
)
from hedge_fsm.validators import fee_rate as fee_rate_in_range

__all__ = [
    "BBO",
    "ExecutionMode",
    "ExecutionResult",
    "HedgeResult",
    "HedgeTarget",
    "Instrument",
    "LegSpec",
    "OrderInfo",
    "OrderStatus",
    "Side",
    "TransitionRecord",
    "TriggerFill",
]

ZERO = Decimal(0)


def is_on_grid(value: Decimal, step: Decimal) -> bool:
    """True when ``value`` is an integer multiple of ``step``."""
    return (value % step) == 0


# --------------------------------------------------------------------------- enums


class Side(enum.StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: signed position arithmetic."""
        return 1 if self is Side.BUY else -1


class OrderStatus(enum.StrEnum):
    """Life-cycle status of an order as the venue reports it."""

    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """A terminal order can no longer fill (given an honest venue)."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class ExecutionMode(enum.StrEnum):
    """How a leg's quantity was obtained, for reports."""

    NONE = "none"
    """Nothing was traded."""
    SKIPPED = "skipped"
    """Nothing was left to hedge."""
    ENTRY = "entry"
    """The leg's own entry order filled it (typically the trigger)."""
    MAKER = "maker"
    TAKER = "taker"
    MIXED = "mixed"
    MARKET = "market"
    """The market fallback traded some of it."""


# --------------------------------------------------------------------------- values


@attrs.frozen(kw_only=True)
class Instrument:
    """A venue's contract: its grids, minimums, multiplier and fees.

    ``multiplier`` is tokens per contract (1000 for ``kPEPE``); fees are rates
    (``Decimal("0.0002")`` is 2 bps) and may be negative for rebates.
    """

    symbol: str = attrs.field(validator=non_empty_str)
    tick_size: Decimal = attrs.field(validator=positive)
    lot_size: Decimal = attrs.field(validator=positive)
    min_quantity: Decimal = attrs.field(validator=non_negative)
    min_notional: Decimal = attrs.field(validator=non_negative)
    multiplier: Decimal = attrs.field(default=Decimal(1), validator=positive)
    maker_fee: Decimal = attrs.field(default=ZERO, validator=fee_rate_in_range)
    taker_fee: Decimal = attrs.field(default=ZERO, validator=fee_rate_in_range)

    @property
    def placeable_minimum(self) -> Decimal:
        """The smallest quantity an order may carry: one lot, or the venue minimum if larger."""
        return max(self.lot_size, self.min_quantity)


@attrs.frozen(kw_only=True)
class BBO:
    """Best bid and offer at ``timestamp`` (seconds, in the venue's clock)."""

    bid: Decimal = attrs.field(validator=positive)
    ask: Decimal = attrs.field(validator=positive)
    bid_size: Decimal = attrs.field(default=ZERO, validator=non_negative)
    ask_size: Decimal = attrs.field(default=ZERO, validator=non_negative)
    timestamp: Decimal = attrs.field(default=ZERO, validator=non_negative)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def is_crossed(self) -> bool:
        """A locked or crossed book cannot be priced passively."""
        return self.bid >= self.ask


@attrs.frozen(kw_only=True)
class OrderInfo:
    """An order as the venue last reported it; ``filled_quantity`` is cumulative.

    ``maker_quantity`` is the cumulative quantity that filled as maker when the
    venue reports fill liquidity, else None.
    """

    order_id: str = attrs.field(validator=non_empty_str)
    client_order_id: str = attrs.field(validator=non_empty_str)
    symbol: str = attrs.field(validator=non_empty_str)
    side: Side = attrs.field(validator=enum_member(Side))
    quantity: Decimal = attrs.field(validator=positive)
    price: Decimal | None = attrs.field(validator=optional(positive))
    status: OrderStatus = attrs.field(validator=enum_member(OrderStatus))
    filled_quantity: Decimal = attrs.field(default=ZERO, validator=non_negative)
    average_price: Decimal | None = attrs.field(default=None, validator=optional(positive))
    reject_reason: RejectReason | None = attrs.field(
        default=None, validator=optional(enum_member(RejectReason))
    )
    maker_quantity: Decimal | None = attrs.field(default=None, validator=optional(non_negative))

    def __attrs_post_init__(self) -> None:
        if self.filled_quantity > self.quantity:
            raise InvalidValue(
                f"OrderInfo.filled_quantity {self.filled_quantity} exceeds quantity "
                f"{self.quantity} for order {self.order_id!r}"
            )
        if self.filled_quantity > 0 and self.average_price is None:
            raise InvalidValue(
                f"OrderInfo.average_price is required when filled_quantity is "
                f"{self.filled_quantity} (order {self.order_id!r})"
            )
        if self.maker_quantity is not None and self.maker_quantity > self.filled_quantity:
            raise InvalidValue(
                f"OrderInfo.maker_quantity {self.maker_quantity} exceeds filled_quantity "
                f"{self.filled_quantity} for order {self.order_id!r}"
            )

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_post_only_reject(self) -> bool:
        return (
            self.status in (OrderStatus.REJECTED, OrderStatus.EXPIRED)
            and self.reject_reason is RejectReason.POST_ONLY
            and self.filled_quantity == 0
        )


@attrs.frozen(kw_only=True)
class LegSpec:
    """One leg of a multi-leg entry: where, what, which way, how much, at what limit.

    ``venue`` names a key of the engine's venues; ``price`` is the entry limit price.
    """

    venue: str = attrs.field(validator=non_empty_str)
    symbol: str = attrs.field(validator=non_empty_str)
    side: Side = attrs.field(validator=enum_member(Side))
    quantity: Decimal = attrs.field(validator=positive)
    price: Decimal = attrs.field(validator=positive)
    reduce_only: bool = attrs.field(default=False, validator=boolean)
    post_only: bool = attrs.field(default=True, validator=boolean)
    """The entry order is post-only (a maker order, as a resting entry is meant to be): a
    price that would take at once is refused by the venue and the entry is aborted. False
    lets the entry take liquidity at its limit."""


@attrs.frozen(kw_only=True)
class HedgeTarget:
    """A quantity to hedge directly with :meth:`HedgeEngine.hedge` (no entry phase)."""

    venue: str = attrs.field(validator=non_empty_str)
    symbol: str = attrs.field(validator=non_empty_str)
    side: Side = attrs.field(validator=enum_member(Side))
    quantity: Decimal = attrs.field(validator=positive)
    reduce_only: bool = attrs.field(default=False, validator=boolean)


@attrs.frozen(kw_only=True)
class TriggerFill:
    """The trigger leg's actual fill, which break-even pricing is measured against."""

    side: Side = attrs.field(validator=enum_member(Side))
    price: Decimal = attrs.field(validator=positive)
    """Average fill price per contract on the trigger's venue."""
    multiplier: Decimal = attrs.field(default=Decimal(1), validator=positive)
    fee_rate: Decimal = attrs.field(default=ZERO, validator=fee_rate_in_range)

    @property
    def price_per_token(self) -> Decimal:
        return self.price / self.multiplier


@attrs.frozen(kw_only=True)
class HedgeResult:
    """What one leg did, reported exactly (residuals included, never rounded away)."""

    success: bool
    filled_quantity: Decimal = attrs.field(validator=non_negative)
    average_price: Decimal | None = attrs.field(validator=optional(positive))
    execution_mode: ExecutionMode
    maker_quantity: Decimal = attrs.field(validator=non_negative)
    taker_quantity: Decimal = attrs.field(validator=non_negative)
    unhedged_residual: Decimal = attrs.field(validator=check_decimal)
    """Target minus filled, in contracts (positive: short of target)."""
    error_message: str | None = None
    attempts_used: int = 0
    venue: str = ""
    symbol: str = ""
    side: Side | None = None
    target_quantity: Decimal = attrs.field(default=ZERO, validator=non_negative)
    fees: Decimal = attrs.field(default=ZERO, validator=check_decimal)
    state: str = ""
    """The final state of the leg's machine (``done``, ``rollback``; ``entry`` for a trigger)."""
    rolled_back_quantity: Decimal = attrs.field(default=ZERO, validator=non_negative)
    """Quantity traded on the opposite side to unwind this leg during a rollback (and to trade
    back an over-hedge reconciliation found); trims are apart, in :attr:`trimmed_quantity`."""
    reaction_time: float | None = None
    """Seconds (engine clock) from the trigger fill, as the engine learned of it, to the first
    hedge order of this leg working at the hedge venue: 0.0 for a leg that adopted its resting
    entry order; None for a leg that placed nothing (the trigger, a leg with nothing to
    hedge). For a direct hedge it runs from the hedge's start."""
    # ---- the whole cost: every trade of the leg against the price the trader asked for.
    # A group's cost is sum(sign(side) x (fill price - intended price) x quantity) + its fees,
    # in quote currency (positive: paid). The groups add up to ``total_cost``.
    intended_price: Decimal | None = attrs.field(default=None, validator=optional(positive))
    """The mark every cost of this leg is measured against: the entry limit price, or for a
    direct hedge the trigger's price per token times this leg's multiplier (None: unknown,
    and every cost below is None)."""
    entry_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """The leg's entry fills: slippage against ``intended_price`` plus their fees (quote)."""
    hedge_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """The leg machine's hedge fills: slippage against ``intended_price`` plus fees (quote)."""
    unwind_average_price: Decimal | None = attrs.field(default=None, validator=optional(positive))
    """Average price of the unwind trades (``rolled_back_quantity``), None when there were none."""
    unwind_fees: Decimal = attrs.field(default=ZERO, validator=check_decimal)
    """Fees paid on the unwind trades (quote); not in :attr:`fees`."""
    unwind_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """The unwind trades: slippage against ``intended_price`` plus ``unwind_fees`` (quote)."""
    unwind_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``unwind_cost`` in bps of the unwound quantity at ``intended_price`` (None: no unwind)."""
    trimmed_quantity: Decimal = attrs.field(default=ZERO, validator=non_negative)
    """Quantity traded on the opposite side to trim this (trigger) leg down to what the other
    legs could hedge, instead of unwinding; 0 when no trim filled."""
    trim_average_price: Decimal | None = attrs.field(default=None, validator=optional(positive))
    """Average price of the trim trades, None when there were none."""
    trim_fees: Decimal = attrs.field(default=ZERO, validator=check_decimal)
    """Fees paid on the trim trades (quote); not in :attr:`fees`."""
    trim_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """The trim trades: slippage against ``intended_price`` plus ``trim_fees`` (quote)."""
    trim_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``trim_cost`` in bps of the trimmed quantity at ``intended_price`` (None: no trim)."""
    total_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """Entry + hedge + unwind + trim cost of this leg, fees included (quote)."""

    def __attrs_post_init__(self) -> None:
        if self.maker_quantity + self.taker_quantity != self.filled_quantity:
            raise InvalidValue(
                f"HedgeResult maker {self.maker_quantity} + taker {self.taker_quantity} "
                f"!= filled {self.filled_quantity}"
            )


@attrs.frozen(kw_only=True)
class TransitionRecord:
    """One move of one machine, for review, diagrams and journals."""

    machine: str
    leg: int | None
    source: str
    trigger: str
    destination: str
    time: float

    def describe(self) -> str:
        """``leg 1: polling --order_updated--> done`` (or ``supervisor (leg 1): ...``)."""
        if self.machine == "leg":
            who = f"leg {self.leg}"
        else:
            who = self.machine if self.leg is None else f"{self.machine} (leg {self.leg})"
        return f"{who}: {self.source} --{self.trigger}--> {self.destination}"


@attrs.frozen(kw_only=True)
class ExecutionResult:
    """The outcome of one multi-leg execution or hedge."""

    state: str
    """The supervisor's final state: ``done``, ``rolled_back``, ``failed`` or ``cancelled``."""
    legs: tuple[HedgeResult, ...]
    """One result per leg, in the order of the specs."""
    net_exposure: Decimal
    """Signed net position across legs, in tokens (0 when perfectly hedged or flat)."""
    transitions: tuple[TransitionRecord, ...]
    hedge_id: str = ""
    error_message: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    # ---- the episode's whole cost (sums of the legs' costs; see HedgeResult). Every *_bps
    # is in bps of ``cost_basis``, so the four parts add up to ``total_cost_bps``.
    cost_basis: Decimal | None = attrs.field(default=None, validator=optional(non_negative))
    """The notional the costs are measured in (quote): the reference (trigger) leg's entry
    fill at its intended price; for a direct hedge, every leg's target at its intended price.
    None when a leg's intended price is unknown."""
    entry_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """Entry slippage against the intended prices plus entry fees, every leg (quote)."""
    hedge_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """Hedge slippage against the intended prices plus hedge fees, every leg (quote)."""
    unwind_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """Rollback (unwind) trades' slippage plus their fees, every leg (quote)."""
    trim_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """Trim trades' slippage plus their fees, every leg (quote)."""
    total_cost: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``entry_cost + hedge_cost + unwind_cost + trim_cost`` (quote, positive: paid)."""
    total_fees: Decimal = attrs.field(default=ZERO, validator=check_decimal)
    """Every fee of the episode: entry, hedge, unwind and trim (quote)."""
    entry_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``entry_cost`` in bps of ``cost_basis``."""
    hedge_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``hedge_cost`` in bps of ``cost_basis``."""
    unwind_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``unwind_cost`` in bps of ``cost_basis``."""
    trim_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``trim_cost`` in bps of ``cost_basis``."""
    total_cost_bps: Decimal | None = attrs.field(default=None, validator=optional(check_decimal))
    """``total_cost`` in bps of ``cost_basis`` (None when the basis is unknown or zero)."""
    trimmed: bool = attrs.field(default=False, validator=boolean)
    """A trim traded: the trigger leg was reduced to what the other legs could hedge, instead
    of unwinding the whole position (the state is still ``done``)."""

    @property
    def success(self) -> bool:
        return self.state == "done"
