"""Microseconds per machine transition (leg and supervisor), against a bare transitions baseline.

Run: python benchmarks/bench_transitions.py

The leg figure drives one LegHedge through a realistic cycle of events
(start, BBO, ack, polls, partial fill, cancel confirmed, backoff timer, ...)
and divides the wall time by the number of transitions taken. The baseline is
a two-state transitions.Machine with one unconditional internal edge, measured
in the same run, so the ratio is independent of the machine's speed.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal as D

import attrs
from transitions import Machine

from hedge_fsm import BBO, HedgeConfig, Instrument, OrderInfo, OrderStatus, Side, TriggerFill
from hedge_fsm.machines.events import (
    BboReceived,
    CancelConfirmed,
    OrderAcked,
    OrderUpdated,
    Start,
    TimerFired,
)
from hedge_fsm.machines.leg import LegHedge

BTC = Instrument(
    symbol="BTC", tick_size=D("0.1"), lot_size=D("0.001"), min_quantity=D("0.001"),
    min_notional=D("0"), maker_fee=D("0.0002"), taker_fee=D("0.0005"),
)
BOOK = BBO(bid=D("100.0"), ask=D("100.2"))
CONFIG = HedgeConfig()


def one_leg_hedge() -> int:
    """Drive one leg to done; returns the number of transitions taken."""
    leg = LegHedge(
        leg=1, hedge_id="bench", venue="v", instrument=BTC, side=Side.SELL, target=D("1"),
        reduce_only=False, config=CONFIG, started_at=0.0,
        trigger=TriggerFill(side=Side.BUY, price=D("100.0")),
    )
    now = 0.0
    leg.feed(Start(now=now))
    for attempt in range(2):
        now += 0.001
        leg.feed(BboReceived(now=now, bbo=BOOK))
        place = leg.drain()[-1]
        order = OrderInfo(
            order_id=f"o{attempt}", client_order_id=place.client_order_id, symbol="BTC",  # type: ignore[union-attr]
            side=Side.SELL, quantity=place.quantity, price=place.price,  # type: ignore[union-attr]
            status=OrderStatus.OPEN,
        )
        leg.feed(OrderAcked(now=now, order=order))
        for _ in range(3):
            now += 0.1
            leg.feed(TimerFired(now=now, token=leg.timer_token))
            leg.feed(OrderUpdated(now=now, order=order))
        if attempt == 0:
            part = attrs.evolve(order, status=OrderStatus.PARTIALLY_FILLED,
                                filled_quantity=D("0.4"), average_price=order.price)
            leg.feed(OrderUpdated(now=now, order=part))
            leg.feed(CancelConfirmed(now=now, order=attrs.evolve(part, status=OrderStatus.CANCELED)))
            now += 0.1
            leg.feed(TimerFired(now=now, token=leg.timer_token))
        else:
            done = attrs.evolve(order, status=OrderStatus.FILLED,
                                filled_quantity=order.quantity, average_price=order.price)
            leg.feed(OrderUpdated(now=now, order=done))
        leg.drain()
    assert leg.state == "done", leg.state
    return len(leg.history)


class _Bare:
    state = "a"

    def noop(self) -> None:
        pass


def baseline_transitions(n: int) -> float:
    machine = Machine(model=None, states=["a", "b"], initial="a", auto_transitions=False,
                      transitions=[{"trigger": "go", "source": "a", "dest": None, "after": "noop"}])
    model = _Bare()
    event = machine.events["go"]
    start = time.perf_counter()
    for _ in range(n):
        event.trigger(model)
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    runs = []
    transitions = 0
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(300):
            transitions = one_leg_hedge()
        runs.append((time.perf_counter() - start) / (300 * transitions) * 1e6)
    leg_us = statistics.median(runs)
    base_us = statistics.median(baseline_transitions(20000) for _ in range(5))
    print(f"leg machine: {transitions} transitions per hedge cycle")
    print(f"leg machine transition (incl. event construction, pricing, ledger): {leg_us:.2f} us")
    print(f"bare transitions.Machine internal edge (baseline, same run):     {base_us:.2f} us")
    print(f"ratio leg / bare: {leg_us / base_us:.2f}")


if __name__ == "__main__":
    main()
