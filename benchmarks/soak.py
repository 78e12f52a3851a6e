"""Fault soak at scale: N episodes over random fault plans; prints how many ran and how many broke.

Run: python benchmarks/soak.py [--episodes 100000] [--processes 2] [--seed 0]

Each episode draws a fault plan (the same space as tests/test_fault_soak.py:
rejects, ambiguous timeouts processed or not, lost acks, duplicate and stale
reports, stale quotes, rate limits, outages), a volatility regime and a market
seed, runs hedge_fsm.episode.simulate to the end, and counts an episode as
broken when any DESIGN.md invariant or fill-conservation check fails or the
engine raises. The answer must be 0.
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from hedge_fsm.episode import simulate
from hedge_fsm.errors import VenueError
from hedge_fsm.sim import FaultPlan, Scenario


def _rate(rng: random.Random, high: float) -> float:
    return 0.0 if rng.random() < 0.5 else rng.uniform(0.0, high)


def draw(rng: random.Random) -> tuple[Scenario, int]:
    plan = FaultPlan(
        seed=rng.randrange(2**31),
        rate_limit=_rate(rng, 0.2),
        place_reject=_rate(rng, 0.2),
        place_timeout=_rate(rng, 0.2),
        cancel_timeout=_rate(rng, 0.2),
        timeout_processed=rng.random(),
        timeout_delay=rng.uniform(0.0, 1.0),
        lost_ack=_rate(rng, 0.2),
        duplicate_report=_rate(rng, 0.3),
        stale_report=_rate(rng, 0.3),
        stale_bbo=_rate(rng, 0.3),
        stale_bbo_age=rng.uniform(0.01, 2.0),
        outage_every=0.0 if rng.random() < 0.5 else rng.uniform(2.0, 20.0),
        outage_duration=rng.uniform(0.0, 1.5),
        outage_places_ambiguous=rng.random() < 0.5,
    )
    scenario = Scenario(name="soak", faults=plan, volatility_scale=rng.choice([1.0, 5.0]))
    return scenario, rng.randrange(2**31)


def chunk(args: tuple[int, int]) -> tuple[int, int, dict[str, int], list[str]]:
    start, count = args
    ran = broke = 0
    states: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    for index in range(start, start + count):
        rng = random.Random(index)
        scenario, seed = draw(rng)
        ran += 1
        try:
            episode = simulate(scenario, seed)
        except Exception as exc:  # a crash is a broken episode, reported with its inputs
            if isinstance(exc, VenueError) and "nothing was sent" in str(exc):
                # The venue refused every set-up read: execute raised before any order.
                # Nothing to break, but counted apart so the figure stays honest.
                states["refused at set-up"] += 1
                continue
            broke += 1
            if len(examples) < 5:
                examples.append(f"episode {index}: {type(exc).__name__}: {exc}")
            continue
        states[episode.result.state] += 1
        if episode.invariant_violations:
            broke += 1
            if len(examples) < 5:
                examples.append(f"episode {index}: {episode.invariant_violations}")
    return ran, broke, dict(states), examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="offset of the episode indices")
    args = parser.parse_args()
    size = 500
    jobs = [
        (args.seed + start, min(size, args.episodes - start))
        for start in range(0, args.episodes, size)
    ]
    began = time.perf_counter()
    ran = broke = 0
    states: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    with ProcessPoolExecutor(max_workers=args.processes) as pool:
        for done, (r, b, s, e) in enumerate(pool.map(chunk, jobs), start=1):
            ran, broke = ran + r, broke + b
            states.update(s)
            examples += e
            if done % 20 == 0 or done == len(jobs):
                print(f"  {ran:>7} episodes, {broke} broken ({time.perf_counter() - began:.0f} s)")
    elapsed = time.perf_counter() - began
    print(f"episodes run: {ran}")
    print(f"episodes that broke an invariant: {broke}")
    print(f"final states: {dict(sorted(states.items()))}")
    print(f"wall time: {elapsed:.1f} s on {args.processes} processes ({ran / elapsed:.0f} episodes/s)")
    # CPU time of the workers: on a shared, loaded machine wall time says little; this
    # projects what the same episodes take on the processes' own cores.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime
    if ran and cpu > 0:
        per = cpu / ran
        print(
            f"worker CPU time: {cpu:.1f} s ({per * 1e3:.2f} ms/episode): 100,000 episodes on "
            f"{args.processes} free cores ~{per * 100_000 / args.processes:.0f} s"
        )
    for example in examples[:5]:
        print(f"  {example}")


if __name__ == "__main__":
    main()
