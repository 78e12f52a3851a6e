"""Fault injection: what can go wrong between a bot and a venue, drawn from a seed.

Theory of operation
-------------------
A :class:`FaultPlan` is a frozen list of probabilities, one per fault kind
(all zero by default: an honest, always-up venue), plus outage windows. A
:class:`SimVenue <hedge_fsm.sim.venue.SimVenue>` draws from its own seeded
stream when a request is *sent* and applies the outcome when the request
*arrives* at the venue (after the request latency):

==================  ==============  ==========================================================
fault               calls           effect
==================  ==============  ==========================================================
rate limit          every call      ``VenueRejected(RATE_LIMITED)``; nothing was done
place reject        places          ``VenueRejected(OTHER)``; nothing was created
timeout             places, cancel  ``AmbiguousOutcome`` after response latency +
                                    ``timeout_delay``; with ``timeout_processed``
                                    the venue *did* act (the order exists / the cancel
                                    happened), else the request was lost
lost ack            places, cancel  the venue acted, the reply is replaced by ``AmbiguousOutcome``
duplicate report    ``order()``     the snapshot this venue last reported for the order, again
stale report        ``order()``     an older snapshot of the order (out of order), never a
                                    future one
stale BBO           ``best_bid_``   the quote as it was up to ``stale_bbo_age`` seconds ago
                    ``offer()``     (its ``timestamp`` says when)
outage              every call      during ``[start, end)`` (by arrival time):
                    but             ``VenueRejected(VENUE_UNAVAILABLE)``, nothing done. With
                    ``instrument``  ``outage_places_ambiguous`` places raise ``AmbiguousOutcome``
                                    instead (and are not processed), like a gateway that hangs
hang                per operation   the reply never comes (the call awaits forever: only the
                    (``hang_*``)    caller's own timeout ends it); a hung place or cancel was
                                    processed with probability ``timeout_processed``
late place          places          ``AmbiguousOutcome`` as for a timeout, but the request
                                    reaches the matching engine only ``uniform(late_delay_min,
                                    late_delay_max)`` seconds after it would have (after the
                                    client's first lookups found nothing); the venue still
                                    refuses it if its request window has passed
understated cancel  cancel          the cancel reply reports CANCELED with less filled than the
                                    truth (uniform in ``[0, filled)``); later lookups tell the
                                    truth (only when the order had filled something)
lagging position    fills           the fill reaches position reads only ``uniform(0,
                                    position_lag_max]`` seconds after it happened
lagging replica     ``order()``     the lookup is served by a replica ``uniform(0,
                                    replica_lag_max]`` seconds behind the matching engine:
                                    an order younger than that is not found
                                    (``OrderNotFound``), even one already acknowledged
==================  ==============  ==========================================================

Ambiguous outcomes surface only *after* the venue's processing time, so a
lookup by client order id made after the error sees the truth -- except for a
*late* place, whose order appears only later (what makes "not found" no proof
that an ambiguous order is dead). Faults change what the client is told and
when, never the venue's own state: no order fills beyond its quantity, and a
report with a terminal status carries the order's final fill, except the
understated cancel reply (a lookup then tells the truth).

Every new fault kind draws nothing while its probability is zero, so plans
written before it existed replay the same streams (same seed, same log).
"""

from __future__ import annotations

import enum
import random
from typing import Any

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.validators import number_in

__all__ = ["Fault", "FaultInjector", "FaultPlan"]


_probability = number_in(0.0, 1.0, what="a probability")
_seconds = number_in(0.0, what="seconds")


def _windows(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple):
        raise InvalidValue(f"FaultPlan.outages must be a tuple of (start, end), got {value!r}")
    for window in value:
        if (
            not isinstance(window, tuple)
            or len(window) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in window)
            or not window[0] < window[1]
        ):
            raise InvalidValue(
                f"FaultPlan.outages entries must be (start, end) with start < end, got {window!r}"
            )


@attrs.frozen(kw_only=True)
class FaultPlan:
    """Probabilities per fault kind (per call), outage windows, and the seed of the draws.

    Outages are ``outages`` (absolute ``[start, end)`` windows of virtual time)
    and, when ``outage_every > 0``, the last ``outage_duration`` seconds of
    every ``outage_every`` seconds.
    """

    seed: int = 0
    rate_limit: float = attrs.field(default=0.0, validator=_probability)
    place_reject: float = attrs.field(default=0.0, validator=_probability)
    place_timeout: float = attrs.field(default=0.0, validator=_probability)
    cancel_timeout: float = attrs.field(default=0.0, validator=_probability)
    timeout_processed: float = attrs.field(default=0.5, validator=_probability)
    """Probability that a timed-out request was processed by the venue anyway."""
    timeout_delay: float = attrs.field(default=0.5, validator=_seconds)
    """How much later than the reply would have come a timeout is reported."""
    lost_ack: float = attrs.field(default=0.0, validator=_probability)
    duplicate_report: float = attrs.field(default=0.0, validator=_probability)
    stale_report: float = attrs.field(default=0.0, validator=_probability)
    stale_bbo: float = attrs.field(default=0.0, validator=_probability)
    stale_bbo_age: float = attrs.field(default=1.0, validator=_seconds)
    """Maximum age of a stale quote, in seconds (uniform in ``(0, age]``)."""
    outages: tuple[tuple[float, float], ...] = attrs.field(default=(), validator=_windows)
    outage_every: float = attrs.field(default=0.0, validator=_seconds)
    outage_duration: float = attrs.field(default=0.0, validator=_seconds)
    outage_places_ambiguous: bool = False
    """During an outage, places time out (not processed) instead of being refused."""
    hang_place: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a place never gets a reply (processed per ``timeout_processed``)."""
    hang_cancel: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a cancel never gets a reply (processed per ``timeout_processed``)."""
    hang_query: float = attrs.field(default=0.0, validator=_probability)
    """Probability that an order lookup never gets a reply."""
    hang_bbo: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a top-of-book read never gets a reply."""
    hang_position: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a position read never gets a reply."""
    late_place: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a place times out and its order reaches the venue late."""
    late_delay_min: float = attrs.field(default=0.2, validator=_seconds)
    late_delay_max: float = attrs.field(default=5.0, validator=_seconds)
    """A late place arrives ``uniform(late_delay_min, late_delay_max)`` seconds late."""
    understate_cancel: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a cancel reply understates the order's fill."""
    position_lag: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a fill reaches position reads late."""
    position_lag_max: float = attrs.field(default=0.5, validator=_seconds)
    """A lagging fill shows in position reads ``uniform(0, position_lag_max]`` seconds late."""
    replica_lag: float = attrs.field(default=0.0, validator=_probability)
    """Probability that an order lookup is served by a replica behind the matching engine
    (DEX API servers): an order younger than the replica's lag is not found."""
    replica_lag_max: float = attrs.field(default=1.0, validator=_seconds)
    """A lagging replica is ``uniform(0, replica_lag_max]`` seconds behind."""

    def __attrs_post_init__(self) -> None:
        if self.late_delay_min > self.late_delay_max:
            raise InvalidValue(
                f"FaultPlan.late_delay_min {self.late_delay_min!r} must not exceed "
                f"FaultPlan.late_delay_max {self.late_delay_max!r}",
                field="late_delay_min",
            )

    @property
    def is_quiet(self) -> bool:
        """True when no random fault can happen (outages aside)."""
        return not any(
            (
                self.rate_limit,
                self.place_reject,
                self.place_timeout,
                self.cancel_timeout,
                self.lost_ack,
                self.duplicate_report,
                self.stale_report,
                self.stale_bbo,
                self.hang_place,
                self.hang_cancel,
                self.hang_query,
                self.hang_bbo,
                self.hang_position,
                self.late_place,
                self.understate_cancel,
                self.position_lag,
                self.replica_lag,
            )
        )

    @property
    def has_outages(self) -> bool:
        """True when the plan has an outage window or a recurring outage."""
        return bool(self.outages) or (self.outage_every > 0 and self.outage_duration > 0)

    def in_outage(self, time: float) -> bool:
        """Whether the venue is down at ``time``."""
        for start, end in self.outages:
            if start <= time < end:
                return True
        if self.outage_every > 0 and self.outage_duration > 0:
            return time % self.outage_every >= self.outage_every - self.outage_duration
        return False


class Fault(enum.Enum):
    """The fault drawn for one call."""

    NONE = "none"
    RATE_LIMITED = "rate_limited"
    PLACE_REJECT = "place_reject"
    TIMEOUT_LOST = "timeout_lost"
    """Timed out; the venue never saw the request."""
    TIMEOUT_PROCESSED = "timeout_processed"
    """Timed out; the venue acted on the request."""
    LOST_ACK = "lost_ack"
    DUPLICATE_REPORT = "duplicate_report"
    STALE_REPORT = "stale_report"
    STALE_BBO = "stale_bbo"
    HANG_LOST = "hang_lost"
    """The reply never comes; the venue never saw the request."""
    HANG_PROCESSED = "hang_processed"
    """The reply never comes; the venue acted on the request."""
    LATE = "late"
    """A place times out; its request reaches the venue late."""
    UNDERSTATE = "understate"
    """A cancel reply understates the fill."""
    REPLICA_LAG = "replica_lag"
    """An order lookup is served by a lagging replica (a young order is not found)."""


class FaultInjector:
    """Draws faults for one venue from the plan, on its own seeded stream.

    ``counts`` tallies the faults drawn per kind (outages included), for reports and tests.
    """

    def __init__(self, plan: FaultPlan, rng: random.Random) -> None:
        self.plan = plan
        self._rng = rng
        self._quiet = plan.is_quiet
        self._outages = plan.has_outages
        self.counts: dict[str, int] = {}

    def _hit(self, probability: float) -> bool:
        return probability > 0 and self._rng.random() < probability

    def _count(self, fault: Fault) -> Fault:
        if fault is not Fault.NONE:
            self.counts[fault.value] = self.counts.get(fault.value, 0) + 1
        return fault

    def _timeout(self) -> Fault:
        if self._rng.random() < self.plan.timeout_processed:
            return Fault.TIMEOUT_PROCESSED
        return Fault.TIMEOUT_LOST

    def _hang(self) -> Fault:
        if self._rng.random() < self.plan.timeout_processed:
            return Fault.HANG_PROCESSED
        return Fault.HANG_LOST

    def for_place(self) -> Fault:
        """The fault for a place (limit or market)."""
        if self._quiet:
            return Fault.NONE
        plan = self.plan
        if self._hit(plan.rate_limit):
            return self._count(Fault.RATE_LIMITED)
        if self._hit(plan.place_reject):
            return self._count(Fault.PLACE_REJECT)
        if self._hit(plan.place_timeout):
            return self._count(self._timeout())
        if self._hit(plan.lost_ack):
            return self._count(Fault.LOST_ACK)
        if self._hit(plan.hang_place):
            return self._count(self._hang())
        if self._hit(plan.late_place):
            return self._count(Fault.LATE)
        return Fault.NONE

    def for_cancel(self) -> Fault:
        """The fault for a cancel."""
        if self._quiet:
            return Fault.NONE
        plan = self.plan
        if self._hit(plan.rate_limit):
            return self._count(Fault.RATE_LIMITED)
        if self._hit(plan.cancel_timeout):
            return self._count(self._timeout())
        if self._hit(plan.lost_ack):
            return self._count(Fault.LOST_ACK)
        if self._hit(plan.hang_cancel):
            return self._count(self._hang())
        if self._hit(plan.understate_cancel):
            return self._count(Fault.UNDERSTATE)
        return Fault.NONE

    def for_order(self) -> Fault:
        """The fault for an order lookup."""
        if self._quiet:
            return Fault.NONE
        if self._hit(self.plan.rate_limit):
            return self._count(Fault.RATE_LIMITED)
        if self._hit(self.plan.duplicate_report):
            return self._count(Fault.DUPLICATE_REPORT)
        if self._hit(self.plan.stale_report):
            return self._count(Fault.STALE_REPORT)
        if self._hit(self.plan.hang_query):
            return self._count(Fault.HANG_LOST)
        if self._hit(self.plan.replica_lag):
            return self._count(Fault.REPLICA_LAG)
        return Fault.NONE

    def for_bbo(self) -> Fault:
        """The fault for a top-of-book read."""
        if self._quiet:
            return Fault.NONE
        if self._hit(self.plan.rate_limit):
            return self._count(Fault.RATE_LIMITED)
        if self._hit(self.plan.stale_bbo):
            return self._count(Fault.STALE_BBO)
        if self._hit(self.plan.hang_bbo):
            return self._count(Fault.HANG_LOST)
        return Fault.NONE

    def for_position(self) -> Fault:
        """The fault for a position read."""
        if self._quiet:
            return Fault.NONE
        if self._hit(self.plan.rate_limit):
            return self._count(Fault.RATE_LIMITED)
        if self._hit(self.plan.hang_position):
            return self._count(Fault.HANG_LOST)
        return Fault.NONE

    def in_outage(self, time: float) -> bool:
        """Whether the venue is down at ``time`` (counted as ``outage`` when it is)."""
        if not self._outages or not self.plan.in_outage(time):
            return False
        self.counts["outage"] = self.counts.get("outage", 0) + 1
        return True

    def stale_age(self) -> float:
        """How old a stale quote is: uniform in ``(0, stale_bbo_age]``."""
        return self.plan.stale_bbo_age * (1.0 - self._rng.random())

    def older_index(self, count: int) -> int:
        """Which of ``count`` earlier snapshots a stale report returns."""
        return self._rng.randrange(count)

    def late_delay(self) -> float:
        """How late a late place reaches the venue: uniform in ``[late_delay_min, late_delay_max]``."""
        return self._rng.uniform(self.plan.late_delay_min, self.plan.late_delay_max)

    def understated_lots(self, filled_lots: int) -> int:
        """What an understated cancel reply says was filled: uniform in ``[0, filled_lots)``."""
        return self._rng.randrange(filled_lots)

    def replica_age(self) -> float:
        """How far behind a lagging replica is: uniform in ``(0, replica_lag_max]``."""
        return self.plan.replica_lag_max * (1.0 - self._rng.random())

    def position_lag(self) -> float:
        """How late a fill reaches position reads: 0 (on time) or uniform in ``(0, max]``."""
        if not self._hit(self.plan.position_lag):
            return 0.0
        self.counts["position_lag"] = self.counts.get("position_lag", 0) + 1
        return self.plan.position_lag_max * (1.0 - self._rng.random())
