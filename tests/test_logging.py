"""Logging: disabled by default, no sinks added, records bound with hedge id, leg and state."""

from __future__ import annotations

import asyncio
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
