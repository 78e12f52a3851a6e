"""The driver's guarantees when venues hang: every venue call is bounded, every hedge ends.

A :class:`HangingVenue` is the scripted venue of ``tests/scripted.py`` whose calls
can be told to never answer (a coroutine awaiting a future nobody resolves, as a
dead TCP connection would), per operation and per call, with or without the venue
having acted (a hung placement may have created its order). Everything runs on
virtual time (:func:`hedge_fsm.sim.run`), so a hedge that would hang forever
makes the loop raise ``VirtualTimeDeadlock`` instead of hanging the suite, and a
bound "within N seconds" is measured on the engine's own clock.

Each test checks venue truth at the end: every venue position moved by exactly
what the result says the leg traded, no order is left open, no task is left
running after ``execute``/``hedge`` returned.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge_fsm import (
    BBO,
    ExecutionResult,
    HedgeConfig,
    HedgeEngine,
    HedgeTarget,
    Instrument,
    InvalidValue,
    OrderInfo,
    RetryPolicy,
    Side,
)
from hedge_fsm.clock import LoopClock
from hedge_fsm.config import CallTimeouts
from hedge_fsm.engine import (
    CANCEL_GRACE,
    SETUP_READ_ATTEMPTS,
    _OrderRateGuard,
    setup_backoff,
)
from hedge_fsm.sim.loop import run
from tests.scripted import Place, ScriptedVenue
from tests.test_engine import BTC, LONG_A_SHORT_B, btc_bbo

ZERO = D(0)
OPERATIONS = ("place", "cancel", "query", "bbo", "position")


class HangingVenue(ScriptedVenue):
    """A scripted venue whose calls may never answer.

    ``hang(operation, count, processed=...)`` makes the next ``count`` calls of
    ``operation`` hang (``count=None``: every call from now on). A hung
    placement or cancel with ``processed=True`` is carried out by the venue
    first: the reply is what never comes. ``hang_rng`` instead draws, per call
    of the ``hang_operations``, whether it hangs with probability ``hang_rate``
    (the property test). ``hung`` counts the calls that hung.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan: dict[str, deque[bool]] = defaultdict(deque)
        self.forever: dict[str, bool] = {}
        self.hang_rng: random.Random | None = None
        self.hang_rate = 0.0
        self.hang_operations: set[str] = set(OPERATIONS)
        self.processed_rate = 0.5
        self.hung: dict[str, int] = defaultdict(int)

    def hang(self, operation: str, count: int | None = 1, *, processed: bool = False) -> None:
        assert operation in OPERATIONS
        if count is None:
            self.forever[operation] = processed
        else:
            self.plan[operation].extend([processed] * count)

    def _decide(self, operation: str) -> bool | None:
        """None: answer normally; else hang, True if the venue acts first."""
        if operation in self.forever:
            return self.forever[operation]
        if self.plan[operation]:
            return self.plan[operation].popleft()
        if (
            self.hang_rng is not None
            and operation in self.hang_operations
            and self.hang_rng.random() < self.hang_rate
        ):
            return self.hang_rng.random() < self.processed_rate
        return None

    async def _forever(self, operation: str) -> Any:
        self.hung[operation] += 1
        await asyncio.get_running_loop().create_future()

    async def _maybe(self, operation: str, call: Callable[[], Any]) -> Any:
        decision = self._decide(operation)
        if decision is None:
            return await call()
        if decision and operation in ("place", "cancel"):
            await call()  # the venue acted; the reply is lost on the way back
        return await self._forever(operation)

    async def _place(self, args: dict[str, Any]) -> OrderInfo:
        parent = super()._place
        result: OrderInfo = await self._maybe("place", lambda: parent(args))
        return result

    async def cancel(self, symbol: str, order_id: str) -> OrderInfo:
        parent = super().cancel
        result: OrderInfo = await self._maybe("cancel", lambda: parent(symbol, order_id))
        return result

    async def order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> OrderInfo:
        parent = super().order
        result: OrderInfo = await self._maybe(
            "query", lambda: parent(symbol, order_id=order_id, client_order_id=client_order_id)
        )
        return result

    async def best_bid_offer(self, symbol: str) -> BBO:
        parent = super().best_bid_offer
        result: BBO = await self._maybe("bbo", lambda: parent(symbol))
        return result

    async def position(self, symbol: str) -> D:
        parent = super().position
        result: D = await self._maybe("position", lambda: parent(symbol))
        return result


def hanging_venues() -> tuple[HangingVenue, HangingVenue]:
    return (
        HangingVenue("a", [BTC], {"BTC": btc_bbo()}),
        HangingVenue("b", [BTC], {"BTC": btc_bbo()}),
    )


def setup_bound(config: HedgeConfig, *, priced: bool = False) -> float:
    """The most time set-up may take before anything is sent: instrument reads (bounded by
    the stuck timeout), optionally quotes, then baseline positions, each retried with backoff."""
    timeouts = config.call_timeouts
    backoffs = sum(setup_backoff(config, k) for k in range(SETUP_READ_ATTEMPTS - 1))
    reads = [config.stuck_timeout, timeouts.position] + ([timeouts.bbo] if priced else [])
    return sum(SETUP_READ_ATTEMPTS * limit + backoffs for limit in reads)


def possibly_live_wait(config: HedgeConfig) -> float:
    """The longest one ambiguous order keeps a phase waiting: its answer (at most the place
    timeout), then until it is provably dead (the ambiguous horizon: these venues have no
    request window), then the stuck timeout of lookups that prove nothing."""
    return config.call_timeouts.place + config.ambiguous_horizon + config.stuck_timeout


def run_bound(config: HedgeConfig, *, entry: bool, ambiguous: bool = False) -> float:
    """invariant 2 (docs/design.md) once set-up is over: the most virtual time a run may take.

    The entry phase (``execute`` only: the entry timeout, then confirming the entry
    cancels, at most the stuck timeout) + the hedge budget + the market fallback (its
    order's answer or the stuck timeout on an unknown one) + the rollback budget + the
    call timeouts: a call in flight at each phase change and the end-of-hedge wait.

    With ``ambiguous`` (placements may time out), an order that may still reach the venue is
    waited out before anything replaces it: the entry, the limit phase, the fallback and the
    rollback may each wait once for one such order (:func:`possibly_live_wait`), and the
    fallback sends a new market order only within ``stuck_timeout`` of its first one.
    """
    longest = config.call_timeouts.longest
    wait = possibly_live_wait(config) if ambiguous else 0.0
    entry_phase = (config.entry_timeout + config.stuck_timeout + wait) if entry else 0.0
    hedge = config.opening.budget + wait
    fallback = config.stuck_timeout + longest + wait
    rollback = config.rollback_budget + wait
    calls = 4 * longest + CANCEL_GRACE
    return entry_phase + hedge + fallback + rollback + calls


Action = tuple[float, Callable[[], object]]


class StartWatch:
    """An observer that notes when the hedge starts (set-up is over, nothing sent yet)."""

    def __init__(self, started: list[float]) -> None:
        self.started = started

    def on_start(self, supervisor: Any) -> None:
        self.started.append(asyncio.get_running_loop().time())

    def on_command(self, *args: Any) -> None:
        pass

    def on_event(self, *args: Any) -> None:
        pass

    def on_finish(self, *args: Any) -> None:
        pass


def _run(
    venues: dict[str, HangingVenue],
    start: Callable[[HedgeEngine], Any],
    actions: Sequence[Action] = (),
    config: HedgeConfig | None = None,
) -> tuple[ExecutionResult, float]:
    """Run one execute/hedge on virtual time; returns the result and how long it ran after
    set-up. Set-up (reads before anything is sent) is checked against its own bound."""
    config = config or HedgeConfig()
    started: list[float] = []

    async def main() -> tuple[ExecutionResult, float]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for at, action in actions:
            loop.call_at(began + at, action)
        watch = StartWatch(started)
        engine = HedgeEngine(venues, config, hedge_ids=lambda: "g1", observers=[watch])
        result = await start(engine)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"tasks left running: {others}"
        assert started, "the hedge never started"
        assert started[0] - began <= setup_bound(config, priced=True)
        return result, loop.time() - started[0]

    return run(main())


def _execute(
    venues: dict[str, HangingVenue], actions: Sequence[Action] = (), config: HedgeConfig | None = None
) -> tuple[ExecutionResult, float]:
    return _run(venues, lambda engine: engine.execute(LONG_A_SHORT_B), actions, config)


def _fill_entry(venue: ScriptedVenue, leg: int) -> Callable[[], object]:
    return lambda: venue.fill(venue.by_client[f"g1e{leg}n1"], D("1"))


def _fill_hedges(venue: ScriptedVenue) -> Callable[[], object]:
    def act() -> None:
        for order in venue.live_orders():
            if order.client_order_id.startswith("g1h"):
                venue.fill(order.order_id, order.quantity)

    return act


def _assert_venue_truth(result: ExecutionResult, venues: dict[str, HangingVenue]) -> None:
    """Each leg's venue position equals what the result says it traded; nothing left open;
    done means hedged within one lot, rolled back means flat."""
    for leg in result.legs:
        venue = venues[leg.venue]
        assert leg.side is not None
        signed = leg.side.sign * (leg.filled_quantity - leg.rolled_back_quantity)
        assert venue.positions[leg.symbol] == signed, (leg.venue, venue.positions[leg.symbol], signed)
        assert venue.live_orders() == [], venue.live_orders()
    if result.state == "done" and len(result.legs) > 1:
        assert abs(result.net_exposure) <= BTC.lot_size
    elif result.state == "done":  # a direct hedge: its target reached, within one lot
        leg = result.legs[0]
        assert abs(leg.target_quantity - leg.filled_quantity) < BTC.lot_size
    if result.state == "rolled_back":
        assert all(venue.positions["BTC"] == 0 for venue in venues.values())


def _direct_hedge(engine: HedgeEngine) -> Any:
    return engine.hedge([HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"))])


RUN_BOUND_EXECUTE = run_bound(HedgeConfig(), entry=True)
RUN_BOUND_HEDGE = run_bound(HedgeConfig(), entry=False)


# ---------------------------------------------------------------------- placements


@pytest.mark.parametrize("processed", [False, True], ids=["lost", "processed"])
def test_place_limit_that_never_returns_becomes_ambiguous_and_the_trigger_is_hedged(
    processed: bool,
) -> None:
    """Case 1: the first hedge order's place_limit never returns. After the place timeout it
    is an ambiguous outcome: the order is looked up (found when the venue acted, else a new
    one is sent) and the trigger's fill is hedged, once, as the venue shows."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    result, took = _execute(
        venues,
        [(0.5, _fill_entry(a, 0)), (0.5, lambda: b.hang("place", 1, processed=processed)),
         (4.0, _fill_hedges(b))],
    )
    assert b.hung["place"] == 1
    assert result.state == "done"
    assert result.legs[1].filled_quantity == D("1")
    assert b.positions["BTC"] == D("-1")
    assert took <= RUN_BOUND_EXECUTE
    _assert_venue_truth(result, venues)


def test_place_that_never_returns_does_not_outlive_the_place_timeout() -> None:
    """The hung placement is given up after exactly ``call_timeouts.place`` on the engine's
    clock: the lookup by client id follows at once, and the hung call itself was cancelled."""
    a, b = hanging_venues()
    config = HedgeConfig(call_timeouts=CallTimeouts(place=0.7))
    asked: list[float] = []
    original = b.order

    async def order(symbol: str, **kwargs: Any) -> OrderInfo:
        asked.append(asyncio.get_running_loop().time())
        return await original(symbol, **kwargs)

    b.order = order  # type: ignore[method-assign]
    sent: list[float] = []
    b.on_place = lambda info: sent.append(asyncio.get_running_loop().time())

    async def main() -> ExecutionResult:
        b.hang("place", 1)
        engine = HedgeEngine({"a": a, "b": b}, config, hedge_ids=lambda: "g1")
        return await _direct_hedge(engine)

    result = run(main())
    assert result.state == "done"
    # Sent at ~0.002 (after set-up reads), answered never; looked up 0.7 s later.
    first_lookup = asked[0]
    assert first_lookup == pytest.approx(0.7 + 0.002 + 0.001, abs=0.002)
    assert b.positions["BTC"] == D("-1")


def _hedge_phase(result: ExecutionResult) -> float:
    """Time from the trigger (the supervisor's move to ``targeting``) to the end."""
    begin = next(
        t.time for t in result.transitions if t.machine == "supervisor" and t.destination == "targeting"
    )
    return result.finished_at - begin if result.finished_at else result.transitions[-1].time - begin


@pytest.mark.parametrize("start", ["execute", "hedge"])
def test_every_placement_hanging_ends_within_the_bound_with_the_trigger_rolled_back(
    start: str,
) -> None:
    """Case 1, worst case: every placement on the hedge venue hangs (never processed). From
    the trigger on, the run still ends within budget + fallback + rollback + call timeouts,
    the trigger's fill is unwound and every venue is flat."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    if start == "execute":
        result, took = _execute(
            venues, [(0.5, _fill_entry(a, 0)), (0.5, lambda: b.hang("place", None))]
        )
        assert took <= RUN_BOUND_EXECUTE
    else:
        b.hang("place", None)
        result, took = _run(venues, _direct_hedge)
    assert b.hung["place"] >= 1
    assert result.state in ("rolled_back", "failed")
    _assert_venue_truth(result, venues)
    assert _hedge_phase(result) <= RUN_BOUND_HEDGE, (_hedge_phase(result), RUN_BOUND_HEDGE)


# ---------------------------------------------------------------------- cancels, reads


@pytest.mark.parametrize("processed", [False, True], ids=["lost", "processed"])
def test_cancel_that_never_returns_fails_after_its_timeout_and_the_hedge_ends(
    processed: bool,
) -> None:
    """Case 1: the first two cancels on the hedge venue (the entry order's, then the first
    hedge attempt's) never return. Each becomes a failed cancel after the cancel timeout; the
    machines ask again and the hedge ends done, hedged once, nothing left open."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    result, took = _execute(
        venues,
        [(0.0, lambda: b.hang("cancel", 2, processed=processed)), (0.5, _fill_entry(a, 0)),
         (9.0, _fill_hedges(b))],
    )
    assert b.hung["cancel"] == 2
    assert result.state == "done"
    assert took <= RUN_BOUND_EXECUTE
    _assert_venue_truth(result, venues)
    assert b.positions["BTC"] == D("-1")


def test_order_query_that_never_returns_does_not_stop_the_polls() -> None:
    """Case 1: the next five order lookups on the hedge venue never return; each fails after
    the query timeout and polling goes on: the fill is seen and the leg ends done."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    result, took = _execute(
        venues,
        [(0.5, _fill_entry(a, 0)), (0.5, lambda: b.hang("query", 5)), (1.0, _fill_hedges(b))],
    )
    assert b.hung["query"] == 5
    assert result.state == "done"
    assert took <= RUN_BOUND_EXECUTE
    _assert_venue_truth(result, venues)


def test_bbo_that_never_returns_sends_the_leg_to_its_market_fallback() -> None:
    """Case 1: every quote read on the hedge venue hangs. Each fails after the BBO timeout;
    when the budget is spent the leg hedges with a market order (which needs no quote)."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    result, _took = _execute(
        venues, [(0.5, _fill_entry(a, 0)), (0.5, lambda: b.hang("bbo", None))]
    )
    assert b.hung["bbo"] >= 2
    assert result.state == "done"
    assert [c["kind"] for c in b.placed()][-1] == "market"
    assert _hedge_phase(result) <= RUN_BOUND_HEDGE
    _assert_venue_truth(result, venues)


def test_position_read_that_never_returns_at_set_up_is_retried_within_its_bound() -> None:
    """Case 1, set-up: the first three baseline position reads hang; each is given up after
    the position timeout and asked again, and the hedge then runs normally."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    b.hang("position", 3)
    result, _took = _execute(venues, [(7.0, _fill_entry(a, 0)), (7.5, _fill_hedges(b))])
    assert b.hung["position"] == 3
    assert result.state == "done"
    _assert_venue_truth(result, venues)


def test_position_reads_that_never_return_refuse_the_hedge_before_anything_is_sent() -> None:
    """Every position read hangs: set-up gives up after its bounded retries with an error that
    says nothing was sent, and no order was placed on any venue."""
    from hedge_fsm import VenueError

    a, b = hanging_venues()
    b.hang("position", None)
    config = HedgeConfig()

    async def main() -> float:
        loop = asyncio.get_running_loop()
        engine = HedgeEngine({"a": a, "b": b}, config, hedge_ids=lambda: "g1")
        with pytest.raises(VenueError, match="nothing was sent"):
            await engine.execute(LONG_A_SHORT_B)
        return loop.time()

    took = run(main())
    assert took <= setup_bound(config)
    assert a.placed() == [] and b.placed() == []


def test_position_read_hanging_during_rollback_still_unwinds_the_trigger() -> None:
    """Case 1, rollback: the hedge venue refuses every order, so the trigger is unwound; the
    trigger venue's position reads hang twice meanwhile. Rollback ends within its bound and
    the trigger venue is flat."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 40)
    result, _took = _execute(
        venues, [(0.5, _fill_entry(a, 0)), (0.5, lambda: a.hang("position", 2))]
    )
    assert a.hung["position"] == 2
    assert result.state == "rolled_back"
    assert a.positions["BTC"] == 0
    assert _hedge_phase(result) <= RUN_BOUND_HEDGE
    _assert_venue_truth(result, venues)


# ---------------------------------------------------------------------- the bound itself


class CancelCounting(HangingVenue):
    """Counts the hung calls that were cancelled (a timed-out call must not leak)."""

    cancelled = 0

    async def _forever(self, operation: str) -> Any:
        try:
            return await super()._forever(operation)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def test_timed_out_call_is_cancelled_not_left_running() -> None:
    """Every hung call is cancelled when its timeout passes: as many cancellations as hangs,
    and no task of the engine outlives ``hedge`` (checked by the runner)."""
    a = CancelCounting("a", [BTC], {"BTC": btc_bbo()})
    b = CancelCounting("b", [BTC], {"BTC": btc_bbo()})
    b.hang("place", 1)
    b.hang("query", 2)
    b.hang("bbo", 1)
    result, _ = _run({"a": a, "b": b}, _direct_hedge)
    assert result.state == "done"
    assert sum(b.hung.values()) == 4
    assert b.cancelled == 4


class AnswersDespiteCancel(HangingVenue):
    """A venue whose next place_limit answers late, ignoring the first cancel it gets."""

    async def place_limit(self, *args: Any, **kwargs: Any) -> OrderInfo:
        if not getattr(self, "done_once", False):
            self.done_once = True
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                await asyncio.sleep(0.3)  # keeps going: the answer comes anyway
        return await super().place_limit(*args, **kwargs)


class EventLog:
    """Observer keeping (command id, command) and (cause, event) pairs."""

    def __init__(self) -> None:
        self.commands: list[tuple[int, Any]] = []
        self.events: list[tuple[int | None, Any]] = []

    def on_start(self, supervisor: Any) -> None:
        pass

    def on_command(self, hedge_id: str, route: Any, command: Any, command_id: int) -> None:
        self.commands.append((command_id, command))

    def on_event(self, hedge_id: str, route: Any, event: Any, cause: int | None) -> None:
        self.events.append((cause, event))

    def on_finish(self, *args: Any) -> None:
        pass


def test_a_call_that_answers_after_its_timeout_yields_exactly_one_event() -> None:
    """A venue that ignores the timeout's cancellation and acknowledges the order 0.3 s later:
    the command gets one outcome (the answer), never a timeout and an answer both, and the
    order is hedged once."""
    from hedge_fsm.machines.commands import PlaceLimit

    a = AnswersDespiteCancel("a", [BTC], {"BTC": btc_bbo()})
    b = AnswersDespiteCancel("b", [BTC], {"BTC": btc_bbo()})
    b.done_once = False
    log = EventLog()

    async def main() -> ExecutionResult:
        engine = HedgeEngine({"a": a, "b": b}, HedgeConfig(), hedge_ids=lambda: "g1",
                             observers=[log])
        return await _direct_hedge(engine)

    result = run(main())
    first = next(cid for cid, command in log.commands if isinstance(command, PlaceLimit))
    outcomes = [type(event).__name__ for cause, event in log.events if cause == first]
    assert outcomes == ["OrderAcked"]
    assert result.state == "done" and b.positions["BTC"] == D("-1")


class IgnoresCancellation(HangingVenue):
    """A broken venue whose order lookups never end and swallow every cancellation."""

    async def order(self, symbol: str, **kwargs: Any) -> OrderInfo:
        while getattr(self, "stubborn", False):
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                continue
        return await super().order(symbol, **kwargs)


def test_a_venue_that_swallows_cancellation_cannot_hang_the_hedge() -> None:
    """Lookups that never end and ignore their cancellation: the hedge still ends (its
    machines run on their own timers), and the end-of-hedge wait for those calls is bounded
    by the longest call timeout plus the grace, not forever."""
    a = IgnoresCancellation("a", [BTC], {"BTC": btc_bbo()})
    b = IgnoresCancellation("b", [BTC], {"BTC": btc_bbo()})
    config = HedgeConfig()

    async def main() -> tuple[ExecutionResult, float]:
        loop = asyncio.get_running_loop()
        b.stubborn = True
        engine = HedgeEngine({"a": a, "b": b}, config, hedge_ids=lambda: "g1")
        loop.call_at(1.0, _fill_hedges(b))
        result = await _direct_hedge(engine)
        took = loop.time()
        leftovers = asyncio.all_tasks() - {asyncio.current_task()}
        assert leftovers, "the broken venue's calls should still be out"
        b.stubborn = False  # the test cleans up what the broken venue kept alive
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        return result, took

    result, took = run(main())
    assert result.state in ("done", "rolled_back", "failed")
    assert took <= RUN_BOUND_HEDGE + config.call_timeouts.longest + 2 * CANCEL_GRACE


# ---------------------------------------------------------------------- order-rate guard


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (0.25, [0.0, 4.0, 8.0, 12.0]),
        (0.5, [0.0, 2.0, 4.0, 6.0]),
        (1.0, [0.0, 1.0, 2.0, 3.0]),
        (20.0, [0.0] * 20 + [0.05, 0.10, 0.15, 0.20]),
    ],
)
def test_order_rate_guard_allows_fractional_rates(rate: float, expected: list[float]) -> None:
    """A bucket of max(1, rate) tokens refilled at ``rate`` per second: below one action per
    second the first action still goes out at once and the next ones 1/rate apart (a bucket
    of ``rate`` < 1 tokens never held a whole token and slept forever)."""

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        guard = _OrderRateGuard(rate, LoopClock())
        times = []
        for _ in expected:
            await asyncio.wait_for(guard.acquire("b"), timeout=60.0)
            times.append(loop.time())
        return times

    assert run(main()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("rate", [0.25, 0.5, 1.0, 20.0])
def test_hedge_with_a_fractional_order_rate_ends(rate: float) -> None:
    """Case 1 (rate guard): with ``venue_order_rate`` below one per second a hedge still
    sends its orders and ends done; after two post-only refusals the third order fills, each
    order having waited its turn (1/rate apart when the burst is one)."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    b.script_place("BTC", Place("post_only"), Place("post_only"), Place("fill"))
    config = HedgeConfig(
        venue_order_rate=rate, opening=RetryPolicy(budget=30.0, max_attempts=8, backoff=0.05)
    )
    sent: list[float] = []
    original = b._place

    async def timed(args: dict[str, Any]) -> OrderInfo:
        sent.append(asyncio.get_running_loop().time())
        return await original(args)

    b._place = timed  # type: ignore[method-assign]

    async def main() -> ExecutionResult:
        engine = HedgeEngine(venues, config, hedge_ids=lambda: "g1")
        return await asyncio.wait_for(_direct_hedge(engine), timeout=600.0)

    result = run(main())
    assert result.state == "done"
    assert len(sent) == 3
    spacing = 1.0 / rate
    if rate < 2.0:  # a burst of one: each order waits its turn
        assert sent[2] - sent[0] >= 2 * spacing - 1e-6
    _assert_venue_truth(result, venues)


# ---------------------------------------------------------------------- case 7


def _strict_venue() -> HangingVenue:
    strict = Instrument(
        symbol="BTC", tick_size=D("0.1"), lot_size=D("0.001"), min_quantity=D("0.002"),
        min_notional=D("5"),
    )
    return HangingVenue("b", [strict], {"BTC": BBO(bid=D("100.0"), ask=D("100.2"))})


def _hedge_of(quantity: str) -> Callable[[HedgeEngine], Any]:
    target = HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=D(quantity))
    return lambda engine: engine.hedge([target])


def test_direct_hedge_below_the_min_notional_is_refused_before_anything_is_sent() -> None:
    """Case 7: a target of 0.01 BTC at a mid of 100.1 is 1.001 of notional, below the venue's
    5: refused at set-up, naming the value and the minimum, instead of ``done`` with nothing
    traded. Nothing is placed."""
    b = _strict_venue()

    async def main() -> None:
        await _hedge_of("0.01")(HedgeEngine({"b": b}, HedgeConfig()))

    with pytest.raises(InvalidValue, match=r"0\.01 .*below the venue's minimum notional 5") as caught:
        run(main())
    assert caught.value.field == "quantity"
    assert b.placed() == []


def test_direct_hedge_below_the_min_quantity_is_refused_before_anything_is_sent() -> None:
    """Case 7 (min quantity): a 0.001 target on a venue whose minimum is 0.002 is refused,
    naming both values; nothing is placed."""
    b = _strict_venue()

    async def main() -> None:
        await _hedge_of("0.001")(HedgeEngine({"b": b}, HedgeConfig()))

    with pytest.raises(InvalidValue, match=r"0\.001 .*below the minimum quantity 0\.002"):
        run(main())
    assert b.placed() == []


def test_direct_hedge_at_the_min_notional_is_hedged() -> None:
    """The boundary: 0.05 BTC at a mid of 100.1 is 5.005 of notional: accepted, hedged, and
    the venue shows the trade."""
    b = _strict_venue()
    venues = {"b": b}
    result, _ = _run(venues, _hedge_of("0.05"), [(1.0, _fill_hedges(b))])
    assert result.state == "done"
    assert result.legs[0].filled_quantity == D("0.05") and result.legs[0].success
    assert b.positions["BTC"] == D("-0.05")


# ---------------------------------------------------------------------- the property

@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    rate=st.sampled_from([0.0, 0.1, 0.3, 0.6, 1.0]),
    processed=st.floats(0.0, 1.0),
    hanging=st.sets(st.sampled_from(OPERATIONS), min_size=1),
    which=st.sampled_from(["a", "b", "both"]),
    fill_at=st.floats(0.2, 8.0),
    start=st.sampled_from(["execute", "hedge"]),
)
def test_any_venue_that_may_hang_any_call_ends_within_the_bound(
    seed: int,
    rate: float,
    processed: float,
    hanging: set[str],
    which: str,
    fill_at: float,
    start: str,
) -> None:
    """Invariant 2 (property): whichever calls of whichever venue hang, at any rate up to
    always, processed or not, ``execute`` and ``hedge`` return; set-up within its bound, the
    run within budget + fallback + rollback + call timeouts (the entry phase too for
    ``execute``), in a terminal state, with nothing of the engine left running."""
    a, b = hanging_venues()
    venues = {"a": a, "b": b}
    rng = random.Random(seed)
    for name in ("a", "b") if which == "both" else (which,):
        venue = venues[name]
        venue.hang_rng, venue.hang_rate, venue.processed_rate = rng, rate, processed
        venue.hang_operations = hanging
    config = HedgeConfig()
    if start == "execute":
        actions = [(fill_at, _fill_entry(a, 0)), (fill_at + 0.4, _fill_hedges(b))]
        try:
            result, took = _execute(venues, actions, config)
        except Exception as exc:  # refused at set-up (nothing sent) is an allowed end
            assert "nothing was sent" in str(exc), exc
            assert a.placed() == [] and b.placed() == []
            return
        assert took <= run_bound(config, entry=True, ambiguous="place" in hanging)
    else:
        try:
            result, took = _run(venues, _direct_hedge, [(fill_at, _fill_hedges(b))], config)
        except Exception as exc:
            assert "nothing was sent" in str(exc), exc
            assert b.placed() == []
            return
        assert took <= run_bound(config, entry=False, ambiguous="place" in hanging)
    assert result.state in ("done", "rolled_back", "failed", "cancelled")


class CountingClock(LoopClock):
    """The loop's clock, counting the timers armed on it."""

    def __init__(self) -> None:
        self.armed = 0

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        self.armed += 1
        return super().call_at(when, callback)


def test_a_call_answered_without_waiting_arms_no_timer_one_that_waits_arms_one() -> None:
    """The bound costs nothing on a venue that answers at once (zero latency: no timer is
    armed), and a call that has to wait is bounded by exactly one timer, cancelled after."""
    from hedge_fsm.engine import _within

    async def at_once() -> int:
        return 1

    async def later() -> int:
        await asyncio.sleep(0.5)
        return 2

    async def main() -> tuple[int, int, int, int]:
        clock = CountingClock()
        first = await _within(clock, at_once(), 1.0, "v", "op")
        armed_at_once = clock.armed
        second = await _within(clock, later(), 1.0, "v", "op")
        return first, armed_at_once, second, clock.armed

    assert run(main()) == (1, 0, 2, 1)
