"""The tracker: turns a leg's ledger into a :class:`HedgeResult`, exactly.

Nothing is rounded away: the residual (target minus filled) is reported even
when it is below a lot and the leg counts as hedged.
"""

from __future__ import annotations

from decimal import Decimal

from hedge_fsm.core.ledger import Ledger
from hedge_fsm.values import ExecutionMode, HedgeResult, Instrument, Side

__all__ = ["build_hedge_result", "execution_mode"]

ZERO = Decimal(0)


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
