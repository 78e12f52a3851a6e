"""Journal, replay and crash recovery, on the scripted venue in virtual time.

The crash test stops the engine at every event boundary of an episode (before
and after the event reaches the journal), restarts a new engine from the
journal with the venue still running, and checks: no order left open, every
fill counted exactly once (the ledgers agree with the venue's positions), and
the same outcome as the uncrashed run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

import pytest

from hedge_fsm import EntryHandoff, ExecutionResult, HedgeConfig, HedgeEngine, RetryPolicy
from hedge_fsm.journal import JournalWriter, read_journal, replay
from hedge_fsm.machines.commands import Command, PlaceLimit
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, Route
from hedge_fsm.sim.loop import run
from tests.scripted import Cancel, ScriptedVenue
from tests.test_engine import LONG_A_SHORT_B, fill_entry, fill_live, two_venues


class SimulatedCrash(Exception):
    """The process dies here."""


class CrashAt:
    """An observer that kills the engine when the n-th event is about to be dispatched."""

    def __init__(self, at_event: int) -> None:
        self.at_event = at_event
        self.seen = 0

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        pass

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        pass

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        self.seen += 1
        if self.seen == self.at_event:
            raise SimulatedCrash(f"crash at event {self.at_event}")

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None:
        pass


Actions = list[tuple[float, Callable[[], object]]]
Setup = tuple[dict[str, ScriptedVenue], Actions, HedgeConfig]
Scenario = Callable[[], Setup]


class CrashAtCommand(CrashAt):
    """Kills the engine inside the driver, as the n-th command is about to be carried out."""

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        pass

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        self.seen += 1
        if self.seen == self.at_event:
            raise SimulatedCrash(f"crash at command {self.at_event}")


def fill_entry_if_placed(venue: ScriptedVenue, leg: int, quantity: D = D("1")) -> Callable[[], object]:
    """Fill the entry order when it exists (a crash may have kept it from ever being sent)."""
    return lambda: venue.by_client.get(f"h1e{leg}n1") and fill_entry(venue, leg, quantity)()


def clean_scenario() -> Setup:
    a, b = two_venues()
    actions: Actions = [(0.5, fill_entry_if_placed(a, 0)), (0.9, fill_live(b, "h1h1n"))]
    # Cancel-first: the hedge is one new order ("h1h1n..."), the order a crash can cut off.
    return {"a": a, "b": b}, actions, HedgeConfig(entry_handoff=EntryHandoff.CANCEL)


def partial_then_market() -> Setup:
    a, b = two_venues()
    b.script_cancel("BTC", Cancel("fill_first", D("0.2")))
    config = HedgeConfig(opening=RetryPolicy(max_attempts=2, budget=1.0, attempt_wait=0.3))
    return (
        {"a": a, "b": b},
        [(0.5, fill_entry_if_placed(a, 0)), (0.6, fill_live(b, "h1h1n", D("0.3")))],
        config,
    )


def run_episode(
    scenario: Scenario, journal: Path, crash: CrashAt | None, crash_first: bool
) -> tuple[ExecutionResult, dict[str, ScriptedVenue]]:
    venues, actions, config = scenario()

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        writer = JournalWriter(journal, fsync="never")
        observers: list[object] = [writer]
        if crash is not None:
            observers.insert(0 if crash_first else 1, crash)
        engine = HedgeEngine(venues, config, hedge_ids=lambda: "h1", observers=observers)  # type: ignore[arg-type]
        try:
            return await engine.execute(LONG_A_SHORT_B)
        except SimulatedCrash:
            pass
        finally:
            writer.close()  # the process is gone: so is its hold on the journal
        # A new process: a new engine, the same venues (still running), the journal.
        with JournalWriter(journal, fsync="never") as writer2:
            recovered = HedgeEngine(venues, config, observers=[writer2])
            results = await recovered.recover(journal)
        assert len(results) == 1
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others, f"tasks left running: {others}"
        return results[0]

    return run(main()), venues


def ledger_agrees_with_venue(result: ExecutionResult, venues: dict[str, ScriptedVenue]) -> None:
    for leg in result.legs:
        assert leg.side is not None
        venue = venues[leg.venue]
        expected = leg.side.sign * (leg.filled_quantity - leg.rolled_back_quantity)
        assert expected == venue.positions[leg.symbol], (
            f"leg {leg.venue}: ledger says {expected}, venue holds {venue.positions[leg.symbol]}"
        )


@pytest.mark.parametrize("scenario", [clean_scenario, partial_then_market])
def test_crash_at_every_event_boundary_recovers_to_the_same_outcome(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Stop at every boundary, before and after the journal write; recover; nothing lost or doubled."""
    baseline, venues = run_episode(scenario, tmp_path / "base.jsonl", None, False)
    ledger_agrees_with_venue(baseline, venues)
    events = sum(1 for e in read_journal(tmp_path / "base.jsonl")["h1"].events)
    assert events > 10
    boundaries = 0
    for at_event in range(1, events + 1):
        for crash_first in (True, False):
            journal = tmp_path / f"crash-{at_event}-{crash_first}.jsonl"
            result, venues = run_episode(scenario, journal, CrashAt(at_event), crash_first)
            boundaries += 1
            for venue in venues.values():
                assert venue.live_orders() == [], f"{at_event}: open orders {venue.live_orders()}"
            ledger_agrees_with_venue(result, venues)
            assert result.state == baseline.state, f"crash at {at_event}: {result.state}"
            assert abs(result.net_exposure) <= D("0.001")
    assert boundaries == 2 * events


@pytest.mark.parametrize("scenario", [clean_scenario, partial_then_market])
def test_crash_inside_the_driver_at_every_command_recovers(scenario: Scenario, tmp_path: Path) -> None:
    """Stop as each command is issued, before or after its journal record (write-ahead): the
    command was never sent, or may have been; recovery must come out the same either way."""
    baseline, _ = run_episode(scenario, tmp_path / "base.jsonl", None, False)
    commands = len(read_journal(tmp_path / "base.jsonl")["h1"].commands)
    assert commands > 10
    for at_command in range(1, commands + 1):
        for crash_first in (True, False):
            journal = tmp_path / f"cmd-{at_command}-{crash_first}.jsonl"
            result, venues = run_episode(scenario, journal, CrashAtCommand(at_command), crash_first)
            for venue in venues.values():
                assert venue.live_orders() == [], f"{at_command}: open orders {venue.live_orders()}"
            ledger_agrees_with_venue(result, venues)
            # An entry order that was never sent does not exist: the recovered engine finds
            # that out and cancels the entry. Any other crash point ends like the baseline.
            never_sent = result.state == "cancelled" and all(
                leg.filled_quantity == 0 for leg in result.legs
            )
            assert result.state == baseline.state or never_sent, (
                f"crash at command {at_command}: {result.state}"
            )


def test_replay_rebuilds_the_final_state_without_mismatch(tmp_path: Path) -> None:
    """Replaying a finished journal into fresh machines ends in the same state, same commands."""
    result, _ = run_episode(clean_scenario, tmp_path / "j.jsonl", None, False)
    hedge = read_journal(tmp_path / "j.jsonl")["h1"]
    rebuilt = replay(hedge)
    assert rebuilt.mismatches == []
    assert rebuilt.supervisor.state == result.state == "done"
    assert rebuilt.supervisor.net_exposure() == result.net_exposure
    assert [t.trigger for t in rebuilt.supervisor.history] == [t.trigger for t in result.transitions]


def test_replay_reports_a_tampered_journal(tmp_path: Path) -> None:
    """A journal whose command differs from what the machines emit is reported, not trusted."""
    run_episode(clean_scenario, tmp_path / "j.jsonl", None, False)
    text = (tmp_path / "j.jsonl").read_text()
    tampered = text.replace('"quantity":"1"', '"quantity":"2"', 1)
    assert tampered != text
    (tmp_path / "t.jsonl").write_text(tampered)
    assert replay(read_journal(tmp_path / "t.jsonl")["h1"]).mismatches != []


def test_journal_records_decimals_as_strings_and_a_schema_version(tmp_path: Path) -> None:
    """Every record has v=1; no JSON float ever carries a price or quantity."""
    import json

    run_episode(clean_scenario, tmp_path / "j.jsonl", None, False)
    for line in (tmp_path / "j.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["v"] == 1
        data = json.dumps(record["data"])
        for key in ("price", "quantity", "filled_quantity", "average_price", "bid", "ask"):
            assert f'"{key}": 0.' not in data and f'"{key}": 1' not in data


def test_unanswered_placement_is_looked_up_not_resent(tmp_path: Path) -> None:
    """Crash right after a hedge order was journaled and sent: recovery looks it up by client id."""
    baseline, _ = run_episode(clean_scenario, tmp_path / "base.jsonl", None, False)
    hedge = read_journal(tmp_path / "base.jsonl")["h1"]
    # The event answering the first hedge placement: crash just before it is dispatched.
    place = next(
        c for c in hedge.commands if isinstance(c.command, PlaceLimit) and c.route.machine == "leg"
    )
    assert isinstance(place.command, PlaceLimit)
    answer_index = next(i for i, e in enumerate(hedge.events, start=1) if e.cause == place.id)
    result, venues = run_episode(clean_scenario, tmp_path / "c.jsonl", CrashAt(answer_index), True)
    placements = [c for c in venues["b"].placed() if c["client_order_id"].startswith("h1h1n")]
    assert len(placements) == 1, "the hedge order was sent twice"
    lookups = [
        args
        for op, args in venues["b"].calls
        if op == "order" and args["client_order_id"] == place.command.client_order_id
    ]
    assert lookups
    assert result.state == baseline.state
