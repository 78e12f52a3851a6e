"""The supervisor's guarantees when venues are late or lie (issue 11, cases 5 and 6).

Each regression test runs the public API (``HedgeEngine``) on the scripted venue
in virtual time and asserts the *venue's* truth at the end, not the engine's
belief: every venue position equals its baseline plus what the results say was
traded, no order is left open, ``done`` is within one lot, ``rolled_back`` is
flat for the hedge's own fills, and anything else is ``failed`` with the
residual named.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from decimal import Decimal as D

import pytest

from hedge_fsm import (
    BBO,
    ExecutionResult,
    HedgeConfig,
    HedgeEngine,
    HedgeMode,
    HedgeResult,
    HedgeTarget,
    Instrument,
    InvalidValue,
    LegSpec,
    OrderInfo,
    RetryPolicy,
    Side,
)
from hedge_fsm.core.book import PositionBook
from hedge_fsm.sim.loop import run
from hedge_fsm.venue import VenueCapabilities
from tests.scripted import Place, ScriptedVenue

ZERO = D(0)
BTC = Instrument(
    symbol="BTC", tick_size=D("0.1"), lot_size=D("1"), min_quantity=D("1"), min_notional=ZERO,
)
LEGS = [
    LegSpec(venue="a", symbol="BTC", side=Side.BUY, quantity=D("5"), price=D("100.0")),
    LegSpec(venue="b", symbol="BTC", side=Side.SELL, quantity=D("5"), price=D("100.3")),
]
FAST = RetryPolicy(max_attempts=2, budget=1.0, backoff=0.0, attempt_wait=0.3, poll_interval=0.05)
MARKET = HedgeConfig(mode=HedgeMode.MARKET, opening=FAST, entry_timeout=5.0)

Action = tuple[float, Callable[[], object]]


def venue(name: str) -> ScriptedVenue:
    return ScriptedVenue(name, [BTC], {"BTC": BBO(bid=D("100.0"), ask=D("100.2"))})


def signed_traded(leg: HedgeResult) -> D:
    """What the result says the leg traded, net, signed (bought positive)."""
    assert leg.side is not None
    return leg.side.sign * (leg.filled_quantity - leg.rolled_back_quantity)


def run_hedges(
    venues: dict[str, ScriptedVenue],
    runs: Sequence[Callable[[HedgeEngine, str], object]],
    actions: Sequence[Action] = (),
    config: HedgeConfig = MARKET,
) -> list[ExecutionResult]:
    """Run hedges concurrently on one engine in virtual time, with scheduled venue actions.

    The i-th run is hedge ``h<i>`` whichever finishes its set-up reads first."""

    async def main() -> list[ExecutionResult]:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        engine = HedgeEngine(venues, config)
        results = await asyncio.gather(
            *(start(engine, f"h{i}") for i, start in enumerate(runs, 1))  # type: ignore[misc]
        )
        return list(results)

    results = run(main())
    for v in venues.values():
        assert v.live_orders() == [], f"open orders left on {v.name}: {v.live_orders()}"
    return results


def execute(legs: Sequence[LegSpec]) -> Callable[[HedgeEngine, str], object]:
    return lambda engine, hedge_id: engine.execute(legs, hedge_id=hedge_id)


def fill_entry(v: ScriptedVenue, hedge_id: str, leg: int) -> Callable[[], object]:
    return lambda: v.fill(v.by_client[f"{hedge_id}e{leg}n1"], D("5"))


def rollback_orders(v: ScriptedVenue, hedge_id: str, leg: int) -> list[dict[str, object]]:
    return [c for c in v.placed() if str(c["client_order_id"]).startswith(f"{hedge_id}r{leg}n")]


def assert_venue_truth(result: ExecutionResult, positions: Sequence[D], baselines: Sequence[D]) -> None:
    """Invariant 9: each leg's venue position moved by exactly what the result says it traded."""
    for leg, position, baseline in zip(result.legs, positions, baselines, strict=True):
        assert position == baseline + signed_traded(leg), (
            f"{leg.venue}: venue at {position}, baseline {baseline} + result {signed_traded(leg)}"
        )


# --------------------------------------------------------------------------- case 5: lagging reads, ADL


def test_case5_lagging_position_reads_never_make_rollback_unwind_twice() -> None:
    """Positions reported 0.3 s behind fills; the first rollback sell fills only 3 of 5.

    The second round must sell the 2 the ledgers say are left, whatever a read says,
    and ``rolled_back`` must wait for a read that shows the sells. Before: rounds were
    sized (and flatness judged) from reads that did not show the fills yet.
    """
    a, b = venue("a"), venue("b")
    a.position_lag = b.position_lag = 0.3
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 10)
    a.market_fill_ratio = D("0.6")

    def full_fills_after_the_first(order: OrderInfo) -> None:
        if order.price is None:  # a market order
            a.market_fill_ratio = None

    a.on_place = full_fills_after_the_first
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], [(0.5, fill_entry(a, "h1", 0))])
    assert result.state == "rolled_back", result.error_message
    orders = rollback_orders(a, "h1", 0)
    assert [(o["side"], o["quantity"], o["reduce_only"]) for o in orders] == [
        (Side.SELL, D("5"), True), (Side.SELL, D("2"), True)
    ]
    assert a.positions["BTC"] == ZERO and b.positions["BTC"] == ZERO
    assert_venue_truth(result, [a.positions["BTC"], b.positions["BTC"]], [ZERO, ZERO])
    assert result.error_message is not None  # not a clean hedge: the error is kept


def test_case5_reads_lagging_beyond_the_settle_delay_never_unwind_more_than_was_traded() -> None:
    """Reads 1.2 s behind with a 0.5 s settle delay: whatever the end, never more than 5 sold."""
    a, b = venue("a"), venue("b")
    a.position_lag = b.position_lag = 1.2
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 10)
    config = HedgeConfig(mode=HedgeMode.MARKET, opening=FAST, entry_timeout=5.0, rollback_attempts=5)
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], [(0.5, fill_entry(a, "h1", 0))], config)
    sold = sum((c["quantity"] for c in rollback_orders(a, "h1", 0)), ZERO)  # type: ignore[misc]
    assert sold <= D("5")
    assert result.state in ("rolled_back", "failed")
    if result.state == "rolled_back":
        assert a.positions["BTC"] == ZERO
    else:
        assert result.error_message is not None and "residual" in result.error_message
    assert_venue_truth(result, [a.positions["BTC"], b.positions["BTC"]], [ZERO, ZERO])


def test_case5_position_closed_by_the_venue_adl_is_reported_not_traded() -> None:
    """The venue auto-deleverages the 5 held before the rollback: no order is sent, ``failed``.

    Before: rollback sold 5 with a plain (not reduce-only) market order into a flat
    account, opening a naked short of 5.
    """
    a, b = venue("a"), venue("b")
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 10)
    actions: list[Action] = [
        (0.5, fill_entry(a, "h1", 0)),
        (0.6, lambda: a.shift_position("BTC", D("-5"))),  # ADL
    ]
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], actions)
    assert rollback_orders(a, "h1", 0) == []
    assert a.positions["BTC"] == ZERO, "the rollback opened a position the venue had closed"
    assert result.state == "failed"
    assert result.error_message is not None
    assert "residual" in result.error_message and "auto-deleverage" in result.error_message
    assert not any(leg.success for leg in result.legs)


def test_case5_partial_adl_unwinds_only_what_the_venue_still_shows_reduce_only() -> None:
    """2 of the 5 held are closed by the venue: 3 are sold back reduce-only, the 2 reported."""
    a, b = venue("a"), venue("b")
    b.script_place("BTC", Place("auto"), *[Place("reject")] * 10)
    actions: list[Action] = [
        (0.5, fill_entry(a, "h1", 0)),
        (0.6, lambda: a.shift_position("BTC", D("-2"))),
    ]
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], actions)
    orders = rollback_orders(a, "h1", 0)
    assert [(o["side"], o["quantity"], o["reduce_only"]) for o in orders] == [(Side.SELL, D("3"), True)]
    assert a.positions["BTC"] == ZERO
    assert result.state == "failed"
    assert result.error_message is not None and "residual" in result.error_message


# --------------------------------------------------------------------------- case 6: one book per engine


def test_case6_two_hedges_on_one_symbol_each_unwind_only_their_own_fills() -> None:
    """Two hedges share venue a's BTC; the second cannot hedge and rolls back.

    Its rollback must sell only its own 5 on a: the first hedge's 5 stay, and the
    first hedge ends ``done`` with the venue confirming it. Before: the second
    hedge took the account-wide position for its own and flattened the first's leg,
    which then reported ``done`` while naked.
    """
    a, b, c = venue("a"), venue("b"), venue("c")
    c.script_place("BTC", Place("auto"), *[Place("reject")] * 10)
    second = [LEGS[0], LegSpec(venue="c", symbol="BTC", side=Side.SELL, quantity=D("5"), price=D("100.3"))]
    actions: list[Action] = [(0.5, fill_entry(a, "h1", 0)), (0.7, fill_entry(a, "h2", 0))]
    first_result, second_result = run_hedges(
        {"a": a, "b": b, "c": c}, [execute(LEGS), execute(second)], actions
    )
    assert first_result.state == "done", first_result.error_message
    assert second_result.state == "rolled_back", second_result.error_message
    assert [o["quantity"] for o in rollback_orders(a, "h2", 0)] == [D("5")]
    assert rollback_orders(a, "h1", 0) == []
    assert a.positions["BTC"] == D("5") and b.positions["BTC"] == D("-5") and c.positions["BTC"] == ZERO
    # Venue a holds the sum of both hedges' results; b and c each one hedge's.
    assert a.positions["BTC"] == signed_traded(first_result.legs[0]) + signed_traded(second_result.legs[0])
    assert b.positions["BTC"] == signed_traded(first_result.legs[1])
    assert c.positions["BTC"] == signed_traded(second_result.legs[1])


def test_case6_two_hedges_on_one_symbol_both_done_are_both_confirmed() -> None:
    """Both hedges succeed on the shared symbol; each reconciles against the book, both ``done``."""
    a, b = venue("a"), venue("b")
    actions: list[Action] = [(0.5, fill_entry(a, "h1", 0)), (0.6, fill_entry(a, "h2", 0))]
    results = run_hedges({"a": a, "b": b}, [execute(LEGS), execute(LEGS)], actions)
    assert [r.state for r in results] == ["done", "done"]
    assert a.positions["BTC"] == D("10") and b.positions["BTC"] == D("-10")
    for venue_index, v in enumerate((a, b)):
        assert v.positions["BTC"] == sum((signed_traded(r.legs[venue_index]) for r in results), ZERO)


def test_case6_book_baseline_excludes_the_fills_of_hedges_still_live() -> None:
    """The book: a hedge opened while another is live gets a baseline without the other's fills.

    The venue read (here 3, lagging behind the first hedge's 5) is not used while
    another hedge is live: the book's own figure is. Once no hedge is live, a fresh
    read is the truth again.
    """
    book = PositionBook()
    assert book.open("h1", "a", "BTC", D("2")) == D("2")
    assert book.record("h1", "a", "BTC", D("5"), now=1.0)
    assert not book.record("h1", "a", "BTC", D("5"), now=2.0)  # no change: no new fill time
    assert book.last_fill_at("a", "BTC") == 1.0
    assert book.open("h2", "a", "BTC", D("3")) == D("2")
    assert book.expected("a", "BTC") == D("7")
    assert book.others_live("h2", "a", "BTC")
    book.close("h1", "a", "BTC")
    assert book.open("h3", "a", "BTC", D("0")) == D("7")  # h1 ended: its fills are the account's
    book.close("h2", "a", "BTC")
    book.close("h3", "a", "BTC")
    assert book.open("h4", "a", "BTC", D("6")) == D("6")  # nothing live: the read is the truth
    assert not book.others_live("h4", "a", "BTC")


def test_soak_episode_1865_a_read_soon_after_the_engines_own_fills_is_not_the_baseline() -> None:
    """Regression (fault soak, episodes 1865 and 6460): a second hedge started just after the
    first ended on the same key read a position lagging the first's fills; taking that read as
    its baseline, reconciliation saw the first hedge's fills as an unreported over-hedge and sold
    them back. A read within ``untrusted_for`` of the book's last fill keeps the book's figure;
    a later one is the truth again (trades outside the engine are absorbed)."""
    book = PositionBook()
    assert book.open("h1", "a", "BTC", D("0"), now=0.0, untrusted_for=2.5) == D("0")
    assert book.record("h1", "a", "BTC", D("10"), now=3.0)
    book.close("h1", "a", "BTC")
    # A read lagging the first hedge's fill, one second after it: not trusted.
    assert book.open("h2", "a", "BTC", D("0"), now=4.0, untrusted_for=2.5) == D("10")
    assert book.expected("a", "BTC") == D("10")
    book.close("h2", "a", "BTC")
    # Long after the last fill, a read is the truth (here someone traded outside the engine).
    assert book.open("h3", "a", "BTC", D("7"), now=30.0, untrusted_for=2.5) == D("7")


def test_soak_episode_1542_a_read_sent_before_another_hedges_fill_is_not_the_baseline() -> None:
    """Regression (fault soak, episode 1542): a second hedge's baseline read was *sent* at
    1.5 s, before the first hedge's fill at 2.8 s; its set-up then took until 5.7 s, past the
    untrusted window counted from the fill, and the book took the stale read (0) as the
    truth: reconciliation saw the first hedge's fill as an unreported over-hedge and traded
    it back. Judged from the read's own time, the book keeps its figure (the fill counted)."""
    book = PositionBook()
    assert book.open("c1", "a", "kPEPE", D("0"), now=0.3, untrusted_for=2.5) == D("0")
    assert book.record("c1", "a", "kPEPE", D("-10000"), now=2.8)
    book.close("c1", "a", "kPEPE")
    # The read was sent at 1.5 s: it cannot show the fill at 2.8 s.
    assert book.open("c2", "a", "kPEPE", D("0"), now=1.5, untrusted_for=2.5) == D("-10000")
    assert book.expected("a", "kPEPE") == D("-10000")


# --------------------------------------------------------------------------- reconciliation at the end


def test_reconciliation_trades_back_an_over_hedge_no_report_showed() -> None:
    """The hedge venue fills 1 more than any report says: it is bought back reduce-only, ``done``."""
    a, b = venue("a"), venue("b")
    actions: list[Action] = [
        (0.5, fill_entry(a, "h1", 0)),
        (0.55, lambda: b.shift_position("BTC", D("-1"))),  # a fill the venue never reports
    ]
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], actions)
    assert result.state == "done", result.error_message
    corrections = [c for c in b.placed() if str(c["client_order_id"]).startswith("h1c1n")]
    assert [(c["side"], c["quantity"], c["reduce_only"]) for c in corrections] == [(Side.BUY, D("1"), True)]
    assert b.positions["BTC"] == D("-5")
    assert_venue_truth(result, [a.positions["BTC"], b.positions["BTC"]], [ZERO, ZERO])
    assert result.error_message is not None and "more than reported" in result.error_message


def test_reconciliation_never_reports_done_on_a_position_the_venue_does_not_show() -> None:
    """The venue closes 2 of the hedge leg's 5 before the end: ``failed`` with the residual."""
    a, b = venue("a"), venue("b")
    actions: list[Action] = [
        (0.5, fill_entry(a, "h1", 0)),
        (0.55, lambda: b.shift_position("BTC", D("2"))),
    ]
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], actions)
    assert result.state == "failed"
    assert result.error_message is not None
    assert "residual" in result.error_message and "difference of 2" in result.error_message
    assert not any(leg.success for leg in result.legs)
    assert b.positions["BTC"] == D("-3")  # nothing was traded to "fix" it


def test_reconciliation_waits_for_the_settle_delay_before_reading() -> None:
    """A done hedge reads positions only ``position_settle_delay`` after its last fill."""
    a, b = venue("a"), venue("b")
    a.position_lag = b.position_lag = 0.4  # within the 0.5 s settle delay
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], [(0.5, fill_entry(a, "h1", 0))])
    assert result.state == "done", result.error_message
    assert result.error_message is None  # a clean hedge carries no error
    assert [leg.success for leg in result.legs] == [True, True]
    assert_venue_truth(result, [a.positions["BTC"], b.positions["BTC"]], [ZERO, ZERO])


# --------------------------------------------------------------------------- truthful results


def test_a_direct_hedge_leg_that_would_trade_nothing_is_refused_not_a_success() -> None:
    """A direct hedge target below the venue minimum is refused before anything is sent:
    it never comes back as a ``done`` leg with ``success=True`` and nothing traded."""
    coarse = Instrument(
        symbol="BTC", tick_size=D("0.1"), lot_size=D("1"), min_quantity=D("5"), min_notional=ZERO,
    )
    a = ScriptedVenue("a", [coarse], {"BTC": BBO(bid=D("100.0"), ask=D("100.2"))})

    def direct(engine: HedgeEngine, hedge_id: str) -> object:
        return engine.hedge(
            [HedgeTarget(venue="a", symbol="BTC", side=Side.SELL, quantity=D("2"))], hedge_id=hedge_id
        )

    with pytest.raises(InvalidValue, match="minimum"):
        run_hedges({"a": a}, [direct])
    assert a.placed() == []


# --------------------------------------------------------------------------- possibly live entries


def entry_late_run(
    arrive_at: float | None, config: HedgeConfig, capabilities: VenueCapabilities | None = None
) -> tuple[ExecutionResult, ScriptedVenue]:
    a, b = venue("a"), venue("b")
    if capabilities is not None:
        b.capabilities = capabilities  # type: ignore[attr-defined]
    b.script_place("BTC", Place("ambiguous_late"))
    actions: list[Action] = []
    if arrive_at is not None:
        actions.append((arrive_at, lambda: b.arrive("h1e1n1")))
    [result] = run_hedges({"a": a, "b": b}, [execute(LEGS)], actions, config)
    return result, b


def test_an_ambiguous_entry_that_appears_late_is_cancelled_not_forgotten() -> None:
    """An entry placement times out; lookups miss for 2 s; then the order reaches the venue.

    Before: after ``lookup_attempts`` misses (~0.75 s) the entry was taken as never
    placed and the hedge ended ``cancelled``, leaving the late order resting, free
    to fill with nobody watching. Now it is reserved until the horizon, so when it
    appears it is cancelled with the others.
    """
    config = HedgeConfig(mode=HedgeMode.MARKET, opening=FAST, entry_timeout=4.0, ambiguous_horizon=3.0)
    result, b = entry_late_run(2.0, config)
    assert result.state == "cancelled"
    late = b.by_client_id("h1e1n1")
    assert late.is_terminal and late.filled_quantity == ZERO
    assert any(op == "cancel" and args["order_id"] == late.order_id for op, args in b.calls)


def test_an_ambiguous_entry_is_forgotten_only_once_provably_dead() -> None:
    """The entry never arrives: it is given up only after the venue's request window + a query
    timeout, never after a few quick misses."""
    config = HedgeConfig(mode=HedgeMode.MARKET, opening=FAST, entry_timeout=10.0, ambiguous_horizon=30.0)
    window = VenueCapabilities(request_window=1.5)
    result, b = entry_late_run(None, config, window)
    assert result.state == "cancelled"
    dead_at = 1.5 + config.call_timeouts.query
    assert dead_at <= result.finished_at < config.entry_timeout
    assert b.live_orders() == []
