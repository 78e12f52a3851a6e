"""hedge_fsm: hedge multi-leg positions across exchanges as explicit finite-state machines.

The library logs through loguru under the name ``hedge_fsm`` and is disabled
by default; an application enables it with ``logger.enable("hedge_fsm")``.
"""

from __future__ import annotations

from loguru import logger

from hedge_fsm.clock import Clock, LoopClock
from hedge_fsm.config import HedgeConfig, HedgeMode, PartialEntryPolicy, RetryPolicy
from hedge_fsm.engine import HedgeEngine
from hedge_fsm.errors import (
    AmbiguousOutcome,
    ConfigError,
    HedgeError,
    IllegalTransition,
    InvalidValue,
    OrderNotFound,
    RejectReason,
    VenueError,
    VenueRejected,
)
from hedge_fsm.values import (
    BBO,
    ExecutionMode,
    ExecutionResult,
    HedgeResult,
    HedgeTarget,
    Instrument,
    LegSpec,
    OrderInfo,
    OrderStatus,
    Side,
    TransitionRecord,
    TriggerFill,
)
from hedge_fsm.venue import Venue

logger.disable("hedge_fsm")

__version__ = "0.1.0"

__all__ = [
    "BBO",
    "AmbiguousOutcome",
    "Clock",
    "ConfigError",
    "ExecutionMode",
    "ExecutionResult",
    "HedgeConfig",
    "HedgeEngine",
    "HedgeError",
    "HedgeMode",
    "HedgeResult",
    "HedgeTarget",
    "IllegalTransition",
    "Instrument",
    "InvalidValue",
    "LegSpec",
    "LoopClock",
    "OrderInfo",
    "OrderNotFound",
    "OrderStatus",
    "PartialEntryPolicy",
    "RejectReason",
    "RetryPolicy",
    "Side",
    "TransitionRecord",
    "TriggerFill",
    "Venue",
    "VenueError",
    "VenueRejected",
    "__version__",
]
