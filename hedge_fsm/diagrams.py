"""Diagrams of the machines, drawn from their transition tables, and of one episode over them.

Theory of operation
-------------------
The transition tables (``LEG_EDGES``, ``SUPERVISOR_EDGES``) are the single source
of truth; everything in ``diagrams/`` is generated from them by :func:`write_all`
and compared with them by :func:`check` (a test fails when a file is stale). For
each machine ``<name>`` (``leg``, ``supervisor``):

``<name>.mmd``
    Mermaid ``stateDiagram-v2``, needing no binary. ``[*] --> initial``, every
    terminal state ``--> [*]``. One arrow per (state, next state): the table's
    rows for that pair are merged into one label, one line per row in table
    order, ``trigger [condition, condition]`` (every condition must hold; within
    a (state, trigger) group the first matching row wins). Internal edges
    (``dest=None``) are self-loops. A row that exists because venues misbehave
    (a non-empty ``reason``) is marked ``⚠``.
``<name>.svg``
    The same table laid out by Graphviz (pygraphviz, which bundles it): venue
    rows split into their own dashed red arrow whose tooltip gives each reason;
    each state's tooltip is its legend.
``<name>.md``
    The transition table itself: one row per edge in table order (state,
    trigger, condition, next state, reason).
``README.md``
    Both Mermaid sources in ```` ```mermaid ```` blocks (GitHub renders them), a
    one-line legend per state (:data:`STATE_LEGENDS`; every state must have
    one), links to the SVGs and tables.

Output is deterministic: rows keep the table's order (nothing is sorted),
nothing carries a time or a version. Mermaid and Markdown are compared byte
for byte. An SVG's layout depends on the fonts of the machine that drew it, so
an SVG is compared by the SHA-256 of the DOT text it was drawn from, which it
carries in a comment (:mod:`hedge_fsm._diagram_svg`): :func:`check` needs no
Graphviz and gives the same answer on every machine.

Episode view: :func:`render_episode` draws the path one execution took, from
its ``ExecutionResult.transitions``. Visited states are styled, each taken
(state, trigger, next state) move is one ``✔ trigger`` line (``×n`` when taken n
> 1 times; a record does not say which row's conditions held, so the rows of a
move are folded into one line), untaken rows are marked ``·`` (Mermaid) or
greyed (SVG). The leg diagram aggregates **all legs together**: counts are
summed over every leg's records; :func:`taken_edges` with ``leg=`` gives one leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final

from hedge_fsm._diagram_mermaid import mermaid_source
from hedge_fsm._diagram_model import (
    TAKEN_MARK,
    VENUE_MARK,
    DiagramSource,
    Move,
    check_source,
    count_moves,
    moves_of,
    visited_states,
)
from hedge_fsm._diagram_overview import overview_dot, overview_mermaid
from hedge_fsm._diagram_svg import (
    dot_fingerprint,
    dot_source,
    render_svg,
    svg_available,
    svg_fingerprint,
)
from hedge_fsm.errors import HedgeError, InvalidValue
from hedge_fsm.machines.leg import LEG
from hedge_fsm.machines.supervisor import SUPERVISOR
from hedge_fsm.values import TransitionRecord

__all__ = [
    "HAPPY_PATHS",
    "MACHINES",
    "MACHINE_MODULES",
    "MACHINE_TITLES",
    "STATE_LEGENDS",
    "DiagramSource",
    "SvgUnavailable",
    "check",
    "dot",
    "expected_files",
    "markdown_table",
    "mermaid",
    "overview",
    "overview_dot_source",
    "readme",
    "render_all",
    "render_episode",
    "svg",
    "svg_available",
    "taken_edges",
    "write_all",
]

MACHINES: Final[tuple[DiagramSource, ...]] = (LEG, SUPERVISOR)
"""The machines drawn by default, in the order the README shows them."""

MACHINE_TITLES: Final[Mapping[str, str]] = MappingProxyType(
    {"leg": "Leg hedge machine", "supervisor": "Supervisor machine"}
)
MACHINE_MODULES: Final[Mapping[str, str]] = MappingProxyType(
    {"leg": "hedge_fsm/machines/leg.py", "supervisor": "hedge_fsm/machines/supervisor.py"}
)

# One line per state, from the theory of operation of each machine's module.
STATE_LEGENDS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "leg": MappingProxyType(
            {
                "pricing": "Waiting for a fresh BBO to price the next attempt "
                "(break-even once, then inside the spread, then the touch).",
                "placed": "A limit order was sent and its ack is awaited; after an ambiguous "
                "outcome it is looked up by client order id, and nothing else is placed "
                "until the venue says whether it exists.",
                "polling": "The order rests and is polled until it fills or its attempt "
                "time runs out.",
                "partial": "Fills seen but the target is not reached: the rest of the order "
                "is being cancelled; left only once the cancel is confirmed.",
                "cancelling": "The attempt timed out with no fill and the order is being "
                "cancelled; a fill during the cancel moves to partial.",
                "confirming": "A terminal report that may understate the fill is confirmed "
                "by a query before the next order is sized.",
                "amending": "Where the venue amends: the resting order is changed in place "
                "(an adopted entry amended down to the target, an expired attempt repriced); "
                "a refused or unanswered amend falls back to cancel and replace.",
                "retry": "Backoff before the next attempt.",
                "market_fallback": "The limit budget is spent: a market order for what "
                "remains is in flight.",
                "done": "Terminal: hedged; what remains is below one placeable unit and "
                "reported exactly.",
                "rollback": "Terminal: the leg could not be hedged; the supervisor unwinds "
                "the position.",
            }
        ),
        "supervisor": MappingProxyType(
            {
                "idle": "Nothing sent yet; start places the entry orders (a direct hedge "
                "goes straight to targeting).",
                "entering": "Every leg's entry limit order is sent; waiting for the acks.",
                "watching": "Every entry order is acknowledged and polled; the first leg "
                "fully filled is the trigger.",
                "cancelling": "Every other entry order is cancelled and waited on until "
                "confirmed terminal, fills during the cancel counted (with entry_handoff "
                "adopt, only those that cannot be handed to their leg).",
                "targeting": "Momentary: each leg's hedge target is computed from the "
                "reference leg's actual fill through the contract multipliers; a live entry "
                "order is handed to its leg as attempt 0 (entry_handoff adopt).",
                "hedging": "One leg machine per leg with something left to hedge, all "
                "running at once.",
                "reconciling": "Before done: settled position reads are compared with the "
                "engine's position book; an unreported over-hedge is traded back, any other "
                "difference is reported.",
                "rolling_back": "This hedge's own net fill (from its ledgers) is flattened "
                "with opposite-side orders, confirmed by settled position reads, within the "
                "rollback budget.",
                "done": "Terminal: hedged (or every leg filled at entry); net exposure "
                "within one lot.",
                "rolled_back": "Terminal: every leg is back to its starting position.",
                "failed": "Terminal: rollback could not flatten, or positions do not "
                "reconcile; the residual is in the result and an operator is needed.",
                "cancelled": "Terminal: the entry ended with no fill at all; nothing to "
                "hedge.",
                "trimming": "A venue minimum left a hedge leg short by more than a lot: the "
                "trigger leg is reduced by the unhedged amount with a market order, instead "
                "of unwinding every leg; what the trim cannot balance is rolled back.",
            }
        ),
    }
)

HAPPY_PATHS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "leg": ("pricing", "placed", "polling", "done"),
        "supervisor": (
            "idle", "entering", "watching", "targeting", "hedging", "reconciling", "done",
        ),
    }
)
"""The path a hedge takes when nothing goes wrong, emphasised in the overviews. A pair the
table lacks is simply not emphasised: the overview follows whatever the table holds."""

OVERVIEW = "-overview"
"""Suffix of the overview files: ``leg-overview.mmd``, ``leg-overview.svg``."""

README = "README.md"
EPISODE_SUMMARY = "episode.md"
_GENERATED = "Generated by `hedge_fsm.diagrams` (`hedge-fsm diagrams`): do not edit, regenerate."


class SvgUnavailable(HedgeError, RuntimeError):
    """An SVG was asked for, but pygraphviz cannot be imported."""

    def __init__(self) -> None:
        super().__init__(
            'drawing SVG needs pygraphviz: pip install "hedge-fsm[diagrams]" '
            "(its wheels bundle Graphviz)"
        )


# --------------------------------------------------------------------------- per machine


def _title(source: DiagramSource) -> str:
    return MACHINE_TITLES.get(source.name, f"{source.name} machine")


def _legends(source: DiagramSource) -> Mapping[str, str]:
    """The legend of every state of ``source``; a state without one is an error."""
    legends = STATE_LEGENDS.get(source.name, {})
    missing = [state for state in source.states if not legends.get(state)]
    if missing:
        raise InvalidValue(
            f"{source.name} machine: no legend for state(s) {missing}; "
            f"add them to hedge_fsm.diagrams.STATE_LEGENDS"
        )
    return legends


def mermaid(source: DiagramSource) -> str:
    """The Mermaid ``stateDiagram-v2`` source of one machine (``<name>.mmd``)."""
    check_source(source)
    return mermaid_source(source, _title(source), f"{source.name}.md")


def dot(source: DiagramSource) -> str:
    """The Graphviz DOT source the machine's SVG is drawn from."""
    check_source(source)
    return dot_source(source, _title(source), _legends(source))


def overview(source: DiagramSource) -> str:
    """The Mermaid overview of one machine (``<name>-overview.mmd``): state changes only."""
    check_source(source)
    return overview_mermaid(
        source, _title(source), HAPPY_PATHS.get(source.name, ()),
        f"{source.name}.svg, {source.name}.mmd and {source.name}.md",
    )


def overview_dot_source(source: DiagramSource) -> str:
    """The DOT text the overview SVG is drawn from."""
    check_source(source)
    return overview_dot(source, _title(source), _legends(source), HAPPY_PATHS.get(source.name, ()))


def svg(source: DiagramSource) -> bytes:
    """The SVG of one machine (``<name>.svg``); needs pygraphviz."""
    if not svg_available():
        raise SvgUnavailable()
    return render_svg(dot(source))


def _cell(value: str) -> str:
    return value.replace("|", "\\|")


def markdown_table(source: DiagramSource) -> str:
    """The transition table of one machine as Markdown (``<name>.md``), one row per edge."""
    check_source(source)
    name = source.name
    out = [
        f"# {_title(source)} (`{name}`): transition table",
        "",
        f"{_GENERATED} Source: `{MACHINE_MODULES.get(name, name)}`.",
        "",
        f"Diagrams: [{name}.svg]({name}.svg), [{name}.mmd]({name}.mmd), [all machines]({README}).",
        "",
        "One row per edge, in table order. Within a (state, trigger) group the first row "
        "whose conditions all hold wins; an empty condition always holds. "
        f"Initial state: `{source.initial}`. Terminal: "
        + ", ".join(f"`{s}`" for s in source.states if s in source.terminal)
        + ".",
        "",
        f"{VENUE_MARK} marks an edge that exists because venues misbehave; "
        "(internal) marks an edge that keeps the state (no exit, no enter).",
        "",
        "| state | trigger | condition | next state | reason |",
        "|---|---|---|---|---|",
    ]
    for edge in source.edges:
        condition = ", ".join(f"`{c}`" for c in edge.conditions) or "—"
        destination = f"`{edge.destination}`" + (" (internal)" if edge.dest is None else "")
        reason = f"{VENUE_MARK} {_cell(edge.reason)}" if edge.reason else ""
        out.append(
            f"| `{edge.source}` | `{edge.trigger}` | {condition} | {destination} | {reason} |"
        )
    return "\n".join(out) + "\n"


def readme(sources: Sequence[DiagramSource] = MACHINES) -> str:
    """``diagrams/README.md``: every machine's overview (Mermaid), state legends and links."""
    out = [
        "# State diagrams",
        "",
        f"{_GENERATED} `tests/test_diagrams.py` fails when a file here no longer matches "
        "its table.",
        "",
        "Two views per machine, both drawn from its transition table. The **overview** (below, "
        f"and `<machine>{OVERVIEW}.svg`) shows state changes only: one arrow per (state, next "
        "state) labelled with its triggers; the rows that keep a state (late reports folded "
        "into the ledger, stale timers, polls that changed nothing) are counted on the state "
        "(`↻ n`) instead of drawn; the happy path is emphasised. The **detailed** diagram "
        "(`<machine>.svg`, `<machine>.mmd`) and the transition table (`<machine>.md`) have "
        "every row: each arrow lists its rows in table order as `trigger [conditions]` (all "
        "conditions must hold; within a state and trigger the first matching row wins), and a "
        f"self-loop is an internal row. {VENUE_MARK} marks a row that exists because venues "
        "misbehave: dashed and red in the SVGs (hover for the reason), reasons in the tables. "
        "Each SVG carries its own legend.",
    ]
    for source in sources:
        name = source.name
        legends = _legends(source)
        path = " → ".join(f"`{s}`" for s in HAPPY_PATHS.get(name, ()))
        out += [
            "",
            f"## {_title(source)} (`{name}`)",
            "",
            f"[overview SVG]({name}{OVERVIEW}.svg) · [detailed SVG]({name}.svg) · "
            f"[transition table]({name}.md) · [detailed Mermaid]({name}.mmd) · "
            f"drawn from `{MACHINE_MODULES.get(name, name)}`",
            "",
            *([f"Happy path: {path}.", ""] if path else []),
            "```mermaid",
            overview(source).rstrip("\n"),
            "```",
            "",
            "| state | meaning |",
            "|---|---|",
        ]
        for state in source.states:
            role = " (initial)" if state == source.initial else ""
            role += " (terminal)" if state in source.terminal else ""
            out.append(f"| `{state}`{role} | {_cell(legends[state])} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- files


def expected_files(sources: Sequence[DiagramSource] = MACHINES) -> list[str]:
    """Every file :func:`write_all` writes, relative to its directory, in write order."""
    names = [
        f"{s.name}{suffix}"
        for s in sources
        for suffix in (f"{OVERVIEW}.mmd", f"{OVERVIEW}.svg", ".mmd", ".md", ".svg")
    ]
    return [*names, README]


def _want_svg(svg: bool | None) -> bool:
    if svg is None:
        return svg_available()
    if svg and not svg_available():
        raise SvgUnavailable()
    return svg


def _render_text(sources: Sequence[DiagramSource]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for source in sources:
        files[f"{source.name}{OVERVIEW}.mmd"] = overview(source).encode()
        files[f"{source.name}.mmd"] = mermaid(source).encode()
        files[f"{source.name}.md"] = markdown_table(source).encode()
    files[README] = readme(sources).encode()
    return files


def render_all(
    sources: Sequence[DiagramSource] = MACHINES, *, svg: bool | None = None
) -> dict[str, bytes]:
    """Every file of ``diagrams/``: relative name → content, in :func:`expected_files` order.

    ``svg``: None draws the SVGs when pygraphviz is available and leaves them out
    otherwise; True requires them (:class:`SvgUnavailable`); False leaves them out.
    """
    files = _render_text(sources)
    if _want_svg(svg):
        for source in sources:
            files[f"{source.name}.svg"] = render_svg(dot(source))
            files[f"{source.name}{OVERVIEW}.svg"] = render_svg(overview_dot_source(source))
    return {name: files[name] for name in expected_files(sources) if name in files}


def write_all(
    directory: Path, sources: Sequence[DiagramSource] = MACHINES, *, svg: bool | None = None
) -> list[Path]:
    """Write :func:`render_all` into ``directory`` (created if needed); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_all(sources, svg=svg).items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written


def check(directory: Path, sources: Sequence[DiagramSource] = MACHINES) -> list[str]:
    """Names of the files of ``directory`` that are missing or stale; empty when all are fresh.

    Mermaid and Markdown files must match byte for byte; an SVG must carry the
    fingerprint of the DOT text its table gives today (no Graphviz needed).
    """
    expected = _render_text(sources)
    for source in sources:
        expected[f"{source.name}.svg"] = dot_fingerprint(dot(source)).encode()
        expected[f"{source.name}{OVERVIEW}.svg"] = dot_fingerprint(overview_dot_source(source)).encode()
    stale = []
    for name in expected_files(sources):
        path = directory / name
        if not path.is_file():
            stale.append(name)
            continue
        content = path.read_bytes()
        if name.endswith(".svg"):
            fingerprint = svg_fingerprint(content)
            fresh = fingerprint is not None and fingerprint.encode() == expected[name]
        else:
            fresh = content == expected[name]
        if not fresh:
            stale.append(name)
    return stale


# --------------------------------------------------------------------------- episodes


def taken_edges(
    transitions: Sequence[TransitionRecord], machine: str, *, leg: int | None = None
) -> dict[Move, int]:
    """(state, trigger, next state) → times taken, for ``machine``'s records, first-taken order.

    ``leg`` keeps one leg's records; None counts every record of the machine
    (the leg machine's moves summed over all legs, as :func:`render_episode` draws them).
    """
    return count_moves(transitions, machine, leg=leg)


def _episode_moves(
    source: DiagramSource, transitions: Sequence[TransitionRecord]
) -> dict[Move, int]:
    taken = taken_edges(transitions, source.name)
    unknown = [move for move in taken if move not in moves_of(source)]
    if unknown:
        raise InvalidValue(
            f"{source.name} machine: recorded moves {unknown} are not in its transition table "
            f"(a journal from another version?)"
        )
    return taken


def render_episode(
    transitions: Sequence[TransitionRecord],
    directory: Path,
    sources: Sequence[DiagramSource] = MACHINES,
    *,
    svg: bool | None = None,
) -> list[Path]:
    """Draw the path an episode took into ``directory``; the paths written.

    Per machine: ``<name>.mmd`` and, when SVG is drawn (``svg`` as in
    :func:`render_all`), ``<name>.svg``; then ``episode.md`` with the Mermaid
    diagrams and the counts. All legs are drawn together on the leg diagram.
    Records of a move the table does not have raise :class:`InvalidValue`.
    """
    want_svg = _want_svg(svg)
    directory.mkdir(parents=True, exist_ok=True)
    summary = [
        "# Episode",
        "",
        "Drawn by `hedge_fsm.diagrams.render_episode` from one execution's transitions.",
        "",
        f"{TAKEN_MARK} marks a move the episode took (×n: taken n times); "
        "visited states are styled. The leg diagram sums every leg's moves.",
    ]
    written = []
    for source in sources:
        check_source(source)
        taken = _episode_moves(source, transitions)
        visited = visited_states(taken)
        text = mermaid_source(
            source, _title(source), f"{source.name}.md", taken=taken, visited=visited
        )
        path = directory / f"{source.name}.mmd"
        path.write_bytes(text.encode())
        written.append(path)
        if want_svg:
            drawing = dot_source(
                source, _title(source), _legends(source), taken=taken, visited=visited
            )
            path = directory / f"{source.name}.svg"
            path.write_bytes(render_svg(drawing))
            written.append(path)
        summary += ["", f"## {_title(source)} (`{source.name}`)", ""]
        summary += ["```mermaid", text.rstrip("\n"), "```", ""]
        if taken:
            summary += ["| state | trigger | next state | times |", "|---|---|---|---|"]
            summary += [f"| `{s}` | `{t}` | `{d}` | {n} |" for (s, t, d), n in taken.items()]
        else:
            summary.append("No move recorded.")
    path = directory / EPISODE_SUMMARY
    path.write_bytes(("\n".join(summary) + "\n").encode())
    written.append(path)
    return written
