"""Presets and scenarios: documented grids and fees, consistent cross-venue prices, speed."""

from __future__ import annotations

import asyncio
import itertools
import math
from decimal import Decimal

import pytest

from hedge_fsm import InvalidValue, OrderStatus, Side, Venue, VenueRejected
from hedge_fsm.sim import (
    PRESETS,
    SCENARIO_NAMES,
    MarketModel,
    PostOnlyReject,
    binance_usdm_like,
    build_venues,
    get_scenario,
    hyperliquid_like,
    lighter_like,
    run,
)

D = Decimal


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_build_venues_gives_the_default_two_venue_setup(scenario: str) -> None:
    """Every scenario builds ``binance`` (BTCUSDT, PEPEUSDT) and ``lighter`` (BTC, kPEPE)
    on one shared market, each a ``hedge_fsm.Venue``."""
    venues = build_venues(scenario, seed=1)
    assert sorted(venues) == ["binance", "lighter"]
    assert venues["binance"].symbols() == ["BTCUSDT", "PEPEUSDT"]
    assert venues["lighter"].symbols() == ["BTC", "kPEPE"]
    assert venues["binance"].market is venues["lighter"].market
    assert all(isinstance(venue, Venue) for venue in venues.values())


def test_pepe_prices_match_per_token_across_multipliers() -> None:
    """1 kPEPE contract (1000 tokens) costs what 1000 PEPEUSDT tokens cost; lots are 1000 tokens."""

    async def scenario() -> tuple[Decimal, Decimal, Decimal, Decimal]:
        venues = build_venues("calm", seed=3)
        pepe, kpepe = venues["binance"], venues["lighter"]
        one = await pepe.instrument("PEPEUSDT")
        thousand = await kpepe.instrument("kPEPE")
        per_token = (await pepe.best_bid_offer("PEPEUSDT")).mid / one.multiplier
        per_token_k = (await kpepe.best_bid_offer("kPEPE")).mid / thousand.multiplier
        return (
            per_token,
            per_token_k,
            one.lot_size * one.multiplier,
            thousand.lot_size * thousand.multiplier,
        )

    per_token, per_token_k, lot_tokens, lot_tokens_k = run(scenario())
    assert abs(per_token / per_token_k - 1) < D("0.001")  # within 10 bps after a few ms
    assert lot_tokens == lot_tokens_k == D(1000)


def test_preset_grids_and_fees_match_their_documentation() -> None:
    """The numbers the docstrings cite are the numbers the presets use."""
    binance = {s.instrument.symbol: s.instrument for s in binance_usdm_like().symbols}
    hyper = {s.instrument.symbol: s.instrument for s in hyperliquid_like().symbols}
    lighter = {s.instrument.symbol: s.instrument for s in lighter_like().symbols}
    btc = binance["BTCUSDT"]
    assert (btc.tick_size, btc.lot_size, btc.min_notional) == (D("0.1"), D("0.001"), D(100))
    assert (btc.maker_fee, btc.taker_fee) == (D("0.0002"), D("0.0005"))
    assert (hyper["BTC"].maker_fee, hyper["BTC"].taker_fee) == (D("0.00015"), D("0.00045"))
    assert hyper["kPEPE"].multiplier == lighter["kPEPE"].multiplier == D(1000)
    assert (lighter["BTC"].maker_fee, lighter["BTC"].taker_fee) == (D(0), D(0))
    assert lighter_like().post_only_reject is PostOnlyReject.EXPIRED
    assert sorted(PRESETS) == [
        "binance", "bybit", "hyperliquid", "lighter", "lighter_premium", "paradex",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("preset", "symbol", "low", "high"),
    [
        ("binance", "BTCUSDT", 0.02, 0.03),
        ("hyperliquid", "BTC", 0.2, 0.5),
        ("lighter", "BTC", 0.33, 0.36),
    ],
)
def test_preset_place_latency(preset: str, symbol: str, low: float, high: float) -> None:
    """A market order takes tens of ms on Binance; 0.2-0.4 s of network plus the wait for the
    next 0.1 s block on Hyperliquid; 30-60 ms of network plus the 300 ms taker speed bump on
    Lighter's standard account."""

    async def scenario() -> float:
        venue = PRESETS[preset]().build(MarketModel(2), seed=2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await venue.place_market(
            symbol, Side.BUY, D("0.01"), reduce_only=False, client_order_id="lat"
        )
        return loop.time() - start

    assert low <= run(scenario()) <= high


def test_zero_latency_calls_take_no_virtual_time() -> None:
    """With ``zero_latency`` a full order round trip happens at one virtual instant."""

    async def scenario() -> float:
        venue = build_venues("calm", seed=1, zero_latency=True)["binance"]
        loop = asyncio.get_running_loop()
        bbo = await venue.best_bid_offer("BTCUSDT")
        order = await venue.place_limit(
            "BTCUSDT",
            Side.SELL,
            D("0.01"),
            bbo.ask + 10,
            post_only=True,
            reduce_only=False,
            client_order_id="z",
        )
        await venue.cancel("BTCUSDT", order.order_id)
        return loop.time()

    assert run(scenario()) == 0.0


def test_btc_mids_are_correlated_across_venues() -> None:
    """Over five minutes the two BTC books' one-second returns are strongly correlated."""

    async def scenario() -> tuple[list[float], list[float]]:
        venues = build_venues("volatile", seed=8, zero_latency=True, exact_path=True)
        a, b = [], []
        for _ in range(300):
            await asyncio.sleep(1.0)
            a.append(math.log((await venues["binance"].best_bid_offer("BTCUSDT")).mid))
            b.append(math.log((await venues["lighter"].best_bid_offer("BTC")).mid))
        return a, b

    a, b = run(scenario())
    ra = [y - x for x, y in itertools.pairwise(a)]
    rb = [y - x for x, y in itertools.pairwise(b)]
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    corr = cov / math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    assert corr > 0.9


def test_scenarios_differ_as_documented() -> None:
    """``volatile`` widens spreads; ``faulty`` enables every fault kind; unknown names are refused."""
    calm = build_venues("calm", seed=1)["binance"].book("BTCUSDT")
    volatile = build_venues("volatile", seed=1)["binance"].book("BTCUSDT")
    assert volatile.ask - volatile.bid == 3 * (calm.ask - calm.bid)
    plan = build_venues("faulty", seed=1)["binance"].fault_plan
    probabilities = [
        plan.rate_limit,
        plan.place_reject,
        plan.place_timeout,
        plan.cancel_timeout,
        plan.lost_ack,
        plan.duplicate_report,
        plan.stale_report,
        plan.stale_bbo,
        plan.outage_duration,
    ]
    assert all(0 < p < 0.3 for p in probabilities)
    assert plan.seed == 1
    with pytest.raises(InvalidValue, match="calm, volatile, faulty"):
        get_scenario("stormy")


def test_hand_written_two_leg_episodes_end_flat() -> None:
    """Building the default setup, resting one order per venue, polling until one fills,
    cancelling the other and hedging at market ends flat with no open order, on 300 seeds.
    (Its speed is measured in benchmarks/, not here: a timed test fails on a loaded machine.)"""

    async def episode(seed: int) -> bool:
        venues = build_venues("calm", seed=seed, zero_latency=True)
        binance, lighter = venues["binance"], venues["lighter"]
        bid = (await binance.best_bid_offer("BTCUSDT")).bid
        ask = (await lighter.best_bid_offer("BTC")).ask
        buy = await binance.place_limit(
            "BTCUSDT", Side.BUY, D("0.01"), bid, post_only=True, reduce_only=False,
            client_order_id="b",
        )  # fmt: skip
        sell = await lighter.place_limit(
            "BTC", Side.SELL, D("0.01"), ask, post_only=True, reduce_only=False,
            client_order_id="s",
        )  # fmt: skip
        while not (buy.is_terminal or sell.is_terminal):
            await asyncio.sleep(0.1)
            buy = await binance.order("BTCUSDT", order_id=buy.order_id)
            sell = await lighter.order("BTC", order_id=sell.order_id)
        if buy.is_terminal:
            rest = await lighter.cancel("BTC", sell.order_id)
            missing = buy.filled_quantity - rest.filled_quantity
            if missing > 0:
                await lighter.place_market(
                    "BTC", Side.SELL, missing, reduce_only=False, client_order_id="h"
                )
        else:
            rest = await binance.cancel("BTCUSDT", buy.order_id)
            missing = sell.filled_quantity - rest.filled_quantity
            if missing >= D("0.001"):
                await binance.place_market(
                    "BTCUSDT", Side.BUY, missing, reduce_only=False, client_order_id="h"
                )
        flat = (await binance.position("BTCUSDT")) + (await lighter.position("BTC"))
        return abs(flat) < D("0.001") and not binance.open_orders() and not lighter.open_orders()

    async def many(count: int) -> list[bool]:
        results = []
        for seed in range(count):
            try:
                results.append(await episode(seed))
            except VenueRejected:  # e.g. a hedge below the minimum notional: not the point here
                results.append(True)
        return results

    results = run(many(300))
    assert all(results)


def test_filled_market_order_status() -> None:
    """A market order within the displayed depth of a preset fills completely."""

    async def scenario() -> OrderStatus:
        venue = build_venues("calm", seed=1, zero_latency=True)["lighter"]
        info = await venue.place_market(
            "kPEPE", Side.BUY, D("5000"), reduce_only=False, client_order_id="k"
        )
        return info.status

    assert run(scenario()) is OrderStatus.FILLED


def test_binance_waives_min_notional_for_reduce_only() -> None:
    """Closing 0.001 BTC (60 USDT) reduce-only passes on the Binance-like venue, while opening
    the same size is refused for the 100 USDT minimum notional."""

    async def scenario() -> tuple[str, OrderStatus]:
        venue = build_venues("calm", seed=1, zero_latency=True)["binance"]
        await venue.place_market(
            "BTCUSDT", Side.BUY, D("0.002"), reduce_only=False, client_order_id="open"
        )
        with pytest.raises(VenueRejected, match="minimum notional 100") as caught:
            await venue.place_market(
                "BTCUSDT", Side.BUY, D("0.001"), reduce_only=False, client_order_id="small"
            )
        closed = await venue.place_market(
            "BTCUSDT", Side.SELL, D("0.001"), reduce_only=True, client_order_id="close"
        )
        return str(caught.value.reason), closed.status

    assert run(scenario()) == ("invalid_order", OrderStatus.FILLED)
