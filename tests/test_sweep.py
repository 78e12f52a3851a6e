"""``hedge-fsm sweep``: grid parsing, ranking on common random numbers, and the command itself."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hedge_fsm import ConfigError, HedgeConfig, HedgeError, RetryPolicy
from hedge_fsm.episode import simulate
from hedge_fsm.sweep import expand_grid, parse_grid, run_sweep

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------- grid parsing


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("opening.budgett=1,2", ["opening.budgett"]),  # unknown key
        ("opening.max_attempts=2,x", ["opening.max_attempts", "'x'"]),  # not an integer
        ("opening.budget=-1", ["opening.budget", "'-1'"]),  # refused by the config's validator
        ("opening.budget=fast", ["opening.budget", "'fast'"]),
        ("mode=fast", ["mode", "'fast'"]),  # not a HedgeMode
        ("dust_tolerance=abc", ["dust_tolerance", "'abc'"]),
        ("break_even=maybe", ["break_even", "'maybe'"]),
        ("opening.budget", ["opening.budget", "KEY=V1,V2"]),  # no '='
        ("opening=1", ["opening", "opening.budget"]),  # a table, not a value
        ("opening.budget=2,,4", ["opening.budget", "empty value"]),
        ("opening.budget=2,2", ["opening.budget", "twice"]),
    ],
)
def test_grid_errors_name_the_bad_key_or_value(spec: str, named: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_grid([spec])
    message = str(caught.value)
    for part in named:
        assert part in message, (part, message)
    assert isinstance(caught.value, HedgeError)  # the CLI prints it and exits 2


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"opening\.budget"):
        parse_grid(["opening.budget=2", "opening.budget=4"])


def test_values_are_typed_like_the_defaults_and_expanded_first_axis_slowest() -> None:
    axes = parse_grid(
        ["opening.inside_tick_attempts=1, 3", "opening.budget=2,4.5", "break_even=yes,false", "mode=market"]
    )
    assert [a.key for a in axes] == ["opening.inside_tick_attempts", "opening.budget", "break_even", "mode"]
    assert axes[0].values == (1, 3) and axes[1].values == (2.0, 4.5)
    assert axes[2].values == (True, False) and axes[3].values == ("market",)
    assert axes[1].texts == ("2", "4.5")
    grid = expand_grid(axes)
    assert len(grid) == 8
    assert grid[0] == {"opening.inside_tick_attempts": 1, "opening.budget": 2.0, "break_even": True,
                       "mode": "market"}
    assert grid[1]["break_even"] is False and grid[2]["opening.budget"] == 4.5
    assert grid[4]["opening.inside_tick_attempts"] == 3
    assert expand_grid([]) == [{}]


# ---------------------------------------------------------------------------- a tiny sweep


def _nearest_rank_p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]


def _direct(inside: int, seeds: tuple[int, ...]) -> dict[str, object]:
    """The figures of one configuration, computed straight from ``simulate``."""
    config = HedgeConfig(opening=RetryPolicy(inside_tick_attempts=inside))
    costs: list[float] = []
    times: list[float] = []
    makers: list[float] = []
    done = 0
    for seed in seeds:
        episode = simulate("calm", seed, config=config)
        done += episode.result.state == "done"
        hedges = [leg for leg in episode.legs if leg.role == "hedge"]
        leg_costs = [float(leg.cost_bps) for leg in hedges if leg.cost_bps is not None]
        if leg_costs:
            costs.append(sum(leg_costs) / len(leg_costs))
        leg_times = [leg.time_to_flat for leg in hedges if leg.time_to_flat is not None]
        if leg_times:
            times.append(max(leg_times))
        filled = sum(leg.filled for leg in hedges)
        if filled:
            makers.append(float(sum(leg.maker for leg in hedges) / filled))
    return {
        "mean_cost_bps": sum(costs) / len(costs) if costs else None,
        "p90_time_to_flat": _nearest_rank_p90(times) if times else None,
        "mean_time_to_flat": sum(times) / len(times) if times else None,
        "done_share": done / len(seeds),
        "maker_share": sum(makers) / len(makers) if makers else None,
    }


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)  # type: ignore[arg-type]


def test_tiny_sweep_rows_equal_simulate_run_directly() -> None:
    """2 configurations x 2 seeds in-process: each row's figures are simulate()'s, and rows rank by cost."""
    seeds = (1, 2)
    axes = parse_grid(["opening.inside_tick_attempts=1,3"])
    result = run_sweep(axes, scenarios=("calm",), seeds=seeds, processes=1)
    assert len(result.rows) == 2
    assert [row.rank for row in result.rows] == [1, 2]
    assert {row.overrides["opening.inside_tick_attempts"] for row in result.rows} == {1, 3}
    for row in result.rows:
        expected = _direct(row.overrides["opening.inside_tick_attempts"], seeds)
        assert row.episodes == len(seeds)
        for name, value in expected.items():
            assert _same(getattr(row, name), value), (row.overrides, name, getattr(row, name), value)
        assert row.within_bound  # no bound given
    costs = [row.mean_cost_bps for row in result.rows]
    assert costs[0] is not None and costs[1] is not None and costs[0] <= costs[1]


def test_a_bound_marks_rows_over_it_and_processes_do_not_change_figures() -> None:
    axes = parse_grid(["opening.inside_tick_attempts=1,3"])
    tight = run_sweep(axes, scenarios=("calm",), seeds=(1, 2), processes=1, max_time_to_flat=1e-6)
    assert not any(row.within_bound for row in tight.rows)
    loose = run_sweep(axes, scenarios=("calm",), seeds=(1, 2), processes=2, max_time_to_flat=1e6,
                      bound_stat="mean")
    assert all(row.within_bound for row in loose.rows)
    by_config = {row.overrides["opening.inside_tick_attempts"]: row for row in tight.rows}
    for row in loose.rows:
        twin = by_config[row.overrides["opening.inside_tick_attempts"]]
        assert (row.mean_cost_bps, row.p90_time_to_flat, row.done_share) == (
            twin.mean_cost_bps, twin.p90_time_to_flat, twin.done_share
        )


def test_unknown_scenario_is_refused_by_name() -> None:
    with pytest.raises(HedgeError, match="stormy"):
        run_sweep([], scenarios=("stormy",), seeds=(1,), processes=1)


# ---------------------------------------------------------------------------- the command


def _cli(*args: str, columns: int = 160) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hedge_fsm.cli", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env={**os.environ, "COLUMNS": str(columns)},
    )


def test_cli_sweep_prints_the_ranked_table() -> None:
    done = _cli("sweep", "--grid", "opening.inside_tick_attempts=1,3", "--scenarios", "calm",
                "--seeds", "2", "--processes", "1", "--max-time-to-flat", "3.0")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Best configurations by mean cost" in out
    assert "p90 time to flat <= 3 s" in out
    for column in ("rank", "opening.inside_tick_attempts", "(bps)", "ttf (s)", "bound"):
        assert column in out, column
    assert "2 configuration(s) x 1 scenario(s)" in out


def test_cli_sweep_bad_grid_exits_2_naming_the_key() -> None:
    done = _cli("sweep", "--grid", "opening.budgett=1,2", "--seeds", "1", "--processes", "1")
    assert done.returncode == 2
    assert "opening.budgett" in done.stderr


def test_bound_column_appears_only_when_a_bound_was_given() -> None:
    """Without --max-time-to-flat no row is said to be "within" anything; with it, each row is marked."""
    from rich.console import Console

    from hedge_fsm.sweep import render

    axes = parse_grid(["opening.inside_tick_attempts=1,3"])

    def text(bound: float | None) -> str:
        result = run_sweep(axes, scenarios=("calm",), seeds=(1,), processes=1, max_time_to_flat=bound)
        console = Console(width=160, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
        console.print(render(result))
        return console.export_text()

    unbounded = text(None)
    assert "no time-to-flat bound" in unbounded
    assert "within" not in unbounded and "over" not in unbounded and "bound " not in unbounded.split("\n")[2]
    bounded = text(0.000001)  # nothing is that fast: every row is over
    assert "over" in bounded and "within" not in bounded


def test_cli_sweep_table_fits_80_columns_without_cutting_a_value() -> None:
    """At 80 columns the ranked table shortens its grid headers (keys in the caption); no value is cut."""
    done = _cli("sweep", "--grid", "opening.inside_tick_attempts=1,3", "--grid", "opening.budget=2,4",
                "--scenarios", "calm", "--seeds", "1", "--processes", "1", "--max-time-to-flat", "3",
                columns=80)
    assert done.returncode == 0, done.stderr
    table = done.stdout[done.stdout.index("Best configurations"):]
    assert "…" not in table
    assert all(len(line) <= 80 for line in table.splitlines())
    assert "columns: opening.inside_tick_attempts, opening.budget" in table
    assert table.count("within") + table.count("over") >= 4  # every row's bound cell is whole
