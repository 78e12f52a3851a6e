"""The invariants (docs/design.md) as code: checks that return the invariants a hedge breaks.

Each check returns a list of human-readable violations (empty when all hold).
Property tests call them after every step, the simulator and the soak after
every episode; users can call them on their own runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from hedge_fsm.core.targets import is_unplaceable
from hedge_fsm.machines.commands import Command, PlaceLimit, PlaceMarket
from hedge_fsm.machines.leg import LegHedge, LegState
from hedge_fsm.machines.supervisor import HedgeSupervisor, SupervisorState
from hedge_fsm.values import BBO, Instrument, Side, is_on_grid

__all__ = [
    "check_leg",
    "check_order_command",
    "check_supervisor",
    "exposure_bound",
]

ZERO = Decimal(0)
_MAY_BE_OVER_RESERVED = frozenset(
    {LegState.PLACED, LegState.PARTIAL, LegState.CANCELLING, LegState.MARKET_FALLBACK, LegState.ROLLBACK}
)
_MAY_WAIT_ON_UNKNOWN = frozenset({LegState.PLACED, LegState.MARKET_FALLBACK, LegState.ROLLBACK})


def check_leg(leg: LegHedge) -> list[str]:
    """Invariants 3, 4 and 5 on one leg machine, as it stands.

    Beyond the fills: at most one order may fill at a time; Σ fills + what may still fill
    stays within the target (the reservation), except while the order a late fill made too
    large is being cancelled; a possibly-live order (ambiguous placement, never shown by the
    venue) is only ever the current one, waited on in ``placed`` or ``market_fallback``.
    """
    problems: list[str] = []
    where = f"leg {leg.leg_index}"
    ledger = leg.ledger
    # An adopted entry larger than the target may fill past it before its amend or cancel lands:
    # that excess was sent before the hedge began, so it is allowed (and only that).
    if ledger.filled > leg.target + leg.adopted_excess:
        problems.append(f"{where}: over-hedged: filled {ledger.filled} > target {leg.target}")
    total = sum((r.filled for r in ledger.orders.values()), ZERO)
    if total != ledger.filled:
        problems.append(f"{where}: ledger total {ledger.filled} != sum of orders {total}")
    if ledger.maker + ledger.taker != ledger.filled:
        problems.append(f"{where}: maker {ledger.maker} + taker {ledger.taker} != filled {ledger.filled}")
    for record in ledger.orders.values():
        if record.filled > record.quantity:
            problems.append(
                f"{where}: order {record.client_order_id} filled {record.filled} > quantity {record.quantity}"
            )
    # A stray (taken as never placed, then shown live by the venue: a venue breaking its own
    # request window or the horizon) is cancelled at once; it is not the machine's doing.
    live = [r for r in ledger.orders.values() if not r.terminal and not r.revived]
    if len(live) > 1:
        problems.append(f"{where}: {len(live)} orders may fill at once: {[r.client_order_id for r in live]}")
    if leg.state == LegState.DONE and live:
        problems.append(f"{where}: done with live orders {[r.client_order_id for r in live]}")
    uncancelled = [
        r.client_order_id for r in ledger.orders.values()
        if r.revived and not r.terminal and r.client_order_id not in leg.stray_cancels
    ]
    if uncancelled:
        problems.append(f"{where}: stray orders shown live but not cancelled: {uncancelled}")
    # Reservation: what has filled plus what may still fill stays within the target, except
    # while the leg is cancelling the order a late fill made too large (or cannot yet: its
    # placement is unanswered; a market order executes at once).
    reserved = sum((r.open_quantity for r in live), ZERO)
    # (An over-hedge already filled is reported above; this is about what is still open.)
    # So is an adopted entry larger than the target while it is amended down.
    amending_down = leg.state == LegState.AMENDING and leg.current is leg.adopted
    if (
        reserved > 0
        and ledger.filled + reserved > leg.target
        and leg.state not in _MAY_BE_OVER_RESERVED
        and not amending_down
    ):
        problems.append(
            f"{where}: filled {ledger.filled} + open {reserved} > target {leg.target} in {leg.state}"
        )
    for record in live:
        unknown = record.possibly_live_until is not None and record.status is None
        if unknown and (record is not leg.current or leg.state not in _MAY_WAIT_ON_UNKNOWN):
            problems.append(
                f"{where}: possibly-live order {record.client_order_id} left behind in {leg.state}"
            )
    if (
        leg.state == LegState.DONE
        and leg.error is None
        and not is_unplaceable(leg.remaining, leg.instrument, leg.config.dust_tolerance)
    ):
        problems.append(f"{where}: done with {leg.remaining} left (placeable)")
    if leg.attempts > leg.policy.max_attempts:
        problems.append(f"{where}: {leg.attempts} attempts > max {leg.policy.max_attempts}")
    if leg.orders_sent > leg.config.max_orders_per_leg:
        problems.append(f"{where}: {leg.orders_sent} orders > cap {leg.config.max_orders_per_leg}")
    return problems


def check_order_command(command: Command, instrument: Instrument, bbo: BBO | None) -> list[str]:
    """Invariant 7: tick and lot grids, minimum quantity, post-only prices passive."""
    problems: list[str] = []
    if not isinstance(command, PlaceLimit | PlaceMarket):
        return problems
    name = f"{type(command).__name__} {command.client_order_id}"
    if not is_on_grid(command.quantity, instrument.lot_size):
        problems.append(f"{name}: quantity {command.quantity} off the lot grid {instrument.lot_size}")
    if command.quantity < instrument.min_quantity or command.quantity <= 0:
        problems.append(f"{name}: quantity {command.quantity} below minimum {instrument.min_quantity}")
    if isinstance(command, PlaceLimit):
        if not is_on_grid(command.price, instrument.tick_size):
            problems.append(f"{name}: price {command.price} off the tick grid {instrument.tick_size}")
        if command.post_only and bbo is not None:
            passive = command.price < bbo.ask if command.side is Side.BUY else command.price > bbo.bid
            if not passive:
                problems.append(
                    f"{name}: post-only {command.side} at {command.price} crosses bid {bbo.bid} ask {bbo.ask}"
                )
    return problems


def exposure_bound(supervisor: HedgeSupervisor) -> Decimal:
    """Invariant 6's bound: one placeable unit of the coarsest leg, in tokens, plus dust."""
    return supervisor.exposure_bound()


def check_supervisor(
    supervisor: HedgeSupervisor, positions: Iterable[Decimal] | None = None
) -> list[str]:
    """Invariants 3-6 over a whole hedge; ``positions`` (one per leg) checks rolled_back flat."""
    problems: list[str] = []
    for plan in supervisor.plans:
        if plan.hedge is not None:
            problems.extend(check_leg(plan.hedge))
        ledger = plan.ledger
        if ledger.maker + ledger.taker != ledger.filled:
            problems.append(f"leg {plan.index}: supervisor ledger maker+taker != filled")
    state = supervisor.state
    if supervisor.is_finished:
        for plan in supervisor.plans:
            live = [r.client_order_id for r in plan.ledger.live_orders]
            if plan.hedge is not None:
                live += [r.client_order_id for r in plan.hedge.ledger.live_orders]
            if live and state != SupervisorState.FAILED:
                problems.append(f"leg {plan.index}: {state} with live orders {live}")
    if state == SupervisorState.DONE and not supervisor.direct:
        exposure = supervisor.net_exposure()
        bound = exposure_bound(supervisor)
        if abs(exposure) > bound:
            problems.append(f"done with net exposure {exposure} tokens > bound {bound}")
    if state == SupervisorState.ROLLED_BACK and positions is not None:
        dust = supervisor.config.dust_tolerance
        for plan, position in zip(supervisor.plans, positions, strict=True):
            if not is_unplaceable(position - plan.baseline, plan.instrument, dust):
                problems.append(
                    f"leg {plan.index}: rolled_back but position {position} != baseline {plan.baseline}"
                )
    if state == SupervisorState.FAILED and not supervisor.error:
        problems.append("failed without a residual report")
    return problems
