"""What every diagram of a transition table shares, before any drawing: arrows, label lines, counts.

A diagram draws one *arrow* per (state, next state) pair, in the order the
pairs first appear in the table; the arrow's label lists the table's rows for
that pair, one *line* per row, in table order. An episode view replaces the
rows an episode took by one line per taken (state, trigger, next state) move,
carrying how many times it was taken. Nothing here renders: the Mermaid and
Graphviz writers (``_diagram_mermaid``, ``_diagram_svg``) turn these values
into text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.machines.base import Edge
from hedge_fsm.values import TransitionRecord

__all__ = [
    "TAKEN_MARK",
    "UNTAKEN_MARK",
    "VENUE_MARK",
    "Arrow",
    "DiagramSource",
    "LabelLine",
    "Move",
    "arrow_lines",
    "check_source",
    "count_moves",
    "edge_label",
    "group_arrows",
    "moves_of",
    "visited_states",
]

VENUE_MARK = "⚠"
"""Prefix of a row that exists because venues misbehave (its ``reason`` is set)."""
TAKEN_MARK = "✔"
"""Prefix of a move an episode took."""
UNTAKEN_MARK = "·"
"""Prefix of a row an episode did not take."""

Move = tuple[str, str, str]
"""(state, trigger, next state) as a :class:`TransitionRecord` reports it."""

# Identifiers end up unquoted in Mermaid (state ids, label text) and in DOT: keep
# them to what both read without escaping. Mermaid's state lexer also treats a few
# words as keywords wherever a token starts.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")
_MERMAID_KEYWORDS = frozenset({"state", "note", "class", "classdef", "scale", "end", "direction"})


class DiagramSource(Protocol):
    """What a diagram is drawn from: a :class:`~hedge_fsm.machines.base.MachineKind` fits."""

    @property
    def name(self) -> str: ...

    @property
    def states(self) -> tuple[str, ...]: ...

    @property
    def initial(self) -> str: ...

    @property
    def terminal(self) -> frozenset[str]: ...

    @property
    def edges(self) -> tuple[Edge, ...]: ...


def check_source(source: DiagramSource) -> None:
    """Refuse a table a diagram cannot show faithfully (unknown states, unsafe names)."""
    states = set(source.states)
    names = [source.name, *source.states]
    for edge in source.edges:
        names += [edge.trigger, *edge.conditions]
        for state in (edge.source, edge.destination):
            if state not in states:
                raise InvalidValue(
                    f"{source.name} table: edge {edge.trigger!r} names state {state!r}, "
                    f"which is not one of {sorted(states)}"
                )
    if source.initial not in states:
        raise InvalidValue(f"{source.name} table: initial state {source.initial!r} is unknown")
    for name in names:
        if (
            not _IDENTIFIER.match(name)
            or name in _MERMAID_KEYWORDS
            or "default" in name  # a Mermaid keyword wherever it starts
        ):
            raise InvalidValue(
                f"{source.name} table: {name!r} cannot be drawn unquoted; expected a "
                f"lower_snake_case identifier that is not a Mermaid keyword"
            )


@attrs.frozen
class Arrow:
    """The rows of a table that share a (state, next state) pair: one arrow in a diagram."""

    source: str
    destination: str
    edges: tuple[Edge, ...]

    @property
    def is_venue(self) -> bool:
        """Every row of the arrow exists because venues misbehave."""
        return all(edge.reason for edge in self.edges)

    @property
    def is_loop(self) -> bool:
        return self.source == self.destination


def group_arrows(edges: Iterable[Edge], *, split_venue: bool = False) -> tuple[Arrow, ...]:
    """One arrow per (state, next state), in order of first appearance; rows keep table order.

    With ``split_venue``, rows that exist because venues misbehave get an arrow of
    their own beside the others (Graphviz draws it dashed and red).
    """
    groups: dict[tuple[str, str, bool], list[Edge]] = {}
    for edge in edges:
        key = (edge.source, edge.destination, split_venue and bool(edge.reason))
        groups.setdefault(key, []).append(edge)
    return tuple(Arrow(source, dest, tuple(rows)) for (source, dest, _), rows in groups.items())


def edge_label(edge: Edge) -> str:
    """``trigger [condition, condition]``; the venue mark in front when the row has a reason."""
    text = edge.trigger
    if edge.conditions:
        text += f" [{', '.join(edge.conditions)}]"
    return f"{VENUE_MARK} {text}" if edge.reason else text


@attrs.frozen
class LabelLine:
    """One line of an arrow's label."""

    text: str
    """As written, marks included."""
    trigger: str
    count: int = 0
    """Times an episode took this move (0: untaken, or not an episode view)."""
    venue: bool = False
    reasons: tuple[str, ...] = ()


def arrow_lines(arrow: Arrow, taken: Mapping[Move, int] | None = None) -> tuple[LabelLine, ...]:
    """The label lines of ``arrow``; with ``taken`` (an episode), taken moves are folded.

    A record names (state, trigger, next state), not which row's conditions held, so
    the rows of one taken move become one line, ``✔ trigger ×n`` (``×n`` when n > 1),
    at the place of its first row; every other row is prefixed with ``·``.
    """
    if taken is None:
        return tuple(
            LabelLine(edge_label(e), e.trigger, venue=bool(e.reason), reasons=_reasons([e]))
            for e in arrow.edges
        )
    lines: list[LabelLine] = []
    folded: set[str] = set()
    for edge in arrow.edges:
        count = taken.get((arrow.source, edge.trigger, arrow.destination), 0)
        if count == 0:
            lines.append(
                LabelLine(
                    f"{UNTAKEN_MARK} {edge_label(edge)}",
                    edge.trigger,
                    venue=bool(edge.reason),
                    reasons=_reasons([edge]),
                )
            )
            continue
        if edge.trigger in folded:
            continue
        folded.add(edge.trigger)
        rows = [e for e in arrow.edges if e.trigger == edge.trigger]
        venue = all(e.reason for e in rows)
        text = f"{TAKEN_MARK} {VENUE_MARK + ' ' if venue else ''}{edge.trigger}"
        if count > 1:
            text += f" ×{count}"
        lines.append(LabelLine(text, edge.trigger, count, venue, _reasons(rows)))
    return tuple(lines)


def _reasons(edges: Iterable[Edge]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.reason for e in edges if e.reason))


def moves_of(source: DiagramSource) -> frozenset[Move]:
    """Every (state, trigger, next state) the table allows."""
    return frozenset((e.source, e.trigger, e.destination) for e in source.edges)


def count_moves(
    transitions: Sequence[TransitionRecord], machine: str, *, leg: int | None = None
) -> dict[Move, int]:
    """How many times each (state, trigger, next state) move of ``machine`` was taken.

    Keys come in the order the moves were first taken. ``leg`` keeps only the
    records of that leg (None: every record of the machine).
    """
    counts: dict[Move, int] = {}
    for record in transitions:
        if record.machine != machine or (leg is not None and record.leg != leg):
            continue
        move = (record.source, record.trigger, record.destination)
        counts[move] = counts.get(move, 0) + 1
    return counts


def visited_states(moves: Iterable[Move]) -> tuple[str, ...]:
    """The states an episode was in, in the order it first was."""
    seen: dict[str, None] = {}
    for source, _, destination in moves:
        seen.setdefault(source)
        seen.setdefault(destination)
    return tuple(seen)
