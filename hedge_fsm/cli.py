"""The ``hedge-fsm`` command: simulate (the main job), diagrams, replay.

``hedge-fsm simulate`` runs one two-leg hedge on the embedded simulated venues
(virtual time: seconds of market take milliseconds) and prints the timeline
and a result table; ``--json`` prints the same as one JSON document.
``hedge-fsm diagrams`` regenerates ``diagrams/`` from the transition tables
(``--check`` only compares). ``hedge-fsm replay JOURNAL`` rebuilds every hedge
of a journal by replaying its events into fresh machines.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hedge_fsm import __version__
from hedge_fsm.config import HedgeConfig
from hedge_fsm.convert import converter
from hedge_fsm.errors import HedgeError
from hedge_fsm.sweep import add_sweep_parser, run_sweep_command

__all__ = ["main"]


def _fmt(value: Decimal | float | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if places is not None:
        return f"{value:.{places}f}"
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


_ROUTINE_LOOPS = ("--timer_fired-->", "--order_updated-->")


def _is_routine(source: str, text: str) -> bool:
    """Venue requests and replies, and polls that changed nothing."""
    if source != "engine":
        return text.startswith(("request", "reply"))
    _, _, move = text.partition(": ")
    state, _, rest = move.partition(" ")
    trigger, _, destination = rest.partition(" ")
    return destination == state and f"{trigger} " in (f"{loop} " for loop in _ROUTINE_LOOPS)


def _simulate(args: argparse.Namespace, out: Console) -> int:
    from hedge_fsm.episode import simulate

    config = HedgeConfig.from_toml(args.config) if args.config else HedgeConfig()
    episode = simulate(args.scenario, args.seed, config=config, journal=args.journal)
    result = episode.result
    if args.diagram:
        from hedge_fsm.diagrams import render_episode

        render_episode(result.transitions, Path(args.diagram))
    if args.json:
        document: dict[str, Any] = {
            "scenario": episode.scenario,
            "seed": episode.seed,
            "state": result.state,
            "net_exposure": str(result.net_exposure),
            "error": result.error_message,
            "trigger_time": episode.trigger_time,
            "legs": [converter.unstructure(leg) for leg in episode.legs],
            "results": [converter.unstructure(leg) for leg in result.legs],
            "transitions": [converter.unstructure(t) for t in result.transitions],
            "timeline": [converter.unstructure(e) for e in episode.timeline],
            "invariant_violations": episode.invariant_violations,
        }
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return 0 if not episode.invariant_violations else 1

    out.print(
        f"[bold]hedge-fsm simulate[/bold]  scenario [cyan]{episode.scenario}[/cyan]  "
        f"seed {episode.seed}  (virtual time; venues: {', '.join(episode.venues)})"
    )
    timeline = Table(title="Timeline", show_lines=False, header_style="bold")
    timeline.add_column("t (s)", justify="right")
    timeline.add_column("where")
    timeline.add_column("what")
    hidden = 0
    for entry in episode.timeline:
        if not args.verbose and _is_routine(entry.source, entry.text):
            hidden += 1
            continue
        style = "green" if entry.source == "engine" else None
        timeline.add_row(f"{entry.time:.4f}", entry.source, entry.text, style=style)
    out.print(timeline)
    if hidden:
        out.print(f"({hidden} routine lines hidden: venue requests and replies, polls; -v shows them)")

    table = Table(title="Result", header_style="bold")
    for column in ("venue", "symbol", "side", "role", "target", "filled", "maker", "taker",
                   "avg price", "arrival mid", "cost (bps)", "time to flat (s)", "state"):
        table.add_column(column, justify="right" if column not in ("venue", "symbol", "side", "role",
                                                                    "state") else "left")
    for leg in episode.legs:
        table.add_row(
            leg.venue, leg.symbol, leg.side, leg.role, _fmt(leg.target), _fmt(leg.filled),
            _fmt(leg.maker), _fmt(leg.taker), _fmt(leg.average_price), _fmt(leg.arrival_mid),
            _fmt(leg.cost_bps), _fmt(leg.time_to_flat), leg.state,
        )
    out.print(table)
    colour = "green" if result.state == "done" else "yellow" if result.state != "failed" else "red"
    out.print(
        f"final state [bold {colour}]{result.state}[/bold {colour}]   "
        f"net exposure {_fmt(result.net_exposure)} tokens"
        + (f"   error: {result.error_message}" if result.error_message else "")
    )
    if episode.invariant_violations:
        out.print("[red]invariant violations:[/red]")
        for problem in episode.invariant_violations:
            out.print(f"  {problem}")
        return 1
    out.print("invariants: all hold (DESIGN.md section 5)")
    if args.journal:
        out.print(f"journal written to {args.journal}")
    if args.diagram:
        out.print(f"episode diagrams written to {args.diagram}")
    return 0


def _diagrams(args: argparse.Namespace, out: Console) -> int:
    from hedge_fsm import diagrams

    directory = Path(args.out)
    if args.check:
        stale = diagrams.check(directory)
        if stale:
            for name in stale:
                out.print(f"stale or missing: {directory / name}")
            out.print("regenerate with: hedge-fsm diagrams")
            return 1
        out.print(f"{directory}: fresh")
        return 0
    if not diagrams.svg_available():
        out.print("pygraphviz is not installed: SVGs are not rewritten (pip install 'hedge-fsm[diagrams]')")
    for path in diagrams.write_all(directory):
        out.print(f"wrote {path}")
    return 0


def _replay(args: argparse.Namespace, out: Console) -> int:
    from hedge_fsm.journal import iter_lines, read_journal, replay

    hedges = read_journal(args.journal)
    if not hedges:
        out.print(f"{args.journal}: no hedge in the journal")
        return 1
    status = 0
    for hedge in hedges.values():
        rebuilt = replay(hedge)
        supervisor = rebuilt.supervisor
        out.print(f"[bold]hedge {hedge.hedge_id}[/bold]  "
                  f"journal: {hedge.finish['state'] if hedge.finish else 'unfinished'}  "
                  f"replayed: {supervisor.state}")
        for record in supervisor.history:
            out.print(f"  {record.time:10.4f}  {record.describe()}")
        if args.verbose:
            for line in iter_lines(hedge):
                out.print(line, markup=False)
        for outcome in supervisor.result().legs:
            out.print(
                f"  {outcome.venue} {outcome.symbol} {outcome.side}: "
                f"filled {_fmt(outcome.filled_quantity)} (maker {_fmt(outcome.maker_quantity)}, "
                f"taker {_fmt(outcome.taker_quantity)}) avg {_fmt(outcome.average_price)}"
            )
        out.print(f"  net exposure {_fmt(supervisor.net_exposure())} tokens")
        if rebuilt.mismatches:
            status = 1
            out.print("[red]  mismatches:[/red]")
            for problem in rebuilt.mismatches:
                out.print(f"    {problem}", markup=False)
        else:
            out.print("  replay matches the journal")
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hedge-fsm", description="Hedge multi-leg positions as explicit state machines."
    )
    parser.add_argument("--version", action="version", version=f"hedge-fsm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", help="run one hedge on the simulated venues (main job)")
    simulate.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    simulate.add_argument("--scenario", default="calm", choices=("calm", "volatile", "faulty"),
                          help="market scenario (default calm)")
    simulate.add_argument("--config", help="a HedgeConfig TOML file")
    simulate.add_argument("--json", action="store_true", help="machine-readable output")
    simulate.add_argument("--journal", metavar="PATH", help="write the engine's journal (JSON Lines)")
    simulate.add_argument("--diagram", metavar="DIR", help="write diagrams of the path this episode took")
    simulate.add_argument("-v", "--verbose", action="store_true", help="show every venue request and reply")

    diagrams = commands.add_parser("diagrams", help="render diagrams/ from the transition tables")
    diagrams.add_argument("--check", action="store_true", help="only check diagrams/ is fresh")
    diagrams.add_argument("--out", default="diagrams", help="directory (default diagrams)")

    replay = commands.add_parser("replay", help="rebuild the hedges of a journal by replaying it")
    replay.add_argument("journal", help="a journal written with --journal or JournalWriter")
    replay.add_argument("-v", "--verbose", action="store_true", help="also print every command and event")

    add_sweep_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hedge-fsm`` command."""
    args = build_parser().parse_args(argv)
    # Tables stay readable when the output is piped (no terminal to measure).
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    handlers = {"simulate": _simulate, "diagrams": _diagrams, "replay": _replay, "sweep": run_sweep_command}
    handler = handlers[args.command]
    try:
        return handler(args, out)
    except HedgeError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
