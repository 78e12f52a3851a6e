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
    """Quantity traded on the opposite side to unwind this leg during a rollback."""
    reaction_time: float | None = None
    """Seconds (engine clock) from the trigger fill, as the engine learned of it, to the first
    hedge order of this leg working at the hedge venue: 0.0 for a leg that adopted its resting
    entry order; None for a leg that placed nothing (the trigger, a leg with nothing to
    hedge). For a direct hedge it runs from the hedge's start."""

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

    @property
    def success(self) -> bool:
        return self.state == "done"
