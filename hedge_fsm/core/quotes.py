"""A venue's quote tape: its latest top of book, when it came, and recent mids.

The leg prices and judges its resting order on the latest quote, and measures the market's
volatility on the mids (:func:`hedge_fsm.core.pricer.realized_volatility_bps`). The
supervisor keeps one per leg until the leg's hedge starts, then hands it over, so the hedge
starts from the book the entry phase saw. Quotes are statistics and prices, never money
state: a crossed quote is not kept (venues publish them in fast moves; nothing is priced
on one).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import attrs

from hedge_fsm.values import BBO

__all__ = ["QuoteTape"]

SAMPLES = 64
"""Mids kept: enough for a volatility estimate, bounded whatever the stream's rate."""


@attrs.define(slots=True)
class QuoteTape:
    """The latest usable quote (``bbo``, at engine time ``at``) and ``(time, mid)`` samples."""

    bbo: BBO | None = None
    at: float = 0.0
    samples: deque[tuple[float, Decimal]] = attrs.Factory(lambda: deque(maxlen=SAMPLES))

    def note(self, now: float, bbo: BBO) -> bool:
        """Keep ``bbo`` as the latest quote and its mid as a sample; False (nothing kept) for a
        crossed quote."""
        if bbo.is_crossed:
            return False
        self.bbo = bbo
        self.at = now
        self.samples.append((now, bbo.mid))
        return True

    def has_prices_of(self, bbo: BBO) -> bool:
        """Is ``bbo`` at the latest quote's prices (only its sizes may differ)?"""
        last = self.bbo
        return last is not None and last.bid == bbo.bid and last.ask == bbo.ask

    def copy(self) -> QuoteTape:
        """An independent tape with the same quote and samples."""
        return QuoteTape(bbo=self.bbo, at=self.at, samples=deque(self.samples, maxlen=SAMPLES))
