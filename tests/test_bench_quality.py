"""The hedge-quality benchmark's machine-readable output and its fast path (a small run, seconds).

``benchmarks/bench_quality.py --json PATH`` writes ``{"rows": [...]}`` with the keys issue 13
lists; these tests pin that schema, that the output is a function of the seeds alone, that the
synchronous driver gives the same figures as the asyncio one, and that the peers' limit IOC
never rests on the book.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_quality  # noqa: E402
import policies  # noqa: E402

from hedge_fsm import OrderStatus, Side  # noqa: E402
from hedge_fsm.sim import PRESETS, MarketModel, run  # noqa: E402

KEYS = {
    "market",
    "setup",
    "policy",
    "runs",
    "cost_bps",
    "cost_se",
    "risk_adjusted_bps",
    "maker_ratio",
    "reaction_latencies_p50",
    "ttf_p50",
    "ttf_p99",
    "fallback_rate",
    "trim_rate",
    "rollback_rate",
    "over_hedges",
    "open_orders",
    "not_flat",
}
POLICIES = {"engine", "market-only", "seed flow", "chaser", "ioc ladder", "engine (cancel)"}
SCENARIOS = ("calm", "faulty")
SETUPS = ("binance/lighter", "hyperliquid/lighter")
SEEDS = 2


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The JSON of two identical small runs."""
    folder = tmp_path_factory.mktemp("quality")
    texts = []
    for name in ("a.json", "b.json"):
        path = folder / name
        bench_quality.main(
            [
                "--seeds",
                str(SEEDS),
                "--scenarios",
                ",".join(SCENARIOS),
                "--setups",
                ",".join(SETUPS),
                "--processes",
                "1",
                "--plot",
                "",
                "--driver-check",
                "0",
                "--json",
                str(path),
            ]
        )
        texts.append(path.read_text(encoding="utf-8"))
    return texts[0], texts[1]


def test_json_rows_have_the_issue_schema(outputs: tuple[str, str]) -> None:
    """Every row has exactly the listed keys with the right types; one row per (market, setup,
    policy) plus the pooled ``"setup": "all"`` rows; pooled runs add up; seconds are numbers."""
    rows = json.loads(outputs[0])["rows"]
    assert isinstance(rows, list) and rows
    cells = {(r["market"], r["setup"], r["policy"]) for r in rows}
    expected = {(m, s, p) for m in SCENARIOS for s in (*SETUPS, "all") for p in POLICIES}
    assert cells == expected
    assert len(rows) == len(expected)
    for r in rows:
        assert set(r) == KEYS, r
        for key in ("runs", "over_hedges", "open_orders", "not_flat"):
            assert isinstance(r[key], int) and not isinstance(r[key], bool) and r[key] >= 0, (key, r)
        for key in ("fallback_rate", "trim_rate", "rollback_rate"):
            assert isinstance(r[key], float) and 0.0 <= r[key] <= 1.0, (key, r)
        for key in ("cost_bps", "risk_adjusted_bps"):
            assert isinstance(r[key], float), (key, r)
        for key in ("cost_se", "maker_ratio", "reaction_latencies_p50", "ttf_p50", "ttf_p99"):
            assert r[key] is None or isinstance(r[key], float), (key, r)
        for key in ("ttf_p50", "ttf_p99", "reaction_latencies_p50"):
            assert r[key] is None or r[key] >= 0.0, (key, r)
        if r["ttf_p50"] is not None and r["ttf_p99"] is not None:
            assert r["ttf_p50"] <= r["ttf_p99"]
        # The risk penalty is never negative: risk-adjusted cost is at least the cost.
        assert r["risk_adjusted_bps"] >= r["cost_bps"] - 1e-9
    for market in SCENARIOS:
        for policy in POLICIES:
            per_setup = [
                r["runs"]
                for r in rows
                if r["market"] == market and r["policy"] == policy and r["setup"] != "all"
            ]
            pooled = next(
                r for r in rows if (r["market"], r["setup"], r["policy"]) == (market, "all", policy)
            )
            assert pooled["runs"] == sum(per_setup) <= SEEDS * len(SETUPS)


def test_json_is_a_function_of_the_seeds(outputs: tuple[str, str]) -> None:
    """Two runs of the same grid write byte-identical JSON (common random numbers, no wall clock)."""
    assert outputs[0] == outputs[1]


def test_sync_and_asyncio_drivers_give_the_same_figures() -> None:
    """The fast path changes nothing measured: every policy's figures on a faulty seed are the
    same on the synchronous driver (the default) as on asyncio."""
    item = ("binance/hyperliquid", "faulty", 3)
    sync = bench_quality.job(item, bench_quality.run_sync)
    on_asyncio = bench_quality.job(item, bench_quality.run_asyncio)
    assert [r.policy for r in sync] == list(bench_quality.POLICIES)
    assert sync == on_asyncio


def test_every_policy_sees_the_same_trigger() -> None:
    """Common random numbers: the trigger (time the engine learned of it, venue) is the same for
    the six policies of one (market, pairing, seed); ``job`` checks it and raises otherwise."""
    out = bench_quality.job(("hyperliquid/lighter", "volatile", 5))
    assert len(out) == len(POLICIES)
    assert len({(r.trigger_time, r.trigger_venue) for r in out}) == 1


def test_limit_ioc_never_rests() -> None:
    """The IOC ladder's order takes what the book offers up to its limit and expires the rest:
    far from the touch it fills nothing and leaves nothing open; at the touch it fills as taker."""

    async def scenario() -> tuple[object, object, int]:
        market = MarketModel(7, exact_path=True)
        venue = PRESETS["binance"]().build(market, seed=7)
        tick = (await venue.instrument("PEPEUSDT")).tick_size
        bbo = await venue.best_bid_offer("PEPEUSDT")
        far = await policies.place_ioc(
            venue, "PEPEUSDT", Side.SELL, Decimal(1_000_000), bbo.ask + 100 * tick, "far"
        )
        touch = await policies.place_ioc(
            venue, "PEPEUSDT", Side.SELL, Decimal(1_000_000), bbo.bid - 100 * tick, "touch"
        )
        return far, touch, len(venue.open_orders())

    far, touch, open_orders = run(scenario())
    assert far.status is OrderStatus.EXPIRED and far.filled_quantity == 0  # type: ignore[attr-defined]
    assert touch.filled_quantity > 0  # type: ignore[attr-defined]
    assert touch.is_terminal  # type: ignore[attr-defined]
    assert open_orders == 0


@pytest.mark.parametrize("policy", ["chaser", "ioc ladder", "market-only", "engine"])
def test_competent_policies_end_flat_with_nothing_open(policy: str) -> None:
    """The competent peers (and the engine) end every calm run flat, with no order left open and
    no over-hedge, on all three pairings: a benchmark peer that leaked exposure would make the
    comparison meaningless (the seed flow is left out: its leaks are the point)."""
    for setup in bench_quality.SETUPS:
        for seed in (1, 2):
            r = bench_quality.run_sync(setup, "calm", seed, policy)
            assert r is not None
            assert not r.unflat and r.open_orders == 0 and not r.over_hedge, (setup, seed, r)
            assert r.time_to_flat < bench_quality.HORIZON
