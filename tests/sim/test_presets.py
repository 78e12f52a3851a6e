"""Venue presets as the venues document them: speed bumps, block cadence, fees, amend rules,
citations, and the venues' own untidiness.

Expected numbers come from the venues' pages (the fee table in ``docs/simulation.md`` and
the figures quoted in each test), never from the presets themselves.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from hedge_fsm import OrderNotFound, Side
from hedge_fsm.sim import (
    CALM,
    FAULTY,
    PRESETS,
    REALISTIC,
    BlockCadence,
    FaultPlan,
    LatencyModel,
    Liquidity,
    MarketModel,
    OpLatency,
    RequestKind,
    SimVenue,
    SpeedBump,
    VenuePreset,
    run,
)
from hedge_fsm.sim.presets import hyperliquid_like, lighter_like, lighter_premium_like
from hedge_fsm.venue import AmendSupport

D = Decimal
DOC = Path(__file__).resolve().parents[2] / "docs" / "simulation.md"

BTC = {
    "binance": "BTCUSDT",
    "bybit": "BTCUSDT",
    "hyperliquid": "BTC",
    "lighter": "BTC",
    "lighter_premium": "BTC",
    "paradex": "BTC-USD-PERP",
}


def without_network(preset: VenuePreset, **changes: Any) -> VenuePreset:
    """``preset`` with every network latency zero, its speed bump and blocks kept (or changed)."""
    latency = LatencyModel(
        speed_bump=changes.get("speed_bump", preset.latency.speed_bump),
        blocks=changes.get("blocks", preset.latency.blocks),
    )
    return attrs.evolve(preset, latency=latency)


def times_of(venue: SimVenue, event: str) -> list[float]:
    return [record.time for record in venue.log if record.event == event]


def after(seconds: float, call: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    async def later() -> Any:
        await asyncio.sleep(seconds)
        return await call

    return later()


# ---------------------------------------------------------------- speed bumps (Lighter)


def test_standard_speed_bump_delays_a_taker_order_300ms_and_a_cancel_200ms() -> None:
    """On Lighter's standard account (Account Types: taker 300 ms, maker/cancel 200 ms), with
    no network latency, a market order is executed 0.300 s after it is sent, a post-only
    order rests 0.200 s after, and a cancel takes effect 0.200 s after, on virtual time."""

    async def scenario() -> tuple[float, float, float, float]:
        venue = without_network(lighter_like()).build(MarketModel(3), seed=3)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id="m")
        taker = loop.time() - start
        bbo = await venue.best_bid_offer("BTC")
        start = loop.time()
        order = await venue.place_limit(
            "BTC", Side.SELL, D("0.001"), bbo.ask + 100, post_only=True, reduce_only=False,
            client_order_id="p",
        )  # fmt: skip
        maker = loop.time() - start
        start = loop.time()
        await venue.cancel("BTC", order.order_id)
        cancel = loop.time() - start
        accepted, canceled = times_of(venue, "accept"), times_of(venue, "cancel")
        return taker, maker, cancel, canceled[0] - accepted[1]

    taker, maker, cancel, rested = run(scenario())
    assert taker == pytest.approx(0.300, abs=1e-9)
    assert maker == pytest.approx(0.200, abs=1e-9)
    assert cancel == pytest.approx(0.200, abs=1e-9)
    assert rested == pytest.approx(0.200, abs=1e-9)  # the order lived until the cancel cleared the bump


def test_premium_account_has_no_maker_or_cancel_bump() -> None:
    """On Lighter's premium account (Account Types: maker & cancel 0 ms, taker 200 ms with no
    LIT staked), a post-only order and its cancel take no time without network latency; a
    market order takes 0.200 s."""

    async def scenario() -> tuple[float, float, float]:
        venue = without_network(lighter_premium_like()).build(MarketModel(3), seed=3)
        loop = asyncio.get_running_loop()
        bbo = await venue.best_bid_offer("BTC")
        start = loop.time()
        order = await venue.place_limit(
            "BTC", Side.SELL, D("0.001"), bbo.ask + 100, post_only=True, reduce_only=False,
            client_order_id="p",
        )  # fmt: skip
        await venue.cancel("BTC", order.order_id)
        quick = loop.time() - start
        start = loop.time()
        await venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id="m")
        return quick, loop.time() - start, venue.latency.speed_bump.delay(RequestKind.TAKER)  # type: ignore[union-attr]

    quick, taker, bump = run(scenario())
    assert quick == 0.0
    assert taker == pytest.approx(0.200, abs=1e-9) and bump == 0.200


def test_standard_preset_bump_comes_on_top_of_the_network() -> None:
    """With its network latency, the standard Lighter preset executes a market order no
    sooner than 300 ms after sending it: the bump is added, not folded into the network."""

    async def scenario() -> float:
        venue = lighter_like().build(MarketModel(5), seed=5)
        await venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id="m")
        return times_of(venue, "accept")[0] - times_of(venue, "request")[0]

    assert 0.300 < run(scenario()) <= 0.300 + 0.060


# ---------------------------------------------------------------- blocks (Hyperliquid)


def block_venue() -> SimVenue:
    """The Hyperliquid preset with no network latency: requests reach 0.1 s blocks at once."""
    return without_network(hyperliquid_like()).build(MarketModel(2), seed=2)


def test_cancel_sent_after_a_taker_order_in_the_same_block_is_processed_first() -> None:
    """Hyperliquid sorts a block: actions that send no GTC/IOC order (ALO), then cancels, then
    GTC/IOC orders. A market (IOC) order sent at 0.01 s, a cancel sent at 0.02 s and an ALO
    order sent at 0.03 s all land in the block at 0.1 s and are processed ALO, cancel,
    market; a cancel sent at 0.15 s waits for the block at 0.2 s."""

    async def scenario() -> tuple[list[tuple[float, str, str]], SimVenue]:
        venue = block_venue()
        bbo = await venue.best_bid_offer("BTC")
        resting = [
            await venue.place_limit(
                "BTC", Side.SELL, D("0.001"), bbo.ask + k * 100, post_only=True,
                reduce_only=False, client_order_id=f"r{k}",
            )
            for k in (1, 2)
        ]
        await asyncio.gather(
            after(0.01, venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False,
                                           client_order_id="taker")),
            after(0.02, venue.cancel("BTC", resting[0].order_id)),
            after(0.03, venue.place_limit("BTC", Side.BUY, D("0.001"), bbo.bid - 100,
                                          post_only=True, reduce_only=False, client_order_id="alo")),
            after(0.15, venue.cancel("BTC", resting[1].order_id)),
        )  # fmt: skip
        acted = [
            (round(r.time, 9), r.event, r.detail.split()[1] if r.event == "accept" else r.detail.split()[0])
            for r in venue.log
            if r.event in ("accept", "cancel") and r.time > 0
        ]
        return acted, venue

    acted, venue = run(scenario())
    ids = {order.client_order_id: order.order_id for order in venue.orders()}
    assert acted == [
        (0.1, "accept", "cid=alo"),
        (0.1, "cancel", ids["r1"]),
        (0.1, "accept", "cid=taker"),
        (0.2, "cancel", ids["r2"]),
    ]


def test_block_order_holds_on_the_synchronous_driver_too() -> None:
    """The same block on :class:`SimLoop` (the fast driver's clock face): a market order sent
    at 0.01 s and a cancel sent at 0.02 s are processed at 0.1 s, the cancel first."""
    from hedge_fsm.sim.driver import SimLoop

    loop = SimLoop()
    venue = block_venue()
    venue.clock_face = loop

    async def later(seconds: float, call: Coroutine[Any, Any, Any]) -> Any:
        await loop.sleep(seconds)
        return await call

    async def scenario() -> None:
        bbo = await venue.best_bid_offer("BTC")
        resting = await venue.place_limit(
            "BTC", Side.SELL, D("0.001"), bbo.ask + 100, post_only=True, reduce_only=False,
            client_order_id="r",
        )  # fmt: skip
        await loop.gather([
            later(0.01, venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False,
                                           client_order_id="taker")),
            later(0.02, venue.cancel("BTC", resting.order_id)),
        ])  # fmt: skip

    loop.run(scenario())
    acted = [(round(r.time, 9), r.event) for r in venue.log if r.event in ("accept", "cancel") and r.time > 0]
    assert acted == [(0.1, "cancel"), (0.1, "accept")]


def test_a_request_abandoned_while_waiting_for_its_block_holds_nobody_up() -> None:
    """A post-only order whose caller gives up (timeout) before its block leaves the block's
    queue: a market order in the same block is still executed at the block time, 0.1 s."""

    async def scenario() -> tuple[float, bool]:
        venue = block_venue()
        loop = asyncio.get_running_loop()
        bbo = await venue.best_bid_offer("BTC")
        await asyncio.sleep(0.01)
        alo = venue.place_limit(
            "BTC", Side.BUY, D("0.001"), bbo.bid - 100, post_only=True, reduce_only=False,
            client_order_id="gone",
        )  # fmt: skip
        market = venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id="m")
        results = await asyncio.gather(asyncio.wait_for(alo, 0.05), market, return_exceptions=True)
        return loop.time(), isinstance(results[0], TimeoutError)

    now, abandoned = run(scenario())
    assert abandoned
    assert now == pytest.approx(0.1, abs=1e-9)


def test_block_cadence_refuses_an_ordering_that_drops_a_kind() -> None:
    """A block order must rank every request kind exactly once."""
    with pytest.raises(Exception, match="every RequestKind once"):
        BlockCadence(interval=0.1, order=(RequestKind.CANCEL, RequestKind.TAKER))
    with pytest.raises(Exception, match="seconds > 0"):
        BlockCadence(interval=0.0)
    assert SpeedBump(taker=0.3, maker=0.2, cancel=0.1).delay(RequestKind.CANCEL) == 0.1


def test_zero_latency_drops_speed_bumps_and_blocks() -> None:
    """``zero_latency`` (benchmarks) takes every delay away, bumps and blocks included."""

    async def scenario() -> float:
        lighter = lighter_like().build(MarketModel(1), seed=1, zero_latency=True)
        hyper = hyperliquid_like().build(MarketModel(1), seed=1, zero_latency=True)
        await asyncio.sleep(0.05)
        start = asyncio.get_running_loop().time()
        await lighter.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id="a")
        await hyper.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id="b")
        return asyncio.get_running_loop().time() - start

    assert run(scenario()) == 0.0


# ---------------------------------------------------------------- fees


def fee_table() -> dict[str, tuple[Decimal, Decimal]]:
    """The ``fees (maker / taker, bps)`` column of the preset table in docs/simulation.md."""
    rows: dict[str, tuple[Decimal, Decimal]] = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) > 3 and cells[0].startswith("`") and re.fullmatch(r"[-\d.]+ / [-\d.]+", cells[3]):
            maker, taker = cells[3].split(" / ")
            rows[cells[0].strip("`")] = (D(maker), D(taker))
    return rows


# The issue's table (#13 item 6), in bps: the docs must say the same.
ISSUE_FEES = {
    "binance": (D(2), D(5)),
    "bybit": (D(2), D("5.5")),
    "hyperliquid": (D("1.5"), D("4.5")),
    "paradex": (D("0.3"), D(2)),
    "lighter": (D(0), D(0)),
    "lighter_premium": (D("0.4"), D("2.8")),  # Account Types, premium, 0 LIT staked
}


def test_docs_fee_table_is_the_issues_and_covers_every_preset() -> None:
    """docs/simulation.md lists every preset, with the fees the venues document."""
    assert fee_table() == ISSUE_FEES
    assert sorted(PRESETS) == sorted(ISSUE_FEES)


@pytest.mark.parametrize("name", sorted(ISSUE_FEES))
def test_fees_charged_per_preset_match_the_table(name: str) -> None:
    """A market order pays the table's taker rate on its notional; a resting post-only order
    filled by others' trade pays the maker rate (fees in quote currency, exactly)."""
    maker_bps, taker_bps = fee_table()[name]
    symbol = BTC[name]

    async def scenario() -> SimVenue:
        venue = PRESETS[name]().build(MarketModel(4), seed=4, zero_latency=True)
        await venue.place_market(symbol, Side.BUY, D("0.01"), reduce_only=False, client_order_id="t")
        bbo = await venue.best_bid_offer(symbol)
        await venue.place_limit(
            symbol, Side.SELL, D("0.01"), bbo.ask, post_only=True, reduce_only=False,
            client_order_id="m",
        )  # fmt: skip
        through = bbo.ask + 1000 * venue.book(symbol).tick_size  # trades through our level
        venue.hooks.inject_trade(symbol, Side.BUY, D(1000), price=through)
        return venue

    fills = run(scenario()).fills
    taker = [f for f in fills if f.liquidity is Liquidity.TAKER]
    maker = [f for f in fills if f.liquidity is Liquidity.MAKER]
    assert taker and maker
    for group, bps in ((taker, taker_bps), (maker, maker_bps)):
        for fill in group:
            assert fill.fee == fill.quantity * fill.price * bps / 10000


# ---------------------------------------------------------------- amend rules and citations


def test_amend_queue_rules_per_venue() -> None:
    """Every preset amends natively; only Bybit documents that a size decrease keeps the
    queue place (Binance: "modified orders will be reordered in the match queue"); the built
    venue says so in its capabilities."""
    keeps = {name: PRESETS[name]().build(MarketModel(1)).capabilities for name in PRESETS}
    assert {name: caps.amend for name, caps in keeps.items()} == dict.fromkeys(PRESETS, AmendSupport.NATIVE)
    assert {name for name, caps in keeps.items() if caps.amend_keeps_priority_on_decrease} == {"bybit"}


@pytest.mark.skipif(not hasattr(SimVenue, "amend_order"), reason="SimVenue.amend_order lands with s3-adopt")
@pytest.mark.parametrize(("name", "symbol", "keeps"), [
    ("binance", "BTCUSDT", False), ("bybit", "BTCUSDT", True), ("hyperliquid", "BTC", False),
    ("lighter", "BTC", False), ("paradex", "BTC-USD-PERP", False),
])  # fmt: skip
def test_amend_keeps_the_queue_place_only_where_the_venue_says_so(
    name: str, symbol: str, keeps: bool
) -> None:
    """A resting order with 1 lot left ahead of it: amending its size down keeps that place on
    Bybit only (the others put it behind the level's displayed depth again); amending its
    price sends it to the back of the new level everywhere."""

    async def scenario() -> tuple[int, int, int]:
        venue = PRESETS[name]().build(MarketModel(3), seed=3, zero_latency=True)
        bbo = await venue.best_bid_offer(symbol)
        order = await venue.place_limit(
            symbol, Side.BUY, D("0.01"), bbo.bid, post_only=True, reduce_only=False, client_order_id="a",
        )  # fmt: skip
        book = venue.book(symbol)
        next(iter(book.resting())).ahead = 1  # as if the queue ahead had traded down to 1 lot
        await venue.amend_order(symbol, order.order_id, quantity=D("0.005"))  # type: ignore[attr-defined]
        decreased = next(iter(book.resting())).ahead
        await venue.amend_order(symbol, order.order_id, price=bbo.bid - book.tick_size)  # type: ignore[attr-defined]
        return decreased, next(iter(book.resting())).ahead, book.level_depth(1)

    decreased, repriced, depth_below = run(scenario())
    assert (decreased == 1) is keeps
    assert repriced == depth_below > 1


@pytest.mark.skipif(not hasattr(SimVenue, "amend_order"), reason="SimVenue.amend_order lands with s3-adopt")
def test_an_amend_waits_for_the_matching_engine_like_an_order() -> None:
    """An amend is no shortcut past the speed bump: on Lighter's standard account, with no
    network latency, it takes effect 0.300 s after it is sent (the taker bump: Lighter does
    not document a modify's bump, so the longest applies)."""

    async def scenario() -> float:
        venue = without_network(lighter_like()).build(MarketModel(3), seed=3)
        bbo = await venue.best_bid_offer("BTC")
        order = await venue.place_limit(
            "BTC", Side.BUY, D("0.01"), bbo.bid - 100, post_only=True, reduce_only=False,
            client_order_id="a",
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        start = loop.time()
        await venue.amend_order("BTC", order.order_id, quantity=D("0.005"))  # type: ignore[attr-defined]
        return loop.time() - start

    assert run(scenario()) == pytest.approx(0.300, abs=1e-9)


def percentages(text: str) -> set[Decimal]:
    return {D(number).normalize() for number in re.findall(r"(\d+(?:\.\d+)?) ?%", text)}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_cites_a_source_for_its_numbers(name: str) -> None:
    """Each preset has sources (title, https URL, read date); its fee rates and speed bumps
    appear in what those sources say, and a block cadence cites the in-block order."""
    preset = PRESETS[name]()
    assert preset.sources
    for source in preset.sources:
        assert source.title and source.url.startswith("https://")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", source.read)
    said = " ".join(source.says for source in preset.sources)
    for spec in preset.symbols:
        for rate in (spec.instrument.maker_fee, spec.instrument.taker_fee):
            assert (rate * 100).normalize() in percentages(said), (name, rate)
    bump = preset.latency.speed_bump
    if bump is not None:
        for seconds in (bump.taker, bump.maker, bump.cancel):
            assert f"{round(seconds * 1000)} ms" in said, (name, seconds)
    if preset.latency.blocks is not None:
        assert "Within a block" in said


def test_module_cites_a_source_in_every_preset_factory() -> None:
    """Parsing sim/presets.py: every preset factory names a Source or a shared cited constant."""
    import hedge_fsm.sim.presets as module

    text = Path(module.__file__).read_text()
    for name, factory in PRESETS.items():
        body = text.split(f"def {factory.__name__}(", 1)[1].split("\ndef ", 1)[0]
        assert "Source(" in body or "sources=(_" in body or "lighter_like()" in body, name


# ---------------------------------------------------------------- the venues' own untidiness


def test_dex_presets_carry_their_own_fault_rates_in_the_realistic_scenario() -> None:
    """``realistic``: the DEX presets lose the odd ack and serve stale order reports and
    lagging positions; the CEX presets stay honest; ``calm`` is honest everywhere; ``faulty``
    keeps its own higher rates and gains the venues' position lag."""
    market = MarketModel(1)
    lighter = lighter_like().build(market, seed=1, scenario=REALISTIC)
    assert 0 < lighter.fault_plan.lost_ack < 0.05 and lighter.fault_plan.position_lag > 0
    assert lighter.fault_plan.stale_report > 0 and lighter.fault_plan.seed == 1
    assert lighter.fault_plan.replica_lag > 0
    assert PRESETS["binance"]().build(MarketModel(1), scenario=REALISTIC).fault_plan.is_quiet
    assert lighter_like().build(MarketModel(1), scenario=CALM).fault_plan.is_quiet
    faulty = hyperliquid_like().build(MarketModel(1), scenario=FAULTY).fault_plan
    assert faulty.lost_ack == FAULTY.faults.lost_ack and faulty.position_lag > 0


def test_lagging_replica_does_not_show_a_young_acknowledged_order() -> None:
    """With every lookup served by a replica up to 1 s behind, an order acknowledged a moment
    ago is not found (by id or by client id), and is found once it is older than the lag."""

    async def scenario() -> tuple[int, bool]:
        plan = FaultPlan(replica_lag=1.0, replica_lag_max=1.0)
        venue = PRESETS["binance"]().build(MarketModel(6), seed=6, zero_latency=True, faults=plan)
        bbo = await venue.best_bid_offer("BTCUSDT")
        order = await venue.place_limit(
            "BTCUSDT", Side.BUY, D("0.01"), bbo.bid - 100, post_only=True, reduce_only=False,
            client_order_id="young",
        )  # fmt: skip
        missed = 0
        for lookup in ({"order_id": order.order_id}, {"client_order_id": "young"}):
            with pytest.raises(OrderNotFound, match="lagging replica"):
                await venue.order("BTCUSDT", **lookup)
            missed += 1
        await asyncio.sleep(1.01)
        found = await venue.order("BTCUSDT", order_id=order.order_id)
        return missed, found.order_id == order.order_id

    assert run(scenario()) == (2, True)


@pytest.mark.parametrize("seed", range(1, 7))
def test_default_episode_on_realistic_venues_keeps_its_invariants(seed: int) -> None:
    """The engine on the default setup (Binance, Lighter with its speed bump and untidy order
    lists) ends in a final state with no invariant broken and, when done, hedged within a lot."""
    from hedge_fsm.episode import simulate

    episode = simulate("realistic", seed)
    assert episode.invariant_violations == []
    assert episode.result.state in ("done", "rolled_back", "failed", "cancelled")
    if episode.result.state == "done":
        assert abs(episode.result.net_exposure) <= D("1000")



def test_one_way_latency_is_the_mean_time_to_the_matching_engine() -> None:
    """``LatencyModel.one_way`` (the benchmark's unit of reaction time) is the mean time from
    sending an order to the engine acting on it: request share of the round trip (0.5 of
    0.1 + 0.02/2 = 0.055 s), plus the 0.3 s taker bump, plus half a 0.1 s block: 0.405 s; it
    matches the mean measured over 400 market orders within 5 ms."""
    latency = LatencyModel(
        place=OpLatency(latency=0.1, jitter=0.02, request_share=0.5),
        speed_bump=SpeedBump(taker=0.3, maker=0.2, cancel=0.2),
        blocks=BlockCadence(interval=0.1),
    )
    assert latency.one_way(RequestKind.TAKER) == pytest.approx(0.405)

    async def scenario() -> float:
        preset = attrs.evolve(lighter_like(), latency=latency, faults=None)
        venue = preset.build(MarketModel(9), seed=9)
        phase = random.Random(9)
        for k in range(400):
            await venue.place_market("BTC", Side.BUY, D("0.001"), reduce_only=False, client_order_id=f"o{k}")
            await asyncio.sleep(phase.uniform(0.0, 0.1))  # sends at any phase of the block
        sent = times_of(venue, "request")
        acted = times_of(venue, "accept")
        return sum(b - a for a, b in zip(sent, acted, strict=True)) / len(sent)

    assert run(scenario()) == pytest.approx(0.405, abs=0.005)


@pytest.mark.parametrize("scenario", ["calm", "realistic"])
def test_blocks_and_bumps_give_the_same_hedge_on_both_drivers(scenario: str) -> None:
    """``hedge()`` on Hyperliquid (blocks) and Lighter (speed bump): the asyncio engine on
    virtual time and the synchronous driver give the same result and the same fills."""
    from hedge_fsm import HedgeEngine, HedgeTarget
    from hedge_fsm.sim.driver import SimEngine

    def venues() -> dict[str, SimVenue]:
        market = MarketModel(5)
        return {
            name: PRESETS[name]().build(market, seed=5, scenario=scenario)
            for name in ("hyperliquid", "lighter")
        }

    targets = [
        HedgeTarget(venue="hyperliquid", symbol="kPEPE", side=Side.BUY, quantity=D(10_000)),
        HedgeTarget(venue="lighter", symbol="kPEPE", side=Side.SELL, quantity=D(10_000)),
    ]
    on_loop = venues()

    async def main() -> Any:
        return await HedgeEngine(on_loop, hedge_ids=lambda: "b1").hedge(targets)

    expected = run(main())
    assert expected.state == "done"
    synced = venues()
    assert SimEngine(synced, hedge_ids=lambda: "b1").hedge(targets) == expected
    assert [f for v in synced.values() for f in v.fills] == [f for v in on_loop.values() for f in v.fills]
    accepted = times_of(synced["hyperliquid"], "accept")
    assert accepted and all(abs(t / 0.1 - round(t / 0.1)) < 1e-6 for t in accepted)  # on blocks
