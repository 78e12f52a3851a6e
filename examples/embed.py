"""Embed HedgeEngine in an asyncio program, offline, on the simulated venues.

Run: python examples/embed.py

A trading bot builds its venues (here the simulated Binance-like and
Lighter-like venues; in production `hedge_fsm.venues.ccxt.CcxtVenue`), hands
them to one HedgeEngine, and awaits `execute` for each delta-neutral entry.
The simulated venues run on virtual time (`hedge_fsm.sim.run`), so this takes
milliseconds; with real venues, run the same coroutine with `asyncio.run`.
"""

from __future__ import annotations

from decimal import Decimal

from loguru import logger

from hedge_fsm import HedgeConfig, HedgeEngine, LegSpec, RetryPolicy, Side
from hedge_fsm.sim import build_venues, run


async def main() -> int:
    venues = build_venues("calm", seed=7)
    binance, lighter = venues["binance"], venues["lighter"]

    # Rest a buy of 5,000,000 PEPE on one venue and a sell of the same tokens
    # (5,000 kPEPE contracts of 1,000 PEPE each) on the other, at each best price.
    pepe_book = await binance.best_bid_offer("PEPEUSDT")
    kpepe_book = await lighter.best_bid_offer("kPEPE")
    legs = [
        LegSpec(venue="binance", symbol="PEPEUSDT", side=Side.BUY,
                quantity=Decimal("5000000"), price=pepe_book.bid),
        LegSpec(venue="lighter", symbol="kPEPE", side=Side.SELL,
                quantity=Decimal("5000"), price=kpepe_book.ask),
    ]

    config = HedgeConfig(opening=RetryPolicy(budget=4.0))  # everything else: the defaults
    engine = HedgeEngine(venues, config)
    result = await engine.execute(legs)

    print(f"hedge {result.hedge_id}: {result.state}, net exposure {result.net_exposure} tokens")
    if result.state != "done":  # say why: the supervisor's reason, then each leg's own
        print(f"  not completed: {result.error_message}")
        for leg in result.legs:
            if leg.error_message:
                print(f"  {leg.venue} {leg.symbol}: {leg.error_message}")
    for leg in result.legs:
        print(
            f"  {leg.venue:8} {leg.symbol:9} {leg.side}: filled {leg.filled_quantity} "
            f"at {leg.average_price} (maker {leg.maker_quantity}, taker {leg.taker_quantity}), "
            f"{leg.state}"
        )
    for venue in venues.values():
        assert not venue.open_orders(), "no order is ever left open"
    return 0 if result.state == "done" else 1


if __name__ == "__main__":
    logger.enable("hedge_fsm")  # the application decides about logging; the library never does
    logger.remove()
    logger.add(lambda message: None)  # swap in your own sink; records carry hedge_id, leg, state
    raise SystemExit(run(main()))
