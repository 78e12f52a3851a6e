"""Logging: disabled by default, no sinks added, records bound with hedge id, leg and state."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from loguru import logger

from hedge_fsm import HedgeConfig, HedgeEngine
from hedge_fsm.sim.loop import run
from tests.test_engine import LONG_A_SHORT_B, fill_entry, fill_live, two_venues


def _run_clean_hedge() -> None:
    a, b = two_venues()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_at(0.5, fill_entry(a, 0))
        loop.call_at(0.9, fill_live(b, "h1h1n"))
        await HedgeEngine({"a": a, "b": b}, HedgeConfig(), hedge_ids=lambda: "h1").execute(
            LONG_A_SHORT_B
        )

    run(main())


def test_library_is_silent_by_default() -> None:
    """With the library disabled (its default), a hedge writes nothing to an application sink."""
    records: list[Any] = []
    sink = logger.add(records.append, level="TRACE")
    try:
        logger.disable("hedge_fsm")
        _run_clean_hedge()
    finally:
        logger.remove(sink)
    assert [r for r in records if r.record["name"].startswith("hedge_fsm")] == []


def test_enabled_logs_are_bound_with_hedge_leg_and_state() -> None:
    """An application that enables hedge_fsm gets transition records bound with hedge_id/leg/state."""
    records: list[Any] = []
    sink = logger.add(records.append, level="DEBUG")
    logger.enable("hedge_fsm")
    try:
        _run_clean_hedge()
    finally:
        logger.disable("hedge_fsm")
        logger.remove(sink)
    ours = [r.record for r in records if r.record["name"].startswith("hedge_fsm")]
    assert ours, "no record from hedge_fsm once enabled"
    transitions = [r for r in ours if "-->" in r["message"]]
    assert transitions
    for record in transitions:
        assert record["extra"]["hedge_id"] == "h1"
        assert "leg" in record["extra"] and "state" in record["extra"]
    assert any(r["extra"]["state"] == "done" for r in ours)


# ---------------------------------------------------------------------------- import order

_ORDER = """
import sys
from loguru import logger
logger.remove()
logger.add(sys.stdout, format="{{name}} | {{message}}", level="INFO")
{before}
import hedge_fsm
from hedge_fsm.episode import simulate
{after}
simulate("calm", 1)
"""


def _hedge_fsm_lines(before: str = "", after: str = "") -> list[str]:
    """Run one simulated hedge in a fresh interpreter; the hedge_fsm lines its sink received."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _ORDER.format(before=before, after=after)],
        capture_output=True, text=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line.startswith("hedge_fsm")]


def test_enable_before_import_is_not_undone_by_the_import() -> None:
    """``logger.enable("hedge_fsm")`` before ``import hedge_fsm``: the hedge's records still arrive."""
    lines = _hedge_fsm_lines(before='logger.enable("hedge_fsm")')
    assert any("ended done" in line for line in lines), lines


def test_enable_after_import_works_too() -> None:
    """The documented order (enable after import) delivers the same records."""
    lines = _hedge_fsm_lines(after='logger.enable("hedge_fsm")')
    assert any("ended done" in line for line in lines), lines


def test_the_import_alone_keeps_the_library_silent() -> None:
    """Without any enable, importing and running a hedge writes nothing from hedge_fsm."""
    assert _hedge_fsm_lines() == []


def test_a_disable_before_import_is_respected_and_a_child_enable_survives() -> None:
    """An application's own choices stand: a child enabled before import keeps logging, alone."""
    lines = _hedge_fsm_lines(before='logger.disable("hedge_fsm"); logger.enable("hedge_fsm.engine")')
    assert lines and all(line.startswith("hedge_fsm.engine") for line in lines), lines
