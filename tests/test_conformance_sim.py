"""The venue conformance kit against the simulated venue, and against deliberately broken venues.

The simulated venue (every preset, calm and volatile markets, each way of refusing a
crossing post-only order) must pass every scenario; each broken wrapper around it
must be reported as the failed scenario that names its bug. Everything runs on
virtual time (``hedge_fsm.sim.run``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest

from hedge_fsm import OrderInfo, OrderStatus, RejectReason, Side, VenueRejected
from hedge_fsm.sim import PRESETS, FaultPlan, MarketModel, PostOnlyReject, SimVenue, run
from hedge_fsm.testing import (
    SCENARIO_NAMES,
    ConformanceFailure,
    ConformanceOptions,
    ConformanceReport,
    Outcome,
    check_venue,
    conformance_scenarios,
    run_scenario,
    sim_hooks,
)
from hedge_fsm.venue import VenueCapabilities

PRESET_SYMBOLS = {
    "binance": ("BTCUSDT", "PEPEUSDT"),
    "hyperliquid": ("BTC", "kPEPE"),
    "lighter": ("BTC", "kPEPE"),
}


def sim_venue(
    preset: str = "binance",
    *,
    seed: int = 1,
    scenario: str = "calm",
    faults: FaultPlan | None = None,
    **overrides: Any,
) -> SimVenue:
    """A preset venue on its own market (build it inside the ``run`` that uses it)."""
    built = PRESETS[preset]()
    if overrides:
        built = attrs.evolve(built, **overrides)
    return built.build(MarketModel(seed=seed), seed=seed, scenario=scenario, faults=faults)


LAGGING = FaultPlan(understate_cancel=1.0, position_lag=1.0, position_lag_max=2.0)
"""Every cancel reply understates the fill; every fill reaches position reads up to 2 s late."""


def check(venue_factory: Callable[[], Any], symbol: str, **kwargs: Any) -> tuple[ConformanceReport, SimVenue]:
    """Build the venue and run the whole kit on one virtual-time loop."""

    async def main() -> tuple[ConformanceReport, SimVenue]:
        venue = venue_factory()
        inner = getattr(venue, "inner", venue)
        report = await check_venue(venue, symbol, hooks=sim_hooks(inner), **kwargs)
        return report, inner

    return run(main())


def assert_clean(venue: SimVenue) -> None:
    """The kit's promise: no open order, every position back where it started (flat)."""
    assert venue.open_orders() == []
    assert all(position == 0 for position in venue.positions().values()), venue.positions()


@pytest.mark.parametrize("scenario", ["calm", "volatile"])
@pytest.mark.parametrize(
    ("preset", "symbol"), [(p, s) for p, symbols in PRESET_SYMBOLS.items() for s in symbols]
)
def test_every_preset_passes_every_scenario_and_is_left_clean(
    preset: str, symbol: str, scenario: str
) -> None:
    """Each simulated preset keeps the whole contract, in a calm and a volatile market, on every symbol."""
    report, venue = check(lambda: sim_venue(preset, scenario=scenario), symbol)
    assert report.failed == (), report.summary()
    assert report.passed == SCENARIO_NAMES, report.summary()
    assert_clean(venue)
    # The scenarios that need fills really traded (and traded back): the kit is not vacuous.
    assert len(venue.fills) >= 6


@pytest.mark.parametrize("how", list(PostOnlyReject))
def test_each_way_of_refusing_post_only_is_understood(how: PostOnlyReject) -> None:
    """A raised POST_ONLY refusal and a REJECTED or EXPIRED order with that reason all pass."""
    report, venue = check(
        lambda: sim_venue("hyperliquid", post_only_reject=how), "BTC", scenarios=["post_only_cross_refused"]
    )
    assert report.result("post_only_cross_refused").outcome is Outcome.PASSED, report.summary()
    assert_clean(venue)
    refusals = [line for line in venue.log.lines() if "would take liquidity" in line]
    assert len(refusals) == 2  # the buy and the sell were both judged against the book


def test_without_hooks_or_taker_fills_the_fill_scenarios_are_skipped() -> None:
    """No way to make a fill: the three scenarios that need one say so, the rest still pass."""

    async def main() -> ConformanceReport:
        venue = sim_venue("lighter")
        return await check_venue(venue, "BTC", options=ConformanceOptions(taker_fills=False))

    report = run(main())
    assert set(report.skipped) == {
        "position_sign",
        "cancel_after_fill_returns_filled",
        "cancel_returns_partial_fill",
    }
    assert report.failed == ()
    assert "taker_fills" in report.result("position_sign").reason
    assert "fill_resting" in report.result("cancel_returns_partial_fill").reason


@pytest.mark.parametrize("scenario", conformance_scenarios())
def test_the_pytest_form_runs_one_scenario_per_test(scenario: str) -> None:
    """``run_scenario`` + ``ScenarioResult.check``: the parametrised form a user writes."""

    async def main() -> Any:
        venue = sim_venue("binance", seed=7)
        return await run_scenario(scenario, venue, "BTCUSDT", hooks=sim_hooks(venue)), venue

    result, venue = run(main())
    result.check()
    assert result.name == scenario and result.passed
    assert_clean(venue)


# --------------------------------------------------------------------------- broken venues


class Wrapper:
    """Delegates every call to a simulated venue; subclasses break one promise."""

    def __init__(self, inner: SimVenue) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = getattr(inner, "capabilities", VenueCapabilities())

    async def instrument(self, symbol: str) -> Any:
        return await self.inner.instrument(symbol)

    async def best_bid_offer(self, symbol: str) -> Any:
        return await self.inner.best_bid_offer(symbol)

    async def place_limit(self, symbol: str, side: Side, quantity: Decimal, price: Decimal, **kw: Any) -> Any:
        return self.answer(await self.inner.place_limit(symbol, side, quantity, price, **kw))

    async def place_market(self, symbol: str, side: Side, quantity: Decimal, **kw: Any) -> Any:
        return self.answer(await self.inner.place_market(symbol, side, quantity, **kw))

    async def cancel(self, symbol: str, order_id: str) -> Any:
        return self.answer(await self.inner.cancel(symbol, order_id))

    async def order(self, symbol: str, **kw: Any) -> Any:
        return self.answer(await self.inner.order(symbol, **kw))

    async def position(self, symbol: str) -> Any:
        return await self.inner.position(symbol)

    def answer(self, info: OrderInfo) -> Any:
        return info


class DropsClientId(Wrapper):
    """Answers carry the venue's own id where the client id belongs (a common parsing slip)."""

    def answer(self, info: OrderInfo) -> Any:
        return attrs.evolve(info, client_order_id=f"venue-{info.order_id}")


class PostOnlyAsOther(Wrapper):
    """Maps the venue's post-only refusal to a generic one (Aster's -5022, issue 12)."""

    async def place_limit(self, symbol: str, side: Side, quantity: Decimal, price: Decimal, **kw: Any) -> Any:
        try:
            return await super().place_limit(symbol, side, quantity, price, **kw)
        except VenueRejected as error:
            if error.reason is RejectReason.POST_ONLY:
                raise VenueRejected(str(error), reason=RejectReason.OTHER, venue=self.name) from error
            raise


class ReturnsFloats(Wrapper):
    """Parses prices and positions with float() (bypassing the values' own validation)."""

    def answer(self, info: OrderInfo) -> Any:
        broken = copy.copy(info)
        if info.price is not None:
            object.__setattr__(broken, "price", float(info.price))
        return broken

    async def position(self, symbol: str) -> Any:
        return float(await self.inner.position(symbol))


class CancelLosesFill(Wrapper):
    """Reports a cancel as CANCELED with nothing filled, whatever filled before."""

    async def cancel(self, symbol: str, order_id: str) -> Any:
        info = await self.inner.cancel(symbol, order_id)
        return attrs.evolve(
            info,
            status=OrderStatus.CANCELED,
            filled_quantity=Decimal(0),
            average_price=None,
            maker_quantity=None,
        )


class WrongPositionSign(Wrapper):
    """Reads a short as positive (the venue's ``side`` field ignored)."""

    async def position(self, symbol: str) -> Any:
        return -(await self.inner.position(symbol))


class ClaimsClientIdLookup(Wrapper):
    """Declares lookups by client id but cannot do them (what Lighter through ccxt does)."""

    async def order(self, symbol: str, **kw: Any) -> Any:
        if kw.get("client_order_id") is not None and kw.get("order_id") is None:
            raise NotImplementedError("fetch_order by client id is not supported")
        return await super().order(symbol, **kw)


@pytest.mark.parametrize(
    ("wrapper", "expected", "says"),
    [
        (DropsClientId, {"client_order_id_round_trip"}, "client_order_id 'venue-"),
        (PostOnlyAsOther, {"post_only_cross_refused"}, "reason other, not POST_ONLY"),
        (ReturnsFloats, {"decimal_everywhere"}, "float"),
        (
            CancelLosesFill,
            {"cancel_after_fill_returns_filled", "cancel_returns_partial_fill"},
            "fill was lost",
        ),
        (WrongPositionSign, {"position_sign"}, "a buy makes it more positive"),
        (
            ClaimsClientIdLookup,
            {"lookup_by_client_id", "capabilities_consistent", "unknown_order_not_found"},
            "NotImplementedError",
        ),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_a_broken_venue_is_reported_as_the_scenario_it_breaks(
    wrapper: type[Wrapper], expected: set[str], says: str
) -> None:
    """Each deliberate bug fails the scenario(s) that guard it, and those scenarios say why."""
    report, venue = check(lambda: wrapper(sim_venue("binance", seed=5)), "BTCUSDT")
    assert expected <= set(report.failed), report.summary()
    for name in expected & {
        "client_order_id_round_trip",
        "post_only_cross_refused",
        "decimal_everywhere",
        "cancel_returns_partial_fill",
        "position_sign",
    }:
        assert says in report.result(name).reason, report.summary()
    with pytest.raises(ConformanceFailure):
        report.raise_for_failures()
    # However broken the venue, the kit cleaned up after itself.
    assert venue.open_orders() == []
    assert venue.positions()["BTCUSDT"] == 0


def test_the_precise_bugs_fail_nothing_else() -> None:
    """A bug confined to one promise fails only the scenario(s) of that promise."""
    for wrapper, expected in (
        (DropsClientId, ("client_order_id_round_trip",)),
        (PostOnlyAsOther, ("post_only_cross_refused",)),
        (CancelLosesFill, ("cancel_after_fill_returns_filled", "cancel_returns_partial_fill")),
    ):
        report, _ = check(lambda w=wrapper: w(sim_venue("binance", seed=5)), "BTCUSDT")
        assert report.failed == expected, report.summary()


def test_a_failed_result_raises_for_pytest_and_a_summary_lists_each_scenario() -> None:
    """``check()`` turns a failure into an AssertionError naming the scenario and the reason."""

    async def main() -> Any:
        venue = PostOnlyAsOther(sim_venue("binance", seed=2))
        return await run_scenario("post_only_cross_refused", venue, "BTCUSDT")

    result = run(main())
    assert result.outcome is Outcome.FAILED
    with pytest.raises(AssertionError, match="post_only_cross_refused: failed"):
        result.check()


def test_a_venue_that_declares_its_lagging_cancel_replies_passes() -> None:
    """Understated cancel replies are allowed when declared (``reports_cancel_early``) and a lookup
    tells the truth; lagging position reads are waited for."""
    report, venue = check(lambda: sim_venue("binance", faults=LAGGING), "BTCUSDT")
    assert venue.capabilities.reports_cancel_early
    assert report.failed == (), report.summary()
    assert any("understated" in line for line in venue.log.lines())  # the fault really happened
    assert any("reports_cancel_early" in note for note in report.result("cancel_returns_partial_fill").notes)
    assert_clean(venue)


class HidesCancelLag(Wrapper):
    """A venue whose cancel replies understate fills, but whose capabilities do not say so."""

    def __init__(self, inner: SimVenue) -> None:
        super().__init__(inner)
        self.capabilities = attrs.evolve(inner.capabilities, reports_cancel_early=False)


def test_understated_cancel_replies_without_the_capability_fail() -> None:
    """The same venue, undeclared: the final fill is lost as far as the engine can tell."""
    report, venue = check(lambda: HidesCancelLag(sim_venue("binance", faults=LAGGING)), "BTCUSDT")
    assert report.failed == ("cancel_returns_partial_fill",), report.summary()
    assert "reports_cancel_early" in report.result("cancel_returns_partial_fill").reason
    assert_clean(venue)


class NoLookups(Wrapper):
    """A venue with no order lookup at all (Lighter through ccxt has no ``fetch_order``), and says so."""

    def __init__(self, inner: SimVenue) -> None:
        super().__init__(inner)
        self.capabilities = attrs.evolve(inner.capabilities, order_lookup=False, lookup_by_client_id=False)

    async def order(self, symbol: str, **kw: Any) -> Any:
        raise NotImplementedError("this venue cannot look orders up")


def test_a_venue_that_declares_no_lookups_skips_them_and_keeps_the_rest() -> None:
    """Undeclared lookups are skipped, not failed; every other promise is still checked, and the
    kit cleans up without ever looking an order up."""
    report, venue = check(lambda: NoLookups(sim_venue("lighter", seed=4)), "BTC")
    assert report.failed == (), report.summary()
    assert set(report.skipped) == {"lookup_by_order_id", "lookup_by_client_id"}
    assert_clean(venue)


class AcceptsThenRefuses(Wrapper):
    """Acknowledges a crossing post-only order OPEN and refuses it a moment later (Bitget, KuCoin,
    Extended do: the refusal shows in the order's status); with ``never_refuses`` it just rests."""

    def __init__(self, inner: SimVenue, *, never_refuses: bool = False) -> None:
        super().__init__(inner)
        self.never_refuses = never_refuses
        self.accepted: dict[str, OrderInfo] = {}

    async def place_limit(self, symbol: str, side: Side, quantity: Decimal, price: Decimal, **kw: Any) -> Any:
        try:
            return await super().place_limit(symbol, side, quantity, price, **kw)
        except VenueRejected as error:
            if error.reason is not RejectReason.POST_ONLY:
                raise
            info = OrderInfo(
                order_id=f"late-{len(self.accepted) + 1}",
                client_order_id=kw["client_order_id"],
                symbol=symbol,
                side=side,
                quantity=quantity,
                price=price,
                status=OrderStatus.OPEN,
            )
            self.accepted[info.order_id] = info
            return info

    def settled(self, order_id: str, status: OrderStatus) -> OrderInfo:
        info = self.accepted[order_id]
        if self.never_refuses:
            info = attrs.evolve(info, status=status)
        else:
            info = attrs.evolve(info, status=OrderStatus.REJECTED, reject_reason=RejectReason.POST_ONLY)
        self.accepted[order_id] = info
        return info

    async def order(self, symbol: str, **kw: Any) -> Any:
        known = kw.get("order_id") in self.accepted
        by_client = [o for o in self.accepted.values() if o.client_order_id == kw.get("client_order_id")]
        if known or by_client:
            order_id = kw["order_id"] if known else by_client[0].order_id
            return self.settled(order_id, self.accepted[order_id].status)
        return await super().order(symbol, **kw)

    async def cancel(self, symbol: str, order_id: str) -> Any:
        if order_id in self.accepted:
            return self.settled(order_id, OrderStatus.CANCELED)
        return await super().cancel(symbol, order_id)


def test_a_post_only_refusal_seen_after_the_acknowledgement_passes_with_a_note() -> None:
    """Acknowledged OPEN, then REJECTED with POST_ONLY on the next lookup: the engine's poll sees
    that refusal, so the promise holds; the report notes how it came."""
    report, venue = check(lambda: AcceptsThenRefuses(sim_venue("binance", seed=3)), "BTCUSDT",
                          scenarios=["post_only_cross_refused"])  # fmt: skip
    result = report.result("post_only_cross_refused")
    assert result.outcome is Outcome.PASSED, report.summary()
    assert len(result.notes) == 2 and all("refused afterwards" in note for note in result.notes)
    assert_clean(venue)


def test_a_crossing_post_only_order_that_stays_open_fails() -> None:
    """Acknowledged OPEN and still OPEN when the kit gives up waiting: not a refusal."""
    report, _ = check(lambda: AcceptsThenRefuses(sim_venue("binance", seed=3), never_refuses=True), "BTCUSDT",
                      scenarios=["post_only_cross_refused"])  # fmt: skip
    assert report.failed == ("post_only_cross_refused",)
    assert "accepted: open (and still open" in report.result("post_only_cross_refused").reason
