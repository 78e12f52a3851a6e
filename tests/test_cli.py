"""The ``hedge-fsm`` command as a user runs it: in a subprocess, at a fixed terminal width.

Every bad input ends in exactly one line on stderr naming the value and what was
expected, exit status 2, and no traceback; text the user typed is printed as typed
(never read as rich markup); the result table never cuts a number at 80, 100, 120
or 140 columns; the exit status says how the hedge ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(columns: int) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)}
    env.pop("FORCE_COLOR", None)
    return env


def hedge_fsm(*args: str, columns: int = 100, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``hedge-fsm ARGS`` as a user would (a fresh interpreter, COLUMNS set)."""
    return subprocess.run(
        [sys.executable, "-m", "hedge_fsm.cli", *args],
        capture_output=True, text=True, cwd=cwd, env=_env(columns), timeout=120, check=False,
    )


def python(code: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh interpreter (for stubs the command line cannot make)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, cwd=ROOT, env=_env(columns), timeout=120, check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *parts: str) -> str:
    """Exit status 2, no traceback, one stderr line containing every part; returns the line."""
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip("\n").split("\n")
    assert len(lines) == 1, done.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------- the result table


@pytest.fixture(scope="module")
def calm_json() -> dict[str, object]:
    done = hedge_fsm("simulate", "--seed", "3", "--json")
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    return document


def _plain(value: str) -> str:
    return format(Decimal(value).normalize(), "f")


@pytest.mark.parametrize("columns", [80, 100, 120, 140])
def test_result_table_fits_the_width_and_never_cuts_a_number(
    columns: int, calm_json: dict[str, object]
) -> None:
    """At 80-140 columns every line fits, nothing is elided (no '…'), every figure is whole,
    and the units and the fees are named."""
    done = hedge_fsm("simulate", "--seed", "3", columns=columns)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "…" not in out
    result = out[out.index("Result"):]
    for line in result.splitlines():
        assert len(line) <= columns, (columns, line)
    # Units: quantities in contracts (tokens per contract shown), prices and fees in USDT,
    # and the cost says it includes the fees.
    words = " ".join(result.split())
    assert "contracts" in words and "tokens" in words and "USDT" in words and "fees" in words
    assert "with fees" in words or "fees included" in words
    assert "Cost = fees + slippage" in words
    legs = calm_json["legs"]
    assert isinstance(legs, list)
    for leg in legs:
        for key in ("target", "filled", "average_price", "fees", "cost_bps"):
            assert _plain(leg[key]) in result, (columns, key, leg[key])
        assert leg["venue"] in result and leg["symbol"] in result and leg["state"] in result


def test_a_wide_terminal_gets_every_field_side_by_side() -> None:
    """At 200 columns the table is one row per leg with every field, maker and taker included."""
    out = hedge_fsm("simulate", columns=200).stdout
    header = out[out.index("Result"):]
    assert "maker" in header and "taker" in header and "arrival" in header
    assert "not shown at this width" not in out
    rows = [line for line in header.splitlines() if line.strip().startswith(("binance", "lighter"))]
    assert len(rows) == 2


def test_invariants_line_points_at_the_projects_own_design_doc() -> None:
    """The closing line cites docs/design.md (shipped with the project), not an absent DESIGN.md."""
    out = hedge_fsm("simulate").stdout
    assert "invariants: all hold (docs/design.md, Invariants)" in out
    assert "DESIGN.md" not in out
    assert (ROOT / "docs" / "design.md").is_file()


# ---------------------------------------------------------------------------- exit status

_FORCED_STATE = """
import attrs, sys
import hedge_fsm.episode as episode
real = episode.simulate
def forced(*args, **kwargs):
    ep = real(*args, **kwargs)
    ep.result = attrs.evolve(ep.result, state={state!r})
    return ep
episode.simulate = forced
from hedge_fsm.cli import main
raise SystemExit(main({argv!r}))
"""


@pytest.mark.parametrize(
    ("state", "status", "json_output"),
    [("done", 0, True), ("cancelled", 0, True), ("rolled_back", 3, True), ("failed", 4, True),
     ("rolled_back", 3, False), ("failed", 4, False)],
)
def test_exit_status_says_how_the_hedge_ended(state: str, status: int, json_output: bool) -> None:
    """A script can tell a hedge that did not complete: rolled_back exits 3, failed exits 4."""
    argv = ["simulate", *(["--json"] if json_output else [])]
    done = python(_FORCED_STATE.format(state=state, argv=argv))
    assert done.returncode == status, done.stderr
    if json_output:
        assert json.loads(done.stdout)["exit_status"] == status


def test_exit_statuses_are_documented_in_help_and_readme() -> None:
    """``--help`` and the README both list the exit statuses 3 (rolled_back) and 4 (failed)."""
    for args in (("--help",), ("simulate", "--help")):
        text = " ".join(hedge_fsm(*args, columns=200).stdout.split())
        assert "3 rolled_back" in text and "4 failed" in text and "2 bad input" in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`3`" in readme and "rolled_back" in readme and "`4`" in readme


# ---------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("seed", ["-5", "1234567890123", "abc"])
def test_a_bad_seed_is_reported_as_a_seed_not_as_a_hedge_id(seed: str) -> None:
    """``--seed -5`` and a 13-digit seed name --seed and its range, never hedge_id."""
    line = assert_one_line_error(hedge_fsm("simulate", "--seed", seed), "--seed", "0 to 4294967295", seed)
    assert "hedge_id" not in line


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        (("--processes", "0"), ("--processes", "got 0", "1 to")),
        (("--processes", "500"), ("--processes", "500", "core")),
        (("--top", "-1"), ("--top", ">= 0", "-1")),
        (("--seeds", "0"), ("--seeds", ">= 1")),
        (("--first-seed", "-3"), ("--first-seed", "-3")),
        (("--max-time-to-flat", "0"), ("--max-time-to-flat", "> 0")),
        (("--scenarios", "stormy"), ("stormy", "calm")),
    ],
)
def test_sweep_checks_arguments_before_any_banner_or_progress(
    args: tuple[str, ...], parts: tuple[str, ...]
) -> None:
    """A bad sweep option fails in one line before the banner or a progress bar is printed."""
    done = hedge_fsm("sweep", "--seeds", "1", *args)
    assert_one_line_error(done, *parts)
    assert done.stdout == ""


def test_sweep_processes_limit_names_this_machines_core_count() -> None:
    """The refusal of too many processes says how many cores there are."""
    from hedge_fsm.sweep import cores

    line = assert_one_line_error(hedge_fsm("sweep", "--processes", str(cores() + 1)))
    assert f"on {cores()} core(s)" in line


# ---------------------------------------------------------------------------- files


def _unwritable_file(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        return locked / "j.jsonl"
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as root without /sys: no unwritable folder to try")
    return Path("/sys/kernel/hedge-fsm-test.jsonl")  # sysfs refuses new files, even to root


def test_journal_into_a_missing_folder(tmp_path: Path) -> None:
    """``--journal`` into a folder that does not exist names the folder; nothing runs."""
    path = tmp_path / "nope" / "j.jsonl"
    done = hedge_fsm("simulate", "--journal", str(path))
    assert_one_line_error(done, f"--journal {path}", f"folder {path.parent} does not exist")
    assert done.stdout == ""


def test_journal_onto_a_directory(tmp_path: Path) -> None:
    """``--journal`` naming a folder says a file path is expected."""
    assert_one_line_error(hedge_fsm("simulate", "--journal", str(tmp_path)),
                          f"--journal {tmp_path}", "is a folder", "expected a file path")


def test_journal_onto_an_unwritable_path(tmp_path: Path) -> None:
    """An unwritable journal path is one line saying it cannot be written, not a PermissionError."""
    path = _unwritable_file(tmp_path)
    done = hedge_fsm("simulate", "--journal", str(path))
    assert_one_line_error(done, f"--journal {path}", "ermission denied")


def test_diagram_onto_an_existing_file(tmp_path: Path) -> None:
    """``--diagram`` names a folder; an existing file there is refused before the run."""
    existing = tmp_path / "episode.svg"
    existing.write_text("keep me", encoding="utf-8")
    done = hedge_fsm("simulate", "--diagram", str(existing))
    assert_one_line_error(done, f"--diagram {existing}", "not a folder")
    assert existing.read_text(encoding="utf-8") == "keep me"


def test_diagrams_out_into_a_missing_folder(tmp_path: Path) -> None:
    """``diagrams --out`` into a folder that does not exist is one line, not a FileNotFoundError."""
    missing = tmp_path / "a" / "b"
    assert_one_line_error(hedge_fsm("diagrams", "--out", str(missing)), f"--out {missing}", "does not exist")
    assert not missing.exists()


@pytest.mark.parametrize("command", ["simulate", "sweep"])
def test_a_non_utf8_config_names_the_file_the_byte_and_the_expected_format(
    tmp_path: Path, command: str
) -> None:
    """A config in Latin-1 (or binary) is one line: the path, the first bad byte, UTF-8 TOML expected."""
    config = tmp_path / "hedge.toml"
    config.write_bytes('# caf\xe9\ndust_tolerance = "0"\n'.encode("latin-1"))
    assert_one_line_error(hedge_fsm(command, "--config", str(config)),
                          f"--config {config}", "not UTF-8", "0xe9", "TOML")


def test_a_missing_config_and_a_config_folder(tmp_path: Path) -> None:
    """A config path that does not exist, or is a folder, is one line each."""
    assert_one_line_error(hedge_fsm("simulate", "--config", str(tmp_path / "none.toml")), "no such file")
    assert_one_line_error(hedge_fsm("simulate", "--config", str(tmp_path)), "is a folder")


def test_a_non_utf8_journal_is_one_line(tmp_path: Path) -> None:
    """``replay`` of a binary file names it and says a UTF-8 journal was expected."""
    journal = tmp_path / "j.jsonl"
    journal.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(hedge_fsm("replay", str(journal)), f"replay {journal}", "not UTF-8", "journal")


def test_a_bad_config_value_is_one_line_naming_the_field(tmp_path: Path) -> None:
    """A config with a negative dust tolerance: one line with the file and the field."""
    config = tmp_path / "hedge.toml"
    config.write_text('dust_tolerance = "-1"\n', encoding="utf-8")
    assert_one_line_error(hedge_fsm("simulate", "--config", str(config)), str(config), "dust_tolerance")


# ---------------------------------------------------------------------------- markup


def test_a_config_path_with_brackets_is_printed_as_typed(tmp_path: Path) -> None:
    """``--config "runs/[old]/h.toml"``: the error names the path with its brackets intact."""
    folder = tmp_path / "runs" / "[old]"
    folder.mkdir(parents=True)
    (folder / "h.toml").write_text("break_even_max_ticks = -1\n", encoding="utf-8")
    done = hedge_fsm("simulate", "--config", "runs/[old]/h.toml", cwd=tmp_path)
    assert_one_line_error(done, "runs/[old]/h.toml", "break_even_max_ticks")


def test_a_valid_config_in_a_bracketed_folder_runs(tmp_path: Path) -> None:
    """The same bracketed path with a valid config simply runs (the path is not markup)."""
    folder = tmp_path / "runs" / "[old]"
    folder.mkdir(parents=True)
    (folder / "h.toml").write_text("break_even_max_ticks = 2\n", encoding="utf-8")
    journal = "runs/[old]/j.jsonl"
    done = hedge_fsm("simulate", "--config", "runs/[old]/h.toml", "--journal", journal, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"journal written to {journal}" in done.stdout


def test_replay_of_a_bracketed_path_prints_it_and_never_raises_markup_error(tmp_path: Path) -> None:
    """``replay "runs/[/]j.jsonl"`` (a folder named "[") reads the path literally, missing or empty."""
    missing = hedge_fsm("replay", "runs/[/]j.jsonl", cwd=tmp_path)
    assert_one_line_error(missing, "runs/[/]j.jsonl", "no such file")
    assert "MarkupError" not in missing.stderr
    (tmp_path / "runs" / "[").mkdir(parents=True)
    (tmp_path / "runs" / "[" / "]j.jsonl").write_text("", encoding="utf-8")
    empty = hedge_fsm("replay", "runs/[/]j.jsonl", cwd=tmp_path)
    assert "Traceback" not in empty.stderr
    assert "runs/[/]j.jsonl: no hedge in the journal" in empty.stdout


def test_replay_of_a_journal_written_by_simulate(tmp_path: Path) -> None:
    """A journal written by ``simulate --journal`` replays and matches (exit status 0)."""
    journal = tmp_path / "j.jsonl"
    assert hedge_fsm("simulate", "--journal", str(journal)).returncode == 0
    done = hedge_fsm("replay", str(journal))
    assert done.returncode == 0, done.stderr
    assert "replay matches the journal" in done.stdout
    assert "contracts" in done.stdout


# ---------------------------------------------------------------------------- optional extras


_NO_PYGRAPHVIZ = """
import sys
sys.modules["pygraphviz"] = None  # as if the [diagrams] extra were not installed
from hedge_fsm.cli import main
raise SystemExit(main({argv!r}))
"""


def test_simulate_diagram_without_pygraphviz_says_so_with_the_install_command(tmp_path: Path) -> None:
    """Without pygraphviz the Mermaid files are written and the output says SVGs need the extra."""
    done = python(_NO_PYGRAPHVIZ.format(argv=["simulate", "--diagram", str(tmp_path / "ep")]))
    assert done.returncode == 0, done.stderr
    assert "pygraphviz is not installed" in done.stdout
    assert 'pip install "hedge-fsm[diagrams]"' in done.stdout
    assert (tmp_path / "ep" / "leg.mmd").is_file()
    assert not (tmp_path / "ep" / "leg.svg").exists()


def test_diagrams_check_passes_on_the_committed_folder_and_names_a_stale_file(tmp_path: Path) -> None:
    """``hedge-fsm diagrams --check`` exits 0 on diagrams/, 1 naming the file once one is edited."""
    import shutil

    fresh = hedge_fsm("diagrams", "--check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "diagrams: fresh" in fresh.stdout
    copy = tmp_path / "diagrams"
    shutil.copytree(ROOT / "diagrams", copy)
    (copy / "leg-overview.mmd").write_text("stateDiagram-v2\n", encoding="utf-8")
    stale = hedge_fsm("diagrams", "--check", "--out", str(copy))
    assert stale.returncode == 1
    assert f"stale or missing: {copy / 'leg-overview.mmd'}" in stale.stdout


def test_two_runs_into_one_journal_replay_as_two_hedges_and_a_torn_tail_is_announced(tmp_path: Path) -> None:
    """Each run names its fresh hedge id; replay shows both hedges and warns about a torn last line."""
    journal = tmp_path / "j.jsonl"
    first = hedge_fsm("simulate", "--journal", str(journal))
    second = hedge_fsm("simulate", "--journal", str(journal))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    ids = [line.rpartition("(hedge ")[2].rstrip(")") for run in (first, second)
           for line in run.stdout.splitlines() if line.startswith("journal written to")]
    assert len(ids) == 2 and ids[0] != ids[1]
    with journal.open("a", encoding="utf-8") as torn:
        torn.write('{"v": 1, "hed')  # a crash in the middle of a write
    replayed = hedge_fsm("replay", str(journal))
    assert replayed.returncode == 0, replayed.stderr
    assert "warning:" in replayed.stdout and "dropped a torn last record" in replayed.stdout
    for hedge_id in ids:
        assert f"hedge {hedge_id}  journal: done  replayed: done" in replayed.stdout
    third = hedge_fsm("simulate", "--journal", str(journal))
    assert "truncated to the last whole record before appending" in third.stdout
