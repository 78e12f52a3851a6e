"""Fault soak at scale: N episodes over random fault plans; prints how many ran and how many broke.

Run: python benchmarks/soak.py [--episodes 100000] [--processes 2] [--seed 0]
     python benchmarks/soak.py --episode 1234        # one episode, its plan and what broke

Each episode draws a fault plan (the same space as tests/test_fault_soak.py:
rejects, ambiguous timeouts processed or not, lost acks, duplicate and stale
reports, stale quotes, rate limits, outages; and the untidier faults: hanging
calls per operation, placements that reach the venue late, understated cancel
replies, lagging position reads), a volatility regime and a market seed. A
share of the episodes (``--concurrent``) runs two hedges at once on the same
symbols in one engine (the second one sometimes on the opposite sides). The
episode runs to its end and counts as broken when an invariant of docs/design.md
section 5 or fill conservation against the venues' positions fails, or the
engine raises. The answer must be 0.

Every fault rate of the new kinds is a maximum: half the episodes draw 0 for
each, the others uniform in ``[0, max]``; ``--hang-rate 0 --late-rate 0
--understate-rate 0 --lag-rate 0 --concurrent 0 --rollback-share 0`` is the
earlier soak's space, episode for episode. ``--rollback-share`` episodes end their
entry early (1-6 s) with the rollback policy for partial fills and allow a hedge leg
one or two orders, so that rollbacks
(where lagging positions and a shared symbol matter) are common.

Not counted as breaks, but reported apart: the *harness* failing to set an
episode up (no quote to rest at: nothing was sent), and the engine refusing at
set-up because the venue never answered its reads (nothing was sent either).
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import attrs
from _common import use_cpu_clock
from bench_episode import README_BARE_EDGE_US, bare_edge_us

from hedge_fsm.config import HedgeConfig, PartialEntryPolicy
from hedge_fsm.episode import DEFAULT_TOKENS, HarnessError, simulate, simulate_concurrent
from hedge_fsm.errors import VenueError
from hedge_fsm.sim import FaultPlan, Scenario


@attrs.frozen(kw_only=True)
class Rates:
    """Maximum per-call probabilities of the new fault kinds, and the concurrent share."""

    hang: float = 0.02
    late: float = 0.1
    understate: float = 0.3
    lag: float = 0.5
    lag_max: float = 0.5
    concurrent: float = 0.2
    rollback: float = 0.2
    """Share of episodes whose entry times out early (2-10 s) and rolls partial fills back."""


DEFAULT_RATES = Rates()


def _rate(rng: random.Random, high: float) -> float:
    return 0.0 if rng.random() < 0.5 else rng.uniform(0.0, high)


def draw(rng: random.Random, rates: Rates | None = None) -> tuple[Scenario, int, dict[str, Any]]:
    """One episode's scenario, market seed and shape (concurrent or not), from ``rng``."""
    rates = rates or Rates()
    fields: dict[str, Any] = dict(
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
    volatility = rng.choice([1.0, 5.0])
    market_seed = rng.randrange(2**31)
    # The new kinds draw after everything the earlier soak drew, and only when enabled:
    # with every new rate at zero the episodes are the earlier soak's, one for one.
    if rates.hang > 0:
        for operation in ("place", "cancel", "query", "bbo", "position"):
            fields[f"hang_{operation}"] = _rate(rng, rates.hang)
    if rates.late > 0:
        fields["late_place"] = _rate(rng, rates.late)
        low = rng.uniform(0.2, 1.0)
        fields["late_delay_min"], fields["late_delay_max"] = low, rng.uniform(low, 5.0)
    if rates.understate > 0:
        fields["understate_cancel"] = _rate(rng, rates.understate)
    if rates.lag > 0:
        fields["position_lag"] = _rate(rng, rates.lag)
        fields["position_lag_max"] = rng.uniform(0.05, rates.lag_max)
    shape: dict[str, Any] = {"concurrent": False}
    if rates.concurrent > 0 and rng.random() < rates.concurrent:
        shape = {
            "concurrent": True,
            "second_reversed": rng.random() < 0.5,
            "second_delay": rng.uniform(0.0, 3.0),
        }
    if rates.rollback > 0 and rng.random() < rates.rollback:
        # Rollback is where lagging positions and a shared symbol matter: a hedge leg allowed
        # one or two orders gives up (and the trigger is unwound) whenever its first limit
        # order does not fill in time; short entries unwind partial fills.
        shape["config"] = HedgeConfig(
            entry_timeout=rng.uniform(1.0, 6.0),
            partial_entry_policy=PartialEntryPolicy.ROLLBACK,
            max_orders_per_leg=rng.choice([1, 2]),
        )
    scenario = Scenario(name="soak", faults=FaultPlan(**fields), volatility_scale=volatility)
    return scenario, market_seed, shape


# What each violation message means, as docs/design.md, Invariants numbers them.
_CATEGORIES = (
    (r"over-hedged", "3 over-hedge (filled > target)"),
    (r"orders may fill at once", "3 two orders of a leg live at once"),
    (r"order left open|with live orders|done with live orders", "4 order left open"),
    (r"ledger total|maker .*filled|maker\+taker", "5 fill accounting"),
    (r"venue position moved", "9 venue truth (fills not counted once)"),
    (r"done with net exposure", "6 exposure above one lot at done"),
    (r"rolled_back but", "6 not flat at rolled_back"),
    (r"failed without", "6 failed without a residual"),
    (r"done with .* left", "6 done with a placeable remainder"),
    (r"attempts >|orders > cap", "2 attempts or orders above their caps"),
)


def categorize(violation: str) -> str:
    """The invariant a violation message breaks (``other`` when unknown)."""
    for pattern, name in _CATEGORIES:
        if re.search(pattern, violation):
            return name
    return "other"


def run_episode(index: int, rates: Rates) -> tuple[str, list[str], str]:
    """(outcome, violations, description): outcome is a final state (or states), ``harness``,
    ``refused`` or ``raised``."""
    rng = random.Random(index)
    scenario, seed, shape = draw(rng, rates)
    try:
        config = shape.get("config")
        tokens = DEFAULT_TOKENS
        if shape["concurrent"]:
            pair = simulate_concurrent(
                scenario,
                seed,
                config=config,
                tokens=tokens,
                second_reversed=shape["second_reversed"],
                second_delay=shape["second_delay"],
            )
            states = "+".join(sorted(r.state for r in pair.results))
            return f"concurrent {states}", pair.invariant_violations, ""
        episode = simulate(scenario, seed, config=config, tokens=tokens)
        return episode.result.state, episode.invariant_violations, ""
    except HarnessError as exc:
        return "harness", [], str(exc)
    except VenueError as exc:
        if "nothing was sent" in str(exc):
            return "refused", [], str(exc)
        return "raised", [f"engine raised {type(exc).__name__}: {exc}"], str(exc)
    except Exception as exc:  # a crash is a broken episode, reported with its inputs
        return "raised", [f"engine raised {type(exc).__name__}: {exc}"], str(exc)


def chunk(args: tuple[int, int, Rates]) -> dict[str, Any]:
    start, count, rates = args
    states: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    examples: dict[str, list[str]] = {}
    broke = 0
    for index in range(start, start + count):
        outcome, violations, _ = run_episode(index, rates)
        states[outcome] += 1
        if not violations:
            continue
        broke += 1
        for name in sorted({categorize(v) if outcome != "raised" else "engine raised"
                            for v in violations}):
            categories[name] += 1
            kept = examples.setdefault(name, [])
            if len(kept) < 5:
                kept.append(f"episode {index} ({outcome}): {violations[:3]}")
    return {"ran": count, "broke": broke, "states": dict(states),
            "categories": dict(categories), "examples": examples}


def _rates(args: argparse.Namespace) -> Rates:
    return Rates(
        hang=args.hang_rate,
        late=args.late_rate,
        understate=args.understate_rate,
        lag=args.lag_rate,
        lag_max=args.lag_max,
        concurrent=args.concurrent,
        rollback=args.rollback_share,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="offset of the episode indices")
    parser.add_argument("--episode", type=int, default=None,
                        help="run this one episode and print its draw and what broke")
    parser.add_argument("--hang-rate", type=float, default=DEFAULT_RATES.hang,
                        help="max probability that a call hangs, per operation")
    parser.add_argument("--late-rate", type=float, default=DEFAULT_RATES.late,
                        help="max probability that a placement reaches the venue late")
    parser.add_argument("--understate-rate", type=float, default=DEFAULT_RATES.understate,
                        help="max probability that a cancel reply understates the fill")
    parser.add_argument("--lag-rate", type=float, default=DEFAULT_RATES.lag,
                        help="max probability that a fill reaches position reads late")
    parser.add_argument("--lag-max", type=float, default=DEFAULT_RATES.lag_max,
                        help="max lag of a lagging fill, seconds")
    parser.add_argument("--concurrent", type=float, default=DEFAULT_RATES.concurrent,
                        help="share of episodes running two hedges on one symbol at once")
    parser.add_argument("--rollback-share", type=float, default=DEFAULT_RATES.rollback,
                        help="share of episodes with a short entry whose partial fills roll back")
    args = parser.parse_args()
    rates = _rates(args)
    if args.episode is not None:
        scenario, seed, shape = draw(random.Random(args.episode), rates)
        print(f"episode {args.episode}: market seed {seed}, shape {shape}")
        print(f"  {scenario}")
        outcome, violations, detail = run_episode(args.episode, rates)
        print(f"  outcome: {outcome} {detail}")
        for violation in violations:
            print(f"  broke [{categorize(violation)}]: {violation}")
        return
    size = 250
    jobs = [
        (args.seed + start, min(size, args.episodes - start), rates)
        for start in range(0, args.episodes, size)
    ]
    print(f"fault rates (max): {attrs.asdict(rates)}")
    began = time.perf_counter()
    ran = broke = 0
    states: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    examples: dict[str, list[str]] = {}
    with ProcessPoolExecutor(max_workers=args.processes) as pool:
        for done, part in enumerate(pool.map(chunk, jobs), start=1):
            ran, broke = ran + part["ran"], broke + part["broke"]
            states.update(part["states"])
            categories.update(part["categories"])
            for name, kept in part["examples"].items():
                examples.setdefault(name, []).extend(kept)
            if done % 20 == 0 or done == len(jobs):
                print(f"  {ran:>7} episodes, {broke} broken ({time.perf_counter() - began:.0f} s)")
    elapsed = time.perf_counter() - began
    apart = states.get("harness", 0) + states.get("refused", 0)
    print(f"episodes run: {ran}")
    print(f"episodes that broke an invariant: {broke}")
    for name, count in sorted(categories.items()):
        print(f"  {count:>6}  {name}")
    print(f"harness set-up failures (nothing sent, not engine breaks): {states.get('harness', 0)}")
    print(f"engine refused at set-up (venue never answered its reads, nothing sent): "
          f"{states.get('refused', 0)}")
    final = {k: v for k, v in sorted(states.items()) if k not in ("harness", "refused")}
    print(f"final states: {final}")
    print(f"episodes judged: {ran - apart}")
    print(f"wall time: {elapsed:.1f} s on {args.processes} processes ({ran / elapsed:.0f} episodes/s, "
          f"{elapsed * args.processes / max(ran, 1) * 1e3:.1f} ms per episode per process)")
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
        # The machine's speed now, by the yardstick the other benchmarks quote (an estimate).
        use_cpu_clock()
        bare = statistics.median(bare_edge_us() for _ in range(5))
        scaled = per * README_BARE_EDGE_US / bare
        print(
            f"bare transitions edge now {bare:.2f} us (README machine {README_BARE_EDGE_US} us): "
            f"~{scaled * 1e3:.2f} ms/episode there, 100,000 on 2 cores ~{scaled * 100_000 / 2:.0f} s "
            "(target < 60 s)"
        )
    for name, kept in sorted(examples.items()):
        for example in kept[:3]:
            print(f"  [{name}] {example}")


if __name__ == "__main__":
    main()
