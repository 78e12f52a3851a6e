"""The tracker: turns a leg's ledger into a :class:`HedgeResult`, exactly.

Nothing is rounded away: the residual (target minus filled) is reported even
when it is below a lot and the leg counts as hedged.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from hedge_fsm.core.ledger import Ledger, OrderRecord
from hedge_fsm.values import ExecutionMode, HedgeResult, Instrument, Side

__all__ = ["TradeCost", "build_hedge_result", "cost_bps", "execution_mode", "trade_cost"]

ZERO = Decimal(0)
BPS = Decimal(10_000)


def execution_mode(ledger: Ledger, *, target: Decimal) -> ExecutionMode:
    """Summarise how the quantity was obtained."""
    if target <= 0 and ledger.filled == 0:
        return ExecutionMode.SKIPPED
    if ledger.filled == 0:
        return ExecutionMode.NONE
    if ledger.market_filled > 0:
        return ExecutionMode.MARKET
    if ledger.taker == 0:
        return ExecutionMode.MAKER
    if ledger.maker == 0:
        return ExecutionMode.TAKER
    return ExecutionMode.MIXED


def build_hedge_result(
    ledger: Ledger,
    *,
    target: Decimal,
    success: bool,
    instrument: Instrument,
    side: Side,
    venue: str,
    attempts: int,
    state: str,
    error: str | None = None,
    extra_filled: Decimal = ZERO,
    extra_notional: Decimal = ZERO,
    extra_maker: Decimal = ZERO,
    extra_fees: Decimal = ZERO,
    mode: ExecutionMode | None = None,
) -> HedgeResult:
    """The result of one leg; ``extra_*`` folds in fills made outside this ledger (the entry).

    ``success`` is the caller's verdict, kept only when something was traded: a leg that
    traded nothing is never a success (its error says so when no other is given).
    """
    filled = ledger.filled + extra_filled
    if mode is None and ledger.filled == 0 and extra_filled > 0:
        mode = ExecutionMode.ENTRY
    notional = ledger.notional + extra_notional
    maker = ledger.maker + extra_maker
    if filled == 0 and success:
        # A leg that traded nothing is never a success, whatever its machine says (a target
        # below the venue's minimums ends ``done`` with everything left unhedged).
        success = False
        if error is None:
            error = f"nothing traded of target {target}"
    return HedgeResult(
        success=success,
        filled_quantity=filled,
        average_price=notional / filled if filled > 0 else None,
        execution_mode=mode if mode is not None else execution_mode(ledger, target=target),
        maker_quantity=maker,
        taker_quantity=filled - maker,
        unhedged_residual=target - filled,
        error_message=error,
        attempts_used=attempts,
        venue=venue,
        symbol=instrument.symbol,
        side=side,
        target_quantity=target,
        fees=ledger.fees(instrument.maker_fee, instrument.taker_fee) + extra_fees,
        state=state,
    )


# --------------------------------------------------------------------------- costs


@attrs.frozen(kw_only=True)
class TradeCost:
    """One group of trades (entry, hedge, unwind or trim) of one leg, priced against a mark."""

    quantity: Decimal
    """Contracts filled, every order of the group."""
    average_price: Decimal | None
    fees: Decimal
    """Fees paid (quote), from each order's maker/taker split."""
    cost: Decimal | None
    """sum(sign(side) x (fill price - mark) x filled) + fees (quote, positive: paid);
    None when the mark is unknown."""


def trade_cost(
    records: Iterable[OrderRecord], *, mark: Decimal | None, maker_fee: Decimal, taker_fee: Decimal
) -> TradeCost:
    """The cost of a group of orders against ``mark`` (the price the trader asked for).

    Buying above the mark or selling below it costs; fees always cost (a rebate is a
    negative fee). Summed over every trade of an episode, the groups give what the
    episode lost against the trader's intended prices on the position it ended with.
    """
    quantity = ZERO
    notional = ZERO
    fees = ZERO
    slippage = ZERO
    for record in records:
        if record.filled <= 0 or record.average_price is None:
            continue
        quantity += record.filled
        notional += record.notional
        fees += record.fee(maker_fee, taker_fee)
        if mark is not None:
            slippage += record.side.sign * (record.average_price - mark) * record.filled
    return TradeCost(
        quantity=quantity,
        average_price=notional / quantity if quantity > 0 else None,
        fees=fees,
        # Nothing traded costs nothing, whether or not the mark is known.
        cost=slippage + fees if mark is not None or quantity == 0 else None,
    )


def cost_bps(cost: Decimal | None, basis: Decimal | None) -> Decimal | None:
    """``cost`` in basis points of ``basis`` (None when either is unknown or the basis is 0)."""
    if cost is None or basis is None or basis <= 0:
        return None
    # A zero keeps no exponent ("0", not "0E+10" from the basis's scale).
    return cost / basis * BPS if cost != 0 else ZERO
