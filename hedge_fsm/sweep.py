"""``hedge-fsm sweep``: run a scenario set over a grid of config values and rank the configurations.

Theory of operation
-------------------
A *grid* is one or more axes ``KEY=V1,V2,...`` where ``KEY`` is the dotted
path of a :class:`~hedge_fsm.config.HedgeConfig` value as its TOML file spells
it (``opening.budget``, ``break_even_max_ticks``, ``mode``...). Every
combination of the axes' values (their Cartesian product, first axis
slowest) is one configuration: the defaults (or ``--config FILE``) with those
values set. Each configuration runs :func:`hedge_fsm.episode.simulate` on every
scenario and seed of the set: the *same* scenarios and seeds for every
configuration (common random numbers), so differences between rows come from
the configuration, not from luck of the draw.

Figures per configuration, over its episodes that had a hedge leg (episodes
whose entry filled on every leg, or filled nowhere, have nothing to hedge and
are left out of cost and time):

* **mean cost** (bps): the mean over episodes of the hedge leg's cost, fees
  plus slippage against the arrival mid (the mid at the trigger fill), as
  ``hedge-fsm simulate`` reports it; positive is paid. With several hedge
  legs in an episode, their mean.
* **time to flat** (s): the hedge leg's time from the trigger fill to its
  last fill or end (the longest, with several hedge legs); ``p90`` is the
  nearest-rank 90th percentile (the smallest value with at least 90 % of the
  episodes at or below it), ``mean`` the mean.
* **done**: the share of *all* episodes that ended ``done``; **maker**: the
  mean over episodes of the share of the hedge leg's filled quantity that
  filled as maker (a share per episode: legs of different venues count
  contracts of different sizes).

Ranking: with ``--max-time-to-flat S`` a configuration is *within the bound*
when its p90 time to flat (``--bound-stat mean``: its mean) is at most S.
Configurations within the bound come first, by mean cost (lowest first;
ties by the bounded statistic); the others follow, in the same order, marked.
Without a bound every configuration is within it.

Runs in parallel over ``--processes`` worker processes
(:class:`concurrent.futures.ProcessPoolExecutor`), one task per configuration,
scenario and block of seeds; ``--processes 1`` runs everything in this process.
Results do not depend on the number of processes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import nullcontext
from decimal import Decimal
from typing import Any

import attrs
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hedge_fsm.config import HedgeConfig
from hedge_fsm.errors import ConfigError, InvalidValue
from hedge_fsm.sim.presets import VenuePool

__all__ = [
    "BOUND_STATS",
    "EpisodeFigures",
    "GridAxis",
    "SweepResult",
    "SweepRow",
    "add_sweep_parser",
    "apply_overrides",
    "episode_figures",
    "expand_grid",
    "nearest_rank",
    "parse_grid",
    "run_sweep",
    "run_sweep_command",
    "summarize",
]

BOUND_STATS = ("p90", "mean")
DEFAULT_SCENARIOS = ("calm", "volatile")
_SEEDS_PER_TASK = 5
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class SweepError(ConfigError):
    """A sweep cannot run as asked (bad grid, scenario or option); the message says which."""


# ---------------------------------------------------------------------------- the grid


@attrs.frozen
class GridAxis:
    """One ``--grid`` axis: a config key and the values it takes, as typed by the user."""

    key: str
    values: tuple[Any, ...]
    texts: tuple[str, ...]
    """The values as written, for tables."""


def _leaves(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in mapping.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            found.update(_leaves(value, f"{path}."))
        else:
            found[path] = value
    return found


def _tables(mapping: dict[str, Any]) -> set[str]:
    return {name for name, value in mapping.items() if isinstance(value, dict)}


def _parse_value(key: str, raw: str, default: Any) -> Any:
    text = raw.strip()
    if not text:
        raise SweepError(f"--grid {key}: empty value in the list (write {key}=V1,V2,...)")
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SweepError(f"--grid {key}: bad value {text!r}: expected true or false")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise SweepError(f"--grid {key}: bad value {text!r}: expected an integer") from None
    if isinstance(default, float):
        try:
            number = float(text)
        except ValueError:
            raise SweepError(f"--grid {key}: bad value {text!r}: expected a number") from None
        if not math.isfinite(number):
            raise SweepError(f"--grid {key}: bad value {text!r}: expected a finite number")
        return number
    return text  # Decimals and enums travel as strings; the config checks them


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a config mapping) with each dotted ``key: value`` of ``overrides`` set."""
    mapping = copy.deepcopy(base)
    for key, value in overrides.items():
        *tables, leaf = key.split(".")
        target = mapping
        for table in tables:
            target = target.setdefault(table, {})
        target[leaf] = value
    return mapping


def parse_grid(specs: Sequence[str], base: HedgeConfig | None = None) -> list[GridAxis]:
    """Parse ``KEY=V1,V2`` specs; every error names the bad key or value.

    Keys are the dotted paths of the config's values (``opening.budget``);
    values are typed like the default they replace and checked by building a
    config with each of them.
    """
    base_config = base if base is not None else HedgeConfig()
    mapping = base_config.to_mapping()
    leaves = _leaves(mapping)
    tables = _tables(mapping)
    axes: list[GridAxis] = []
    seen: set[str] = set()
    for spec in specs:
        key, equals, listed = spec.partition("=")
        key = key.strip()
        if not equals or not key:
            raise SweepError(f"--grid {spec!r}: expected KEY=V1,V2,... (for example opening.budget=2,4,6)")
        if key in tables:
            inside = ", ".join(sorted(k for k in leaves if k.startswith(f"{key}.")))
            raise SweepError(f"--grid {key}: {key!r} is a table, not a value; use one of {inside}")
        if key not in leaves:
            raise SweepError(
                f"--grid {key}: unknown config key {key!r}; known keys: {', '.join(sorted(leaves))}"
            )
        if key in seen:
            raise SweepError(f"--grid {key}: the key is given twice; put all its values in one --grid")
        seen.add(key)
        texts = tuple(part.strip() for part in listed.split(","))
        values = tuple(_parse_value(key, text, leaves[key]) for text in texts)
        if len(set(texts)) != len(texts):
            raise SweepError(f"--grid {key}: a value is listed twice in {listed!r}")
        for text, value in zip(texts, values, strict=True):
            try:
                HedgeConfig.from_mapping(apply_overrides(mapping, {key: value}))
            except ConfigError as exc:
                raise SweepError(f"--grid {key}: bad value {text!r}: {exc}") from None
        axes.append(GridAxis(key=key, values=values, texts=texts))
    return axes


def expand_grid(axes: Sequence[GridAxis]) -> list[dict[str, Any]]:
    """Every combination of the axes' values (first axis slowest), as ``{key: value}``."""
    return [config for config, _ in _combinations(axes)]


def _combinations(axes: Sequence[GridAxis]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every combination as (``{key: value}``, ``{key: value as written}``)."""
    return [
        (
            {axis.key: axis.values[i] for axis, i in zip(axes, indices, strict=True)},
            {axis.key: axis.texts[i] for axis, i in zip(axes, indices, strict=True)},
        )
        for indices in itertools.product(*(range(len(axis.values)) for axis in axes))
    ]


# ---------------------------------------------------------------------------- one episode


@attrs.frozen
class EpisodeFigures:
    """What the ranking needs from one episode (picklable: it crosses processes)."""

    scenario: str
    seed: int
    state: str
    cost_bps: float | None
    """Mean cost of the episode's hedge legs (None: no hedge leg)."""
    time_to_flat: float | None
    """Longest time to flat of the episode's hedge legs (None: no hedge leg)."""
    maker_share: float | None
    """Share of the hedge legs' filled quantity that filled as maker (None: nothing filled)."""


_POOL = VenuePool()
"""This process's venues, reset between the episodes of a sweep (one set per thread)."""


def episode_figures(
    scenario: str, seed: int, config: HedgeConfig, *, zero_latency: bool = False
) -> EpisodeFigures:
    """Run one episode and keep its hedge legs' figures."""
    from hedge_fsm.episode import simulate

    # Only figures leave this function: the venues can be reset for the next cell.
    episode = simulate(scenario, seed, config=config, zero_latency=zero_latency, pool=_POOL)
    hedges = [leg for leg in episode.legs if leg.role == "hedge"]
    costs = [float(leg.cost_bps) for leg in hedges if leg.cost_bps is not None]
    times = [leg.time_to_flat for leg in hedges if leg.time_to_flat is not None]
    filled = sum((leg.filled for leg in hedges), Decimal(0))
    maker = sum((leg.maker for leg in hedges), Decimal(0))
    return EpisodeFigures(
        scenario=scenario,
        seed=seed,
        state=episode.result.state,
        cost_bps=sum(costs) / len(costs) if costs else None,
        time_to_flat=max(times) if times else None,
        maker_share=float(maker / filled) if filled else None,
    )


@attrs.frozen
class _Task:
    index: int
    """Which configuration."""
    mapping: dict[str, Any]
    scenario: str
    seeds: tuple[int, ...]
    zero_latency: bool


def _run_task(task: _Task) -> tuple[int, list[EpisodeFigures]]:
    config = HedgeConfig.from_mapping(task.mapping)
    return task.index, [
        episode_figures(task.scenario, seed, config, zero_latency=task.zero_latency) for seed in task.seeds
    ]


# ---------------------------------------------------------------------------- ranking


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile: the smallest value with at least q % at or below it."""
    if not values:
        raise InvalidValue("nearest_rank needs at least one value")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@attrs.frozen
class SweepRow:
    """One configuration's figures; ``rank`` is its place in the table (1 is best)."""

    rank: int
    overrides: dict[str, Any]
    texts: dict[str, str]
    """The overridden values as the user wrote them."""
    episodes: int
    hedged: int
    """Episodes with a hedge leg (the ones cost and time are taken over)."""
    mean_cost_bps: float | None
    p90_time_to_flat: float | None
    mean_time_to_flat: float | None
    done_share: float
    maker_share: float | None
    within_bound: bool


@attrs.frozen
class SweepResult:
    axes: tuple[GridAxis, ...]
    scenarios: tuple[str, ...]
    seeds: tuple[int, ...]
    max_time_to_flat: float | None
    bound_stat: str
    rows: tuple[SweepRow, ...]
    """Ranked, best first."""


def summarize(episodes: Sequence[EpisodeFigures]) -> dict[str, Any]:
    """A configuration's figures over its episodes (see the module docstring)."""
    costs = [e.cost_bps for e in episodes if e.cost_bps is not None]
    times = [e.time_to_flat for e in episodes if e.time_to_flat is not None]
    makers = [e.maker_share for e in episodes if e.maker_share is not None]
    return {
        "episodes": len(episodes),
        "hedged": sum(1 for e in episodes if e.cost_bps is not None or e.time_to_flat is not None),
        "mean_cost_bps": sum(costs) / len(costs) if costs else None,
        "p90_time_to_flat": nearest_rank(times, 90) if times else None,
        "mean_time_to_flat": sum(times) / len(times) if times else None,
        "done_share": sum(1 for e in episodes if e.state == "done") / len(episodes) if episodes else 0.0,
        "maker_share": sum(makers) / len(makers) if makers else None,
    }


def _rank(
    configs: list[dict[str, Any]],
    texts: list[dict[str, str]],
    figures: list[list[EpisodeFigures]],
    bound: float | None,
    stat: str,
) -> list[SweepRow]:
    summaries = [summarize(sorted(f, key=lambda e: (e.scenario, e.seed))) for f in figures]

    def bounded(summary: dict[str, Any]) -> float | None:
        value = summary["p90_time_to_flat" if stat == "p90" else "mean_time_to_flat"]
        return None if value is None else float(value)

    def within(summary: dict[str, Any]) -> bool:
        if bound is None:
            return True
        value = bounded(summary)
        return value is not None and value <= bound

    def key(index: int) -> tuple[bool, float, float, int]:
        summary = summaries[index]
        cost = summary["mean_cost_bps"]
        time = bounded(summary)
        return (
            not within(summary),
            math.inf if cost is None else cost,
            math.inf if time is None else time,
            index,
        )

    order = sorted(range(len(configs)), key=key)
    return [
        SweepRow(
            rank=place,
            overrides=configs[index],
            texts=texts[index],
            within_bound=within(summaries[index]),
            **summaries[index],
        )
        for place, index in enumerate(order, start=1)
    ]


def run_sweep(
    axes: Sequence[GridAxis],
    *,
    scenarios: Sequence[str] = DEFAULT_SCENARIOS,
    seeds: Iterable[int] = range(1, 21),
    max_time_to_flat: float | None = None,
    bound_stat: str = "p90",
    processes: int = 1,
    zero_latency: bool = False,
    base: HedgeConfig | None = None,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> SweepResult:
    """Run every configuration of the grid on every scenario and seed; rank them.

    ``progress`` is called with the number of episodes just finished.
    ``executor`` runs the cells instead of a local process pool (e.g.
    :func:`hedge_fsm.distributed.dask_executor`); the result does not depend on it.
    """
    from hedge_fsm.sim import get_scenario

    if bound_stat not in BOUND_STATS:
        raise SweepError(f"bound statistic must be one of {', '.join(BOUND_STATS)}, got {bound_stat!r}")
    if max_time_to_flat is not None and not (math.isfinite(max_time_to_flat) and max_time_to_flat > 0):
        raise SweepError(f"--max-time-to-flat must be a number of seconds > 0, got {max_time_to_flat!r}")
    if processes < 1:
        raise SweepError(f"--processes must be >= 1, got {processes}")
    names = tuple(scenarios)
    if not names:
        raise SweepError("no scenario to run: give at least one with --scenarios")
    for name in names:
        get_scenario(name)  # an unknown scenario fails here, naming the known ones
    seed_list = tuple(seeds)
    if not seed_list:
        raise SweepError("no seed to run: --seeds must be >= 1")
    base_mapping = (base if base is not None else HedgeConfig()).to_mapping()
    combinations = _combinations(axes)
    configs = [config for config, _ in combinations]
    texts = [written for _, written in combinations]
    mappings = [apply_overrides(base_mapping, config) for config in configs]
    tasks = [
        _Task(index, mapping, scenario, seed_list[start : start + _SEEDS_PER_TASK], zero_latency)
        for index, mapping in enumerate(mappings)
        for scenario in names
        for start in range(0, len(seed_list), _SEEDS_PER_TASK)
    ]
    figures: list[list[EpisodeFigures]] = [[] for _ in configs]
    if processes == 1 and executor is None:
        for task in tasks:
            index, done = _run_task(task)
            figures[index].extend(done)
            if progress is not None:
                progress(len(done))
    else:
        answers: dict[int, tuple[int, list[EpisodeFigures]]] = {}
        with nullcontext(executor) if executor is not None else ProcessPoolExecutor(processes) as pool:
            futures = {pool.submit(_run_task, task): n for n, task in enumerate(tasks)}
            for future in as_completed(futures):
                answers[futures[future]] = future.result()
                if progress is not None:
                    progress(len(answers[futures[future]][1]))
        # Merged in cell order, not arrival order: the same figures whatever ran them.
        for n in range(len(tasks)):
            index, done = answers[n]
            figures[index].extend(done)
    rows = _rank(configs, texts, figures, max_time_to_flat, bound_stat)
    return SweepResult(
        axes=tuple(axes),
        scenarios=names,
        seeds=seed_list,
        max_time_to_flat=max_time_to_flat,
        bound_stat=bound_stat,
        rows=tuple(rows),
    )


# ---------------------------------------------------------------------------- the command


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says, else the count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def _first_seed(text: str) -> int:
    from hedge_fsm.cli import SEED_MAX

    value = _integer(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {SEED_MAX}, got {value}")
    return value


def _processes(text: str) -> int:
    value = _integer(text)
    available = cores()
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 to {available} (the cores here), got {value}")
    if value > available:
        raise argparse.ArgumentTypeError(
            f"{value} processes on {available} core(s) would only compete for them; "
            f"give 1 to {available}"
        )
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sweep`` on the ``hedge-fsm`` command's subparsers."""
    sweep: argparse.ArgumentParser = subparsers.add_parser(
        "sweep",
        help="run scenarios over a grid of config values and rank the configurations",
        description=(
            "Run the simulated episode of `hedge-fsm simulate` for every configuration of a grid, "
            "on the same scenarios and seeds, and print the best configurations by mean hedge cost "
            "within a time-to-flat bound (p90 by default)."
        ),
    )
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a config value and the values to try, e.g. opening.budget=2,4,6 (repeatable; "
        "keys are the TOML paths of HedgeConfig)",
    )
    sweep.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma-separated scenarios (calm, volatile, faulty); default calm,volatile",
    )
    sweep.add_argument("--seeds", type=_at_least(1), default=20, help="seeds per scenario (default 20)")
    sweep.add_argument("--first-seed", type=_first_seed, default=1, help="first seed (default 1)")
    sweep.add_argument(
        "--max-time-to-flat",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="rank first the configurations whose time to flat is within this bound",
    )
    sweep.add_argument(
        "--bound-stat",
        choices=BOUND_STATS,
        default="p90",
        help="which time-to-flat statistic the bound applies to (default p90)",
    )
    sweep.add_argument(
        "--processes",
        type=_processes,
        default=cores(),
        help=f"worker processes, 1 to the number of cores ({cores()} here; the default); "
        "1 runs in this process",
    )
    sweep.add_argument(
        "--dask",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the cells on a Dask cluster: a scheduler ADDRESS, or 'local' (a local cluster of "
        "--processes workers); needs the 'distributed' extra; results are the same",
    )
    sweep.add_argument("--zero-latency", action="store_true", help="venues without latency")
    sweep.add_argument("--config", help="a HedgeConfig TOML file the grid starts from")
    sweep.add_argument("--top", type=_at_least(0), default=10, help="rows to print (default 10; 0 for all)")
    return sweep


def _fmt(value: float | None, places: int = 2, scale: float = 1.0, suffix: str = "") -> str:
    return "-" if value is None else f"{value * scale:.{places}f}{suffix}"


def render(result: SweepResult, top: int = 10, *, short_keys: bool = False) -> Table:
    """The ranked configurations as a rich table; values never wrap or get cut.

    ``short_keys`` heads the grid columns with the last part of each key
    (``budget`` for ``opening.budget``), for narrow terminals; the caption gives
    the full keys.
    """
    stat = result.bound_stat
    bound = (
        f"{stat} time to flat <= {result.max_time_to_flat:g} s"
        if result.max_time_to_flat is not None
        else "no time-to-flat bound"
    )
    table = Table(
        title=f"Best configurations by mean cost ({bound}); "
        f"{len(result.scenarios)} scenario(s) x {len(result.seeds)} seeds each",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),  # one space between columns is enough without vertical rules
    )
    table.add_column("rank", justify="right", no_wrap=True)
    for axis in result.axes:
        # Short: the key's last part, one word per line ("inside\ntick\nattempts").
        header = axis.key.rpartition(".")[2].replace("_", "\n") if short_keys else axis.key
        table.add_column(escape(header), justify="right", no_wrap=True)
    for column in ("mean\ncost\n(bps)", "p90\nttf (s)", "mean\nttf (s)", "done", "maker", "hedged"):
        table.add_column(column, justify="right", no_wrap=True)
    bounded = result.max_time_to_flat is not None
    if bounded:
        table.add_column("bound", no_wrap=True)
    if short_keys and any("." in axis.key for axis in result.axes):
        table.caption = "columns: " + ", ".join(escape(axis.key) for axis in result.axes)
    rows = result.rows if top <= 0 else result.rows[:top]
    for row in rows:
        table.add_row(
            str(row.rank),
            *(escape(row.texts[axis.key]) for axis in result.axes),  # as the user typed it
            _fmt(row.mean_cost_bps),
            _fmt(row.p90_time_to_flat, 3),
            _fmt(row.mean_time_to_flat, 3),
            _fmt(row.done_share, 0, 100, "%"),
            _fmt(row.maker_share, 0, 100, "%"),
            f"{row.hedged}/{row.episodes}",
            *(("within" if row.within_bound else "[yellow]over[/yellow]",) if bounded else ()),
            style=None if row.within_bound else "dim",
        )
    return table


def _dask(address: str, workers: int) -> contextlib.AbstractContextManager[Executor | None]:
    from hedge_fsm.distributed import dask_executor

    return dask_executor(None if address == "local" else address, workers=workers)


def render_for(console: Console, result: SweepResult, top: int = 10) -> Table:
    """:func:`render` with full keys when it fits ``console``, else with short keys."""
    from hedge_fsm.cli import _fits

    table = render(result, top)
    return table if _fits(console, table) else render(result, top, short_keys=True)


def run_sweep_command(args: argparse.Namespace, console: Console) -> int:
    """``hedge-fsm sweep``: parse, run with a progress bar, print the ranked table."""
    from hedge_fsm.cli import _config
    from hedge_fsm.sim import get_scenario

    # Everything is checked before the banner and the progress bar.
    base = _config(args.config)
    axes = parse_grid(args.grid, base)
    scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    if not scenarios:
        raise SweepError(f"--scenarios {args.scenarios!r}: expected one or more of calm, volatile, faulty")
    for name in scenarios:
        get_scenario(name)  # an unknown scenario fails here, naming the known ones
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    configs = len(expand_grid(axes))
    total = configs * len(scenarios) * args.seeds
    console.print(
        f"[bold]hedge-fsm sweep[/bold]  {configs} configuration(s) x {len(scenarios)} scenario(s) "
        f"({', '.join(scenarios)}) x {args.seeds} seeds = {total} episodes on "
        f"{args.processes} process(es); same scenarios and seeds for every configuration"
    )
    with Progress(
        TextColumn("episodes"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        job = bar.add_task("episodes", total=total)
        backend = contextlib.nullcontext(None) if args.dask is None else _dask(args.dask, args.processes)
        with backend as executor:
            result = run_sweep(
                axes,
                scenarios=scenarios,
                seeds=seeds,
                max_time_to_flat=args.max_time_to_flat,
                bound_stat=args.bound_stat,
                processes=args.processes,
                zero_latency=args.zero_latency,
                base=base,
                progress=lambda n: bar.advance(job, n),
                executor=executor,
            )
    console.print(render_for(console, result, args.top))
    within = sum(1 for row in result.rows if row.within_bound)
    if result.max_time_to_flat is not None:
        console.print(
            f"{within} of {len(result.rows)} configuration(s) within the bound "
            f"({result.bound_stat} time to flat <= {result.max_time_to_flat:g} s)"
        )
    console.print(
        "cost: hedge leg, fees + slippage vs the arrival mid, mean over episodes with a hedge leg; "
        "ttf: time to flat from the trigger fill (p90 nearest-rank)"
    )
    return 0
