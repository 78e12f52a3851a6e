"""The engine end to end on the simulated venues: every preset, every scenario, invariants at the end.

And the ``hedge-fsm`` command run as a user runs it, in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from hedge_fsm import HedgeConfig, HedgeEngine, LegSpec, Side
from hedge_fsm.episode import simulate
from hedge_fsm.invariants import check_supervisor
from hedge_fsm.sim import PRESETS, MarketModel, SimVenue, run
from tests.test_engine import InvariantWatch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("scenario", ["calm", "volatile", "faulty"])
@pytest.mark.parametrize("seed", range(1, 9))
def test_default_episode_keeps_every_invariant(scenario: str, seed: int) -> None:
    """The main job's episode: terminal, no open order, invariants hold, exposure within a lot."""
    episode = simulate(scenario, seed)
    assert episode.invariant_violations == []
    assert episode.result.state in ("done", "rolled_back", "failed", "cancelled")
    if episode.result.state == "done":
        # One lot of either leg is 1000 PEPE tokens.
        assert abs(episode.result.net_exposure) <= D("1000")
    assert episode.trigger_time is not None or episode.result.state == "cancelled"


def test_calm_default_episode_hedges_fully() -> None:
    """In a calm market the default episode ends done, both legs holding the same tokens."""
    episode = simulate("calm", 1)
    assert episode.result.state == "done"
    pepe, kpepe = episode.result.legs
    assert pepe.filled_quantity * 1 == kpepe.filled_quantity * 1000


@pytest.mark.parametrize(
    ("first", "second", "symbols"),
    [
        ("binance", "hyperliquid", ("BTCUSDT", "BTC")),
        ("hyperliquid", "lighter", ("kPEPE", "kPEPE")),
        ("binance", "lighter", ("BTCUSDT", "BTC")),
        ("bybit", "paradex", ("BTCUSDT", "BTC-USD-PERP")),
        ("paradex", "lighter_premium", ("BTC-USD-PERP", "BTC")),
        ("hyperliquid", "lighter", ("BTC", "BTC")),
    ],
)
@pytest.mark.parametrize("scenario", ["calm", "faulty", "realistic"])
def test_every_preset_pair_hedges_end_to_end(
    first: str, second: str, symbols: tuple[str, str], scenario: str
) -> None:
    """Each venue preset works as either leg; invariants and venue state are checked at the end."""
    market = MarketModel(11)
    venues: dict[str, SimVenue] = {
        first: PRESETS[first]().build(market, seed=11, scenario=scenario),
        second: PRESETS[second]().build(market, seed=11, scenario=scenario),
    }
    watch = InvariantWatch()

    async def main() -> str:
        a, b = venues[first], venues[second]
        ia, ib = await a.instrument(symbols[0]), await b.instrument(symbols[1])
        qa = max(ia.min_notional / (await a.best_bid_offer(symbols[0])).bid * 3, ia.min_quantity)
        qa = (qa / ia.lot_size).to_integral_value(rounding="ROUND_CEILING") * ia.lot_size
        # The same tokens on the other leg (both legs share the lot in tokens here, or a multiple).
        qb = qa * ia.multiplier / ib.multiplier
        qb = (qb / ib.lot_size).to_integral_value() * ib.lot_size
        qa = qb * ib.multiplier / ia.multiplier
        legs = [
            LegSpec(venue=first, symbol=symbols[0], side=Side.BUY, quantity=qa,
                    price=(await a.best_bid_offer(symbols[0])).bid),
            LegSpec(venue=second, symbol=symbols[1], side=Side.SELL, quantity=qb,
                    price=(await b.best_bid_offer(symbols[1])).ask),
        ]
        engine = HedgeEngine(venues, HedgeConfig(), observers=[watch], hedge_ids=lambda: "p1")
        result = await engine.execute(legs)
        assert not (asyncio.all_tasks() - {asyncio.current_task()})
        return result.state

    state = run(main())
    assert watch.supervisor is not None
    positions = [venues[p.venue].positions().get(p.instrument.symbol, D(0)) for p in watch.supervisor.plans]
    assert check_supervisor(watch.supervisor, positions) + watch.problems == []
    for venue in venues.values():
        assert venue.open_orders() == []
    assert state in ("done", "rolled_back", "failed", "cancelled")


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hedge_fsm.cli", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120, check=False,
    )


def test_cli_simulate_prints_timeline_and_result_table() -> None:
    """`hedge-fsm simulate` exits 0 and prints the timeline, the per-leg table and the final state."""
    done = _cli("simulate", "--seed", "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Timeline" in out and "Result" in out
    for column in ("target", "filled", "maker", "taker", "avg price", "cost (bps)", "time to flat"):
        assert column in out
    assert "PEPEUSDT" in out and "kPEPE" in out
    assert "idle --start--> entering" in out
    assert "final state done" in out
    assert "invariants: all hold" in out


def test_cli_simulate_json_is_deterministic_per_seed() -> None:
    """Same seed: identical JSON; different seed: a different timeline."""
    first, again, other = (_cli("simulate", "--json", "--seed", s) for s in ("5", "5", "6"))
    assert first.returncode == again.returncode == other.returncode == 0
    assert first.stdout == again.stdout
    assert json.loads(first.stdout)["timeline"] != json.loads(other.stdout)["timeline"]
    document = json.loads(first.stdout)
    assert document["state"] == "done"
    assert document["invariant_violations"] == []
    assert [leg["symbol"] for leg in document["legs"]] == ["PEPEUSDT", "kPEPE"]


def test_cli_journal_then_replay_matches(tmp_path: Path) -> None:
    """`simulate --journal` writes a journal that `hedge-fsm replay` rebuilds without mismatch."""
    journal = tmp_path / "episode.jsonl"
    assert _cli("simulate", "--scenario", "faulty", "--seed", "2", "--journal", str(journal)).returncode == 0
    replayed = _cli("replay", str(journal))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replay matches the journal" in replayed.stdout


def test_cli_simulate_diagram_writes_the_episode_view(tmp_path: Path) -> None:
    """`simulate --diagram DIR` writes the leg and supervisor diagrams of that episode."""
    done = _cli("simulate", "--diagram", str(tmp_path / "episode"))
    assert done.returncode == 0, done.stderr
    written = {p.name for p in (tmp_path / "episode").iterdir()}
    assert {"leg.mmd", "supervisor.mmd"} <= written


def test_cli_diagrams_check_passes_on_the_committed_diagrams() -> None:
    """`hedge-fsm diagrams --check` exits 0 on the committed diagrams/."""
    done = _cli("diagrams", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_cli_reports_a_bad_config_file_with_its_field(tmp_path: Path) -> None:
    """A malformed config file is an error naming the field, exit 2, no traceback."""
    config = tmp_path / "bad.toml"
    config.write_text("[opening]\nmax_attempts = 0\n")
    done = _cli("simulate", "--config", str(config))
    assert done.returncode == 2
    assert "opening.max_attempts" in done.stderr
    assert "Traceback" not in done.stderr


def test_embedding_example_runs_offline() -> None:
    """examples/embed.py runs as a user would run it and ends with a done hedge."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed.py")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": done, net exposure 0 tokens" in done.stdout
