"""The simulated venue: the :class:`~hedge_fsm.venue.Venue` protocol over a market model.

Theory of operation
-------------------
Every call is a round trip in virtual time: the request travels for its
*request latency*, the venue acts at that instant (the *arrival*) against the
market as it stands then, and the reply travels back for its *response
latency*. Latency per operation is ``latency + uniform(0, jitter)`` from the
venue's own seeded stream, split by ``request_share``; zero latency skips the
sleep altogether (no yield), which is what benchmarks want.

What is judged on arrival, not when the order was priced: post-only (a
post-only order that would cross the book *now* is refused, or reported
REJECTED/EXPIRED, see :class:`PostOnlyReject`), a marketable limit (it takes
the displayed depth up to its limit as taker; the rest rests as maker), tick,
lot, minimum quantity and minimum notional (refused with
``VenueRejected(INVALID_ORDER)`` naming the value), reduce-only (refused with
``VenueRejected(REDUCE_ONLY)`` when the quantity exceeds what would reduce the
position; a resting reduce-only order that could only grow the position when
it fills is expired instead; ``reduce_only_min_notional=False`` waives the
minimum notional for reduce-only orders, as Binance does), and duplicate
client order ids.

Between arrival and the matching engine, a venue may hold orders and cancels
(:class:`LatencyModel` ``speed_bump`` and ``blocks``): a :class:`SpeedBump`
delays each by its :class:`RequestKind` (Lighter's standard account: 300 ms for a
taker order, 200 ms for a maker order or a cancel), and a :class:`BlockCadence`
processes them in blocks, post-only first, then cancels, then orders that may
take (Hyperliquid), whatever order they arrived in. Everything "on arrival"
below is judged when the engine takes the request. Late requests (a fault) skip
both. ``LatencyModel.zero()`` has neither.

The reply reports the order as it stood at arrival: a fill may land while the
reply travels, and while a cancel travels (the cancel then returns FILLED). A
cancel of a terminal order returns it unchanged. Fills come from the
:class:`~hedge_fsm.sim.market.MarketModel` (others' trades, quote moves) and
from our taker orders; each is recorded as a :class:`Fill` with its
liquidity and fee, and ``OrderInfo.maker_quantity`` is always reported.

Faults come from a :class:`~hedge_fsm.sim.faults.FaultPlan`, drawn when a
request is sent and applied on arrival. A hung call awaits forever (only the
caller's timeout ends it); a *late* place reaches the venue seconds after the
client was told it timed out. The venue honours a *request window*
(``capabilities.request_window``, e.g. Binance's 5 s ``recvWindow``): a
request that reaches it more than the window after it was sent is refused and
never executed, which is what lets a client prove a late order dead. Every
delayed request has arrived once :meth:`SimVenue.settle` returns. Every request, acceptance, refusal,
fill, cancel, reply, fault and test hook is appended to :attr:`SimVenue.log`
with its virtual time: the same seed and the same calls give a byte-identical
log.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVar

import attrs

from hedge_fsm.errors import (
    AmbiguousOutcome,
    InvalidValue,
    OrderNotFound,
    RejectReason,
    VenueRejected,
)
from hedge_fsm.sim.faults import Fault, FaultInjector, FaultPlan
from hedge_fsm.sim.market import Book, BookConfig, MarketModel, RestingOrder
from hedge_fsm.validators import number_in
from hedge_fsm.values import BBO, Instrument, OrderInfo, OrderStatus, Side, is_on_grid
from hedge_fsm.venue import AmendSupport, VenueCapabilities

__all__ = [
    "BlockCadence",
    "EventLog",
    "Fill",
    "LatencyModel",
    "Liquidity",
    "LogRecord",
    "OpLatency",
    "PostOnlyReject",
    "RequestKind",
    "SimHooks",
    "SimVenue",
    "SpeedBump",
    "SymbolSpec",
]

_T = TypeVar("_T")
ZERO = Decimal(0)


_seconds = number_in(0.0, what="seconds")
_share = number_in(0.0, 1.0)


class PostOnlyReject(enum.StrEnum):
    """How a venue answers a post-only order that would take liquidity on arrival."""

    RAISE = "raise"
    """``VenueRejected(reason=POST_ONLY)``; no order is created (Binance -5022, Hyperliquid ALO)."""
    REJECTED = "rejected"
    """An order with status REJECTED and ``reject_reason=POST_ONLY``, queryable afterwards."""
    EXPIRED = "expired"
    """An order with status EXPIRED and ``reject_reason=POST_ONLY`` (GTX orders of old)."""


class Liquidity(enum.StrEnum):
    """Which side of a fill we were on."""

    MAKER = "maker"
    TAKER = "taker"


@attrs.frozen(kw_only=True)
class OpLatency:
    """Round trip of one operation: ``latency + uniform(0, jitter)`` seconds.

    ``request_share`` of it elapses before the venue acts, the rest carries the reply.
    """

    latency: float = attrs.field(default=0.0, validator=_seconds)
    jitter: float = attrs.field(default=0.0, validator=_seconds)
    request_share: float = attrs.field(default=0.5, validator=_share)


_NO_LATENCY = OpLatency()


# ---------------------------------------------------------------- matching-engine delays
# What a venue does to a request between its arrival and the matching engine acting on it:
# a speed bump (Lighter, Paradex retail) and block cadence (Hyperliquid). Read by
# ``SimVenue._engine_turn``; both are part of the latency model, so ``LatencyModel.zero()``
# (benchmarks) drops them with the network latency.


class RequestKind(enum.StrEnum):
    """What a mutating request is, for speed bumps and in-block ordering."""

    MAKER = "maker"
    """A post-only limit order (Lighter's maker orders, Hyperliquid's ALO)."""
    TAKER = "taker"
    """Any other order: market, IOC, or a plain (GTC) limit order, which may take."""
    CANCEL = "cancel"


def _kinds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        not isinstance(value, tuple)
        or sorted(map(str, value)) != sorted(map(str, RequestKind))
        or not all(isinstance(kind, RequestKind) for kind in value)
    ):
        raise InvalidValue(
            f"{type(instance).__name__}.{attribute.name} must order every RequestKind once, "
            f"got {value!r}",
            field=attribute.name,
        )


@attrs.frozen(kw_only=True)
class SpeedBump:
    """Seconds a venue holds a request after it arrives, before the matching engine acts.

    Lighter's standard account: 300 ms for a taker order, 200 ms for a maker order or a
    cancel (its premium account: 0 ms for makers and cancels). The bump is on top of the
    network latency and the reply comes after the engine acted.
    """

    taker: float = attrs.field(default=0.0, validator=_seconds)
    maker: float = attrs.field(default=0.0, validator=_seconds)
    cancel: float = attrs.field(default=0.0, validator=_seconds)

    def delay(self, kind: RequestKind) -> float:
        """The hold for a request of ``kind``."""
        if kind is RequestKind.CANCEL:
            return self.cancel
        return self.maker if kind is RequestKind.MAKER else self.taker


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise InvalidValue(
            f"{type(instance).__name__}.{attribute.name} must be seconds > 0, got {value!r}",
            field=attribute.name,
        )


@attrs.frozen(kw_only=True)
class BlockCadence:
    """The matching engine acts in blocks every ``interval`` seconds (Hyperliquid).

    A request that arrives in ``(t_k - interval, t_k]`` is processed at ``t_k = k ·
    interval``; within a block, requests go by ``order`` of their kind (Hyperliquid:
    post-only first, then cancels, then orders that may take), each kind in arrival order.
    So a cancel sent just after a taker order, landing in the same block, still goes first.
    """

    interval: float = attrs.field(validator=_positive_seconds)
    order: tuple[RequestKind, ...] = attrs.field(
        default=(RequestKind.MAKER, RequestKind.CANCEL, RequestKind.TAKER), validator=_kinds
    )

    def block_of(self, time: float) -> int:
        """The index ``k`` of the block a request arriving at ``time`` is processed in."""
        # A hair of tolerance: an arrival computed as exactly t_k belongs to block k.
        return max(0, math.ceil(time / self.interval - 1e-9))

    def rank(self, kind: RequestKind) -> int:
        """Where ``kind`` goes in a block (0 first)."""
        return self.order.index(kind)


class _Ticket:
    """A request's place in one block: rank of its kind, then arrival order."""

    __slots__ = ("key", "taken")

    def __init__(self, rank: int, seq: int) -> None:
        self.key = (rank, seq)
        self.taken = False


@attrs.frozen(kw_only=True)
class LatencyModel:
    """Latency per operation kind (``query`` is ``order()``; ``instrument()`` has none)."""

    place: OpLatency = _NO_LATENCY
    cancel: OpLatency = _NO_LATENCY
    query: OpLatency = _NO_LATENCY
    bbo: OpLatency = _NO_LATENCY
    position: OpLatency = _NO_LATENCY
    speed_bump: SpeedBump | None = None
    """A hold between a request's arrival and the matching engine (None: none)."""
    blocks: BlockCadence | None = None
    """Block cadence of the matching engine (None: it acts on each request on arrival)."""

    @classmethod
    def zero(cls) -> LatencyModel:
        """No latency at all: calls complete without yielding (benchmarks)."""
        return cls()

    @classmethod
    def uniform(
        cls, latency: float, jitter: float = 0.0, *, request_share: float = 0.5
    ) -> LatencyModel:
        """The same round trip for every operation."""
        op = OpLatency(latency=latency, jitter=jitter, request_share=request_share)
        return cls(place=op, cancel=op, query=op, bbo=op, position=op)

    def one_way(self, kind: RequestKind = RequestKind.TAKER) -> float:
        """Mean seconds from sending an order (or, for ``CANCEL``, a cancel) of ``kind`` to the
        matching engine acting on it: the request's share of the network round trip, the
        speed bump, and half a block on average. The unit of "reaction time in latencies"."""
        op = self.cancel if kind is RequestKind.CANCEL else self.place
        seconds = (op.latency + op.jitter / 2) * op.request_share
        if self.speed_bump is not None:
            seconds += self.speed_bump.delay(kind)
        if self.blocks is not None:
            seconds += self.blocks.interval / 2
        return seconds


@attrs.frozen(kw_only=True)
class SymbolSpec:
    """A symbol a venue lists: its contract and how its book behaves."""

    instrument: Instrument
    book: BookConfig


@attrs.frozen(kw_only=True)
class Fill:
    """One execution of one of our orders (contracts, price per contract, fee in quote currency)."""

    time: float
    venue: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    liquidity: Liquidity
    fee: Decimal


class LogRecord(NamedTuple):
    """One line of a venue's event log."""

    time: float
    venue: str
    event: str
    detail: str

    def line(self) -> str:
        """``time venue event detail``, time with microsecond precision."""
        return f"{self.time:.6f} {self.venue} {self.event} {self.detail}"


class EventLog:
    """An append-only, deterministic log of what a venue saw and did, in virtual time."""

    def __init__(self) -> None:
        self._records: list[LogRecord] = []

    def append(self, time: float, venue: str, event: str, detail: str) -> None:
        """Add one record (the venue does this; records are never changed or removed)."""
        self._records.append(LogRecord(time, venue, event, detail))

    @property
    def records(self) -> list[LogRecord]:
        """A copy of the records."""
        return list(self._records)

    def lines(self) -> list[str]:
        """The records as text lines."""
        return [record.line() for record in self._records]

    def text(self) -> str:
        """The whole log, one record per line."""
        return "\n".join(self.lines())

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[LogRecord]:
        return iter(list(self._records))


class ClockFace(Protocol):
    """The time a venue's calls live on: read it, wait on it, schedule on it."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...

    def forever(self) -> Awaitable[None]:
        """A wait nothing ends (only cancelling the call does)."""
        ...

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> object: ...


class _LoopFace:
    """The async face: the running asyncio loop (virtual under :func:`hedge_fsm.sim.run`)."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds)

    def forever(self) -> Awaitable[None]:
        return asyncio.get_running_loop().create_future()

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> object:
        return asyncio.get_running_loop().call_at(when, callback, *args)


LOOP_FACE: ClockFace = _LoopFace()


class _Order:
    """The venue's own record of an order (mutable; clients only ever see snapshots)."""

    __slots__ = (
        "_info",
        "_info_version",
        "book",
        "client_order_id",
        "filled_lots",
        "last_reported",
        "lots",
        "maker_lots",
        "notional",
        "order_id",
        "post_only",
        "price",
        "reduce_only",
        "reject_reason",
        "reported",
        "resting",
        "side",
        "status",
        "symbol",
        "version",
    )

    def __init__(
        self,
        *,
        order_id: str,
        client_order_id: str,
        symbol: str,
        side: Side,
        lots: int,
        price: int | None,
        post_only: bool,
        reduce_only: bool,
        book: Book,
    ) -> None:
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.symbol = symbol
        self.side = side
        self.lots = lots
        self.price = price
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.book = book
        self.status = OrderStatus.OPEN
        self.filled_lots = 0
        self.notional = 0  # Σ ticks × lots: the average price, exactly
        self.maker_lots = 0
        self.reject_reason: RejectReason | None = None
        self.resting: RestingOrder | None = None
        self.version = 0
        self._info: OrderInfo | None = None
        self._info_version = -1
        self.reported: list[OrderInfo] = []
        self.last_reported: OrderInfo | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def info(self) -> OrderInfo:
        """The order as it stands (cached until it changes)."""
        if self._info is None or self._info_version != self.version:
            book = self.book
            average = None
            if self.filled_lots:
                average = book.price(1) * self.notional / self.filled_lots
            self._info = OrderInfo(
                order_id=self.order_id,
                client_order_id=self.client_order_id,
                symbol=self.symbol,
                side=self.side,
                quantity=book.quantity(self.lots),
                price=None if self.price is None else book.price(self.price),
                status=self.status,
                filled_quantity=book.quantity(self.filled_lots),
                average_price=average,
                reject_reason=self.reject_reason,
                maker_quantity=book.quantity(self.maker_lots),
            )
            self._info_version = self.version
        return self._info

    def report(self) -> OrderInfo:
        """The current snapshot, remembered as reported (stale reports replay these)."""
        info = self.info()
        if not self.reported or self.reported[-1] is not info:
            self.reported.append(info)
        self.last_reported = info
        return info


class SimVenue:
    """A deterministic simulated venue implementing :class:`hedge_fsm.Venue`.

    Build one from a preset (:mod:`hedge_fsm.sim.presets`) or by hand::

        market = MarketModel(seed=7)
        venue = SimVenue("binance", market, [SymbolSpec(instrument=..., book=BookConfig(...))],
                         latency=LatencyModel.uniform(0.02, 0.01), seed=7)

    Venues sharing one :class:`MarketModel` share its clock and its correlated
    prices. Besides the protocol: :meth:`open_orders`, :attr:`fills`,
    :meth:`positions`, :attr:`log`, and the test hooks under :attr:`hooks`.

    Build and use a venue inside one :func:`hedge_fsm.sim.run`: its market
    follows that loop's clock and never goes back in time.
    """

    def __init__(
        self,
        name: str,
        market: MarketModel,
        symbols: Iterable[SymbolSpec],
        *,
        latency: LatencyModel | None = None,
        faults: FaultPlan | None = None,
        seed: int = 0,
        post_only_reject: PostOnlyReject = PostOnlyReject.RAISE,
        reduce_only_min_notional: bool = True,
        capabilities: VenueCapabilities | None = None,
        book_stream: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidValue(f"SimVenue.name must be a non-empty str, got {name!r}")
        self.name = name
        self.market = market
        self.latency = latency if latency is not None else LatencyModel.zero()
        self.fault_plan = faults if faults is not None else FaultPlan()
        self.seed = seed
        self.post_only_reject = PostOnlyReject(post_only_reject)
        self.reduce_only_min_notional = reduce_only_min_notional
        """Whether reduce-only orders must meet the minimum notional (Binance waives it)."""
        if capabilities is not None and not isinstance(capabilities, VenueCapabilities):
            raise InvalidValue(
                f"SimVenue.capabilities must be a VenueCapabilities, got {capabilities!r}",
                field="capabilities",
            )
        self.capabilities = (
            capabilities
            if capabilities is not None
            # A venue whose cancel replies may understate says so, as a real adapter would.
            else VenueCapabilities(reports_cancel_early=self.fault_plan.understate_cancel > 0)
        )
        """What this venue says it can do; its ``request_window`` is enforced on arrival."""
        if not isinstance(book_stream, bool):
            raise InvalidValue(
                f"SimVenue.book_stream must be a bool, got {book_stream!r}", field="book_stream"
            )
        # The simulated venue pushes its quotes (``book_updates``) unless told not to: the
        # capability follows this switch, whatever ``capabilities`` said.
        self.capabilities = attrs.evolve(self.capabilities, book_stream=book_stream)
        self.faults = FaultInjector(
            self.fault_plan, random.Random(f"{seed}/{name}/faults/{self.fault_plan.seed}")
        )
        self._latency_rng = random.Random(f"{seed}/{name}/latency")
        self._instruments: dict[str, Instrument] = {}
        self._books: dict[str, Book] = {}
        for spec in symbols:
            symbol = spec.instrument.symbol
            if symbol in self._instruments:
                raise InvalidValue(f"venue {name} lists {symbol} twice")
            self._instruments[symbol] = spec.instrument
            book = market.add_book(
                venue=name,
                symbol=symbol,
                config=spec.book,
                tick_size=spec.instrument.tick_size,
                lot_size=spec.instrument.lot_size,
            )
            book.attach(self)
            self._books[symbol] = book
        self._orders: dict[str, _Order] = {}
        self._by_client: dict[str, _Order] = {}
        self._positions: dict[str, int] = dict.fromkeys(self._instruments, 0)
        self._seq = 0
        self._late_due: list[float] = []  # arrival times of late requests still travelling
        self._unseen: list[tuple[float, str, int]] = []  # (shown at, symbol, lots): lagging fills
        self._lagging = self.fault_plan.position_lag > 0
        self.fills: list[Fill] = []
        """Every fill of every order, in the order they happened."""
        self.log = EventLog()
        """Every request, acceptance, refusal, fill, cancel, reply, fault and hook."""
        self.hooks = SimHooks(self)
        """Test hooks: move the market of this venue deterministically."""
        # Matching-engine delays (speed bump, blocks): the requests waiting in each block.
        self._engine_delays = self.latency.speed_bump is not None or self.latency.blocks is not None
        self._blocks: dict[int, list[_Ticket]] = {}
        self._tickets = 0
        # When each order reached the matching engine (what a lagging replica has not seen).
        self._born: dict[str, float] = {}
        self.clock_face: ClockFace = LOOP_FACE
        """Whose time the venue lives on: the running asyncio loop (the async face), or a
        synchronous driver's virtual clock (:mod:`hedge_fsm.sim.driver`). Every wait of a
        call goes through it, so one call body serves both faces."""

    def __repr__(self) -> str:
        return f"SimVenue({self.name!r}, symbols={sorted(self._instruments)})"

    # ------------------------------------------------------------------ plumbing

    def _sync(self) -> float:
        now = self.clock_face.time()
        self.market.advance_to(now)
        return now

    def _log(self, time: float, event: str, detail: str) -> None:
        self.log.append(time, self.name, event, detail)

    def _delays(self, op: OpLatency) -> tuple[float, float]:
        total = op.latency
        if op.jitter:
            total += self._latency_rng.uniform(0.0, op.jitter)
        before = total * op.request_share
        return before, total - before

    async def _travel(self, seconds: float) -> None:
        if seconds > 0:
            await self.clock_face.sleep(seconds)

    def _book(self, symbol: str, operation: str) -> Book:
        book = self._books.get(symbol)
        if book is None:
            raise VenueRejected(
                f"{self.name}: unknown symbol {symbol!r} (listed: {', '.join(sorted(self._books))})",
                reason=RejectReason.INVALID_ORDER,
                venue=self.name,
                operation=operation,
            )
        return book

    def _reject(self, message: str, reason: RejectReason, operation: str) -> VenueRejected:
        return VenueRejected(
            f"{self.name}: {message}", reason=reason, venue=self.name, operation=operation
        )

    async def _round_trip(
        self,
        operation: str,
        request: str,
        fault: Fault,
        op: OpLatency,
        act: Callable[[float], _T],
        *,
        mutating: bool,
        request_kind: RequestKind | None = None,
    ) -> _T:
        """Send, act on arrival, reply: the shape of every call, faults applied on arrival.

        A mutating request (orders, cancels, amends) then waits for its turn at the matching
        engine as ``request_kind`` (TAKER when not given): the venue's speed bump and block
        cadence (:meth:`_engine_turn`)."""
        now = self._sync()
        sent = now
        self._log(now, "request", f"{operation} {request}")
        before, after = self._delays(op)
        if fault is Fault.LATE:
            await self._late(operation, sent, before, after, act)
        await self._travel(before)
        now = self._sync()
        if fault is Fault.RATE_LIMITED:
            self._log(now, "fault", f"{operation} rate_limited")
            await self._travel(after)
            raise self._reject("rate limit exceeded", RejectReason.RATE_LIMITED, operation)
        if self.faults.in_outage(now):
            if mutating and self.fault_plan.outage_places_ambiguous and operation != "cancel":
                self._log(now, "fault", f"{operation} outage: request hangs, not processed")
                await self._travel(after + self.fault_plan.timeout_delay)
                raise AmbiguousOutcome(
                    f"{self.name}: {operation} timed out (venue outage)",
                    venue=self.name,
                    operation=operation,
                )
            self._log(now, "fault", f"{operation} outage: venue unavailable")
            await self._travel(after)
            raise self._reject(
                "venue unavailable (outage)", RejectReason.VENUE_UNAVAILABLE, operation
            )
        if fault is Fault.PLACE_REJECT:
            self._log(now, "fault", f"{operation} rejected")
            await self._travel(after)
            raise self._reject("order rejected (simulated fault)", RejectReason.OTHER, operation)
        if fault is Fault.TIMEOUT_LOST:
            self._log(now, "fault", f"{operation} timeout: request lost, not processed")
            await self._travel(after + self.fault_plan.timeout_delay)
            raise AmbiguousOutcome(
                f"{self.name}: {operation} timed out", venue=self.name, operation=operation
            )
        if fault is Fault.HANG_LOST or (fault is Fault.HANG_PROCESSED and not mutating):
            self._log(now, "fault", f"{operation} hang: not processed, the reply never comes")
            await self._forever()
        if self._engine_delays and (request_kind is not None or mutating):
            # A change that does not say its kind (an amend) waits as a taker order would:
            # the longest bump and last in a block, never faster than a cancel and replace.
            now = await self._engine_turn(request_kind or RequestKind.TAKER)
        outcome: _T | VenueRejected
        try:
            if mutating:
                self._check_window(operation, sent, now)
            outcome = act(now)
        except VenueRejected as exc:
            outcome = exc
            self._log(now, "refuse", f"{operation} {exc.reason} {exc}")
        if fault is Fault.HANG_PROCESSED:
            self._log(now, "fault", f"{operation} hang: processed, the reply never comes")
            await self._forever()
        if fault is Fault.TIMEOUT_PROCESSED or fault is Fault.LOST_ACK:
            kind = "timeout" if fault is Fault.TIMEOUT_PROCESSED else "lost_ack"
            self._log(now, "fault", f"{operation} {kind}: processed, reply lost")
            delay = self.fault_plan.timeout_delay if fault is Fault.TIMEOUT_PROCESSED else 0.0
            await self._travel(after + delay)
            raise AmbiguousOutcome(
                f"{self.name}: {operation} "
                f"{'timed out' if fault is Fault.TIMEOUT_PROCESSED else 'reply lost'}",
                venue=self.name,
                operation=operation,
            )
        await self._travel(after)
        reply_time = self._sync()
        if isinstance(outcome, VenueRejected):
            self._log(reply_time, "reply", f"{operation} error {outcome.reason}")
            raise outcome
        self._log(reply_time, "reply", f"{operation} {_describe(outcome)}")
        return outcome

    async def _forever(self) -> None:
        """A reply that never comes: wait on a future nobody resolves (cancellable)."""
        await self.clock_face.forever()

    # ---------------------------------------------------------------- matching-engine turn

    async def _engine_turn(self, kind: RequestKind) -> float:
        """Wait for the matching engine to take a request of ``kind``; the time it does.

        First the speed bump, then (on a block venue) the request joins the next block
        and waits for it; at the block's time the requests of that block go one by one,
        by the rank of their kind, then arrival. Every waiter woke at the same virtual
        instant, so one whose predecessors have not gone yet yields a turn and looks
        again: the caller acts as soon as this returns (no await in between), which is
        what makes the order hold on both clock faces. A cancelled wait (the caller's
        timeout) leaves its block, so it never holds the others up.
        """
        bump = self.latency.speed_bump
        if bump is not None:
            await self._travel(bump.delay(kind))
        blocks = self.latency.blocks
        if blocks is None:
            return self._sync()
        face = self.clock_face
        index = blocks.block_of(face.time())
        self._tickets += 1
        ticket = _Ticket(blocks.rank(kind), self._tickets)
        queue = self._blocks.setdefault(index, [])
        queue.append(ticket)
        try:
            await self._travel(index * blocks.interval - face.time())
            while any(other.key < ticket.key and not other.taken for other in queue):
                await face.sleep(0)
        except BaseException:
            queue.remove(ticket)
            if not queue:
                self._blocks.pop(index, None)
            raise
        ticket.taken = True
        if all(other.taken for other in queue):
            self._blocks.pop(index, None)
        return self._sync()

    def _replica_check(self, order: _Order, symbol: str, now: float) -> None:
        """A lookup served by a lagging replica: an order younger than its lag is not found."""
        lag = self.faults.replica_age()
        if self._born.get(order.order_id, -math.inf) > now - lag:
            self._log(now, "fault", f"order {order.order_id} replica {lag:.6f}s behind: not found")
            raise OrderNotFound(
                f"{self.name}: no order with order_id {order.order_id!r} on {symbol} "
                "(lagging replica)",
                venue=self.name,
                operation="order",
            )

    def _check_window(self, operation: str, sent: float, now: float) -> None:
        window = self.capabilities.request_window
        if window is not None and now - sent > window:
            raise self._reject(
                f"{operation} arrived {now - sent:.6f} s after it was sent, outside the "
                f"request window of {window} s: not executed",
                RejectReason.OTHER,
                operation,
            )

    async def _late(
        self,
        operation: str,
        sent: float,
        before: float,
        after: float,
        act: Callable[[float], object],
    ) -> None:
        """A request stuck in transit: the client times out; the venue gets it much later."""
        delay = self.faults.late_delay()
        arrival = sent + before + delay
        self._log(sent, "fault", f"{operation} late: reaches the venue at {arrival:.6f}")
        self._late_due.append(arrival)
        self.clock_face.call_at(arrival, self._arrive_late, operation, sent, arrival, act)
        await self._travel(before + after + self.fault_plan.timeout_delay)
        self._log(self._sync(), "fault", f"{operation} timeout: request still in transit")
        raise AmbiguousOutcome(
            f"{self.name}: {operation} timed out", venue=self.name, operation=operation
        )

    def _arrive_late(
        self, operation: str, sent: float, arrival: float, act: Callable[[float], object]
    ) -> None:
        # Scheduled on the loop, not in the caller's task: it arrives even if the caller
        # gave up (cancelled its call), as a request already on the wire would.
        self._late_due.remove(arrival)
        now = self._sync()
        self._log(now, "fault", f"{operation} late request arrives after {now - sent:.6f} s")
        try:
            self._check_window(operation, sent, now)
            act(now)
        except VenueRejected as exc:
            self._log(now, "refuse", f"{operation} {exc.reason} {exc}")

    @property
    def late_requests(self) -> int:
        """How many late requests are still travelling to the venue."""
        return len(self._late_due)

    async def settle(self) -> None:
        """Wait (on the loop's clock) until every late request has reached the venue."""
        face = self.clock_face
        while self._late_due:
            await face.sleep(max(0.0, max(self._late_due) - face.time()))

    # ------------------------------------------------------------------ Venue protocol

    async def instrument(self, symbol: str) -> Instrument:
        """The contract of ``symbol`` (static metadata: no latency, no faults)."""
        self._book(symbol, "instrument")
        return self._instruments[symbol]

    async def best_bid_offer(self, symbol: str) -> BBO:
        """The top of the book on arrival (others' depth; our own orders are not shown)."""
        fault = self.faults.for_bbo()

        def act(now: float) -> BBO:
            book = self._book(symbol, "best_bid_offer")
            if fault is Fault.STALE_BBO:
                age = self.faults.stale_age()
                self._log(now, "fault", f"best_bid_offer stale by up to {age:.6f}s")
                return book.bbo_at(now - age)
            return book.bbo(now)

        return await self._round_trip(
            "best_bid_offer", symbol, fault, self.latency.bbo, act, mutating=False
        )

    async def place_limit(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        *,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        """Place a limit order; judged when it arrives. Returns the order as it stood then."""
        fault = self.faults.for_place()
        request = (
            f"{client_order_id} {symbol} {side} {quantity} @ {price} "
            f"post_only={post_only} reduce_only={reduce_only}"
        )

        def act(now: float) -> OrderInfo:
            return self._accept_limit(
                symbol, side, quantity, price, post_only, reduce_only, client_order_id, now
            )

        return await self._round_trip(
            "place_limit", request, fault, self.latency.place, act, mutating=True,
            request_kind=RequestKind.MAKER if post_only else RequestKind.TAKER,
        )  # fmt: skip

    async def place_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        """Place a market order: it walks the displayed book; what it cannot fill expires."""
        fault = self.faults.for_place()
        request = f"{client_order_id} {symbol} {side} {quantity} reduce_only={reduce_only}"

        def act(now: float) -> OrderInfo:
            return self._accept_market(symbol, side, quantity, reduce_only, client_order_id, now)

        return await self._round_trip(
            "place_market", request, fault, self.latency.place, act, mutating=True,
            request_kind=RequestKind.TAKER,
        )  # fmt: skip

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        """Cancel on arrival; returns the order as it stands after (FILLED if a fill won)."""
        fault = self.faults.for_cancel()

        def act(now: float) -> OrderInfo:
            order = self._find(symbol, order_id, None, "cancel")
            if order.is_terminal:
                self._log(now, "cancel", f"{order.order_id} already {order.status}: unchanged")
            else:
                self._close(order, OrderStatus.CANCELED)
                self._log(now, "cancel", f"{order.order_id} canceled {self._fill_text(order)}")
            info = order.report()
            if (
                fault is Fault.UNDERSTATE
                and order.status is OrderStatus.CANCELED
                and order.filled_lots > 0
            ):
                # Only the reply lies; the order's snapshots (what lookups see) stay true.
                lots = self.faults.understated_lots(order.filled_lots)
                shown = order.book.quantity(lots)
                self._log(
                    now, "fault", f"cancel {order.order_id} understated: reports filled={shown}"
                )
                maker = info.maker_quantity
                info = attrs.evolve(
                    info,
                    filled_quantity=shown,
                    average_price=info.average_price if lots else None,
                    maker_quantity=None if maker is None else min(maker, shown),
                )
            return info

        return await self._round_trip(
            "cancel", f"{symbol} {order_id}", fault, self.latency.cancel, act, mutating=True,
            request_kind=RequestKind.CANCEL,
        )  # fmt: skip

    async def order(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderInfo:
        """Look an order up by venue id (preferred) or client order id."""
        if order_id is None and client_order_id is None:
            raise InvalidValue("order() needs an order_id or a client_order_id")
        fault = self.faults.for_order()

        def act(now: float) -> OrderInfo:
            order = self._find(symbol, order_id, client_order_id, "order")
            if fault is Fault.REPLICA_LAG:
                self._replica_check(order, symbol, now)
            previous = order.last_reported
            current = order.report()
            if fault is Fault.DUPLICATE_REPORT and previous is not None:
                self._log(now, "fault", f"order {order.order_id} duplicate report")
                order.last_reported = previous
                return previous
            if fault is Fault.STALE_REPORT and len(order.reported) > 1:
                older = order.reported[self.faults.older_index(len(order.reported) - 1)]
                self._log(now, "fault", f"order {order.order_id} stale report {older.status}")
                order.last_reported = older
                return older
            return current

        lookup = f"id={order_id}" if order_id is not None else f"cid={client_order_id}"
        return await self._round_trip(
            "order", f"{symbol} {lookup}", fault, self.latency.query, act, mutating=False
        )

    async def position(self, symbol: str) -> Decimal:
        """Signed net position of ``symbol`` in contracts, on arrival."""
        fault = self.faults.for_position()

        def act(now: float) -> Decimal:
            book = self._book(symbol, "position")
            lots = self._positions[symbol]
            if self._unseen:
                self._unseen = [item for item in self._unseen if item[0] > now]
                hidden = sum(item[2] for item in self._unseen if item[1] == symbol)
                if hidden:
                    lots -= hidden
                    self._log(
                        now, "fault", f"position {symbol} lags: {book.quantity(hidden)} not shown"
                    )
            return book.quantity(lots)

        return await self._round_trip(
            "position", symbol, fault, self.latency.position, act, mutating=False
        )

    # ------------------------------------------------------------------ amend (one block)

    async def amend_order(
        self,
        symbol: str,
        order_id: str,
        *,
        price: Decimal | None = None,
        quantity: Decimal | None = None,
    ) -> OrderInfo:
        """Change a resting order in place (same order id), judged on arrival.

        Only where ``capabilities.amend`` is not NONE (else refused). ``quantity`` is the new
        total (fills included). On arrival: a terminal order is refused (a fill that won the
        race is reported by the next lookup); a quantity at or below what already filled is
        refused; otherwise the rest of the order is what is amended. A price change, or a size
        increase, sends the order to the back of its new level; a size decrease at the same
        price keeps its place iff ``capabilities.amend_keeps_priority_on_decrease``. A
        post-only order whose new price would cross is refused (``POST_ONLY``); any other
        crossing price takes liquidity as taker, the rest rests. Same faults and latency as
        a cancel.
        """
        fault = self.faults.for_cancel()
        request = f"{symbol} {order_id} price={price} quantity={quantity}"

        def act(now: float) -> OrderInfo:
            return self._accept_amend(symbol, order_id, price, quantity, now)

        return await self._round_trip(
            "amend_order", request, fault, self.latency.cancel, act, mutating=True
        )

    def _accept_amend(
        self,
        symbol: str,
        order_id: str,
        price: Decimal | None,
        quantity: Decimal | None,
        now: float,
    ) -> OrderInfo:
        operation = "amend_order"
        invalid = RejectReason.INVALID_ORDER
        if self.capabilities.amend is AmendSupport.NONE:
            raise self._reject("amend is not supported", invalid, operation)
        if price is None and quantity is None:
            raise self._reject("amend changes neither price nor quantity", invalid, operation)
        order = self._find(symbol, order_id, None, operation)
        if order.is_terminal or order.price is None:
            raise self._reject(
                f"order {order_id} is {order.status}: it cannot be amended", invalid, operation
            )
        inst = self._instruments[symbol]
        book = order.book
        lots = order.lots
        if quantity is not None:
            if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
                raise self._reject(
                    f"quantity must be a positive Decimal, got {quantity!r}", invalid, operation
                )
            if not is_on_grid(quantity, inst.lot_size):
                raise self._reject(
                    f"quantity {quantity} is not a multiple of lot size {inst.lot_size}", invalid, operation
                )
            lots = book.lots_of(quantity)
            if lots <= order.filled_lots:
                raise self._reject(
                    f"quantity {quantity} is not above the filled {book.quantity(order.filled_lots)} "
                    f"of order {order_id}",
                    invalid,
                    operation,
                )
        ticks = order.price
        if price is not None:
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise self._reject(f"price must be a positive Decimal, got {price!r}", invalid, operation)
            if not is_on_grid(price, inst.tick_size):
                raise self._reject(
                    f"price {price} is not a multiple of tick size {inst.tick_size}", invalid, operation
                )
            ticks = book.ticks_of(price)
        book.catch_up()
        crosses = ticks >= book.ask if order.side is Side.BUY else ticks <= book.bid
        if crosses and ticks != order.price and order.post_only:
            raise self._reject(
                f"post-only amend of {order_id} to {book.price(ticks)} would take liquidity",
                RejectReason.POST_ONLY,
                operation,
            )
        keeps_place = (
            ticks == order.price
            and lots <= order.lots
            and self.capabilities.amend_keeps_priority_on_decrease
        )
        order.lots = lots
        order.price = ticks
        order.version += 1
        resting = order.resting
        if keeps_place and resting is not None:
            resting.remaining = lots - order.filled_lots
            self._log(now, "amend", f"{order_id} {book.quantity(lots)} @ {book.price(ticks)} (place kept)")
            return order.report()
        if resting is not None:
            book.remove_resting(resting)
            order.resting = None
        self._log(now, "amend", f"{order_id} {book.quantity(lots)} @ {book.price(ticks)} (back of queue)")
        if crosses:
            for fill_price, taken in book.take(order.side, lots - order.filled_lots, limit=ticks):
                self._apply_fill(order, taken, fill_price, Liquidity.TAKER, now)
        if not order.is_terminal:
            self._seq += 1
            order.resting = RestingOrder(
                order_id=order.order_id,
                side=order.side,
                price=ticks,
                remaining=lots - order.filled_lots,
                seq=self._seq,
            )
            book.add_resting(order.resting, now)
        return order.report()
    # ------------------------------------------------------------------ quote stream (BookStream)

    @property
    def supports_book_updates(self) -> bool:
        """Whether :meth:`book_updates` pushes anything (``capabilities.book_stream``)."""
        return self.capabilities.book_stream

    async def book_updates(self, symbol: str) -> AsyncIterator[BBO]:
        """Push the top of ``symbol``'s book each time it changes, one-way latency late.

        The quote changes on the market's quote grid; each refresh reaches the client
        ``lag`` later, the reply share of the BBO latency (without jitter: the stream draws
        no random numbers, so every call's latencies stay what they were without it). The
        stream is quiet while no order of ours rests on the book (an idle book is not stepped,
        and there is nothing to reprice) and while the venue is down.
        """
        book = self._book(symbol, "book_updates")
        face = self.clock_face
        op = self.latency.bbo
        lag = op.latency * (1.0 - op.request_share)
        interval = self.market.quote_interval
        last: tuple[Decimal, Decimal, Decimal, Decimal] | None = None
        while True:
            now = face.time()
            # The next quote refresh whose news has not reached the client yet.
            refresh = math.floor((now - lag - self.market.origin) / interval + 1e-9) + 1
            wake = self.market.origin + refresh * interval + lag
            await face.sleep(max(wake - now, 1e-9))
            now = self._sync()
            if not book.is_live or self.fault_plan.in_outage(now):
                continue
            # The epsilon absorbs float rounding between the refresh's time and now - lag.
            bbo = book.bbo_at(now - lag + 1e-9)
            key = (bbo.bid, bbo.ask, bbo.bid_size, bbo.ask_size)
            if key != last:
                last = key
                yield bbo

    # ------------------------------------------------------------------ inspection (sync)

    def open_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        """Orders not yet terminal (all symbols, or ``symbol``), in placement order."""
        return [
            order.info()
            for order in self._orders.values()
            if not order.is_terminal and (symbol is None or order.symbol == symbol)
        ]

    def orders(self, symbol: str | None = None) -> list[OrderInfo]:
        """Every order ever accepted, as it stands now, in placement order."""
        return [
            order.info()
            for order in self._orders.values()
            if symbol is None or order.symbol == symbol
        ]

    def positions(self) -> dict[str, Decimal]:
        """Signed position per symbol, in contracts, as of the market's last advance."""
        return {
            symbol: self._books[symbol].quantity(lots) for symbol, lots in self._positions.items()
        }

    def symbols(self) -> list[str]:
        """The listed symbols."""
        return list(self._instruments)

    def book(self, symbol: str) -> Book:
        """The market book behind ``symbol`` (for inspection and hooks)."""
        return self._book(symbol, "book")

    # ------------------------------------------------------------------ order handling

    def _find(
        self, symbol: str, order_id: str | None, client_order_id: str | None, operation: str
    ) -> _Order:
        order = self._orders.get(order_id) if order_id is not None else None
        if order is None and order_id is None and client_order_id is not None:
            order = self._by_client.get(client_order_id)
        if order is None or order.symbol != symbol:
            wanted = f"order_id {order_id!r}" if order_id is not None else (
                f"client_order_id {client_order_id!r}"
            )
            raise OrderNotFound(
                f"{self.name}: no order with {wanted} on {symbol}",
                venue=self.name,
                operation=operation,
            )
        return order

    def _validate(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal | None,
        reduce_only: bool,
        client_order_id: str,
        operation: str,
    ) -> Book:
        book = self._book(symbol, operation)
        inst = self._instruments[symbol]
        invalid = RejectReason.INVALID_ORDER
        if not isinstance(side, Side):
            raise self._reject(f"side must be a Side, got {side!r}", invalid, operation)
        if not isinstance(client_order_id, str) or not client_order_id:
            raise self._reject(
                f"client_order_id must be a non-empty str, got {client_order_id!r}",
                invalid,
                operation,
            )
        if client_order_id in self._by_client:
            raise self._reject(
                f"duplicate client_order_id {client_order_id!r}", invalid, operation
            )
        if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
            raise self._reject(
                f"quantity must be a positive Decimal, got {quantity!r}", invalid, operation
            )
        if not is_on_grid(quantity, inst.lot_size):
            raise self._reject(
                f"quantity {quantity} is not a multiple of lot size {inst.lot_size} for {symbol}",
                invalid,
                operation,
            )
        if quantity < inst.min_quantity:
            raise self._reject(
                f"quantity {quantity} is below the minimum quantity {inst.min_quantity} "
                f"for {symbol}",
                invalid,
                operation,
            )
        if price is not None:
            if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
                raise self._reject(
                    f"price must be a positive Decimal, got {price!r}", invalid, operation
                )
            if not is_on_grid(price, inst.tick_size):
                raise self._reject(
                    f"price {price} is not a multiple of tick size {inst.tick_size} for {symbol}",
                    invalid,
                    operation,
                )
            reference = price
        else:
            # A market order's notional is judged at the touch it would take.
            book.catch_up()
            reference = book.price(book.ask if side is Side.BUY else book.bid)
        notional = quantity * reference
        waived = reduce_only and not self.reduce_only_min_notional
        if notional < inst.min_notional and not waived:
            raise self._reject(
                f"notional {notional} (quantity {quantity} × price {reference}) is below the "
                f"minimum notional {inst.min_notional} for {symbol}",
                invalid,
                operation,
            )
        if reduce_only:
            reducible = self._reducible(symbol, side)
            lots = book.lots_of(quantity)
            if lots > reducible:
                raise self._reject(
                    f"reduce-only {side} {quantity} would increase the position "
                    f"{book.quantity(self._positions[symbol])} of {symbol}",
                    RejectReason.REDUCE_ONLY,
                    operation,
                )
        return book

    def _reducible(self, symbol: str, side: Side) -> int:
        position = self._positions[symbol]
        return max(0, -position) if side is Side.BUY else max(0, position)

    def _new_order(
        self,
        book: Book,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal | None,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> _Order:
        self._seq += 1
        order = _Order(
            order_id=f"{self.name}-{self._seq}",
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            lots=book.lots_of(quantity),
            price=None if price is None else book.ticks_of(price),
            post_only=post_only,
            reduce_only=reduce_only,
            book=book,
        )
        self._orders[order.order_id] = order
        self._by_client[client_order_id] = order
        self._born[order.order_id] = self.clock_face.time()  # acts run at the loop's now
        return order

    def _accept_limit(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
        now: float,
    ) -> OrderInfo:
        book = self._validate(
            symbol, side, quantity, price, reduce_only, client_order_id, "place_limit"
        )
        book.catch_up()
        ticks = book.ticks_of(price)
        crosses = ticks >= book.ask if side is Side.BUY else ticks <= book.bid
        if crosses and post_only:
            touch = book.price(book.ask if side is Side.BUY else book.bid)
            message = (
                f"post-only {side} at {price} would take liquidity: best "
                f"{'ask' if side is Side.BUY else 'bid'} is {touch} on arrival"
            )
            if self.post_only_reject is PostOnlyReject.RAISE:
                raise self._reject(message, RejectReason.POST_ONLY, "place_limit")
            order = self._new_order(
                book, symbol, side, quantity, price, post_only, reduce_only, client_order_id
            )
            order.reject_reason = RejectReason.POST_ONLY
            order.status = (
                OrderStatus.REJECTED
                if self.post_only_reject is PostOnlyReject.REJECTED
                else OrderStatus.EXPIRED
            )
            order.version += 1
            self._log(now, "refuse", f"{order.order_id} cid={client_order_id} {message}")
            return order.report()
        order = self._new_order(
            book, symbol, side, quantity, price, post_only, reduce_only, client_order_id
        )
        self._log(now, "accept", f"{order.order_id} cid={client_order_id}")
        if crosses:
            for fill_price, lots in book.take(side, order.lots, limit=ticks):
                self._apply_fill(order, lots, fill_price, Liquidity.TAKER, now)
        if not order.is_terminal:
            remaining = order.lots - order.filled_lots
            self._seq += 1
            order.resting = RestingOrder(
                order_id=order.order_id, side=side, price=ticks, remaining=remaining, seq=self._seq
            )
            book.add_resting(order.resting, now)
        return order.report()

    def _accept_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        reduce_only: bool,
        client_order_id: str,
        now: float,
    ) -> OrderInfo:
        book = self._validate(
            symbol, side, quantity, None, reduce_only, client_order_id, "place_market"
        )
        order = self._new_order(
            book, symbol, side, quantity, None, False, reduce_only, client_order_id
        )
        self._log(now, "accept", f"{order.order_id} cid={client_order_id}")
        for fill_price, lots in book.take(side, order.lots):
            self._apply_fill(order, lots, fill_price, Liquidity.TAKER, now)
        if not order.is_terminal:
            # Like an IOC: what the displayed book could not supply is dropped.
            self._close(order, OrderStatus.EXPIRED)
            self._log(now, "expire", f"{order.order_id} {self._fill_text(order)}")
        return order.report()

    def _apply_fill(
        self, order: _Order, lots: int, price: int, liquidity: Liquidity, time: float
    ) -> int:
        """Book a fill on ``order``; returns the lots filled (reduce-only may cap them)."""
        if order.reduce_only:
            lots = min(lots, self._reducible(order.symbol, order.side))
        lots = min(lots, order.lots - order.filled_lots)  # never beyond the order's quantity
        if lots <= 0:
            return 0
        book = order.book
        order.filled_lots += lots
        order.notional += lots * price
        if liquidity is Liquidity.MAKER:
            order.maker_lots += lots
        order.status = (
            OrderStatus.FILLED if order.filled_lots == order.lots else OrderStatus.PARTIALLY_FILLED
        )
        order.version += 1
        signed = lots if order.side is Side.BUY else -lots
        self._positions[order.symbol] += signed
        if self._lagging:
            lag = self.faults.position_lag()
            if lag > 0:
                self._unseen.append((time + lag, order.symbol, signed))
        inst = self._instruments[order.symbol]
        quantity, fill_price = book.quantity(lots), book.price(price)
        rate = inst.maker_fee if liquidity is Liquidity.MAKER else inst.taker_fee
        fee = quantity * fill_price * rate
        self.fills.append(
            Fill(
                time=time,
                venue=self.name,
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                side=order.side,
                quantity=quantity,
                price=fill_price,
                liquidity=liquidity,
                fee=fee,
            )
        )
        self._log(
            time,
            "fill",
            f"{order.order_id} cid={order.client_order_id} {order.side} {quantity} @ "
            f"{fill_price} {liquidity} fee={fee} {self._fill_text(order)}",
        )
        return lots

    def _close(self, order: _Order, status: OrderStatus) -> None:
        """Make a live order terminal and take it off the book."""
        order.status = status
        order.version += 1
        if order.resting is not None:
            order.book.remove_resting(order.resting)
            order.resting = None

    @staticmethod
    def _fill_text(order: _Order) -> str:
        return f"status={order.status} filled={order.book.quantity(order.filled_lots)}"

    def on_market_fill(self, order: RestingOrder, lots: int, price: int, time: float) -> int:
        """Called by the book when the market fills one of our resting orders (maker)."""
        record = self._orders[order.order_id]
        filled = self._apply_fill(record, lots, price, Liquidity.MAKER, time)
        if record.status is OrderStatus.FILLED:
            record.resting = None  # the book drops it
        elif filled < lots:
            # Reduce-only and the position is gone: real venues expire such orders.
            record.status = OrderStatus.EXPIRED
            record.version += 1
            record.resting = None
            self._log(time, "expire", f"{record.order_id} reduce-only {self._fill_text(record)}")
        return filled


def _describe(result: object) -> str:
    if isinstance(result, OrderInfo):
        return (
            f"{result.order_id} cid={result.client_order_id} status={result.status} "
            f"filled={result.filled_quantity}"
        )
    if isinstance(result, BBO):
        return f"bid={result.bid} ask={result.ask} ts={result.timestamp}"
    return str(result)


class SimHooks:
    """**Test hooks** for one venue: change its market deterministically, now.

    "Now" is the running loop's (virtual) time; outside a loop, the market's
    last time. Each hook advances the market first, then acts, and is logged.
    """

    def __init__(self, venue: SimVenue) -> None:
        self._venue = venue

    def _now(self) -> float:
        try:
            return self._venue.clock_face.time()
        except RuntimeError:
            market_now = self._venue.market.now
            return market_now if market_now is not None else 0.0

    def set_quote(self, symbol: str, *, bid: Decimal, ask: Decimal) -> None:
        """Put the quote of ``symbol`` at exactly ``bid`` / ``ask``."""
        now = self._now()
        self._venue.market.advance_to(now)
        self._venue._log(now, "hook", f"set_quote {symbol} bid={bid} ask={ask}")
        self._venue.book(symbol).set_quote(bid=bid, ask=ask, time=now)

    def set_mid(self, symbol: str, mid: Decimal) -> None:
        """Rebuild the quote of ``symbol`` around ``mid``, spread unchanged."""
        now = self._now()
        self._venue.market.advance_to(now)
        self._venue._log(now, "hook", f"set_mid {symbol} mid={mid}")
        self._venue.book(symbol).set_mid(mid, time=now)

    def inject_trade(
        self,
        symbol: str,
        aggressor: Side,
        quantity: Decimal,
        *,
        price: Decimal | None = None,
    ) -> None:
        """Others trade ``quantity`` (``aggressor`` is the taker's side), at ``price`` if given."""
        now = self._now()
        self._venue.market.advance_to(now)
        at = "" if price is None else f" @ {price}"
        self._venue._log(now, "hook", f"trade {symbol} {aggressor} {quantity}{at}")
        self._venue.book(symbol).inject_trade(aggressor, quantity, time=now, price=price)
