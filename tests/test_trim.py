"""Trim before unwind: a hedge leg a venue minimum leaves short is balanced on the trigger leg.

Every test runs the engine end to end on scripted venues in virtual time
(``tests.test_engine.execute``: no order left open, no task left running,
invariants hold) and then asserts venue truth: each venue's position is what the
result says the leg traded (fills, minus unwind and trim). Expected costs are
worked out by hand in each docstring from the scripted prices and fees.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

from hedge_fsm import BBO, ExecutionResult, HedgeConfig, Instrument, LegSpec, OrderInfo, Side
from hedge_fsm.machines.supervisor import SUPERVISOR_EDGES
from tests.scripted import Place, ScriptedVenue
from tests.test_engine import execute, fill_entry

ZERO = D(0)


def btc(min_notional: str) -> Instrument:
    """A 1-token contract at about 100 USDT, with 2 bps maker and 5 bps taker fees."""
    return Instrument(
        symbol="BTC", tick_size=D("0.1"), lot_size=D("0.01"), min_quantity=D("0.01"),
        min_notional=D(min_notional), maker_fee=D("0.0002"), taker_fee=D("0.0005"),
    )


BOOK = BBO(bid=D("100.0"), ask=D("100.2"), bid_size=D("5"), ask_size=D("5"))

# 2 BTC long on a at 100.0 (200 USDT), 2 BTC short on b at 100.2.
LEGS = [
    LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("2"), price=D("100.0")),
    LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("2"), price=D("100.2")),
]


def venues(trigger_min_notional: str, hedge_min_notional: str = "10") -> dict[str, ScriptedVenue]:
    return {
        "a": ScriptedVenue("a", [btc(trigger_min_notional)], {"BTC": BOOK}),
        "b": ScriptedVenue("b", [btc(hedge_min_notional)], {"BTC": BOOK}),
    }


def seven_usdt_short(pair: dict[str, ScriptedVenue], config: HedgeConfig | None = None,
                     legs: Sequence[LegSpec] = LEGS, hedge_fill: str = "1.93") -> ExecutionResult:
    """b's entry fills 1.93 of 2 first, then a's entry fills completely (the trigger): the
    hedge leg's remainder, 0.07 BTC, is 7 USDT, below b's 10 USDT minimum notional."""
    return execute(
        pair, legs,
        [(0.05, fill_entry(pair["b"], 1, D(hedge_fill))), (0.1, fill_entry(pair["a"], 0, legs[0].quantity))],
        config,
    )


def assert_venue_truth(pair: dict[str, ScriptedVenue], result: ExecutionResult,
                       legs: Sequence[LegSpec] = LEGS) -> None:
    """Each venue holds what its leg's result says it traded, net of unwinds and trims."""
    for spec, leg in zip(legs, result.legs, strict=True):
        traded = leg.filled_quantity - leg.rolled_back_quantity - leg.trimmed_quantity
        assert pair[spec.venue].positions[spec.symbol] == spec.side.sign * traded, spec.venue
        assert pair[spec.venue].live_orders() == []


def test_trim_replaces_the_unwind_of_a_200_usdt_position_over_a_7_usdt_remainder() -> None:
    """The issue's case: 7 USDT the hedge venue refuses used to unwind all 200 USDT; now the
    trigger leg sells 0.07 BTC back (7 USDT >= a's 5 USDT minimum) and the hedge is done, balanced.

    Costs by hand (marks: a 100.0, b 100.2). Entry a: 2 @ 100.0 maker, fee 2 x 100.0 x 0.0002
    = 0.04. Entry b: 1.93 @ 100.2 maker, fee 1.93 x 100.2 x 0.0002 = 0.0386772. Trim: a market
    sell of 0.07 at the bid 100.0, taker fee 0.07 x 100.0 x 0.0005 = 0.0035, no slippage: trim
    cost 0.0035, 5 bps of 7 USDT. Total 0.0821772 on a basis of 2 x 100.0 = 200: 4.10886 bps.
    """
    pair = venues(trigger_min_notional="5")
    result = seven_usdt_short(pair)

    assert result.state == "done", result.error_message
    assert result.trimmed is True
    assert result.net_exposure == ZERO
    trigger, hedge = result.legs
    assert trigger.rolled_back_quantity == ZERO and hedge.rolled_back_quantity == ZERO
    assert trigger.trimmed_quantity == D("0.07")
    assert trigger.trim_average_price == D("100.0")
    assert trigger.trim_fees == D("0.0035")
    assert trigger.trim_cost == D("0.0035")
    assert trigger.trim_cost_bps == D("5")
    assert hedge.trimmed_quantity == ZERO and hedge.trim_cost == ZERO
    assert trigger.entry_cost == D("0.04")
    assert hedge.entry_cost == D("0.0386772")
    assert result.cost_basis == D("200.0")
    assert result.trim_cost == D("0.0035")
    assert result.unwind_cost == ZERO
    assert result.total_cost == D("0.0821772")
    assert result.total_cost_bps == D("4.10886")
    assert result.total_fees == D("0.0821772")
    assert pair["a"].positions["BTC"] == D("1.93") and pair["b"].positions["BTC"] == D("-1.93")
    assert_venue_truth(pair, result)
    # Reduce-only: the trim can only take back what the trigger bought.
    trim = pair["a"].placed()[-1]
    assert trim["kind"] == "market" and trim["side"] is Side.SELL and trim["reduce_only"] is True


def test_without_trim_the_7_usdt_remainder_unwinds_everything() -> None:
    """``trim_before_unwind=False`` keeps the earlier behaviour: the whole position is rolled
    back (this is what the trim replaces), and the result prices that unwind.

    Unwind by hand: a sells 2 at the bid 100.0 (mark 100.0, no slippage), taker fee 0.1: cost
    0.1, 5 bps of 200. b buys 1.93 at the ask 100.2 (mark 100.2), fee 1.93 x 100.2 x 0.0005 =
    0.096693, 5 bps. Total 0.04 + 0.0386772 + 0.1 + 0.096693 = 0.2753702 on 200: 13.76851 bps.
    """
    pair = venues(trigger_min_notional="5")
    result = seven_usdt_short(pair, HedgeConfig(trim_before_unwind=False))

    assert result.state == "rolled_back"
    assert result.trimmed is False
    trigger, hedge = result.legs
    assert trigger.rolled_back_quantity == D("2") and hedge.rolled_back_quantity == D("1.93")
    assert trigger.unwind_average_price == D("100.0") and hedge.unwind_average_price == D("100.2")
    assert trigger.unwind_cost == D("0.1") and trigger.unwind_cost_bps == D("5")
    assert hedge.unwind_fees == D("0.096693") and hedge.unwind_cost_bps == D("5")
    assert result.unwind_cost == D("0.196693")
    assert result.total_cost == D("0.2753702")
    assert result.total_cost_bps == D("13.76851")
    assert pair["a"].positions["BTC"] == ZERO and pair["b"].positions["BTC"] == ZERO
    assert_venue_truth(pair, result)


def test_a_trim_below_the_trigger_venues_own_minimum_rolls_back_as_before() -> None:
    """7 USDT is below a's minimum too (10): no trim is placeable, so the hedge unwinds, and
    no trim order is ever sent."""
    pair = venues(trigger_min_notional="10")
    result = seven_usdt_short(pair)

    assert result.state == "rolled_back"
    assert result.trimmed is False
    assert "cannot be hedged (venue minimums)" in (result.error_message or "")
    assert not any(cid.startswith("h1t") for cid in pair["a"].by_client)
    assert pair["a"].positions["BTC"] == ZERO and pair["b"].positions["BTC"] == ZERO
    assert_venue_truth(pair, result)


def test_a_trim_the_venue_refuses_rolls_back_what_cannot_be_balanced() -> None:
    """The trigger venue refuses the trim order: the supervisor leaves ``trimming`` for
    ``rolling_back`` and every leg ends flat; the error says why."""
    pair = venues(trigger_min_notional="5")
    pair["a"].script_place("BTC", Place("auto"), Place("reject"))  # the entry rests; the trim is refused
    result = seven_usdt_short(pair)

    assert result.state == "rolled_back"
    assert result.trimmed is False
    assert "the trim left net exposure 0.07 tokens" in (result.error_message or "")
    moves = [(t.source, t.destination) for t in result.transitions if t.machine == "supervisor"]
    assert ("hedging", "trimming") in moves and ("trimming", "rolling_back") in moves
    assert pair["a"].positions["BTC"] == ZERO and pair["b"].positions["BTC"] == ZERO
    assert_venue_truth(pair, result)


def test_an_ambiguous_trim_is_looked_up_and_its_fill_counted() -> None:
    """The trim's placement times out after the venue took it: it is possibly live, looked up
    by client id (never sent twice), found filled, and the hedge ends done and balanced."""
    pair = venues(trigger_min_notional="5")
    a = pair["a"]
    a.script_place("BTC", Place("auto"), Place("ambiguous_created"))

    def fill_the_trim(order: OrderInfo) -> None:
        if order.client_order_id.startswith("h1t"):
            a.fill(order.order_id, order.quantity, D("100.0"))  # a market order executes at once

    a.on_place = fill_the_trim
    result = seven_usdt_short(pair)

    assert result.state == "done", result.error_message
    assert result.legs[0].trimmed_quantity == D("0.07")
    trims = [args for args in pair["a"].placed() if args["client_order_id"].startswith("h1t")]
    assert len(trims) == 1
    assert ("order", "h1t0n2") in [(op, args.get("client_order_id")) for op, args in pair["a"].calls]
    assert_venue_truth(pair, result)


def test_a_trim_converts_tokens_through_the_contract_multipliers() -> None:
    """Trigger: 20 contracts of X1000 (1000 tokens each, lot 0.1) at 10.00: 200 USDT. Hedge:
    20,000 X (1 token, lot 100) of which 19,250 fill at entry; the 750 left (7.5 USDT) is below
    b's 10 USDT minimum. 750 tokens are 0.75 X1000 contracts, floored to the lot: the trim sells
    0.7 (7 USDT >= 5), leaving 50 tokens, within one lot of the coarsest leg (100 tokens)."""
    x1000 = Instrument(symbol="X1000", tick_size=D("0.01"), lot_size=D("0.1"), min_quantity=D("0.1"),
                       min_notional=D("5"), multiplier=D("1000"))
    x = Instrument(symbol="X", tick_size=D("0.00001"), lot_size=D("100"), min_quantity=D("100"),
                   min_notional=D("10"))
    pair = {
        "a": ScriptedVenue("a", [x1000], {"X1000": BBO(bid=D("10.00"), ask=D("10.02"))}),
        "b": ScriptedVenue("b", [x], {"X": BBO(bid=D("0.01000"), ask=D("0.01002"))}),
    }
    legs = [
        LegSpec(venue="a", symbol="X1000", side=Side.BUY, quantity=D("20"), price=D("10.00")),
        LegSpec(venue="b", symbol="X", side=Side.SELL, quantity=D("20000"), price=D("0.01002")),
    ]
    result = seven_usdt_short(pair, legs=legs, hedge_fill="19250")

    assert result.state == "done", result.error_message
    assert result.legs[0].trimmed_quantity == D("0.7")
    assert result.net_exposure == D("50")  # 20 x 1000 - 0.7 x 1000 - 19,250
    assert pair["a"].positions["X1000"] == D("19.3") and pair["b"].positions["X"] == D("-19250")
    assert_venue_truth(pair, result, legs)


def test_every_trimming_edge_that_exists_for_a_venue_quirk_says_why() -> None:
    """The trimming block's edges out of the state carry a reason (STYLE: surprising edges)."""
    leaving = [e for e in SUPERVISOR_EDGES if e.source == "trimming" and e.dest == "rolling_back"]
    entering = [e for e in SUPERVISOR_EDGES if e.dest == "trimming"]
    assert leaving and entering
    assert all(e.reason for e in leaving + entering)


def test_remainders_below_the_minimum_quantity_are_trimmed_at_targeting() -> None:
    """Three legs: 2 BTC long on a, 1 short on each of b and c, whose venues accept no order
    below 0.1. b and c fill 0.93 each at entry: their 0.07 remainders are nothing a leg machine
    could place, yet 0.14 together is more than one lot of the coarsest leg (0.1). So the
    supervisor goes from ``targeting`` straight to ``trimming`` (no leg machine runs) and the
    trigger gives back 0.14 (14 USDT >= a's 5)."""
    coarse = Instrument(symbol="BTC", tick_size=D("0.1"), lot_size=D("0.01"),
                        min_quantity=D("0.1"), min_notional=ZERO)
    trio = {
        "a": ScriptedVenue("a", [btc("5")], {"BTC": BOOK}),
        "b": ScriptedVenue("b", [coarse], {"BTC": BOOK}),
        "c": ScriptedVenue("c", [coarse], {"BTC": BOOK}),
    }
    legs = [
        LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("2"), price=D("100.0")),
        LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"), price=D("100.2")),
        LegSpec(venue="c", symbol="BTC", side=Side.SELL, quantity=D("1"), price=D("100.2")),
    ]
    result = execute(trio, legs, [
        (0.05, fill_entry(trio["b"], 1, D("0.93"))),
        (0.05, fill_entry(trio["c"], 2, D("0.93"))),
        (0.1, fill_entry(trio["a"], 0, D("2"))),
    ])

    assert result.state == "done", result.error_message
    moves = [(t.source, t.destination) for t in result.transitions if t.machine == "supervisor"]
    assert ("targeting", "trimming") in moves
    assert not any(t.machine == "leg" for t in result.transitions)
    assert result.legs[0].trimmed_quantity == D("0.14")
    assert result.net_exposure == ZERO
    assert_venue_truth(trio, result, legs)


def test_a_trim_lost_on_its_way_is_never_resent_and_the_hedge_unwinds_once_it_is_provably_dead() -> None:
    """The trim's placement times out and never reached the venue: it stays possibly live
    (looked up, its quantity never sent again) until its horizon has passed, then the hedge
    unwinds what the trim could not balance; both legs end flat, one trim order sent."""
    pair = venues(trigger_min_notional="5")
    pair["a"].script_place("BTC", Place("auto"), Place("ambiguous_lost"))
    config = HedgeConfig(ambiguous_horizon=3.0)
    result = seven_usdt_short(pair, config)

    assert result.state == "rolled_back", result.error_message
    trims = [args for args in pair["a"].placed() if args["client_order_id"].startswith("h1t")]
    assert len(trims) == 1
    lookups = [args for op, args in pair["a"].calls
               if op == "order" and args.get("client_order_id") == "h1t0n2"]
    assert lookups, "the lost trim was never looked up"
    assert result.finished_at >= 0.1 + config.ambiguous_horizon  # waited until provably dead
    assert pair["a"].positions["BTC"] == ZERO and pair["b"].positions["BTC"] == ZERO
    assert_venue_truth(pair, result)


def test_a_direct_hedge_is_priced_against_the_trigger_per_token() -> None:
    """``engine.hedge`` with a trigger bought at 125.0: the hedge's intended price is 125.0
    per token. A market sell of 1 BTC at the bid 100.0 (taker, 5 bps): slippage
    -1 x (100.0 - 125.0) x 1 = 25.0, fee 0.05, hedge cost 25.05 on a basis of 1 x 125.0:
    2004 bps."""
    import asyncio

    from hedge_fsm import HedgeEngine, HedgeTarget, TriggerFill
    from hedge_fsm.sim.loop import run

    venue = ScriptedVenue("b", [btc("0")], {"BTC": BOOK})

    async def main() -> ExecutionResult:
        result = await HedgeEngine({"b": venue}, hedge_ids=lambda: "h1").hedge(
            [HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"))],
            trigger=TriggerFill(side=Side.BUY, price=D("125.0")),
            market_only=True,
        )
        assert not (asyncio.all_tasks() - {asyncio.current_task()})
        return result

    result = run(main())
    assert result.state == "done", result.error_message
    leg = result.legs[0]
    assert leg.intended_price == D("125.0")
    assert leg.hedge_cost == D("25.05") and leg.entry_cost == ZERO
    assert result.cost_basis == D("125.0")
    assert result.hedge_cost_bps == D("2004")
    assert result.total_cost == D("25.05")
    assert venue.positions["BTC"] == D("-1") and venue.live_orders() == []
