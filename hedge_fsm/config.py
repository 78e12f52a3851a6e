"""Configuration: the retry policy (chosen by ``reduce_only``), pricing limits, tolerances.

Defaults follow docs/design.md, The leg machine. A config can be loaded from TOML; money
values are quoted strings (``dust_tolerance = "0.001"``), durations are seconds.
Unknown keys and bad values fail with the path of the offending field::

    [opening]
    max_attempts = 8
    budget = 6.0

    [closing]
    budget = 3.0

A config cannot contradict itself: settings that cannot all hold are refused,
naming both fields and their values (``config.opening.backoff 9.0 is longer
than config.opening.budget 6.0``) — from TOML or a mapping as a
:class:`~hedge_fsm.errors.ConfigError` with the fields' paths, from direct
construction as an :class:`~hedge_fsm.errors.InvalidValue`
(:class:`ContradictoryConfig`). The checks, and why each pair contradicts:

- ``backoff <= budget`` (per policy): the wait before the next attempt must fit
  in the time for all attempts, or the leg overruns its budget by the backoff.
- ``inside_tick_attempts <= max_attempts``: more attempts inside the spread
  than attempts in all is a policy that cannot be followed.
- ``poll_interval <= attempt_wait`` and ``poll_interval <= budget``: an order
  must be polled at least once while it rests, or its fills are seen only when
  it is cancelled.
- ``entry_poll_interval <= entry_timeout``: the entry must be looked at at
  least once before it times out.
- ``ambiguous_horizon >= call_timeouts.place``: a placement still in flight is
  possibly live at least as long as the driver waits for its answer.
- ``min_rest <= attempt_wait`` (both policies): an order rests at most its
  attempt's wait, so a longer minimum rest could never let the book reprice it.

Only what a user writes can contradict: a default that depends on another
field follows it (``backoff`` defaults to 0.075 s or the budget if shorter;
``inside_tick_attempts`` to 3 or ``max_attempts`` if fewer; ``poll_interval`` to
0.1 s or ``attempt_wait``/``budget`` if shorter; ``entry_poll_interval`` to
0.25 s or ``entry_timeout`` if shorter; ``ambiguous_horizon`` to 10 s or
``call_timeouts.place`` if longer; ``min_rest`` to 0.5 s or half the
shorter ``attempt_wait``), so ``HedgeConfig(entry_timeout=0.1)`` or
``RetryPolicy(max_attempts=2)`` is accepted as meant.

Not contradictions, so accepted: ``attempt_wait`` above ``budget`` (the wait
is capped by the budget left), call timeouts above a budget (a venue call may
outlast the limit phase; the market fallback follows), a ``stuck_timeout``
below a call timeout, and a fractional ``venue_order_rate`` (0.5 = one order
action every two seconds).
"""

from __future__ import annotations

import enum
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs

from hedge_fsm.convert import converter, structure_problems
from hedge_fsm.errors import ConfigError, InvalidValue
from hedge_fsm.validators import (
    boolean,
    enum_member,
    integer_at_least,
    non_negative_decimal,
    number_in,
    optional,
)

__all__ = [
    "CallTimeouts",
    "ContradictoryConfig",
    "EntryHandoff",
    "HedgeConfig",
    "HedgeMode",
    "PartialEntryPolicy",
    "RetryPolicy",
]


_positive_number = number_in(0, low_open=True)
_non_negative_number = number_in(0)
_positive_int = integer_at_least(1)
_non_negative_int = integer_at_least(0)
_non_negative_decimal = non_negative_decimal


class ContradictoryConfig(InvalidValue):
    """Two settings that cannot both hold; the message names each field and its value.

    ``fields`` maps each field's name to its value; ``owner`` is the class that
    holds them (``RetryPolicy`` or ``HedgeConfig``).
    """

    def __init__(self, owner: str, fields: dict[str, object], template: str) -> None:
        self.owner = owner
        self.fields = fields
        self._template = template
        super().__init__(self.render_fields(f"{owner}."))

    def render_fields(self, prefix: str) -> str:
        """The message with every field named ``prefix + name`` (a class name or a config path)."""
        return self._template.format(
            **{name.replace(".", "_"): f"{prefix}{name} {value!r}" for name, value in self.fields.items()}
        )


def _capped(default: Any, *caps: object) -> Any:
    """A default that never contradicts the fields it depends on: the least of it and them.

    Values that are not numbers are left to the fields' own validators to report.
    """
    numbers = [c for c in caps if isinstance(c, int | float) and not isinstance(c, bool)]
    return min([default, *numbers])


_POLICY_CAPS: dict[str, tuple[str, ...]] = {
    "backoff": ("budget",),
    "inside_tick_attempts": ("max_attempts",),
    "poll_interval": ("attempt_wait", "budget"),
}
"""RetryPolicy fields whose default is capped by other fields (see ``_capped``)."""


def _require(ok: bool, owner: str, fields: dict[str, object], template: str) -> None:
    if not ok:
        raise ContradictoryConfig(owner, fields, template)


class HedgeMode(enum.StrEnum):
    """How legs are hedged."""

    AGGRESSIVE_LIMIT = "aggressive_limit"
    """Break-even, inside spread, touch, then market fallback (the default)."""
    MARKET = "market"
    """The seed's simple market hedge: one market order for what remains."""


class PartialEntryPolicy(enum.StrEnum):
    """What to do when the entry times out with partial fills and no trigger."""

    HEDGE = "hedge"
    """Hedge the other legs up to the leg with the largest fill (in tokens)."""
    ROLLBACK = "rollback"
    """Flatten every fill."""


class EntryHandoff(enum.StrEnum):
    """What happens to the other legs' resting entry orders when the trigger fills."""

    ADOPT = "adopt"
    """An entry order still live on the hedge side is kept: it becomes the leg's first hedge
    attempt (its fills count, its quantity is amended down to the target when larger, never
    up), so the hedge is working at the venue the moment the trigger fills (the default)."""
    CANCEL = "cancel"
    """Every other entry order is cancelled and confirmed before the targets are computed;
    the legs then price and place new orders (one round trip more, at the back of the queue)."""


def _entry_handoff(value: Any) -> Any:
    """``"adopt"``/``"cancel"`` as the enum; anything else is left to the validator to name."""
    if isinstance(value, str) and not isinstance(value, EntryHandoff):
        try:
            return EntryHandoff(value)
        except ValueError:
            raise InvalidValue(
                f"HedgeConfig.entry_handoff must be one of {[m.value for m in EntryHandoff]}, "
                f"got {value!r}",
                field="entry_handoff",
            ) from None
    return value


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard a leg tries with limit orders before the market fallback.

    Durations are seconds.
    """

    max_attempts: int = attrs.field(default=8, validator=_positive_int)
    budget: float = attrs.field(default=6.0, validator=_positive_number)
    """Total time for limit attempts, from the leg's start."""
    backoff: float = attrs.field(
        default=attrs.Factory(lambda self: _capped(0.075, self.budget), takes_self=True),
        validator=_non_negative_number,
    )
    """The wait before the next attempt. Default 0.075, or the budget when that is shorter."""
    inside_tick_attempts: int = attrs.field(
        default=attrs.Factory(lambda self: _capped(3, self.max_attempts), takes_self=True),
        validator=_non_negative_int,
    )
    """Attempts priced inside the spread (break-even counts as one) before the touch.
    Default 3, or ``max_attempts`` when that is fewer."""
    attempt_wait: float = attrs.field(default=1.5, validator=_positive_number)
    """How long one order may rest before it is cancelled (capped by the budget left)."""
    poll_interval: float = attrs.field(
        default=attrs.Factory(
            lambda self: _capped(0.1, self.attempt_wait, self.budget), takes_self=True
        ),
        validator=_positive_number,
    )
    """How often a resting order is looked at (at least once per ``attempt_wait``). Default
    0.1, or ``attempt_wait`` or ``budget`` when shorter."""

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        _require(
            self.backoff <= self.budget, owner, {"backoff": self.backoff, "budget": self.budget},
            "{backoff} is longer than {budget}: the wait before the next attempt must fit in "
            "the time for all attempts",
        )
        _require(
            self.inside_tick_attempts <= self.max_attempts, owner,
            {"inside_tick_attempts": self.inside_tick_attempts, "max_attempts": self.max_attempts},
            "{inside_tick_attempts} is more than {max_attempts}: the attempts inside the spread "
            "are part of all attempts",
        )
        _require(
            self.poll_interval <= self.attempt_wait, owner,
            {"poll_interval": self.poll_interval, "attempt_wait": self.attempt_wait},
            "{poll_interval} is longer than {attempt_wait}: a resting order must be polled at "
            "least once before it is cancelled",
        )
        _require(
            self.poll_interval <= self.budget, owner,
            {"poll_interval": self.poll_interval, "budget": self.budget},
            "{poll_interval} is longer than {budget}: an order must be polled at least once "
            "within the budget",
        )


@attrs.frozen(kw_only=True)
class CallTimeouts:
    """The longest the driver waits for one venue call, per operation (seconds, on the clock).

    A placement that times out is an ambiguous outcome (the order may exist: it is looked
    up); any other call that times out is a failed call, retried by the machine's own rules.
    """

    place: float = attrs.field(default=2.0, validator=_positive_number)
    cancel: float = attrs.field(default=2.0, validator=_positive_number)
    query: float = attrs.field(default=2.0, validator=_positive_number)
    bbo: float = attrs.field(default=1.0, validator=_positive_number)
    position: float = attrs.field(default=2.0, validator=_positive_number)

    @property
    def longest(self) -> float:
        """The longest of the timeouts: what one venue call can add to a hedge's duration."""
        return max(self.place, self.cancel, self.query, self.bbo, self.position)


OPENING_DEFAULTS = RetryPolicy()
CLOSING_DEFAULTS = RetryPolicy(max_attempts=5, budget=3.0, backoff=0.05, inside_tick_attempts=2)


@attrs.frozen(kw_only=True)
class HedgeConfig:
    """Everything that tunes a hedge. ``policy_for(reduce_only)`` picks the retry policy."""

    opening: RetryPolicy = OPENING_DEFAULTS
    """Policy for legs that open or add to a position."""
    closing: RetryPolicy = CLOSING_DEFAULTS
    """Policy for ``reduce_only`` legs (closing is more urgent)."""
    mode: HedgeMode = HedgeMode.AGGRESSIVE_LIMIT
    break_even: bool = attrs.field(default=True, validator=boolean)
    """Try the break-even price once, on the first attempt, when it is feasible."""
    break_even_include_fees: bool = attrs.field(default=True, validator=boolean)
    break_even_max_ticks: int = attrs.field(default=2, validator=_non_negative_int)
    """How far (ticks) break-even may sit behind the inside-spread price and still be tried."""
    dust_tolerance: Decimal = attrs.field(default=Decimal(0), validator=_non_negative_decimal)
    """A remainder at or below this (contracts) counts as hedged; it is still reported."""
    lookup_attempts: int = attrs.field(default=3, validator=_positive_int)
    """Not-found answers after an ambiguous placement before it is taken as never placed."""
    stuck_timeout: float = attrs.field(default=10.0, validator=_positive_number)
    """How long a leg waits for a venue to confirm a cancel or an unknown order."""
    entry_timeout: float = attrs.field(default=30.0, validator=_positive_number)
    entry_poll_interval: float = attrs.field(
        default=attrs.Factory(lambda self: _capped(0.25, self.entry_timeout), takes_self=True),
        validator=_positive_number,
    )
    """How often the resting entry is looked at. Default 0.25, or ``entry_timeout`` when shorter."""
    partial_entry_policy: PartialEntryPolicy = PartialEntryPolicy.HEDGE
    rollback_attempts: int = attrs.field(default=3, validator=_positive_int)
    rollback_budget: float = attrs.field(default=10.0, validator=_positive_number)
    max_orders_per_leg: int = attrs.field(default=32, validator=_positive_int)
    """Hard cap on orders one leg may send, whatever the venue does (the last one is the market
    fallback; past the cap the leg ends in ``rollback``, never in a loop)."""
    venue_order_rate: float = attrs.field(default=20.0, validator=_positive_number)
    """Most order actions (places and cancels) per second per venue, across all hedges of an
    engine; a burst of this many is allowed, the rest wait their turn."""
    call_timeouts: CallTimeouts = attrs.Factory(CallTimeouts)
    """Per-operation bounds on every venue call."""
    ambiguous_horizon: float = attrs.field(
        default=attrs.Factory(
            lambda self: max(10.0, getattr(self.call_timeouts, "place", 10.0)), takes_self=True
        ),
        validator=_positive_number,
    )
    """Where a venue has no request validity window: how long after sending an ambiguous
    placement that the venue never showed is still taken as possibly live (its quantity
    reserved). Its id is watched after that, so a late appearance is cancelled and counted.
    Default 10, or ``call_timeouts.place`` when longer."""
    position_settle_delay: float = attrs.field(default=0.5, validator=_non_negative_number)
    """How long after the last fill a position read is trusted to include it (venues report
    positions behind fills)."""
    max_entry_distance_bps: float = attrs.field(default=1000.0, validator=_positive_number)
    """Refuse an entry whose limit price lies more than this many basis points outside its
    venue's book (a buy above the ask or below the bid, a sell the other way round), measured
    before anything is sent: a limit 100x off the market is a typo, not a strategy."""
    entry_handoff: EntryHandoff = attrs.field(
        default=EntryHandoff.ADOPT, converter=_entry_handoff,
        validator=enum_member(EntryHandoff),
    )
    """When the trigger fills: adopt the other legs' live entry orders as their first hedge
    attempt (``"adopt"``), or cancel them first (``"cancel"``). See :class:`EntryHandoff`."""
    # ---- repricing on the book (issue 13 item 2)
    min_rest: float | None = attrs.field(
        default=attrs.Factory(
            lambda self: _capped(
                0.5,
                # Half the shorter attempt wait: the order still has time to be repriced.
                *(
                    wait / 2
                    for wait in (
                        getattr(self.opening, "attempt_wait", None),
                        getattr(self.closing, "attempt_wait", None),
                    )
                    if isinstance(wait, int | float) and not isinstance(wait, bool)
                ),
            ),
            takes_self=True,
        ),
        validator=optional(_non_negative_number),
    )
    """How long a working limit order rests before a book update may reprice it (seconds), so
    that queue priority is not thrown away on noise; None: reprice only when the attempt's time
    is up. Default 0.5, or half the shorter ``attempt_wait`` of the two policies."""
    # ---- urgency (issue 13 item 2): the price of waiting
    risk_aversion: float = attrs.field(default=1.0, validator=_non_negative_number)
    """λ: how many bps of cost one standard deviation of the move on the unhedged quantity is
    worth (the risk penalty ``λ·σ·√t``). A resting hedge order waits for a maker fill only while
    the risk it has added since the trigger is below what crossing would cost (spread plus the
    taker-maker fee gap); past that it crosses. 0: never cross early (the plain ladder)."""
    volatility_bps: float | None = attrs.field(default=None, validator=optional(_non_negative_number))
    """The hedged underlying's volatility (bps per √second), your estimate, used until a leg has
    measured its own from the book (three updates over a quarter second); None: no estimate, so a leg
    climbs the ladder on its own timers until it has measured one. The legs of one hedge are
    one underlying on several venues: one figure serves them all."""
    trim_before_unwind: bool = attrs.field(default=True, validator=boolean)
    """When a venue minimum (notional, quantity) leaves a hedge leg short by more than a lot,
    reduce the trigger leg by the unhedged amount (a market order) where that is placeable,
    instead of unwinding the whole position; False: always unwind (the earlier behaviour)."""

    def __attrs_post_init__(self) -> None:
        owner = type(self).__name__
        for policy_name in ("opening", "closing"):
            policy = getattr(self, policy_name)
            _require(
                self.min_rest is None or self.min_rest <= policy.attempt_wait, owner,
                {"min_rest": self.min_rest, f"{policy_name}.attempt_wait": policy.attempt_wait},
                "{min_rest} is longer than {" + policy_name + "_attempt_wait}: an order rests "
                "at most its attempt's wait, so it could never be repriced on the book",
            )
        _require(
            self.entry_poll_interval <= self.entry_timeout, owner,
            {"entry_poll_interval": self.entry_poll_interval, "entry_timeout": self.entry_timeout},
            "{entry_poll_interval} is longer than {entry_timeout}: the entry must be looked at "
            "at least once before it times out",
        )
        _require(
            self.ambiguous_horizon >= self.call_timeouts.place, owner,
            {"ambiguous_horizon": self.ambiguous_horizon,
             "call_timeouts.place": self.call_timeouts.place},
            "{ambiguous_horizon} is shorter than {call_timeouts_place}: a placement still in "
            "flight is possibly live at least as long as the driver waits for its answer",
        )

    def policy_for(self, reduce_only: bool) -> RetryPolicy:
        """The closing policy for reduce-only legs, the opening one otherwise."""
        return self.closing if reduce_only else self.opening

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> HedgeConfig:
        """Build from a plain mapping (as read from TOML); errors name the field's path.

        A partial ``[closing]`` table keeps the closing defaults for what it omits.
        """
        closing = data.get("closing")
        if isinstance(closing, dict):
            merged = {**converter.unstructure(CLOSING_DEFAULTS), **closing}
            for name, caps in _POLICY_CAPS.items():
                if name not in closing:
                    # As for a policy built directly: a default never contradicts what is given.
                    merged[name] = _capped(getattr(CLOSING_DEFAULTS, name), *(merged[c] for c in caps))
            data = {**data, "closing": merged}
        try:
            return converter.structure(data, cls)
        except cattrs.BaseValidationError as exc:
            problems = "; ".join(structure_problems(exc, "config"))
            raise ConfigError(f"invalid hedge config: {problems}") from None
        except InvalidValue as exc:
            raise ConfigError(f"invalid hedge config: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> HedgeConfig:
        """Load from a TOML file; unknown keys and bad values raise :class:`ConfigError`."""
        source = Path(path)
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{source}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start}); a config file is UTF-8 TOML"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config: {exc.strerror}") from None
        try:
            return cls.from_mapping(data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def to_mapping(self) -> dict[str, Any]:
        """The config as plain data (Decimals as strings), the inverse of :meth:`from_mapping`."""
        result: dict[str, Any] = converter.unstructure(self)
        return result
