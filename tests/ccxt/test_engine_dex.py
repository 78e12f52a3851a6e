"""The engine end to end on DEX venues through ccxt: market fallback and rollback on canned HTTP.

Hyperliquid (and Paradex) have no native market order through ccxt: the market
fallback and the rollback's flattening orders go out as marketable orders
bounded by ``market_slippage_bps`` from the BBO. These runs prove the whole path,
with the real ccxt classes building, signing and parsing, under virtual time.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hedge_fsm import HedgeConfig, LegSpec, RetryPolicy, Side
from tests.ccxt.fixtures.sims import VenueSim, canned_venue
from tests.ccxt.test_engine_ccxt import BinanceSim, assert_nothing_left, binance_sim, execute

BTC_USDT = "BTC/USDT:USDT"


def _dex(exchange_id: str) -> VenueSim:
    return canned_venue(exchange_id, latency=0.004)


def _orders(sim: VenueSim) -> list[Any]:
    """The simulated venue's orders in the order they were booked."""
    return sorted(sim.orders.values(), key=lambda o: int(o.order_id) if o.order_id.isdigit() else o.order_id)


def test_hyperliquid_hedge_falls_back_to_a_bounded_market_order_and_is_done() -> None:
    """Binance fills first; Hyperliquid's post-only hedges never fill; the market fallback (an IOC
    capped 50 bps below the bid) fills at the bid and the hedge is done."""
    binance, hyperliquid = binance_sim(), _dex("hyperliquid")
    legs = [
        LegSpec(venue="binance", symbol=BTC_USDT, side=Side.BUY, quantity=D("0.003"), price=D("64999.0")),
        LegSpec(
            venue="hyperliquid",
            symbol=hyperliquid.symbol,
            side=Side.SELL,
            quantity=D("0.003"),
            price=D("65003"),
        ),
    ]
    outcome = execute(
        {"binance": binance, "hyperliquid": hyperliquid},
        legs,
        actions=[(0.6, binance.fill_live("t1e0"))],
        config=HedgeConfig(opening=RetryPolicy(max_attempts=3)),
    )
    result = outcome.result
    assert result.state == "done", result
    assert result.net_exposure == 0
    assert (binance.position, hyperliquid.position) == (D("0.003"), D("-0.003"))
    assert_nothing_left(outcome, binance, hyperliquid)
    orders = _orders(hyperliquid)
    fallback = orders[-1]
    # The last Hyperliquid order is the market fallback: an IOC, not post-only, capped at
    # the bid less 50 bps (65000 x 0.995 = 64675), filled at the bid as a taker.
    assert (fallback.ioc, fallback.post_only, fallback.price) == (True, False, D("64675"))
    assert (fallback.filled, fallback.average) == (D("0.003"), hyperliquid.bid)
    assert hyperliquid.engine_id(fallback).startswith("t1h1n")
    # Before it: the cancelled entry and post-only hedges that rested unfilled.
    assert all(o.post_only for o in orders[1:-1]) and all(o.status == "canceled" for o in orders[:-1])
    assert result.legs[1].taker_quantity == D("0.003")


def test_hyperliquid_trigger_is_rolled_back_with_a_reduce_only_bounded_market_order() -> None:
    """Hyperliquid fills first; Binance refuses every hedge for margin: the Hyperliquid long is
    sold back by a reduce-only IOC capped below the bid, and the position is flat."""
    binance, hyperliquid = binance_sim(), _dex("hyperliquid")
    refusal = BinanceSim.error(-2019, "Margin is insufficient.")
    binance.refuse = lambda order: refusal if order.client_order_id.startswith("t1h") else None
    legs = [
        LegSpec(
            venue="hyperliquid",
            symbol=hyperliquid.symbol,
            side=Side.BUY,
            quantity=D("0.003"),
            price=D("64998"),
        ),
        LegSpec(venue="binance", symbol=BTC_USDT, side=Side.SELL, quantity=D("0.003"), price=D("65001.5")),
    ]
    outcome = execute(
        {"binance": binance, "hyperliquid": hyperliquid},
        legs,
        actions=[(0.6, hyperliquid.fill_live("t1e0"))],
        config=HedgeConfig(opening=RetryPolicy(max_attempts=3)),
    )
    result = outcome.result
    assert result.state == "rolled_back", result
    assert result.net_exposure == 0
    assert (binance.position, hyperliquid.position) == (D(0), D(0))
    assert result.legs[0].rolled_back_quantity == D("0.003")
    assert_nothing_left(outcome, binance, hyperliquid)
    rollback = _orders(hyperliquid)[-1]
    assert hyperliquid.engine_id(rollback).startswith("t1r0n")
    assert (rollback.side, rollback.reduce_only, rollback.ioc) == ("sell", True, True)
    assert rollback.price == D("64675")
    assert rollback.filled == D("0.003")


def test_paradex_hedge_falls_back_to_a_market_order_and_is_done() -> None:
    """Binance fills first; Paradex's post-only hedges rest unfilled; the market fallback (a native
    MARKET order, Starknet-signed) fills at the bid and the hedge is done."""
    binance, paradex = binance_sim(), _dex("paradex")
    legs = [
        LegSpec(venue="binance", symbol=BTC_USDT, side=Side.BUY, quantity=D("0.003"), price=D("64999.0")),
        LegSpec(
            venue="paradex", symbol=paradex.symbol, side=Side.SELL, quantity=D("0.003"), price=D("65003")
        ),
    ]
    outcome = execute(
        {"binance": binance, "paradex": paradex},
        legs,
        actions=[(0.6, binance.fill_live("t1e0"))],
        config=HedgeConfig(opening=RetryPolicy(max_attempts=3)),
    )
    result = outcome.result
    assert result.state == "done", result
    assert result.net_exposure == 0
    assert (binance.position, paradex.position) == (D("0.003"), D("-0.003"))
    assert_nothing_left(outcome, binance, paradex)
    orders = _orders(paradex)
    fallback = orders[-1]
    assert (fallback.kind, fallback.price, fallback.filled) == ("market", None, D("0.003"))
    assert paradex.engine_id(fallback).startswith("t1h1n")
    assert all(o.post_only for o in orders[1:-1])
    signed = [r for r in paradex.http.sent("POST", "/v1/orders")]
    assert all(r.json["signature"] and r.headers["Authorization"].startswith("Bearer ") for r in signed)


def test_paradex_trigger_is_rolled_back_with_a_reduce_only_market_order() -> None:
    """Paradex fills first; Binance refuses every hedge: the Paradex long is sold back, reduce-only."""
    binance, paradex = binance_sim(), _dex("paradex")
    refusal = BinanceSim.error(-2019, "Margin is insufficient.")
    binance.refuse = lambda order: refusal if order.client_order_id.startswith("t1h") else None
    legs = [
        LegSpec(venue="paradex", symbol=paradex.symbol, side=Side.BUY, quantity=D("0.003"), price=D("64998")),
        LegSpec(venue="binance", symbol=BTC_USDT, side=Side.SELL, quantity=D("0.003"), price=D("65001.5")),
    ]
    outcome = execute(
        {"binance": binance, "paradex": paradex},
        legs,
        actions=[(0.6, paradex.fill_live("t1e0"))],
        config=HedgeConfig(opening=RetryPolicy(max_attempts=3)),
    )
    result = outcome.result
    assert result.state == "rolled_back", result
    assert (binance.position, paradex.position) == (D(0), D(0))
    assert result.legs[0].rolled_back_quantity == D("0.003")
    assert_nothing_left(outcome, binance, paradex)
    rollback = _orders(paradex)[-1]
    assert paradex.engine_id(rollback).startswith("t1r0n")
    assert (rollback.side, rollback.reduce_only, rollback.kind) == ("sell", True, "market")
