"""Shared helpers of the benchmark scripts: machine facts, percentiles, a minimal in-memory venue.

Not a benchmark itself. The scripts import it as ``_common`` (they are run as
``python benchmarks/NAME.py``, which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import math
import os
import platform
import pstats
import statistics
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from decimal import Decimal

from hedge_fsm import (
    BBO,
    Instrument,
    OrderInfo,
    OrderNotFound,
    OrderStatus,
    RejectReason,
    Side,
    VenueRejected,
)
from hedge_fsm.venue import VenueCapabilities

ZERO = Decimal(0)


# ---------------------------------------------------------------------------- reporting


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    """One line naming the machine the figures were taken on."""
    return (
        f"machine: {os.cpu_count()} cores (nproc), CPU {cpu_model()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()}"
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]): the smallest value with at least q % at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else math.nan


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f}"


_CLOCK_NS = time.perf_counter_ns


def clock_ns() -> int:
    """The benchmarks' clock in ns: wall time (perf_counter), or this thread's CPU time after
    :func:`use_cpu_clock`, which a shared, loaded machine does not inflate by descheduling."""
    return _CLOCK_NS()


def use_cpu_clock() -> None:
    """Measure CPU time of this thread (``thread_time_ns``) instead of wall time."""
    global _CLOCK_NS
    _CLOCK_NS = time.thread_time_ns


def clock_name() -> str:
    return "CPU time (thread_time)" if _CLOCK_NS is time.thread_time_ns else "wall time"


class Stopwatch:
    """``with Stopwatch() as sw: ...``; ``sw.seconds`` afterwards (perf_counter)."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# ---------------------------------------------------------------------------- profiles

CATEGORIES = (
    ("transitions library (Machine.trigger, conditions, callbacks)", ("site-packages/transitions",)),
    ("stdlib logging.debug calls made inside transitions (logger off)", ("logging/__init__",)),
    ("asyncio (tasks, queue, loop iterations)", ("/asyncio/", "_asyncio")),
    ("hedge_fsm.engine (driver: issue, deliver, _perform, _call_venue)", ("hedge_fsm/engine.py",)),
    (
        "hedge_fsm.machines (leg, supervisor, base.fire)",
        ("hedge_fsm/machines/leg.py", "hedge_fsm/machines/supervisor.py", "hedge_fsm/machines/base.py"),
    ),
    (
        "events, commands, values (attrs __init__ + validators)",
        (
            "hedge_fsm/values.py",
            "hedge_fsm/validators.py",
            "<attrs generated",
            "hedge_fsm/machines/events.py",
            "hedge_fsm/machines/commands.py",
            "attr/",
            "enum.py",
        ),
    ),
    ("core (pricer, ledger, targets, tracker)", ("hedge_fsm/core/",)),
    ("loguru (bind / disabled log calls)", ("loguru",)),
    ("hedge_fsm.sim.driver (the synchronous driver: SimLoop, SimEngine)", ("hedge_fsm/sim/driver.py",)),
    ("hedge_fsm.driving (command -> venue call -> event mapping)", ("hedge_fsm/driving.py",)),
    ("hedge_fsm.sim (market model, simulated venue, virtual loop)", ("hedge_fsm/sim/",)),
    (
        "episode harness and invariant checks (episode.py, invariants.py)",
        ("hedge_fsm/episode.py", "hedge_fsm/invariants.py"),
    ),
    ("random (market paths, latency, faults)", ("/random.py", "Random")),
    ("benchmark venue and harness", ("benchmarks/",)),
)


def categorize(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        where = f"{filename}:{function}"
        for label, needles in CATEGORIES:
            if any(n in where for n in needles):
                totals[label] += tottime
                break
        else:
            if filename == "~":
                label = "builtins (Decimal arithmetic, isinstance, getattr, ...)"
            else:
                label = "other"
            totals[label] += tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def print_profile(title: str, stats: pstats.Stats, top: int = 12) -> None:
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"\n{title}: share of profiled time by component")
    for label, seconds in categorize(stats):
        print(f"  {seconds / total * 100:5.1f} %  {label}")
    print(f"  top {top} functions by own time:")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
    for (filename, line, function), (_cc, calls, tottime, _cumtime, _callers) in rows:
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        print(f"  {tottime / total * 100:5.1f} %  {calls:7d} calls  {short}:{line}({function})")


# ---------------------------------------------------------------------------- a minimal venue


class Probe:
    """Timestamps (perf_counter_ns) shared by the venues of one run.

    ``fill_ns``: when a venue first *returned* a report of a filled order whose
    symbol is in ``trigger_symbols`` (the trigger fill is observed from then on);
    ``place_ns``: when an order was next *handed* to a venue (the call entered it).
    """

    def __init__(self, trigger_symbols: Iterable[str] = ()) -> None:
        self.trigger_symbols = frozenset(trigger_symbols)
        self.fill_ns: int | None = None
        self.place_ns: int | None = None
        self.start_ns: int | None = None

    def reset(self) -> None:
        self.fill_ns = self.place_ns = self.start_ns = None

    def placing(self) -> None:
        if self.place_ns is None and (self.fill_ns is not None or self.start_ns is not None):
            self.place_ns = clock_ns()


class LimitScript:
    """What the fake venue does with the next limit order of a symbol.

    ``kind``: ``rest`` (open until cancelled; fills ``fill_quantity`` at query
    number ``fill_at_query`` when given), ``fill`` (filled on placement),
    ``post_only`` (refused: would take liquidity).
    """

    __slots__ = ("fill_at_query", "fill_quantity", "kind")

    def __init__(
        self, kind: str = "rest", *, fill_at_query: int = 0, fill_quantity: Decimal | None = None
    ) -> None:
        self.kind = kind
        self.fill_at_query = fill_at_query
        self.fill_quantity = fill_quantity


class _Order:
    __slots__ = (
        "average",
        "client_order_id",
        "filled",
        "maker",
        "order_id",
        "price",
        "quantity",
        "queries",
        "script",
        "side",
        "status",
        "symbol",
    )

    def info(self) -> OrderInfo:
        return OrderInfo(
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            quantity=self.quantity,
            price=self.price,
            status=self.status,
            filled_quantity=self.filled,
            average_price=self.average,
            maker_quantity=self.maker,
        )


class FakeVenue:
    """An in-memory venue with no latency at all: every call returns without yielding.

    It implements the :class:`hedge_fsm.Venue` protocol; answers follow
    per-symbol :class:`LimitScript` queues (default: rest). Market orders fill
    in full at the touch. ``calls`` records every call (operation and the
    arguments that matter) when ``record`` is set, so that two implementations
    can be checked to make the same decisions.
    """

    def __init__(
        self,
        name: str,
        instruments: Sequence[Instrument],
        bbos: dict[str, BBO],
        probe: Probe | None = None,
        *,
        record: bool = False,
    ) -> None:
        self.name = name
        self.instruments = {i.symbol: i for i in instruments}
        self.bbos = dict(bbos)
        self.probe = probe
        self.record = record
        self.calls: list[tuple[object, ...]] = []
        self.scripts: dict[str, deque[LimitScript]] = {s: deque() for s in self.instruments}
        self.orders: dict[str, _Order] = {}
        self.by_client: dict[str, _Order] = {}
        self.positions: dict[str, Decimal] = dict.fromkeys(self.instruments, ZERO)
        self._seq = 0
        # Plain coroutines that never look at the running task: the engine may start them
        # inline (as the hand-written code awaits them directly).
        self.capabilities = VenueCapabilities(inline_calls=True)

    def script(self, symbol: str, *scripts: LimitScript) -> None:
        self.scripts[symbol].extend(scripts)

    # ------------------------------------------------------------------ helpers

    def _new(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal | None, client_order_id: str
    ) -> _Order:
        if client_order_id in self.by_client:
            raise VenueRejected(
                f"duplicate client order id {client_order_id}", reason=RejectReason.INVALID_ORDER
            )
        self._seq += 1
        order = _Order()
        order.order_id = f"{self.name}-{self._seq}"
        order.client_order_id = client_order_id
        order.symbol = symbol
        order.side = side
        order.quantity = quantity
        order.price = price
        order.status = OrderStatus.OPEN
        order.filled = ZERO
        order.average = None
        order.maker = ZERO
        order.queries = 0
        order.script = None
        self.orders[order.order_id] = order
        self.by_client[client_order_id] = order
        return order

    def _fill(self, order: _Order, quantity: Decimal, price: Decimal, maker: bool) -> None:
        quantity = min(quantity, order.quantity - order.filled)
        if quantity <= 0:
            return
        total = order.filled + quantity
        order.average = ((order.average or ZERO) * order.filled + price * quantity) / total
        order.filled = total
        if maker:
            order.maker += quantity
        order.status = OrderStatus.FILLED if total == order.quantity else OrderStatus.PARTIALLY_FILLED
        self.positions[order.symbol] += order.side.sign * quantity

    # ------------------------------------------------------------------ protocol

    async def instrument(self, symbol: str) -> Instrument:
        return self.instruments[symbol]

    async def best_bid_offer(self, symbol: str) -> BBO:
        if self.record:
            self.calls.append(("bbo", self.name, symbol))
        return self.bbos[symbol]

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
        if self.probe is not None:
            self.probe.placing()
        if self.record:
            self.calls.append(("limit", self.name, symbol, side.value, quantity, price, post_only))
        queue = self.scripts[symbol]
        script = queue.popleft() if queue else LimitScript()
        if script.kind == "post_only":
            raise VenueRejected(
                f"{self.name}: post-only order would take liquidity",
                reason=RejectReason.POST_ONLY,
                venue=self.name,
                operation="place_limit",
            )
        order = self._new(symbol, side, quantity, price, client_order_id)
        order.script = script
        if script.kind == "fill":
            self._fill(order, quantity, price, maker=post_only)
        return order.info()

    async def place_market(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        reduce_only: bool,
        client_order_id: str,
    ) -> OrderInfo:
        if self.probe is not None:
            self.probe.placing()
        if self.record:
            self.calls.append(("market", self.name, symbol, side.value, quantity))
        order = self._new(symbol, side, quantity, None, client_order_id)
        bbo = self.bbos[symbol]
        self._fill(order, quantity, bbo.ask if side is Side.BUY else bbo.bid, maker=False)
        return order.info()

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        if self.record:
            self.calls.append(("cancel", self.name, symbol))
        order = self.orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"{self.name}: no order {order_id}", venue=self.name)
        if not order.status.is_terminal:
            order.status = OrderStatus.CANCELED
        return order.info()

    async def order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderInfo:
        if self.record:
            self.calls.append(("query", self.name, symbol))
        order = self.orders.get(order_id) if order_id is not None else None
        if order is None and client_order_id is not None:
            order = self.by_client.get(client_order_id)
        if order is None:
            raise OrderNotFound(f"{self.name}: no order {order_id or client_order_id}", venue=self.name)
        order.queries += 1
        script = order.script
        if (
            script is not None
            and script.fill_at_query
            and order.queries == script.fill_at_query
            and not order.status.is_terminal
        ):
            assert order.price is not None
            self._fill(order, script.fill_quantity or order.quantity, order.price, maker=True)
        info = order.info()
        probe = self.probe
        if (
            probe is not None
            and probe.fill_ns is None
            and info.status is OrderStatus.FILLED
            and symbol in probe.trigger_symbols
        ):
            probe.fill_ns = clock_ns()
        return info

    async def position(self, symbol: str) -> Decimal:
        if self.record:
            self.calls.append(("position", self.name, symbol))
        return self.positions[symbol]
