"""Pre-flight checks: venues, config, entry prices and unknown symbols are refused before any order.

Each check fails with one :class:`InvalidValue` (a HedgeError) that names the bad value
and what was expected; nothing is sent to a venue when a check fails.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from hedge_fsm import HedgeConfig, HedgeEngine, InvalidValue, LegSpec, Side, VenueRejected
from hedge_fsm.preflight import entry_distance_bps
from hedge_fsm.sim import build_venues, run
from hedge_fsm.values import BBO
from tests.test_engine import two_venues


class HalfVenue:
    """Looks like a venue but has only two of the protocol's methods."""

    name = "half"

    async def instrument(self, symbol: str) -> Any:
        raise AssertionError("never called")

    async def best_bid_offer(self, symbol: str) -> Any:
        raise AssertionError("never called")


def test_engine_refuses_a_str_as_a_venue_naming_the_key_and_the_missing_methods() -> None:
    """``HedgeEngine({"binance": "str"})`` fails at construction, not at the first order."""
    with pytest.raises(InvalidValue) as caught:
        HedgeEngine({"binance": "str"})  # type: ignore[dict-item]
    message = str(caught.value)
    assert message.startswith("HedgeEngine.venues['binance'] is a str, not a Venue: missing ")
    for method in ("instrument", "best_bid_offer", "place_limit", "place_market", "cancel", "order",
                   "position"):
        assert method in message


def test_engine_names_only_the_methods_a_partial_venue_lacks() -> None:
    """A venue with two of seven methods is refused with the five it lacks, not the two it has."""
    a, _ = two_venues()
    with pytest.raises(InvalidValue) as caught:
        HedgeEngine({"a": a, "half": HalfVenue()})  # type: ignore[dict-item]
    message = str(caught.value)
    assert "HedgeEngine.venues['half'] is a HalfVenue" in message
    assert "missing place_limit, place_market, cancel, order, position" in message
    assert "instrument" not in message.partition("missing")[2]


def test_engine_refuses_a_dict_as_config() -> None:
    """``HedgeEngine(venues, {...})`` says the config must be a HedgeConfig and how to build one."""
    a, b = two_venues()
    with pytest.raises(InvalidValue, match=r"HedgeEngine\.config must be a HedgeConfig, got dict"):
        HedgeEngine({"a": a, "b": b}, {"dust_tolerance": "0"})  # type: ignore[arg-type]


def test_engine_accepts_the_simulated_venues() -> None:
    """The simulated venues implement the protocol: the check lets them through."""
    venues = build_venues("calm", seed=1)
    assert HedgeEngine(venues).venues.keys() == venues.keys()


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        (Side.BUY, "100", "0"),  # at the bid
        (Side.BUY, "101", "0"),  # at the ask
        (Side.BUY, "111.1", "1000"),  # 10 % above the ask: would take at once
        (Side.BUY, "90", "1000"),  # 10 % below the bid: rests far away
        (Side.SELL, "90", "1000"),
        (Side.SELL, "121.2", "2000"),
    ],
)
def test_entry_distance_is_measured_outside_the_book_in_bps(side: Side, price: str, expected: str) -> None:
    """Inside the book the distance is 0; outside, bps of the nearer best price."""
    book = BBO(bid=D("100"), ask=D("101"))
    assert entry_distance_bps(side, D(price), book) == D(expected)


def _sent(venues: dict[str, Any]) -> int:
    return sum(len(v.orders()) for v in venues.values())


def test_a_buy_limit_100_times_above_the_market_is_refused_with_the_distance() -> None:
    """A buy 100x above the ask would fill at once at a price nobody meant: refused, nothing placed."""
    venues = build_venues("calm", seed=3)

    async def main() -> None:
        book = await venues["binance"].best_bid_offer("PEPEUSDT")
        kbook = await venues["lighter"].best_bid_offer("kPEPE")
        legs = [
            LegSpec(venue="binance", symbol="PEPEUSDT", side=Side.BUY, quantity=D("10000000"),
                    price=book.ask * 100),
            LegSpec(venue="lighter", symbol="kPEPE", side=Side.SELL, quantity=D("10000"), price=kbook.ask),
        ]
        await HedgeEngine(venues).execute(legs)

    with pytest.raises(InvalidValue) as caught:
        run(main())
    message = str(caught.value)
    assert message.startswith("leg 0 (binance PEPEUSDT buy): limit price ")
    assert "bps from the book" in message and "max_entry_distance_bps is 1000.0" in message
    assert _sent(venues) == 0


def test_the_entry_distance_is_configurable() -> None:
    """With ``max_entry_distance_bps`` raised, the same far limit is let through to the venue."""
    a, b = two_venues()
    far = [
        LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("1"), price=D("50.0")),  # 50 % below
        LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"), price=D("100.3")),
    ]

    async def refused() -> None:
        await HedgeEngine({"a": a, "b": b}, HedgeConfig(entry_timeout=1.0)).execute(far)

    with pytest.raises(InvalidValue, match="is 5000 bps from the book"):
        run(refused())

    async def allowed() -> str:
        config = HedgeConfig(entry_timeout=1.0, max_entry_distance_bps=6000)
        return (await HedgeEngine({"a": a, "b": b}, config).execute(far)).state

    assert run(allowed()) == "cancelled"  # nothing filled: the entry simply timed out


def test_an_unknown_symbol_is_refused_at_once_not_retried() -> None:
    """A "no such market" refusal is definitive: one read, raised at once, no backoff."""
    venues = build_venues("calm", seed=1)
    legs = [
        LegSpec(venue="binance", symbol="NOPEUSDT", side=Side.BUY, quantity=D("1"), price=D("1")),
        LegSpec(venue="lighter", symbol="kPEPE", side=Side.SELL, quantity=D("10000"), price=D("0.01")),
    ]

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(VenueRejected, match="unknown symbol 'NOPEUSDT'"):
            await HedgeEngine(venues).execute(legs)
        return loop.time() - start

    elapsed = run(main())
    assert elapsed < 0.05  # virtual seconds: eight retries with backoff would take about 4 s
    assert _sent(venues) == 0


def test_an_entry_below_the_venues_minimum_notional_is_refused_before_sending() -> None:
    """20 kPEPE at 0.01 is 0.2 USDT, below lighter's 10: refused at set-up naming both, nothing placed.

    (Sent anyway, the venue refuses the order and the entry ends ``cancelled`` with nothing
    printed: the first hour of the README's old example.)
    """
    venues = build_venues("calm", seed=7)

    async def main() -> None:
        pepe = await venues["binance"].best_bid_offer("PEPEUSDT")
        kpepe = await venues["lighter"].best_bid_offer("kPEPE")
        await HedgeEngine(venues).execute([
            LegSpec(venue="binance", symbol="PEPEUSDT", side=Side.BUY, quantity=D("20000"), price=pepe.bid),
            LegSpec(venue="lighter", symbol="kPEPE", side=Side.SELL, quantity=D("20"), price=kpepe.ask),
        ])

    with pytest.raises(InvalidValue) as caught:
        run(main())
    message = str(caught.value)
    assert message.startswith("leg 0 (binance PEPEUSDT buy): notional ")  # 0.2 < 5: the first leg
    assert "below the venue's minimum 5" in message
    assert _sent(venues) == 0
