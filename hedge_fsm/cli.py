"""The ``hedge-fsm`` command: simulate (the main job), diagrams, replay, sweep.

``hedge-fsm simulate`` runs one two-leg hedge on the embedded simulated venues
(virtual time: seconds of market take milliseconds) and prints the timeline
and a result table; ``--json`` prints the same as one JSON document.
``hedge-fsm diagrams`` regenerates ``diagrams/`` from the transition tables
(``--check`` only compares). ``hedge-fsm replay JOURNAL`` rebuilds every hedge
of a journal by replaying its events into fresh machines.

Every user error (an argument, a file, a config, a journal) ends in one line on
stderr naming the value and what was expected, and exit status 2; never a
traceback. Text the user supplied is escaped before rich renders it, so a path
like ``runs/[old]/h.toml`` prints as written.

The result table fits the terminal: all columns side by side when they fit,
else one column per leg (fields down the side), else one block per leg;
numbers are never cut.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rich import box
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from hedge_fsm import __version__
from hedge_fsm.config import HedgeConfig
from hedge_fsm.convert import converter
from hedge_fsm.errors import HedgeError
from hedge_fsm.sim.presets import SCENARIOS
from hedge_fsm.sweep import add_sweep_parser, run_sweep_command

if TYPE_CHECKING:
    from hedge_fsm.episode import Episode, LegReport
    from hedge_fsm.values import ExecutionResult

__all__ = [
    "EXIT_FAILED",
    "EXIT_INVARIANT_BROKEN",
    "EXIT_OK",
    "EXIT_ROLLED_BACK",
    "EXIT_USAGE",
    "SEED_MAX",
    "UsageError",
    "build_parser",
    "exit_status",
    "main",
]

EXIT_OK = 0
"""The hedge ended ``done`` (or ``cancelled``: nothing filled, nothing exposed)."""
EXIT_INVARIANT_BROKEN = 1
"""An invariant check failed (a bug: please report it), or a replay did not match its journal."""
EXIT_USAGE = 2
"""Bad input: an argument, a file, a config or a journal. One line on stderr says which."""
EXIT_ROLLED_BACK = 3
"""The hedge could not be completed and was unwound: every leg is flat again."""
EXIT_FAILED = 4
"""The hedge could not be completed and the unwind left a residual: an operator is needed."""

SEED_MAX = 2**32 - 1

EXIT_EPILOG = (
    "exit status: 0 done (or cancelled: nothing filled), 1 an invariant broken, "
    "2 bad input (one line on stderr says which), 3 rolled_back (unwound, every leg flat), "
    "4 failed (residual exposure reported)"
)

PIP_DIAGRAMS = 'pip install "hedge-fsm[diagrams]"'


class UsageError(HedgeError):
    """The command line asks for something that cannot be done; the message says what and why."""


def exit_status(state: str) -> int:
    """The exit status for a hedge's final supervisor state (see :data:`EXIT_EPILOG`)."""
    return {"rolled_back": EXIT_ROLLED_BACK, "failed": EXIT_FAILED}.get(state, EXIT_OK)


# ---------------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hedge-fsm simulate: error: ... (see --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {SEED_MAX}, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {SEED_MAX}, got {value}")
    return value


# ---------------------------------------------------------------------------- files


def _show(path: str | Path) -> str:
    """A user's path as they wrote it, escaped for rich."""
    return escape(str(path))


def _output_file(option: str, path: str) -> Path:
    """A file the command will create or append to: refuse what cannot work, before the run."""
    target = Path(path)
    if target.is_dir():
        example = target / "journal.jsonl"
        raise UsageError(f"{option} {path}: is a folder; expected a file path (e.g. {example})")
    folder = target.parent
    if not folder.exists():
        raise UsageError(f"{option} {path}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is not a folder")
    if (target.exists() and not os.access(target, os.W_OK)) or not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write there (permission denied)")
    return target


def _output_folder(option: str, path: str, *, create: bool) -> Path:
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a folder; expected a folder to write into")
    if not target.exists() and not create:
        raise UsageError(f"{option} {path}: folder does not exist; create it first")
    return target


def _input_text(option: str, path: str, expected: str) -> str:
    """Read a UTF-8 text file the user named; every failure is one line naming it."""
    source = Path(path)
    if not source.exists():
        raise UsageError(f"{option} {path}: no such file; expected {expected}")
    if source.is_dir():
        raise UsageError(f"{option} {path}: is a folder; expected {expected}")
    data = source.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{option} {path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"expected {expected} in UTF-8"
        ) from None


def _config(path: str | None) -> HedgeConfig:
    if path is None:
        return HedgeConfig()
    _input_text("--config", path, "a HedgeConfig TOML file")  # missing, folder, not UTF-8
    return HedgeConfig.from_toml(path)


# ---------------------------------------------------------------------------- output


def _fmt(value: Decimal | float | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if places is not None:
        return f"{value:.{places}f}"
    return format(value.normalize(), "f")  # no trailing zeros, never an exponent


_ROUTINE_LOOPS = ("--timer_fired-->", "--order_updated-->")


def _is_routine(source: str, text: str) -> bool:
    """Venue requests and replies, and polls that changed nothing."""
    if source != "engine":
        return text.startswith(("request", "reply"))
    _, _, move = text.partition(": ")
    state, _, rest = move.partition(" ")
    trigger, _, destination = rest.partition(" ")
    return destination == state and f"{trigger} " in (f"{loop} " for loop in _ROUTINE_LOOPS)


# One row per field of a leg: (header in a wide table, label in a tall one, value, numeric,
# dropped first when a wide table does not fit).
_Field = tuple[str, str, Callable[["LegReport", Decimal], str], bool, bool]
RESULT_FIELDS: tuple[_Field, ...] = (
    ("venue", "venue", lambda leg, m: leg.venue, False, False),
    ("symbol", "symbol", lambda leg, m: leg.symbol, False, False),
    ("side", "side", lambda leg, m: leg.side, False, False),
    ("role", "role", lambda leg, m: leg.role, False, False),
    ("tokens\n/ct", "tokens per contract", lambda leg, m: _fmt(m), True, False),
    ("target\n(ct)", "target (contracts)", lambda leg, m: _fmt(leg.target), True, False),
    ("filled\n(ct)", "filled (contracts)", lambda leg, m: _fmt(leg.filled), True, False),
    ("maker\n(ct)", "maker (contracts)", lambda leg, m: _fmt(leg.maker), True, True),
    ("taker\n(ct)", "taker (contracts)", lambda leg, m: _fmt(leg.taker), True, True),
    ("avg price\n(USDT/ct)", "avg price (USDT/contract)",
     lambda leg, m: _fmt(leg.average_price), True, False),
    ("arrival\nmid (USDT/ct)", "arrival mid (USDT/contract)",
     lambda leg, m: _fmt(leg.arrival_mid), True, True),
    ("fees\n(USDT)", "fees (USDT)", lambda leg, m: _fmt(leg.fees), True, False),
    ("cost (bps)\nwith fees", "cost (bps), fees included", lambda leg, m: _fmt(leg.cost_bps), True, False),
    ("time to\nflat (s)", "time to flat (s)", lambda leg, m: _fmt(leg.time_to_flat), True, False),
    ("unwound\n(ct)", "unwound (contracts)", lambda leg, m: _fmt(leg.unwound), True, True),
    ("unwind\nbps", "unwind cost (bps of it)", lambda leg, m: _fmt(leg.unwind_cost_bps, 2), True, True),
    ("trimmed\n(ct)", "trimmed (contracts)", lambda leg, m: _fmt(leg.trimmed), True, True),
    ("trim\nbps", "trim cost (bps of it)", lambda leg, m: _fmt(leg.trim_cost_bps, 2), True, True),
    ("state", "state", lambda leg, m: leg.state, False, False),
)

RESULT_NOTE = (
    "ct: contracts. Quantities are in each venue's contracts (tokens per contract in its own column); "
    "prices in USDT per contract; fees in USDT. Cost = fees + slippage against the arrival mid (the mid "
    "at the trigger fill), in bps of notional; positive is paid."
)


def _fits(console: Console, table: Table) -> bool:
    # Measured without the console's limit: a table measured within it always "fits", cut.
    unbounded = console.options.update(width=1_000_000)
    return Measurement.get(console, unbounded, table).maximum <= console.width


def _wide(rows: list[list[str]], *, drop_optional: bool) -> Table:
    table = Table(title="Result", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    kept = [i for i, field in enumerate(RESULT_FIELDS) if not (drop_optional and field[4])]
    for i in kept:
        header, _, _, numeric, _ = RESULT_FIELDS[i]
        table.add_column(header, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(escape(row[i]) for i in kept))
    if drop_optional:
        hidden = ", ".join(RESULT_FIELDS[i][1].partition(" (")[0] for i in range(len(RESULT_FIELDS))
                           if i not in kept)
        table.caption = f"{hidden}: not shown at this width (wider terminal, or --json)"
    return table


def result_table(
    legs: Sequence[LegReport], multipliers: Sequence[Decimal], console: Console
) -> RenderableType:
    """The per-leg result at the console's width; numbers are never cut.

    Every field side by side when they fit; else without the secondary fields
    (maker, taker, arrival mid: the caption says so); else one column per leg
    with every field down the side; else one two-column block per leg.
    """
    rows = [
        [field[2](leg, m) for field in RESULT_FIELDS]
        for leg, m in zip(legs, multipliers, strict=True)
    ]
    for drop_optional in (False, True):
        wide = _wide(rows, drop_optional=drop_optional)
        if _fits(console, wide):
            return wide
    tall = Table(title="Result", header_style="bold")
    tall.add_column("", no_wrap=True, style="bold")
    for index in range(len(legs)):
        tall.add_column(f"leg {index}", justify="right", no_wrap=True)
    for position, field in enumerate(RESULT_FIELDS):
        tall.add_row(escape(field[1]), *(escape(row[position]) for row in rows))
    if _fits(console, tall) or len(legs) == 1:
        return tall
    blocks = Table.grid(padding=(0, 0))
    for index, row in enumerate(rows):
        block = Table(title=f"Result: leg {index}", header_style="bold", show_header=False)
        block.add_column("", no_wrap=True, style="bold")
        block.add_column("", justify="right", no_wrap=True)
        for field, cell in zip(RESULT_FIELDS, row, strict=True):
            block.add_row(escape(field[1]), escape(cell))
        blocks.add_row(block)
    return blocks


COST_FIELDS = (
    "cost_basis", "entry_cost", "hedge_cost", "unwind_cost", "trim_cost", "total_cost", "total_fees",
    "entry_cost_bps", "hedge_cost_bps", "unwind_cost_bps", "trim_cost_bps", "total_cost_bps",
)
"""The :class:`~hedge_fsm.ExecutionResult` cost fields ``simulate --json`` writes under ``cost``."""


def cost_table(result: ExecutionResult) -> Table:
    """The episode's whole cost against the trader's intended prices, part by part."""
    table = Table(title="Episode cost", header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("part", no_wrap=True)
    table.add_column("USDT", justify="right", no_wrap=True)
    table.add_column("bps", justify="right", no_wrap=True)
    for part in ("entry", "hedge", "unwind", "trim", "total"):
        cost = getattr(result, f"{part}_cost")
        bps = getattr(result, f"{part}_cost_bps")
        table.add_row(part, _fmt(cost), _fmt(bps, 2), style="bold" if part == "total" else None)
    return table


def cost_note(result: ExecutionResult) -> str:
    """What the episode cost table measures, with its basis and the fees in it."""
    return (
        "Episode cost: every trade against the price the trader asked for (the entry limits), "
        f"fees included (all fees {_fmt(result.total_fees)} USDT), in bps of the trigger's entry "
        f"fill at its limit, {_fmt(result.cost_basis)} USDT; positive is paid."
        + (" The trigger leg was trimmed instead of unwinding the hedge." if result.trimmed else "")
    )


def _multipliers(episode: Episode) -> list[Decimal]:
    """Tokens per contract of each leg, read from its simulated venue (no latency, no faults)."""
    from hedge_fsm.sim import run

    async def read() -> list[Decimal]:
        return [(await episode.venues[leg.venue].instrument(leg.symbol)).multiplier for leg in episode.legs]

    return run(read())


# ---------------------------------------------------------------------------- commands


def _simulate(args: argparse.Namespace, out: Console) -> int:
    from hedge_fsm.diagrams import svg_available
    from hedge_fsm.episode import simulate

    config = _config(args.config)
    journal = _output_file("--journal", args.journal) if args.journal else None
    diagram = _output_folder("--diagram", args.diagram, create=True) if args.diagram else None
    from hedge_fsm.journal import JournalError

    try:
        episode = simulate(args.scenario, args.seed, config=config, journal=journal)
    except OSError as exc:
        raise UsageError(f"--journal {args.journal}: cannot write: {exc.strerror}") from None
    except JournalError as exc:
        raise UsageError(f"--journal {args.journal}: {exc}") from None
    result = episode.result
    if diagram is not None:
        from hedge_fsm.diagrams import render_episode

        render_episode(result.transitions, diagram)
    status = EXIT_INVARIANT_BROKEN if episode.invariant_violations else exit_status(result.state)
    if args.json:
        document: dict[str, Any] = {
            "scenario": episode.scenario,
            "seed": episode.seed,
            "state": result.state,
            "exit_status": status,
            "net_exposure": str(result.net_exposure),
            "error": result.error_message,
            "trigger_time": episode.trigger_time,
            "legs": [converter.unstructure(leg) for leg in episode.legs],
            "results": [converter.unstructure(leg) for leg in result.legs],
            "transitions": [converter.unstructure(t) for t in result.transitions],
            "timeline": [converter.unstructure(e) for e in episode.timeline],
            "invariant_violations": episode.invariant_violations,
            "cost": {
                name: None if getattr(result, name) is None else str(getattr(result, name))
                for name in COST_FIELDS
            },
            "trimmed": result.trimmed,
        }
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return status

    out.print(
        f"[bold]hedge-fsm simulate[/bold]  scenario [cyan]{escape(episode.scenario)}[/cyan]  "
        f"seed {episode.seed}  hedge {escape(episode.hedge_id)}  "
        f"(virtual time; venues: {escape(', '.join(episode.venues))})"
    )
    timeline = Table(title="Timeline", show_lines=False, header_style="bold")
    timeline.add_column("t (s)", justify="right", no_wrap=True)
    timeline.add_column("where", no_wrap=True)
    timeline.add_column("what", overflow="fold")
    hidden = 0
    for entry in episode.timeline:
        if not args.verbose and _is_routine(entry.source, entry.text):
            hidden += 1
            continue
        style = "green" if entry.source == "engine" else None
        timeline.add_row(f"{entry.time:.4f}", escape(entry.source), escape(entry.text), style=style)
    out.print(timeline)
    if hidden:
        out.print(f"({hidden} routine lines hidden: venue requests and replies, polls; -v shows them)")

    out.print(result_table(episode.legs, _multipliers(episode), out))
    out.print(RESULT_NOTE)
    out.print(cost_table(result))
    out.print(cost_note(result))
    colour = "green" if result.state == "done" else "yellow" if result.state != "failed" else "red"
    out.print(
        f"final state [bold {colour}]{result.state}[/bold {colour}]   "
        f"net exposure {_fmt(result.net_exposure)} tokens"
        + (f"   error: {escape(result.error_message)}" if result.error_message else "")
    )
    if episode.invariant_violations:
        out.print("[red]invariant violations:[/red]")
        for problem in episode.invariant_violations:
            out.print(f"  {problem}", markup=False)
    else:
        out.print("invariants: all hold (docs/design.md, Invariants)")
    if journal is not None:
        if episode.journal_torn_tail is not None:
            out.print(f"[yellow]warning:[/yellow] {escape(episode.journal_torn_tail.describe())}; "
                      "truncated to the last whole record before appending", soft_wrap=True)
        out.print(f"journal written to {_show(journal)} (hedge {escape(episode.hedge_id)})", soft_wrap=True)
    if diagram is not None:
        out.print(f"episode diagrams written to {_show(diagram)}", soft_wrap=True)
        if not svg_available():
            out.print(f"pygraphviz is not installed: Mermaid only, no SVG ({escape(PIP_DIAGRAMS)})")
    if status != EXIT_OK:
        out.print(f"exit status {status} ({'invariant broken' if status == 1 else result.state})")
    return status


def _diagrams(args: argparse.Namespace, out: Console) -> int:
    from hedge_fsm import diagrams

    directory = _output_folder("--out", args.out, create=False)
    if args.check:
        stale = diagrams.check(directory)
        if stale:
            for name in stale:
                out.print(f"stale or missing: {_show(directory / name)}", soft_wrap=True)
            out.print("regenerate with: hedge-fsm diagrams")
            return 1
        out.print(f"{_show(directory)}: fresh", soft_wrap=True)
        return 0
    if not diagrams.svg_available():
        out.print(f"pygraphviz is not installed: SVGs are not rewritten ({escape(PIP_DIAGRAMS)})")
    for path in diagrams.write_all(directory):
        out.print(f"wrote {_show(path)}", soft_wrap=True)
    return 0


def _replay(args: argparse.Namespace, out: Console) -> int:
    from hedge_fsm.journal import iter_lines, load_journal, replay

    _input_text("replay", args.journal, "a journal (JSON Lines, written by --journal or JournalWriter)")
    contents = load_journal(args.journal)
    if contents.torn_tail is not None:  # a crash mid-write: the last record is left out, said so
        out.print(f"[yellow]warning:[/yellow] {escape(contents.torn_tail.describe())}", soft_wrap=True)
    hedges = contents.hedges
    if not hedges:
        out.print(f"{_show(args.journal)}: no hedge in the journal", soft_wrap=True)
        return 1
    status = 0
    for hedge in hedges.values():
        rebuilt = replay(hedge)
        supervisor = rebuilt.supervisor
        finished = escape(str(hedge.finish["state"])) if hedge.finish else "unfinished"
        out.print(f"[bold]hedge {escape(hedge.hedge_id)}[/bold]  "
                  f"journal: {finished}  replayed: {supervisor.state}")
        for record in supervisor.history:
            out.print(f"  {record.time:10.4f}  {record.describe()}", markup=False)
        if args.verbose:
            for line in iter_lines(hedge):
                out.print(line, markup=False)
        for outcome in supervisor.result().legs:
            out.print(
                f"  {outcome.venue} {outcome.symbol} {outcome.side}: "
                f"filled {_fmt(outcome.filled_quantity)} contracts (maker {_fmt(outcome.maker_quantity)}, "
                f"taker {_fmt(outcome.taker_quantity)}) avg {_fmt(outcome.average_price)}",
                markup=False,
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
    parser = _Parser(
        prog="hedge-fsm",
        description="Hedge multi-leg positions as explicit state machines.",
        epilog=EXIT_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"hedge-fsm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser(
        "simulate",
        help="run one hedge on the simulated venues (main job)",
        description="Run one two-leg hedge on the simulated venues (virtual time) and print its "
        "timeline and result.",
        epilog=EXIT_EPILOG,
    )
    simulate.add_argument("--seed", type=_seed, default=1, help=f"random seed, 0 to {SEED_MAX} (default 1)")
    simulate.add_argument("--scenario", default="calm", choices=tuple(SCENARIOS),
                          help="market scenario (default calm; realistic: each venue's own faults)")
    simulate.add_argument("--config", help="a HedgeConfig TOML file")
    simulate.add_argument("--json", action="store_true", help="machine-readable output")
    simulate.add_argument("--journal", metavar="PATH", help="write the engine's journal (JSON Lines)")
    simulate.add_argument("--diagram", metavar="DIR",
                          help="write diagrams of the path this episode took into folder DIR "
                          f"(SVG needs pygraphviz: {PIP_DIAGRAMS})")
    simulate.add_argument("-v", "--verbose", action="store_true", help="show every venue request and reply")

    diagrams = commands.add_parser("diagrams", help="render diagrams/ from the transition tables")
    diagrams.add_argument("--check", action="store_true",
                          help="only check diagrams/ is fresh (exit status 1 if stale)")
    diagrams.add_argument("--out", default="diagrams", help="an existing folder (default diagrams)")

    replay = commands.add_parser("replay", help="rebuild the hedges of a journal by replaying it")
    replay.add_argument("journal", help="a journal written with --journal or JournalWriter")
    replay.add_argument("-v", "--verbose", action="store_true", help="also print every command and event")

    add_sweep_parser(commands)
    return parser


def _console() -> Console:
    # Piped output without COLUMNS gets a wide page (files and logs are read later, in editors);
    # a terminal, or COLUMNS, sets the real width.
    wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS", "").isdigit()
    return Console(highlight=False, width=160 if wide else None)


def report_error(message: str) -> None:
    """Print one ``error: ...`` line on stderr (escaped, never wrapped)."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {escape(message)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hedge-fsm`` command; returns the exit status (see :data:`EXIT_EPILOG`)."""
    args = build_parser().parse_args(argv)
    out = _console()
    handlers = {"simulate": _simulate, "diagrams": _diagrams, "replay": _replay, "sweep": run_sweep_command}
    handler = handlers[args.command]
    try:
        return handler(args, out)
    except HedgeError as exc:
        report_error(" ".join(str(exc).split("\n")))
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        report_error(f"{exc.strerror or exc}{where}")
    except UnicodeDecodeError as exc:
        report_error(f"a file is not UTF-8 text ({exc.reason} at offset {exc.start})")
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
