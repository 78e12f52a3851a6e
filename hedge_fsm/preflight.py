"""Checks made before anything is sent: what a trader would never mean is refused at the edge.

Theory of operation
-------------------
The engine calls these at two moments, and each check raises one
:class:`~hedge_fsm.errors.InvalidValue` naming the bad value and what was expected:

* at construction (:func:`check_engine_arguments`): every venue implements the
  :class:`~hedge_fsm.venue.Venue` protocol (the missing methods are named, with
  the venue's key), and the config is a :class:`~hedge_fsm.config.HedgeConfig`;
* at set-up of an entry, after the instruments are read (:func:`check_entry_prices`):
  each leg's notional reaches its venue's minimum, and each leg's limit price lies
  within ``HedgeConfig.max_entry_distance_bps`` of its venue's book: a buy above the
  ask (it would take at once, at a price nobody meant) or below the bid (it would
  rest far away), a sell the other way round. One top-of-book read per leg, in
  parallel, before any order.

:func:`is_definitive` says which venue errors retrying cannot change (a
refusal such as "no such market"), so set-up reads do not retry them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from hedge_fsm.config import HedgeConfig
from hedge_fsm.errors import InvalidValue, RejectReason, VenueError, VenueRejected
from hedge_fsm.values import BBO, Instrument, LegSpec, Side

__all__ = ["VENUE_METHODS", "check_engine_arguments", "check_entry_prices", "is_definitive"]

VENUE_METHODS = (
    "instrument",
    "best_bid_offer",
    "place_limit",
    "place_market",
    "cancel",
    "order",
    "position",
)
"""The coroutine methods of the :class:`~hedge_fsm.venue.Venue` protocol."""

BPS = Decimal(10_000)



def is_definitive(exc: VenueError) -> bool:
    """True for a refusal that asking again cannot change: an unknown symbol, an invalid request.

    Only ``RejectReason.INVALID_ORDER`` (what the simulated venue and the ccxt adapter
    say for a market that does not exist) qualifies: other refusals of a read (rate
    limits, outages, an exchange's passing authentication hiccup) may clear on retry.
    """
    return isinstance(exc, VenueRejected) and exc.reason is RejectReason.INVALID_ORDER


def check_engine_arguments(venues: Mapping[str, Any], config: object) -> None:
    """Refuse venues that are not venues and a config that is not a :class:`HedgeConfig`."""
    if not isinstance(venues, Mapping):
        raise InvalidValue(
            f"HedgeEngine.venues must be a mapping of names to venues, got {type(venues).__name__}"
        )
    for key, venue in venues.items():
        if not isinstance(key, str) or not key:
            raise InvalidValue(f"HedgeEngine.venues: keys must be non-empty str, got {key!r}")
        missing = [
            name for name in VENUE_METHODS
            if not inspect.iscoroutinefunction(getattr(venue, name, None))
        ]
        if not isinstance(getattr(venue, "name", None), str):
            missing.insert(0, "name (a str attribute)")
        if missing:
            raise InvalidValue(
                f"HedgeEngine.venues[{key!r}] is a {type(venue).__name__}, not a Venue: "
                f"missing {', '.join(missing)} (async methods of hedge_fsm.Venue)"
            )
    if config is not None and not isinstance(config, HedgeConfig):
        raise InvalidValue(
            f"HedgeEngine.config must be a HedgeConfig, got {type(config).__name__} "
            f"(a mapping: HedgeConfig.from_mapping(...); a file: HedgeConfig.from_toml(...))"
        )


def entry_distance_bps(side: Side, price: Decimal, book: BBO) -> Decimal:
    """How far ``price`` lies outside the book, in bps of the nearer best price (0 inside).

    A buy is measured above the ask (it would take at once) and below the bid
    (it would rest far away); a sell the other way round.
    """
    if side is Side.BUY:
        if price > book.ask:
            return (price - book.ask) / book.ask * BPS
        if price < book.bid:
            return (book.bid - price) / book.bid * BPS
    else:
        if price < book.bid:
            return (book.bid - price) / book.bid * BPS
        if price > book.ask:
            return (price - book.ask) / book.ask * BPS
    return Decimal(0)


async def check_entry_prices(
    specs: Sequence[LegSpec],
    instruments: Sequence[Instrument],
    config: HedgeConfig,
    read_book: Callable[[LegSpec], Awaitable[BBO]],
    gather: Callable[[Iterable[Awaitable[BBO]]], Awaitable[list[BBO]]] | None = None,
) -> None:
    """Refuse an entry the venues would refuse, or nobody means (nothing sent yet).

    Each leg's notional (quantity x price) must reach its venue's minimum (a
    venue refuses the order otherwise and the entry ends ``cancelled``), and
    its limit price must lie within ``max_entry_distance_bps`` of the book.
    ``read_book`` reads a leg's top of book (the engine passes its retrying set-up read).
    """
    for index, (spec, instrument) in enumerate(zip(specs, instruments, strict=True)):
        notional = spec.quantity * spec.price
        if notional < instrument.min_notional:
            raise InvalidValue(
                f"leg {index} ({spec.venue} {spec.symbol} {spec.side}): notional {notional} "
                f"(quantity {spec.quantity} x price {spec.price}) is below the venue's minimum "
                f"{instrument.min_notional}"
            )
    limit = Decimal(str(config.max_entry_distance_bps))
    reads = (read_book(spec) for spec in specs)
    # ``gather``: the driver's own way to run the reads concurrently (asyncio's by default).
    books: list[BBO] = list(await (gather(reads) if gather is not None else asyncio.gather(*reads)))
    for index, (spec, book) in enumerate(zip(specs, books, strict=True)):
        distance = entry_distance_bps(spec.side, spec.price, book)
        if distance > limit:
            raise InvalidValue(
                f"leg {index} ({spec.venue} {spec.symbol} {spec.side}): limit price {spec.price} "
                f"is {distance:.0f} bps from the book (bid {book.bid}, ask {book.ask}); "
                f"HedgeConfig.max_entry_distance_bps is {limit}"
            )
