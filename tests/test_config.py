"""Config: the defaults of docs/design.md (The leg machine), policy choice, TOML round trip,
errors with field paths."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import ConfigError, HedgeConfig, HedgeMode, PartialEntryPolicy, RetryPolicy
from hedge_fsm.config import CallTimeouts, ContradictoryConfig
from hedge_fsm.errors import InvalidValue

D = Decimal


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string here
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def to_toml(mapping: dict[str, Any]) -> str:
    """A tiny TOML writer for the config's shape: scalars, then one level of tables."""
    # TOML has no null: a None field is left out, which reads back as its default (None).
    lines = [
        f"{key} = {_toml_value(v)}" for key, v in mapping.items() if not isinstance(v, dict) and v is not None
    ]
    for key, table in mapping.items():
        if isinstance(table, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hedge.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ defaults


def test_opening_defaults_match_design_table() -> None:
    """docs/design.md, The leg machine, opening column: 8 attempts, 6 s budget, 75 ms backoff,
    3 inside-tick attempts, 1.5 s per-attempt wait, 100 ms poll interval."""
    expected = RetryPolicy(
        max_attempts=8,
        budget=6.0,
        backoff=0.075,
        inside_tick_attempts=3,
        attempt_wait=1.5,
        poll_interval=0.1,
    )
    policy = HedgeConfig().opening
    assert expected == policy
    expected_numbers = (8, 6.0, 0.075, 3, 1.5, 0.1)
    assert expected_numbers == (
        policy.max_attempts,
        policy.budget,
        policy.backoff,
        policy.inside_tick_attempts,
        policy.attempt_wait,
        policy.poll_interval,
    )


def test_closing_defaults_match_design_table() -> None:
    """docs/design.md, The leg machine, closing (reduce_only) column: 5 attempts, 3 s budget, 50 ms backoff,
    2 inside-tick attempts, and the same 1.5 s wait and 100 ms poll as opening."""
    policy = HedgeConfig().closing
    expected = (5, 3.0, 0.05, 2, 1.5, 0.1)
    assert expected == (
        policy.max_attempts,
        policy.budget,
        policy.backoff,
        policy.inside_tick_attempts,
        policy.attempt_wait,
        policy.poll_interval,
    )


def test_pricing_defaults_match_design() -> None:
    """Break-even is on by default and may sit at most 2 ticks behind inside (section 3);
    the default mode is the aggressive-limit ladder and no dust is silently forgiven."""
    config = HedgeConfig()
    assert (True, 2, HedgeMode.AGGRESSIVE_LIMIT, D(0)) == (
        config.break_even,
        config.break_even_max_ticks,
        config.mode,
        config.dust_tolerance,
    )


def test_policy_for_picks_closing_for_reduce_only() -> None:
    """policy_for(True) is the closing policy, policy_for(False) the opening one."""
    opening = RetryPolicy(max_attempts=11)
    closing = RetryPolicy(max_attempts=4, budget=2.0)
    config = HedgeConfig(opening=opening, closing=closing)
    assert closing == config.policy_for(True)
    assert opening == config.policy_for(False)


# ------------------------------------------------------------------------------ TOML


def non_default_config() -> HedgeConfig:
    return HedgeConfig(
        opening=RetryPolicy(
            max_attempts=10,
            budget=7.5,
            backoff=0.1,
            inside_tick_attempts=4,
            attempt_wait=1.25,
            poll_interval=0.2,
        ),
        closing=RetryPolicy(
            max_attempts=3,
            budget=2.5,
            backoff=0.025,
            inside_tick_attempts=1,
            attempt_wait=0.75,
            poll_interval=0.05,
        ),
        mode=HedgeMode.MARKET,
        break_even=False,
        break_even_include_fees=False,
        break_even_max_ticks=3,
        dust_tolerance=D("0.001"),
        lookup_attempts=5,
        stuck_timeout=12.5,
        entry_timeout=45.0,
        entry_poll_interval=0.5,
        partial_entry_policy=PartialEntryPolicy.ROLLBACK,
        rollback_attempts=4,
        rollback_budget=20.0,
        max_orders_per_leg=64,
        risk_aversion=0.5,
        volatility_bps=3.25,
    )


def test_toml_round_trip_through_a_file(tmp_path: Path) -> None:
    """A config with every field changed, written to TOML and read back, is the same config."""
    config = non_default_config()
    path = write(tmp_path, to_toml(config.to_mapping()))
    assert config == HedgeConfig.from_toml(path)


def test_default_config_round_trips(tmp_path: Path) -> None:
    """The default config survives to_mapping -> TOML file -> from_toml unchanged."""
    path = write(tmp_path, to_toml(HedgeConfig().to_mapping()))
    assert HedgeConfig() == HedgeConfig.from_toml(path)


def test_hand_written_toml_overrides_only_what_it_names(tmp_path: Path) -> None:
    """A partial file sets the named fields (quoted Decimal, int seconds, enum by value) and
    keeps every other field at its default."""
    path = write(
        tmp_path,
        "\n".join(
            [
                'dust_tolerance = "0.001"',
                'partial_entry_policy = "rollback"',
                "[opening]",
                "max_attempts = 9",
                "budget = 4",
                "",
            ]
        ),
    )
    expected = HedgeConfig(
        opening=RetryPolicy(max_attempts=9, budget=4.0),
        dust_tolerance=D("0.001"),
        partial_entry_policy=PartialEntryPolicy.ROLLBACK,
    )
    assert expected == HedgeConfig.from_toml(path)


def test_partial_closing_table_keeps_closing_defaults(tmp_path: Path) -> None:
    """A [closing] table that only changes the backoff keeps the *closing* defaults of
    docs/design.md, The leg machine for everything else (5 attempts, 3 s budget, 2 inside-tick attempts),
    not the opening ones (8, 6 s, 3): tuning one knob must not loosen a reduce-only hedge."""
    config = HedgeConfig.from_toml(write(tmp_path, "[closing]\nbackoff = 0.02\n"))
    expected = RetryPolicy(
        max_attempts=5,
        budget=3.0,
        backoff=0.02,
        inside_tick_attempts=2,
        attempt_wait=1.5,
        poll_interval=0.1,
    )
    assert expected == config.closing


def test_to_mapping_is_plain_data() -> None:
    """to_mapping gives plain builtins only (Decimals as str, enums as their str values), so any
    serializer can write it: no Decimal, no enum member (None for an unset optional field, as
    JSON writes it; TOML leaves the key out)."""
    plain = (dict, str, int, float, bool, type(None))

    def non_plain(value: Any, path: str) -> list[str]:
        if type(value) is dict:
            return [p for k, v in value.items() for p in non_plain(v, f"{path}.{k}")]
        return [] if type(value) in plain else [f"{path}: {type(value).__name__}"]

    mapping = HedgeConfig().to_mapping()
    no_problems: list[str] = []
    assert no_problems == non_plain(mapping, "config")
    expected = {"mode": "aggressive_limit", "dust_tolerance": "0"}
    assert expected == {key: mapping[key] for key in expected}


@st.composite
def retry_policies(draw: st.DrawFn) -> RetryPolicy:
    """Any policy that does not contradict itself (the cross-field rules hold)."""
    max_attempts = draw(st.integers(1, 100))
    budget = draw(st.floats(0.001, 600, allow_nan=False))
    attempt_wait = draw(st.floats(0.001, 60, allow_nan=False))
    return RetryPolicy(
        max_attempts=max_attempts,
        budget=budget,
        backoff=draw(st.floats(0, min(10, budget), allow_nan=False)),
        inside_tick_attempts=draw(st.integers(0, min(20, max_attempts))),
        attempt_wait=attempt_wait,
        poll_interval=draw(st.floats(0.001, min(10, attempt_wait, budget), allow_nan=False)),
    )


@given(
    opening=retry_policies(),
    closing=retry_policies(),
    max_ticks=st.integers(0, 10),
    dust=st.integers(0, 10**6).map(lambda n: n * D("0.0001")),
    mode=st.sampled_from(HedgeMode),
)
def test_mapping_round_trip_property(
    opening: RetryPolicy, closing: RetryPolicy, max_ticks: int, dust: Decimal, mode: HedgeMode
) -> None:
    """from_mapping(to_mapping(c)) == c for any valid config (floats and Decimals exact)."""
    config = HedgeConfig(
        opening=opening,
        closing=closing,
        break_even_max_ticks=max_ticks,
        dust_tolerance=dust,
        mode=mode,
    )
    assert config == HedgeConfig.from_mapping(config.to_mapping())


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "path_in_message"),
    [
        ("surprise = 1\n", "surprise"),
        ("[opening]\nmax_attempt = 8\n", "max_attempt"),
        ("[closing]\nbudgett = 3.0\n", "budgett"),
        ("[retry]\nbudget = 3.0\n", "retry"),
    ],
)
def test_unknown_keys_are_refused(tmp_path: Path, text: str, path_in_message: str) -> None:
    """A key the config does not have (a typo) fails instead of being ignored, naming the key."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(write(tmp_path, text))
    assert path_in_message in str(caught.value)


def test_unknown_key_in_table_names_the_table(tmp_path: Path) -> None:
    """An unknown key under [opening] is reported at opening."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(write(tmp_path, "[opening]\nmax_attempt = 8\n"))
    assert "opening" in str(caught.value)


def test_unquoted_float_for_decimal_is_refused(tmp_path: Path) -> None:
    """`dust_tolerance = 0.1` (a TOML float) is refused: money must be a quoted decimal string."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(write(tmp_path, "dust_tolerance = 0.1\n"))
    message = str(caught.value)
    assert "dust_tolerance" in message
    assert "0.1" in message


def test_quoted_decimal_is_accepted_exactly(tmp_path: Path) -> None:
    """`dust_tolerance = "0.1"` becomes Decimal("0.1") exactly (not 0.1000000000000000055...)."""
    config = HedgeConfig.from_toml(write(tmp_path, 'dust_tolerance = "0.1"\n'))
    assert D("0.1") == config.dust_tolerance


@pytest.mark.parametrize(
    ("text", "field_path"),
    [
        ('[opening]\nmax_attempts = "8"\n', "opening.max_attempts"),
        ('[closing]\ninside_tick_attempts = "2"\n', "closing.inside_tick_attempts"),
        ('max_orders_per_leg = "32"\n', "max_orders_per_leg"),
        ("[opening]\nmax_attempts = 8.0\n", "opening.max_attempts"),
        ("[opening]\nmax_attempts = true\n", "opening.max_attempts"),
    ],
)
def test_wrong_type_for_int_names_field_path(tmp_path: Path, text: str, field_path: str) -> None:
    """A string, float or bool where an integer is expected fails with the field's path."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(write(tmp_path, text))
    assert field_path in str(caught.value)


@pytest.mark.parametrize(
    ("text", "field_path"),
    [
        ("[opening]\nbudget = -1.0\n", "opening.budget"),
        ("[closing]\nbudget = -0.5\n", "closing.budget"),
        ("[opening]\nbudget = 0\n", "opening.budget"),
        ("[opening]\nmax_attempts = 0\n", "opening.max_attempts"),
        ("[closing]\nbackoff = -0.05\n", "closing.backoff"),
    ],
)
def test_out_of_range_value_names_field_path(tmp_path: Path, text: str, field_path: str) -> None:
    """A negative (or zero) budget, a zero attempt count, a negative backoff fail with
    ConfigError naming the field's full path, e.g. ``opening.budget``."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(write(tmp_path, text))
    assert field_path in str(caught.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('dust_tolerance = "-0.1"\n', "dust_tolerance"),
        ("break_even_max_ticks = -1\n", "break_even_max_ticks"),
        ("rollback_budget = -10.0\n", "rollback_budget"),
        ('mode = "yolo"\n', "mode"),
        ('break_even = "yes"\n', "break_even"),
    ],
)
def test_bad_top_level_value_names_field(tmp_path: Path, text: str, field: str) -> None:
    """Bad top-level values (negative Decimal, negative int, unknown enum, non-bool) name the
    field."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(write(tmp_path, text))
    assert field in str(caught.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    """Errors from from_toml start with the file's path; invalid TOML and a missing file are
    ConfigErrors too."""
    path = write(tmp_path, "surprise = 1\n")
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(path)
    assert str(caught.value).startswith(str(path))
    with pytest.raises(ConfigError):
        HedgeConfig.from_toml(write(tmp_path, "[opening\n"))
    with pytest.raises(ConfigError):
        HedgeConfig.from_toml(tmp_path / "missing.toml")


def test_from_mapping_error_is_a_config_error_with_path() -> None:
    """from_mapping reports the same way as from_toml (no file name): ConfigError with the path."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_mapping({"opening": {"max_attempts": "many"}})
    assert "opening.max_attempts" in str(caught.value)


def test_non_utf8_config_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A config file that is not UTF-8 (saved as Latin-1, say): ConfigError naming the file and the
    byte, never a raw UnicodeDecodeError."""
    path = tmp_path / "latin1.toml"
    path.write_bytes("# caf\xe9\n[opening]\nbudget = 4.0\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not UTF-8 text (byte 0xe9")


def test_a_directory_as_config_is_a_config_error(tmp_path: Path) -> None:
    """Pointing --config at a folder: ConfigError naming it."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}: cannot read config")


# ------------------------------------------------------------------------------ cross-field

CONTRADICTIONS: list[tuple[Any, str, str]] = [
    # (how to build it directly, the two fields as the message names them)
    (lambda: RetryPolicy(budget=6.0, backoff=9.0), "RetryPolicy.backoff 9.0", "RetryPolicy.budget 6.0"),
    (
        lambda: RetryPolicy(max_attempts=2, inside_tick_attempts=3),
        "RetryPolicy.inside_tick_attempts 3",
        "RetryPolicy.max_attempts 2",
    ),
    (
        lambda: RetryPolicy(attempt_wait=0.5, poll_interval=1.0),
        "RetryPolicy.poll_interval 1.0",
        "RetryPolicy.attempt_wait 0.5",
    ),
    (
        lambda: RetryPolicy(budget=0.5, attempt_wait=2.0, poll_interval=1.0),
        "RetryPolicy.poll_interval 1.0",
        "RetryPolicy.budget 0.5",
    ),
    (
        lambda: HedgeConfig(entry_timeout=2.0, entry_poll_interval=5.0),
        "HedgeConfig.entry_poll_interval 5.0",
        "HedgeConfig.entry_timeout 2.0",
    ),
    (
        lambda: HedgeConfig(ambiguous_horizon=1.0, call_timeouts=CallTimeouts(place=3.0)),
        "HedgeConfig.ambiguous_horizon 1.0",
        "HedgeConfig.call_timeouts.place 3.0",
    ),
]


@pytest.mark.parametrize(("build", "first", "second"), CONTRADICTIONS)
def test_contradictory_settings_are_refused_naming_both_fields(
    build: Any, first: str, second: str
) -> None:
    """Regression (issue 11 case 10): a backoff longer than the budget (the hedge landed 9 s past
    its budget), more inside-tick attempts than attempts, polls rarer than the wait or timeout
    they watch, an ambiguous horizon shorter than the placement timeout: refused at construction,
    an InvalidValue naming both fields and their values."""
    with pytest.raises(InvalidValue) as caught:
        build()
    assert isinstance(caught.value, ContradictoryConfig)
    message = str(caught.value)
    assert first in message and second in message


TOML_CONTRADICTIONS = [
    ("[opening]\nbudget = 2.0\nbackoff = 3.0\n", "config.opening.backoff 3.0", "config.opening.budget 2.0"),
    # The closing table keeps its defaults (budget 3.0) for what it omits: named all the same.
    ("[closing]\nbackoff = 4.0\n", "config.closing.backoff 4.0", "config.closing.budget 3.0"),
    (
        "[closing]\nmax_attempts = 2\ninside_tick_attempts = 4\n",
        "config.closing.inside_tick_attempts 4",
        "config.closing.max_attempts 2",
    ),
    (
        "[opening]\nattempt_wait = 0.2\npoll_interval = 0.5\n",
        "config.opening.poll_interval 0.5",
        "config.opening.attempt_wait 0.2",
    ),
    (
        "entry_timeout = 1.0\nentry_poll_interval = 2.0\n",
        "config.entry_poll_interval 2.0",
        "config.entry_timeout 1.0",
    ),
    (
        "ambiguous_horizon = 1.5\n[call_timeouts]\nplace = 2.5\n",
        "config.ambiguous_horizon 1.5",
        "config.call_timeouts.place 2.5",
    ),
]


@pytest.mark.parametrize(("text", "first", "second"), TOML_CONTRADICTIONS)
def test_contradictory_toml_is_a_config_error_naming_both_field_paths(
    tmp_path: Path, text: str, first: str, second: str
) -> None:
    """The same contradictions from a file: ConfigError with the file and both fields' full
    paths and values."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_toml(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert first in message and second in message


def test_contradictory_mapping_is_a_config_error_with_paths() -> None:
    """from_mapping reports a contradiction the same way (no file)."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_mapping({"opening": {"budget": 1.0, "backoff": 2.0}})
    assert "config.opening.backoff 2.0 is longer than config.opening.budget 1.0" in str(caught.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: RetryPolicy(budget=2.0, backoff=2.0),
        lambda: RetryPolicy(max_attempts=3, inside_tick_attempts=3),
        lambda: RetryPolicy(attempt_wait=0.5, poll_interval=0.5),
        lambda: HedgeConfig(entry_timeout=1.0, entry_poll_interval=1.0),
        lambda: HedgeConfig(ambiguous_horizon=2.0, call_timeouts=CallTimeouts(place=2.0)),
        # Not contradictions: a wait above the budget is capped by the budget left; a call timeout
        # above a budget is followed by the market fallback; a stuck timeout below a call timeout.
        lambda: RetryPolicy(budget=1.0, attempt_wait=5.0, poll_interval=0.5),
        lambda: HedgeConfig(
            opening=RetryPolicy(budget=1.0), call_timeouts=CallTimeouts(place=3.0), stuck_timeout=0.5
        ),
    ],
)
def test_settings_at_the_limit_are_accepted(build: Any) -> None:
    """Equality is consistent (a backoff of the whole budget, as many inside attempts as attempts,
    one poll per wait); so are the pairs that only look contradictory."""
    build()


def test_inside_tick_default_never_exceeds_max_attempts(tmp_path: Path) -> None:
    """A policy that sets only ``max_attempts`` below the default 3 inside-tick attempts is not a
    contradiction the user wrote: the default follows it (3, or max_attempts when fewer). The
    same from TOML, for the closing defaults (2) too."""
    assert RetryPolicy(max_attempts=2).inside_tick_attempts == 2
    assert RetryPolicy(max_attempts=1).inside_tick_attempts == 1
    assert RetryPolicy(max_attempts=4).inside_tick_attempts == 3
    config = HedgeConfig.from_toml(
        write(tmp_path, "[opening]\nmax_attempts = 1\n\n[closing]\nmax_attempts = 1\n")
    )
    assert (config.opening.inside_tick_attempts, config.closing.inside_tick_attempts) == (1, 1)
    assert HedgeConfig.from_mapping({"closing": {"max_attempts": 4}}).closing.inside_tick_attempts == 2


def test_defaults_follow_the_fields_they_depend_on(tmp_path: Path) -> None:
    """Only what a user writes can contradict: a short budget, wait or entry timeout, or a long
    placement timeout, given alone, pulls the dependent default along instead of being refused
    (``HedgeConfig(entry_timeout=0.001)`` polls the entry at its deadline). From TOML the same,
    for the closing table's own defaults too."""
    policy = RetryPolicy(budget=0.05)
    assert (policy.backoff, policy.poll_interval) == (0.05, 0.05)
    assert RetryPolicy(attempt_wait=0.04).poll_interval == 0.04
    assert HedgeConfig(entry_timeout=0.001).entry_poll_interval == 0.001
    assert HedgeConfig(call_timeouts=CallTimeouts(place=12.0)).ambiguous_horizon == 12.0
    # Above the caps the design's defaults stand.
    assert RetryPolicy(budget=60.0) == RetryPolicy(budget=60.0, backoff=0.075, poll_interval=0.1)
    assert HedgeConfig().entry_poll_interval == 0.25 and HedgeConfig().ambiguous_horizon == 10.0
    loaded = HedgeConfig.from_toml(
        write(tmp_path, "entry_timeout = 0.1\n[opening]\nbudget = 0.06\n[closing]\nbudget = 0.04\n")
    )
    assert loaded.entry_poll_interval == 0.1
    assert (loaded.opening.backoff, loaded.opening.poll_interval) == (0.06, 0.06)
    assert (loaded.closing.backoff, loaded.closing.poll_interval) == (0.04, 0.04)
    # A value the user wrote is never adjusted: it is refused, naming both fields.
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_mapping({"closing": {"budget": 0.04, "backoff": 0.05}})
    assert "config.closing.backoff 0.05 is longer than config.closing.budget 0.04" in str(caught.value)


@pytest.mark.parametrize("rate", [0.5, 0.25, 2.5])
def test_fractional_venue_order_rate_is_accepted(tmp_path: Path, rate: float) -> None:
    """``venue_order_rate = 0.5`` (one order action every two seconds) is a valid setting, from
    TOML and directly (the rate guard's handling of it is the driver's)."""
    assert HedgeConfig(venue_order_rate=rate).venue_order_rate == rate
    loaded = HedgeConfig.from_toml(write(tmp_path, f"venue_order_rate = {rate}\n"))
    assert loaded.venue_order_rate == rate
    assert HedgeConfig.from_mapping(loaded.to_mapping()) == loaded


@pytest.mark.parametrize("field", ["break_even", "break_even_include_fees"])
def test_bool_settings_refuse_anything_but_a_bool(field: str) -> None:
    """``HedgeConfig(break_even="yes")`` is refused naming the field, not taken as truthy."""
    with pytest.raises(InvalidValue, match=rf"HedgeConfig\.{field} must be True or False, got str 'yes'"):
        HedgeConfig(**{field: "yes"})


def test_venue_capability_flags_refuse_anything_but_a_bool() -> None:
    """A capability flag read from an adapter's data must be a real bool (``"no"`` is truthy)."""
    from hedge_fsm.venue import VenueCapabilities

    with pytest.raises(InvalidValue, match=r"VenueCapabilities\.native_market must be True or False"):
        VenueCapabilities(native_market="no")  # type: ignore[arg-type]
