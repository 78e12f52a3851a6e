"""Presets: venues that behave like real ones, market scenarios, and a default setup.

Theory of operation
-------------------
A :class:`VenuePreset` is data: the symbols a venue lists (contract grids,
minimums, fees, multiplier, and how each book behaves), its latency and how it
refuses a crossing post-only order. A :class:`Scenario` scales every book
(volatility, spread, trade rate, depth) and carries a
:class:`~hedge_fsm.sim.faults.FaultPlan`. ``preset.build(market, ...)`` turns
the pair into a :class:`~hedge_fsm.sim.venue.SimVenue` on a shared
:class:`~hedge_fsm.sim.market.MarketModel`; :func:`build_venues` does that for
the default two-venue setup.

Every venue number is cited where it is set: the exchange's documentation page
(title and URL) and the date it was read (2026-12-01, from the stored copies in
the project's search corpus; no page was fetched live). Each preset also carries
its :attr:`VenuePreset.sources`, which ``tests/sim/test_presets.py`` checks
against the numbers the preset uses. Where a number could not be verified the
comment says so: network latencies, book shapes (depth, trade flow), block
interval and the venues' own fault rates are *modelling assumptions*, plausible
orders of magnitude, not measurements. Fees are the base tier. Check a venue's
current schedule before you rely on a number. A table of every preset is in
``docs/simulation.md``.

What the presets model beyond grids and fees:

* **Speed bumps** (:class:`~hedge_fsm.sim.venue.SpeedBump`): Lighter's standard
  account holds a taker order 300 ms and a maker order or a cancel 200 ms before
  its matching engine sees it (premium: 0 ms for makers and cancels, 200 ms for
  takers).
* **Block cadence** (:class:`~hedge_fsm.sim.venue.BlockCadence`): Hyperliquid
  acts in blocks, post-only (ALO) orders first, then cancels, then orders that
  may take, so a cancel sent just after a taker order in the same block wins.
* **Amend queue rules** (``VenueCapabilities.amend``,
  ``amend_keeps_priority_on_decrease``): a price change always loses the order's
  place; a size decrease keeps it where the venue documents that it does (Bybit);
  Binance USDⓈ-M re-queues every modified order.
* **The venue's own untidiness** (:attr:`VenuePreset.faults`): the DEX presets
  carry small rates of lost acknowledgements, stale or repeated order reports,
  lookups that do not find a just-acknowledged order (their order lookups are
  served by replicas that lag the matching engine) and lagging position reads,
  in the ``realistic`` and ``faulty`` scenarios: each probability of the
  scenario's plan is raised to at least the venue's own.
  ``calm`` and ``volatile`` stay honest, so that a hand-written flow on them
  sees no fault.

Default setup (:func:`build_venues`)
------------------------------------
Two venues on one market model (seeded with ``seed``), prices correlated
through one factor per asset (``BTC``, ``PEPE``; loading 0.995 each, so the
same asset on two venues has a return correlation of about 0.99):

* ``binance`` (:func:`binance_usdm_like`): ``BTCUSDT`` (1 BTC per contract,
  mid 60000.0) and ``PEPEUSDT`` (1 PEPE per contract, mid 0.00001 USDT per
  token, lot 1000 tokens);
* ``lighter`` (:func:`lighter_like`): ``BTC`` (mid 60000.0) and ``kPEPE``
  (**1000 PEPE per contract**, mid 0.01 USDT per contract, lot 1 contract).

So 1 ``kPEPE`` contract at 0.01 is the same 1000 tokens as 1000 ``PEPEUSDT``
at 0.00001: both venues quote the same price per token, and one lot on either
side is exactly 1000 tokens.

Other presets (:data:`PRESETS`): ``hyperliquid`` (:func:`hyperliquid_like`:
``BTC``, ``kPEPE``), ``lighter_premium`` (:func:`lighter_premium_like`),
``bybit`` (:func:`bybit_like`: ``BTCUSDT``) and ``paradex``
(:func:`paradex_like`: ``BTC-USD-PERP``, API orders).

Scenarios (:data:`SCENARIOS`): ``calm`` (the presets as documented),
``volatile`` (5× volatility, 3× spread, 3× trade rate, half the depth),
``faulty`` (calm market, every fault kind at modest rates, see :data:`FAULTY`)
and ``realistic`` (calm market, each venue's own untidiness, :data:`REALISTIC`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.sim.faults import FaultPlan
from hedge_fsm.sim.market import BookConfig, MarketModel
from hedge_fsm.sim.venue import (
    BlockCadence,
    LatencyModel,
    OpLatency,
    PostOnlyReject,
    SimVenue,
    SpeedBump,
    SymbolSpec,
)
from hedge_fsm.values import Instrument
from hedge_fsm.venue import AmendSupport, VenueCapabilities

__all__ = [
    "CALM",
    "FAULTY",
    "PRESETS",
    "REALISTIC",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "VOLATILE",
    "Scenario",
    "Source",
    "VenuePreset",
    "binance_usdm_like",
    "build_venues",
    "bybit_like",
    "get_scenario",
    "hyperliquid_like",
    "lighter_like",
    "lighter_premium_like",
    "paradex_like",
]

D = Decimal


@attrs.frozen(kw_only=True)
class Scenario:
    """A market regime applied to every book of a setup, plus the faults of its venues."""

    name: str
    volatility_scale: float = 1.0
    spread_scale: int = 1
    trade_rate_scale: float = 1.0
    depth_scale: Decimal = attrs.field(default=D(1))
    quote_interval: float = 0.05
    """Seconds between quote refreshes of the market model."""
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    venue_faults: bool = False
    """Whether each venue's own untidiness (:attr:`VenuePreset.faults`) applies too: each
    probability of ``faults`` is raised to at least the venue's own."""

    def apply(self, book: BookConfig) -> BookConfig:
        """``book`` under this scenario."""
        return attrs.evolve(
            book,
            volatility=book.volatility * self.volatility_scale,
            spread_ticks=book.spread_ticks * self.spread_scale,
            trade_rate=book.trade_rate * self.trade_rate_scale,
            depth=book.depth * self.depth_scale,
            depth_step=book.depth_step * self.depth_scale,
        )


CALM = Scenario(name="calm")
"""The presets as documented: about 1 bp/√s on BTC, 2 bp/√s on PEPE, one-tick spreads."""

VOLATILE = Scenario(
    name="volatile",
    volatility_scale=5.0,
    spread_scale=3,
    trade_rate_scale=3.0,
    depth_scale=D("0.5"),
)
"""A fast market: 5× volatility, 3× the spread, 3× the trade flow, half the depth."""

FAULTY = Scenario(
    name="faulty",
    faults=FaultPlan(
        rate_limit=0.02,
        place_reject=0.02,
        place_timeout=0.03,
        cancel_timeout=0.03,
        timeout_processed=0.5,
        timeout_delay=0.5,
        lost_ack=0.03,
        duplicate_report=0.05,
        stale_report=0.05,
        stale_bbo=0.05,
        stale_bbo_age=0.5,
        outage_every=10.0,
        outage_duration=0.25,
    ),
    venue_faults=True,
)
"""A calm market on misbehaving venues: rate limits and rejects 2 %, timeouts and lost
acks 3 % (half of the timed-out requests were processed), duplicate/stale order reports
and stale quotes 5 %, and an outage during the last 0.25 s of every 10 s; each venue's own untidiness on top
(:attr:`VenuePreset.faults`: lagging position reads on the DEXes)."""

REALISTIC = Scenario(name="realistic", venue_faults=True)
"""A calm market on venues as untidy as each preset says it is (:attr:`VenuePreset.faults`:
the DEXes' occasional lost acks, stale or repeated order reports and lagging position
reads; the CEX presets are honest). Rates are modelling assumptions, not measurements."""

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (CALM, VOLATILE, FAULTY, REALISTIC)}
"""Named scenarios: ``calm``, ``volatile``, ``faulty``, ``realistic``."""

SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)


def get_scenario(name: str | Scenario) -> Scenario:
    """The scenario called ``name`` (a :class:`Scenario` is returned as is)."""
    if isinstance(name, Scenario):
        return name
    try:
        return SCENARIOS[name]
    except KeyError:
        raise InvalidValue(
            f"unknown scenario {name!r}; known: {', '.join(SCENARIO_NAMES)}"
        ) from None


READ_ON = "2026-12-01"
"""When the cited pages were read (stored copies in the project's search corpus)."""


@attrs.frozen(kw_only=True)
class Source:
    """Where a preset's numbers come from: a documentation page and what it says."""

    title: str
    url: str
    says: str
    """The numbers taken from the page, as the page states them."""
    read: str = READ_ON
    verified: bool = True
    """False when the page itself was not in the stored corpus and the numbers were
    checked against another public copy (named in ``says``), or not at all."""


# Probabilities of a FaultPlan that a venue's own plan can raise (seconds fields beside them).
_RATES = (
    "replica_lag",
    "rate_limit",
    "place_reject",
    "place_timeout",
    "cancel_timeout",
    "lost_ack",
    "duplicate_report",
    "stale_report",
    "stale_bbo",
    "hang_place",
    "hang_cancel",
    "hang_query",
    "hang_bbo",
    "hang_position",
    "late_place",
    "understate_cancel",
    "position_lag",
)
_SPANS = ("stale_bbo_age", "position_lag_max", "replica_lag_max")


def _with_venue_faults(plan: FaultPlan, venue: FaultPlan | None) -> FaultPlan:
    """``plan`` with every probability (and span) raised to at least the venue's own."""
    if venue is None:
        return plan
    changes: dict[str, Any] = {}
    for name in (*_RATES, *_SPANS):
        own = getattr(venue, name)
        if own > getattr(plan, name):
            changes[name] = own
    return attrs.evolve(plan, **changes) if changes else plan


@attrs.frozen(kw_only=True)
class VenuePreset:
    """A venue as data; :meth:`build` makes a :class:`SimVenue` of it."""

    name: str
    symbols: tuple[SymbolSpec, ...]
    latency: LatencyModel
    post_only_reject: PostOnlyReject = PostOnlyReject.RAISE
    reduce_only_min_notional: bool = True
    """Whether reduce-only orders must meet the minimum notional."""
    description: str = ""
    request_window: float | None = None
    """Seconds within which a request must reach the venue or be refused (None: no window)."""
    amend: AmendSupport = AmendSupport.NONE
    """How the venue amends a resting order (``VenueCapabilities.amend``)."""
    amend_keeps_priority_on_decrease: bool = False
    """A size decrease by amend keeps the order's place in the queue; a price change never does."""
    faults: FaultPlan | None = None
    """The venue's own untidiness, applied in the scenarios that say so (``faulty``,
    ``realistic``: each probability of the scenario's plan is raised to at least this
    one's); an explicit ``build(faults=...)`` replaces both."""
    sources: tuple[Source, ...] = ()
    """Where the numbers come from (checked by the tests against the numbers used)."""

    def build(
        self,
        market: MarketModel,
        *,
        seed: int = 0,
        scenario: Scenario | str = CALM,
        zero_latency: bool = False,
        name: str | None = None,
        faults: FaultPlan | None = None,
    ) -> SimVenue:
        """A venue on ``market``: books shaped by ``scenario``, faults from it unless given.

        ``zero_latency`` drops every latency, speed bumps and blocks included
        (benchmarks); ``name`` renames the venue (two venues of one preset in one
        market need different names).
        """
        regime = get_scenario(scenario)
        plan = (
            faults
            if faults is not None
            else _with_venue_faults(
                attrs.evolve(regime.faults, seed=seed),
                self.faults if regime.venue_faults else None,
            )
        )
        symbols = [
            SymbolSpec(instrument=spec.instrument, book=regime.apply(spec.book))
            for spec in self.symbols
        ]
        return SimVenue(
            name or self.name,
            market,
            symbols,
            latency=LatencyModel.zero() if zero_latency else self.latency,
            faults=plan,
            seed=seed,
            post_only_reject=self.post_only_reject,
            reduce_only_min_notional=self.reduce_only_min_notional,
            capabilities=VenueCapabilities(
                request_window=self.request_window,
                reports_cancel_early=plan.understate_cancel > 0,
                amend=self.amend,
                amend_keeps_priority_on_decrease=self.amend_keeps_priority_on_decrease,
            ),
        )


# Modelling assumptions (not from any venue's documentation): volatility, correlation,
# reference prices, and every book's depth and trade flow below.
_BTC_VOL = 0.0001  # 1 bp/√s ≈ 56 % a year: a quiet day for BTC
_PEPE_VOL = 0.0002
_LOADING = 0.995
_BTC_MID = D("60000.0")
_PEPE_MID = D("0.00001")  # USDT per token


def _btc_book(depth: str, step: str, rate: float, size: str) -> BookConfig:
    return BookConfig(
        reference_price=_BTC_MID,
        volatility=_BTC_VOL,
        factor="BTC",
        factor_loading=_LOADING,
        spread_ticks=1,
        depth=D(depth),
        depth_step=D(step),
        trade_rate=rate,
        trade_size_mean=D(size),
    )


def binance_usdm_like() -> VenuePreset:
    """A Binance USDⓈ-M futures-like venue, named ``binance``.

    Fees 2.0 / 5.0 bps (regular user); GTX post-only refused (-5022); reduce-only
    waives the minimum notional; a 5 s request window (``recvWindow``); amend
    re-queues the order, whatever changed. Tens of milliseconds per call (an
    assumption). Sources: :attr:`VenuePreset.sources` and the comments below.
    BTCUSDT and PEPEUSDT: see the module docstring.
    """
    sources = (
        Source(
            title="Binance Futures Fee Structure & Fee Calculations",
            url="https://www.binance.com/en/support/faq/360033544231",
            says="USDⓈ-M regular user: maker 0.0200 %, taker 0.0500 %",
            verified=False,  # the stored copy omits the table; a third-party copy
            # (babianfox.com "Binance futures fee", Regular: 0.0200 % / 0.0500 %) agrees
        ),
        Source(
            title="Modify Order (TRADE), USDⓈ-M Futures REST API",
            url=(
                "https://developers.binance.com/docs/derivatives/usds-margined-futures/"
                "trade/rest-api/Modify-Order"
            ),
            says=(
                "only LIMIT order modification is supported, modified orders will be "
                "reordered in the match queue"
            ),
        ),
        Source(
            title="GET /fapi/v1/exchangeInfo (the endpoint's answer for BTCUSDT); error codes -5022, -4164",
            url="https://fapi.binance.com/fapi/v1/exchangeInfo",
            says=(
                "BTCUSDT tickSize 0.10, stepSize 0.001, minQty 0.001, MIN_NOTIONAL 100; "
                "recvWindow default 5000 ms; -5022 GTX order would take; -4164 notional "
                "unless reduce only"
            ),
            # Carried from the previous revision of this preset: neither the endpoint's answer
            # nor the error-code page is in the stored corpus, so not re-verified here.
            verified=False,
        ),
    )
    return VenuePreset(
        name="binance",
        description="Binance USDⓈ-M futures-like: 2.0 / 5.0 bps, tens of ms",
        # Network latency: an assumption (tens of ms from a co-located region), not documented.
        latency=LatencyModel(
            place=OpLatency(latency=0.020, jitter=0.010),
            cancel=OpLatency(latency=0.020, jitter=0.010),
            query=OpLatency(latency=0.015, jitter=0.010),
            bbo=OpLatency(latency=0.010, jitter=0.005),
            position=OpLatency(latency=0.015, jitter=0.010),
        ),
        post_only_reject=PostOnlyReject.RAISE,  # -5022 (unverified here, see sources)
        reduce_only_min_notional=False,  # -4164 "... (unless you choose reduce only)"
        request_window=5.0,  # recvWindow default 5000 ms
        amend=AmendSupport.NATIVE,  # PUT /fapi/v1/order (Modify Order)
        amend_keeps_priority_on_decrease=False,  # "modified orders will be reordered"
        sources=sources,
        symbols=(
            SymbolSpec(
                instrument=Instrument(
                    symbol="BTCUSDT",
                    tick_size=D("0.1"),  # exchangeInfo PRICE_FILTER tickSize 0.10
                    lot_size=D("0.001"),  # LOT_SIZE stepSize 0.001
                    min_quantity=D("0.001"),  # LOT_SIZE minQty 0.001
                    min_notional=D("100"),  # MIN_NOTIONAL 100 USDT
                    multiplier=D(1),
                    maker_fee=D("0.0002"),  # fee schedule, regular: maker 0.0200 %
                    taker_fee=D("0.0005"),  # fee schedule, regular: taker 0.0500 %
                ),
                book=_btc_book("2.0", "0.5", 20.0, "0.05"),
            ),
            SymbolSpec(
                # Binance lists 1000PEPEUSDT (1000 tokens per contract); this is the same
                # market quoted per token, so the default setup has a 1x symbol against
                # Lighter's 1000x kPEPE. Grid: 1e-10 per token, lot 1000 tokens; the 5 USDT
                # minimum is most symbols' MIN_NOTIONAL (unverified here).
                instrument=Instrument(
                    symbol="PEPEUSDT",
                    tick_size=D("0.0000000001"),
                    lot_size=D("1000"),
                    min_quantity=D("1000"),
                    min_notional=D("5"),
                    multiplier=D(1),
                    maker_fee=D("0.0002"),  # as BTCUSDT
                    taker_fee=D("0.0005"),
                ),
                book=BookConfig(
                    reference_price=_PEPE_MID,
                    volatility=_PEPE_VOL,
                    factor="PEPE",
                    factor_loading=_LOADING,
                    spread_ticks=1,
                    depth=D("2000000000"),
                    depth_step=D("500000000"),
                    trade_rate=8.0,
                    trade_size_mean=D("20000000"),
                ),
            ),
        ),
    )


def bybit_like() -> VenuePreset:
    """A Bybit USDT-perpetual-like venue, named ``bybit`` (``BTCUSDT``).

    Fees 2.0 / 5.5 bps (non-VIP); amend keeps the queue place on a size decrease,
    loses it on an increase or a price change; a crossing post-only order is
    cancelled (reported EXPIRED with reason POST_ONLY); a 5 s ``recvWindow``.
    Tens of milliseconds per call (an assumption).
    """
    sources = (
        Source(
            title="Bybit Trading Fee Structure",
            url="https://www.bybit.com/en/help-center/article/Trading-Fee-Structure",
            says="perpetual and futures, non-VIP: maker 0.0200 %, taker 0.0550 %",
            verified=False,  # page not in the stored corpus; the loweef Crypto Futures Fee
            # Index (huggingface.co/datasets/loweef/crypto-futures-fees, checked 2026-10-16,
            # citing this URL) gives Bybit taker 0.055 %, maker 0.02 %
        ),
        Source(
            title="Amend Order (Bybit FIX API)",
            url="https://bybit-exchange.github.io/docs/fix-api/amend-order",
            says=(
                "Increasing OrderQty causes the order to lose its current queue position. "
                "Decreasing OrderQty does not affect queue position."
            ),
            # The page documents the FIX (spot) amend; the same rule for the V5 REST amend
            # is what the project's ccxt profile already assumes (unverified for linear).
        ),
    )
    return VenuePreset(
        name="bybit",
        description="Bybit USDT perpetual-like: 2.0 / 5.5 bps, tens of ms, amend keeps place on decrease",
        # Network latency: an assumption, like binance's.
        latency=LatencyModel(
            place=OpLatency(latency=0.025, jitter=0.015),
            cancel=OpLatency(latency=0.025, jitter=0.015),
            query=OpLatency(latency=0.020, jitter=0.010),
            bbo=OpLatency(latency=0.015, jitter=0.005),
            position=OpLatency(latency=0.020, jitter=0.010),
        ),
        # Bybit cancels a crossing PostOnly order (EC_PostOnlyWillTakeLiquidity): an order
        # that ended unfilled, as docs/venues.md records for the ccxt adapter.
        post_only_reject=PostOnlyReject.EXPIRED,
        request_window=5.0,  # recvWindow 5000 ms (ccxt's default for bybit, docs/venues.md)
        amend=AmendSupport.NATIVE,
        amend_keeps_priority_on_decrease=True,  # "Decreasing OrderQty does not affect queue position"
        sources=sources,
        symbols=(
            SymbolSpec(
                # Grid and minimums: plausible values, not verified (tick 0.10, qty step
                # 0.001, min 0.001 BTC, 5 USDT minimum notional).
                instrument=Instrument(
                    symbol="BTCUSDT",
                    tick_size=D("0.1"),
                    lot_size=D("0.001"),
                    min_quantity=D("0.001"),
                    min_notional=D("5"),
                    multiplier=D(1),
                    maker_fee=D("0.0002"),  # non-VIP maker 0.0200 %
                    taker_fee=D("0.00055"),  # non-VIP taker 0.0550 %
                ),
                book=_btc_book("1.5", "0.5", 15.0, "0.05"),
            ),
        ),
    )


def hyperliquid_like() -> VenuePreset:
    """A Hyperliquid perps-like venue, named ``hyperliquid``.

    Fees 1.5 / 4.5 bps (base tier); the matching engine acts in blocks (every
    0.1 s here, an assumption), post-only (ALO) orders first, then cancels, then
    orders that may take; a crossing ALO order is refused; no request window
    (ccxt sends no ``expiresAfter``); amend (``modify``) assumed to re-queue the
    order. A client outside the validators' region: 200-400 ms of network round
    trip plus the wait for the block. Lookups are served by API servers that lag
    the chain, so the venue carries small rates of stale reports and lagging
    position reads (assumptions, :attr:`VenuePreset.faults`).
    """
    sources = (
        Source(
            title="Fees (Hyperliquid Docs)",
            url="https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees",
            says="perps, tier 0 (14 day volume up to $5M): taker 0.045 %, maker 0.015 %",
            verified=False,  # the stored copy of the page omits its table; the same rates
            # in hypernode-docs.polynode.dev/research/fees ("Perpetuals 4.5 bps taker,
            # 1.5 bps maker") and sltp.gitbook.io ("Tier 0 0.0450 % / 0.0150 %")
        ),
        Source(
            title="Order book (Hyperliquid Docs, HyperCore)",
            url="https://hyperliquid.gitbook.io/hyperliquid-docs/hypercore/order-book",
            says=(
                "Within a block, actions are sorted: actions that do not send GTC or IOC "
                "orders to any book; cancels; actions that send at least one GTC or IOC. "
                "Within each category, in the order proposed. Modifies are categorized "
                "according to the new order they place."
            ),
        ),
        Source(
            title="L1 Overview (Hyperliquid Docs), Latency",
            url="https://hyperliquid.gitbook.io/hyperliquid-docs/hyperliquid-l1/l1-overview",
            says=(
                "for an order placed from a geographically co-located client, end-to-end "
                "latency has a median 0.2 seconds and 99th percentile 0.9 seconds"
            ),
        ),
        Source(
            title="Tick and lot size (Hyperliquid Docs, API)",
            url="https://hyperliquid.gitbook.io/hyperliquid-docs/for-developers/api/tick-and-lot-size",
            says=(
                "Prices can have up to 5 significant figures, but no more than MAX_DECIMALS - "
                "szDecimals decimal places (6 for perps); integer prices are always allowed. "
                "Sizes are rounded to the szDecimals of that asset."
            ),
            # Not on this page, so unverified: szDecimals 5 for BTC and 0 for kPEPE (carried
            # from the previous revision), the $10 minimum order value (also stated by
            # skills.sh galleonlabs/hyperliquid-orders, a third party) and the ALO refusal text
            # "Post only order would have immediately matched" (the ccxt adapter's tests).
        ),
    )
    return VenuePreset(
        name="hyperliquid",
        description="Hyperliquid-like: 1.5 / 4.5 bps, 0.1 s blocks (ALO, cancels first)",
        latency=LatencyModel(
            # Network round trip from outside the validators' region: an assumption. With
            # the block wait the place takes 0.2-0.5 s, above the documented co-located
            # median of 0.2 s.
            place=OpLatency(latency=0.200, jitter=0.200),
            cancel=OpLatency(latency=0.200, jitter=0.200),
            query=OpLatency(latency=0.100, jitter=0.050),
            bbo=OpLatency(latency=0.100, jitter=0.050),
            position=OpLatency(latency=0.100, jitter=0.050),
            # Block interval 0.1 s: NOT in Hyperliquid's docs (an assumption, below the
            # documented 0.2 s median end-to-end); the in-block order is documented.
            blocks=BlockCadence(interval=0.1),
        ),
        post_only_reject=PostOnlyReject.RAISE,  # "Post only order would have immediately matched"
        amend=AmendSupport.NATIVE,  # the exchange endpoint's "modify" (ccxt editOrder)
        # Unverified: the docs say nothing of queue priority on modify; assumed lost.
        amend_keeps_priority_on_decrease=False,
        faults=FaultPlan(
            # The venue's own untidiness: a modelling assumption, not measured.
            lost_ack=0.005,
            stale_report=0.02,
            replica_lag=0.05,
            replica_lag_max=0.5,
            position_lag=0.05,
            position_lag_max=0.5,
        ),
        sources=sources,
        symbols=(
            SymbolSpec(
                instrument=Instrument(
                    symbol="BTC",
                    tick_size=D("1"),  # 5 significant figures near 60000
                    lot_size=D("0.00001"),  # szDecimals 5
                    min_quantity=D("0.00001"),
                    min_notional=D("10"),  # $10 minimum order value
                    multiplier=D(1),
                    maker_fee=D("0.00015"),  # tier 0 maker 0.015 %
                    taker_fee=D("0.00045"),  # tier 0 taker 0.045 %
                ),
                book=_btc_book("3.0", "1.0", 10.0, "0.05"),
            ),
            SymbolSpec(
                instrument=Instrument(
                    symbol="kPEPE",  # 1000 PEPE per contract
                    tick_size=D("0.000001"),
                    lot_size=D("1"),  # szDecimals 0
                    min_quantity=D("1"),
                    min_notional=D("10"),  # assumed to apply to reduce-only too (stricter)
                    multiplier=D(1000),
                    maker_fee=D("0.00015"),
                    taker_fee=D("0.00045"),
                ),
                book=BookConfig(
                    reference_price=_PEPE_MID * 1000,
                    volatility=_PEPE_VOL,
                    factor="PEPE",
                    factor_loading=_LOADING,
                    spread_ticks=1,
                    depth=D("2000000"),
                    depth_step=D("500000"),
                    trade_rate=5.0,
                    trade_size_mean=D("20000"),
                ),
            ),
        ),
    )


_LIGHTER_ACCOUNT_TYPES = Source(
    title="Account Types (Lighter API docs)",
    url="https://apidocs.lighter.xyz/docs/account-types",
    says=(
        "Standard Account (default): maker fee 0 %, taker fee 0 %, taker latency 300 ms, "
        "maker/cancel latency 200 ms. Premium Account: latency for maker & cancel orders is "
        "0 ms; with 0 LIT staked maker fee 0.0040 %, taker fee 0.0280 %, taker latency 200 ms"
    ),
    # An older copy (apibetadocs.lighter.xyz/docs/account-types) gave premium 0.002 % /
    # 0.02 % and 150 ms taker latency; the current page's numbers are used.
)


def _lighter_symbols(maker_fee: Decimal, taker_fee: Decimal) -> tuple[SymbolSpec, ...]:
    # Grids and minimums: plausible values, not copied from the venue (BTC tick 0.1, lot
    # 0.00001; kPEPE tick 0.000001, lot 1; 10 USDC minimum notional, assumed to apply to
    # reduce-only orders too, the stricter choice). kPEPE is 1000 PEPE per contract.
    return (
        SymbolSpec(
            instrument=Instrument(
                symbol="BTC",
                tick_size=D("0.1"),
                lot_size=D("0.00001"),
                min_quantity=D("0.00001"),
                min_notional=D("10"),
                multiplier=D(1),
                maker_fee=maker_fee,
                taker_fee=taker_fee,
            ),
            book=_btc_book("0.5", "0.2", 5.0, "0.02"),
        ),
        SymbolSpec(
            instrument=Instrument(
                symbol="kPEPE",
                tick_size=D("0.000001"),
                lot_size=D("1"),
                min_quantity=D("1"),
                min_notional=D("10"),
                multiplier=D(1000),
                maker_fee=maker_fee,
                taker_fee=taker_fee,
            ),
            book=BookConfig(
                reference_price=_PEPE_MID * 1000,
                volatility=_PEPE_VOL,
                factor="PEPE",
                factor_loading=_LOADING,
                spread_ticks=1,
                depth=D("1000000"),
                depth_step=D("250000"),
                trade_rate=3.0,
                trade_size_mean=D("20000"),
            ),
        ),
    )


# Network latency to Lighter's API: an assumption (30-60 ms round trip); the speed bump
# comes on top of it, between arrival and the matching engine.
_LIGHTER_NETWORK = OpLatency(latency=0.030, jitter=0.030)

# Lighter's order lookups go through the account's order lists on its API servers, which
# lag the sequencer: stale or repeated reports, lagging positions, the odd lost answer.
# A modelling assumption, not measured.
_LIGHTER_FAULTS = FaultPlan(
    lost_ack=0.005,
    duplicate_report=0.02,
    stale_report=0.02,
    replica_lag=0.05,
    replica_lag_max=1.0,
    position_lag=0.05,
    position_lag_max=1.0,
)


def lighter_like() -> VenuePreset:
    """A Lighter-like venue on a **standard** account, named ``lighter``.

    Fees 0 / 0; a speed bump of 300 ms for a taker order and 200 ms for a maker
    order or a cancel (on top of 30-60 ms of network, an assumption); a
    crossing post-only order is reported as ended unfilled (status EXPIRED,
    reason POST_ONLY), like Lighter's "canceled, post-only". Amend (ccxt
    ``editOrder``, Lighter's ModifyOrder) is native; its queue rules are not
    documented: assumed to re-queue. The venue's own untidiness (lagging order
    lists): :attr:`VenuePreset.faults`.
    """
    return VenuePreset(
        name="lighter",
        description="Lighter-like, standard account: 0 / 0 bps, 300 ms taker / 200 ms maker+cancel bump",
        latency=LatencyModel(
            place=_LIGHTER_NETWORK,
            cancel=_LIGHTER_NETWORK,
            query=_LIGHTER_NETWORK,
            bbo=_LIGHTER_NETWORK,
            position=_LIGHTER_NETWORK,
            # Account Types: standard taker latency 300 ms, maker/cancel latency 200 ms.
            speed_bump=SpeedBump(taker=0.300, maker=0.200, cancel=0.200),
        ),
        post_only_reject=PostOnlyReject.EXPIRED,
        amend=AmendSupport.NATIVE,  # capability table (docs/venues.md): native
        amend_keeps_priority_on_decrease=False,  # unverified: assumed lost
        faults=_LIGHTER_FAULTS,
        sources=(_LIGHTER_ACCOUNT_TYPES,),
        # Account Types, standard: maker fee 0 %, taker fee 0 %.
        symbols=_lighter_symbols(D(0), D(0)),
    )


def lighter_premium_like() -> VenuePreset:
    """A Lighter-like venue on a **premium** account (0 LIT staked), named ``lighter_premium``.

    Fees 0.4 / 2.8 bps; no speed bump for maker orders and cancels, 200 ms for
    a taker order. Everything else as :func:`lighter_like`.
    """
    return attrs.evolve(
        lighter_like(),
        name="lighter_premium",
        description="Lighter-like, premium account: 0.4 / 2.8 bps, 200 ms taker bump, 0 ms maker+cancel",
        latency=attrs.evolve(
            lighter_like().latency,
            # Account Types, premium: maker & cancel 0 ms; taker 200 ms with 0 LIT staked.
            speed_bump=SpeedBump(taker=0.200, maker=0.0, cancel=0.0),
        ),
        # Account Types, premium with 0 LIT staked: maker 0.0040 %, taker 0.0280 %.
        symbols=_lighter_symbols(D("0.00004"), D("0.00028")),
    )


def paradex_like() -> VenuePreset:
    """A Paradex-like venue trading through the API (Pro orders), named ``paradex``.

    Fees 0.3 / 2 bps (API - Standard); Pro orders pass no speed bump (Retail
    orders have 300 ms on submission and cancellation, and queue priority at
    each price level, which this model does not give anyone); a crossing
    post-only order is accepted and closed (POST_ONLY_WOULD_CROSS: reported
    EXPIRED); amend native, queue rules undocumented (assumed to re-queue).
    """
    sources = (
        Source(
            title="Paradex Trading Fees",
            url="https://docs.paradex.trade/trading/trading-fee",
            says="Perpetual futures, API - Standard (default for API traders): maker 0.003 %, taker 0.02 %",
        ),
        Source(
            title="Retail and Pro Orders (Paradex docs)",
            url="https://docs.paradex.trade/trading/trader-profiles",
            says=(
                "Retail Orders: order submission speed bump 300ms, order cancellation speed "
                "bump 300ms, queue priority at each price level; Pro Orders (standard API "
                "orders): no speed bump"
            ),
        ),
    )
    return VenuePreset(
        name="paradex",
        description="Paradex-like, API (Pro) orders: 0.3 / 2.0 bps, no speed bump",
        # Network latency: an assumption (50-100 ms round trip), not documented.
        latency=LatencyModel(
            place=OpLatency(latency=0.050, jitter=0.050),
            cancel=OpLatency(latency=0.050, jitter=0.050),
            query=OpLatency(latency=0.040, jitter=0.030),
            bbo=OpLatency(latency=0.040, jitter=0.030),
            position=OpLatency(latency=0.040, jitter=0.030),
        ),
        post_only_reject=PostOnlyReject.EXPIRED,  # cancel_reason POST_ONLY_WOULD_CROSS
        amend=AmendSupport.NATIVE,  # capability table (docs/venues.md): native
        amend_keeps_priority_on_decrease=False,  # unverified: assumed lost
        sources=sources,
        symbols=(
            SymbolSpec(
                # Grid and minimum: plausible values, not verified (tick 0.1, size
                # increment 0.0001, 10 USD minimum notional).
                instrument=Instrument(
                    symbol="BTC-USD-PERP",
                    tick_size=D("0.1"),
                    lot_size=D("0.0001"),
                    min_quantity=D("0.0001"),
                    min_notional=D("10"),
                    multiplier=D(1),
                    maker_fee=D("0.00003"),  # API - Standard maker 0.003 %
                    taker_fee=D("0.0002"),  # API - Standard taker 0.02 %
                ),
                book=_btc_book("1.0", "0.4", 8.0, "0.03"),
            ),
        ),
    )


PRESETS = {
    "binance": binance_usdm_like,
    "bybit": bybit_like,
    "hyperliquid": hyperliquid_like,
    "lighter": lighter_like,
    "lighter_premium": lighter_premium_like,
    "paradex": paradex_like,
}
"""Preset factories by venue name."""


def build_venues(
    scenario: str | Scenario = "calm",
    seed: int = 0,
    *,
    zero_latency: bool = False,
    exact_path: bool = False,
) -> dict[str, SimVenue]:
    """The default two-venue setup (``binance`` and ``lighter``) under ``scenario``.

    Both venues share one :class:`MarketModel` seeded with ``seed`` (reach it
    as ``venue.market``); see this module's docstring for the symbols and
    prices. ``zero_latency`` removes every latency (benchmarks);
    ``exact_path`` makes the market path depend on the seed alone.
    """
    regime = get_scenario(scenario)
    market = MarketModel(seed, quote_interval=regime.quote_interval, exact_path=exact_path)
    venues = [
        preset().build(market, seed=seed, scenario=regime, zero_latency=zero_latency)
        for preset in (binance_usdm_like, lighter_like)
    ]
    return {venue.name: venue for venue in venues}
