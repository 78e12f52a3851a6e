"""Hedge a tiny two-leg position on two exchanges' testnets through the ccxt adapter.

Buys a small amount of a perpetual on one exchange and sells the same amount on
another, with resting post-only entry orders; the first leg to fill triggers
the hedge of the other (see docs/design.md). Everything happens on the exchanges'
test environments, with keys read from the environment:

    --pair binance-bybit (the default):
    BINANCE_TESTNET_API_KEY, BINANCE_TESTNET_SECRET   (binance USDⓈ-M futures testnet)
    BYBIT_TESTNET_API_KEY,   BYBIT_TESTNET_SECRET     (bybit testnet, unified account)

    --pair hyperliquid-paradex (two perpetual DEXes, keys are wallet keys):
    HYPERLIQUID_TESTNET_PRIVATE_KEY, HYPERLIQUID_TESTNET_WALLET  (an API wallet's key, the account)
    PARADEX_TESTNET_PRIVATE_KEY,     PARADEX_TESTNET_WALLET      (the L1 key Paradex derives from)

It places real (test) orders, so it refuses to run without ``--live``::

    python examples/ccxt_live.py --live --quantity 0.002
    python examples/ccxt_live.py --live --pair hyperliquid-paradex --quantity 0.001

Hyperliquid has no native market order through ccxt: the market fallback and
rollback go out as IOC orders bounded by ``market_slippage_bps`` from the BBO.

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
    "BINANCE_TESTNET_SECRET, BYBIT_TESTNET_API_KEY and BYBIT_TESTNET_SECRET "
    "(--pair hyperliquid-paradex: HYPERLIQUID_TESTNET_PRIVATE_KEY, HYPERLIQUID_TESTNET_WALLET, "
    "PARADEX_TESTNET_PRIVATE_KEY and PARADEX_TESTNET_WALLET)."
)
KEY_VARIABLES = {
    "binance": ("BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_SECRET"),
    "bybit": ("BYBIT_TESTNET_API_KEY", "BYBIT_TESTNET_SECRET"),
    "hyperliquid": ("HYPERLIQUID_TESTNET_PRIVATE_KEY", "HYPERLIQUID_TESTNET_WALLET"),
    "paradex": ("PARADEX_TESTNET_PRIVATE_KEY", "PARADEX_TESTNET_WALLET"),
}
PAIRS = {
    "binance-bybit": ("binance", "bybit"),
    "hyperliquid-paradex": ("hyperliquid", "paradex"),
}
# Each DEX names its BTC perpetual after its own quote and settlement currency.
DEX_SYMBOLS = {"hyperliquid": "BTC/USDC:USDC", "paradex": "BTC/USD:USDC"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccxt_live.py",
        description="Hedge a tiny long/short pair across two exchanges' testnets.",
        epilog=USAGE_NOTE,
    )
    parser.add_argument("--live", action="store_true", help="really place (test) orders")
    parser.add_argument("--pair", choices=sorted(PAIRS), default="binance-bybit")
    parser.add_argument("--env", choices=("testnet", "demo"), default="testnet", help="binance-bybit only")
    parser.add_argument("--symbol", default="BTC/USDT:USDT", help="unified ccxt symbol, both legs (CEX pair)")
    parser.add_argument("--quantity", default="0.002", help="contracts per leg (Decimal string)")
    parser.add_argument("--buy-on", default=None, help="the long leg's venue (default: the pair's first)")
    return parser


def read_keys(venues: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """The testnet keys of ``venues``; exits with a clear message when one is missing."""
    keys: dict[str, tuple[str, str]] = {}
    missing = []
    for venue in venues:
        key_name, secret_name = KEY_VARIABLES[venue]
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


def build_dex_venues(keys: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Hyperliquid and Paradex testnet venues, signed with wallet keys wrapped as Secrets."""
    from hedge_fsm.secrets import Secret
    from hedge_fsm.venues.ccxt import CcxtVenue

    return {
        name: CcxtVenue.from_credentials(
            name,
            private_key=Secret(private_key),
            wallet_address=wallet,
            # Only test environments, ever: this script must not trade with production keys.
            sandbox=True,
            options={"fetchMarkets": {"types": ["swap"]}} if name == "hyperliquid" else None,
            name=name,
        )
        for name, (private_key, wallet) in keys.items()
    }


async def main(argv: list[str]) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if not arguments.live:
        parser.print_usage(sys.stderr)
        print(USAGE_NOTE, file=sys.stderr)
        return 2
    pair = PAIRS[arguments.pair]
    buy_on = arguments.buy_on or pair[0]
    if buy_on not in pair:
        print(f"--buy-on must be one of {pair}", file=sys.stderr)
        return 2
    sell_on = pair[1] if buy_on == pair[0] else pair[0]
    keys = read_keys(pair)

    # Imported here: the engine is wired by the package, and ccxt is an optional extra.
    from hedge_fsm import HedgeConfig, HedgeEngine, LegSpec, Side
    from hedge_fsm.venues.ccxt import CcxtVenue

    venues: dict[str, Any]
    if arguments.pair == "hyperliquid-paradex":
        venues = build_dex_venues(keys)
        symbols = dict(DEX_SYMBOLS)
    else:
        exchanges = {
            "binance": build_exchange("binanceusdm", *keys["binance"], arguments.env, {}),
            "bybit": build_exchange(
                "bybit", *keys["bybit"], arguments.env, {"fetchMarkets": {"types": ["linear"]}}
            ),
        }
        venues = {name: CcxtVenue(exchange, name=name) for name, exchange in exchanges.items()}
        symbols = {name: arguments.symbol for name in venues}
    quantity = Decimal(arguments.quantity)
    try:
        for name, venue in venues.items():
            symbol = symbols[name]
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
        buy_book = await venues[buy_on].best_bid_offer(symbols[buy_on])
        sell_book = await venues[sell_on].best_bid_offer(symbols[sell_on])
        legs = [
            LegSpec(
                venue=buy_on, symbol=symbols[buy_on], side=Side.BUY, quantity=quantity, price=buy_book.bid
            ),
            LegSpec(
                venue=sell_on, symbol=symbols[sell_on], side=Side.SELL, quantity=quantity, price=sell_book.ask
            ),
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
            print(f"{name}: position after: {await venue.position(symbols[name])}")
        return 0 if result.state in ("done", "cancelled") else 1
    finally:
        for venue in venues.values():
            await venue.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
