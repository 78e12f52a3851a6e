"""hedge_fsm.sim: a deterministic simulated exchange on virtual time, for testing bots.

Theory of operation
-------------------
:func:`run` executes a coroutine on a :class:`VirtualTimeLoop`, whose clock
jumps to the next timer instead of sleeping. :class:`SimVenue` implements the
:class:`hedge_fsm.Venue` protocol with per-operation latency (spent with
``asyncio.sleep``, so virtual under :func:`run`), fees, grids, reduce-only,
post-only judged on arrival, and a :class:`FaultPlan` of injected faults. Its
books live in a :class:`MarketModel`: seeded correlated mids, displayed depth,
Poisson trades filling resting orders through a queue model, all generated
lazily when a venue looks. Same seed, same calls: same result, same log.

Quick start::

    from hedge_fsm.sim import build_venues, run

    async def main() -> None:
        venues = build_venues("calm", seed=1)
        bbo = await venues["binance"].best_bid_offer("BTCUSDT")
        ...

    run(main())
"""

from __future__ import annotations

from hedge_fsm.sim.faults import Fault, FaultInjector, FaultPlan
from hedge_fsm.sim.loop import VirtualTimeDeadlock, VirtualTimeLoop, run
from hedge_fsm.sim.market import Book, BookConfig, FillSink, MarketModel, RestingOrder
from hedge_fsm.sim.presets import (
    CALM,
    FAULTY,
    PRESETS,
    REALISTIC,
    SCENARIO_NAMES,
    SCENARIOS,
    VOLATILE,
    Scenario,
    Source,
    VenuePreset,
    binance_usdm_like,
    build_venues,
    bybit_like,
    get_scenario,
    hyperliquid_like,
    lighter_like,
    lighter_premium_like,
    paradex_like,
)
from hedge_fsm.sim.venue import (
    BlockCadence,
    EventLog,
    Fill,
    LatencyModel,
    Liquidity,
    LogRecord,
    OpLatency,
    PostOnlyReject,
    RequestKind,
    SimHooks,
    SimVenue,
    SpeedBump,
    SymbolSpec,
)

__all__ = [
    "CALM",
    "FAULTY",
    "PRESETS",
    "REALISTIC",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "VOLATILE",
    "BlockCadence",
    "Book",
    "BookConfig",
    "EventLog",
    "Fault",
    "FaultInjector",
    "FaultPlan",
    "Fill",
    "FillSink",
    "LatencyModel",
    "Liquidity",
    "LogRecord",
    "MarketModel",
    "OpLatency",
    "PostOnlyReject",
    "RequestKind",
    "RestingOrder",
    "Scenario",
    "SimHooks",
    "SimVenue",
    "Source",
    "SpeedBump",
    "SymbolSpec",
    "VenuePreset",
    "VirtualTimeDeadlock",
    "VirtualTimeLoop",
    "binance_usdm_like",
    "build_venues",
    "bybit_like",
    "get_scenario",
    "hyperliquid_like",
    "lighter_like",
    "lighter_premium_like",
    "paradex_like",
    "run",
]
