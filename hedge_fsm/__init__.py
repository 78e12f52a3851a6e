"""hedge_fsm: hedge multi-leg positions across exchanges as explicit finite-state machines.

The library logs through loguru under the name ``hedge_fsm`` and is disabled
by default; an application enables it with ``logger.enable("hedge_fsm")``, before
or after importing it: the import disables the library's logs only when the
application has not already enabled or disabled them itself.
"""

from __future__ import annotations

from loguru import logger

from hedge_fsm.clock import Clock, LoopClock
from hedge_fsm.config import EntryHandoff, HedgeConfig, HedgeMode, PartialEntryPolicy, RetryPolicy
from hedge_fsm.engine import HedgeEngine
from hedge_fsm.errors import (
    AmbiguousOutcome,
    CapabilityError,
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


def _application_has_decided(name: str) -> bool:
    """True when the application already enabled or disabled ``name``, a parent or a child of it.

    loguru records each explicit ``enable``/``disable`` as a (``name.``, status) pair;
    disabling the package over such a pair would silently undo the application's
    choice (an ``enable("hedge_fsm")`` made before ``import hedge_fsm``). The pairs
    are loguru's internals (stable since 0.4): without them, fall back to disabling.
    """
    own = f"{name}."
    try:
        decided = [entry for entry, _ in logger._core.activation_list]  # type: ignore[attr-defined]
    except AttributeError:
        return False
    return any(own.startswith(entry) or entry.startswith(own) for entry in decided)


if not _application_has_decided("hedge_fsm"):
    logger.disable("hedge_fsm")  # a library never logs unless the application asks it to

__version__ = "0.1.0"

__all__ = [
    "BBO",
    "AmbiguousOutcome",
    "CapabilityError",
    "Clock",
    "ConfigError",
    "EntryHandoff",
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
