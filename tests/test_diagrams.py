"""The diagrams in ``diagrams/`` are drawn from the tables, stay fresh, and show them whole.

Mermaid output is parsed back (arrow lines, ``<br/>``-separated label lines) and
compared with the tables row for row; SVG output is parsed as XML (edge groups,
their titles, label texts, stroke and tooltips). SVG tests are skipped when
pygraphviz is not installed.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal as D
from pathlib import Path

import pytest

from hedge_fsm import (
    BBO,
    ExecutionResult,
    HedgeConfig,
    HedgeEngine,
    Instrument,
    InvalidValue,
    LegSpec,
    RetryPolicy,
    Side,
    TransitionRecord,
    diagrams,
)
from hedge_fsm.machines.base import Edge, MachineKind
from hedge_fsm.machines.leg import LEG
from hedge_fsm.machines.supervisor import SUPERVISOR
from hedge_fsm.sim.loop import run
from tests.scripted import ScriptedVenue

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "diagrams"
MACHINES = (LEG, SUPERVISOR)
SVG = "{http://www.w3.org/2000/svg}"
SVG_NS = {"svg": "http://www.w3.org/2000/svg"}
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
VENUE_RED = "#c92a2a"

needs_svg = pytest.mark.skipif(not diagrams.svg_available(), reason="pygraphviz not installed")

Row = tuple[str, str, str]
"""(state, label line, next state)."""


# --------------------------------------------------------------------------- helpers


def expected_label(edge: Edge) -> str:
    """The label line a table row must get, written independently of the renderer."""
    text = edge.trigger + (f" [{', '.join(edge.conditions)}]" if edge.conditions else "")
    return f"⚠ {text}" if edge.reason else text


def table_rows(kind: MachineKind) -> Counter[Row]:
    return Counter((e.source, expected_label(e), e.destination) for e in kind.edges)


_ARROW = re.compile(r"^    (\S+) --> (\S+)(?: : (.+))?$")


def mermaid_arrows(text: str) -> list[tuple[str, str, list[str]]]:
    """(state, next state, label lines) for every arrow line of a Mermaid state diagram."""
    arrows = []
    for line in text.splitlines():
        found = _ARROW.match(line)
        if found:
            label = found.group(3)
            arrows.append((found.group(1), found.group(2), label.split("<br/>") if label else []))
    return arrows


def mermaid_rows(text: str) -> Counter[Row]:
    return Counter(
        (source, line, dest)
        for source, dest, lines in mermaid_arrows(text)
        if "[*]" not in (source, dest)
        for line in lines
    )


def svg_edges(svg: bytes) -> list[tuple[str, str, ET.Element]]:
    """(state, next state, <g> element) for every edge of an SVG drawn by Graphviz."""
    root = ET.fromstring(svg)
    edges = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "edge":
            continue
        title = group.find("svg:title", SVG_NS)
        assert title is not None and title.text is not None
        source, dest = (end.split(":")[0] for end in title.text.split("->"))  # drop ports
        edges.append((source, dest, group))
    return edges


def texts(group: ET.Element) -> list[ET.Element]:
    return list(group.iter(f"{SVG}text"))


INTERNAL_HEADING = "internal (state kept):"


def svg_internal_rows(svg: bytes) -> dict[str, list[ET.Element]]:
    """State → the text elements of the internal rows listed inside its box (static view)."""
    root = ET.fromstring(svg)
    found: dict[str, list[ET.Element]] = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "node":
            continue
        title = group.find("svg:title", SVG_NS)
        assert title is not None and title.text is not None
        lines = texts(group)
        headings = [i for i, t in enumerate(lines) if t.text == INTERNAL_HEADING]
        if headings:
            found[title.text] = lines[headings[0] + 1:]
    return found


def svg_rows(svg: bytes) -> Counter[Row]:
    """Every row an SVG shows: label lines of its arrows and the internal rows inside states."""
    rows = Counter(
        (source, text.text or "", dest)
        for source, dest, group in svg_edges(svg)
        if source != "__start__"
        for text in texts(group)
    )
    for state, lines in svg_internal_rows(svg).items():
        rows.update((state, text.text or "", state) for text in lines)
    return rows


def svg_node_titles(svg: bytes) -> set[str]:
    root = ET.fromstring(svg)
    titles = set()
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            title = group.find("svg:title", SVG_NS)
            assert title is not None and title.text is not None
            titles.add(title.text)
    return titles


def modified_leg() -> MachineKind:
    """The leg table with one condition added to one row: what a table change looks like."""
    edges = list(LEG.edges)
    index = next(i for i, e in enumerate(edges) if e.trigger == "bbo_failed")
    edges[index] = Edge(
        edges[index].trigger,
        edges[index].source,
        edges[index].dest,
        ("is_bbo_retry_allowed",),
        edges[index].after,
    )
    return MachineKind(
        LEG.name, LEG.states, LEG.initial, LEG.terminal, tuple(edges), passes_leg=LEG.passes_leg
    )


BTC = Instrument(
    symbol="BTC",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    min_notional=D("0"),
)


def partial_then_market_episode() -> ExecutionResult:
    """A real two-leg execution: trigger fill, partial maker hedge fill, polls, market fallback."""
    venues = {
        name: ScriptedVenue(name, [BTC], {"BTC": BBO(bid=D("100.0"), ask=D("100.2"))})
        for name in ("a", "b")
    }
    legs = [
        LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("1"), price=D("100.0")),
        LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("1"), price=D("100.3")),
    ]
    config = HedgeConfig(opening=RetryPolicy(max_attempts=2, budget=1.0, attempt_wait=0.4))

    # Only the long entry rests on venue a at 0.5 s; at 0.6 s the short's entry is
    # cancelled and only the hedge order rests on venue b.
    def fill_entry() -> None:
        for order in venues["a"].live_orders():
            venues["a"].fill(order.order_id, order.quantity)

    def fill_hedge_partly() -> None:
        for order in venues["b"].live_orders():
            venues["b"].fill(order.order_id, D("0.3"))

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        loop.call_at(0.5, fill_entry)
        loop.call_at(0.6, fill_hedge_partly)
        engine = HedgeEngine(venues, config, hedge_ids=lambda: "h1")
        return await engine.execute(legs)

    return run(main())


# --------------------------------------------------------------------------- freshness


def test_committed_diagrams_are_fresh() -> None:
    """Every file in diagrams/ matches today's tables (regenerate with write_all if not)."""
    assert diagrams.check(COMMITTED) == []
    assert sorted(p.name for p in COMMITTED.iterdir()) == sorted(diagrams.expected_files())


def test_check_names_the_stale_files_after_a_table_changes(tmp_path: Path) -> None:
    """A condition added to a leg row makes the detailed leg files stale, and nothing else.

    The overviews (and README.md, which shows them) draw no conditions: they stay fresh.
    """
    shutil.copytree(COMMITTED, tmp_path, dirs_exist_ok=True)
    changed = (modified_leg(), SUPERVISOR)
    assert diagrams.check(tmp_path) == []
    assert diagrams.check(tmp_path, changed) == ["leg.mmd", "leg.md", "leg.svg"]

    (tmp_path / "supervisor.md").unlink()
    assert "supervisor.md" in diagrams.check(tmp_path)

    # Regenerating from the changed table makes the copy fresh for it again.
    diagrams.write_all(tmp_path, changed, svg=diagrams.svg_available())
    stale = diagrams.check(tmp_path, changed)
    assert stale == ([] if diagrams.svg_available() else ["leg.svg"])
    assert "is_bbo_retry_allowed" in (tmp_path / "leg.mmd").read_text()


def test_check_flags_an_svg_drawn_from_another_table(tmp_path: Path) -> None:
    """An SVG is fresh only when it carries the fingerprint of the DOT text its table gives."""
    shutil.copytree(COMMITTED, tmp_path, dirs_exist_ok=True)
    svg = (tmp_path / "supervisor.svg").read_bytes()
    marker = re.compile(rb"dot-sha256 [0-9a-f]{64}")
    assert marker.search(svg)
    (tmp_path / "supervisor.svg").write_bytes(marker.sub(b"dot-sha256 " + b"0" * 64, svg))
    assert diagrams.check(tmp_path) == ["supervisor.svg"]
    (tmp_path / "supervisor.svg").write_bytes(marker.sub(b"", svg))
    assert diagrams.check(tmp_path) == ["supervisor.svg"]


def test_output_is_deterministic() -> None:
    """Two renders, the second from freshly built machine kinds, are byte-identical."""
    first = diagrams.render_all()
    rebuilt = tuple(
        MachineKind(k.name, k.states, k.initial, k.terminal, k.edges, passes_leg=k.passes_leg)
        for k in MACHINES
    )
    second = diagrams.render_all(rebuilt)
    assert first == second
    assert list(first) == [n for n in diagrams.expected_files() if n in first]
    for content in first.values():
        assert b"graphviz version" not in content


@needs_svg
def test_svg_render_is_deterministic_and_stamp_free() -> None:
    """Two SVG renders of one table are byte-identical and carry no Graphviz version."""
    first, second = diagrams.svg(LEG), diagrams.svg(LEG)
    assert first == second
    assert b"Generated by graphviz" not in first
    assert first.startswith(b"<?xml")


# --------------------------------------------------------------------------- completeness


@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_mermaid_shows_every_state_and_every_row(kind: MachineKind) -> None:
    """Each table row is exactly one label line on the arrow (state → next state), once."""
    text = diagrams.mermaid(kind)
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert mermaid_rows(text) == table_rows(kind)
    arrows = mermaid_arrows(text)
    pairs = [(s, d) for s, d, _ in arrows]
    assert len(pairs) == len(set(pairs)), "one arrow per (state, next state)"
    assert ("[*]", kind.initial) in pairs
    assert {s for s, d in pairs if d == "[*]"} == set(kind.terminal)
    for state in kind.states:
        assert f"    {state}" in lines
    shown = {line.removeprefix("⚠ ").split(" [")[0] for _, _, ls in arrows for line in ls}
    assert shown == set(kind.triggers)


@needs_svg
@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_svg_shows_every_state_and_every_row(kind: MachineKind) -> None:
    """Every state is a node and each table row is one label text on its (state → next) edge."""
    svg = diagrams.svg(kind)
    assert set(kind.states) <= svg_node_titles(svg)
    assert svg_rows(svg) == table_rows(kind)
    starts = [(s, d) for s, d, _ in svg_edges(svg) if s == "__start__"]
    assert starts == [("__start__", kind.initial)]


@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_markdown_table_has_one_row_per_edge_in_table_order(kind: MachineKind) -> None:
    """The table lists every edge in order; internal edges name their own state, marked."""
    rows = [
        [cell.strip() for cell in line.strip("|").split(" | ")]
        for line in diagrams.markdown_table(kind).splitlines()
        if line.startswith("| `")
    ]
    assert len(rows) == len(kind.edges)
    for row, edge in zip(rows, kind.edges, strict=True):
        state, trigger, condition, destination, reason = row
        assert (state, trigger) == (f"`{edge.source}`", f"`{edge.trigger}`")
        assert condition == (", ".join(f"`{c}`" for c in edge.conditions) or "—")
        internal = " (internal)" if edge.dest is None else ""
        assert destination == f"`{edge.destination}`{internal}"
        assert reason == (f"⚠ {edge.reason}" if edge.reason else "")


def test_readme_embeds_both_overviews_and_links_every_view() -> None:
    """README.md holds each overview .mmd verbatim and links both SVGs, the table and the detail."""
    readme = diagrams.readme()
    blocks = re.findall(r"```mermaid\n(.*?)```", readme, re.DOTALL)
    assert blocks == [diagrams.overview(k) for k in MACHINES]
    for kind in MACHINES:
        name = kind.name
        for target in (f"{name}-overview.svg", f"{name}.svg", f"{name}.md", f"{name}.mmd"):
            assert f"]({target})" in readme


# --------------------------------------------------------------------------- venue marks


@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_mermaid_marks_exactly_the_venue_rows(kind: MachineKind) -> None:
    """A label line carries ⚠ if and only if its row exists because venues misbehave."""
    rows = mermaid_rows(diagrams.mermaid(kind))
    marked = Counter({row: n for row, n in rows.items() if row[1].startswith("⚠")})
    venue = Counter((e.source, expected_label(e), e.destination) for e in kind.edges if e.reason)
    assert venue, "the tables have venue rows"
    assert marked == venue


@needs_svg
@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_svg_draws_venue_rows_dashed_red_with_their_reasons(kind: MachineKind) -> None:
    """Venue rows sit on dashed red edges whose tooltip names each reason; no other edge is."""
    venue_rows: Counter[Row] = Counter()
    for source, dest, group in svg_edges(diagrams.svg(kind)):
        path = group.find(".//svg:path", SVG_NS)
        assert path is not None
        dashed_red = path.get("stroke") == VENUE_RED and path.get("stroke-dasharray") is not None
        lines = [t.text or "" for t in texts(group)]
        if not dashed_red:
            assert not any(line.startswith("⚠") for line in lines)
            continue
        tooltips = " ".join(a.get(XLINK_TITLE, "") for a in group.iter(f"{SVG}a"))
        for line in lines:
            assert line.startswith("⚠")
            venue_rows[(source, line, dest)] += 1
            edge = next(
                e
                for e in kind.edges
                if (e.source, expected_label(e), e.destination) == (source, line, dest)
            )
            assert edge.reason in tooltips
    root = ET.fromstring(diagrams.svg(kind))
    tooltips_by_state = {
        (g.find("svg:title", SVG_NS).text or ""): " ".join(a.get(XLINK_TITLE, "") for a in g.iter(f"{SVG}a"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "node"
    }
    for state, lines in svg_internal_rows(diagrams.svg(kind)).items():
        for text in lines:
            line = text.text or ""
            assert (text.get("fill") == VENUE_RED) == line.startswith("⚠"), (state, line)
            if line.startswith("⚠"):
                venue_rows[(state, line, state)] += 1
                edge = next(
                    e for e in kind.edges
                    if (e.source, expected_label(e), e.destination) == (state, line, state)
                )
                assert edge.reason in tooltips_by_state[state]
    assert venue_rows == Counter(
        (e.source, expected_label(e), e.destination) for e in kind.edges if e.reason
    )


# --------------------------------------------------------------------------- legends


def test_every_state_has_a_legend() -> None:
    """STATE_LEGENDS has one non-empty line for every state of every machine, and no extra."""
    for kind in MACHINES:
        legends = diagrams.STATE_LEGENDS[kind.name]
        assert set(legends) == set(kind.states)
        for state in kind.states:
            assert legends[state].strip() and "\n" not in legends[state]
            assert f"| `{state}`" in diagrams.readme()


def test_a_state_without_a_legend_is_refused() -> None:
    """A table with a state the legends do not know cannot be rendered."""
    kind = MachineKind(
        "leg",
        (*LEG.states, "parked"),
        LEG.initial,
        LEG.terminal,
        (*LEG.edges, Edge("timer_fired", "parked", None)),
    )
    with pytest.raises(InvalidValue, match="parked"):
        diagrams.render_all((kind, SUPERVISOR), svg=False)


# --------------------------------------------------------------------------- episodes


def test_taken_edges_counts_handcrafted_records_per_machine_and_leg() -> None:
    """Counts per (state, trigger, next state), filtered by machine and optionally by leg."""

    def record(machine: str, leg: int | None, move: tuple[str, str, str]) -> TransitionRecord:
        source, trigger, destination = move
        return TransitionRecord(
            machine=machine,
            leg=leg,
            source=source,
            trigger=trigger,
            destination=destination,
            time=0.0,
        )

    poll = ("polling", "timer_fired", "polling")
    records = [
        record("supervisor", None, ("idle", "start", "entering")),
        record("leg", 0, ("pricing", "bbo_received", "placed")),
        record("leg", 1, ("pricing", "bbo_received", "placed")),
        record("leg", 0, poll),
        record("leg", 0, poll),
        record("leg", 1, poll),
    ]
    assert diagrams.taken_edges(records, "leg") == {
        ("pricing", "bbo_received", "placed"): 2,
        poll: 3,
    }
    assert diagrams.taken_edges(records, "leg", leg=1) == {
        ("pricing", "bbo_received", "placed"): 1,
        poll: 1,
    }
    assert diagrams.taken_edges(records, "supervisor") == {("idle", "start", "entering"): 1}
    assert diagrams.taken_edges(records, "nobody") == {}


def test_episode_view_marks_exactly_the_moves_a_real_execution_took(tmp_path: Path) -> None:
    """The ✔ lines of each episode diagram are the recorded moves, with their counts."""
    result = partial_then_market_episode()
    assert result.state == "done"
    written = diagrams.render_episode(result.transitions, tmp_path, svg=False)
    assert [p.name for p in written] == ["leg.mmd", "supervisor.mmd", "episode.md"]
    for kind in MACHINES:
        records = [t for t in result.transitions if t.machine == kind.name]
        expected = Counter((t.source, t.trigger, t.destination) for t in records)
        assert diagrams.taken_edges(result.transitions, kind.name) == dict(expected)

        text = (tmp_path / f"{kind.name}.mmd").read_text()
        marked: Counter[tuple[str, str, str]] = Counter()
        for source, dest, lines in mermaid_arrows(text):
            for line in lines:
                found = re.fullmatch(r"✔ (?:⚠ )?(\w+)(?: ×(\d+))?", line)
                if found:
                    marked[(source, found.group(1), dest)] += int(found.group(2) or 1)
                else:
                    assert "✔" not in line and "×" not in line
        assert marked == expected
        assert any(n > 1 for n in expected.values()) or kind is SUPERVISOR

        visited = {t.source for t in records} | {t.destination for t in records}
        class_lines = [ln.split() for ln in text.splitlines() if ln.startswith("    class ")]
        styled = {
            name for words in class_lines if words[-1] == "visited" for name in words[1].split(",")
        }
        assert styled == visited
    leg_moves = diagrams.taken_edges(result.transitions, "leg")
    assert any(dest == "market_fallback" for _, _, dest in leg_moves), "the scenario's path"


@needs_svg
def test_episode_svg_highlights_exactly_the_taken_moves(tmp_path: Path) -> None:
    """In the episode SVG the bold lines are the recorded moves with counts; the rest is grey."""
    result = partial_then_market_episode()
    written = diagrams.render_episode(result.transitions, tmp_path, svg=True)
    assert {p.name for p in written} == {
        "leg.mmd", "leg.svg", "supervisor.mmd", "supervisor.svg", "episode.md"
    }
    for kind in MACHINES:
        expected = diagrams.taken_edges(result.transitions, kind.name)
        bold: Counter[tuple[str, str, str]] = Counter()
        for source, dest, group in svg_edges((tmp_path / f"{kind.name}.svg").read_bytes()):
            path = group.find(".//svg:path", SVG_NS)
            assert path is not None
            lines = texts(group)
            taken_here = False
            for text in lines:
                found = re.fullmatch(r"✔ (?:⚠ )?(\w+)(?: ×(\d+))?", text.text or "")
                if found:
                    assert text.get("font-weight") == "bold"
                    bold[(source, found.group(1), dest)] += int(found.group(2) or 1)
                    taken_here = True
                else:
                    assert text.get("fill") == "#adb5bd"
            if source != "__start__":
                assert (path.get("stroke") == "#1864ab") == taken_here
        assert bold == Counter(expected)


def test_episode_with_a_move_not_in_the_table_is_refused(tmp_path: Path) -> None:
    """A record the table cannot have (another version's journal) raises, naming the move."""
    bogus = TransitionRecord(
        machine="leg", leg=0, source="done", trigger="start", destination="pricing", time=0.0
    )
    with pytest.raises(InvalidValue, match="done"):
        diagrams.render_episode([bogus], tmp_path, svg=False)


# --------------------------------------------------------------------------- overviews


def expected_changes(kind: MachineKind) -> dict[tuple[str, str], list[str]]:
    """(state, next state) → distinct triggers in table order, for rows that change the state."""
    found: dict[tuple[str, str], list[str]] = {}
    for edge in kind.edges:
        if edge.source != edge.destination:
            triggers = found.setdefault((edge.source, edge.destination), [])
            if edge.trigger not in triggers:
                triggers.append(edge.trigger)
    return found


def expected_loops(kind: MachineKind) -> dict[str, int]:
    counts: Counter[str] = Counter(e.source for e in kind.edges if e.source == e.destination)
    return dict(counts)


@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_overview_draws_only_state_changes_and_counts_the_rest_on_the_state(kind: MachineKind) -> None:
    """One arrow per state change (no self-loop); ``↻ n`` on a state is its number of internal rows."""
    text = diagrams.overview(kind)
    arrows = [(s, d, lines) for s, d, lines in mermaid_arrows(text) if "[*]" not in (s, d)]
    assert all(s != d for s, d, _ in arrows), "no self-loop in an overview"
    changes = expected_changes(kind)
    assert [(s, d) for s, d, _ in arrows] == list(changes)
    for source, dest, (label,) in arrows:
        triggers = changes[(source, dest)]
        named = label.removeprefix("⚠ ").split(" +")[0].split(", ")
        assert named == triggers[:2]
        if len(triggers) > 2:
            assert label.endswith(f" +{len(triggers) - 2}")
    for state, count in expected_loops(kind).items():
        assert f"    {state} : ↻ {count}" in text.splitlines()
    assert len(text.splitlines()) < len(diagrams.mermaid(kind).splitlines()) + len(kind.states)


@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_overview_marks_the_happy_path_states(kind: MachineKind) -> None:
    """The happy path's states carry the emphasis class; its pairs are arrows of the table."""
    path = diagrams.HAPPY_PATHS[kind.name]
    text = diagrams.overview(kind)
    assert f"    class {','.join(s for s in kind.states if s in path)} happy" in text
    pairs = set(expected_changes(kind))
    assert all(pair in pairs for pair in itertools.pairwise(path)), "the declared path exists"


def test_overview_follows_whatever_the_table_holds() -> None:
    """A table without a happy-path pair, and with a new state change, still draws: no error."""
    edges = [e for e in LEG.edges if not (e.source == "polling" and e.destination == "done")]
    edges.append(Edge("order_updated", "retry", "partial", reason="a fill lands during the backoff"))
    changed = MachineKind(
        LEG.name, LEG.states, LEG.initial, LEG.terminal, tuple(edges), passes_leg=LEG.passes_leg
    )
    text = diagrams.overview(changed)
    assert "    retry --> partial : ⚠ order_updated" in text
    assert "    polling --> done :" not in text


def svg_text_boxes(svg: bytes) -> list[tuple[str, float, float, float, float, str]]:
    """(group id, left, top, right, bottom, text) of every text, its width estimated from its size."""
    root = ET.fromstring(svg)
    boxes = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") not in ("edge", "node"):
            continue
        for text in texts(group):
            size = float(text.get("font-size", "10"))
            width = 0.5 * size * len(text.text or "")  # Helvetica averages about half an em
            x, y = float(text.get("x", "0")), float(text.get("y", "0"))
            anchor = text.get("text-anchor", "start")
            left = x - width / 2 if anchor == "middle" else x - width if anchor == "end" else x
            boxes.append((group.get("id", ""), left, y - 0.75 * size, left + width, y, text.text or ""))
    return boxes


@needs_svg
@pytest.mark.parametrize("view", ["detail", "overview"])
@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_svg_labels_never_overlap(kind: MachineKind, view: str) -> None:
    """No text of one edge or state overlaps a text of another (widths estimated generously)."""
    import pygraphviz

    source = diagrams.dot(kind) if view == "detail" else diagrams.overview_dot_source(kind)
    graph = pygraphviz.AGraph(string=source)
    svg = graph.draw(format="svg", prog="dot")
    boxes = svg_text_boxes(svg)
    clashes = [
        (a[5], b[5])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1:]
        if a[0] != b[0] and a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]
    assert clashes == []


@needs_svg
@pytest.mark.parametrize("kind", MACHINES, ids=lambda k: k.name)
def test_every_svg_carries_a_legend(kind: MachineKind, tmp_path: Path) -> None:
    """The detailed, overview and episode SVGs each draw a legend box inside the picture."""
    pictures = [diagrams.svg(kind), (COMMITTED / f"{kind.name}-overview.svg").read_bytes()]
    diagrams.render_episode(partial_then_market_episode().transitions, tmp_path, svg=True)
    pictures.append((tmp_path / f"{kind.name}.svg").read_bytes())
    for picture in pictures:
        assert "legend" in svg_node_titles(picture)
        words = " ".join(t.text or "" for t in ET.fromstring(picture).iter(f"{SVG}text"))
        assert "Legend" in words and "terminal state" in words


@needs_svg
def test_the_overview_fits_one_screen_and_is_smaller_than_the_detail() -> None:
    """Each overview SVG is at most 2000 x 1300 pt, and smaller in area than its detailed SVG."""
    for kind in MACHINES:
        sizes = []
        for picture in (COMMITTED / f"{kind.name}-overview.svg", COMMITTED / f"{kind.name}.svg"):
            root = ET.fromstring(picture.read_bytes())
            sizes.append((float(root.get("width", "0pt")[:-2]), float(root.get("height", "0pt")[:-2])))
        (width, height), (detail_w, detail_h) = sizes
        assert width <= 2000 and height <= 1300, (kind.name, width, height)
        assert width * height < detail_w * detail_h


def test_svg_without_pygraphviz_fails_with_the_install_command() -> None:
    """Without the [diagrams] extra, asking for an SVG raises SvgUnavailable naming the pip command."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pygraphviz'] = None\n"
        "from hedge_fsm import diagrams\n"
        "from hedge_fsm.machines.leg import LEG\n"
        "assert not diagrams.svg_available()\n"
        "try:\n"
        "    diagrams.svg(LEG)\n"
        "except diagrams.SvgUnavailable as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert 'pip install "hedge-fsm[diagrams]"' in done.stdout
