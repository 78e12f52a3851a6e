"""Shared builders for the simulator tests: a small, quiet, fully deterministic venue.

The test venue lists one symbol, ``TEST``: tick 0.1, lot 0.001, minimum
quantity 0.01, minimum notional 10, maker 2 bps / taker 5 bps. Its book has no
volatility and no random trades, quotes 100.0 / 100.1 and shows 1.0 contract
per level on five levels, so every fill in a test comes from the test itself
(through the hooks).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from hedge_fsm import Instrument
from hedge_fsm.sim import (
    BookConfig,
    FaultPlan,
    LatencyModel,
    MarketModel,
    PostOnlyReject,
    SimVenue,
    SymbolSpec,
)

D = Decimal

TEST_INSTRUMENT = Instrument(
    symbol="TEST",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.01"),
    min_notional=D("10"),
    multiplier=D(1),
    maker_fee=D("0.0002"),
    taker_fee=D("0.0005"),
)

QUIET_BOOK = BookConfig(
    reference_price=D("100.0"),
    spread_ticks=1,
    depth=D("1.0"),
    depth_levels=5,
)

VenueFactory = Callable[..., SimVenue]


@pytest.fixture
def make_venue() -> VenueFactory:
    """Build the quiet ``TEST`` venue; keyword arguments override the defaults."""

    def build(
        *,
        latency: LatencyModel | None = None,
        faults: FaultPlan | None = None,
        seed: int = 0,
        book: BookConfig = QUIET_BOOK,
        post_only_reject: PostOnlyReject = PostOnlyReject.RAISE,
        market: MarketModel | None = None,
        name: str = "sim",
    ) -> SimVenue:
        return SimVenue(
            name,
            market if market is not None else MarketModel(seed),
            [SymbolSpec(instrument=TEST_INSTRUMENT, book=book)],
            latency=latency,
            faults=faults,
            seed=seed,
            post_only_reject=post_only_reject,
        )

    return build
