"""HedgeEngine end to end on a scripted venue, in virtual time.

Every scenario ends with the same checks: no order left open on any venue, no
task left running after ``execute`` returned, and the invariants (docs/design.md)
(``check_supervisor``) hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal as D

import attrs
import pytest

from hedge_fsm import (
    BBO,
    EntryHandoff,
    ExecutionResult,
    HedgeConfig,
    HedgeEngine,
    HedgeTarget,
    Instrument,
    InvalidValue,
    LegSpec,
    PartialEntryPolicy,
    RetryPolicy,
    Side,
    TriggerFill,
)
from hedge_fsm.invariants import check_order_command, check_supervisor
from hedge_fsm.machines.commands import Command, PlaceLimit, PlaceMarket
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, Route
from hedge_fsm.sim.loop import run
from tests.scripted import Cancel, Place, ScriptedVenue

BTC = Instrument(
    symbol="BTC",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    min_notional=D("0"),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)
PEPE = Instrument(  # 1 contract = 1 PEPE
    symbol="PEPE",
    tick_size=D("0.0000001"),
    lot_size=D("1000"),
    min_quantity=D("1000"),
    min_notional=D("0"),
)
KPEPE = Instrument(  # 1 contract = 1000 PEPE
    symbol="kPEPE",
    tick_size=D("0.0001"),
    lot_size=D("1"),
    min_quantity=D("1"),
    min_notional=D("0"),
    multiplier=D("1000"),
)


def btc_bbo() -> BBO:
    return BBO(bid=D("100.0"), ask=D("100.2"), bid_size=D("5"), ask_size=D("5"))


def two_venues() -> tuple[ScriptedVenue, ScriptedVenue]:
    return (
        ScriptedVenue("a", [BTC], {"BTC": btc_bbo()}),
        ScriptedVenue("b", [BTC], {"BTC": btc_bbo()}),
    )


LONG_A_SHORT_B = [
    LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("1"), price=D("100.0")),
    LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"), price=D("100.3")),
]

Action = tuple[float, Callable[[], object]]


class InvariantWatch:
    """An engine observer that checks invariant 7 on every order and keeps the supervisor."""

    def __init__(self) -> None:
        self.supervisor: HedgeSupervisor | None = None
        self.problems: list[str] = []

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        self.supervisor = supervisor

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        if isinstance(command, PlaceLimit | PlaceMarket) and self.supervisor is not None:
            plan = self.supervisor.plans[command.leg]
            bbo = plan.hedge.last_bbo if route.machine == "leg" and plan.hedge else None
            self.problems += check_order_command(command, plan.instrument, bbo)

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        pass

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None:
        pass


def execute(
    venues: dict[str, ScriptedVenue],
    legs: Sequence[LegSpec],
    actions: Sequence[Action] = (),
    config: HedgeConfig | None = None,
    handoff: EntryHandoff = EntryHandoff.CANCEL,
) -> ExecutionResult:
    """Run ``engine.execute`` in virtual time with scheduled venue actions, then check the end.

    The scripts here fill the hedge leg's own orders (``h1h1n...``): they follow the
    cancel-first handoff unless ``handoff`` says otherwise (adopt: tests/test_adopt.py).
    """
    config = attrs.evolve(config or HedgeConfig(), entry_handoff=handoff)

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        engine = HedgeEngine(
            venues, config or HedgeConfig(), hedge_ids=lambda: "h1", observers=[watch]
        )
        result = await engine.execute(legs)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"tasks left running after execute: {others}"
        return result

    watch = InvariantWatch()
    result = run(main())
    for venue in venues.values():
        assert venue.live_orders() == [], f"open orders left on {venue.name}: {venue.live_orders()}"
    assert watch.supervisor is not None
    positions = [
        venues[p.venue].positions[p.instrument.symbol] for p in watch.supervisor.plans
    ]
    assert check_supervisor(watch.supervisor, positions) + watch.problems == []
    return result


def fill_entry(venue: ScriptedVenue, leg: int, quantity: D = D("1")) -> Callable[[], object]:
    return lambda: venue.fill(venue.by_client[f"h1e{leg}n1"], quantity)


def fill_live(venue: ScriptedVenue, prefix: str, quantity: D | None = None) -> Callable[[], object]:
    def act() -> None:
        for order in venue.live_orders():
            if order.client_order_id.startswith(prefix):
                venue.fill(order.order_id, quantity if quantity is not None else order.quantity)

    return act


def net_position(venues: dict[str, ScriptedVenue], symbol_multipliers: dict[str, D]) -> D:
    return sum(
        (
            venue.positions[symbol] * multiplier
            for venue in venues.values()
            for symbol, multiplier in symbol_multipliers.items()
        ),
        D(0),
    )


def test_clean_trigger_then_maker_hedge() -> None:
    """The long leg fills; the short's entry is cancelled; the hedge fills as maker at break-even."""
    a, b = two_venues()
    result = execute(
        {"a": a, "b": b},
        LONG_A_SHORT_B,
        actions=[(0.5, fill_entry(a, 0)), (0.9, fill_live(b, "h1h1n"))],
    )
    assert result.state == "done"
    hedge = result.legs[1]
    assert hedge.filled_quantity == D("1")
    assert hedge.maker_quantity == D("1") and hedge.taker_quantity == D("0")
    # Trigger bought at 100.0 paying taker 5 bps (no liquidity reported); the hedge pays maker 2 bps:
    # break-even sell = 100.0 * 1.0005 / 0.9998 = 100.070..., rounded up to the 0.1 tick = 100.1.
    first_hedge = [c for c in b.placed() if c["client_order_id"].startswith("h1h1n")][0]
    assert first_hedge["price"] == D("100.1")
    assert first_hedge["post_only"] is True
    assert result.net_exposure == D(0)
    assert a.positions["BTC"] == D("1") and b.positions["BTC"] == D("-1")
    # The cancelled entry order of the short leg is in the review trail.
    assert ("cancelling", "cancel_confirmed", "targeting") in [
        (t.source, t.trigger, t.destination) for t in result.transitions if t.machine == "supervisor"
    ]


def test_partial_fills_then_market_fallback() -> None:
    """Partial maker fills, then the budget runs out: the market order hedges the exact rest."""
    a, b = two_venues()
    config = HedgeConfig(opening=RetryPolicy(max_attempts=2, budget=1.0, attempt_wait=0.4))
    result = execute(
        {"a": a, "b": b},
        LONG_A_SHORT_B,
        actions=[(0.5, fill_entry(a, 0)), (0.6, fill_live(b, "h1h1n", D("0.3")))],
        config=config,
    )
    assert result.state == "done"
    hedge = result.legs[1]
    assert hedge.filled_quantity == D("1")
    markets = [c for c in b.placed() if c["kind"] == "market"]
    assert len(markets) == 1
    assert markets[0]["quantity"] == D("0.7")
    assert hedge.taker_quantity == D("0.7") and hedge.maker_quantity == D("0.3")
    assert hedge.execution_mode == "market"
    assert b.positions["BTC"] == D("-1")


def test_post_only_rejects_escalate_the_ladder() -> None:
    """Two post-only rejects: the third attempt is the touch, a marketable non-post-only limit."""
    a, b = two_venues()
    b.script_place("BTC", Place("auto"), Place("post_only"), Place("post_only"))
    config = HedgeConfig(opening=RetryPolicy(inside_tick_attempts=2))
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0))], config=config)
    assert result.state == "done"
    hedges = [c for c in b.placed() if c["client_order_id"].startswith("h1h1n")]
    assert [c["post_only"] for c in hedges] == [True, True, False]
    assert hedges[2]["price"] == D("100.0")  # sell at the bid
    assert len({c["client_order_id"] for c in hedges}) == 3
    assert result.legs[1].filled_quantity == D("1")
    assert result.legs[1].attempts_used == 3


def test_fill_on_earlier_order_after_cancel_is_not_over_hedged() -> None:
    """A fill lands on the first hedge order while its cancel is in flight: the next order is smaller."""
    a, b = two_venues()
    config = HedgeConfig(opening=RetryPolicy(attempt_wait=0.3))
    b.script_cancel("BTC", Cancel("normal"), Cancel("fill_first", D("0.4")))
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0))], config=config)
    assert result.state == "done"
    hedges = [c for c in b.placed() if c["client_order_id"].startswith("h1h1n")]
    assert hedges[0]["quantity"] == D("1")
    assert hedges[1]["quantity"] == D("0.6")
    assert result.legs[1].filled_quantity == D("1")
    assert b.positions["BTC"] == D("-1")


def test_ambiguous_placement_that_created_the_order_is_not_duplicated() -> None:
    """The hedge placement times out but the order exists: it is found by client id, never resent."""
    a, b = two_venues()
    b.script_place("BTC", Place("auto"), Place("ambiguous_created"))
    result = execute(
        {"a": a, "b": b},
        LONG_A_SHORT_B,
        actions=[(0.5, fill_entry(a, 0)), (0.8, fill_live(b, "h1h1n"))],
    )
    assert result.state == "done"
    hedges = [c for c in b.placed() if c["client_order_id"].startswith("h1h1n")]
    assert len(hedges) == 1
    lookups = [args for op, args in b.calls if op == "order" and args["client_order_id"] == "h1h1n0"]
    assert lookups, "the ambiguous order was never looked up by client id"
    assert result.legs[1].filled_quantity == D("1")
    assert b.positions["BTC"] == D("-1")


def test_unhedgeable_leg_rolls_back_on_the_correct_side() -> None:
    """Every hedge order is refused: the filled long is sold back reduce-only and legs end flat."""
    a, b = two_venues()
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 20)
    config = HedgeConfig(opening=RetryPolicy(max_attempts=3))
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0))], config=config)
    assert result.state == "rolled_back"
    rollbacks = [c for c in a.placed() if c["client_order_id"].startswith("h1r0n")]
    assert len(rollbacks) == 1
    assert rollbacks[0]["side"] is Side.SELL
    assert rollbacks[0]["reduce_only"] is True
    assert rollbacks[0]["quantity"] == D("1")
    assert a.positions["BTC"] == D(0) and b.positions["BTC"] == D(0)
    assert result.legs[0].rolled_back_quantity == D("1")
    assert result.net_exposure == D(0)


def test_rollback_that_cannot_flatten_fails_with_the_residual() -> None:
    """Hedge refused and the rollback market order only half fills: ``failed``, residual reported."""
    a, b = two_venues()
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 20)
    a.market_fill_ratio = D("0.5")
    config = HedgeConfig(opening=RetryPolicy(max_attempts=2), rollback_attempts=1)
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0))], config=config)
    assert result.state == "failed"
    assert result.error_message is not None
    assert "residual" in result.error_message and "0.5" in result.error_message
    assert result.net_exposure == D("0.5")
    assert a.positions["BTC"] == D("0.5")


@pytest.mark.parametrize("handoff", list(EntryHandoff))
def test_both_legs_filled_at_once_is_done_without_hedging(handoff: EntryHandoff) -> None:
    """Both entries fill before the next poll: balanced, nothing placed beyond the entries.

    Cancel-first: the second entry's cancel finds it filled (both legs end as entries).
    Adopt: the second entry is handed to its leg, whose first poll finds it filled (``done``).
    """
    a, b = two_venues()
    result = execute(
        {"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.3, fill_entry(a, 0)), (0.3, fill_entry(b, 1))],
        handoff=handoff,
    )
    assert result.state == "done"
    second = "entry" if handoff is EntryHandoff.CANCEL else "done"
    assert [leg.state for leg in result.legs] == ["entry", second]
    assert len(a.placed()) == 1 and len(b.placed()) == 1
    assert result.net_exposure == D(0)


def test_entry_timeout_without_fills_is_cancelled() -> None:
    """Nothing fills before the entry timeout: every entry order is cancelled, nothing traded."""
    a, b = two_venues()
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, config=HedgeConfig(entry_timeout=2.0))
    assert result.state == "cancelled"
    assert all(leg.filled_quantity == 0 for leg in result.legs)
    assert result.transitions[-1].time >= 2.0


def test_entry_timeout_with_partial_fill_hedges_to_the_largest_fill() -> None:
    """Policy hedge: the long filled 0.4 by the timeout, so the short is hedged to 0.4, not 1."""
    a, b = two_venues()
    result = execute(
        {"a": a, "b": b},
        LONG_A_SHORT_B,
        actions=[(0.5, fill_entry(a, 0, D("0.4"))), (2.5, fill_live(b, "h1h1n"))],
        config=HedgeConfig(entry_timeout=2.0, partial_entry_policy=PartialEntryPolicy.HEDGE),
    )
    assert result.state == "done"
    assert result.legs[0].filled_quantity == D("0.4")
    assert result.legs[1].filled_quantity == D("0.4")
    assert result.legs[1].target_quantity == D("0.4")


def test_entry_timeout_with_partial_fill_rolls_back_under_the_rollback_policy() -> None:
    """Policy rollback: the partial long is sold back and the legs end flat."""
    a, b = two_venues()
    result = execute(
        {"a": a, "b": b},
        LONG_A_SHORT_B,
        actions=[(0.5, fill_entry(a, 0, D("0.4")))],
        config=HedgeConfig(entry_timeout=2.0, partial_entry_policy=PartialEntryPolicy.ROLLBACK),
    )
    assert result.state == "rolled_back"
    assert a.positions["BTC"] == D(0)


def test_thousand_x_multiplier_leg_against_one_x_leg() -> None:
    """kPEPE (1000 PEPE per contract) hedges 20,000 PEPE with 20 contracts; break-even per token."""
    a = ScriptedVenue("a", [PEPE], {"PEPE": BBO(bid=D("0.0000100"), ask=D("0.0000102"))})
    b = ScriptedVenue("b", [KPEPE], {"kPEPE": BBO(bid=D("0.0100"), ask=D("0.0103"))})
    legs = [
        LegSpec(venue="a", symbol="PEPE", side=Side.BUY, quantity=D("20000"), price=D("0.0000100")),
        LegSpec(venue="b", symbol="kPEPE", side=Side.SELL, quantity=D("20"), price=D("0.0103")),
    ]
    config = HedgeConfig(break_even_include_fees=False)
    result = execute(
        {"a": a, "b": b},
        legs,
        actions=[(0.5, fill_entry(a, 0, D("20000"))), (0.9, fill_live(b, "h1h1n"))],
        config=config,
    )
    assert result.state == "done"
    hedge = [c for c in b.placed() if c["client_order_id"].startswith("h1h1n")][0]
    assert hedge["quantity"] == D("20")
    # Break-even per token: 0.0000100 PEPE -> 0.0100 per kPEPE contract; it must be a passive
    # sell above the 0.0100 bid, so the ladder prices one tick inside: 0.0101 (>= 0.0100).
    assert hedge["price"] >= D("0.0100")
    assert result.net_exposure == D(0)
    assert a.positions["PEPE"] * 1 + b.positions["kPEPE"] * 1000 == D(0)


def test_direct_market_hedge_skips_nothing_and_records_partials_for_rollback() -> None:
    """engine.hedge(market_only=True): one market order per leg; a partial fill is rolled back."""
    a, b = two_venues()
    b.market_fill_ratio = D("0.5")

    def only_once(order: object) -> None:
        b.market_fill_ratio = None  # the thin book refills: the rollback order fills fully

    b.on_place = only_once

    async def main() -> ExecutionResult:
        engine = HedgeEngine({"a": a, "b": b}, HedgeConfig(), hedge_ids=lambda: "h2")
        return await engine.hedge(
            [
                HedgeTarget(venue="a", symbol="BTC", side=Side.BUY, quantity=D("1")),
                HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1")),
            ],
            market_only=True,
        )

    result = run(main())
    assert [c["kind"] for c in a.placed()][0] == "market"
    assert result.legs[1].state == "rollback"
    assert result.state == "rolled_back"
    assert a.positions["BTC"] == D(0) and b.positions["BTC"] == D(0)


def test_direct_hedge_uses_break_even_from_the_given_trigger() -> None:
    """engine.hedge with a trigger fill prices attempt 0 at break-even."""
    a, b = two_venues()

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        loop.call_at(0.3, fill_live(b, "h3h0n"))
        engine = HedgeEngine({"a": a, "b": b}, HedgeConfig(break_even_include_fees=False),
                             hedge_ids=lambda: "h3")
        return await engine.hedge(
            [HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"))],
            trigger=TriggerFill(side=Side.BUY, price=D("100.15")),
        )

    result = run(main())
    assert result.state == "done"
    # Break-even sell for a 100.15 buy, rounded up to the tick: 100.2.
    assert b.placed()[0]["price"] == D("100.2")


def _second(venue: str, side: Side, price: str) -> LegSpec:
    return LegSpec(venue=venue, symbol="BTC", side=side, quantity=D("1"), price=D(price))


@pytest.mark.parametrize(
    ("legs", "message"),
    [
        ([LONG_A_SHORT_B[0], _second("x", Side.SELL, "1")], "unknown venue 'x'"),
        ([LONG_A_SHORT_B[0], LONG_A_SHORT_B[0]], "appears twice"),
        ([LONG_A_SHORT_B[0], _second("b", Side.BUY, "100.0")], "do not offset"),
        ([LONG_A_SHORT_B[0], _second("b", Side.SELL, "100.05")], "tick size"),
    ],
)
def test_inconsistent_legs_are_refused_before_any_order(legs: list[LegSpec], message: str) -> None:
    """Bad leg sets raise InvalidValue naming the problem, and no order is sent."""
    a, b = two_venues()

    async def main() -> None:
        await HedgeEngine({"a": a, "b": b}).execute(legs)

    with pytest.raises(InvalidValue, match=message):
        run(main())
    assert a.placed() == [] and b.placed() == []


class StreamingVenue(ScriptedVenue):
    """A scripted venue that also pushes every fill on an order stream."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.updates: asyncio.Queue[object] | None = None

    @property
    def supports_order_updates(self) -> bool:
        return True

    async def order_updates(self, symbol: str):  # type: ignore[no-untyped-def]
        self.updates = asyncio.Queue()
        while True:
            order = await self.updates.get()
            yield order

    def fill(self, order_id: str, quantity: D, price: D | None = None) -> object:  # type: ignore[override]
        order = super().fill(order_id, quantity, price)
        if self.updates is not None:
            self.updates.put_nowait(order)
        return order


def test_a_pushed_fill_is_acted_on_without_waiting_for_the_next_poll() -> None:
    """With an order stream, the hedge leg ends at the fill, not at the next (slow) poll."""
    a, _ = two_venues()
    b = StreamingVenue("b", [BTC], {"BTC": btc_bbo()})
    config = HedgeConfig(opening=RetryPolicy(poll_interval=1.0, attempt_wait=5.0), entry_poll_interval=1.0)
    result = execute(
        {"a": a, "b": b},
        LONG_A_SHORT_B,
        actions=[(0.5, fill_entry(a, 0)), (1.6, fill_live(b, "h1h1n"))],
        config=config,
    )
    assert result.state == "done"
    done = next(t for t in result.transitions if t.machine == "leg" and t.destination == "done")
    # Polls would only see the fill at the next poll, up to a second later.
    assert 1.6 <= done.time < 1.61
    assert done.trigger == "order_updated"
