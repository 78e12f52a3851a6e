"""The position book: per (venue, symbol), the account baseline and every hedge's own fills.

Why it exists: a venue reports one position per account and symbol. Two hedges
running on the same venue and symbol in one engine would each read that
position as their own, and one hedge's rollback would flatten the other's leg.
The engine therefore keeps one book, and each hedge sees it through a
:class:`BookView`:

* a hedge's **baseline** excludes the fills of the other hedges still live on
  the key (their fills belong to them, whether or not the venue shows them yet);
* the **expected position** (baseline of the key + every hedge's fills) is the
  account position as the book knows it: what a settled position read must show;
* the time of the **last fill** on the key (by any hedge) says when a position
  read can be trusted to include every fill (venues report positions behind
  fills: reads are trusted only ``position_settle_delay`` after it).

Pure: no I/O, no clock. Hedges push their own net fill (signed contracts, from
their ledgers) with the time of the event that changed it.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

__all__ = ["BookView", "PositionBook"]

ZERO = Decimal(0)
Key = tuple[str, str]


@attrs.define
class _Entry:
    """One (venue, symbol): the account position when the book started it, and every fill since."""

    baseline: Decimal
    fills: dict[str, Decimal] = attrs.Factory(dict)
    """Per hedge id: signed net contracts it traded on this key."""
    live: set[str] = attrs.Factory(set)
    last_fill_at: float | None = None


class PositionBook:
    """Per (venue, symbol): the account baseline and every hedge's own fills (one per engine)."""

    def __init__(self) -> None:
        self._entries: dict[Key, _Entry] = {}

    def open(self, hedge_id: str, venue: str, symbol: str, position: Decimal) -> Decimal:
        """Register a hedge on a key, given a position read taken just before; its baseline.

        With no other hedge live on the key the read is the truth (the last hedge
        on it ended only after a settled read). Otherwise the read may or may not
        include the live hedges' fills yet, so the book's own figure is used: the
        key's baseline plus the fills of hedges that have ended.
        """
        key = (venue, symbol)
        entry = self._entries.get(key)
        if entry is None or not entry.live:
            last = entry.last_fill_at if entry is not None else None
            entry = _Entry(baseline=position, last_fill_at=last)
            self._entries[key] = entry
        entry.live.add(hedge_id)
        entry.fills.setdefault(hedge_id, ZERO)
        return entry.baseline + sum(
            (q for h, q in entry.fills.items() if h not in entry.live), ZERO
        )

    def record(self, hedge_id: str, venue: str, symbol: str, net: Decimal, now: float) -> bool:
        """Set a hedge's net fill on a key; True (and the fill time noted) when it changed."""
        entry = self._entries[(venue, symbol)]
        if entry.fills.get(hedge_id, ZERO) == net:
            return False
        entry.fills[hedge_id] = net
        entry.last_fill_at = now
        return True

    def close(self, hedge_id: str, venue: str, symbol: str) -> None:
        """The hedge has ended: its fills stay (they are in the account), it is no longer live."""
        entry = self._entries.get((venue, symbol))
        if entry is not None:
            entry.live.discard(hedge_id)

    def expected(self, venue: str, symbol: str) -> Decimal:
        """The account position as the book knows it: baseline + every hedge's fills."""
        entry = self._entries[(venue, symbol)]
        return entry.baseline + sum(entry.fills.values(), ZERO)

    def others_live(self, hedge_id: str, venue: str, symbol: str) -> bool:
        """Is another hedge live on this key (so an unexplained difference may be its)?"""
        entry = self._entries[(venue, symbol)]
        return bool(entry.live - {hedge_id})

    def last_fill_at(self, venue: str, symbol: str) -> float | None:
        """When a fill on this key (any hedge's) was last learned; None: none yet."""
        return self._entries[(venue, symbol)].last_fill_at

    def view(self, hedge_id: str) -> BookView:
        return BookView(self, hedge_id)


@attrs.frozen
class BookView:
    """One hedge's view of the engine's book."""

    book: PositionBook
    hedge_id: str

    def open(self, venue: str, symbol: str, position: Decimal) -> Decimal:
        return self.book.open(self.hedge_id, venue, symbol, position)

    def record(self, venue: str, symbol: str, net: Decimal, now: float) -> bool:
        return self.book.record(self.hedge_id, venue, symbol, net, now)

    def close(self, venue: str, symbol: str) -> None:
        self.book.close(self.hedge_id, venue, symbol)

    def expected(self, venue: str, symbol: str) -> Decimal:
        return self.book.expected(venue, symbol)

    def others_live(self, venue: str, symbol: str) -> bool:
        return self.book.others_live(self.hedge_id, venue, symbol)

    def last_fill_at(self, venue: str, symbol: str) -> float | None:
        return self.book.last_fill_at(venue, symbol)
