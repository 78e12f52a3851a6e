"""A journal that survives its own damage: a torn tail is repaired, anything else is refused.

Issue 11 case 8 and issue 14 items 3 and 5. A crash mid-write leaves a torn
last record: the next writer truncates it (and says so) and appends safely,
and recovery completes on the venues' truth. Every other damage — a repeated
start record, a duplicate, out-of-order or missing sequence number, a record
of the wrong shape, bytes that are not UTF-8, a replay that does not match —
is refused with a :class:`JournalError` naming the file and the line, before
anything is sent to a venue.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger

from hedge_fsm import ExecutionResult, HedgeConfig, HedgeEngine, HedgeError
from hedge_fsm.episode import default_legs, fresh_hedge_id, simulate
from hedge_fsm.journal import (
    JournalError,
    JournalWriter,
    ResumeRecord,
    load_journal,
    read_journal,
    recoverable,
    replay,
)
from hedge_fsm.sim import SimVenue, build_venues
from hedge_fsm.sim.loop import run
from hedge_fsm.venue import DEFAULT_CAPABILITIES
from tests.scripted import ScriptedVenue
from tests.test_engine import BTC, LONG_A_SHORT_B, StreamingVenue, btc_bbo, two_venues
from tests.test_recovery import (
    CrashAt,
    CrashAtCommand,
    SimulatedCrash,
    clean_scenario,
    ledger_agrees_with_venue,
    partial_then_market,
    run_episode,
)

# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The library's warning messages while the test runs (the library logs nothing by default)."""
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(m.record["message"]), level="WARNING")
    logger.enable("hedge_fsm")
    try:
        yield messages
    finally:
        logger.disable("hedge_fsm")
        logger.remove(sink)


def finished_journal(tmp_path: Path, name: str = "j.jsonl") -> Path:
    """A journal of one clean, finished hedge ``h1`` on the scripted venues."""
    journal = tmp_path / name
    result, _ = run_episode(clean_scenario, journal, None, False)
    assert result.state == "done"
    return journal


def lines_of(journal: Path) -> list[str]:
    return journal.read_text(encoding="utf-8").splitlines()


def write_lines(journal: Path, lines: list[str]) -> None:
    journal.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def refusal(journal: Path) -> str:
    """The message of the JournalError that reading ``journal`` raises."""
    with pytest.raises(JournalError) as caught:
        read_journal(journal)
    return str(caught.value)


def cut_last_record(journal: Path, keep: float = 0.5) -> int:
    """A crash mid-write: keep only part of the last record (no newline). Returns bytes kept."""
    raw = journal.read_bytes()
    start = raw.rstrip(b"\n").rfind(b"\n") + 1
    record = raw[start:].rstrip(b"\n")
    kept = max(1, int(len(record) * keep))
    journal.write_bytes(raw[:start] + record[:kept])
    return kept


# ----------------------------------------------------------------------------- torn tail, sim venues

# A placement the crash kept from reaching its venue is provably dead once the ambiguous
# horizon has passed; the hedge then completes. With the default horizon (10 s, equal to the
# default stuck_timeout) the supervisor gives up first and rolls back: safe, but not the
# uncrashed outcome this test compares with. 5 s keeps the comparison exact.
SIM_CONFIG = HedgeConfig(ambiguous_horizon=5.0)
SIM_SEED = 3


def _venue_truth(result: ExecutionResult, venues: dict[str, SimVenue], baseline: dict[str, D]) -> None:
    """Venue positions equal what the result says was traded; no order is left open."""
    for venue in venues.values():
        assert venue.open_orders() == [], f"{venue.name}: open orders {venue.open_orders()}"
    for leg in result.legs:
        assert leg.side is not None
        moved = venues[leg.venue].positions().get(leg.symbol, D(0)) - baseline[leg.venue]
        expected = leg.side.sign * (leg.filled_quantity - leg.rolled_back_quantity)
        assert moved == expected, f"{leg.venue}: venue moved {moved}, result says {expected}"


def _sim_episode(
    journal: Path, crash: CrashAt | None, damage: Callable[[Path], object] | None
) -> tuple[ExecutionResult, dict[str, SimVenue], dict[str, D], JournalWriter | None]:
    """One default two-leg hedge on the simulated venues; optionally crash, damage, reopen, recover."""
    venues = build_venues("calm", SIM_SEED)

    async def main() -> tuple[ExecutionResult, dict[str, D], JournalWriter | None]:
        legs = await default_legs(venues)
        baseline = {name: v.positions().get(leg.symbol, D(0))
                    for leg in legs for name, v in venues.items() if name == leg.venue}
        writer = JournalWriter(journal, fsync="never")
        observers: list[Any] = [writer] if crash is None else [writer, crash]
        engine = HedgeEngine(venues, SIM_CONFIG, observers=observers, hedge_ids=lambda: "t1")
        try:
            return await engine.execute(legs), baseline, None
        except SimulatedCrash:
            pass
        finally:
            writer.close()
        if damage is not None:
            damage(journal)
        # A new process: reopen the journal (repairing it), recover on the same venues.
        with JournalWriter(journal, fsync="never") as reopened:
            results = await HedgeEngine(venues, SIM_CONFIG, observers=[reopened]).recover(journal)
        assert len(results) == 1
        assert not (asyncio.all_tasks() - {asyncio.current_task()}), "a task was left running"
        return results[0], baseline, reopened

    result, baseline, reopened = run(main())
    return result, venues, baseline, reopened


def test_torn_tail_at_every_event_is_repaired_on_reopen_and_recovery_ends_on_venue_truth(
    tmp_path: Path,
) -> None:
    """Crash while writing each event record in turn (its record cut in half on disk): the
    reopened writer truncates the torn record and says so, recovery appends after it and ends
    as the uncrashed hedge did, on the venues' truth, and the final journal replays faithfully."""
    base_result, base_venues, base_positions, _ = _sim_episode(tmp_path / "base.jsonl", None, None)
    _venue_truth(base_result, base_venues, base_positions)
    assert base_result.state == "done"
    events = len(read_journal(tmp_path / "base.jsonl")["t1"].events)
    assert events > 5
    for at_event in range(1, events + 1):
        journal = tmp_path / f"torn-{at_event}.jsonl"
        kept: list[int] = []
        result, venues, baseline, reopened = _sim_episode(
            journal, CrashAt(at_event), lambda j, kept=kept: kept.append(cut_last_record(j))
        )
        assert reopened is not None and reopened.torn_tail is not None, f"event {at_event}"
        assert reopened.torn_tail.size == kept[0]
        _venue_truth(result, venues, baseline)
        assert result.state == base_result.state, f"torn at event {at_event}: {result.state}"
        # The repaired journal, with the recovery's records appended, is whole and faithful.
        contents = load_journal(journal)
        assert contents.torn_tail is None
        hedge = contents.hedges["t1"]
        assert hedge.finished
        assert replay(hedge).mismatches == []


def test_old_behaviour_appending_onto_a_torn_line_can_no_longer_happen(tmp_path: Path) -> None:
    """Regression (issue 11 case 8): a writer reopened on a torn journal used to append onto the
    fragment, making a line the next recovery refused. Now the fragment is gone first."""
    journal = finished_journal(tmp_path)
    whole = lines_of(journal)
    cut_last_record(journal)
    with JournalWriter(journal, fsync="never") as writer:
        assert writer.torn_tail is not None
        assert writer.torn_tail.line == len(whole)
    assert lines_of(journal) == whole[:-1]
    assert journal.read_bytes().endswith(b"\n")
    read_journal(journal)  # whole again: no error


def test_reader_leaves_a_torn_tail_out_says_so_and_does_not_touch_the_file(
    tmp_path: Path, warnings: list[str]
) -> None:
    """load_journal reports the torn tail (file, line, bytes) and logs a warning; the file is
    unchanged (only a writer repairs)."""
    journal = finished_journal(tmp_path)
    count = len(lines_of(journal))
    kept = cut_last_record(journal, keep=0.3)
    before = journal.read_bytes()
    contents = load_journal(journal)
    assert contents.torn_tail is not None
    assert (contents.torn_tail.line, contents.torn_tail.size) == (count, kept)
    assert contents.torn_tail.offset == len(before) - kept
    assert not contents.hedges["h1"].finished  # the torn record was the finish record
    assert journal.read_bytes() == before
    described = contents.torn_tail.describe()
    assert f"{journal}:{count}" in described and f"{kept} bytes" in described
    # The log's redaction may mask a long path (it looks like a token): compare from the line on.
    suffix = described[len(str(journal)):]
    assert [m for m in warnings if "torn" in m and m.endswith(suffix)] != []


def test_writer_warns_when_it_truncates(tmp_path: Path, warnings: list[str]) -> None:
    """The writer's repair is logged as a warning naming the file and line."""
    journal = finished_journal(tmp_path)
    line = len(lines_of(journal))
    cut_last_record(journal)
    JournalWriter(journal, fsync="never").close()
    assert any("truncated" in m and f".jsonl:{line}: dropped" in m for m in warnings)


def test_a_whole_last_record_that_lost_only_its_newline_is_kept(tmp_path: Path) -> None:
    """A crash between a record and its newline leaves a whole record: kept, and terminated before
    the next record is appended."""
    journal = finished_journal(tmp_path)
    raw = journal.read_bytes()
    journal.write_bytes(raw.rstrip(b"\n"))
    contents = load_journal(journal)
    assert contents.torn_tail is None and contents.hedges["h1"].finished
    with JournalWriter(journal, fsync="never") as writer:
        assert writer.torn_tail is None
    assert journal.read_bytes() == raw


def test_torn_multibyte_character_is_a_torn_tail_not_an_encoding_error(tmp_path: Path) -> None:
    """A write cut in the middle of a UTF-8 character is a torn tail like any other."""
    journal = finished_journal(tmp_path)
    with journal.open("ab") as f:
        f.write('{"v":1,"hedge":"h1","note":"é'.encode()[:-1])
    contents = load_journal(journal)
    assert contents.torn_tail is not None


# ----------------------------------------------------------------------------- crash during recovery


def _crash_twice(
    journal: Path, first: CrashAt, second: CrashAt, second_first: bool
) -> tuple[ExecutionResult, dict[str, ScriptedVenue]]:
    """Crash, recover, crash again during the recovery, recover again: on the scripted venues."""
    venues, actions, config = clean_scenario()

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        with JournalWriter(journal, fsync="never") as writer:
            engine = HedgeEngine(venues, config, hedge_ids=lambda: "h1", observers=[writer, first])
            try:
                return await engine.execute(LONG_A_SHORT_B)
            except SimulatedCrash:
                pass
        with JournalWriter(journal, fsync="never") as writer:
            observers: list[Any] = [second, writer] if second_first else [writer, second]
            try:
                (result,) = await HedgeEngine(venues, config, observers=observers).recover(journal)
                return result
            except SimulatedCrash:
                pass
        with JournalWriter(journal, fsync="never") as last:
            (result,) = await HedgeEngine(venues, config, observers=[last]).recover(journal)
        assert not (asyncio.all_tasks() - {asyncio.current_task()}), "a task was left running"
        return result

    return run(main()), venues


@pytest.mark.parametrize(
    ("second_kind", "second_points"), [(CrashAt, (1, 3)), (CrashAtCommand, (1, 2, 3))]
)
def test_a_crash_during_recovery_is_recovered_too(
    tmp_path: Path, second_kind: type[CrashAt], second_points: tuple[int, ...]
) -> None:
    """The journal marks where a recovery took over (a resume record), so the journal of a
    recovered hedge replays faithfully, and a second crash — at the recovery's first events or
    inside its first batch of commands, before or after the journal saw them — is recovered
    again: no open order, the ledgers agree with the venues, the uncrashed outcome (or, where the
    crash kept the entry orders from ever being sent, a cancelled hedge with nothing filled), and
    a final journal that replays without mismatch."""
    baseline, _ = run_episode(clean_scenario, tmp_path / "base.jsonl", None, False)
    events = len(read_journal(tmp_path / "base.jsonl")["h1"].events)
    resumed = runs = 0
    for at_event in range(1, events + 1):
        for second_at in second_points:
            second_first = (at_event + second_at) % 2 == 0  # both orders, over the runs
            where = f"first crash at event {at_event}, second at {second_at} ({second_first})"
            journal = tmp_path / f"twice-{at_event}-{second_at}.jsonl"
            result, venues = _crash_twice(journal, CrashAt(at_event), second_kind(second_at), second_first)
            runs += 1
            for venue in venues.values():
                assert venue.live_orders() == [], f"{where}: open orders {venue.live_orders()}"
            ledger_agrees_with_venue(result, venues)
            never_sent = result.state == "cancelled" and all(
                leg.filled_quantity == 0 for leg in result.legs
            )
            assert result.state == baseline.state or never_sent, f"{where}: {result.state}"
            hedge = read_journal(journal)["h1"]
            assert hedge.finished
            assert replay(hedge).mismatches == [], where
            resumed += sum(isinstance(e, ResumeRecord) for e in hedge.entries)
    assert resumed > runs  # every run recovered once, and most of them twice


# ----------------------------------------------------------------------------- duplicate starts


def test_second_start_record_for_a_known_hedge_is_refused_by_the_reader(tmp_path: Path) -> None:
    """Regression: a repeated start record used to replace the hedge's history silently (and
    recovery re-sent its entry orders). Now the reader refuses it, naming both lines."""
    journal = finished_journal(tmp_path)
    first = lines_of(journal)
    write_lines(journal, first + first)
    message = refusal(journal)
    assert f"{journal}:{len(first) + 1}:" in message
    assert "second start record for hedge 'h1'" in message and "line 1" in message


def test_recover_refuses_a_journal_with_a_repeated_start_and_sends_nothing(tmp_path: Path) -> None:
    """Recovery never acts on such a journal: it raises before any venue call."""
    a, b = two_venues()
    journal = finished_journal(tmp_path)
    # The second copy is an unfinished hedge with the same id: the case that re-sent entries.
    lines = lines_of(journal)
    write_lines(journal, lines + lines[:3])
    with pytest.raises(JournalError, match="second start record"):
        run(HedgeEngine({"a": a, "b": b}, HedgeConfig()).recover(journal))
    assert a.calls == [] and b.calls == []


def test_writer_refuses_a_start_for_a_hedge_id_the_journal_holds(tmp_path: Path) -> None:
    """The writer knows the ids already in the file: a new hedge under one of them is refused
    before its first order, and the journal is left as it was."""
    journal = finished_journal(tmp_path)
    before = journal.read_bytes()
    # Venues that push order updates: the refused hedge's stream tasks must stop with it.
    a = StreamingVenue("a", [BTC], {"BTC": btc_bbo()})
    b = StreamingVenue("b", [BTC], {"BTC": btc_bbo()})

    async def main() -> None:
        with JournalWriter(journal, fsync="never") as writer:
            assert writer.hedge_ids == {"h1"}
            engine = HedgeEngine({"a": a, "b": b}, observers=[writer], hedge_ids=lambda: "h1")
            try:
                await engine.execute(LONG_A_SHORT_B)
            finally:
                await asyncio.sleep(0)  # let cancelled tasks finish
                left = asyncio.all_tasks() - {asyncio.current_task()}
                assert not left, f"tasks left running: {left}"

    with pytest.raises(JournalError) as caught:
        run(main())
    assert "hedge 'h1' already has a start record" in str(caught.value)
    assert str(journal) in str(caught.value) and "line 1" in str(caught.value)
    assert a.placed() == [] and b.placed() == []
    assert journal.read_bytes() == before


def test_writer_refuses_records_of_a_hedge_it_has_no_start_for(tmp_path: Path) -> None:
    """Recovering a hedge into another journal would write records the reader refuses (no
    start): the writer refuses them instead."""
    from hedge_fsm.machines.events import Start
    from hedge_fsm.machines.supervisor import SUPERVISOR_ROUTE

    with JournalWriter(tmp_path / "other.jsonl", fsync="never") as writer, pytest.raises(
        JournalError, match="no start record for hedge 'h1'"
    ):
        writer.on_event("h1", SUPERVISOR_ROUTE, Start(now=0.0), None)


# ----------------------------------------------------------------------------- sequence numbers


def _records(journal: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(journal)]


def test_duplicate_record_is_refused_naming_the_line(tmp_path: Path) -> None:
    """A record written twice (same hedge, same seq) is refused at the second copy."""
    journal = finished_journal(tmp_path)
    lines = lines_of(journal)
    write_lines(journal, [*lines[:5], lines[4], *lines[5:]])
    message = refusal(journal)
    assert message.startswith(f"{journal}:6: duplicate record")
    assert "seq 4 after seq 4 (line 5)" in message and "expected seq 5" in message


def test_out_of_order_record_is_refused_naming_the_line(tmp_path: Path) -> None:
    """Two records swapped: the first one out of sequence is named, with the seq expected."""
    journal = finished_journal(tmp_path)
    lines = lines_of(journal)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(journal, lines)
    message = refusal(journal)
    # Line 4 now holds seq 4 where seq 3 was due.
    assert message.startswith(f"{journal}:4: 1 record(s) missing or out of order")
    assert "seq 4 after seq 2 (line 3)" in message and "expected seq 3" in message


def test_step_back_in_sequence_is_refused_as_out_of_order(tmp_path: Path) -> None:
    """A record whose seq is below the previous one is out of order."""
    journal = finished_journal(tmp_path)
    records = _records(journal)
    records[6]["seq"] = 2
    write_lines(journal, [json.dumps(r) for r in records])
    message = refusal(journal)
    assert message.startswith(f"{journal}:7: record out of order")
    assert "seq 2 after seq 5" in message


def test_missing_record_is_refused(tmp_path: Path) -> None:
    """A lost record (a gap in the numbering) is refused: the hedge's history is incomplete."""
    journal = finished_journal(tmp_path)
    lines = lines_of(journal)
    write_lines(journal, lines[:7] + lines[8:])
    message = refusal(journal)
    assert message.startswith(f"{journal}:8: 1 record(s) missing")


def test_start_record_must_have_seq_zero(tmp_path: Path) -> None:
    """A hedge's numbering starts at its start record, seq 0."""
    journal = finished_journal(tmp_path)
    records = _records(journal)
    records[0]["seq"] = 3
    write_lines(journal, [json.dumps(r) for r in records])
    assert refusal(journal).startswith(f"{journal}:1: start record of hedge 'h1' has seq 3")


def test_records_after_the_finish_are_refused(tmp_path: Path) -> None:
    """Nothing follows a hedge's finish record."""
    journal = finished_journal(tmp_path)
    records = _records(journal)
    extra = dict(records[-2], seq=records[-1]["seq"] + 1)
    write_lines(journal, [json.dumps(r) for r in [*records, extra]])
    assert "after its finish record" in refusal(journal)


def test_reopened_writer_continues_each_hedges_sequence(tmp_path: Path) -> None:
    """Reopening appends safely: a recovered hedge's records continue its own numbering (the
    journal of a crash-and-recover run reads back whole, each hedge's seq rising by one)."""
    journal = tmp_path / "j.jsonl"
    run_episode(clean_scenario, journal, CrashAt(6), False)
    seqs = [r["seq"] for r in _records(journal)]
    assert seqs == list(range(len(seqs)))
    assert read_journal(journal)["h1"].finished


# ----------------------------------------------------------------------------- compatibility


def test_a_journal_from_before_capabilities_were_journaled_still_reads_and_recovers(
    tmp_path: Path,
) -> None:
    """Compatibility: a v1 journal whose plans carry no ``capabilities`` (written before they were
    journaled) and no resume record is read, replays faithfully with the default capabilities,
    and an unfinished one is recovered to the uncrashed outcome."""
    baseline, _ = run_episode(clean_scenario, tmp_path / "base.jsonl", None, False)
    journal = tmp_path / "old.jsonl"
    run_episode(clean_scenario, journal, None, False)
    _strip_capabilities(journal)
    assert '"capabilities"' not in journal.read_text()
    hedge = read_journal(journal)["h1"]
    rebuilt = replay(hedge)
    assert rebuilt.mismatches == [] and rebuilt.supervisor.state == baseline.state
    assert all(plan.capabilities == DEFAULT_CAPABILITIES for plan in rebuilt.supervisor.plans)
    # An unfinished old journal: crash at event 8, strip the key, recover on the same venues.
    venues, actions, config = clean_scenario()
    cut = tmp_path / "old-cut.jsonl"

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        writer = JournalWriter(cut, fsync="never")
        engine = HedgeEngine(venues, config, hedge_ids=lambda: "h1", observers=[writer, CrashAt(8)])
        with pytest.raises(SimulatedCrash):
            await engine.execute(LONG_A_SHORT_B)
        writer.close()
        _strip_capabilities(cut)
        with JournalWriter(cut, fsync="never") as reopened:
            (result,) = await HedgeEngine(venues, config, observers=[reopened]).recover(cut)
        return result

    result = run(main())
    assert result.state == baseline.state
    ledger_agrees_with_venue(result, venues)
    for venue in venues.values():
        assert venue.live_orders() == []


def _strip_capabilities(journal: Path) -> None:
    records = _records(journal)
    for plan in records[0]["data"]["plans"]:
        del plan["capabilities"]
    write_lines(journal, [json.dumps(r, separators=(",", ":"), sort_keys=True) for r in records])


# ----------------------------------------------------------------------------- wrong shapes


def _replace_line(journal: Path, index: int, text: str) -> None:
    lines = lines_of(journal)
    lines[index] = text
    write_lines(journal, lines)


def _edit(journal: Path, index: int, change: Callable[[dict[str, Any]], object]) -> None:
    records = _records(journal)
    change(records[index])
    write_lines(journal, [json.dumps(r) for r in records])


def _first(journal: Path, kind: str, type_: str | None = None) -> int:
    for index, record in enumerate(_records(journal)):
        if record["kind"] == kind and (type_ is None or record.get("type") == type_):
            return index
    raise AssertionError(f"no {kind} {type_} record")


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


WRONG_LINES = [
    ("[1,2,3]", "expected a JSON object (a journal record), got an array"),
    ('"hello"', "expected a JSON object (a journal record), got a string"),
    ("{}", "schema version None, expected 1"),
    ('{"v": 2, "hedge": "h1", "seq": 1, "kind": "event"}', "schema version 2, expected 1"),
    ("{not json}", "not a JSON record"),
]


@pytest.mark.parametrize(("text", "expected"), WRONG_LINES)
def test_a_line_that_is_not_a_record_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    """Valid JSON of the wrong shape (or not JSON) in the middle of a journal: one JournalError
    naming file, line and what was expected."""
    journal = finished_journal(tmp_path)
    _replace_line(journal, 3, text)
    message = refusal(journal)
    assert message.startswith(f"{journal}:4:") and expected in message


START_DAMAGE = [
    (_delete(["data"]), "start record has no 'data': expected the hedge's set-up"),
    (_set(["data"], [1, 2]), "'data' is an array [1, 2], expected the hedge's set-up"),
    (_delete(["data", "plans"]), "plans"),
    (_set(["data", "plans"], []), "no plans: expected one plan per leg"),
    (_set(["data", "plans", 0, "quantity"], 1.5), "floats are refused"),
    (_set(["data", "plans", 0, "side"], "up"), "data.plans[0].side"),
    (_set(["data", "plans", 1, "index"], 5), "plans[1] has index 5, expected 1"),
    (_set(["data", "direct"], "no"), "expected true or false"),
    (_set(["data", "config", "opening", "backoff"], 99.0), "config.opening.backoff 99.0"),
    (_set(["data", "hedge_id"], "h2"), "its data names hedge 'h2'"),
    (_set(["data", "plans", 0, "instrument", "tick_size"], "-1"), "tick_size"),
]


@pytest.mark.parametrize(("change", "expected"), START_DAMAGE)
def test_start_record_of_the_wrong_shape_is_refused(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], expected: str
) -> None:
    """A start record without data, without plans, with mistyped or inconsistent fields."""
    journal = finished_journal(tmp_path)
    _edit(journal, 0, change)
    message = refusal(journal)
    assert message.startswith(f"{journal}:1: ")
    assert expected in message


def _filled_above_quantity(record: dict[str, Any]) -> None:
    order = record["data"]["order"]
    order["filled_quantity"] = str(D(order["quantity"]) + 1)
    order["average_price"] = order["price"]


BODY_DAMAGE = [
    ("event", "OrderAcked", _filled_above_quantity, "exceeds quantity"),
    ("event", "OrderAcked", _set(["type"], "OrderExploded"), "unknown event type 'OrderExploded'"),
    ("event", "OrderAcked", _set(["data", "order", "quantity"], 1.0), "floats are refused"),
    ("event", "OrderAcked", _set(["data", "now"], "soon"), "data.now"),
    ("event", "OrderAcked", _set(["route"], ["leg", 7]), "route ['leg', 7]"),
    ("event", "OrderAcked", _set(["route"], "leg"), "'route' is a string"),
    ("event", "OrderAcked", _set(["cause"], 999), "answers command 999"),
    ("event", "OrderAcked", _set(["seq"], "4"), "'seq' is a string '4', expected a sequence number"),
    ("event", "OrderAcked", _set(["hedge"], "h 1"), "hedge id 'h 1'"),
    ("event", "OrderAcked", _set(["kind"], "gossip"), "unknown record kind 'gossip'"),
    ("event", "OrderAcked", _set(["extra"], 1), "unexpected key(s) 'extra'"),
    ("command", "PlaceLimit", _delete(["data", "price"]), "price"),
    ("command", "PlaceLimit", _set(["data", "leg"], 9), "for leg 9"),
    ("command", "PlaceLimit", _set(["id"], 0), "command id 0"),
    ("command", "PlaceLimit", _set(["id"], True), "'id' is a boolean"),
    ("finish", None, _set(["data", "state"], "great"), "finish record state 'great'"),
    ("finish", None, _set(["data", "state"], ["done"]), "finish record state ['done']"),
    ("finish", None, _set(["data", "net_exposure"], 0.5), "net_exposure 0.5"),
]


@pytest.mark.parametrize(("kind", "type_", "change", "expected"), BODY_DAMAGE)
def test_event_command_and_finish_records_of_the_wrong_shape_are_refused(
    tmp_path: Path,
    kind: str,
    type_: str | None,
    change: Callable[[dict[str, Any]], object],
    expected: str,
) -> None:
    """A filled quantity above the quantity, wrong types, unknown types, impossible routes and
    causes: one JournalError naming file, line and the problem — never a KeyError/TypeError."""
    journal = finished_journal(tmp_path)
    index = _first(journal, kind, type_)
    _edit(journal, index, change)
    message = refusal(journal)
    assert message.startswith(f"{journal}:{index + 1}: "), message
    assert expected in message, message


ODD_VALUES = [None, 0, 1, -1, 10**30, 1.5, True, "", "x", "-1", "1e999", "NaN", [], [1], {}, {"a": 1},
              "leg", ["leg", 0], ["leg", None], ["supervisor", 9]]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@pytest.fixture(scope="module")
def partial_journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A journal with partial fills, a market fallback and cancels: many record shapes."""
    folder = tmp_path_factory.mktemp("fuzz")
    run_episode(partial_then_market, folder / "base.jsonl", None, False)
    return folder, _records(folder / "base.jsonl")


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_one_field_changed_is_accepted_or_refused_with_a_journal_error(
    partial_journal: tuple[Path, list[dict[str, Any]]], data: st.DataObject
) -> None:
    """Property: change (or delete) any one field of any record of a valid journal to an odd
    value: reading and replaying either works or raises JournalError naming the file — never a
    KeyError, TypeError, IndexError or any other exception."""
    folder, base = partial_journal
    records = json.loads(json.dumps(base))
    index = data.draw(st.integers(0, len(records) - 1), label="record")
    path = data.draw(st.sampled_from(list(_paths(records[index]))), label="field")
    target = records[index]
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, dict) and data.draw(st.booleans(), label="delete"):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(st.sampled_from(ODD_VALUES), label="value")
    journal = folder / "mutated.jsonl"
    write_lines(journal, [json.dumps(r) for r in records])
    try:
        for hedge in read_journal(journal).values():
            replay(hedge)
    except JournalError as exc:
        assert str(exc).startswith(str(journal))


def test_not_a_number_is_refused(tmp_path: Path) -> None:
    """JSON's NaN extension is no value a journal holds (time or money)."""
    journal = finished_journal(tmp_path)
    lines = lines_of(journal)
    index = _first(journal, "event")
    lines[index] = lines[index].replace('"now":', '"now":NaN,"was":', 1)
    write_lines(journal, lines)
    assert refusal(journal).startswith(f"{journal}:{index + 1}: not a JSON record")


def test_non_utf8_bytes_are_refused_naming_the_line(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 inside a journal: a JournalError naming file, line and byte (never
    a UnicodeDecodeError); the writer refuses to open such a journal too."""
    journal = finished_journal(tmp_path)
    raw = journal.read_bytes().split(b"\n")
    raw[2] = raw[2].replace(b'"kind"', b'"ki\xffnd"', 1)
    journal.write_bytes(b"\n".join(raw))
    message = refusal(journal)
    assert message.startswith(f"{journal}:3: not UTF-8 text (byte 0xff")
    with pytest.raises(JournalError, match="not UTF-8"):
        JournalWriter(journal)


def test_errors_are_part_of_the_hedge_error_family() -> None:
    """Callers catch one root: a journal error is a HedgeError."""
    assert issubclass(JournalError, HedgeError)


# ----------------------------------------------------------------------------- file errors


def test_journal_file_errors_name_the_path(tmp_path: Path) -> None:
    """A missing folder, a directory, a missing journal: JournalError naming the path, never a raw
    OSError (the CLI prints it as one line)."""
    with pytest.raises(JournalError, match="cannot open the journal for appending") as caught:
        JournalWriter(tmp_path / "missing" / "j.jsonl")
    assert str(tmp_path / "missing" / "j.jsonl") in str(caught.value)
    with pytest.raises(JournalError, match=str(tmp_path)):
        JournalWriter(tmp_path)
    with pytest.raises(JournalError, match="cannot read journal"):
        read_journal(tmp_path / "nothing.jsonl")


@pytest.mark.skipif(os.name != "posix", reason="advisory locks are POSIX")
def test_a_second_writer_on_an_open_journal_is_refused(tmp_path: Path) -> None:
    """Two writers on one journal (two processes recovering the same hedges) would interleave
    records and could resume a hedge twice: the second is refused while the first is open."""
    journal = finished_journal(tmp_path)
    with JournalWriter(journal, fsync="never"), pytest.raises(
        JournalError, match="another JournalWriter has this journal open"
    ):
        JournalWriter(journal, fsync="never")
    JournalWriter(journal, fsync="never").close()  # free again once the first is closed


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_unwritable_journal_is_a_journal_error(tmp_path: Path) -> None:
    """A journal the process may not write: JournalError naming the path."""
    journal = tmp_path / "ro.jsonl"
    journal.write_text("")
    journal.chmod(0o444)
    with pytest.raises(JournalError, match="cannot open the journal"):
        JournalWriter(journal)


def test_a_failed_write_stops_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a write fails (disk full, I/O error) part of a record may be on disk: the writer
    takes no more records, so it never glues one onto a fragment."""
    from hedge_fsm.machines.events import Start
    from hedge_fsm.machines.supervisor import SUPERVISOR_ROUTE

    journal = finished_journal(tmp_path)
    records = _records(journal)
    write_lines(journal, [json.dumps(r) for r in records[:-1]])  # h1 unfinished: may take more
    writer = JournalWriter(journal, fsync="always")

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("hedge_fsm.journal.os.fsync", failing_fsync)
    with pytest.raises(JournalError, match="cannot write a journal record: Input/output error"):
        writer.on_event("h1", SUPERVISOR_ROUTE, Start(now=9.0), None)
    monkeypatch.undo()
    with pytest.raises(JournalError, match="an earlier write failed"):
        writer.on_event("h1", SUPERVISOR_ROUTE, Start(now=9.0), None)
    writer.close()


# ----------------------------------------------------------------------------- recovery refuses


def test_recovery_refuses_a_journal_whose_replay_does_not_match(tmp_path: Path) -> None:
    """A journaled command the machines would not have sent (an altered journal, or one from
    another version): recovery raises before any venue call instead of resuming machines that
    disagree with what was sent."""
    journal = tmp_path / "j.jsonl"
    run_episode(clean_scenario, tmp_path / "base.jsonl", None, False)
    lines = lines_of(tmp_path / "base.jsonl")
    cut = next(i for i, line in enumerate(lines) if '"type":"PlaceLimit"' in line and '"leg"' in line)
    altered = [lines[cut].replace('"quantity":"1"', '"quantity":"2"', 1) if i == cut else line
               for i, line in enumerate(lines[: cut + 1])]
    assert altered[cut] != lines[cut]
    write_lines(journal, altered)
    with pytest.raises(JournalError, match="cannot be recovered: replaying its events"):
        recoverable(journal)
    a, b = two_venues()
    with pytest.raises(JournalError):
        run(HedgeEngine({"a": a, "b": b}, HedgeConfig()).recover(journal))
    assert a.calls == [] and b.calls == []


# ----------------------------------------------------------------------------- simulate's hedge ids


def test_two_simulate_runs_into_one_journal_keep_both_hedges(tmp_path: Path) -> None:
    """Regression (issue 14 item 5): two runs of one seed into one journal used to share the id
    ``sim<seed>``, so the journal showed one hedge. Now the second run is ``sim<seed>r2``, and both
    replay faithfully."""
    journal = tmp_path / "runs.jsonl"
    first = simulate("calm", 5, journal=journal)
    second = simulate("calm", 5, journal=journal)
    third = simulate("calm", 5, journal=journal)
    assert (first.hedge_id, second.hedge_id, third.hedge_id) == ("sim5", "sim5r2", "sim5r3")
    hedges = read_journal(journal)
    assert list(hedges) == ["sim5", "sim5r2", "sim5r3"]
    for hedge in hedges.values():
        assert hedge.finished
        assert replay(hedge).mismatches == []
    # Client order ids carry the hedge id: the runs' orders are told apart at the venue too.
    assert {o.client_order_id[:4] for o in second.venues["binance"].fills} <= {"sim5"}


def test_simulate_reports_the_torn_tail_it_repaired(tmp_path: Path) -> None:
    """simulate into a journal with a torn tail: the Episode says what was dropped (for the CLI)."""
    journal = tmp_path / "runs.jsonl"
    simulate("calm", 5, journal=journal)
    kept = cut_last_record(journal)
    episode = simulate("calm", 5, journal=journal)
    assert episode.journal_torn_tail is not None and episode.journal_torn_tail.size == kept
    assert episode.hedge_id == "sim5r2"
    assert list(read_journal(journal)) == ["sim5", "sim5r2"]


def test_simulate_without_a_journal_uses_sim_seed(tmp_path: Path) -> None:
    """Without a journal nothing is taken: the id stays ``sim<seed>`` (as before)."""
    episode = simulate("calm", 8)
    assert episode.hedge_id == "sim8" and episode.journal_torn_tail is None


@pytest.mark.parametrize(
    ("seed", "taken", "expected"),
    [
        (1, set(), "sim1"),
        (1, {"sim1"}, "sim1r2"),
        (1, {"sim1", "sim1r2"}, "sim1r3"),
        (1, {"sim1", "sim1r2", "sim1r3", "sim1r4", "sim1r5", "sim1r6", "sim1r7", "sim1r8",
             "sim1r9"}, "sim1r10"),
        (123456789012, {"sim123456789012"}, "s123456789012r2"),
        (1234567890123, {"sim1234567890123"}, "s1234567890123r2"),
    ],
)
def test_fresh_hedge_id_is_new_and_fits_16_characters(seed: int, taken: set[str], expected: str) -> None:
    """The fresh id is not taken, is 1-16 ASCII letters or digits, and keeps the seed readable."""
    chosen = fresh_hedge_id(seed, taken)
    assert chosen == expected
    assert chosen not in taken and chosen.isascii() and chosen.isalnum() and len(chosen) <= 16
