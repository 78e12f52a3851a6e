"""Hedge policies compared by ``bench_quality.py``; each hedges one leg after a trigger fill.

A policy is ``async def policy(ctx: HedgeContext) -> PolicyReport``: it is
handed the venues (fresh, identical for every policy), the trigger's fill and
the hedge target, trades on the hedge venue, and, when its hedge fails, unwinds
(the trigger with :func:`unwind_trigger`, the same for every policy). The
benchmark measures every policy the same way, from the venues' own fills, so a
policy's own report is only used for labels.

* :func:`engine_policy`: :meth:`HedgeEngine.hedge` with the default config.
* :func:`market_policy`: :meth:`HedgeEngine.hedge` with ``market_only=True``
  (the seed's simple market hedge: one market order for the target at once).
* :func:`seed_flow_policy`: the original imperative hedge manager's aggressive limit
  hedge (the flow this project was created from; its flaws are listed in
  docs/design.md, Pitfalls) as written, flaws included. See its docstring for what is
  reproduced and what had to be assumed.
* :func:`chaser_policy`: a fixed-offset limit chaser: rest a post-only order at
  the best own-side price minus ``offset`` ticks, re-price every ``interval``,
  market order for the rest after ``budget``. Cancels are confirmed and
  ambiguous placements looked up: a competent simple baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import attrs

from hedge_fsm import (
    BBO,
    AmbiguousOutcome,
    HedgeConfig,
    HedgeEngine,
    HedgeTarget,
    Instrument,
    OrderInfo,
    OrderNotFound,
    OrderStatus,
    RejectReason,
    Side,
    TriggerFill,
    Venue,
    VenueError,
    VenueRejected,
)
from hedge_fsm.core.targets import floor_to_step

ZERO = Decimal(0)


@attrs.define
class HedgeContext:
    """What a policy is handed at the trigger."""

    venues: dict[str, Venue]
    trigger_venue: str
    trigger_symbol: str
    trigger_instrument: Instrument
    trigger_quantity: Decimal
    """Contracts the trigger bought (its entry order filled in full)."""
    trigger: TriggerFill
    hedge_venue: str
    hedge_symbol: str
    hedge_instrument: Instrument
    hedge_side: Side
    target: Decimal
    """Contracts to trade on the hedge venue (trigger tokens / hedge multiplier, floored to the lot)."""


@attrs.define
class PolicyReport:
    hedged: bool
    rolled_back: bool = False
    note: str = ""


Policy = Callable[[HedgeContext], Awaitable[PolicyReport]]


# ---------------------------------------------------------------------------- shared helpers


async def retry_read(
    call: Callable[[], Awaitable[object]], attempts: int = 40, delay: float = 0.05
) -> object:
    """A read that a faulty venue may refuse (rate limit, outage): ask again a few times."""
    for attempt in range(attempts):
        try:
            return await call()
        except VenueError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def lookup(venue: Venue, symbol: str, client_order_id: str, tries: int = 4) -> OrderInfo | None:
    """After an ambiguous placement: does the order exist? (None: it was never placed.)"""
    for _ in range(tries):
        try:
            return await venue.order(symbol, client_order_id=client_order_id)
        except OrderNotFound:
            await asyncio.sleep(0.1)
        except VenueError:
            await asyncio.sleep(0.1)
    return None


async def market_order(
    venue: Venue,
    symbol: str,
    side: Side,
    quantity: Decimal,
    client_order_id: str,
    *,
    reduce_only: bool = False,
) -> OrderInfo | None:
    """A market order that survives refusals and ambiguous outcomes (looked up, never resent blindly)."""
    for attempt in range(6):
        cid = f"{client_order_id}x{attempt}"
        try:
            return await venue.place_market(
                symbol, side, quantity, reduce_only=reduce_only, client_order_id=cid
            )
        except AmbiguousOutcome:
            found = await lookup(venue, symbol, cid)
            if found is not None:
                return found
        except VenueRejected:
            await asyncio.sleep(0.1)
    return None


async def unwind_trigger(ctx: HedgeContext, tag: str) -> None:
    """Sell back what the trigger bought (every policy's rollback of the trigger leg)."""
    remaining = ctx.trigger_quantity
    for round_ in range(3):
        if remaining < ctx.trigger_instrument.lot_size:
            return
        order = await market_order(
            ctx.venues[ctx.trigger_venue],
            ctx.trigger_symbol,
            ctx.trigger.side.opposite,
            remaining,
            f"{tag}u{round_}",
        )
        if order is not None:
            remaining -= order.filled_quantity


# ---------------------------------------------------------------------------- engine policies


async def _engine(
    ctx: HedgeContext, *, market_only: bool, hedge_id: str, config: HedgeConfig
) -> PolicyReport:
    engine = HedgeEngine(ctx.venues, config)
    result = await engine.hedge(
        [
            HedgeTarget(
                venue=ctx.hedge_venue, symbol=ctx.hedge_symbol, side=ctx.hedge_side, quantity=ctx.target
            )
        ],
        trigger=ctx.trigger,
        market_only=market_only,
        hedge_id=hedge_id,
    )
    if result.state == "done":
        return PolicyReport(hedged=True)
    # The engine flattened the hedge leg (rolled_back) or reported what it could not (failed);
    # the trigger leg is not one of its targets here, so it is unwound like every policy's.
    await unwind_trigger(ctx, hedge_id)
    return PolicyReport(hedged=False, rolled_back=True, note=result.state)


async def engine_policy(ctx: HedgeContext) -> PolicyReport:
    """``HedgeEngine.hedge`` with the default :class:`HedgeConfig`."""
    return await _engine(ctx, market_only=False, hedge_id="eng", config=HedgeConfig())


async def market_policy(ctx: HedgeContext) -> PolicyReport:
    """``HedgeEngine.hedge(..., market_only=True)``: one market order at once."""
    return await _engine(ctx, market_only=True, hedge_id="mkt", config=HedgeConfig())


# ---------------------------------------------------------------------------- the seed's flow

SEED_MAX_RETRIES = 8
SEED_TIMEOUT = 6.0
SEED_BACKOFF = 0.075
SEED_INSIDE_TICK_RETRIES = 3
SEED_ATTEMPT_TIMEOUT = 1.5
SEED_POLL_INTERVAL = 0.1
SEED_SUCCESS_SHARE = Decimal("0.99")
SEED_BREAK_EVEN_SKEW = Decimal("0.0001")
"""The original aligner targeted trigger x 0.9999 for a sell hedge (docs/design.md, Pitfalls)."""


def _seed_round(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    # The seed rounded to the tick's number of decimal places, not to multiples of the tick.
    places = Decimal(1).scaleb(tick.normalize().as_tuple().exponent)  # type: ignore[arg-type]
    return price.quantize(places, rounding=ROUND_UP if up else ROUND_DOWN)


def _seed_price(
    attempt: int, side: Side, bbo: BBO, instrument: Instrument, trigger: TriggerFill
) -> tuple[Decimal, str]:
    """``pricer.calculate_aggressive_limit_price``: break-even every attempt, then inside, then touch."""
    tick = instrument.tick_size
    per_token = trigger.price / trigger.multiplier
    if side is Side.SELL:
        break_even = _seed_round(
            per_token * (1 - SEED_BREAK_EVEN_SKEW) * instrument.multiplier, tick, up=True
        )
        if break_even > bbo.bid:  # feasible: a passive sell
            return break_even, "break_even"
    else:
        break_even = _seed_round(
            per_token * (1 + SEED_BREAK_EVEN_SKEW) * instrument.multiplier, tick, up=False
        )
        if break_even < bbo.ask:
            return break_even, "break_even"
    if attempt < SEED_INSIDE_TICK_RETRIES:
        return (bbo.ask - tick if side is Side.BUY else bbo.bid + tick), "inside_spread"
    return (bbo.ask if side is Side.BUY else bbo.bid), "touch"


async def seed_flow_policy(ctx: HedgeContext) -> PolicyReport:
    """The seed document's ``aggressive_limit_strategy.execute_hedge`` as written, flaws included.

    Reproduced from the document: a retry loop of ``max_retries=8`` within a
    6 s timeout with 75 ms backoff; every attempt fetches the BBO and tries
    break-even first (so a feasible break-even is retried on *every* attempt
    and blocks escalation), then inside spread (``retry_count <
    inside_tick_retries``), then the touch, placed like every attempt as a
    post-only limit (it can never fill at the opposite best: it is refused);
    the poll loop tracks fills, cancels a partially filled order and moves on
    *without confirming the cancel or reading its answer*; success is declared
    at 99 % of the target (the rest is left unhedged); exceptions are logged
    and the loop goes on (an ambiguous placement is treated as a failure, so
    an order that does exist is forgotten); at the end only the *last* order
    is re-read; then a market order for what the tracked fills say remains,
    and on failure a rollback that closes the tracked partial fills and the
    trigger. Assumed where the document is silent: break-even is the
    original's trigger x 0.9999 per token (docs/design.md, Pitfalls) converted
    through the multipliers, feasible when it is a passive price; 3 inside-tick
    retries; 1.5 s per attempt; 100 ms polls; reports overwrite the current
    order's tracked fill (no max-cumulative rule).
    """
    venue = ctx.venues[ctx.hedge_venue]
    symbol, side, instrument = ctx.hedge_symbol, ctx.hedge_side, ctx.hedge_instrument
    lot = instrument.lot_size
    loop = asyncio.get_running_loop()
    start = loop.time()
    target = ctx.target
    accumulated = ZERO  # fills of the attempts so far, as tracked
    last_order_id: str | None = None
    last_tracked = ZERO  # the last order's fill, as tracked
    hedged = False
    sent = 0

    async def cancel_unconfirmed(order_id: str) -> None:
        with contextlib.suppress(VenueError):  # "Log error"
            await venue.cancel(symbol, order_id)  # the answer (and any fill in it) is not read

    for retry_count in range(SEED_MAX_RETRIES):
        if loop.time() - start >= SEED_TIMEOUT:
            break
        try:
            bbo = await venue.best_bid_offer(symbol)
            price, _rung = _seed_price(retry_count, side, bbo, instrument, ctx.trigger)
            remaining = floor_to_step(target - accumulated, lot)
            if remaining < instrument.min_quantity:
                hedged = True
                break
            sent += 1
            info = await venue.place_limit(
                symbol,
                side,
                remaining,
                price,
                post_only=True,
                reduce_only=False,
                client_order_id=f"seed{sent}",
            )
        except VenueError:
            # "Log error -> Continue retry": an ambiguous placement is forgotten, even if it exists.
            await asyncio.sleep(SEED_BACKOFF)
            continue
        last_order_id, last_tracked = info.order_id, ZERO
        # reconciler.poll_order_until_filled
        deadline = loop.time() + SEED_ATTEMPT_TIMEOUT
        filled = False
        while True:
            tracked = info.filled_quantity  # overwritten by each report, stale ones included
            if info.status is OrderStatus.FILLED:
                filled = True
                break
            if info.status is OrderStatus.PARTIALLY_FILLED:
                await cancel_unconfirmed(info.order_id)
                break  # retry with the remaining quantity
            if info.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
                break  # a post-only violation: retry; otherwise the 99 % check below
            if loop.time() >= deadline:
                await cancel_unconfirmed(info.order_id)  # "If not filled: cancel order"
                break
            await asyncio.sleep(SEED_POLL_INTERVAL)
            try:
                info = await venue.order(symbol, order_id=info.order_id)
            except VenueError:
                continue
        last_tracked = tracked
        accumulated += tracked
        if (filled or accumulated > 0) and accumulated >= target * SEED_SUCCESS_SHARE:
            hedged = True  # the 99 % rule: up to 1 % is left unhedged, silently
            break
        await asyncio.sleep(SEED_BACKOFF)

    if not hedged and last_order_id is not None:
        # reconciler.reconcile_final_state: only the *last* order is re-read.
        try:
            final = await venue.order(symbol, order_id=last_order_id)
            if final.filled_quantity > last_tracked:
                accumulated += final.filled_quantity - last_tracked
        except VenueError:
            pass
        hedged = accumulated >= target * SEED_SUCCESS_SHARE
    if hedged:
        return PolicyReport(hedged=True)

    # market_fallback.execute_hedge: a market order for what the tracked fills say remains.
    remaining = floor_to_step(target - accumulated, lot)
    market_filled = ZERO
    success = remaining < instrument.min_quantity
    if not success:
        try:
            order = await venue.place_market(
                symbol, side, remaining, reduce_only=False, client_order_id=f"seed{sent + 1}m"
            )
            market_filled = order.filled_quantity
            success = order.status is OrderStatus.FILLED
        except VenueError:
            success = False  # an ambiguous market order may have filled: not looked up
    if success:
        return PolicyReport(hedged=True)
    # RollbackManager.rollback(): close the partial fills it knows of, then the trigger.
    known = floor_to_step(accumulated + market_filled, lot)
    if known >= instrument.min_quantity:
        with contextlib.suppress(VenueError):
            await venue.place_market(
                symbol, side.opposite, known, reduce_only=False, client_order_id="seedrb"
            )
    await unwind_trigger(ctx, "seed")
    return PolicyReport(hedged=False, rolled_back=True)


# ---------------------------------------------------------------------------- fixed-offset chaser

CHASER_OFFSET_TICKS = 0
CHASER_INTERVAL = 0.5
CHASER_BUDGET = 6.0
CHASER_POLL = 0.1


async def confirm_cancel(venue: Venue, symbol: str, order: OrderInfo) -> OrderInfo:
    """Cancel and wait until the order is terminal; returns its final report."""
    for _ in range(50):
        try:
            answer = await venue.cancel(symbol, order.order_id)
            if answer.is_terminal:
                return answer
        except VenueError:
            pass
        try:
            answer = await venue.order(symbol, order_id=order.order_id)
            if answer.is_terminal:
                return answer
        except VenueError:
            pass
        await asyncio.sleep(CHASER_POLL)
    return order


async def chaser_policy(
    ctx: HedgeContext,
    *,
    offset: int = CHASER_OFFSET_TICKS,
    interval: float = CHASER_INTERVAL,
    budget: float = CHASER_BUDGET,
) -> PolicyReport:
    """Rest post-only at the best own-side price less ``offset`` ticks; re-price every ``interval``."""
    venue = ctx.venues[ctx.hedge_venue]
    symbol, side, instrument = ctx.hedge_symbol, ctx.hedge_side, ctx.hedge_instrument
    tick, lot = instrument.tick_size, instrument.lot_size
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    fills: dict[str, Decimal] = {}
    sent = 0

    def remaining() -> Decimal:
        return floor_to_step(max(ZERO, ctx.target - sum(fills.values(), ZERO)), lot)

    while remaining() >= instrument.min_quantity and loop.time() < deadline:
        try:
            bbo = await venue.best_bid_offer(symbol)
        except VenueError:
            await asyncio.sleep(CHASER_POLL)
            continue
        if side is Side.SELL:
            price = max(bbo.ask - offset * tick, bbo.bid + tick)
        else:
            price = min(bbo.bid + offset * tick, bbo.ask - tick)
        sent += 1
        cid = f"fix{sent}"
        order: OrderInfo | None
        try:
            order = await venue.place_limit(
                symbol, side, remaining(), price, post_only=True, reduce_only=False, client_order_id=cid
            )
        except AmbiguousOutcome:
            order = await lookup(venue, symbol, cid)
        except VenueRejected as exc:
            if exc.reason is not RejectReason.POST_ONLY:
                await asyncio.sleep(CHASER_POLL)
            continue
        if order is None:
            continue
        fills[cid] = order.filled_quantity
        until = min(loop.time() + interval, deadline)
        while not order.is_terminal and loop.time() < until:
            await asyncio.sleep(min(CHASER_POLL, max(until - loop.time(), 0.0)))
            try:
                seen = await venue.order(symbol, order_id=order.order_id)
                if seen.filled_quantity >= order.filled_quantity:
                    order = seen
            except VenueError:
                pass
            fills[cid] = order.filled_quantity
        if not order.is_terminal:
            order = await confirm_cancel(venue, symbol, order)
        fills[cid] = max(fills[cid], order.filled_quantity)

    rest = remaining()
    if rest >= instrument.min_quantity:
        order = await market_order(venue, symbol, side, rest, f"fix{sent + 1}m")
        filled = order.filled_quantity if order is not None else ZERO
        if filled < rest:
            hedged = sum(fills.values(), ZERO) + filled
            if hedged >= instrument.min_quantity:
                await market_order(venue, symbol, side.opposite, floor_to_step(hedged, lot), "fixrb")
            await unwind_trigger(ctx, "fix")
            return PolicyReport(hedged=False, rolled_back=True)
    return PolicyReport(hedged=True)


POLICIES: dict[str, Policy] = {
    "engine": engine_policy,
    "market-only": market_policy,
    "seed flow": seed_flow_policy,
    "chaser": chaser_policy,
}
