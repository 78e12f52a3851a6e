"""hedge_fsm.testing: check your own venue adapter and your own configuration.

Two kits, for the two things a user of the library builds themselves:

* **Venue conformance** (:mod:`hedge_fsm.testing.conformance`, re-exported here):
  :func:`check_venue` runs the :class:`~hedge_fsm.venue.Venue` contract's
  scenarios against any venue (a testnet account, a simulated or a recorded
  venue) and returns a :class:`ConformanceReport`; :func:`conformance_scenarios`
  and :func:`run_scenario` make one pytest test per scenario. Needs nothing
  beyond hedge_fsm itself.
* **Machine properties** (:mod:`hedge_fsm.testing.machines`): Hypothesis
  stateful tests of the leg and supervisor machines for *your* ``HedgeConfig``
  and instruments, against an adversarial model venue, with the invariants of
  :mod:`hedge_fsm.invariants` checked after every step. Needs Hypothesis
  (``pip install "hedge-fsm[testing]"``); import that module explicitly.
"""

from __future__ import annotations

from hedge_fsm.testing.conformance import (
    SCENARIO_NAMES,
    ConformanceFailure,
    ConformanceHooks,
    ConformanceOptions,
    ConformanceReport,
    FillResting,
    Outcome,
    ScenarioResult,
    check_venue,
    conformance_scenarios,
    describe_scenario,
    run_scenario,
    sim_hooks,
)

__all__ = [
    "SCENARIO_NAMES",
    "ConformanceFailure",
    "ConformanceHooks",
    "ConformanceOptions",
    "ConformanceReport",
    "FillResting",
    "Outcome",
    "ScenarioResult",
    "check_venue",
    "conformance_scenarios",
    "describe_scenario",
    "run_scenario",
    "sim_hooks",
]
