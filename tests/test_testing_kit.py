"""The machine property kit (``hedge_fsm.testing.machines``) on users' configurations.

The kit's stateful tests run here the way a user runs them: for a default
configuration, a tight closing policy and a 1000x-multiplier instrument, on the
leg machine and on the whole supervisor. They must pass on the real machines and
must fail on a deliberately broken one (sizing that ignores what already filled,
so that the leg over-hedges). The venue kit must import without Hypothesis.
"""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import hedge_fsm.machines.leg as leg_module
from hedge_fsm import HedgeConfig, Instrument, InvalidValue, RetryPolicy
from hedge_fsm.testing.machines import (
    Market,
    leg_machine,
    leg_time_bound,
    supervisor_machine,
    supervisor_time_bound,
)

BTC = Market(
    instrument=Instrument(
        symbol="BTC",
        tick_size=D("0.1"),
        lot_size=D("0.001"),
        min_quantity=D("0.001"),
        min_notional=D("5"),
        maker_fee=D("0.0002"),
        taker_fee=D("0.0005"),
    ),
    price=D("60000.0"),
)
KPEPE = Market(
    instrument=Instrument(
        symbol="kPEPE",
        tick_size=D("0.000001"),
        lot_size=D("1"),
        min_quantity=D("1"),
        min_notional=D("0.05"),
        multiplier=D("1000"),
        maker_fee=D("-0.0001"),
        taker_fee=D("0.00045"),
    ),
    price=D("0.010000"),
)
"""1000 PEPE per contract."""
PEPE = Market(
    instrument=Instrument(
        symbol="PEPEUSDT",
        tick_size=D("0.0000000001"),
        lot_size=D("1000"),
        min_quantity=D("1000"),
        min_notional=D("0"),
    ),
    price=D("0.0000100000"),
)
"""1 PEPE per contract, quoted per token."""

DEFAULT = HedgeConfig()
TIGHT_CLOSING = HedgeConfig(
    closing=RetryPolicy(
        max_attempts=1, budget=0.2, backoff=0.0, inside_tick_attempts=0, attempt_wait=0.1, poll_interval=0.05
    ),
    stuck_timeout=0.5,
    lookup_attempts=1,
    rollback_attempts=1,
    rollback_budget=1.0,
    entry_timeout=1.0,
)

LEG_RUNS = settings(settings.default, max_examples=40, stateful_step_count=40, deadline=None)
SUPERVISOR_RUNS = settings(
    settings.default,
    max_examples=20,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# ---------------------------------------------------------------------- the kit as users use it

TestDefaultConfigLeg = leg_machine(DEFAULT, [BTC, KPEPE]).TestCase
TestDefaultConfigLeg.settings = LEG_RUNS

TestTightClosingLeg = leg_machine(TIGHT_CLOSING, [BTC], reduce_only=True).TestCase
TestTightClosingLeg.settings = LEG_RUNS

TestThousandfoldMultiplierLeg = leg_machine(DEFAULT, KPEPE, with_trigger=True).TestCase
TestThousandfoldMultiplierLeg.settings = LEG_RUNS

DRAWN_CONFIGS = st.builds(
    HedgeConfig,
    stuck_timeout=st.sampled_from([0.5, 2.0]),
    lookup_attempts=st.integers(1, 3),
    break_even=st.booleans(),
    max_orders_per_leg=st.sampled_from([3, 32]),
    entry_timeout=st.sampled_from([0.5, 4.0]),
    rollback_attempts=st.integers(1, 3),
)
"""A strategy of configurations: the kit draws one per run (what the repo's own tests do)."""

TestDrawnConfigsLeg = leg_machine(DRAWN_CONFIGS, [BTC, KPEPE]).TestCase
TestDrawnConfigsLeg.settings = LEG_RUNS

TestDrawnConfigsHedge = supervisor_machine(DRAWN_CONFIGS, [(BTC, BTC), (PEPE, KPEPE)]).TestCase
TestDrawnConfigsHedge.settings = SUPERVISOR_RUNS

TestDefaultConfigHedge = supervisor_machine(DEFAULT, (BTC, BTC)).TestCase
TestDefaultConfigHedge.settings = SUPERVISOR_RUNS

TestTightClosingHedge = supervisor_machine(TIGHT_CLOSING, [(BTC, BTC)], reduce_only=True).TestCase
TestTightClosingHedge.settings = SUPERVISOR_RUNS

TestThousandfoldMultiplierHedge = supervisor_machine(DEFAULT, [(PEPE, KPEPE), (KPEPE, PEPE)]).TestCase
TestThousandfoldMultiplierHedge.settings = SUPERVISOR_RUNS


# ---------------------------------------------------------------------- the kit catches bugs

CATCH_RUNS = settings(max_examples=300, stateful_step_count=40, deadline=None, database=None,
                      phases=[Phase.generate], derandomize=True)  # fmt: skip


@pytest.fixture
def sizing_ignores_fills(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken leg machine: what remains is always the whole target, whatever filled."""
    monkeypatch.setattr(leg_module, "remaining_quantity", lambda target, filled: target)


@pytest.mark.usefixtures("sizing_ignores_fills")
def test_the_leg_kit_reports_a_machine_that_over_hedges() -> None:
    """With sizing that forgets fills, the leg kit fails, naming the over-hedge."""
    with pytest.raises(AssertionError, match="over-hedged"):
        run_state_machine_as_test(leg_machine(DEFAULT, BTC), settings=CATCH_RUNS)


@pytest.mark.usefixtures("sizing_ignores_fills")
def test_the_supervisor_kit_reports_a_machine_that_over_hedges() -> None:
    """The same bug seen through a whole hedge (direct, so the hedge legs trade at once)."""
    with pytest.raises(AssertionError, match="over-hedged"):
        run_state_machine_as_test(supervisor_machine(DEFAULT, (BTC, BTC), direct=True), settings=CATCH_RUNS)


def test_the_kit_reports_a_leg_that_waits_for_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leg that never arms a timer (polls, attempt deadlines, its placement bound) hangs
    once the venue goes quiet: the liveness check says so."""
    monkeypatch.setattr(leg_module.LegHedge, "_wake_at", lambda self, at: None)
    with pytest.raises(AssertionError, match="nothing in flight"):
        run_state_machine_as_test(leg_machine(DEFAULT, BTC, market_only=False), settings=CATCH_RUNS)


# ---------------------------------------------------------------------- inputs and imports


def test_a_market_price_off_its_tick_grid_is_refused() -> None:
    """The kit validates what it is given: a price off the grid names the price and the tick."""
    with pytest.raises(InvalidValue, match=r"60000\.05 must be on the tick grid 0\.1"):
        Market(instrument=BTC.instrument, price=D("60000.05"))


def test_factories_refuse_what_is_not_a_config_or_a_market() -> None:
    """A dict instead of a HedgeConfig, or an Instrument instead of a Market, is a clear error."""
    with pytest.raises(InvalidValue, match=r"expected a HedgeConfig \(or a strategy of them\)"):
        leg_machine({"stuck_timeout": 1}, BTC)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="expected one or more Market"):
        leg_machine(DEFAULT, BTC.instrument)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="each pair must be two Market"):
        supervisor_machine(DEFAULT, [(BTC,)])  # type: ignore[list-item]


def test_time_bounds_grow_with_the_configured_timeouts() -> None:
    """The default bounds are read from the configuration (a slower config is allowed longer)."""
    slow = HedgeConfig(stuck_timeout=30.0, entry_timeout=60.0, rollback_budget=20.0)
    assert leg_time_bound(slow) > leg_time_bound(DEFAULT)
    assert supervisor_time_bound(slow) > supervisor_time_bound(DEFAULT)
    assert supervisor_time_bound(DEFAULT) > DEFAULT.entry_timeout + DEFAULT.rollback_budget


def test_the_venue_kit_imports_without_hypothesis_and_the_machine_kit_says_what_to_install() -> None:
    """Hypothesis is optional for the venue kit; the machine kit names the extra to install."""
    script = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import hedge_fsm.testing as kit\n"
        "assert kit.check_venue and 'hypothesis' not in [m for m in sys.modules if sys.modules[m]]\n"
        "try:\n"
        "    import hedge_fsm.testing.machines\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert 'pip install "hedge-fsm[testing]"' in done.stdout


def python_blocks(path: Path) -> list[str]:
    """The fenced ``python`` blocks of a Markdown file, in order."""
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_examples_of_docs_testing_md_run() -> None:
    """docs/testing.md shows runnable code: every block runs (the template for a user's own adapter
    aside), in one namespace as a reader would paste them, and the pytest example passes."""
    blocks = [
        b for b in python_blocks(Path(__file__).parent.parent / "docs" / "testing.md") if "MyEdgeX" not in b
    ]
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "docs_testing_md"}
    for block in blocks:
        exec(compile(block, "docs/testing.md", "exec"), namespace)
    example = namespace["test_my_venue_keeps_the_venue_contract"]
    assert callable(example)
    example("post_only_cross_refused")
    assert {"TestMyLegs", "TestMyHedges"} <= set(namespace)
