"""The journal: an append-only, write-ahead record of every event and command of every hedge.

Theory of operation
-------------------
A hedge is a deterministic function of its inputs: the set-up (instruments,
baseline positions, config) and the events fed to its machines. The journal
records exactly those, so a hedge can be rebuilt at any point by replaying
its events into fresh machines (:func:`replay`), and resumed after a crash
(:meth:`hedge_fsm.HedgeEngine.recover`).

Format: JSON Lines, one record per line, schema version ``v``::

    {"v":1,"hedge":"a1b2","seq":0,"kind":"start","data":{...set-up...}}
    {"v":1,"hedge":"a1b2","seq":5,"kind":"command","id":3,"route":["leg",1],"type":"PlaceLimit","data":{...}}
    {"v":1,"hedge":"a1b2","seq":6,"kind":"event","cause":3,"route":["leg",1],"type":"OrderAcked","data":{...}}
    {"v":1,"hedge":"a1b2","seq":9,"kind":"finish","data":{"state":"done","net_exposure":"0"}}

Values go through the one cattrs converter: Decimals as strings, enums as values.

Durability (the fsync policy): a record is written and flushed before the
command it records is handed to a venue (write-ahead). With the default
``fsync="orders"``, records of commands that can change a position
(``PlaceLimit``, ``PlaceMarket``, ``CancelOrder``) are also fsynced before they
are sent, so an order can never exist at a venue without the journal knowing
it may exist; other records are flushed and left to the OS. ``"always"``
fsyncs every record; ``"never"`` only flushes (tests, simulations). A torn last
line (a crash mid-write) is ignored when reading.

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
from typing import IO, Any

import attrs

from hedge_fsm.config import HedgeConfig
from hedge_fsm.convert import converter
from hedge_fsm.errors import HedgeError
from hedge_fsm.machines import commands as commands_module
from hedge_fsm.machines import events as events_module
from hedge_fsm.machines.commands import CancelOrder, Command, PlaceLimit, PlaceMarket
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.supervisor import HedgeSupervisor, LegPlan, Route
from hedge_fsm.secrets import redact
from hedge_fsm.values import ExecutionResult, Instrument, Side, TriggerFill

__all__ = [
    "SCHEMA_VERSION",
    "FsyncPolicy",
    "JournalError",
    "JournalHedge",
    "JournalWriter",
    "ReplayResult",
    "build_supervisor",
    "read_journal",
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
            }
            for plan in supervisor.plans
        ],
    }


def _scrubbed(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: redact(value) if key == "message" and isinstance(value, str) else _scrubbed(value)
                for key, value in data.items()}
    return data


class JournalWriter:
    """A :class:`hedge_fsm.engine.HedgeObserver` that appends every hedge's records to a file.

    One writer can serve an engine running several hedges at once; records of
    each hedge carry its id and its own sequence numbers.
    """

    def __init__(self, path: str | Path, *, fsync: FsyncPolicy | str = FsyncPolicy.ORDERS) -> None:
        self.path = Path(path)
        self.fsync = FsyncPolicy(fsync)
        self._file: IO[str] = self.path.open("a", encoding="utf-8")
        self._seq: dict[str, int] = {}
        for hedge in read_journal(self.path).values() if self.path.stat().st_size else ():
            self._seq[hedge.hedge_id] = hedge.last_seq + 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _append(self, hedge_id: str, kind: str, body: dict[str, Any], *, durable: bool) -> None:
        seq = self._seq.get(hedge_id, 0)
        self._seq[hedge_id] = seq + 1
        record = {"v": SCHEMA_VERSION, "hedge": hedge_id, "seq": seq, "kind": kind, **body}
        self._file.write(json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n")
        self._file.flush()
        if self.fsync is FsyncPolicy.ALWAYS or (durable and self.fsync is FsyncPolicy.ORDERS):
            os.fsync(self._file.fileno())

    def on_start(self, supervisor: HedgeSupervisor) -> None:
        self._append(supervisor.hedge_id, "start", {"data": _start_data(supervisor)}, durable=True)

    def on_command(self, hedge_id: str, route: Route, command: Command, command_id: int) -> None:
        self._append(
            hedge_id,
            "command",
            {
                "id": command_id,
                "route": [route.machine, route.leg],
                "type": type(command).__name__,
                "data": converter.unstructure(command),
            },
            durable=isinstance(command, PlaceLimit | PlaceMarket | CancelOrder),
        )

    def on_event(self, hedge_id: str, route: Route, event: Event, cause: int | None) -> None:
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
        self._append(
            hedge_id,
            "finish",
            {"data": {"state": result.state, "net_exposure": str(result.net_exposure)}},
            durable=True,
        )


# ----------------------------------------------------------------------------- reading


@attrs.frozen
class CommandRecord:
    seq: int
    id: int
    route: Route
    command: Command


@attrs.frozen
class EventRecord:
    seq: int
    cause: int | None
    route: Route
    event: Event


@attrs.define
class JournalHedge:
    """Everything the journal says about one hedge, in order."""

    hedge_id: str
    start: dict[str, Any]
    entries: list[CommandRecord | EventRecord] = attrs.Factory(list)
    finish: dict[str, Any] | None = None
    last_seq: int = 0

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


def _route(raw: Any) -> Route:
    machine, leg = raw
    return Route(str(machine), None if leg is None else int(leg))


def read_journal(path: str | Path) -> dict[str, JournalHedge]:
    """Parse a journal into its hedges (in order of first appearance)."""
    hedges: dict[str, JournalHedge] = {}
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise JournalError(f"{source}: cannot read journal: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # a torn last line: the crash happened mid-write, before the send
            raise JournalError(f"{source}:{number}: not a JSON record") from None
        if record.get("v") != SCHEMA_VERSION:
            raise JournalError(
                f"{source}:{number}: schema version {record.get('v')!r}, expected {SCHEMA_VERSION}"
            )
        hedge_id = record["hedge"]
        kind = record["kind"]
        if kind == "start":
            hedges[hedge_id] = JournalHedge(hedge_id=hedge_id, start=record["data"], last_seq=record["seq"])
            continue
        hedge = hedges.get(hedge_id)
        if hedge is None:
            raise JournalError(f"{source}:{number}: record of hedge {hedge_id!r} before its start")
        hedge.last_seq = record["seq"]
        if kind == "command":
            cls = _COMMAND_TYPES[record["type"]]
            command = converter.structure(record["data"], cls)
            hedge.entries.append(CommandRecord(record["seq"], record["id"], _route(record["route"]), command))
        elif kind == "event":
            event = converter.structure(record["data"], _EVENT_TYPES[record["type"]])
            hedge.entries.append(EventRecord(record["seq"], record["cause"], _route(record["route"]), event))
        elif kind == "finish":
            hedge.finish = record["data"]
        else:
            raise JournalError(f"{source}:{number}: unknown record kind {kind!r}")
    return hedges


def build_supervisor(start: dict[str, Any]) -> HedgeSupervisor:
    """A fresh supervisor, in ``idle``, exactly as the journal's start record describes it."""
    plans = [
        LegPlan(
            index=raw["index"],
            venue=raw["venue"],
            instrument=converter.structure(raw["instrument"], Instrument),
            side=Side(raw["side"]),
            quantity=Decimal(raw["quantity"]),
            price=None if raw["price"] is None else Decimal(raw["price"]),
            reduce_only=raw["reduce_only"],
            baseline=Decimal(raw["baseline"]),
        )
        for raw in start["plans"]
    ]
    trigger = start.get("trigger")
    return HedgeSupervisor(
        hedge_id=start["hedge_id"],
        plans=plans,
        config=HedgeConfig.from_mapping(start["config"]),
        direct=start["direct"],
        trigger=converter.structure(trigger, TriggerFill) if trigger is not None else None,
        market_only=start["market_only"],
    )


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
    recorded, hence never sent: they come back as ``pending``.
    """
    supervisor = build_supervisor(hedge.start)
    expected: list[CommandRecord] = []
    emitted: list[tuple[Route, Command]] = []
    mismatches: list[str] = []
    for entry in hedge.entries:
        if isinstance(entry, CommandRecord):
            expected.append(entry)
            continue
        _compare(emitted, expected, mismatches)
        if supervisor.is_finished:
            supervisor.absorb_late(entry.route, entry.event)
        else:
            supervisor.dispatch(entry.route, entry.event)
        emitted.extend(supervisor.drain_routed())
    _compare(emitted, expected, mismatches)
    for record in expected:
        mismatches.append(
            f"journal has command {record.id} {type(record.command).__name__} that replay never emitted"
        )
    finish = hedge.finish
    if finish is not None and finish.get("state") != supervisor.state:
        mismatches.append(
            f"journal says the hedge ended {finish.get('state')!r}, replay ends {supervisor.state!r}"
        )
    return ReplayResult(supervisor, mismatches, emitted)


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
        if isinstance(entry, CommandRecord):
            yield f"  cmd  #{entry.id:<4} {entry.route.machine}/{entry.route.leg}  {entry.command!r}"
        else:
            yield f"  evt  <-{entry.cause!s:<5} {entry.route.machine}/{entry.route.leg}  {entry.event!r}"
