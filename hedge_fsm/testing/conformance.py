"""The venue conformance kit: the :class:`~hedge_fsm.venue.Venue` contract as runnable scenarios.

Theory of operation
-------------------
A scenario is one promise of the contract, checked by trading against a real
(or simulated, or recorded) venue: ids round-trip, a crossing post-only order
is refused *distinguishably*, a cancel answers with the order's final fill,
reduce-only never grows a position, lookups work the way the venue's
:class:`~hedge_fsm.venue.VenueCapabilities` say, a buy makes the position more
positive, and every number is a :class:`~decimal.Decimal` on the instrument's
grids. :func:`check_venue` runs them all and returns a
:class:`ConformanceReport`; :func:`run_scenario` runs one (what a pytest
parametrisation over :func:`conformance_scenarios` wants).

Rules every scenario keeps:

* **Tiny sizes.** Each order is the smallest quantity the instrument accepts
  (lot, minimum quantity and minimum notional at its price).
* **Nothing left behind.** Every order a scenario placed is cancelled (and seen
  terminal) before it ends, and what its orders filled is traded back with a
  market order; the position is then read and must be where it started. A
  scenario that cannot clean up *fails*, whatever it proved before.
* **Passive means far.** Resting orders are priced ``passive_distance_bps``
  away from the touch, so that the market does not fill them by chance.
* **Fills on demand are a hook.** A scenario that needs one of our *resting*
  orders to fill uses :attr:`ConformanceHooks.fill_resting` (the simulated
  venue provides it: :func:`sim_hooks`); without it the scenario is skipped.
  Scenarios that need a *taker* fill (a market order, a marketable limit) run
  only with ``taker_fills=True`` (the default); against a live account that
  costs a spread and a taker fee on one tiny order each.

The kit never decides what a venue *should* support: it checks that what the
venue declares in ``capabilities`` is what it does (a lookup the venue says it
offers must work; one it does not declare is skipped, and noted if it works).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import attrs

from hedge_fsm.errors import (
    AmbiguousOutcome,
    HedgeError,
    InvalidValue,
    OrderNotFound,
    RejectReason,
    VenueRejected,
)
from hedge_fsm.values import BBO, Instrument, OrderInfo, OrderStatus, Side, is_on_grid
from hedge_fsm.venue import OrderStream, Venue, VenueCapabilities, capabilities_of

if TYPE_CHECKING:
    from hedge_fsm.sim.venue import SimVenue

__all__ = [
    "SCENARIO_NAMES",
    "ConformanceFailure",
    "ConformanceHooks",
    "ConformanceOptions",
    "ConformanceReport",
    "FillResting",
    "Outcome",
    "ScenarioResult",
    "check_venue",
    "conformance_scenarios",
    "describe_scenario",
    "run_scenario",
    "sim_hooks",
]

ZERO = Decimal(0)
_BPS = Decimal("0.0001")
_T = TypeVar("_T")

FillResting = Callable[[OrderInfo, Decimal], Awaitable[None] | None]
"""``fill_resting(order, quantity)``: make the market fill ``quantity`` more of ``order``.

``order`` is one of the kit's resting limit orders, as the venue acknowledged it;
the hook returns once the fill has happened at the venue (it may be a coroutine
function or a plain function)."""


class ConformanceFailure(HedgeError, AssertionError):
    """A venue broke its contract: raised by :meth:`ConformanceReport.raise_for_failures`.

    Also an ``AssertionError``, so that pytest reports it as a test failure.
    """


class Outcome(enum.StrEnum):
    """How one scenario ended."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    """The scenario could not run here (a capability the venue does not declare, no fill hook,
    taker fills not allowed, or the market did not fill a marketable order)."""


@attrs.frozen(kw_only=True)
class ScenarioResult:
    """One scenario's outcome, with the reason it failed or was skipped, and notes."""

    name: str
    outcome: Outcome
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED

    def describe(self) -> str:
        """``name: outcome (reason)``, one line, notes after a ``;``."""
        text = f"{self.name}: {self.outcome}"
        if self.reason:
            text += f" ({self.reason})"
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text

    def check(self) -> None:
        """For tests: raise :class:`ConformanceFailure` if failed; ``pytest.skip`` if skipped.

        Outside pytest (it is imported only here, and only when it is installed) a
        skipped scenario simply returns.
        """
        if self.outcome is Outcome.FAILED:
            raise ConformanceFailure(self.describe())
        if self.outcome is Outcome.SKIPPED:
            try:
                import pytest
            except ImportError:  # pragma: no cover - the kit runs without pytest too
                return
            pytest.skip(self.describe())


@attrs.frozen(kw_only=True)
class ConformanceReport:
    """Every scenario run against one venue and symbol, in the order they ran."""

    venue: str
    symbol: str
    results: tuple[ScenarioResult, ...]

    @property
    def passed(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.outcome is Outcome.PASSED)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.outcome is Outcome.FAILED)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.outcome is Outcome.SKIPPED)

    @property
    def ok(self) -> bool:
        """No scenario failed (skipped ones do not count against the venue)."""
        return not self.failed

    def result(self, name: str) -> ScenarioResult:
        """The result of scenario ``name``."""
        for result in self.results:
            if result.name == name:
                return result
        raise InvalidValue(f"no scenario {name!r} in this report; ran: {[r.name for r in self.results]}")

    def summary(self) -> str:
        """A readable report: a header line, then one line per scenario."""
        head = (
            f"{self.venue} {self.symbol}: {len(self.passed)} passed, {len(self.failed)} failed, "
            f"{len(self.skipped)} skipped"
        )
        return "\n".join([head, *("  " + r.describe() for r in self.results)])

    def raise_for_failures(self) -> None:
        """Raise :class:`ConformanceFailure` with the summary if any scenario failed."""
        if self.failed:
            raise ConformanceFailure(self.summary())


@attrs.frozen(kw_only=True)
class ConformanceHooks:
    """Ways to make the market act on demand (None: scenarios that need it are skipped)."""

    fill_resting: FillResting | None = None


def _positive_decimal(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise InvalidValue(
            f"{type(instance).__name__}.{attribute.name} must be a positive Decimal, got {value!r}",
            field=attribute.name,
        )


def _positive_seconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidValue(
            f"{type(instance).__name__}.{attribute.name} must be seconds > 0, got {value!r}",
            field=attribute.name,
        )


def _non_negative_seconds(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidValue(
            f"{type(instance).__name__}.{attribute.name} must be seconds >= 0, got {value!r}",
            field=attribute.name,
        )


def _engine_like_client_ids() -> Callable[[], str]:
    """Ids shaped like the engine's own (12 hex digits, a tag, a counter): what the venue will see."""
    run = uuid.uuid4().hex[:12]
    counter = itertools.count(1)
    return lambda: f"{run}k0n{next(counter)}"


@attrs.frozen(kw_only=True)
class ConformanceOptions:
    """How the kit trades. The defaults suit a simulated venue and a testnet account alike."""

    taker_fills: bool = True
    """Scenarios may send a market order or a marketable limit (tiny, one at a time)."""
    passive_distance_bps: Decimal = attrs.field(default=Decimal("50"), validator=_positive_decimal)
    """How far from the touch resting orders are priced (never filled by chance)."""
    cross_distance_bps: Decimal = attrs.field(default=Decimal("20"), validator=_positive_decimal)
    """How far through the touch a crossing order is priced (so a quote move in flight does
    not make it passive; a post-only one is refused anyway, a marketable one is capped)."""
    size_margin: Decimal = attrs.field(default=Decimal("1.1"), validator=_positive_decimal)
    """Minimum notional is met with this margin (the price the venue judges may differ)."""
    call_timeout: float = attrs.field(default=30.0, validator=_positive_seconds)
    """Any single venue call taking longer fails the scenario."""
    fill_timeout: float = attrs.field(default=10.0, validator=_positive_seconds)
    """How long to wait for a marketable order to end, or a position to show a fill."""
    poll_interval: float = attrs.field(default=0.25, validator=_positive_seconds)
    settle_delay: float = attrs.field(default=0.0, validator=_non_negative_seconds)
    """Wait this long after a fill before reading the position (venues whose positions lag)."""
    client_order_ids: Callable[[], str] | None = None
    """Makes each client order id; default: ids shaped like the engine's."""
    unknown_order_id: str = "999999999999"
    """An order id the venue cannot know (numeric, as most venues' ids are)."""


# --------------------------------------------------------------------------- the run


class _Fail(Exception):
    """A broken promise: the scenario fails with this message."""


class _Skip(Exception):
    """The scenario cannot run here."""


def _fail(message: str) -> NoReturn:
    raise _Fail(message)


_NUMBER_FIELDS: dict[type, tuple[str, ...]] = {
    Instrument: (
        "tick_size",
        "lot_size",
        "min_quantity",
        "min_notional",
        "multiplier",
        "maker_fee",
        "taker_fee",
    ),
    BBO: ("bid", "ask", "bid_size", "ask_size", "timestamp"),
    OrderInfo: ("quantity", "price", "filled_quantity", "average_price", "maker_quantity"),
}


def _number_problems(value: object, where: str) -> list[str]:
    """Fields of ``value`` that are not finite Decimals (None allowed where optional)."""
    fields = _NUMBER_FIELDS.get(type(value))
    if fields is None:
        return [
            f"{where} is a {type(value).__name__}, expected one of {[t.__name__ for t in _NUMBER_FIELDS]}"
        ]
    problems = []
    for name in fields:
        number = getattr(value, name)
        if number is None and name in ("price", "average_price", "maker_quantity"):
            continue
        if isinstance(number, bool) or not isinstance(number, Decimal):
            problems.append(f"{where}.{name} is {type(number).__name__} {number!r}, not a Decimal")
        elif not number.is_finite():
            problems.append(f"{where}.{name} is {number}, not finite")
    return problems


def _as_decimal(value: object) -> Decimal:
    """Tolerant conversion for clean-up only (a broken venue must still be cleaned up after)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


@attrs.frozen(kw_only=True)
class _Resting:
    """A resting order the kit placed: the venue's acknowledgement and what was sent."""

    info: OrderInfo
    client_order_id: str
    side: Side
    quantity: Decimal
    price: Decimal


class _Run:
    """One scenario's run: the venue, its instrument, what the scenario placed, and clean-up."""

    def __init__(
        self,
        venue: Venue,
        symbol: str,
        options: ConformanceOptions,
        hooks: ConformanceHooks,
        client_order_ids: Callable[[], str],
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.options = options
        self.hooks = hooks
        self.new_client_order_id = client_order_ids
        self.capabilities: VenueCapabilities = capabilities_of(venue)
        self.notes: list[str] = []
        self.placed: dict[str, OrderInfo | None] = {}
        """Client id -> the latest report of each order the scenario sent (None: no answer)."""
        self.filled: dict[str, tuple[Side, Decimal]] = {}
        """Client id -> side and the largest cumulative fill any report carried."""
        self.instrument: Instrument
        self.start_position: Decimal

    # ------------------------------------------------------------------ calls

    async def call(self, what: str, awaitable: Awaitable[_T]) -> _T:
        try:
            return await asyncio.wait_for(awaitable, self.options.call_timeout)
        except TimeoutError:
            _fail(f"{what} did not answer within {self.options.call_timeout}s")

    def seen(self, info: OrderInfo) -> OrderInfo:
        """Remember a report of one of our orders (fills are the max ever reported)."""
        cid = info.client_order_id
        if cid not in self.placed:
            # The answer does not carry our id: file it under the order it answers, if we can.
            matches = [
                c for c, known in self.placed.items() if known is not None and known.order_id == info.order_id
            ]
            cid = matches[0] if matches else cid
        if cid in self.placed:
            self.placed[cid] = info
            side, before = self.filled.get(cid, (info.side, ZERO))
            try:
                filled = max(before, _as_decimal(info.filled_quantity))
            except ArithmeticError:
                filled = before
            self.filled[cid] = (side, filled)
        return info

    async def setup(self) -> None:
        instrument = await self.call("instrument()", self.venue.instrument(self.symbol))
        if not isinstance(instrument, Instrument):
            _fail(f"instrument({self.symbol!r}) returned {type(instrument).__name__}, not an Instrument")
        self.instrument = instrument
        self.start_position = _as_decimal(await self.call("position()", self.venue.position(self.symbol)))

    async def bbo(self) -> BBO:
        bbo = await self.call("best_bid_offer()", self.venue.best_bid_offer(self.symbol))
        if not isinstance(bbo, BBO):
            _fail(f"best_bid_offer() returned {type(bbo).__name__}, not a BBO")
        if bbo.is_crossed:
            raise _Skip(f"the book is locked or crossed (bid {bbo.bid}, ask {bbo.ask}): cannot price")
        return bbo

    # ------------------------------------------------------------------ prices and sizes

    def round_price(self, price: Decimal, rounding: str) -> Decimal:
        tick = self.instrument.tick_size
        return (price / tick).to_integral_value(rounding=rounding) * tick

    def passive_price(self, bbo: BBO, side: Side) -> Decimal:
        distance = self.options.passive_distance_bps * _BPS
        tick = self.instrument.tick_size
        if side is Side.BUY:
            price = min(
                self.round_price(_as_decimal(bbo.bid) * (1 - distance), ROUND_FLOOR), bbo.bid - 2 * tick
            )
            if price <= 0:
                raise _Skip(f"no passive buy price below bid {bbo.bid}")
            return price
        return max(self.round_price(_as_decimal(bbo.ask) * (1 + distance), ROUND_CEILING), bbo.ask + 2 * tick)

    def crossing_price(self, bbo: BBO, side: Side) -> Decimal:
        distance = self.options.cross_distance_bps * _BPS
        tick = self.instrument.tick_size
        if side is Side.BUY:
            return max(self.round_price(_as_decimal(bbo.ask) * (1 + distance), ROUND_CEILING), bbo.ask + tick)
        price = min(self.round_price(_as_decimal(bbo.bid) * (1 - distance), ROUND_FLOOR), bbo.bid - tick)
        if price <= 0:
            raise _Skip(f"no crossing sell price below bid {bbo.bid}")
        return price

    def tiny_quantity(self, price: Decimal, lots_multiple: int = 1) -> Decimal:
        """The smallest order the instrument takes at ``price`` (times ``lots_multiple``)."""
        inst = self.instrument
        least = max(inst.placeable_minimum, inst.min_notional * self.options.size_margin / price)
        lots = (least / inst.lot_size).to_integral_value(rounding=ROUND_CEILING)
        return lots * inst.lot_size * lots_multiple

    # ------------------------------------------------------------------ orders

    async def placing(self, cid: str, what: str, awaitable: Awaitable[OrderInfo]) -> OrderInfo:
        """A placement: a definitive refusal created nothing, so there is nothing to clean up."""
        try:
            return await self.call(what, awaitable)
        except VenueRejected:
            del self.placed[cid], self.filled[cid]
            raise

    async def place_limit(
        self, side: Side, quantity: Decimal, price: Decimal, *, post_only: bool, reduce_only: bool = False
    ) -> OrderInfo:
        cid = self.new_client_order_id()
        self.placed[cid] = None
        self.filled[cid] = (side, ZERO)
        info = await self.placing(
            cid,
            "place_limit()",
            self.venue.place_limit(
                self.symbol,
                side,
                quantity,
                price,
                post_only=post_only,
                reduce_only=reduce_only,
                client_order_id=cid,
            ),
        )
        if not isinstance(info, OrderInfo):
            _fail(f"place_limit() returned {type(info).__name__}, not an OrderInfo")
        self.placed[cid] = info
        self.seen(info)
        return info

    async def place_resting(self, side: Side = Side.BUY, lots_multiple: int = 1) -> _Resting:
        """A post-only order far from the touch: its acknowledgement and what was sent."""
        bbo = await self.bbo()
        price = self.passive_price(bbo, side)
        quantity = self.tiny_quantity(price, lots_multiple)
        info = await self.place_limit(side, quantity, price, post_only=True)
        cid = next(reversed(self.placed))
        if info.is_terminal:
            _fail(
                f"a post-only {side} {quantity} at {price}, {self.options.passive_distance_bps} bps "
                f"from the touch, was answered {info.status} (reason {info.reject_reason})"
            )
        return _Resting(info=info, client_order_id=cid, side=side, quantity=quantity, price=price)

    async def place_market(self, side: Side, quantity: Decimal, *, reduce_only: bool) -> OrderInfo:
        cid = self.new_client_order_id()
        self.placed[cid] = None
        self.filled[cid] = (side, ZERO)
        info = await self.placing(
            cid,
            "place_market()",
            self.venue.place_market(
                self.symbol, side, quantity, reduce_only=reduce_only, client_order_id=cid
            ),
        )
        if not isinstance(info, OrderInfo):
            _fail(f"place_market() returned {type(info).__name__}, not an OrderInfo")
        self.placed[cid] = info
        self.seen(info)
        return info

    async def lookup(self, *, order_id: str | None = None, client_order_id: str | None = None) -> OrderInfo:
        info = await self.call(
            "order()", self.venue.order(self.symbol, order_id=order_id, client_order_id=client_order_id)
        )
        if not isinstance(info, OrderInfo):
            _fail(f"order() returned {type(info).__name__}, not an OrderInfo")
        return self.seen(info)

    async def cancel(self, order_id: str) -> OrderInfo:
        info = await self.call("cancel()", self.venue.cancel(self.symbol, order_id))
        if not isinstance(info, OrderInfo):
            _fail(f"cancel() returned {type(info).__name__}, not an OrderInfo")
        return self.seen(info)

    async def until_terminal(self, info: OrderInfo) -> OrderInfo:
        """Poll an order by id until it is terminal or ``fill_timeout`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.fill_timeout
        while not info.is_terminal and loop.time() < deadline and self.capabilities.order_lookup:
            await asyncio.sleep(self.options.poll_interval)
            info = await self.lookup(order_id=info.order_id)
        return info

    async def position(self) -> Decimal:
        value = await self.call("position()", self.venue.position(self.symbol))
        return value

    async def position_becomes(self, expected: Decimal) -> Decimal:
        """Read the position until it equals ``expected`` or ``fill_timeout`` passes; the last read."""
        if self.options.settle_delay:
            await asyncio.sleep(self.options.settle_delay)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.fill_timeout
        while True:
            position = _as_decimal(await self.position())
            if position == expected or loop.time() >= deadline:
                return position
            await asyncio.sleep(self.options.poll_interval)

    def traded(self) -> Decimal:
        """Signed quantity the scenario's orders filled, from the largest fill each reported."""
        return sum((side.sign * filled for side, filled in self.filled.values()), ZERO)

    # ------------------------------------------------------------------ clean-up

    async def clean_up(self) -> list[str]:
        """Cancel what may rest, trade back what filled, check the position. Problems found."""
        problems: list[str] = []
        for cid, info in list(self.placed.items()):
            try:
                if info is None:
                    # No answer (not a refusal): the order may exist under our id.
                    if not self.capabilities.lookup_by_client_id:
                        problems.append(f"order {cid} may exist: its placement had no answer")
                        continue
                    try:
                        info = await self.lookup(client_order_id=cid)
                    except OrderNotFound:
                        continue
                if not info.is_terminal:
                    try:
                        info = await self.cancel(info.order_id)
                    except OrderNotFound:
                        info = await self.lookup(order_id=info.order_id)
                    if not info.is_terminal and self.capabilities.order_lookup:
                        info = await self.until_terminal(info)
                    if not info.is_terminal:
                        problems.append(f"order {info.order_id} ({cid}) still {info.status} after its cancel")
            except Exception as error:  # report, and go on cleaning up
                problems.append(f"could not close order {cid}: {error}")
        net = self.traded()
        if net != 0:
            side = Side.SELL if net > 0 else Side.BUY
            try:
                before = _as_decimal(await self.position())
                reduces = before * net > 0 and abs(net) <= abs(before)
                self.placed.clear()
                self.filled.clear()
                back = await self.place_market(side, abs(net), reduce_only=reduces)
                back = await self.until_terminal(back)
                if self.traded() != -net:
                    problems.append(
                        f"restoring the position: market {side} {abs(net)} filled {back.filled_quantity}"
                    )
            except Exception as error:  # report, and go on cleaning up
                problems.append(f"could not trade back {net}: {error}")
        try:
            position = await self.position_becomes(self.start_position)
            if position != self.start_position:
                problems.append(f"position {position} is not back at {self.start_position}")
        except Exception as error:  # report, and go on cleaning up
            problems.append(f"could not read the position back: {error}")
        return problems


# --------------------------------------------------------------------------- scenarios


def _order_problems(run: _Run, info: OrderInfo, where: str, sent: _Resting) -> list[str]:
    """An order answer: Decimals on the grids, and the symbol, side, quantity, price we sent."""
    side, quantity, price = sent.side, sent.quantity, sent.price
    problems = _number_problems(info, where)
    if problems:
        return problems
    inst = run.instrument
    if info.symbol != run.symbol:
        problems.append(f"{where}.symbol is {info.symbol!r}, sent {run.symbol!r}")
    if info.side is not side:
        problems.append(f"{where}.side is {info.side}, sent {side}")
    if info.quantity != quantity:
        problems.append(f"{where}.quantity is {info.quantity}, sent {quantity}")
    if info.price != price:
        problems.append(f"{where}.price is {info.price}, sent {price}")
    for name in ("quantity", "filled_quantity", "maker_quantity"):
        value = getattr(info, name)
        if value is not None and not is_on_grid(value, inst.lot_size):
            problems.append(f"{where}.{name} {value} is off the lot grid {inst.lot_size}")
    if info.price is not None and not is_on_grid(info.price, inst.tick_size):
        problems.append(f"{where}.price {info.price} is off the tick grid {inst.tick_size}")
    return problems


async def _decimal_everywhere(run: _Run) -> None:
    inst = run.instrument
    problems = _number_problems(inst, "instrument()")
    bbo = await run.call("best_bid_offer()", run.venue.best_bid_offer(run.symbol))
    problems += _number_problems(bbo, "best_bid_offer()")
    position = await run.position()
    if isinstance(position, bool) or not isinstance(position, Decimal) or not position.is_finite():
        problems.append(f"position() is {type(position).__name__} {position!r}, not a finite Decimal")
    if problems:
        _fail("; ".join(problems))
    for name in ("bid", "ask"):
        if not is_on_grid(getattr(bbo, name), inst.tick_size):
            problems.append(
                f"best_bid_offer().{name} {getattr(bbo, name)} is off the tick grid {inst.tick_size}"
            )
    if not is_on_grid(position, inst.lot_size):
        problems.append(f"position() {position} is off the lot grid {inst.lot_size}")
    sent = await run.place_resting()
    info = sent.info
    problems += _order_problems(run, info, "place_limit()", sent)
    if run.capabilities.order_lookup:
        problems += _order_problems(run, await run.lookup(order_id=info.order_id), "order()", sent)
    problems += _order_problems(run, await run.cancel(info.order_id), "cancel()", sent)
    if problems:
        _fail("; ".join(problems))


async def _client_order_id_round_trip(run: _Run) -> None:
    resting = await run.place_resting()
    info, cid = resting.info, resting.client_order_id
    problems = []
    if info.client_order_id != cid:
        problems.append(f"place_limit() answered client_order_id {info.client_order_id!r}, sent {cid!r}")
    if run.capabilities.order_lookup:
        looked = await run.lookup(order_id=info.order_id)
        if looked.client_order_id != cid:
            problems.append(
                f"order(order_id=...) answered client_order_id {looked.client_order_id!r}, sent {cid!r}"
            )
    cancelled = await run.cancel(info.order_id)
    if cancelled.client_order_id != cid:
        problems.append(f"cancel() answered client_order_id {cancelled.client_order_id!r}, sent {cid!r}")
    if cancelled.order_id != info.order_id:
        problems.append(f"cancel() answered order_id {cancelled.order_id!r}, placed {info.order_id!r}")
    if problems:
        _fail("; ".join(problems))


async def _lookup_by_order_id(run: _Run) -> None:
    if not run.capabilities.order_lookup:
        raise _Skip("the venue declares no order lookup (capabilities.order_lookup is False)")
    info = (await run.place_resting()).info
    looked = await run.lookup(order_id=info.order_id)
    if looked.order_id != info.order_id:
        _fail(f"order(order_id={info.order_id!r}) answered order {looked.order_id!r}")
    if looked.is_terminal:
        _fail(f"order(order_id=...) says the resting order is {looked.status}")
    if looked.quantity != info.quantity or looked.side is not info.side:
        _fail(
            f"order(order_id=...) answered {looked.side} {looked.quantity}, "
            f"placed {info.side} {info.quantity}"
        )


async def _lookup_by_client_id(run: _Run) -> None:
    if not run.capabilities.lookup_by_client_id:
        raise _Skip("the venue declares no lookup by client id (capabilities.lookup_by_client_id is False)")
    resting = await run.place_resting()
    info, cid = resting.info, resting.client_order_id
    try:
        looked = await run.lookup(client_order_id=cid)
    except OrderNotFound:
        _fail(f"order(client_order_id={cid!r}) raised OrderNotFound for a resting order")
    if looked.order_id != info.order_id:
        _fail(f"order(client_order_id={cid!r}) answered order {looked.order_id!r}, placed {info.order_id!r}")
    if looked.is_terminal:
        _fail(f"order(client_order_id=...) says the resting order is {looked.status}")


async def _unknown_order_not_found(run: _Run) -> None:
    unknown = run.options.unknown_order_id
    problems = []

    async def expect_not_found(what: str, call: Awaitable[object]) -> None:
        try:
            answer = await run.call(what, call)
        except OrderNotFound:
            return
        except Exception as error:  # anything but OrderNotFound is the finding
            problems.append(f"{what} raised {type(error).__name__} ({error}), expected OrderNotFound")
        else:
            problems.append(f"{what} answered {answer!r}, expected OrderNotFound")

    if run.capabilities.order_lookup:
        await expect_not_found(f"order(order_id={unknown!r})", run.venue.order(run.symbol, order_id=unknown))
    if run.capabilities.lookup_by_client_id:
        fresh = run.new_client_order_id()
        await expect_not_found(
            f"order(client_order_id={fresh!r})", run.venue.order(run.symbol, client_order_id=fresh)
        )
    await expect_not_found(f"cancel({unknown!r})", run.venue.cancel(run.symbol, unknown))
    if problems:
        _fail("; ".join(problems))


async def _post_only_cross_refused(run: _Run) -> None:
    problems = []
    for side in (Side.BUY, Side.SELL):
        bbo = await run.bbo()
        price = run.crossing_price(bbo, side)
        quantity = run.tiny_quantity(min(price, bbo.bid))
        try:
            info = await run.place_limit(side, quantity, price, post_only=True)
        except VenueRejected as error:
            if error.reason is not RejectReason.POST_ONLY:
                problems.append(
                    f"a post-only {side} at {price} through the touch (bid {bbo.bid}, ask {bbo.ask}) was "
                    f"refused with reason {error.reason}, not POST_ONLY: the engine cannot tell it "
                    f"from a final refusal ({error})"
                )
            continue
        if not info.is_terminal and info.filled_quantity == 0:
            # Some venues accept the order and cancel it a moment later (the refusal shows in
            # the order's status): the engine sees that on its next poll, and so does the kit.
            acked = info.status
            info = await run.until_terminal(info)
            if info.is_terminal:
                run.notes.append(
                    f"the post-only {side} was acknowledged {acked} and refused afterwards "
                    f"({info.status}, reason {info.reject_reason})"
                )
        if info.filled_quantity > 0:
            problems.append(
                f"a post-only {side} at {price} through the touch took liquidity: "
                f"filled {info.filled_quantity}"
            )
        elif info.status not in (OrderStatus.REJECTED, OrderStatus.EXPIRED):
            problems.append(
                f"a post-only {side} at {price} through the touch (bid {bbo.bid}, ask {bbo.ask}) was "
                f"accepted: {info.status} (and still {info.status} {run.options.fill_timeout}s later)"
            )
        elif info.reject_reason is not RejectReason.POST_ONLY:
            problems.append(
                f"a post-only {side} crossing the touch came back {info.status} with reason "
                f"{info.reject_reason}, not POST_ONLY"
            )
    if problems:
        _fail("; ".join(problems))


async def _reduce_only_refused_when_growing(run: _Run) -> None:
    position = _as_decimal(await run.position())
    side = Side.BUY if position >= 0 else Side.SELL  # this side grows |position| (or opens one)
    bbo = await run.bbo()
    price = run.passive_price(bbo, side)
    quantity = run.tiny_quantity(price)
    try:
        info = await run.place_limit(side, quantity, price, post_only=True, reduce_only=True)
    except VenueRejected as error:
        if error.reason is not RejectReason.REDUCE_ONLY:
            run.notes.append(f"refused with reason {error.reason} rather than REDUCE_ONLY")
        return
    if info.is_terminal and info.filled_quantity == 0:
        # Ended at once with nothing filled: the position did not grow, which is the promise.
        if info.status is OrderStatus.CANCELED or info.reject_reason is not RejectReason.REDUCE_ONLY:
            run.notes.append(f"answered {info.status} (reason {info.reject_reason}) rather than refused")
        return
    _fail(
        f"a reduce-only {side} {quantity} with position {position} (it could only grow it) was "
        f"accepted: {info.status}, filled {info.filled_quantity}"
    )


def _needs_taker(run: _Run) -> None:
    if not run.options.taker_fills:
        raise _Skip("needs a taker fill and taker_fills is False")


async def _position_sign(run: _Run) -> None:
    _needs_taker(run)
    start = _as_decimal(await run.position())
    bbo = await run.bbo()
    quantity = run.tiny_quantity(bbo.bid)
    bought = await run.until_terminal(await run.place_market(Side.BUY, quantity, reduce_only=False))
    filled = (
        run.filled[bought.client_order_id][1]
        if bought.client_order_id in run.filled
        else bought.filled_quantity
    )
    if filled == 0:
        raise _Skip(f"a market buy of {quantity} did not fill ({bought.status})")
    after_buy = await run.position_becomes(start + filled)
    if after_buy != start + filled:
        _fail(
            f"a buy of {filled} moved the position from {start} to {after_buy} "
            f"(expected {start + filled}: a buy makes it more positive)"
        )
    sold = await run.until_terminal(await run.place_market(Side.SELL, filled, reduce_only=start >= 0))
    sold_filled = run.filled.get(sold.client_order_id, (Side.SELL, sold.filled_quantity))[1]
    after_sell = await run.position_becomes(after_buy - sold_filled)
    if after_sell != after_buy - sold_filled:
        _fail(
            f"a sell of {sold_filled} moved the position from {after_buy} to {after_sell} "
            f"(expected {after_buy - sold_filled}: a sell makes it more negative)"
        )


async def _cancel_after_fill_returns_filled(run: _Run) -> None:
    _needs_taker(run)
    bbo = await run.bbo()
    price = run.crossing_price(bbo, Side.BUY)
    quantity = run.tiny_quantity(bbo.bid)
    info = await run.until_terminal(await run.place_limit(Side.BUY, quantity, price, post_only=False))
    if info.filled_quantity == 0:
        raise _Skip(f"a marketable buy at {price} did not fill ({info.status}): nothing to check")
    seen = run.filled[next(reversed(run.placed))][1]
    try:
        cancelled = await run.cancel(info.order_id)
    except OrderNotFound:
        _fail(
            f"cancel() of an order that filled {seen} raised OrderNotFound: the contract is the "
            f"order as it stands after the cancel (FILLED)"
        )
    problems = await _final_fill_problems(run, cancelled, seen, full=seen == quantity)
    if problems:
        _fail("; ".join(problems))


async def _final_fill_problems(run: _Run, cancelled: OrderInfo, seen: Decimal, *, full: bool) -> list[str]:
    """A cancel's answer must carry the order's final fill (``seen`` filled before the cancel).

    A venue that declares ``reports_cancel_early`` may understate it in the answer, as long
    as a lookup then shows the whole fill: the engine confirms such answers by a query.
    """
    problems = []
    if not cancelled.is_terminal:
        problems.append(f"cancel() answered {cancelled.status}, not a terminal order")
    short = cancelled.filled_quantity < seen
    not_filled = full and cancelled.status is not OrderStatus.FILLED
    if not (short or not_filled):
        return problems
    answer = f"cancel() answered {cancelled.status} with filled {cancelled.filled_quantity}"
    caps = run.capabilities
    if caps.reports_cancel_early and caps.order_lookup:
        looked = await run.lookup(order_id=cancelled.order_id)
        if (
            looked.is_terminal
            and looked.filled_quantity >= seen
            and not (full and looked.status is not OrderStatus.FILLED)
        ):
            run.notes.append(
                f"{answer} (declared reports_cancel_early): a lookup showed the fill {looked.filled_quantity}"
            )
            return problems
        problems.append(
            f"{answer}; {seen} had filled and a lookup answered {looked.status} {looked.filled_quantity}"
        )
        return problems
    if short:
        problems.append(
            f"{answer}; {seen} had filled: the final fill was lost (a venue whose cancel answers "
            f"lag its fills must declare capabilities.reports_cancel_early)"
        )
    if not_filled:
        problems.append(f"cancel() of a fully filled order answered {cancelled.status}, not FILLED")
    return problems


async def _cancel_returns_partial_fill(run: _Run) -> None:
    hook = run.hooks.fill_resting
    if hook is None:
        raise _Skip("needs hooks.fill_resting to fill a resting order on demand")
    info = (await run.place_resting(lots_multiple=2)).info
    part = info.quantity / 2
    outcome = hook(info, part)
    if inspect.isawaitable(outcome):
        await outcome
    problems = []
    seen = part
    if run.capabilities.order_lookup:
        looked = await run.lookup(order_id=info.order_id)
        if looked.filled_quantity < part:
            problems.append(f"order() after a fill of {part} answered filled {looked.filled_quantity}")
        seen = max(part, looked.filled_quantity)
    cancelled = await run.cancel(info.order_id)
    problems += await _final_fill_problems(run, cancelled, seen, full=seen == info.quantity)
    if problems:
        _fail("; ".join(problems))


async def _capabilities_consistent(run: _Run) -> None:
    caps = run.capabilities
    problems = []
    if caps.order_stream and not (isinstance(run.venue, OrderStream) and run.venue.supports_order_updates):
        problems.append("capabilities.order_stream is True but the venue offers no order_updates stream")
    resting = await run.place_resting()
    info, cid = resting.info, resting.client_order_id
    for name, declared, lookup in (
        ("order_lookup", caps.order_lookup, {"order_id": info.order_id}),
        ("lookup_by_client_id", caps.lookup_by_client_id, {"client_order_id": cid}),
    ):
        try:
            looked = await run.lookup(**lookup)
            works = looked.order_id == info.order_id
            failure = f"answered order {looked.order_id!r}"
        except Exception as error:  # a declared lookup that raises is the finding
            works, failure = False, f"raised {type(error).__name__}: {error}"
        if declared and not works:
            problems.append(f"capabilities.{name} is True but order({lookup}) {failure}")
        elif works and not declared:
            run.notes.append(f"capabilities.{name} is False but the lookup works (understated)")
    if problems:
        _fail("; ".join(problems))


@attrs.frozen
class _Scenario:
    name: str
    description: str
    body: Callable[[_Run], Awaitable[None]]


_SCENARIOS: tuple[_Scenario, ...] = (
    _Scenario(
        "decimal_everywhere", "every number the venue answers is a Decimal on its grid", _decimal_everywhere
    ),
    _Scenario(
        "client_order_id_round_trip", "answers carry the client order id sent", _client_order_id_round_trip
    ),
    _Scenario("lookup_by_order_id", "order(order_id=...) finds a resting order", _lookup_by_order_id),
    _Scenario(
        "lookup_by_client_id", "order(client_order_id=...) finds a resting order", _lookup_by_client_id
    ),
    _Scenario("unknown_order_not_found", "an unknown order raises OrderNotFound", _unknown_order_not_found),
    _Scenario(
        "post_only_cross_refused",
        "a crossing post-only order is refused as POST_ONLY",
        _post_only_cross_refused,
    ),
    _Scenario(
        "reduce_only_refused_when_growing",
        "reduce-only never grows a position",
        _reduce_only_refused_when_growing,
    ),
    _Scenario("position_sign", "a buy makes the position more positive", _position_sign),
    _Scenario(
        "cancel_after_fill_returns_filled",
        "cancelling a filled order answers FILLED",
        _cancel_after_fill_returns_filled,
    ),
    _Scenario(
        "cancel_returns_partial_fill", "a cancel answers the order's final fill", _cancel_returns_partial_fill
    ),
    _Scenario(
        "capabilities_consistent", "capabilities declare what the venue does", _capabilities_consistent
    ),
)
_BY_NAME = {s.name: s for s in _SCENARIOS}

SCENARIO_NAMES: tuple[str, ...] = tuple(_BY_NAME)
"""Every scenario of the kit, in the order :func:`check_venue` runs them."""


def conformance_scenarios() -> tuple[str, ...]:
    """The scenario names, to parametrise a test over (see :func:`run_scenario`)."""
    return SCENARIO_NAMES


def describe_scenario(name: str) -> str:
    """One line on what scenario ``name`` checks."""
    return _scenario(name).description


def _scenario(name: str) -> _Scenario:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidValue(
            f"unknown conformance scenario {name!r}; known: {', '.join(SCENARIO_NAMES)}"
        ) from None


async def _run_one(scenario: _Scenario, run: _Run) -> ScenarioResult:
    outcome, reason = Outcome.PASSED, ""
    try:
        await run.setup()
        await scenario.body(run)
    except _Fail as failure:
        outcome, reason = Outcome.FAILED, str(failure)
    except _Skip as skip:
        outcome, reason = Outcome.SKIPPED, str(skip)
    except AmbiguousOutcome as error:
        outcome, reason = Outcome.FAILED, f"ambiguous outcome, cannot judge (rerun): {error}"
    except Exception as error:  # a venue under test may raise anything: that is a finding
        outcome, reason = Outcome.FAILED, f"raised {type(error).__name__}: {error}"
    if not hasattr(run, "instrument"):
        return ScenarioResult(name=scenario.name, outcome=outcome, reason=reason, notes=tuple(run.notes))
    problems = await run.clean_up()
    if problems:
        left = "left the venue dirty: " + "; ".join(problems)
        reason = f"{reason}; {left}" if outcome is Outcome.FAILED else left
        outcome = Outcome.FAILED
    return ScenarioResult(name=scenario.name, outcome=outcome, reason=reason, notes=tuple(run.notes))


async def run_scenario(
    name: str,
    venue: Venue,
    symbol: str,
    *,
    hooks: ConformanceHooks | None = None,
    options: ConformanceOptions | None = None,
) -> ScenarioResult:
    """Run one scenario against ``venue`` on ``symbol`` (await it on the venue's loop)."""
    scenario = _scenario(name)
    options = options if options is not None else ConformanceOptions()
    ids = options.client_order_ids if options.client_order_ids is not None else _engine_like_client_ids()
    run = _Run(venue, symbol, options, hooks if hooks is not None else ConformanceHooks(), ids)
    return await _run_one(scenario, run)


async def check_venue(
    venue: Venue,
    symbol: str,
    *,
    hooks: ConformanceHooks | None = None,
    options: ConformanceOptions | None = None,
    scenarios: Iterable[str] | None = None,
) -> ConformanceReport:
    """Run the conformance scenarios (all, or ``scenarios``) one after the other.

    Await it on the loop the venue lives on: ``hedge_fsm.sim.run(check_venue(...))``
    for a simulated venue, ``asyncio.run(...)`` for a real one.
    """
    names: Sequence[str] = SCENARIO_NAMES if scenarios is None else tuple(scenarios)
    chosen = [_scenario(name) for name in names]
    options = options if options is not None else ConformanceOptions()
    ids = options.client_order_ids if options.client_order_ids is not None else _engine_like_client_ids()
    hooks = hooks if hooks is not None else ConformanceHooks()
    results = []
    for scenario in chosen:
        results.append(await _run_one(scenario, _Run(venue, symbol, options, hooks, ids)))
    return ConformanceReport(
        venue=str(getattr(venue, "name", type(venue).__name__)), symbol=symbol, results=tuple(results)
    )


# --------------------------------------------------------------------------- the simulated venue


def sim_hooks(venue: SimVenue) -> ConformanceHooks:
    """Hooks for a :class:`~hedge_fsm.sim.SimVenue`: fills on demand through its test hooks.

    ``fill_resting`` prints a trade from another trader at the order's price,
    big enough to clear the queue ahead of it and fill exactly the quantity asked.
    """

    def fill_resting(order: OrderInfo, quantity: Decimal) -> None:
        book = venue.book(order.symbol)
        now = asyncio.get_running_loop().time()
        venue.market.advance_to(now)
        book.catch_up()
        resting = next((r for r in book.resting() if r.order_id == order.order_id), None)
        if resting is None or order.price is None:
            raise InvalidValue(f"order {order.order_id} is not resting on {venue.name} {order.symbol}")
        # Others ahead at that level trade first (the book counts at most its displayed depth).
        distance = (
            book.bbo(now).bid - order.price if order.side is Side.BUY else order.price - book.bbo(now).ask
        )
        level = book.level_depth(int(distance / book.price(1)))
        ahead = book.quantity(min(resting.ahead, level))
        venue.hooks.inject_trade(order.symbol, order.side.opposite, ahead + quantity, price=order.price)

    return ConformanceHooks(fill_resting=fill_resting)
