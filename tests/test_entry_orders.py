"""Entry orders as the trader means them: post-only by default, refused before sending when
below a venue minimum; and the result's cost fields survive the converter's round trip."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from hedge_fsm import ExecutionResult, HedgeEngine, InvalidValue, LegSpec, Side
from hedge_fsm.convert import converter
from hedge_fsm.sim.loop import run
from tests.scripted import Place, ScriptedVenue
from tests.test_engine import BTC, LONG_A_SHORT_B, execute, fill_entry, two_venues
from tests.test_trim import seven_usdt_short, venues


def _entries(venue: ScriptedVenue) -> list[dict[str, object]]:
    return [args for args in venue.placed() if str(args["client_order_id"]).startswith("h1e")]


def test_entry_orders_are_post_only_by_default_and_their_fills_count_as_maker() -> None:
    """``LegSpec.post_only`` defaults to True: both entries go out post-only, and fills on them
    (the venue reports no liquidity) are maker fills, charged the maker fee (2 bps of 100.0)."""
    a, b = two_venues()
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B, [(0.1, fill_entry(a, 0))])

    assert [e["post_only"] for e in _entries(a) + _entries(b)] == [True, True]
    trigger = result.legs[0]
    assert trigger.maker_quantity == D("1") and trigger.taker_quantity == 0
    assert trigger.entry_cost == D("0.02")  # 1 x 100.0 x 0.0002, filled at its limit


def test_post_only_false_lets_the_entry_take() -> None:
    """A leg with ``post_only=False`` sends its entry as a plain limit order."""
    a, b = two_venues()
    taking = LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("1"), price=D("100.0"),
                     post_only=False)
    legs = [taking, LONG_A_SHORT_B[1]]
    execute({"a": a, "b": b}, legs, [(0.1, fill_entry(a, 0))])

    assert [e["post_only"] for e in _entries(a)] == [False]
    assert [e["post_only"] for e in _entries(b)] == [True]


def test_a_post_only_entry_the_venue_refuses_aborts_the_entry() -> None:
    """The venue refuses a's post-only entry (it would take): nothing fills, the other entry is
    cancelled, the hedge ends ``cancelled`` and the error names the leg."""
    a, b = two_venues()
    a.script_place("BTC", Place("post_only"))
    result = execute({"a": a, "b": b}, LONG_A_SHORT_B)

    assert result.state == "cancelled"
    assert "leg 0" in (result.error_message or "")
    assert a.positions["BTC"] == 0 and b.positions["BTC"] == 0


def test_post_only_refuses_what_is_not_a_bool() -> None:
    """``post_only="yes"`` is refused at construction, naming the field and the value."""
    with pytest.raises(InvalidValue, match="post_only"):
        LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("1"), price=D("100"),
                post_only="yes")  # type: ignore[arg-type]


def test_an_entry_below_the_venues_minimum_quantity_is_refused_before_sending() -> None:
    """0.0005 BTC where the venue's minimum is 0.001: refused at set-up, the error names the
    leg, the quantity and the minimum; no order reaches either venue."""
    a, b = two_venues()
    legs = [
        LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("0.0005"), price=D("100.0")),
        LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("0.0005"), price=D("100.3")),
    ]

    async def main() -> None:
        await HedgeEngine({"a": a, "b": b}).execute(legs)

    with pytest.raises(InvalidValue) as caught:
        run(main())
    message = str(caught.value)
    assert "leg a BTC" in message and "0.0005" in message and str(BTC.min_quantity) in message
    assert a.placed() == [] and b.placed() == []


def test_an_entry_below_the_venues_minimum_notional_is_refused_before_sending() -> None:
    """0.04 BTC at 100.0 is 4 USDT, below a minimum of 5: refused naming the leg, the
    notional and the minimum; nothing is placed."""
    pair = venues(trigger_min_notional="5", hedge_min_notional="5")
    legs = [
        LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("0.04"), price=D("100.0")),
        LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("0.04"), price=D("100.2")),
    ]

    async def main() -> None:
        await HedgeEngine(pair).execute(legs)

    with pytest.raises(InvalidValue) as caught:
        run(main())
    message = str(caught.value)
    assert message.startswith("leg 0 (a BTC buy): notional 4.000")
    assert "below the venue's minimum 5" in message
    assert pair["a"].placed() == [] and pair["b"].placed() == []


def test_a_trimmed_result_round_trips_through_the_converter() -> None:
    """Every new cost and trim field is plain data: unstructure then structure gives the same
    ExecutionResult (Decimals as strings, never floats)."""
    result = seven_usdt_short(venues(trigger_min_notional="5"))
    assert result.trimmed
    data = converter.unstructure(result)
    assert isinstance(data["legs"][0]["trim_cost_bps"], str)
    assert converter.structure(data, ExecutionResult) == result

