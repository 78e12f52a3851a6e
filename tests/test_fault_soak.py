"""Fault soak: the engine over random fault plans on the simulated venues, every invariant checked.

Each example draws a fault plan (rejects, ambiguous timeouts processed or not,
lost acks, duplicate and stale order reports, stale quotes, rate limits,
outages, and the cancel/fill races the queue model produces on its own), a
market regime and a seed, runs the default two-leg episode to its end, and
checks DESIGN.md section 5 plus fill conservation against the venue's own
positions. The CI profile runs a few hundred episodes; `benchmarks/soak.py`
runs 100,000.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hedge_fsm.episode import simulate
from hedge_fsm.sim import FaultPlan, Scenario

TERMINAL = {"done", "rolled_back", "failed", "cancelled"}


def rates(high: float) -> st.SearchStrategy[float]:
    return st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=high))


fault_plans = st.builds(
    FaultPlan,
    seed=st.integers(0, 2**20),
    rate_limit=rates(0.2),
    place_reject=rates(0.2),
    place_timeout=rates(0.2),
    cancel_timeout=rates(0.2),
    timeout_processed=st.floats(0.0, 1.0),
    timeout_delay=st.floats(0.0, 1.0),
    lost_ack=rates(0.2),
    duplicate_report=rates(0.3),
    stale_report=rates(0.3),
    stale_bbo=rates(0.3),
    stale_bbo_age=st.floats(0.01, 2.0),
    outage_every=st.one_of(st.just(0.0), st.floats(2.0, 20.0)),
    outage_duration=st.floats(0.0, 1.5),
    outage_places_ambiguous=st.booleans(),
)


@settings(max_examples=400)  # a few hundred episodes; the profile keeps CI derandomized
@given(plan=fault_plans, volatility=st.sampled_from([1.0, 5.0]), seed=st.integers(0, 10**6))
def test_no_invariant_breaks_under_random_faults(plan: FaultPlan, volatility: float, seed: int) -> None:
    """Whatever the venue does wrong: terminal state, no open order, every fill counted once."""
    episode = simulate(Scenario(name="soak", faults=plan, volatility_scale=volatility), seed)
    assert episode.result.state in TERMINAL
    assert episode.invariant_violations == []


def test_every_fault_kind_at_a_high_rate_still_ends_cleanly() -> None:
    """Each fault kind alone at a rate far above reality: the hedge still ends with invariants kept."""
    kinds = {
        "rate_limit": 0.5, "place_reject": 0.5, "place_timeout": 0.5, "cancel_timeout": 0.5,
        "lost_ack": 0.5, "duplicate_report": 0.9, "stale_report": 0.9, "stale_bbo": 0.9,
    }
    for kind, rate in kinds.items():
        for seed in range(3):
            plan = FaultPlan(seed=seed, **{kind: rate})  # type: ignore[arg-type]
            episode = simulate(Scenario(name=kind, faults=plan), seed)
            assert episode.result.state in TERMINAL, kind
            assert episode.invariant_violations == [], (kind, seed, episode.invariant_violations)
