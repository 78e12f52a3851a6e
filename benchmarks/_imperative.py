"""A hand-written imperative hedge: the engine's steps and decisions without the machines.

The baseline of ``bench_hot_path.py``. It makes the same venue calls in the
same order as :class:`hedge_fsm.HedgeEngine` (the benchmark checks that on a
recorded run), prices with the same :func:`hedge_fsm.core.pricer.price_attempt`,
sizes with the same target helpers and keeps the same per-order fill
accounting (cumulative fill per order, remaining = target - sum), but as plain
``async`` code: awaits, loops and ``asyncio.sleep`` instead of events,
commands, tasks and transition tables. It handles what the benchmark's venue
does (rests, fills, partial fills, post-only refusals, cancels) and no more:
ambiguous outcomes, lookups, stuck venues and rollback are left out, which
flatters it slightly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs

from hedge_fsm import (
    HedgeConfig,
    Instrument,
    LegSpec,
    OrderInfo,
    OrderStatus,
    RejectReason,
    Side,
    TriggerFill,
    Venue,
    VenueRejected,
)
from hedge_fsm.core.pricer import price_attempt
from hedge_fsm.core.targets import floor_to_step, is_unplaceable, scaled_target

ZERO = Decimal(0)


@attrs.define
class LegOutcome:
    """What one hand-written leg hedge did."""

    venue: str
    symbol: str
    side: Side
    target: Decimal
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    maker: Decimal = ZERO
    attempts: int = 0
    market: bool = False
    success: bool = False
    error: str | None = None

    @property
    def taker(self) -> Decimal:
        return self.filled - self.maker

    @property
    def average_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None


def _account(outcome: LegOutcome, orders: dict[str, OrderInfo]) -> None:
    filled = notional = maker = ZERO
    for order in orders.values():
        if order.filled_quantity:
            assert order.average_price is not None
            filled += order.filled_quantity
            notional += order.filled_quantity * order.average_price
            maker += order.maker_quantity or ZERO
    outcome.filled, outcome.notional, outcome.maker = filled, notional, maker


async def hedge_leg(
    venue: Venue,
    instrument: Instrument,
    side: Side,
    target: Decimal,
    *,
    config: HedgeConfig,
    trigger: TriggerFill | None,
    client_prefix: str,
    reduce_only: bool = False,
) -> LegOutcome:
    """Break-even / inside / touch with polls, cancels and backoff, then the market fallback."""
    loop = asyncio.get_running_loop()
    policy = config.policy_for(reduce_only)
    symbol = instrument.symbol
    lot = instrument.lot_size
    dust = config.dust_tolerance
    deadline = loop.time() + policy.budget
    orders: dict[str, OrderInfo] = {}
    outcome = LegOutcome(venue=getattr(venue, "name", "?"), symbol=symbol, side=side, target=target)
    attempts = sent = 0

    def remaining() -> Decimal:
        return floor_to_step(max(ZERO, target - sum((o.filled_quantity for o in orders.values()), ZERO)), lot)

    def budget_spent() -> bool:
        return (
            loop.time() >= deadline
            or attempts >= policy.max_attempts
            or sent >= config.max_orders_per_leg - 1
        )

    while True:
        if is_unplaceable(remaining(), instrument, dust):
            break
        if budget_spent():
            break
        bbo = await venue.best_bid_offer(symbol)
        quantity = remaining()
        if is_unplaceable(quantity, instrument, dust) or quantity * bbo.mid < instrument.min_notional:
            break
        if budget_spent():
            break
        if bbo.is_crossed:
            await asyncio.sleep(policy.backoff)
            continue
        quote = price_attempt(
            attempt=attempts,
            side=side,
            bbo=bbo,
            instrument=instrument,
            trigger=trigger,
            inside_tick_attempts=policy.inside_tick_attempts,
            break_even=config.break_even,
            include_fees=config.break_even_include_fees,
            break_even_max_ticks=config.break_even_max_ticks,
        )
        client_order_id = f"{client_prefix}n{sent}"
        attempts += 1
        sent += 1
        now = loop.time()
        attempt_deadline = now + min(policy.attempt_wait, max(deadline - now, 0.0))
        try:
            order = await venue.place_limit(
                symbol,
                side,
                quantity,
                quote.price,
                post_only=quote.post_only,
                reduce_only=reduce_only,
                client_order_id=client_order_id,
            )
        except VenueRejected as exc:
            if exc.reason is not RejectReason.POST_ONLY:
                outcome.error = str(exc)
            if budget_spent():
                break
            await asyncio.sleep(policy.backoff)
            continue
        orders[client_order_id] = order
        if order.is_post_only_reject:
            if budget_spent():
                break
            await asyncio.sleep(policy.backoff)
            continue
        # Poll until filled, partially filled (then cancel) or the attempt's time is up (cancel).
        while not order.is_terminal:
            if order.filled_quantity > 0:
                order = await venue.cancel(symbol, order.order_id)
                orders[client_order_id] = order
                continue
            wake = min(loop.time() + policy.poll_interval, attempt_deadline)
            await asyncio.sleep(wake - loop.time())
            if loop.time() >= attempt_deadline:
                order = await venue.cancel(symbol, order.order_id)
                orders[client_order_id] = order
                continue
            order = await venue.order(symbol, order_id=order.order_id)
            orders[client_order_id] = order
        if is_unplaceable(remaining(), instrument, dust):
            break
        if budget_spent():
            break
        await asyncio.sleep(policy.backoff)
        if is_unplaceable(remaining(), instrument, dust):
            break

    quantity = remaining()
    if not is_unplaceable(quantity, instrument, dust):
        outcome.market = True
        client_order_id = f"{client_prefix}n{sent}"
        sent += 1
        order = await venue.place_market(
            symbol, side, quantity, reduce_only=reduce_only, client_order_id=client_order_id
        )
        orders[client_order_id] = order
    outcome.attempts = attempts
    _account(outcome, orders)
    outcome.success = is_unplaceable(remaining(), instrument, dust)
    return outcome


async def hedge(
    venues: Mapping[str, Venue],
    venue: str,
    symbol: str,
    side: Side,
    target: Decimal,
    *,
    config: HedgeConfig,
    trigger: TriggerFill | None,
    hedge_id: str,
) -> tuple[Decimal, LegOutcome]:
    """The counterpart of ``engine.hedge([one target])``: set-up reads, then the leg."""
    where = venues[venue]
    instrument = await where.instrument(symbol)
    baseline = await where.position(symbol)
    outcome = await hedge_leg(
        where, instrument, side, target, config=config, trigger=trigger, client_prefix=f"{hedge_id}h0"
    )
    await where.position(symbol)  # the engine's reconciliation: the position confirms the fills
    return baseline, outcome


async def execute(
    venues: Mapping[str, Venue],
    specs: Sequence[LegSpec],
    *,
    config: HedgeConfig,
    hedge_id: str,
) -> list[LegOutcome]:
    """The counterpart of ``engine.execute``: entry orders, watch, cancel the others, hedge them."""
    loop = asyncio.get_running_loop()
    instruments = [await venues[s.venue].instrument(s.symbol) for s in specs]
    for spec in specs:
        await venues[spec.venue].position(spec.symbol)
    for spec in specs:  # the engine's preflight: each entry price against the book
        await venues[spec.venue].best_bid_offer(spec.symbol)
    entries: list[OrderInfo] = []
    for index, spec in enumerate(specs):
        entries.append(
            await venues[spec.venue].place_limit(
                spec.symbol,
                spec.side,
                spec.quantity,
                spec.price,
                post_only=spec.post_only,  # as the engine places entries (LegSpec.post_only)
                reduce_only=spec.reduce_only,
                client_order_id=f"{hedge_id}e{index}n1",
            )
        )
    deadline = loop.time() + config.entry_timeout
    trigger_index: int | None = None
    while trigger_index is None:
        await asyncio.sleep(min(config.entry_poll_interval, max(deadline - loop.time(), 0.0)))
        for index, spec in enumerate(specs):
            if not entries[index].is_terminal:
                where = venues[spec.venue]
                entries[index] = await where.order(spec.symbol, order_id=entries[index].order_id)
        for index, spec in enumerate(specs):
            entry = entries[index]
            if entry.status is OrderStatus.FILLED and entry.filled_quantity >= spec.quantity:
                trigger_index = index
                break
        if trigger_index is None and loop.time() >= deadline:
            raise TimeoutError("entry timed out (not exercised by the benchmark)")
    # The trigger filled: cancel every other entry order, then size the hedges from the fill.
    for index, spec in enumerate(specs):
        if index != trigger_index and not entries[index].is_terminal:
            entries[index] = await venues[spec.venue].cancel(spec.symbol, entries[index].order_id)
    reference = entries[trigger_index]
    ref_spec, ref_instrument = specs[trigger_index], instruments[trigger_index]
    assert reference.average_price is not None
    maker = reference.maker_quantity or ZERO
    fee_rate = (
        maker * ref_instrument.maker_fee + (reference.filled_quantity - maker) * ref_instrument.taker_fee
    ) / reference.filled_quantity
    trigger = TriggerFill(
        side=ref_spec.side,
        price=reference.average_price,
        multiplier=ref_instrument.multiplier,
        fee_rate=fee_rate,
    )
    legs = []
    for index, spec in enumerate(specs):
        if index == trigger_index:
            continue
        instrument = instruments[index]
        target = scaled_target(
            spec.quantity, reference.filled_quantity, ref_spec.quantity, instrument.lot_size
        )
        remaining = floor_to_step(target - entries[index].filled_quantity, instrument.lot_size)
        if is_unplaceable(remaining, instrument, config.dust_tolerance):
            continue
        legs.append(
            hedge_leg(
                venues[spec.venue],
                instrument,
                spec.side,
                remaining,
                config=config,
                trigger=trigger if trigger.side is not spec.side else None,
                client_prefix=f"{hedge_id}h{index}",
                reduce_only=spec.reduce_only,
            )
        )
    outcomes = list(await asyncio.gather(*legs))
    for spec in specs:  # the engine's reconciliation: positions confirm the fills
        await venues[spec.venue].position(spec.symbol)
    return outcomes
