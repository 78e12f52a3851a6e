"""What every machine shares: edges as data, one shared ``Machine`` per kind, ``feed``.

A table is a tuple of :class:`Edge`, one per line. ``dest=None`` marks an
internal edge (the state does not change, no exit/enter). ``build`` turns a
table into one ``transitions.Machine`` with ``model=None`` and
``auto_transitions=False``, built once per machine kind and shared by every
model of that kind; models are never added to it (``add_model`` scans a list):
events are triggered through ``machine.events[trigger].trigger(model, event)``.

Applying an event follows a fixed order: the trigger is checked against the
state first (an illegal one raises :class:`IllegalTransition` and changes
nothing), then the machine moves, then the move is appended to the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import attrs
from transitions import Machine

from hedge_fsm.errors import IllegalTransition
from hedge_fsm.machines.commands import Command
from hedge_fsm.machines.events import Event
from hedge_fsm.values import TransitionRecord

__all__ = ["Edge", "FsmModel", "MachineKind", "late_report_edges"]


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


@attrs.frozen
class Edge:
    """One row of a transition table."""

    trigger: str
    source: str = attrs.field(converter=str)
    dest: str | None = attrs.field(converter=_optional_str)
    """None: an internal edge, the state stays."""
    conditions: tuple[str, ...] = ()
    """Names of pure predicates on the model, all of which must hold (first match wins)."""
    after: tuple[str, ...] = ()
    """Names of the model's callbacks, run in order after the state changed."""
    reason: str = ""
    """Why this edge exists, when it exists because venues misbehave."""

    @property
    def destination(self) -> str:
        return self.source if self.dest is None else self.dest


def late_report_edges(
    edges: tuple[Edge, ...], live_states: Iterable[str], triggers: Iterable[str], reason: str
) -> tuple[Edge, ...]:
    """Internal ``record_report`` edges for every (live state, trigger) the table leaves open.

    Late answers about orders a machine has moved past (a stale poll, a second cancel's
    answer) are folded into the ledger wherever no edge of their own handles them: they
    can only ever add a fill that was really made.
    """
    triggers = tuple(triggers)
    return tuple(
        Edge(trigger, str(state), None, (), ("record_report",), reason)
        for state in live_states
        for trigger in triggers
        if not any(e.source == state and e.trigger == trigger for e in edges)
    )


class MachineKind:
    """A machine kind: its states, table, the shared ``transitions.Machine``, and fast lookups."""

    def __init__(
        self,
        name: str,
        states: Iterable[str],
        initial: str,
        terminal: Iterable[str],
        edges: tuple[Edge, ...],
        *,
        passes_leg: bool = False,
    ) -> None:
        self.name = name
        self.passes_leg = passes_leg
        """Callbacks receive ``(leg, event)`` instead of ``(event,)``."""
        self.states: tuple[str, ...] = tuple(str(s) for s in states)
        self.initial = str(initial)
        self.terminal = frozenset(str(s) for s in terminal)
        self.edges = edges
        self.machine = Machine(
            model=None,
            states=list(self.states),
            initial=self.initial,
            transitions=[
                {
                    "trigger": e.trigger,
                    "source": e.source,
                    "dest": e.dest,
                    "conditions": list(e.conditions),
                    "after": list(e.after),
                }
                for e in edges
            ],
            auto_transitions=False,
            send_event=False,
            name=name,
        )
        allowed: dict[str, set[str]] = {s: set() for s in self.states}
        for edge in edges:
            allowed[edge.source].add(edge.trigger)
        self.allowed: dict[str, frozenset[str]] = {s: frozenset(t) for s, t in allowed.items()}
        self._events = self.machine.events
        self.triggers = frozenset(e.trigger for e in edges)

    def fire(self, model: FsmModel, event: Event, leg: int | None = None) -> None:
        """Apply ``event`` to ``model``: check, move, record.

        Callbacks and conditions receive ``(event,)``, or ``(leg, event)`` for a
        kind built with ``passes_leg`` (the supervisor's per-leg events).
        """
        trigger = event.TRIGGER
        source = model.state
        if trigger not in self.allowed[source]:
            raise IllegalTransition(self.name, source, trigger)
        args = (leg, event) if self.passes_leg else (event,)
        if not self._events[trigger].trigger(model, *args):
            # Every table ends each (state, trigger) group with an unconditional edge,
            # so this is a table bug, reported as clearly as an illegal event.
            raise IllegalTransition(self.name, source, trigger, "no edge condition matched")
        model.history.append(
            TransitionRecord(
                machine=self.name,
                leg=model.leg_index if leg is None else leg,
                source=source,
                trigger=trigger,
                destination=model.state,
                time=event.now,
            )
        )


class FsmModel:
    """Base of machine models: state, outbox of commands, and the history of moves."""

    KIND: ClassVar[MachineKind]
    state: str
    leg_index: int | None
    outbox: list[Command]
    history: list[TransitionRecord]

    def feed(self, event: Event) -> None:
        """Apply one event (see :meth:`MachineKind.fire`)."""
        self.KIND.fire(self, event)

    @property
    def is_finished(self) -> bool:
        return self.state in self.KIND.terminal

    def drain(self) -> list[Command]:
        """Take every command emitted so far."""
        commands, self.outbox = self.outbox, []
        return commands
