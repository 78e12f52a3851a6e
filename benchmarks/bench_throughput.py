"""Complete two-leg episodes per second, virtual-to-wall time, and memory over many episodes.

Run: python benchmarks/bench_throughput.py [--episodes N] [--scenarios calm,volatile,faulty] [--profile]

Each episode is ``hedge_fsm.episode.simulate(scenario, seed)``: two simulated
venues built from the seed, a two-leg entry, the trigger, the hedge, the
invariant checks, the per-leg report: what ``hedge-fsm simulate`` does, less
the printing. Seeds are 1..N. Two latency settings: ``zero`` (every venue
call returns at once; ``simulate(..., zero_latency=True)``) and ``preset``
(the venue presets' latencies and jitter). One process, one core.

Figures: episodes per second (wall); virtual-to-wall ratio (virtual seconds
simulated, up to the end of each hedge, per wall second); wall microseconds
per machine transition (all-in: engine, machines, simulator, checks); episodes
whose invariant checks fail are listed (the run goes on); peak resident memory (``ru_maxrss``) at 10 %, 50 %
and 100 % of the episodes, so that growth (a leak) would show. ``--episodes
10000`` is the design's size; ``--tracemalloc`` also reports the peak of
Python allocations during one more pass (slower). design target (docs/design.md): >= 1,000
complete two-leg episodes per second on one core.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import resource
import time
import tracemalloc

from _common import machine_line, print_profile

from hedge_fsm.episode import simulate


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(scenario: str, zero: bool, episodes: int) -> dict[str, float]:
    virtual = 0.0
    transitions = 0
    states: dict[str, int] = {}
    broken: list[int] = []
    marks: dict[int, float] = {}
    checkpoints = {max(1, episodes // 10), max(1, episodes // 2), episodes}
    gc.collect()
    start = time.perf_counter()
    for seed in range(1, episodes + 1):
        episode = simulate(scenario, seed, zero_latency=zero)
        result = episode.result
        virtual += result.finished_at
        transitions += len(result.transitions)
        states[result.state] = states.get(result.state, 0) + 1
        if episode.invariant_violations:
            broken.append(seed)
        if seed in checkpoints:
            marks[seed] = rss_mib()
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "virtual": virtual,
        "transitions": transitions,
        "states": states,  # type: ignore[dict-item]
        "marks": marks,  # type: ignore[dict-item]
        "broken": broken,  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="episodes per second on the simulated venues")
    parser.add_argument("--episodes", type=int, default=1000, help="episodes per setting (default 1000)")
    parser.add_argument("--scenarios", default="calm", help="comma-separated: calm, volatile, faulty")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="one more pass (zero latency, first scenario) under tracemalloc",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile 300 zero-latency episodes of the first scenario"
    )
    args = parser.parse_args()

    print(machine_line())
    simulate("calm", 0, zero_latency=True)  # warm up: imports, first-use costs
    print(
        f"{args.episodes} episodes per setting, seeds 1..{args.episodes}; "
        f"peak RSS before: {rss_mib():.1f} MiB"
    )
    print(
        f"{'scenario':9s} {'latency':8s} {'episodes/s':>10s} {'virtual/wall':>12s} {'us/transition':>13s} "
        f"{'transitions':>11s}  {'peak RSS MiB at 10%/50%/100%':28s} states"
    )
    for scenario in args.scenarios.split(","):
        for zero in (True, False):
            figures = measure(scenario, zero, args.episodes)
            wall = figures["wall"]
            marks = figures["marks"]
            rss = "/".join(f"{marks[k]:.1f}" for k in sorted(marks))  # type: ignore[attr-defined]
            states = ", ".join(f"{k} {v}" for k, v in sorted(figures["states"].items()))  # type: ignore[attr-defined]
            print(
                f"{scenario:9s} {'zero' if zero else 'preset':8s} {args.episodes / wall:10.0f} "
                f"{figures['virtual'] / wall:12.0f} {wall / figures['transitions'] * 1e6:13.1f} "
                f"{figures['transitions'] / args.episodes:11.1f}  {rss:28s} {states}"
            )
            broken = figures["broken"]
            if broken:
                print(
                    f"  invariant violations in {len(broken)} episode(s), seeds "  # type: ignore[arg-type]
                    f"{', '.join(map(str, broken[:10]))}{' ...' if len(broken) > 10 else ''}"  # type: ignore[index]
                )
    if args.tracemalloc:
        first = args.scenarios.split(",")[0]
        tracemalloc.start()
        for seed in range(1, args.episodes + 1):
            simulate(first, seed, zero_latency=True)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"tracemalloc over {args.episodes} {first} zero-latency episodes: peak {peak / 2**20:.1f} MiB, "
            f"still allocated at the end {current / 2**20:.1f} MiB"
        )
    if args.profile:
        first = args.scenarios.split(",")[0]
        profiler = cProfile.Profile()
        profiler.enable()
        for seed in range(1, 301):
            simulate(first, seed, zero_latency=True)
        profiler.disable()
        print_profile(f"cProfile, 300 {first} zero-latency episodes", pstats.Stats(profiler), top=15)


if __name__ == "__main__":
    main()
