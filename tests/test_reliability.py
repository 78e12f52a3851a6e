"""Guards at the edges: order-rate limits, per-leg order caps, impossible venue reports."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import attrs

from hedge_fsm import HedgeConfig, InvalidValue, OrderInfo, RetryPolicy, Side
from tests.scripted import Place, ScriptedVenue
from tests.test_engine import LONG_A_SHORT_B, execute, fill_entry, fill_live, two_venues


def test_order_cap_ends_the_leg_in_rollback_not_in_a_loop() -> None:
    """A venue refusing every hedge order: the leg stops at max_orders_per_leg and rolls back."""
    a, b = two_venues()
    b.script_place("BTC", Place("auto"), *[Place("post_only")] * 200)
    config = HedgeConfig(
        opening=RetryPolicy(max_attempts=1000, budget=1000.0, backoff=0.01), max_orders_per_leg=5
    )
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0))], config=config)
    hedge_orders = [c for c in b.placed() if c["client_order_id"].startswith("h1h1n")]
    assert len(hedge_orders) == 5
    assert hedge_orders[-1]["kind"] == "market"
    assert result.legs[1].state == "rollback"
    assert result.state == "rolled_back"


def test_order_rate_guard_spaces_order_actions_per_venue() -> None:
    """At 2 order actions per second, ten refused attempts cannot all go out in one second."""
    a, b = two_venues()
    b.script_place("BTC", Place("auto"), *[Place("post_only")] * 200)
    config = HedgeConfig(
        opening=RetryPolicy(max_attempts=10, budget=1000.0, backoff=0.0), venue_order_rate=2.0,
        max_orders_per_leg=12,
    )
    times: list[float] = []
    import asyncio

    original = b._place

    async def timed(args: dict[str, Any]) -> OrderInfo:
        times.append(asyncio.get_running_loop().time())
        return await original(args)

    b._place = timed  # type: ignore[method-assign]
    execute({"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0))], config=config)
    hedge_times = times[1:]
    assert len(hedge_times) >= 10
    # A burst of 2, then one every 0.5 s: the 10th hedge order waits at least 4 s after the first.
    assert hedge_times[9] - hedge_times[0] >= 4.0 - 1e-6


class ImpossibleVenue(ScriptedVenue):
    """Answers the first few order queries with reports that cannot be about the order asked."""

    def __init__(self, *args: Any, bad_answers: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bad_answers = bad_answers

    async def order(self, symbol: str, *, order_id: str | None = None,
                    client_order_id: str | None = None) -> OrderInfo:
        real = await super().order(symbol, order_id=order_id, client_order_id=client_order_id)
        if self.bad_answers > 0:
            self.bad_answers -= 1
            # Filled above quantity is impossible: an adapter building it fails validation...
            try:
                attrs.evolve(real, filled_quantity=real.quantity + 1, average_price=D("1"))
            except InvalidValue:
                pass
            else:
                raise AssertionError("an impossible report was constructed")
            # ...and a report about another side of the book is quarantined by the driver.
            return attrs.evolve(real, side=real.side.opposite)
        return real


def test_impossible_venue_reports_are_quarantined_and_never_corrupt_a_ledger() -> None:
    """Wrong-side reports are refused at the driver; the hedge completes with the ledgers intact."""
    a = ImpossibleVenue("a", list(two_venues()[0].instruments.values()),
                        two_venues()[0].bbos, bad_answers=1)
    _, b = two_venues()
    result = execute(
        {"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0)), (0.9, fill_live(b, "h1h1n"))]
    )
    assert result.state == "done"
    assert a.bad_answers == 0, "the bad answers were never asked for"
    assert result.legs[0].filled_quantity == D("1")
    assert result.legs[0].side is Side.BUY
    assert result.net_exposure == D(0)


def test_targets_that_round_to_zero_are_refused_before_any_order() -> None:
    """Legs whose multipliers make the target smaller than one lot are inconsistent legs."""
    import pytest

    from hedge_fsm import BBO, HedgeEngine, Instrument, LegSpec
    from hedge_fsm.sim.loop import run

    coarse = Instrument(symbol="BIG", tick_size=D("0.1"), lot_size=D("1"), min_quantity=D("1"),
                        min_notional=D("0"), multiplier=D("1000"))
    fine = Instrument(symbol="SMALL", tick_size=D("0.1"), lot_size=D("1"), min_quantity=D("1"),
                      min_notional=D("0"))
    a = ScriptedVenue("a", [fine], {"SMALL": BBO(bid=D("1.0"), ask=D("1.1"))})
    b = ScriptedVenue("b", [coarse], {"BIG": BBO(bid=D("1000.0"), ask=D("1000.1"))})
    legs = [
        LegSpec(venue="a", symbol="SMALL", side=Side.BUY, quantity=D("10"), price=D("1.0")),
        LegSpec(venue="b", symbol="BIG", side=Side.SELL, quantity=D("1"), price=D("1000.1")),
    ]

    async def main() -> None:
        await HedgeEngine({"a": a, "b": b}).execute(legs)

    with pytest.raises(InvalidValue, match="round to zero"):
        run(main())
    assert a.placed() == [] and b.placed() == []


def test_remainder_below_min_notional_is_rolled_back_not_left_exposed() -> None:
    """Soak episode 97864: a partial entry of 0.004 BTC cannot be hedged on a venue whose
    minimum notional is 5 (0.004 x 100 = 0.4). Invariant 6 allows one lot (0.001) of net
    exposure at ``done``: the supervisor unwinds the 0.004 instead of calling it hedged."""
    from hedge_fsm import BBO, Instrument, PartialEntryPolicy
    from tests.test_engine import BTC, btc_bbo

    strict = Instrument(
        symbol="BTC", tick_size=D("0.1"), lot_size=D("0.001"), min_quantity=D("0.001"),
        min_notional=D("5"), maker_fee=D("0.0002"), taker_fee=D("0.0005"),
    )
    a = ScriptedVenue("a", [BTC], {"BTC": btc_bbo()})
    b = ScriptedVenue("b", [strict], {"BTC": BBO(bid=D("100.0"), ask=D("100.2"))})
    config = HedgeConfig(entry_timeout=1.0, partial_entry_policy=PartialEntryPolicy.HEDGE)
    result = execute(
        {"a": a, "b": b}, LONG_A_SHORT_B, actions=[(0.5, fill_entry(a, 0, D("0.004")))], config=config
    )
    assert result.state == "rolled_back"
    assert a.positions["BTC"] == D(0) and b.positions["BTC"] == D(0)
    assert result.legs[1].filled_quantity == D(0)


def test_rate_limited_market_order_is_sent_again_not_rolled_back() -> None:
    """Market-only hedge: a rate-limited market order is retried after the backoff under a new
    client id; only a definitive refusal would roll the position back."""
    import asyncio

    from hedge_fsm import HedgeEngine, HedgeTarget
    from hedge_fsm.sim.loop import run

    a, b = two_venues()
    b.script_place("BTC", Place("rate_limited"), Place("rate_limited"))

    async def main() -> str:
        engine = HedgeEngine({"a": a, "b": b}, HedgeConfig(), hedge_ids=lambda: "m1")
        result = await engine.hedge(
            [HedgeTarget(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"))], market_only=True
        )
        assert not (asyncio.all_tasks() - {asyncio.current_task()})
        return result.state

    assert run(main()) == "done"
    markets = [c for c in b.placed() if c["kind"] == "market"]
    assert len(markets) == 3
    assert len({c["client_order_id"] for c in markets}) == 3
    assert b.positions["BTC"] == D("-1")
