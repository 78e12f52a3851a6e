"""Ledger: max-fold of cumulative fills per order, late fills, quarantine, maker/taker split."""

from __future__ import annotations

from decimal import Decimal

import attrs
from hypothesis import given
from hypothesis import strategies as st

from hedge_fsm import OrderInfo, OrderStatus, Side
from hedge_fsm.core.ledger import FillDelta, Ledger
from tests.strategies import fill_trajectories, lots, placed_orders, reports_along, ticks

D = Decimal


def report(
    filled: str,
    *,
    client_order_id: str = "c-1",
    order_id: str = "v-1",
    quantity: str = "5",
    status: OrderStatus | None = None,
    average: str | None = "100.00",
    maker: str | None = None,
    side: Side = Side.SELL,
) -> OrderInfo:
    fill = D(filled)
    if status is None:
        status = (
            OrderStatus.FILLED
            if fill == D(quantity)
            else OrderStatus.PARTIALLY_FILLED
            if fill > 0
            else OrderStatus.OPEN
        )
    return OrderInfo(
        order_id=order_id,
        client_order_id=client_order_id,
        symbol="BTC-PERP",
        side=side,
        quantity=D(quantity),
        price=D("100.00"),
        status=status,
        filled_quantity=fill,
        average_price=D(average) if fill > 0 and average is not None else None,
        maker_quantity=D(maker) if maker is not None else None,
    )


def ledger_with(*client_ids: str, post_only: bool = False, is_market: bool = False) -> Ledger:
    ledger = Ledger()
    for client_id in client_ids:
        ledger.register(
            client_id, side=Side.SELL, quantity=D("5"), post_only=post_only, is_market=is_market
        )
    return ledger


def snapshot(ledger: Ledger) -> tuple[object, ...]:
    """Everything observable about a ledger, copied (records are mutable)."""

    def bound_to(order_id: str) -> str | None:
        record = ledger.find(report("0", client_order_id="nobody", order_id=order_id))
        return record.client_order_id if record is not None else None

    return (
        ledger.filled,
        {cid: attrs.asdict(rec) for cid, rec in ledger.orders.items()},
        list(ledger.quarantined),
        {order_id: bound_to(order_id) for order_id in ("v-1", "v-2", "v-x")},
    )


# ------------------------------------------------------------------------------ max-fold


def test_duplicate_report_counts_once() -> None:
    """The same 2-lot report applied twice adds 2 then 0: total 2."""
    ledger = ledger_with("c-1")
    first = ledger.apply(report("2"))
    second = ledger.apply(report("2"))
    assert FillDelta(D("2")) == first
    assert FillDelta(D("0")) == second
    assert D("2") == ledger.filled


def test_stale_report_never_goes_backwards() -> None:
    """Cumulative 3 then a stale 1: the total stays 3 and the stale report adds 0."""
    ledger = ledger_with("c-1")
    ledger.apply(report("3"))
    delta = ledger.apply(report("1"))
    assert FillDelta(D("0")) == delta
    assert D("3") == ledger.filled
    assert D("3") == ledger.orders["c-1"].filled


def test_out_of_order_reports_add_only_the_increment() -> None:
    """Reports 1, 4, 2, 5 (cumulative): adds 1, 3, 0, 1 -> total 5 = the largest report."""
    ledger = ledger_with("c-1")
    added = [ledger.apply(report(f)).quantity for f in ("1", "4", "2", "5")]
    assert [D("1"), D("3"), D("0"), D("1")] == added
    assert D("5") == ledger.filled


def test_stale_open_report_does_not_undo_partial_status() -> None:
    """PARTIALLY_FILLED at 2 then a stale OPEN at 0: status stays PARTIALLY_FILLED."""
    ledger = ledger_with("c-1")
    ledger.apply(report("2"))
    ledger.apply(report("0"))
    assert ledger.orders["c-1"].status is OrderStatus.PARTIALLY_FILLED


def test_total_sums_every_order() -> None:
    """Two orders of the leg: 2 on c-1 and 1.5 on c-2 -> filled 2 + 1.5 = 3.5."""
    ledger = ledger_with("c-1", "c-2")
    ledger.apply(report("2"))
    ledger.apply(report("1.5", client_order_id="c-2", order_id="v-2"))
    assert D("3.5") == ledger.filled


# ------------------------------------------------------------------------------ late fills


def test_fill_after_canceled_is_counted_and_flagged() -> None:
    """CANCELED at 1, then CANCELED at 3 (a fill the venue reported late): the extra 2 is
    counted and flagged after_terminal; the order stays terminal."""
    ledger = ledger_with("c-1")
    first = ledger.apply(report("1", status=OrderStatus.CANCELED))
    late = ledger.apply(report("3", status=OrderStatus.CANCELED))
    assert FillDelta(D("1"), after_terminal=False) == first
    assert FillDelta(D("2"), after_terminal=True) == late
    assert D("3") == ledger.filled
    assert True is ledger.orders["c-1"].terminal
    assert not ledger.live_orders


def test_duplicate_after_terminal_is_not_flagged() -> None:
    """A repeated CANCELED report adds nothing, so it is not a late fill."""
    ledger = ledger_with("c-1")
    ledger.apply(report("1", status=OrderStatus.CANCELED))
    assert FillDelta(D("0"), after_terminal=False) == ledger.apply(
        report("1", status=OrderStatus.CANCELED)
    )


def test_live_orders_until_terminal_report() -> None:
    """An order is live (may still fill) until a terminal report or mark_terminal."""
    ledger = ledger_with("c-1", "c-2")
    ledger.apply(report("1"))
    expected = ["c-1", "c-2"]
    assert expected == [r.client_order_id for r in ledger.live_orders]
    ledger.apply(report("5"))  # FILLED
    ledger.mark_terminal("c-2")
    assert not ledger.live_orders
    assert ledger.orders["c-2"].status is OrderStatus.REJECTED


# ------------------------------------------------------------------------------ identity


def test_unknown_order_is_quarantined_not_counted() -> None:
    """A report about an order the leg never registered is kept aside and adds nothing."""
    ledger = ledger_with("c-1")
    stranger = report("2", client_order_id="someone-else", order_id="v-99")
    assert FillDelta(D("0")) == ledger.apply(stranger)
    assert D("0") == ledger.filled
    assert [stranger] == ledger.quarantined


def test_lookup_by_venue_order_id_when_client_id_differs() -> None:
    """Once c-1 is known as venue order v-1, a report carrying v-1 but another client id
    (a venue that does not echo ours) is that order: 1 then cumulative 3 -> total 3."""
    ledger = ledger_with("c-1")
    ledger.apply(report("1"))
    delta = ledger.apply(report("3", client_order_id="venue-made-up-id"))
    assert FillDelta(D("2")) == delta
    assert D("3") == ledger.filled
    assert not ledger.quarantined
    assert ledger.orders["c-1"].order_id == "v-1"


# ------------------------------------------------------------------------------ maker / taker


def test_post_only_fills_are_maker() -> None:
    """A post-only order filled 2 with no liquidity report: maker 2, taker 0."""
    ledger = ledger_with("c-1", post_only=True)
    ledger.apply(report("2"))
    assert (D("2"), D("0")) == (ledger.maker, ledger.taker)


def test_non_post_only_fills_are_taker() -> None:
    """A marketable limit (not post-only) filled 2 with no liquidity report: maker 0, taker 2."""
    ledger = ledger_with("c-1", post_only=False)
    ledger.apply(report("2"))
    assert (D("0"), D("2")) == (ledger.maker, ledger.taker)


def test_market_fills_are_taker_and_counted_as_market() -> None:
    """A market order filled 2: taker 2, market_filled 2."""
    ledger = ledger_with("c-1", is_market=True)
    ledger.apply(report("2"))
    assert (D("0"), D("2"), D("2")) == (ledger.maker, ledger.taker, ledger.market_filled)


def test_venue_reported_maker_quantity_wins() -> None:
    """The venue's maker_quantity overrides the post-only guess both ways: a post-only order
    the venue says made 1 of 3 -> maker 1, taker 2; a taker order it says made 2 of 3 -> maker 2."""
    post_only = ledger_with("c-1", post_only=True)
    post_only.apply(report("3", maker="1"))
    assert (D("1"), D("2")) == (post_only.maker, post_only.taker)
    marketable = ledger_with("c-1", post_only=False)
    marketable.apply(report("3", maker="2"))
    assert (D("2"), D("1")) == (marketable.maker, marketable.taker)


def test_venue_reported_maker_is_not_lost_by_a_later_report_without_liquidity() -> None:
    """A marketable limit rests and the order stream reports 3 filled, all maker; a later poll
    (which carries no liquidity) reports 5 filled. The venue said 3 were maker; the 2 new ones,
    unreported on a non-post-only order, are taker: maker 3, taker 5 - 3 = 2. The maker quantity
    must not fall from 3 back to 0 (that would misreport fees and the maker ratio)."""
    ledger = ledger_with("c-1", post_only=False)
    ledger.apply(report("3", maker="3"))
    ledger.apply(report("5", maker=None))
    assert (D("3"), D("2")) == (ledger.maker, ledger.taker)


# ------------------------------------------------------------------------------ derived


def test_average_price_and_notional_over_orders() -> None:
    """2 @ 100.00 + 1 @ 100.30: notional 200.00 + 100.30 = 300.30, average 300.30 / 3 = 100.10."""
    ledger = ledger_with("c-1", "c-2")
    ledger.apply(report("2", average="100.00"))
    ledger.apply(report("1", client_order_id="c-2", order_id="v-2", average="100.30"))
    assert D("300.30") == ledger.notional
    assert D("100.10") == ledger.average_price


def test_average_price_is_none_when_nothing_filled() -> None:
    """No fill: no average price (not zero, not a division error)."""
    ledger = ledger_with("c-1")
    ledger.apply(report("0"))
    assert None is ledger.average_price


def test_fees_use_each_orders_split() -> None:
    """Maker 2 @ 100.00 with 2 bps + taker 1 @ 100.30 with 5 bps:
    2 * 100.00 * 0.0002 + 1 * 100.30 * 0.0005 = 0.04 + 0.05015 = 0.09015."""
    ledger = Ledger()
    ledger.register("c-1", side=Side.SELL, quantity=D("5"), post_only=True)
    ledger.register("c-2", side=Side.SELL, quantity=D("5"), post_only=False)
    ledger.apply(report("2", average="100.00"))
    ledger.apply(report("1", client_order_id="c-2", order_id="v-2", average="100.30"))
    assert D("0.09015") == ledger.fees(D("0.0002"), D("0.0005"))


# ------------------------------------------------------------------------------ filled_after


def test_filled_after_is_pure() -> None:
    """filled_after predicts the total (3 + (5 - 3) = 5 for a fresh report, 3 for a stale one,
    3 for an unknown order) and changes nothing: no record, total, quarantine or id binding."""
    ledger = ledger_with("c-1", "c-2")
    ledger.apply(report("3"))
    before = snapshot(ledger)
    assert D("5") == ledger.filled_after(report("5"))
    assert D("3") == ledger.filled_after(report("1"))
    assert D("3") == ledger.filled_after(report("2", client_order_id="x", order_id="v-x"))
    assert D("5") == ledger.filled_after(report("2", client_order_id="c-2", order_id="v-2"))
    assert before == snapshot(ledger)


# ------------------------------------------------------------------------------ properties


@st.composite
def order_histories(draw: st.DrawFn) -> tuple[list[dict[str, object]], list[OrderInfo]]:
    """Up to four orders, each with a true monotone fill trajectory, and the venue's snapshots
    of all of them delivered shuffled and with duplicates."""
    lot = draw(lots())
    tick = draw(ticks())
    orders: list[dict[str, object]] = []
    snapshots: list[OrderInfo] = []
    for index in range(draw(st.integers(1, 4))):
        placed = draw(placed_orders(lot=lot, tick=tick, client_order_id=f"hedge-{index}"))
        placed = attrs.evolve(placed, order_id=f"venue-{index}")
        fills = draw(fill_trajectories(placed.quantity, lot))
        post_only = draw(st.booleans())
        maker: list[Decimal] | None = None
        if draw(st.booleans()):  # this venue reports fill liquidity, consistently
            maker, made, previous = [], D(0), D(0)
            for filled in fills:
                step = int((filled - previous) / lot)
                made += draw(st.integers(0, step)) * lot
                maker.append(made)
                previous = filled
        terminal_from = draw(st.none() | st.integers(0, len(fills) - 1))
        price = draw(st.integers(1, 10**6)) * tick
        reports = reports_along(
            placed, fills, average_price=price, terminal_from=terminal_from, maker=maker
        )
        orders.append(
            {
                "placed": placed,
                "post_only": post_only,
                "final": fills[-1],
                "maker": maker[-1] if maker is not None else (fills[-1] if post_only else D(0)),
                "price": price,
            }
        )
        snapshots.extend(reports)
    extras = draw(st.lists(st.sampled_from(snapshots), max_size=2 * len(snapshots)))
    delivered = draw(st.permutations(snapshots + extras))
    return orders, delivered


@given(order_histories())
def test_shuffled_duplicated_reports_count_each_fill_once(
    history: tuple[list[dict[str, object]], list[OrderInfo]],
) -> None:
    """Fill conservation (invariant 5): for any shuffle with duplicates of true cumulative
    snapshots, after every report the total equals the sum over orders of the largest cumulative
    fill seen so far, never decreases, filled_after predicted it, the delta is the increase,
    a late fill is flagged exactly when the order was already terminal, and maker + taker ==
    filled. At the end the total is the sum of each order's final fill."""
    orders, delivered = history
    ledger = Ledger()
    for order in orders:
        placed = order["placed"]
        assert isinstance(placed, OrderInfo)
        ledger.register(
            placed.client_order_id,
            side=placed.side,
            quantity=placed.quantity,
            post_only=bool(order["post_only"]),
        )
    best: dict[str, Decimal] = {}
    terminal: set[str] = set()
    previous_total = D(0)
    for snap in delivered:
        predicted = ledger.filled_after(snap)
        delta = ledger.apply(snap)
        old = best.get(snap.client_order_id, D(0))
        best[snap.client_order_id] = max(old, snap.filled_quantity)
        increase = best[snap.client_order_id] - old
        assert (
            FillDelta(increase, after_terminal=snap.client_order_id in terminal and increase > 0)
            == delta
        )
        if snap.is_terminal:
            terminal.add(snap.client_order_id)
        assert sum(best.values(), D(0)) == ledger.filled
        assert predicted == ledger.filled
        assert ledger.filled >= previous_total
        previous_total = ledger.filled
        assert ledger.filled == ledger.maker + ledger.taker
        for record in ledger.orders.values():
            assert record.filled == record.maker + record.taker
            assert D(0) <= record.maker <= record.filled
    assert sum((o["final"] for o in orders), D(0)) == ledger.filled  # type: ignore[misc]
    assert sum((o["maker"] for o in orders), D(0)) == ledger.maker  # type: ignore[misc]
    expected_notional = sum(
        (o["final"] * o["price"] for o in orders),
        D(0),  # type: ignore[operator]
    )
    assert expected_notional == ledger.notional
    assert not ledger.quarantined


@given(order_histories(), st.data())
def test_apply_matches_filled_after_and_copy_is_untouched(
    history: tuple[list[dict[str, object]], list[OrderInfo]], data: st.DataObject
) -> None:
    """filled_after(r) never mutates: applying the same reports to a twin ledger that was asked
    filled_after for a random other report first ends in the identical state."""
    orders, delivered = history
    twins = (Ledger(), Ledger())
    for ledger in twins:
        for order in orders:
            placed = order["placed"]
            assert isinstance(placed, OrderInfo)
            ledger.register(placed.client_order_id, side=placed.side, quantity=placed.quantity)
    for snap in delivered:
        twins[0].filled_after(data.draw(st.sampled_from(delivered)))
        twins[0].apply(snap)
        twins[1].apply(snap)
    assert twins[1].filled == twins[0].filled
    assert {k: attrs.asdict(v) for k, v in twins[1].orders.items()} == {
        k: attrs.asdict(v) for k, v in twins[0].orders.items()
    }


def test_reserved_is_what_may_still_fill_on_orders_not_confirmed_terminal() -> None:
    """Two orders of 5: one filled 2 and still live (3 may fill), one CANCELED at 1 (nothing
    more may fill): reserved = 3. Sizing ``target - filled - reserved`` never orders twice."""
    ledger = ledger_with("c-1", "c-2")
    ledger.apply(report("2", client_order_id="c-1", order_id="v-1"))
    ledger.apply(report("1", client_order_id="c-2", order_id="v-2", status=OrderStatus.CANCELED))
    assert ledger.reserved == D("3")
    assert ledger.orders["c-1"].open_quantity == D("3")
    assert ledger.orders["c-2"].open_quantity == D("0")


def test_an_order_taken_as_never_placed_that_shows_up_live_is_marked_revived() -> None:
    """mark_terminal (lookups found nothing), then a live report: the record is live again,
    flagged ``revived`` (a stray the leg cancels), and its fill counts."""
    ledger = ledger_with("c-1")
    ledger.mark_terminal("c-1")
    assert ledger.reserved == D("0")
    delta = ledger.apply(report("1"))
    assert delta.revived and ledger.orders["c-1"].revived
    assert not ledger.orders["c-1"].terminal
    assert (ledger.filled, ledger.reserved) == (D("1"), D("4"))
