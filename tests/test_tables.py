"""Transition tables: the structural checks python-statemachine runs on a definition, over every kind.

Each machine kind (the leg hedge and the supervisor) is checked as data, without
running it: every state is reachable, no state is a trap, terminal states have no
exits, every trigger has an event class, every condition and callback names a
method of the model, and every ``(state, trigger)`` group can always match.
"""

from __future__ import annotations

import inspect
from collections import defaultdict, deque

import pytest

import hedge_fsm.machines.events as events_module
from hedge_fsm.machines.base import Edge, FsmModel, MachineKind
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.leg import LEG, LegHedge, LegState
from hedge_fsm.machines.supervisor import SUPERVISOR, HedgeSupervisor, SupervisorState

KINDS: list[tuple[MachineKind, type[FsmModel], type]] = [
    (LEG, LegHedge, LegState),
    (SUPERVISOR, HedgeSupervisor, SupervisorState),
]
IDS = [kind.name for kind, _, _ in KINDS]


def event_classes() -> dict[str, type[Event]]:
    """Every concrete event class of the events module, by its trigger."""
    found: dict[str, type[Event]] = {}
    for _, cls in inspect.getmembers(events_module, inspect.isclass):
        if issubclass(cls, Event) and cls is not Event:
            found[cls.TRIGGER] = cls
    return found


def successors(kind: MachineKind) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {state: set() for state in kind.states}
    for edge in kind.edges:
        graph[edge.source].add(edge.destination)
    return graph


def closure(start: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(start)
    while queue:
        for nxt in graph[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def groups(kind: MachineKind) -> dict[tuple[str, str], list[Edge]]:
    """Edges grouped by (source, trigger), in table order (transitions tries them in that order)."""
    grouped: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in kind.edges:
        grouped[(edge.source, edge.trigger)].append(edge)
    return grouped


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_states_are_the_enum_and_every_edge_names_known_states(
    kind: MachineKind, model: type[FsmModel], states: type
) -> None:
    """The kind's states are exactly its state enum; every edge's source and destination is one of them."""
    assert set(kind.states) == {s.value for s in states}
    assert kind.initial in kind.states
    assert kind.terminal <= set(kind.states)
    assert kind.terminal, "a machine without terminal states never ends"
    unknown = [e for e in kind.edges if e.source not in kind.states or e.destination not in kind.states]
    assert unknown == []


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_every_state_is_reachable_from_the_initial_state(
    kind: MachineKind, model: type[FsmModel], states: type
) -> None:
    """No state is dead code: each can be reached from the initial state through the table."""
    reachable = closure({kind.initial}, successors(kind))
    assert set(kind.states) - reachable == set()


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_no_trap_states(kind: MachineKind, model: type[FsmModel], states: type) -> None:
    """Every non-terminal state can still reach a terminal state (invariant 2: every run can end)."""
    graph = successors(kind)
    traps = [
        state
        for state in kind.states
        if state not in kind.terminal and not (closure({state}, graph) & kind.terminal)
    ]
    assert traps == []


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_terminal_states_have_no_outgoing_edges(
    kind: MachineKind, model: type[FsmModel], states: type
) -> None:
    """Invariant 1: a terminal state has no edge at all (not even internal), so every event there raises."""
    leaving = [e for e in kind.edges if e.source in kind.terminal]
    assert leaving == []
    assert all(kind.allowed[state] == frozenset() for state in kind.terminal)


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_every_trigger_has_an_event_class(kind: MachineKind, model: type[FsmModel], states: type) -> None:
    """Each trigger in the table is the ``TRIGGER`` of an :class:`Event` subclass the driver can build."""
    classes = event_classes()
    assert sorted(kind.triggers - classes.keys()) == []


def test_every_event_class_is_used_by_some_machine() -> None:
    """No event class is orphaned: each trigger appears in the leg or the supervisor table."""
    used = LEG.triggers | SUPERVISOR.triggers
    assert sorted(event_classes().keys() - used) == []


def test_event_triggers_are_unique() -> None:
    """Two event classes never share a trigger (the table could not tell them apart)."""
    triggers = [
        cls.TRIGGER
        for _, cls in inspect.getmembers(events_module, inspect.isclass)
        if issubclass(cls, Event) and cls is not Event
    ]
    assert len(triggers) == len(set(triggers))
    assert "" not in triggers


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_conditions_and_callbacks_are_methods_of_the_model(
    kind: MachineKind, model: type[FsmModel], states: type
) -> None:
    """Every condition and ``after`` callback named in the table is a method of the model class."""
    missing = sorted(
        {
            name
            for edge in kind.edges
            for name in (*edge.conditions, *edge.after)
            if not callable(getattr(model, name, None))
        }
    )
    assert missing == []


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_conditions_are_named_as_questions(kind: MachineKind, model: type[FsmModel], states: type) -> None:
    """Conditions read as questions (``is_…``, ``has_…``): a table line cannot hide an action in a guard."""
    names = {name for edge in kind.edges for name in edge.conditions}
    assert sorted(n for n in names if not n.startswith(("is_", "has_"))) == []


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_every_state_trigger_group_ends_with_an_unconditional_edge(
    kind: MachineKind, model: type[FsmModel], states: type
) -> None:
    """The last edge of each (state, trigger) group has no condition, so the group can never fail to match.

    A group whose last edge is conditional can leave a legal event unmatched, which
    ``MachineKind.fire`` reports as ``IllegalTransition(... 'no edge condition matched')``.
    """
    conditional_last = sorted(
        (source, trigger, edges[-1].conditions)
        for (source, trigger), edges in groups(kind).items()
        if edges[-1].conditions
    )
    assert conditional_last == []


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_no_edge_is_shadowed_by_an_earlier_unconditional_edge(
    kind: MachineKind, model: type[FsmModel], states: type
) -> None:
    """First match wins: an edge after an unconditional one in its group could never be taken."""
    shadowed = sorted(
        (source, trigger, index)
        for (source, trigger), edges in groups(kind).items()
        for index, edge in enumerate(edges)
        if any(not earlier.conditions for earlier in edges[:index])
    )
    assert shadowed == []


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_no_duplicate_edges(kind: MachineKind, model: type[FsmModel], states: type) -> None:
    """The same (source, trigger, conditions) never appears twice: the second copy would be dead."""
    keys = [(e.source, e.trigger, e.conditions) for e in kind.edges]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(("kind", "model", "states"), KINDS, ids=IDS)
def test_allowed_triggers_match_the_table(kind: MachineKind, model: type[FsmModel], states: type) -> None:
    """``kind.allowed`` (what ``fire`` checks first) is exactly the triggers with an edge from each state."""
    expected = {state: frozenset() for state in kind.states}
    for source, trigger in groups(kind):
        expected[source] = expected[source] | {trigger}
    assert kind.allowed == expected
    assert set(kind.machine.events) == set(kind.triggers)


def test_leg_machine_has_the_design_states() -> None:
    """docs/design.md (The leg machine) names these leg states; the machine has each,
    with done and rollback terminal."""
    design = {
        "pricing",
        "placed",
        "polling",
        "partial",
        "retry",
        "market_fallback",
        "done",
        "rollback",
    }
    assert design <= set(LEG.states)
    assert LEG.initial == "pricing"
    assert LEG.terminal == {"done", "rollback"}


def test_supervisor_machine_has_the_design_states() -> None:
    """docs/design.md (The supervisor) names these supervisor states; the terminal ones
    are its four outcomes."""
    design = {
        "idle",
        "entering",
        "watching",
        "cancelling",
        "targeting",
        "hedging",
        "done",
        "rolling_back",
        "rolled_back",
        "failed",
        "cancelled",
    }
    assert design <= set(SUPERVISOR.states)
    assert SUPERVISOR.initial == "idle"
    assert SUPERVISOR.terminal == {"done", "rolled_back", "failed", "cancelled"}


@pytest.mark.parametrize(
    ("source", "dest"),
    [
        ("pricing", "placed"),
        ("pricing", "market_fallback"),
        ("pricing", "done"),
        ("placed", "polling"),
        ("placed", "retry"),
        ("polling", "done"),
        ("polling", "partial"),
        ("partial", "retry"),
        ("partial", "done"),
        ("retry", "pricing"),
        ("retry", "market_fallback"),
        ("market_fallback", "done"),
        ("market_fallback", "rollback"),
    ],
)
def test_leg_has_the_design_moves(source: str, dest: str) -> None:
    """Each move in docs/design.md, The leg machine's table ("leaves on") is an edge of the leg table."""
    assert any(e.source == source and e.dest == dest for e in LEG.edges)


def test_leg_ambiguous_placement_stays_placed() -> None:
    """An ambiguous placement never leaves ``placed`` by itself: the order is looked up first
    (docs/design.md, The leg machine)."""
    edges = [e for e in LEG.edges if e.source == "placed" and e.trigger == "placement_ambiguous"]
    assert edges and all(e.dest is None for e in edges)


def test_leg_live_states_accept_late_reports() -> None:
    """Every live leg state folds late reports (order_updated, cancel_confirmed) instead of raising."""
    live = set(LEG.states) - LEG.terminal
    late = ("order_updated", "cancel_confirmed", "cancel_failed", "order_not_found", "query_failed")
    refusing = sorted(
        (state, trigger) for state in live for trigger in late if trigger not in LEG.allowed[state]
    )
    assert refusing == []


def test_leg_report_edges_all_record_the_report() -> None:
    """Fill conservation by construction: every edge taking an order report folds it into the ledger."""
    report_triggers = {"order_acked", "order_updated", "cancel_confirmed", "order_amended"}
    silent = [
        (e.source, e.trigger, e.conditions)
        for e in LEG.edges
        if e.trigger in report_triggers and "record_report" not in e.after
    ]
    assert silent == []
