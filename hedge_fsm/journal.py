"""The journal: an append-only, write-ahead record of every event and command of every hedge.

Theory of operation
-------------------
A hedge is a deterministic function of its inputs: the set-up (instruments,
baseline positions, venue capabilities, config) and the events fed to its
machines. The journal records exactly those, so a hedge can be rebuilt at any
point by replaying its events into fresh machines (:func:`replay`), and
resumed after a crash (:meth:`hedge_fsm.HedgeEngine.recover`).

Format: JSON Lines (UTF-8), one record per line, schema version ``v``::

    {"v":1,"hedge":"a1b2","seq":0,"kind":"start","data":{...set-up...}}
    {"v":1,"hedge":"a1b2","seq":5,"kind":"command","id":3,"route":["leg",1],"type":"PlaceLimit","data":{...}}
    {"v":1,"hedge":"a1b2","seq":6,"kind":"event","cause":3,"route":["leg",1],"type":"OrderAcked","data":{...}}
    {"v":1,"hedge":"a1b2","seq":7,"kind":"resume","data":{"commands":2}}
    {"v":1,"hedge":"a1b2","seq":9,"kind":"finish","data":{"state":"done","net_exposure":"0"}}

A ``resume`` record marks where :meth:`~hedge_fsm.HedgeEngine.recover` took the
hedge over (the engine calls the writer's ``on_resume``); the ``commands``
command records after it are the ones the recovery issued first: its own
lookups and re-armed timers, which no machine emitted, and the commands the
machines had emitted that were never sent. :func:`replay` tells them apart,
so a recovered hedge's journal replays without mismatch and a crash during a
recovery is recovered again.

Values go through the one cattrs converter: Decimals as strings, enums as values.

Durability (the fsync policy): a record is written and flushed before the
command it records is handed to a venue (write-ahead). With the default
``fsync="orders"``, records of commands that can change a position
(``PlaceLimit``, ``PlaceMarket``, ``CancelOrder``) are also fsynced before they
are sent, so an order can never exist at a venue without the journal knowing
it may exist; other records are flushed and left to the OS. ``"always"``
fsyncs every record; ``"never"`` only flushes (tests, simulations).

Damage: repaired or refused, never acted on
-------------------------------------------
A record is written in one piece, newline last; a crash mid-write leaves a
*torn tail*: bytes after the last newline that are not a whole record. That
is the one damage a crash can cause, and the one that is repaired:

- :func:`load_journal` (and :func:`read_journal`, which recovery uses) ignores
  a torn tail, logs a warning and reports it as :attr:`JournalContents.torn_tail`;
- :class:`JournalWriter` truncates the file to its last whole record when it
  opens (warning, and :attr:`JournalWriter.torn_tail` says what was dropped),
  so appending after a crash never glues a record onto a fragment. A last
  record that is whole but lost only its newline is kept and terminated.

Anything else is refused with a :class:`JournalError` naming the file, the
line and what was expected: a line that is not UTF-8 or not JSON, a record of
the wrong shape (not an object, missing or mistyped keys, values the
library's types refuse — a fill above the order's quantity, a float where a
decimal string belongs), an unknown record kind or type, a route or leg the
hedge does not have, a second start record for a hedge id already in the
journal, a record before its hedge's start or after its finish, and a
sequence number out of order. Each hedge's records are numbered ``seq`` 0
(its start), 1, 2, ... with no gap or repeat: a duplicate, a step back or a
gap (a lost record) is refused, naming the line and the seq expected. Command
ids rise within a hedge, and an event's ``cause`` names an earlier command.
The writer enforces the same rules before it writes (it refuses a second
start for a hedge id the file holds, and records of a hedge the file never
started), so it never writes what the reader would refuse. One writer at a
time: an open writer holds an exclusive advisory lock on its file (POSIX),
so two processes cannot both resume the same hedges. Recovery
(:func:`recoverable`) also refuses a journal whose replay does not reproduce
its journaled commands (an altered journal, or one from other code): the
machines it would resume disagree with what was sent.

Compatibility: the damage checks did not change the format. Schema ``v`` 1
has always carried per-hedge ``seq`` numbers from 0, rising by one, so every
journal the earlier writer wrote is read as before, with one exception that
is the point of the checks: a file in which the same hedge id was started
twice (two ``hedge-fsm simulate --journal`` runs of one seed into one file,
before ``simulate`` chose a fresh id per run) is refused at the second start
record, because its two hedges cannot be told apart. One key was added, and
it is optional: ``plans[].capabilities`` (the venue's
:class:`~hedge_fsm.venue.VenueCapabilities` at set-up, which the machines
read); a start record without it replays with the default capabilities,
which is what the code that wrote it assumed; likewise ``plans[].post_only``
(``LegSpec.post_only``), absent meaning the entry was not post-only, as that code
sent it. One record kind was added,
``resume`` (above): an older reader refuses a journal that holds one, as it
should (it would misread the recovery's commands); a journal recovered by an
older version has no such record, and :meth:`~hedge_fsm.HedgeEngine.recover`
refuses to resume it a second time (its replay does not match) rather than
guess. A record with a different ``v`` is refused (a journal from another
version of the library).

The journal never holds a secret: events and commands carry none, and venue
error messages are passed through :func:`hedge_fsm.secrets.redact` first.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs
import cattrs

from hedge_fsm.config import HedgeConfig
from hedge_fsm.convert import converter, structure_problems
from hedge_fsm.errors import HedgeError
from hedge_fsm.machines import commands as commands_module
from hedge_fsm.machines import events as events_module
from hedge_fsm.machines.commands import AmendOrder, CancelOrder, Command, PlaceLimit, PlaceMarket
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, LegPlan, Route
from hedge_fsm.secrets import log, redact
from hedge_fsm.values import ExecutionResult, Instrument, Side, TriggerFill
from hedge_fsm.venue import DEFAULT_CAPABILITIES, VenueCapabilities

if TYPE_CHECKING:
    from hedge_fsm.engine import Resume

__all__ = [
    "SCHEMA_VERSION",
    "FsyncPolicy",
    "JournalContents",
    "JournalError",
    "JournalHedge",
    "JournalWriter",
    "ReplayResult",
    "ResumeRecord",
    "TornTail",
    "build_supervisor",
    "load_journal",
    "read_journal",
    "recoverable",
    "replay",
]

SCHEMA_VERSION = 1

_EVENT_TYPES: dict[str, type[Event]] = {
    name: cls
    for name, cls in vars(events_module).items()
    if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
}
_COMMAND_TYPES: dict[str, type[Any]] = {
    name: getattr(commands_module, name) for name in commands_module.__all__ if name != "Command"
}
_KEYS: dict[str, frozenset[str]] = {
    kind: frozenset({"v", "hedge", "seq", "kind", "data", *extra})
    for kind, extra in {
        "start": (),
        "command": ("id", "route", "type"),
        "event": ("cause", "route", "type"),
        "finish": (),
        "resume": (),
    }.items()
}
_MACHINES = ("supervisor", "leg")
_FINISH_STATES = frozenset({"done", "rolled_back", "failed", "cancelled"})

_log = log.bind(component="journal")


class JournalError(HedgeError):
    """The journal is unreadable or does not describe a hedge that can be rebuilt."""


class FsyncPolicy(enum.StrEnum):
    ORDERS = "orders"
    """fsync the records of commands that can change a position, before they are sent."""
    ALWAYS = "always"
    NEVER = "never"


# ----------------------------------------------------------------------------- writing


def _start_data(supervisor: HedgeSupervisor) -> dict[str, Any]:
    return {
        "hedge_id": supervisor.hedge_id,
        "config": supervisor.config.to_mapping(),
        "direct": supervisor.direct,
        "market_only": supervisor.market_only,
        "trigger": converter.unstructure(supervisor.direct_trigger)
        if supervisor.direct_trigger is not None
        else None,
        "plans": [
            {
                "index": plan.index,
                "venue": plan.venue,
                "instrument": converter.unstructure(plan.instrument),
                "side": plan.side.value,
                "quantity": str(plan.quantity),
                "price": None if plan.price is None else str(plan.price),
                "reduce_only": plan.reduce_only,
                "baseline": str(plan.baseline),
                "capabilities": converter.unstructure(plan.capabilities),
                "post_only": plan.post_only,
            }
            for plan in supervisor.plans
        ],
    }


def _scrubbed(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: redact(value) if key == "message" and isinstance(value, str) else _scrubbed(value)
                for key, value in data.items()}
    return data


def _lock(file: IO[bytes], path: Path) -> None:
    """Hold an exclusive advisory lock on the journal while the writer is open (POSIX).

    Two writers on one journal — two processes recovering the same hedges — would
    interleave records and could both resume a hedge (its orders sent twice): the
    second is refused. Where the file system cannot lock, the writer goes on unlocked.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks to take
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JournalError(
            f"{path}: another JournalWriter has this journal open (another process recovering or "
            "running its hedges?); one writer at a time"
        ) from None
    except OSError:
        pass  # e.g. a network file system without locks: nothing to hold


@attrs.define
class _Written:
    """What a writer knows of one hedge in its file."""

    next_seq: int
    start_line: int
    finish_line: int | None = None


class JournalWriter:
    """A :class:`hedge_fsm.engine.HedgeObserver` that appends every hedge's records to a file.

    One writer can serve an engine running several hedges at once; records of
    each hedge carry its id and its own sequence numbers.

    While open it holds an exclusive lock on the file (POSIX advisory lock): a second
    writer on the same journal is refused. Opening an existing journal reads it
    first: a damaged journal is refused
    (:class:`JournalError`), a torn tail left by a crash is truncated away
    (logged as a warning; :attr:`torn_tail` says what was dropped), and the
    records already in it fix what may follow: a start record for a hedge id
    the file already holds is refused, and a recovered hedge continues its own
    sequence numbers.
    """

    def __init__(self, path: str | Path, *, fsync: FsyncPolicy | str = FsyncPolicy.ORDERS) -> None:
        self.path = Path(path)
        self.fsync = FsyncPolicy(fsync)
        self.torn_tail: TornTail | None = None
        """The torn tail this writer truncated when it opened the journal (None: there was none)."""
        self._failure: str | None = None
        try:
            self._file: IO[bytes] = self.path.open("ab")
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot open the journal for appending: {exc.strerror or exc}"
            ) from None
        try:
            _lock(self._file, self.path)
            contents = _load(self.path)
            if contents.torn_tail is not None:
                # A crash cut the last write short: that record was never acted on (write-ahead),
                # and appending after the fragment would make the line unreadable.
                self._file.truncate(contents.torn_tail.offset)
                os.fsync(self._file.fileno())
                self.torn_tail = contents.torn_tail
                _log.warning("{}; truncated the journal to its last whole record",
                             contents.torn_tail.describe())
            elif contents.size and not contents.ends_with_newline:
                self._file.write(b"\n")  # a whole last record that lost only its newline
                self._file.flush()
        except BaseException:
            self._file.close()
            raise
        self._lines = contents.lines
        self._hedges: dict[str, _Written] = {
            hedge.hedge_id: _Written(hedge.last_seq + 1, hedge.start_line, hedge.finish_line)
            for hedge in contents.hedges.values()
        }

    @property
    def hedge_ids(self) -> frozenset[str]:
        """Every hedge id with a start record in the journal (in the file, or written since)."""
        return frozenset(self._hedges)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _known(self, hedge_id: str) -> _Written:
        written = self._hedges.get(hedge_id)
        if written is None:
            raise JournalError(
                f"{self.path}: no start record for hedge {hedge_id!r} in this journal; a hedge's "
                "records belong in the journal it was started in"
            )
        if written.finish_line is not None:
            raise JournalError(
                f"{self.path}: hedge {hedge_id!r} already finished (line {written.finish_line}); "
                "no record may follow its finish"
            )
        return written

    def _append(self, hedge_id: str, kind: str, body: dict[str, Any], *, durable: bool) -> None:
        if self._failure is not None:
            raise JournalError(
                f"{self.path}: an earlier write failed ({self._failure}); this writer takes no more "
                "records (open a new JournalWriter: it repairs the torn tail)"
            )
        written = self._hedges[hedge_id]
        record = {"v": SCHEMA_VERSION, "hedge": hedge_id, "seq": written.next_seq, "kind": kind, **body}
        line = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode("utf-8")
        if self._file.closed:
            raise JournalError(f"{self.path}: the journal writer is closed")
        try:
            self._file.write(line)
            self._file.flush()
            if self.fsync is FsyncPolicy.ALWAYS or (durable and self.fsync is FsyncPolicy.ORDERS):
                os.fsync(self._file.fileno())
        except OSError as exc:
            # Part of the record may be on disk: a torn tail. Appending more would glue the next
            # record onto it, so this writer stops; the next one to open the file repairs it.
            self._failure = exc.strerror or str(exc)
            raise JournalError(f"{self.path}: cannot write a journal record: {self._failure}") from None
        # Counted only once written: a failed write never leaves a gap in the numbering.
        written.next_seq += 1
        self._lines += 1

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        hedge_id = supervisor.hedge_id
        known = self._hedges.get(hedge_id)
        if known is not None:
            raise JournalError(
                f"{self.path}: hedge {hedge_id!r} already has a start record in this journal "
                f"(line {known.start_line}); a hedge id must be unique in a journal"
            )
        self._hedges[hedge_id] = _Written(0, self._lines + 1)
        try:
            self._append(hedge_id, "start", {"data": _start_data(supervisor)}, durable=True)
        except JournalError:
            del self._hedges[hedge_id]
            raise

    def on_resume(self, hedge_id: str, resume: Resume) -> None:
        """A recovery takes the hedge over: mark where, so replay tells its commands apart."""
        self._known(hedge_id)
        self._append(hedge_id, "resume", {"data": {"commands": len(resume.commands)}}, durable=False)

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        self._known(hedge_id)
        self._append(
            hedge_id,
            "command",
            {
                "id": command_id,
                "route": [route.machine, route.leg],
                "type": type(command).__name__,
                "data": converter.unstructure(command),
            },
            durable=isinstance(command, PlaceLimit | PlaceMarket | CancelOrder | AmendOrder),
        )

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
        self._known(hedge_id)
        self._append(
            hedge_id,
            "event",
            {
                "cause": cause,
                "route": [route.machine, route.leg],
                "type": type(event).__name__,
                "data": _scrubbed(converter.unstructure(event)),
            },
            durable=False,
        )

    def on_finish(self, hedge_id: str, result: ExecutionResult) -> None:
        written = self._known(hedge_id)
        self._append(
            hedge_id,
            "finish",
            {"data": {"state": result.state, "net_exposure": str(result.net_exposure)}},
            durable=True,
        )
        written.finish_line = self._lines


# ----------------------------------------------------------------------------- reading


@attrs.frozen
class CommandRecord:
    seq: int
    id: int
    route: Route
    command: Command
    line: int = 0
    """The record's line in its journal (1-based)."""


@attrs.frozen
class EventRecord:
    seq: int
    cause: int | None
    route: Route
    event: Event
    line: int = 0
    """The record's line in its journal (1-based)."""


@attrs.frozen
class ResumeRecord:
    """A recovery took the hedge over here; its first ``commands`` commands follow."""

    seq: int
    commands: int
    """How many commands the recovery issued before anything else (its lookups, re-armed
    timers, and the commands the machines had emitted that were never sent)."""
    line: int = 0


@attrs.define
class JournalHedge:
    """Everything the journal says about one hedge, in order."""

    hedge_id: str
    start: dict[str, Any]
    entries: list[CommandRecord | EventRecord | ResumeRecord] = attrs.Factory(list)
    finish: dict[str, Any] | None = None
    last_seq: int = 0
    source: str = ""
    """The journal's path, for messages."""
    start_line: int = 0
    finish_line: int | None = None
    last_line: int = 0
    """The line of the hedge's latest record."""

    @property
    def finished(self) -> bool:
        return self.finish is not None

    @property
    def commands(self) -> list[CommandRecord]:
        return [e for e in self.entries if isinstance(e, CommandRecord)]

    @property
    def events(self) -> list[EventRecord]:
        return [e for e in self.entries if isinstance(e, EventRecord)]

    def unanswered(self) -> list[CommandRecord]:
        """Commands with no event answering them: in flight when the journal stopped."""
        answered = {e.cause for e in self.events if e.cause is not None}
        return [c for c in self.commands if c.id not in answered]


@attrs.frozen
class TornTail:
    """The end of a journal that is not a whole record: a write cut short by a crash."""

    path: Path
    line: int
    """The line it starts on (1-based)."""
    offset: int
    """Where it starts, in bytes: the end of the last whole record."""
    size: int
    """How many bytes it holds."""

    def describe(self) -> str:
        """One line for a user: where the torn record was, and how much was dropped."""
        return (
            f"{self.path}:{self.line}: dropped a torn last record ({self.size} bytes after the "
            "last whole record, a write cut short by a crash; it was never acted on)"
        )


@attrs.frozen
class JournalContents:
    """A journal as read: its hedges, and the torn tail left out (if any)."""

    path: Path
    hedges: dict[str, JournalHedge]
    """Every hedge, in order of first appearance."""
    torn_tail: TornTail | None
    """The torn last record that was left out, or None."""
    size: int
    """Bytes of whole records (where a writer appends)."""
    lines: int
    """Lines of whole records."""
    ends_with_newline: bool
    """Whether the last whole record ends with its newline (an empty journal counts as yes)."""


@attrs.frozen(kw_only=True)
class _PlanData:
    index: int
    venue: str
    instrument: Instrument
    side: Side
    quantity: Decimal
    price: Decimal | None
    reduce_only: bool
    baseline: Decimal
    capabilities: VenueCapabilities | None = None
    """Absent in journals written before capabilities were journaled: the defaults."""
    post_only: bool = False
    """Absent in journals written before ``LegSpec.post_only``: entries were not post-only."""


@attrs.frozen(kw_only=True)
class _StartData:
    hedge_id: str
    config: dict[str, Any]
    direct: bool
    market_only: bool
    trigger: TriggerFill | None
    plans: list[_PlanData]


def _kind_of(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a journal can hold")


class _Parser:
    """Reads the records of one journal in order, checking each as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hedges: dict[str, JournalHedge] = {}
        self.number = 0
        self.last_command: dict[str, int] = {}

    def fail(self, problem: str) -> JournalError:
        return JournalError(f"{self.path}:{self.number}: {problem}")

    def decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "a journal is UTF-8 JSON Lines"
            ) from None

    def parse(self, text: str) -> dict[str, Any]:
        try:
            record = json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise self.fail(f"not a JSON record ({exc.msg} at column {exc.colno})") from None
        except ValueError as exc:
            raise self.fail(f"not a JSON record ({exc})") from None
        if not isinstance(record, dict):
            raise self.fail(f"expected a JSON object (a journal record), got {_kind_of(record)}")
        return record

    def field(self, record: dict[str, Any], key: str, types: type | tuple[type, ...], expected: str) -> Any:
        if key not in record:
            raise self.fail(f"{record.get('kind', 'the')} record has no {key!r}: expected {expected}")
        value = record[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise self.fail(f"{key!r} is {_kind_of(value)} {value!r}, expected {expected}")
        return value

    def add(self, record: dict[str, Any]) -> None:
        version = record.get("v")
        if type(version) is not int or version != SCHEMA_VERSION:
            raise self.fail(
                f"schema version {version!r}, expected {SCHEMA_VERSION} (a journal from another "
                "version of hedge_fsm?)"
            )
        kinds = ", ".join(f'"{k}"' for k in _KEYS)
        kind = self.field(record, "kind", str, f"one of {kinds}")
        if kind not in _KEYS:
            raise self.fail(f"unknown record kind {kind!r}, expected one of {kinds}")
        extra = sorted(set(record) - _KEYS[kind])
        if extra:
            raise self.fail(f"{kind} record has unexpected key(s) {', '.join(map(repr, extra))}")
        hedge_id = self.field(record, "hedge", str, "a hedge id (a string)")
        if not (hedge_id.isascii() and hedge_id.isalnum() and 1 <= len(hedge_id) <= 16):
            raise self.fail(f"hedge id {hedge_id!r}, expected 1-16 ASCII letters or digits")
        seq = self.field(record, "seq", int, "a sequence number (an integer)")
        if kind == "start":
            self.start(hedge_id, seq, record)
            return
        hedge = self.hedges.get(hedge_id)
        if hedge is None:
            raise self.fail(f"{kind} record of hedge {hedge_id!r} before its start record")
        self.check_seq(hedge, seq)
        if hedge.finish_line is not None:
            raise self.fail(
                f"{kind} record of hedge {hedge_id!r} after its finish record (line {hedge.finish_line})"
            )
        if kind == "command":
            hedge.entries.append(self.command(hedge, seq, record))
        elif kind == "event":
            hedge.entries.append(self.event(hedge, seq, record))
        elif kind == "resume":
            hedge.entries.append(self.resume(seq, record))
        else:
            hedge.finish = self.finish(record)
            hedge.finish_line = self.number
        hedge.last_seq = seq
        hedge.last_line = self.number

    def start(self, hedge_id: str, seq: int, record: dict[str, Any]) -> None:
        known = self.hedges.get(hedge_id)
        if known is not None:
            raise self.fail(
                f"second start record for hedge {hedge_id!r} (it started at line {known.start_line}); "
                "a hedge id must be unique in a journal"
            )
        if seq != 0:
            raise self.fail(f"start record of hedge {hedge_id!r} has seq {seq}, expected 0")
        data = self.field(record, "data", dict, "the hedge's set-up (an object)")
        try:
            start = _structure_start(data)
            if start.hedge_id != hedge_id:
                raise JournalError(
                    f"its data names hedge {start.hedge_id!r}, the record hedge {hedge_id!r}"
                )
            build_supervisor(data)  # everything replay needs must be there and consistent
        except JournalError as exc:
            raise self.fail(f"start record of hedge {hedge_id!r}: {exc}") from None
        self.hedges[hedge_id] = JournalHedge(
            hedge_id=hedge_id, start=data, last_seq=0, source=str(self.path),
            start_line=self.number, last_line=self.number,
        )

    def check_seq(self, hedge: JournalHedge, seq: int) -> None:
        expected = hedge.last_seq + 1
        if seq == expected:
            return
        where = (
            f"hedge {hedge.hedge_id!r} record seq {seq} after seq {hedge.last_seq} "
            f"(line {hedge.last_line})"
        )
        if seq == hedge.last_seq:
            raise self.fail(f"duplicate record: {where}; expected seq {expected}")
        if seq < hedge.last_seq:
            raise self.fail(f"record out of order: {where}; expected seq {expected}")
        raise self.fail(
            f"{seq - expected} record(s) missing or out of order: {where}; expected seq {expected}"
        )

    def route(self, hedge: JournalHedge, record: dict[str, Any]) -> Route:
        raw = self.field(record, "route", list, '["supervisor" or "leg", a leg index or null]')
        legs = len(hedge.start["plans"])
        if (
            len(raw) != 2
            or raw[0] not in _MACHINES
            or not (raw[1] is None or (type(raw[1]) is int and 0 <= raw[1] < legs))
            or (raw[0] == "leg" and raw[1] is None)
        ):
            raise self.fail(
                f"route {raw!r}, expected [\"supervisor\", null or a leg index] or "
                f"[\"leg\", a leg index] (this hedge has legs 0 to {legs - 1})"
            )
        return Route(raw[0], raw[1])

    def structure(self, hedge: JournalHedge, record: dict[str, Any], types: dict[str, type[Any]]) -> Any:
        kind = record["kind"]
        name = self.field(record, "type", str, f"the {kind}'s type name")
        cls = types.get(name)
        if cls is None:
            raise self.fail(f"unknown {kind} type {name!r}, expected one of {', '.join(sorted(types))}")
        data = self.field(record, "data", dict, f"the {name} {kind}'s fields (an object)")
        try:
            value = converter.structure(data, cls)
        except cattrs.BaseValidationError as exc:
            raise self.fail(f"{name} {kind}: {'; '.join(structure_problems(exc, 'data'))}") from None
        except (HedgeError, ValueError, TypeError) as exc:
            raise self.fail(f"{name} {kind}: {exc}") from None
        leg = getattr(value, "leg", None)
        if type(leg) is int and not 0 <= leg < len(hedge.start["plans"]):
            raise self.fail(f"{name} {kind} for leg {leg}: this hedge has legs 0 to "
                            f"{len(hedge.start['plans']) - 1}")
        return value

    def command(self, hedge: JournalHedge, seq: int, record: dict[str, Any]) -> CommandRecord:
        command_id = self.field(record, "id", int, "a command id (an integer)")
        last = self.last_command.get(hedge.hedge_id, 0)
        if command_id <= last:
            raise self.fail(
                f"command id {command_id} of hedge {hedge.hedge_id!r} is not above the previous "
                f"command's ({last}): expected a rising id"
            )
        route = self.route(hedge, record)
        command = self.structure(hedge, record, _COMMAND_TYPES)
        self.last_command[hedge.hedge_id] = command_id
        return CommandRecord(seq, command_id, route, command, self.number)

    def event(self, hedge: JournalHedge, seq: int, record: dict[str, Any]) -> EventRecord:
        if "cause" not in record:
            raise self.fail("event record has no 'cause': expected a command id or null")
        cause = record["cause"]
        if cause is not None:
            if type(cause) is not int:
                raise self.fail(f"'cause' is {_kind_of(cause)} {cause!r}, expected a command id or null")
            if not 1 <= cause <= self.last_command.get(hedge.hedge_id, 0):
                raise self.fail(f"event answers command {cause}, which hedge {hedge.hedge_id!r} "
                                "has not issued before it")
        route = self.route(hedge, record)
        event = self.structure(hedge, record, _EVENT_TYPES)
        return EventRecord(seq, cause, route, event, self.number)

    def resume(self, seq: int, record: dict[str, Any]) -> ResumeRecord:
        data = self.field(record, "data", dict, '{"commands": a count}')
        commands = data.get("commands")
        if type(commands) is not int or commands < 0 or set(data) != {"commands"}:
            raise self.fail(f'resume record data {data!r}, expected {{"commands": a count}}')
        return ResumeRecord(seq, commands, self.number)

    def finish(self, record: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self.field(record, "data", dict, "the hedge's outcome (an object)")
        state = data.get("state")
        if type(state) is not str or state not in _FINISH_STATES:
            raise self.fail(f"finish record state {state!r}, expected one of "
                            f"{', '.join(sorted(_FINISH_STATES))}")
        exposure = data.get("net_exposure")
        try:
            converter.structure(exposure, Decimal)
        except (ValueError, cattrs.BaseValidationError):
            raise self.fail(f"finish record net_exposure {exposure!r}, expected a decimal string") from None
        return data


def _load(path: Path) -> JournalContents:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"{path}: cannot read journal: {exc.strerror or exc}") from None
    parser = _Parser(path)
    *whole, rest = raw.split(b"\n")
    # ``whole`` are the newline-terminated lines; ``rest`` is what follows the last newline.
    for number, piece in enumerate(whole, start=1):
        parser.number = number
        if piece.strip():
            parser.add(parser.parse(parser.decode(piece)))
    size, lines, torn = len(raw) - len(rest), len(whole), None
    if rest.strip():
        # No newline after it: a whole record that lost only its newline, or a torn write.
        parser.number = lines + 1
        try:
            record = json.loads(rest.decode("utf-8"), parse_constant=_refuse_constant)
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError (a character cut in two)
            record = None
        if isinstance(record, dict):
            parser.add(record)
            size, lines = len(raw), lines + 1
        else:
            torn = TornTail(path=path, line=lines + 1, offset=size, size=len(rest))
    return JournalContents(
        path=path,
        hedges=parser.hedges,
        torn_tail=torn,
        size=size,
        lines=lines,
        ends_with_newline=size == 0 or raw[size - 1 : size] == b"\n",
    )


def load_journal(path: str | Path) -> JournalContents:
    """Read and check a journal: its hedges, and the torn tail left out (if any).

    A torn tail (a last record cut short by a crash) is left out and logged as a
    warning; the file is not changed (:class:`JournalWriter` truncates it).
    Any other damage raises :class:`JournalError` naming the file and the line.
    """
    contents = _load(Path(path))
    if contents.torn_tail is not None:
        _log.warning("{}", contents.torn_tail.describe())
    return contents


def read_journal(path: str | Path) -> dict[str, JournalHedge]:
    """Parse a journal into its hedges (in order of first appearance); see :func:`load_journal`."""
    return load_journal(path).hedges


def _structure_start(start: dict[str, Any]) -> _StartData:
    try:
        data = converter.structure(start, _StartData)
    except cattrs.BaseValidationError as exc:
        raise JournalError("; ".join(structure_problems(exc, "data"))) from None
    except (HedgeError, ValueError, TypeError) as exc:
        raise JournalError(str(exc)) from None
    if not data.plans:
        raise JournalError("no plans: expected one plan per leg")
    for position, plan in enumerate(data.plans):
        if plan.index != position:
            raise JournalError(f"plans[{position}] has index {plan.index}, expected {position}")
        if plan.quantity < 0:
            raise JournalError(f"plans[{position}].quantity {plan.quantity}, expected 0 or more")
        if plan.price is not None and plan.price <= 0:
            raise JournalError(f"plans[{position}].price {plan.price}, expected a positive price")
    return data


def build_supervisor(start: dict[str, Any]) -> HedgeSupervisor:
    """A fresh supervisor, in ``idle``, exactly as the journal's start record describes it.

    Raises :class:`JournalError` when the start record does not describe a hedge.
    """
    data = _structure_start(start)
    try:
        config = HedgeConfig.from_mapping(data.config)
    except HedgeError as exc:
        raise JournalError(str(exc)) from None
    plans = [
        LegPlan(
            index=plan.index,
            venue=plan.venue,
            instrument=plan.instrument,
            side=plan.side,
            quantity=plan.quantity,
            price=plan.price,
            reduce_only=plan.reduce_only,
            baseline=plan.baseline,
            capabilities=plan.capabilities if plan.capabilities is not None else DEFAULT_CAPABILITIES,
            post_only=plan.post_only,
        )
        for plan in data.plans
    ]
    try:
        return HedgeSupervisor(
            hedge_id=data.hedge_id,
            plans=plans,
            config=config,
            direct=data.direct,
            trigger=data.trigger,
            market_only=data.market_only,
        )
    except HedgeError as exc:
        raise JournalError(str(exc)) from None


@attrs.frozen
class ReplayResult:
    supervisor: HedgeSupervisor
    mismatches: list[str]
    """Commands the replayed machines emitted differently from the journal (empty: faithful)."""
    pending: list[tuple[Route, Command]]
    """Commands the machines emitted after the journal's last record: never sent (write-ahead)."""


def replay(hedge: JournalHedge) -> ReplayResult:
    """Rebuild a hedge by feeding its journaled events into fresh machines.

    Every command the fresh machines emit is compared, in order, with the
    journaled one; any difference is reported (a journal from other code, or a
    nondeterminism bug). Commands emitted after the journal's end were never
    recorded, hence never sent: they come back as ``pending``. An event the
    machines refuse raises :class:`JournalError` naming its line.
    """
    supervisor = build_supervisor(hedge.start)
    expected: list[CommandRecord] = []
    emitted: list[tuple[Route, Command]] = []
    mismatches: list[str] = []
    # After a resume record: the batch of commands the recovery issued first. Among them are the
    # commands the machines had emitted that were never sent (``pending``, matched in order);
    # the others are recovery's own (lookups, re-armed timers), which no machine emitted.
    batch_left = 0
    pending: list[tuple[Route, Command]] = []
    for entry in hedge.entries:
        if isinstance(entry, ResumeRecord):
            _compare(emitted, expected, mismatches)
            _unmatched(expected, mismatches)
            pending, emitted = emitted, []
            batch_left = entry.commands
            continue
        if isinstance(entry, CommandRecord):
            if batch_left:
                batch_left -= 1
                if pending and pending[0] == (entry.route, entry.command):
                    pending.pop(0)
                if not batch_left:
                    _unsent(pending, mismatches)
                continue
            expected.append(entry)
            continue
        if batch_left:
            mismatches.append(f"line {entry.line}: an event before the recovery's {batch_left} "
                              "remaining command(s)")
            batch_left = 0
            _unsent(pending, mismatches)
        _compare(emitted, expected, mismatches)
        try:
            if supervisor.is_finished:
                supervisor.absorb_late(entry.route, entry.event)
            else:
                supervisor.dispatch(entry.route, entry.event)
        except HedgeError as exc:
            # The record is well formed but the machines cannot take it: not this hedge's history.
            raise JournalError(
                f"{hedge.source}:{entry.line}: hedge {hedge.hedge_id!r}: cannot replay "
                f"{type(entry.event).__name__}: {exc}"
            ) from None
        emitted.extend(supervisor.drain_routed())
    if batch_left:
        # The journal stops inside a recovery's first batch (it crashed again): the pending
        # commands not yet recorded were never sent; they are pending still.
        emitted = pending + emitted
    _compare(emitted, expected, mismatches)
    _unmatched(expected, mismatches)
    finish = hedge.finish
    if finish is not None and finish.get("state") != supervisor.state:
        mismatches.append(
            f"journal says the hedge ended {finish.get('state')!r}, replay ends {supervisor.state!r}"
        )
    return ReplayResult(supervisor, mismatches, emitted)


def recoverable(path: str | Path) -> list[tuple[JournalHedge, ReplayResult]]:
    """Every unfinished hedge of a journal, rebuilt, for :meth:`HedgeEngine.recover`.

    Refuses (:class:`JournalError`) a journal that is damaged (see the module's
    notes; a torn tail is left out with a warning) or whose replay does not
    reproduce its commands: resuming machines that disagree with what was sent
    could leave an order nobody watches, so recovery stops before acting.
    """
    hedges = [hedge for hedge in read_journal(path).values() if not hedge.finished]
    rebuilt = [(hedge, replay(hedge)) for hedge in hedges]
    for hedge, result in rebuilt:
        if result.mismatches:
            shown = "; ".join(result.mismatches[:3])
            more = len(result.mismatches) - 3
            raise JournalError(
                f"{hedge.source}: hedge {hedge.hedge_id!r} cannot be recovered: replaying its "
                f"events does not reproduce its journaled commands ({shown}"
                f"{f'; and {more} more' if more > 0 else ''}); a journal written by another "
                "version of hedge_fsm, or altered"
            )
    return rebuilt


def _unmatched(expected: list[CommandRecord], mismatches: list[str]) -> None:
    for record in expected:
        mismatches.append(
            f"journal has command {record.id} {type(record.command).__name__} that replay never emitted"
        )
    expected.clear()


def _unsent(pending: list[tuple[Route, Command]], mismatches: list[str]) -> None:
    for route, command in pending:
        mismatches.append(f"recovery never sent the pending {route} {command!r}")
    pending.clear()


def _compare(
    emitted: list[tuple[Route, Command]], expected: list[CommandRecord], mismatches: list[str]
) -> None:
    while emitted and expected:
        route, command = emitted.pop(0)
        record = expected.pop(0)
        if route != record.route or command != record.command:
            mismatches.append(
                f"command {record.id}: journal {record.route} {record.command!r}, "
                f"replay {route} {command!r}"
            )


def iter_lines(hedge: JournalHedge) -> Iterable[str]:
    """A readable account of one hedge: transitions, orders and fills (for ``hedge-fsm replay``)."""
    for entry in hedge.entries:
        if isinstance(entry, ResumeRecord):
            yield f"  ---  recovery resumed the hedge here ({entry.commands} commands first)"
        elif isinstance(entry, CommandRecord):
            yield f"  cmd  #{entry.id:<4} {entry.route.machine}/{entry.route.leg}  {entry.command!r}"
        else:
            yield f"  evt  <-{entry.cause!s:<5} {entry.route.machine}/{entry.route.leg}  {entry.event!r}"
