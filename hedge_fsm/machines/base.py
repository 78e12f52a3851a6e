"""What every machine shares: edges as data, one shared ``Machine`` per kind, ``feed``.

A table is a tuple of :class:`Edge`, one per line. ``dest=None`` marks an
internal edge (the state does not change, no exit/enter). ``build`` turns a
table into one ``transitions.Machine`` with ``model=None`` and
``auto_transitions=False``, built once per machine kind and shared by every
model of that kind; models are never added to it (``add_model`` scans a list).

The ``transitions.Machine`` is the source of truth, but not the hot path. At
import each kind *compiles* its Machine: it reads the Machine's own events,
transitions, conditions and callbacks (machine-level hooks included, not our
:class:`Edge` tuples) into a ``state → trigger → candidate edges`` dispatch,
with every condition and callback name resolved once to a function of the
model class, applied in the order transitions documents (prepare_event;
per candidate: prepare, conditions, before_state_change + before, exit,
state change, enter, on_final, after + after_state_change; finalize_event).
A condition passes when its result ``== target``, exactly as transitions
compares it. ``tests/test_dispatch_equivalence.py`` proves the compiled
dispatch and ``Machine.events[...].trigger`` make the same moves and calls.
A Machine using what the compiler does not model (``on_exception``, queued
transitions, ``send_event``) is dispatched by transitions itself.

Applying an event follows a fixed order: the trigger is checked against the
state first (an illegal one raises :class:`IllegalTransition` and changes
nothing), then the machine moves, then the move is appended to the history.
"""

from __future__ import annotations

import inspect
import linecache
import types
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs
from transitions import Machine

from hedge_fsm._fast import fast_constructor
from hedge_fsm.errors import IllegalTransition
from hedge_fsm.machines.commands import Command
from hedge_fsm.machines.events import Event
from hedge_fsm.values import TransitionRecord

__all__ = ["CompiledEdge", "Edge", "FsmModel", "MachineKind", "late_report_edges"]


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


Callback = str | Callable[..., Any]
"""A callback or condition as transitions holds it: a model attribute name or a callable."""


@attrs.frozen
class CompiledEdge:
    """One candidate edge as read from the ``transitions.Machine`` (names, not yet bound).

    The lists are in the order transitions runs them; machine-level hooks are
    already merged in (``before`` starts with ``before_state_change``, ``after``
    ends with ``after_state_change``; ``exit``/``enter`` are empty for an
    internal edge, ``enter`` ends with ``on_final`` when the destination is final).
    """

    source: str
    trigger: str
    dest: str | None
    """None: internal, the state stays."""
    dest_value: Any
    """What transitions writes into ``model.state`` (the State's ``value``)."""
    prepare: tuple[Callback, ...]
    conditions: tuple[tuple[Callback, bool], ...]
    """(predicate, target): the edge is taken when every ``predicate(...) == target``."""
    before: tuple[Callback, ...]
    exit: tuple[Callback, ...]
    enter: tuple[Callback, ...]
    after: tuple[Callback, ...]


_Fn = Callable[..., Any]
_Step = Callable[..., bool]
"""One (state, trigger)'s compiled dispatch: ``step(model, event)`` or ``step(model, leg, event)``;
True when an edge was taken."""
_record = fast_constructor(TransitionRecord)


def _compile(machine: Machine) -> dict[str, dict[str, tuple[CompiledEdge, ...]]]:
    """``state → trigger → candidates``, read from the Machine's own objects, in its order."""
    table: dict[str, dict[str, tuple[CompiledEdge, ...]]] = {name: {} for name in machine.states}
    before_change = tuple(machine.before_state_change)
    after_change = tuple(machine.after_state_change)
    on_final = tuple(machine.on_final)
    for trigger, event in machine.events.items():
        for source, candidates in event.transitions.items():
            compiled = []
            for t in candidates:
                dest = t.dest
                internal = not dest  # transitions: "if self.dest:" decides the state change
                dest_state = None if not dest else machine.get_state(dest)
                enter: tuple[Callback, ...] = ()
                if dest_state is not None:
                    enter = tuple(dest_state.on_enter) + (on_final if dest_state.final else ())
                compiled.append(
                    CompiledEdge(
                        source=source,
                        trigger=trigger,
                        dest=None if internal else dest,
                        dest_value=None if dest_state is None else dest_state.value,
                        prepare=tuple(t.prepare),
                        conditions=tuple((c.func, bool(c.target)) for c in t.conditions),
                        before=before_change + tuple(t.before),
                        exit=() if internal else tuple(machine.get_state(source).on_exit),
                        enter=enter,
                        after=tuple(t.after) + after_change,
                    )
                )
            table[source][trigger] = tuple(compiled)
    return table


def _attribute_call(name: str) -> _Fn:
    """Resolve ``name`` on the model at each call, as ``Machine.resolve_callable`` does."""

    def call(model: Any, *args: Any) -> Any:
        value = getattr(model, name)
        return value(*args) if callable(value) else value

    return call


def _bind(callback: Callback, cls: type) -> _Fn:
    """A function called as ``fn(model, *args)``, resolved once for ``cls``."""
    if not isinstance(callback, str):
        def call_plain(_model: Any, *args: Any) -> Any:
            return callback(*args)

        return call_plain
    static = inspect.getattr_static(cls, callback, None)
    if isinstance(static, types.FunctionType):
        return static  # a plain method: the class's function, called with the model first
    # A property, a static or class method, an instance attribute, a dotted path:
    # resolved per call, exactly as transitions would.
    return _attribute_call(callback)


def _generate_step(
    kind: str,
    state: str,
    trigger: str,
    candidates: tuple[CompiledEdge, ...],
    cls: type,
    passes_leg: bool,
) -> _Step:
    """Generate one (state, trigger)'s dispatch as straight-line code, in transitions' order.

    Per candidate: its prepare callbacks, then its conditions (``result == target``,
    transitions' own test, short-circuited in order); when all hold: before (with
    ``before_state_change``) and exit, the state change, enter (with ``on_final``),
    after (with ``after_state_change``), and True. No candidate taken: False.
    """
    namespace: dict[str, Any] = {}
    args = "leg, event" if passes_leg else "event"
    lines = [f"def step(model, {args}):"]

    def ref(value: object) -> str:
        name = f"_f{len(namespace)}"
        namespace[name] = value
        return name

    for candidate in candidates:
        for callback in candidate.prepare:
            lines.append(f"    {ref(_bind(callback, cls))}(model, {args})")
        tests = [
            f"{ref(_bind(predicate, cls))}(model, {args}) == {ref(target)}"
            for predicate, target in candidate.conditions
        ]
        body = [f"{ref(_bind(c, cls))}(model, {args})" for c in candidate.before + candidate.exit]
        if candidate.dest is not None:
            body.append(f"model.state = {ref(candidate.dest_value)}")
        body += [f"{ref(_bind(c, cls))}(model, {args})" for c in candidate.enter + candidate.after]
        body.append("return True")
        indent = "    "
        if tests:
            lines.append(f"    if {' and '.join(tests)}:")
            indent = "        "
        lines += [indent + line for line in body]
        if not tests:
            break  # an unconditional candidate: the ones after it are never tried
    else:
        lines.append("    return False")
    # Resolved functions are bound as defaults: local loads, the cheapest lookup there is.
    header = ", ".join(f"{name}={name}" for name in namespace)
    if header:
        lines[0] = f"def step(model, {args}, *, {header}):"
    source = "\n".join(lines) + "\n"
    filename = f"<{kind} dispatch {state} --{trigger}-->>"
    # Tracebacks through a step show its generated source.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    step: _Step = namespace["step"]
    return step


class MachineKind:
    """A machine kind: its states, table, the shared ``transitions.Machine``, and its compiled dispatch."""

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
        self._events = self.machine.events
        self.compiled: dict[str, dict[str, tuple[CompiledEdge, ...]]] = _compile(self.machine)
        """``state → trigger → candidates``, read from :attr:`machine` (see the module doc)."""
        self.allowed: dict[str, frozenset[str]] = {
            s: frozenset(self.compiled.get(s, {})) for s in self.states
        }
        self.triggers = frozenset(t for by_trigger in self.compiled.values() for t in by_trigger)
        m = self.machine
        # What the compiler does not model is left to transitions itself.
        self._event_hooks = bool(m.prepare_event or m.finalize_event)
        self.uses_compiled = not (m.on_exception or m.has_queue or m.send_event)
        self._bound: dict[type, dict[str, dict[str, _Step]]] = {}

    def bind(self, cls: type) -> dict[str, dict[str, _Step]]:
        """The compiled dispatch for ``cls``: ``state → trigger → step`` (cached per class).

        Each step is a function generated from the candidates of one (state, trigger),
        with every name resolved to ``cls``'s functions: it tries the candidates in
        order and runs the first whose conditions hold, returning whether one did. The
        code is what the loop over candidates would do, unrolled (no per-event loops,
        tuple unpacking or ``*args``).
        """
        bound = self._bound.get(cls)
        if bound is None:
            bound = {
                state: {
                    trigger: _generate_step(self.name, state, trigger, candidates, cls, self.passes_leg)
                    for trigger, candidates in by_trigger.items()
                }
                for state, by_trigger in self.compiled.items()
            }
            self._bound[cls] = bound
        return bound

    def fire(self, model: FsmModel, event: Event, leg: int | None = None) -> None:
        """Apply ``event`` to ``model``: check, move, record.

        Callbacks and conditions receive ``(event,)``, or ``(leg, event)`` for a
        kind built with ``passes_leg`` (the supervisor's per-leg events).
        """
        trigger = event.TRIGGER
        source = model.state
        by_trigger = self._bound.get(type(model)) or self.bind(type(model))
        step = by_trigger[source].get(trigger)
        if step is None:
            raise IllegalTransition(self.name, source, trigger)
        if self._direct:
            moved = step(model, leg, event) if self.passes_leg else step(model, event)
        else:
            moved = self._trigger_slow(model, trigger, (leg, event) if self.passes_leg else (event,))
        if not moved:
            # Every table ends each (state, trigger) group with an unconditional edge,
            # so this is a table bug, reported as clearly as an illegal event.
            raise IllegalTransition(self.name, source, trigger, "no edge condition matched")
        # Built without re-validation: every field is the library's own.
        who = model.leg_index if leg is None else leg
        model.history.append(_record(self.name, who, source, trigger, model.state, event.now))

    @property
    def uses_compiled(self) -> bool:
        """Dispatch through the compiled steps (False: through ``transitions`` itself, as the
        benchmarks' reference; forced False when the Machine uses what the compiler does not
        model)."""
        return self._uses_compiled

    @uses_compiled.setter
    def uses_compiled(self, value: bool) -> None:
        self._uses_compiled = value
        self._direct = value and not self._event_hooks

    def _trigger_slow(self, model: FsmModel, trigger: str, args: tuple[Any, ...]) -> bool:
        """Dispatch through ``transitions`` itself (machine-level event hooks, on_exception, queues)."""
        return bool(self._events[trigger].trigger(model, *args))

    def trigger_reference(self, model: FsmModel, event: Event, leg: int | None = None) -> bool:
        """Apply ``event`` through ``Machine.events[...].trigger`` only (no check, no history).

        The reference the compiled dispatch is proven against; not for the hot path.
        """
        args = (leg, event) if self.passes_leg else (event,)
        return bool(self._events[event.TRIGGER].trigger(model, *args))


class FsmModel:
    """Base of machine models: state, outbox of commands, and the history of moves."""

    KIND: ClassVar[MachineKind]
    state: str
    leg_index: int | None
    outbox: list[Command]
    history: list[TransitionRecord]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = getattr(cls, "KIND", None)
        if isinstance(kind, MachineKind):
            kind.bind(cls)  # resolve the dispatch at import, not on the first event

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
