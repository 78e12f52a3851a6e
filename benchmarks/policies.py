"""Hedge policies compared by ``bench_quality.py``.

Every policy starts from the same place: a two-leg entry run by the engine's own
entry phase (a buy resting at one venue's bid, a sell of the same tokens at the
other's ask, both polled) until one entry order is filled, the **trigger**. From
that instant T the policies differ:

* ``engine``: :meth:`HedgeEngine.execute` with the default :class:`HedgeConfig`
  (with ``entry_handoff = "adopt"`` where the engine has it: the other leg's resting
  entry order becomes its first hedge attempt).
* ``engine (cancel)``: the same with ``entry_handoff = "cancel"`` (the ablation:
  the other entry is cancelled and confirmed, then the ladder places new orders).
* ``market-only``: the engine with ``mode = "market"``: cancel the other entry,
  then one market order for what remains.
* peers written here: :func:`seed_flow_policy`, :func:`chaser_policy`,
  :func:`ioc_ladder_policy`. They share the engine's entry phase *and its cancel
  path*: the benchmark runs ``engine (cancel)`` and stops it (``TriggerWatch``) when
  its hedge leg is about to send its first request, i.e. once the other leg's entry
  order is cancelled and the cancel confirmed (fills counted, every request answered);
  :func:`hand_over` then counts the entry's fills and the peer hedges what remains.

A peer is ``async def policy(ctx: HedgeContext) -> PolicyReport``. Peers wait only
through ``ctx.clock`` (never asyncio directly), so they run on the synchronous
simulation driver (:class:`hedge_fsm.sim.SimLoop`) as well as on asyncio; the
venues are the same simulated venues either way. When a peer's hedge fails it
unwinds its own hedge fills and the trigger (:func:`unwind_trigger`, the same for
every peer). The benchmark measures every policy the same way, from the venues' own
fills and logs; a policy's report is only a label.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Protocol

import attrs

from hedge_fsm import (
    BBO,
    AmbiguousOutcome,
    HedgeConfig,
    HedgeMode,
    Instrument,
    OrderInfo,
    OrderStatus,
    RejectReason,
    Side,
    TriggerFill,
    Venue,
    VenueError,
    VenueRejected,
)
from hedge_fsm.core.targets import floor_to_step
from hedge_fsm.sim import SimVenue
from hedge_fsm.sim import venue as sim_venue

ZERO = Decimal(0)


class PolicyClock(Protocol):
    """What a peer may ask of time: the driver's virtual clock."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> Awaitable[Any]: ...

    def wait_for(self, call: Awaitable[Any], timeout: float) -> Awaitable[Any]:
        """``call``'s result, or TimeoutError after ``timeout`` seconds (the call is cancelled)."""
        ...


class LoopTime:
    """:class:`PolicyClock` on a synchronous :class:`hedge_fsm.sim.SimLoop`."""

    def __init__(self, loop: Any) -> None:
        self._loop = loop

    def now(self) -> float:
        return float(self._loop.now)

    def sleep(self, seconds: float) -> Awaitable[Any]:
        return self._loop.sleep(seconds)  # type: ignore[no-any-return]

    def wait_for(self, call: Awaitable[Any], timeout: float) -> Awaitable[Any]:
        return self._loop.wait_for(call, timeout)  # type: ignore[no-any-return]


class AsyncioTime:
    """:class:`PolicyClock` on the running asyncio loop (the virtual one of ``hedge_fsm.sim.run``)."""

    def now(self) -> float:
        import asyncio

        return asyncio.get_running_loop().time()

    def sleep(self, seconds: float) -> Awaitable[Any]:
        import asyncio

        return asyncio.sleep(seconds)

    def wait_for(self, call: Awaitable[Any], timeout: float) -> Awaitable[Any]:
        import asyncio

        return asyncio.wait_for(call, timeout)


@attrs.define
class HedgeContext:
    """What a peer is handed at the trigger."""

    clock: PolicyClock
    venues: dict[str, Venue]
    trigger_venue: str
    trigger_symbol: str
    trigger_instrument: Instrument
    trigger_quantity: Decimal
    """Contracts the trigger bought or sold (its entry order filled in full)."""
    trigger: TriggerFill
    hedge_venue: str
    hedge_symbol: str
    hedge_instrument: Instrument
    hedge_side: Side
    target: Decimal
    """The hedge leg's total target in contracts (the engine's ``scaled_target``); after
    :func:`hand_over`, what is left of it once the entry order's fills are counted."""
    entry: OrderInfo | None
    """The hedge leg's own entry order as the venue shows it when the peer takes over."""
    prior: Decimal = ZERO
    """Hedge-side contracts already filled by the entry order (set by :func:`hand_over`)."""


@attrs.define
class PolicyReport:
    hedged: bool
    rolled_back: bool = False
    note: str = ""


Policy = Callable[[HedgeContext], Awaitable[PolicyReport]]


# ---------------------------------------------------------------------------- engine policies


def _with(config: HedgeConfig, **changes: object) -> HedgeConfig:
    """``attrs.evolve`` with only the fields this engine has (``entry_handoff`` is new)."""
    known = {f.name for f in attrs.fields(HedgeConfig)}
    return attrs.evolve(config, **{k: v for k, v in changes.items() if k in known})


HAS_HANDOFF = "entry_handoff" in {f.name for f in attrs.fields(HedgeConfig)}
"""Whether this engine has ``HedgeConfig.entry_handoff`` (without it both engine rows are
the engine's cancel-first path)."""

ENGINE_CONFIGS: dict[str, HedgeConfig] = {
    "engine": HedgeConfig(),
    "market-only": _with(HedgeConfig(mode=HedgeMode.MARKET), entry_handoff="cancel"),
    "engine (cancel)": _with(HedgeConfig(), entry_handoff="cancel"),
}
"""The policies that are the engine itself, by their configuration."""

PEER_ENTRY_CONFIG = ENGINE_CONFIGS["engine (cancel)"]
"""The configuration of the entry phase the peers take over from (the entry phase does not
depend on the hand-off, so the trigger is the same as every engine row's)."""


# ---------------------------------------------------------------------------- shared helpers


async def retry_read(
    clock: PolicyClock, call: Callable[[], Awaitable[object]], attempts: int = 40, delay: float = 0.05
) -> object:
    """A read that a faulty venue may refuse (rate limit, outage): ask again a few times."""
    for attempt in range(attempts):
        try:
            return await call()
        except VenueError:
            if attempt == attempts - 1:
                raise
            await clock.sleep(delay)
    raise AssertionError("unreachable")


async def lookup(
    clock: PolicyClock, venue: Venue, symbol: str, client_order_id: str, tries: int = 4
) -> OrderInfo | None:
    """After an ambiguous placement: does the order exist? (None: it was never placed.)"""
    for _ in range(tries):
        try:
            return await venue.order(symbol, client_order_id=client_order_id)
        except VenueError:  # OrderNotFound included
            await clock.sleep(0.1)
    return None


async def market_order(
    clock: PolicyClock,
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
            found = await lookup(clock, venue, symbol, cid)
            if found is not None:
                return found
        except VenueRejected:
            await clock.sleep(0.1)
    return None


CONFIRM_POLL = 0.1


async def confirm_cancel(clock: PolicyClock, venue: Venue, symbol: str, order: OrderInfo) -> OrderInfo:
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
        await clock.sleep(CONFIRM_POLL)
    return order


async def unwind_trigger(ctx: HedgeContext, tag: str) -> None:
    """Trade back what the trigger filled (every peer's rollback of the trigger leg)."""
    remaining = ctx.trigger_quantity
    for round_ in range(3):
        if remaining < ctx.trigger_instrument.lot_size:
            return
        order = await market_order(
            ctx.clock,
            ctx.venues[ctx.trigger_venue],
            ctx.trigger_symbol,
            ctx.trigger.side.opposite,
            remaining,
            f"{tag}u{round_}",
        )
        if order is not None:
            remaining -= order.filled_quantity


async def roll_back(ctx: HedgeContext, hedged: Decimal, tag: str) -> PolicyReport:
    """Flatten the hedge fills a peer knows of (its own and the entry's), then the trigger."""
    known = floor_to_step(hedged + ctx.prior, ctx.hedge_instrument.lot_size)
    if known >= ctx.hedge_instrument.min_quantity:
        await market_order(
            ctx.clock,
            ctx.venues[ctx.hedge_venue],
            ctx.hedge_symbol,
            ctx.hedge_side.opposite,
            known,
            f"{tag}rb",
        )
    await unwind_trigger(ctx, tag)
    return PolicyReport(hedged=False, rolled_back=True)


async def hand_over(ctx: HedgeContext, policy: Policy) -> PolicyReport:
    """The peers' entry hand-off: count the hedge leg's entry fills (its cancel was confirmed by
    the engine's cancel path; should it still be live, cancel it and wait for the confirmation
    here), then let ``policy`` hedge what is left (nothing, when the entry covered it)."""
    venue = ctx.venues[ctx.hedge_venue]
    entry = ctx.entry
    if entry is not None and not entry.is_terminal:
        entry = await confirm_cancel(ctx.clock, venue, ctx.hedge_symbol, entry)
    ctx.prior = entry.filled_quantity if entry is not None else ZERO
    ctx.target = floor_to_step(max(ZERO, ctx.target - ctx.prior), ctx.hedge_instrument.lot_size)
    if ctx.target < ctx.hedge_instrument.min_quantity:
        return PolicyReport(hedged=True, note="the entry covered the target")
    return await policy(ctx)


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
    clock = ctx.clock
    start = clock.now()
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
        if clock.now() - start >= SEED_TIMEOUT:
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
            await clock.sleep(SEED_BACKOFF)
            continue
        last_order_id, last_tracked = info.order_id, ZERO
        # reconciler.poll_order_until_filled
        deadline = clock.now() + SEED_ATTEMPT_TIMEOUT
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
            if clock.now() >= deadline:
                await cancel_unconfirmed(info.order_id)  # "If not filled: cancel order"
                break
            await clock.sleep(SEED_POLL_INTERVAL)
            try:
                info = await venue.order(symbol, order_id=info.order_id)
            except VenueError:
                continue
        last_tracked = tracked
        accumulated += tracked
        if (filled or accumulated > 0) and accumulated >= target * SEED_SUCCESS_SHARE:
            hedged = True  # the 99 % rule: up to 1 % is left unhedged, silently
            break
        await clock.sleep(SEED_BACKOFF)

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
    # RollbackManager.rollback(): close the partial fills it knows of (the entry's too),
    # then the trigger.
    known = floor_to_step(accumulated + market_filled + ctx.prior, lot)
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
    clock = ctx.clock
    deadline = clock.now() + budget
    fills: dict[str, Decimal] = {}
    sent = 0

    def remaining() -> Decimal:
        return floor_to_step(max(ZERO, ctx.target - sum(fills.values(), ZERO)), lot)

    while remaining() >= instrument.min_quantity and clock.now() < deadline:
        try:
            bbo = await venue.best_bid_offer(symbol)
        except VenueError:
            await clock.sleep(CHASER_POLL)
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
            order = await lookup(clock, venue, symbol, cid)
        except VenueRejected as exc:
            if exc.reason is not RejectReason.POST_ONLY:
                await clock.sleep(CHASER_POLL)
            continue
        if order is None:
            continue
        fills[cid] = order.filled_quantity
        until = min(clock.now() + interval, deadline)
        while not order.is_terminal and clock.now() < until:
            await clock.sleep(min(CHASER_POLL, max(until - clock.now(), 0.0)))
            try:
                seen = await venue.order(symbol, order_id=order.order_id)
                if seen.filled_quantity >= order.filled_quantity:
                    order = seen
            except VenueError:
                pass
            fills[cid] = order.filled_quantity
        if not order.is_terminal:
            order = await confirm_cancel(clock, venue, symbol, order)
        fills[cid] = max(fills[cid], order.filled_quantity)

    rest = remaining()
    if rest >= instrument.min_quantity:
        order = await market_order(clock, venue, symbol, side, rest, f"fix{sent + 1}m")
        filled = order.filled_quantity if order is not None else ZERO
        if filled < rest:
            return await roll_back(ctx, sum(fills.values(), ZERO) + filled, "fix")
    return PolicyReport(hedged=True)


# ---------------------------------------------------------------------------- marketable-IOC ladder

IOC_CAPS_BPS = (0.0, 2.0, 5.0, 10.0)
"""How far past the touch each rung's limit may go, in basis points of the touch (at least
one more tick per rung): 0 is the touch itself."""
IOC_PAUSE = 0.05
"""Between rungs: a moment for the book to refill before the next, wider, rung."""


async def place_ioc(
    venue: Venue,
    symbol: str,
    side: Side,
    quantity: Decimal,
    price: Decimal,
    client_order_id: str,
) -> OrderInfo:
    """A limit IOC: on arrival it takes what the book offers up to ``price``; the rest expires.

    The venue protocol has no time-in-force, so on a :class:`SimVenue` this goes through the
    venue's own request path (``_round_trip``: the same latency, faults, window and logs as
    ``place_limit``) with an action that accepts a crossing limit and expires its remainder at
    once, as the venue does for a market order. That reaches into the simulator's private
    methods, which a benchmark may do and the library may not; elsewhere it is a limit order
    cancelled at once (a resting remainder may fill before the cancel lands).
    """
    if not isinstance(venue, SimVenue):
        order = await venue.place_limit(
            symbol,
            side,
            quantity,
            price,
            post_only=False,
            reduce_only=False,
            client_order_id=client_order_id,
        )
        if not order.is_terminal:
            with contextlib.suppress(VenueError):
                order = await venue.cancel(symbol, order.order_id)
        return order
    sim = venue
    fault = sim.faults.for_place()
    request = f"{client_order_id} {symbol} {side} {quantity} @ {price} IOC"

    def act(now: float) -> OrderInfo:
        sim._accept_limit(symbol, side, quantity, price, False, False, client_order_id, now)
        order = sim._by_client[client_order_id]
        if not order.is_terminal:
            sim._close(order, OrderStatus.EXPIRED)
            sim._log(now, "expire", f"{order.order_id} IOC {sim._fill_text(order)}")
        return order.report()  # type: ignore[no-any-return]

    # A venue with speed bumps or blocks queues an IOC as the taker order it is.
    kind = getattr(sim_venue, "RequestKind", None)
    extra = {"request_kind": kind.TAKER} if kind is not None else {}
    return await sim._round_trip(  # type: ignore[no-any-return]
        "place_limit", request, fault, sim.latency.place, act, mutating=True, **extra
    )


def _ioc_price(bbo: BBO, side: Side, instrument: Instrument, rung: int, cap_bps: float) -> Decimal:
    tick = instrument.tick_size
    touch = bbo.bid if side is Side.SELL else bbo.ask
    ticks = max(rung, int(Decimal(str(cap_bps)) / 10_000 * touch / tick))
    if side is Side.SELL:
        return max(touch - ticks * tick, tick)
    return touch + ticks * tick


async def ioc_ladder_policy(
    ctx: HedgeContext, *, caps_bps: tuple[float, ...] = IOC_CAPS_BPS, pause: float = IOC_PAUSE
) -> PolicyReport:
    """Marketable IOC limits at the touch, then past it by a widening cap; a market order last.

    Each rung reads the book, sends a limit IOC for the remainder at the touch (rung 0) or
    up to ``caps_bps[rung]`` past it, and counts what filled; a refusal costs its rung, an
    ambiguous IOC is looked up by client id (its fills count, it cannot rest). What the
    rungs did not fill goes in one market order; if even that fails, roll back.
    """
    clock = ctx.clock
    venue = ctx.venues[ctx.hedge_venue]
    symbol, side, instrument = ctx.hedge_symbol, ctx.hedge_side, ctx.hedge_instrument
    lot = instrument.lot_size
    filled = ZERO

    def remaining() -> Decimal:
        return floor_to_step(max(ZERO, ctx.target - filled), lot)

    for rung, cap in enumerate(caps_bps):
        if remaining() < instrument.min_quantity:
            return PolicyReport(hedged=True)
        if rung:
            await clock.sleep(pause)
        try:
            bbo = await venue.best_bid_offer(symbol)
        except VenueError:
            continue
        cid = f"ioc{rung}"
        price = _ioc_price(bbo, side, instrument, rung, cap)
        order: OrderInfo | None
        try:
            order = await place_ioc(venue, symbol, side, remaining(), price, cid)
        except AmbiguousOutcome:
            order = await lookup(clock, venue, symbol, cid)
        except VenueRejected:
            continue
        if order is not None:
            filled += order.filled_quantity
    rest = remaining()
    if rest < instrument.min_quantity:
        return PolicyReport(hedged=True)
    order = await market_order(clock, venue, symbol, side, rest, "iocm")
    got = order.filled_quantity if order is not None else ZERO
    if got < rest:
        return await roll_back(ctx, filled + got, "ioc")
    return PolicyReport(hedged=True)


PEERS: dict[str, Policy] = {
    "seed flow": seed_flow_policy,
    "chaser": chaser_policy,
    "ioc ladder": ioc_ladder_policy,
}
"""The policies written here; each runs after :func:`hand_over`."""

POLICY_NAMES = ("engine", "market-only", "seed flow", "chaser", "ioc ladder", "engine (cancel)")
"""Every policy, in the order the benchmark reports them."""
