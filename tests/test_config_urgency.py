"""Config of the urgency (issue 13 item 2): ``HedgeConfig.risk_aversion`` and ``volatility_bps``.

``risk_aversion`` (lambda) is a finite number >= 0, default 1.0 (0 turns urgency off);
``volatility_bps`` is a finite number >= 0 or None, default None (no prior: a leg waits until
it has measured the book's volatility). Anything else is refused naming the field and value.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from hedge_fsm import ConfigError, HedgeConfig
from hedge_fsm.errors import InvalidValue

FIELDS = ("risk_aversion", "volatility_bps")
BAD = [-1.0, -1e-9, -3, math.nan, math.inf, -math.inf, True, False, "1.0", [1.0]]


def test_urgency_defaults() -> None:
    """Risk aversion 1 (the quality benchmark's lambda = 1 penalty), no volatility prior."""
    config = HedgeConfig()
    assert config.risk_aversion == 1.0
    assert config.volatility_bps is None


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", BAD, ids=repr)
def test_urgency_settings_refuse_anything_but_a_finite_non_negative_number(field: str, value: object) -> None:
    """Negative, NaN, infinite, bool, string or list: refused with an InvalidValue that names
    ``HedgeConfig.<field>`` and the value given (a bool is not a number here, though Python
    counts it as one)."""
    settings: dict[str, Any] = {field: value}
    with pytest.raises(InvalidValue) as caught:
        HedgeConfig(**settings)
    message = str(caught.value)
    assert f"HedgeConfig.{field}" in message
    assert repr(value) in message
    assert caught.value.field == field


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [0, 0.0, 2, 12.5, 1e6])
def test_urgency_settings_accept_finite_non_negative_numbers(field: str, value: float) -> None:
    """Zero (risk aversion 0: urgency off; volatility 0: a still market), ints and floats."""
    settings: dict[str, Any] = {field: value}
    assert getattr(HedgeConfig(**settings), field) == value


def test_volatility_prior_may_be_none_but_risk_aversion_may_not() -> None:
    """None means "no estimate" for the volatility; a risk aversion must be a number."""
    assert HedgeConfig(volatility_bps=None).volatility_bps is None
    with pytest.raises(InvalidValue, match=r"HedgeConfig\.risk_aversion"):
        HedgeConfig(risk_aversion=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [-1.0, True, "fast"])
def test_urgency_settings_from_a_mapping_name_the_config_path(field: str, value: object) -> None:
    """From a mapping (TOML's shape) the error is a ConfigError naming ``config.<field>``."""
    with pytest.raises(ConfigError) as caught:
        HedgeConfig.from_mapping({field: value})
    assert f"config.{field}" in str(caught.value)


def test_urgency_settings_round_trip_through_a_mapping() -> None:
    """What ``to_mapping`` writes, ``from_mapping`` reads back to the same settings."""
    for config in (
        HedgeConfig(),
        HedgeConfig(risk_aversion=0.0, volatility_bps=12.5),
        HedgeConfig(risk_aversion=2.5, volatility_bps=0.0),
    ):
        back = HedgeConfig.from_mapping(config.to_mapping())
        assert (back.risk_aversion, back.volatility_bps) == (config.risk_aversion, config.volatility_bps)
