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

The numbers come from the venues' public documentation as we know it
(mid-2024 to 2025, base fee tier) and are *approximations*, not a promise that
the simulator matches any venue: check a venue's current schedule before you
rely on a number. Book shapes (depth, trade flow) are plausible orders of
magnitude, not measurements.

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

Scenarios (:data:`SCENARIOS`): ``calm`` (the presets as documented),
``volatile`` (5× volatility, 3× spread, 3× trade rate, half the depth) and
``faulty`` (calm market, every fault kind at modest rates, see :data:`FAULTY`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from decimal import Decimal

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.sim.faults import FaultPlan
from hedge_fsm.sim.market import BookConfig, MarketModel
from hedge_fsm.sim.venue import LatencyModel, OpLatency, PostOnlyReject, SimVenue, SymbolSpec
from hedge_fsm.values import Instrument
from hedge_fsm.venue import VenueCapabilities

__all__ = [
    "CALM",
    "FAULTY",
    "PRESETS",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "VOLATILE",
    "Scenario",
    "VenuePool",
    "VenuePreset",
    "binance_usdm_like",
    "build_venues",
    "get_scenario",
    "hyperliquid_like",
    "lighter_like",
    "reset_venues",
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
)
"""A calm market on misbehaving venues: rate limits and rejects 2 %, timeouts and lost
acks 3 % (half of the timed-out requests were processed), duplicate/stale order reports
and stale quotes 5 %, and an outage during the last 0.25 s of every 10 s."""

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (CALM, VOLATILE, FAULTY)}
"""Named scenarios: ``calm``, ``volatile``, ``faulty``."""

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

        ``zero_latency`` drops every latency (benchmarks); ``name`` renames the
        venue (two venues of one preset in one market need different names).
        """
        regime = get_scenario(scenario)
        plan = faults if faults is not None else attrs.evolve(regime.faults, seed=seed)
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
                inline_calls=True,
            ),
        )


_BTC_VOL = 0.0001  # 1 bp/√s ≈ 56 % a year: a quiet day for BTC
_PEPE_VOL = 0.0002
_LOADING = 0.995
_BTC_MID = D("60000.0")
_PEPE_MID = D("0.00001")  # USDT per token


def binance_usdm_like() -> VenuePreset:
    """A Binance USDⓈ-M futures-like venue, named ``binance``.

    Sources: Binance's futures fee schedule, regular user / VIP 0 (maker
    0.0200 %, taker 0.0500 %); ``GET /fapi/v1/exchangeInfo`` for BTCUSDT
    (PRICE_FILTER tickSize 0.10, LOT_SIZE stepSize 0.001 and minQty 0.001,
    MIN_NOTIONAL 100 USDT; most other symbols have a 5 USDT minimum); a
    post-only (GTX) order that would take liquidity is refused with error
    -5022; the minimum notional does not apply to reduce-only orders (error
    -4164: "Order's notional must be no smaller than 100 (unless you choose
    reduce only)"). Signed requests carry a ``recvWindow`` (default 5000 ms):
    one that reaches the matching engine later is refused, modelled as a 5 s
    request window. Binance lists PEPE as ``1000PEPEUSDT`` (1000 tokens per contract,
    tick 0.0000001, step 1); ``PEPEUSDT`` here is the same market quoted per
    token (tick 1e-10, lot 1000 tokens), so that the default setup has a 1×
    symbol against Lighter's 1000× ``kPEPE``. Latency: tens of milliseconds
    from a co-located region (20–30 ms to place or cancel, 10–15 ms to read).
    """
    return VenuePreset(
        name="binance",
        description="Binance USDⓈ-M futures-like: 2.0 / 5.0 bps, tens of ms",
        latency=LatencyModel(
            place=OpLatency(latency=0.020, jitter=0.010),
            cancel=OpLatency(latency=0.020, jitter=0.010),
            query=OpLatency(latency=0.015, jitter=0.010),
            bbo=OpLatency(latency=0.010, jitter=0.005),
            position=OpLatency(latency=0.015, jitter=0.010),
        ),
        post_only_reject=PostOnlyReject.RAISE,
        reduce_only_min_notional=False,
        request_window=5.0,
        symbols=(
            SymbolSpec(
                instrument=Instrument(
                    symbol="BTCUSDT",
                    tick_size=D("0.1"),
                    lot_size=D("0.001"),
                    min_quantity=D("0.001"),
                    min_notional=D("100"),
                    multiplier=D(1),
                    maker_fee=D("0.0002"),
                    taker_fee=D("0.0005"),
                ),
                book=BookConfig(
                    reference_price=_BTC_MID,
                    volatility=_BTC_VOL,
                    factor="BTC",
                    factor_loading=_LOADING,
                    spread_ticks=1,
                    depth=D("2.0"),
                    depth_step=D("0.5"),
                    trade_rate=20.0,
                    trade_size_mean=D("0.05"),
                ),
            ),
            SymbolSpec(
                instrument=Instrument(
                    symbol="PEPEUSDT",
                    tick_size=D("0.0000000001"),
                    lot_size=D("1000"),
                    min_quantity=D("1000"),
                    min_notional=D("5"),
                    multiplier=D(1),
                    maker_fee=D("0.0002"),
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


def hyperliquid_like() -> VenuePreset:
    """A Hyperliquid perps-like venue, named ``hyperliquid``.

    Sources: Hyperliquid docs, "Fees" (base tier perps: maker 0.015 %, taker
    0.045 %); "Tick and lot size" (prices have at most 5 significant figures,
    so BTC near 60000 ticks by 1; sizes to ``szDecimals``, 5 for BTC and 0 for
    kPEPE); a $10 minimum order value; ``kPEPE`` is 1000 PEPE per contract;
    an ALO (post-only) order that would match is refused with "Post only
    order would have immediately matched". Latency: an order is acknowledged
    once it is in a block, several hundred milliseconds (300–500 ms) from
    outside the validators' region; reads are faster. The minimum order value
    is assumed to apply to reduce-only orders too (the stricter choice).
    """
    return VenuePreset(
        name="hyperliquid",
        description="Hyperliquid-like: 1.5 / 4.5 bps, several hundred ms to place",
        latency=LatencyModel(
            place=OpLatency(latency=0.300, jitter=0.200, request_share=0.7),
            cancel=OpLatency(latency=0.300, jitter=0.200, request_share=0.7),
            query=OpLatency(latency=0.100, jitter=0.050),
            bbo=OpLatency(latency=0.100, jitter=0.050),
            position=OpLatency(latency=0.100, jitter=0.050),
        ),
        post_only_reject=PostOnlyReject.RAISE,
        symbols=(
            SymbolSpec(
                instrument=Instrument(
                    symbol="BTC",
                    tick_size=D("1"),
                    lot_size=D("0.00001"),
                    min_quantity=D("0.00001"),
                    min_notional=D("10"),
                    multiplier=D(1),
                    maker_fee=D("0.00015"),
                    taker_fee=D("0.00045"),
                ),
                book=BookConfig(
                    reference_price=_BTC_MID,
                    volatility=_BTC_VOL,
                    factor="BTC",
                    factor_loading=_LOADING,
                    spread_ticks=1,
                    depth=D("3.0"),
                    depth_step=D("1.0"),
                    trade_rate=10.0,
                    trade_size_mean=D("0.05"),
                ),
            ),
            SymbolSpec(
                instrument=Instrument(
                    symbol="kPEPE",
                    tick_size=D("0.000001"),
                    lot_size=D("1"),
                    min_quantity=D("1"),
                    min_notional=D("10"),
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


def lighter_like() -> VenuePreset:
    """A Lighter-like venue, named ``lighter``.

    Sources: Lighter docs (standard accounts trade with zero maker and taker
    fees, and their orders pass a speed bump of a few hundred milliseconds;
    premium accounts pay fees for lower latency). Modelled: 0 / 0 bps, 250–300
    ms to place, most of it before the order reaches the book (which is what
    makes a post-only order priced on an old quote cross on arrival); cancels
    and reads 30–60 ms. ``kPEPE`` is 1000 PEPE per contract. A crossing
    post-only order is reported as an order that ended without filling
    (status EXPIRED, reason POST_ONLY), like Lighter's "canceled, post-only"
    status. Grids and minimums are plausible values, not copied from the
    venue: BTC tick 0.1, lot 0.00001; kPEPE tick 0.000001, lot 1; 10 USDC
    minimum notional (assumed to apply to reduce-only orders too, the stricter
    choice).
    """
    return VenuePreset(
        name="lighter",
        description="Lighter-like: 0 / 0 bps, 200-300 ms speed bump",
        latency=LatencyModel(
            place=OpLatency(latency=0.250, jitter=0.050, request_share=0.9),
            cancel=OpLatency(latency=0.040, jitter=0.020),
            query=OpLatency(latency=0.030, jitter=0.020),
            bbo=OpLatency(latency=0.030, jitter=0.020),
            position=OpLatency(latency=0.030, jitter=0.020),
        ),
        post_only_reject=PostOnlyReject.EXPIRED,
        symbols=(
            SymbolSpec(
                instrument=Instrument(
                    symbol="BTC",
                    tick_size=D("0.1"),
                    lot_size=D("0.00001"),
                    min_quantity=D("0.00001"),
                    min_notional=D("10"),
                    multiplier=D(1),
                    maker_fee=D(0),
                    taker_fee=D(0),
                ),
                book=BookConfig(
                    reference_price=_BTC_MID,
                    volatility=_BTC_VOL,
                    factor="BTC",
                    factor_loading=_LOADING,
                    spread_ticks=1,
                    depth=D("0.5"),
                    depth_step=D("0.2"),
                    trade_rate=5.0,
                    trade_size_mean=D("0.02"),
                ),
            ),
            SymbolSpec(
                instrument=Instrument(
                    symbol="kPEPE",
                    tick_size=D("0.000001"),
                    lot_size=D("1"),
                    min_quantity=D("1"),
                    min_notional=D("10"),
                    multiplier=D(1000),
                    maker_fee=D(0),
                    taker_fee=D(0),
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
        ),
    )


PRESETS = {
    "binance": binance_usdm_like,
    "hyperliquid": hyperliquid_like,
    "lighter": lighter_like,
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


def reset_venues(venues: Mapping[str, SimVenue], seed: int) -> None:
    """Reset venues made by :func:`build_venues` to what it would build with ``seed``.

    The shared market and every venue are reset in place (:meth:`MarketModel.reset`,
    :meth:`SimVenue.reset`): same objects, same configuration, fresh seeded streams, so
    an episode on them is the one fresh venues with ``seed`` give. Cheaper than building:
    no preset, book configuration or fault plan is rebuilt and re-validated. Anything
    holding on to these venues (an earlier episode) sees them change.
    """
    markets = {id(venue.market): venue.market for venue in venues.values()}
    if len(markets) != 1:
        raise InvalidValue(f"reset_venues needs venues sharing one market, got {len(markets)} markets")
    next(iter(markets.values())).reset(seed)
    for venue in venues.values():
        # As VenuePreset.build: the scenario's fault plan, seeded with the venue's seed.
        venue.reset(seed, faults=attrs.evolve(venue.fault_plan, seed=seed))


class VenuePool:
    """:func:`build_venues` for loops of episodes: one set of venues per setting, reset per use.

    ``get(scenario, seed, ...)`` returns venues equal to ``build_venues(scenario, seed, ...)``,
    reusing (and resetting) the ones it handed out last for the same setting: the previous
    episode's venues are overwritten, so use it only where an episode is done with before
    the next one starts (sweeps, soaks, benchmarks). Settings are kept per thread (a thread
    pool never shares venues) and at most ``size`` of them, least recently used dropped.
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._local = threading.local()

    def get(
        self,
        scenario: str | Scenario = "calm",
        seed: int = 0,
        *,
        zero_latency: bool = False,
        exact_path: bool = False,
    ) -> dict[str, SimVenue]:
        """Venues as ``build_venues(scenario, seed, zero_latency=..., exact_path=...)``."""
        cache: OrderedDict[tuple[object, ...], dict[str, SimVenue]] | None = getattr(
            self._local, "cache", None
        )
        if cache is None:
            cache = self._local.cache = OrderedDict()
        key = (get_scenario(scenario), zero_latency, exact_path)
        venues = cache.get(key)
        if venues is None:
            venues = build_venues(scenario, seed, zero_latency=zero_latency, exact_path=exact_path)
            cache[key] = venues
            while len(cache) > self.size:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
            reset_venues(venues, seed)
        return venues
