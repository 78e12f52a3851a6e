"""Hedge a tiny two-leg position on two exchanges' testnets through the ccxt adapter.

Buys a small amount of a perpetual on one exchange and sells the same amount on
another, with resting post-only entry orders; the first leg to fill triggers
the hedge of the other (see DESIGN.md). Everything happens on the exchanges'
test environments, with keys read from the environment:

    BINANCE_TESTNET_API_KEY, BINANCE_TESTNET_SECRET   (binance USDⓈ-M futures testnet)
    BYBIT_TESTNET_API_KEY,   BYBIT_TESTNET_SECRET     (bybit testnet, unified account)

It places real (test) orders, so it refuses to run without ``--live``::

    python examples/ccxt_live.py --live --quantity 0.002

``--env demo`` uses the exchanges' demo-trading environments instead of the
testnets. Requires the ``ccxt`` extra (``pip install hedge-fsm[ccxt]``).
Never run against production keys: the script only ever enables test modes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from decimal import Decimal
from typing import Any

USAGE_NOTE = (
    "This example places real orders on the exchanges' test environments.\n"
    "Pass --live to confirm, with the testnet keys in BINANCE_TESTNET_API_KEY, "
    "BINANCE_TESTNET_SECRET, BYBIT_TESTNET_API_KEY and BYBIT_TESTNET_SECRET."
)
KEY_VARIABLES = {
    "binance": ("BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_SECRET"),
    "bybit": ("BYBIT_TESTNET_API_KEY", "BYBIT_TESTNET_SECRET"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccxt_live.py",
        description="Hedge a tiny long/short pair across binance and bybit testnets.",
        epilog=USAGE_NOTE,
    )
    parser.add_argument("--live", action="store_true", help="really place (test) orders")
    parser.add_argument("--env", choices=("testnet", "demo"), default="testnet")
    parser.add_argument("--symbol", default="BTC/USDT:USDT", help="unified ccxt symbol, both legs")
    parser.add_argument("--quantity", default="0.002", help="contracts per leg (Decimal string)")
    parser.add_argument(
        "--buy-on", choices=("binance", "bybit"), default="binance", help="the long leg's venue"
    )
    return parser


def read_keys() -> dict[str, tuple[str, str]]:
    """The testnet keys by venue; exits with a clear message when one is missing."""
    keys: dict[str, tuple[str, str]] = {}
    missing = []
    for venue, (key_name, secret_name) in KEY_VARIABLES.items():
        key, secret = os.environ.get(key_name), os.environ.get(secret_name)
        if not key or not secret:
            missing += [name for name, value in ((key_name, key), (secret_name, secret)) if not value]
            continue
        keys[venue] = (key, secret)
    if missing:
        print(f"missing environment variables: {', '.join(missing)}", file=sys.stderr)
        raise SystemExit(2)
    return keys


def build_exchange(exchange_id: str, key: str, secret: str, env: str, options: dict[str, Any]) -> Any:
    import ccxt.async_support as ccxt

    exchange = getattr(ccxt, exchange_id)({"apiKey": key, "secret": secret, "options": options})
    # Only test environments, ever: this script must not trade with production keys.
    if env == "demo":
        exchange.enable_demo_trading(True)
    else:
        exchange.set_sandbox_mode(True)
    return exchange


async def main(argv: list[str]) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if not arguments.live:
        parser.print_usage(sys.stderr)
        print(USAGE_NOTE, file=sys.stderr)
        return 2
    keys = read_keys()

    # Imported here: the engine is wired by the package, and ccxt is an optional extra.
    from hedge_fsm import HedgeConfig, HedgeEngine, LegSpec, Side
    from hedge_fsm.venues.ccxt import CcxtVenue

    exchanges = {
        "binance": build_exchange("binanceusdm", *keys["binance"], arguments.env, {}),
        "bybit": build_exchange(
            "bybit", *keys["bybit"], arguments.env, {"fetchMarkets": {"types": ["linear"]}}
        ),
    }
    venues = {name: CcxtVenue(exchange, name=name) for name, exchange in exchanges.items()}
    symbol = arguments.symbol
    quantity = Decimal(arguments.quantity)
    buy_on = arguments.buy_on
    sell_on = "bybit" if buy_on == "binance" else "binance"
    try:
        for name, venue in venues.items():
            instrument = await venue.instrument(symbol)
            if quantity % instrument.lot_size != 0 or quantity < instrument.placeable_minimum:
                print(
                    f"{name}: quantity {quantity} is off {symbol}'s lot {instrument.lot_size} "
                    f"or below its minimum {instrument.placeable_minimum}",
                    file=sys.stderr,
                )
                return 2
            print(f"{name}: {instrument}")
            print(f"{name}: position before: {await venue.position(symbol)}")
        # Passive entry prices: the long joins its best bid, the short its best ask.
        buy_book = await venues[buy_on].best_bid_offer(symbol)
        sell_book = await venues[sell_on].best_bid_offer(symbol)
        legs = [
            LegSpec(venue=buy_on, symbol=symbol, side=Side.BUY, quantity=quantity, price=buy_book.bid),
            LegSpec(venue=sell_on, symbol=symbol, side=Side.SELL, quantity=quantity, price=sell_book.ask),
        ]
        print(f"entering: {legs}")
        engine = HedgeEngine(venues, HedgeConfig())
        result = await engine.execute(legs)
        print(f"final state: {result.state}")
        for spec, leg in zip(legs, result.legs, strict=True):
            print(
                f"  {spec.venue} {spec.side.value} {spec.symbol}: filled {leg.filled_quantity} "
                f"@ {leg.average_price} (maker {leg.maker_quantity}, taker {leg.taker_quantity})"
            )
        print(f"net exposure (tokens): {result.net_exposure}")
        for name, venue in venues.items():
            print(f"{name}: position after: {await venue.position(symbol)}")
        return 0 if result.state in ("done", "cancelled") else 1
    finally:
        for venue in venues.values():
            await venue.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
