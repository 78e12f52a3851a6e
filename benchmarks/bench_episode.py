"""Whole simulated episodes: the engine on both drivers against a hand-written engine, side by side.

Run: python benchmarks/bench_episode.py [--episodes N] [--scenarios calm,volatile] [--cpu] [--profile]

One *episode* is what ``hedge-fsm simulate`` runs, less the reporting: the
default two venues built from the seed (``build_venues``), the default legs
rested at the touch (``episode.default_legs``), then a two-leg entry, the
trigger, the cancel of the other entry and the hedge, to the end. Three
implementations run it on the same venues and seeds, alternating seed by seed
so that load on the machine hits all alike:

* ``sync``: :class:`hedge_fsm.sim.driver.SimEngine` — the machines on the
  synchronous event-heap driver (what ``simulate``, ``sweep`` and the soak use);
* ``asyncio``: :class:`hedge_fsm.HedgeEngine` on the virtual asyncio loop;
* ``hand``: ``_imperative.execute``, a hand-written imperative engine (plain
  async code on the virtual asyncio loop: awaits, loops, sleeps), the baseline.

Printed: CPU or wall time per episode of each, the ratios (design target (docs/design.md):
engine / hand-written <= 1.2), and ``simulate()`` episodes per second on one
core for both drivers (target >= 2,000, with the machine line), beside a bare
``transitions`` edge measured in the same run as a yardstick of the machine's
speed (the README's figures were taken where that edge cost 4.54 us).
``--profile`` shows where the sync episode's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import math
import pstats
import statistics

import _imperative as imperative
from _common import clock_name, clock_ns, machine_line, print_profile, use_cpu_clock
from transitions import Machine

from hedge_fsm import HedgeConfig, HedgeEngine
from hedge_fsm.episode import default_legs, simulate
from hedge_fsm.sim import SimVenue, VenuePool, build_venues, run
from hedge_fsm.sim.driver import SimEngine

# min_rest=None: the hand-written engine does not reprice a resting order on book moves, so the
# engine arms do not either (same ladder, comparable venue calls); simulate() below keeps the default.
CONFIG = HedgeConfig(min_rest=None)
README_BARE_EDGE_US = 4.54
"""The bare transitions edge on the machine of the README's figures (benchmarks/README.md)."""


_LAST: list[dict[str, SimVenue]] = []
"""The venues of the arm that ran last (for counting its venue calls, outside the timing)."""


def episode_sync(scenario: str, seed: int) -> str:
    venues = build_venues(scenario, seed)
    _LAST[:] = [venues]
    engine = SimEngine(venues, CONFIG, hedge_ids=lambda: f"sim{seed}")
    legs = engine.run(default_legs(venues, pause=engine.loop.sleep, bound=engine.loop.wait_for))
    return engine.execute(legs).state


def episode_asyncio(scenario: str, seed: int) -> str:
    venues = build_venues(scenario, seed)
    _LAST[:] = [venues]

    async def main() -> str:
        legs = await default_legs(venues)
        return (await HedgeEngine(venues, CONFIG, hedge_ids=lambda: f"sim{seed}").execute(legs)).state

    return run(main())


def episode_hand(scenario: str, seed: int) -> str:
    venues = build_venues(scenario, seed)
    _LAST[:] = [venues]

    async def main() -> str:
        legs = await default_legs(venues)
        try:
            outcomes = await imperative.execute(venues, legs, config=CONFIG, hedge_id=f"sim{seed}")
        except TimeoutError:
            return "cancelled"
        return "done" if all(o.success for o in outcomes) else "failed"

    return run(main())


def build_only(scenario: str, seed: int) -> str:
    """The shared simulator's set-up alone (venues and market built, legs priced)."""
    venues = build_venues(scenario, seed)
    _LAST[:] = [venues]
    engine = SimEngine(venues, CONFIG)
    engine.run(default_legs(venues, pause=engine.loop.sleep, bound=engine.loop.wait_for))
    return "built"


ARMS = {"sync": episode_sync, "asyncio": episode_asyncio, "hand": episode_hand, "build": build_only}


def bare_edge_us(n: int = 20_000) -> float:
    """One unconditional internal edge of a bare transitions.Machine (the machine yardstick)."""

    class Model:
        state = "a"

        def noop(self) -> None:
            pass

    machine = Machine(model=None, states=["a", "b"], initial="a", auto_transitions=False,
                      transitions=[{"trigger": "go", "source": "a", "dest": None, "after": "noop"}])
    model = Model()
    trigger = machine.events["go"].trigger
    start = clock_ns()
    for _ in range(n):
        trigger(model)
    return (clock_ns() - start) / n / 1e3


def whole_episodes(scenarios: list[str], episodes: int, repeat: int = 3) -> None:
    print(f"\nwhole episode, {episodes} seeds per scenario, arms alternating per seed, each seed's "
          f"best of {repeat} runs per arm (load only ever adds time); {clock_name()}")
    print(f"{'scenario':9s} {'arm':8s} {'ms/episode':>10s} {'calls':>6s}  states")
    for scenario in scenarios:
        totals = dict.fromkeys(ARMS, 0)
        calls = dict.fromkeys(ARMS, 0)
        states: dict[str, dict[str, int]] = {arm: {} for arm in ARMS}
        for arm in ARMS:  # warm up
            ARMS[arm](scenario, 0)
        gc.collect()
        names = list(ARMS)
        for seed in range(1, episodes + 1):
            best = dict.fromkeys(ARMS, math.inf)
            for rep in range(repeat):
                order = names if (seed + rep) % 2 else names[::-1]
                for arm in order:
                    start = clock_ns()
                    state = ARMS[arm](scenario, seed)
                    best[arm] = min(best[arm], clock_ns() - start)
                    if rep == 0:
                        states[arm][state] = states[arm].get(state, 0) + 1
                        calls[arm] += sum(
                            1 for v in _LAST[0].values() for r in v.log.records if r.event == "request"
                        )
            for arm in names:
                totals[arm] += best[arm]
        for arm in names:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(states[arm].items()))
            print(f"{scenario:9s} {arm:8s} {totals[arm] / episodes / 1e6:10.3f} "
                  f"{calls[arm] / episodes:6.1f}  {shown}")
        hand = totals["hand"]
        for arm in ("sync", "asyncio"):
            ratio = totals[arm] / hand
            verdict = "meets" if ratio <= 1.2 else f"misses by {ratio / 1.2:.2f}x"
            engine_part = (totals[arm] - totals["build"]) / max(1, hand - totals["build"])
            per_call = (totals[arm] / max(1, calls[arm])) / (hand / max(1, calls["hand"]))
            print(
                f"{scenario:9s} ratio {arm} / hand-written: {ratio:.2f} (target <= 1.2: {verdict}); "
                f"without the shared set-up (build): {engine_part:.2f}; per venue call: {per_call:.2f}"
            )


def throughput(scenarios: list[str], episodes: int) -> None:
    bare = statistics.median(bare_edge_us() for _ in range(5))
    scale = bare / README_BARE_EDGE_US
    print(f"\nsimulate() episodes per second, one core, {episodes} seeds; {clock_name()}")
    print(f"bare transitions edge in this run: {bare:.2f} us (README machine: {README_BARE_EDGE_US} us; "
          f"this machine is {scale:.1f}x slower now)")
    for scenario in scenarios:
        for zero in (True, False):
            rates = {}
            for driver in ("sync", "pooled", "asyncio"):
                # pooled: the sync driver on venues reset between episodes (sim.VenuePool),
                # as sweeps run; the others build their venues for every episode.
                pool = VenuePool() if driver == "pooled" else None
                name = "sync" if driver == "pooled" else driver
                simulate(scenario, 0, zero_latency=zero, driver=name, pool=pool)
                start = clock_ns()
                for seed in range(1, episodes + 1):
                    simulate(scenario, seed, zero_latency=zero, driver=name, pool=pool)
                rates[driver] = episodes / ((clock_ns() - start) / 1e9)
            est = rates["pooled"] * scale
            verdict = "meets" if est >= 2000 else f"misses by {2000 / est:.1f}x"
            print(
                f"{scenario:9s} {'zero' if zero else 'preset':6s} latency: sync {rates['sync']:7.1f}/s, "
                f"pooled {rates['pooled']:7.1f}/s, asyncio {rates['asyncio']:7.1f}/s "
                f"(sync / asyncio {rates['sync'] / rates['asyncio']:.2f}); "
                f"scaled to the README machine: pooled ~{est:.0f}/s (target >= 2,000: {verdict})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100, help="seeds per scenario (default 100)")
    parser.add_argument("--scenarios", default="calm,volatile", help="comma-separated (the hand-written "
                        "baseline handles no venue faults, so 'faulty' is not a fair comparison)")
    parser.add_argument("--cpu", action="store_true", help="time CPU of this thread, not wall")
    parser.add_argument("--repeat", type=int, default=3, help="runs per seed and arm; the best counts")
    parser.add_argument("--profile", action="store_true", help="cProfile 100 sync calm episodes")
    args = parser.parse_args()
    if args.cpu:
        use_cpu_clock()
    print(machine_line())
    scenarios = args.scenarios.split(",")
    whole_episodes(scenarios, args.episodes, args.repeat)
    throughput(scenarios, args.episodes)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for seed in range(1, 101):
            episode_sync("calm", seed)
        profiler.disable()
        print_profile("cProfile, 100 calm episodes on the sync driver", pstats.Stats(profiler), top=15)


if __name__ == "__main__":
    main()
