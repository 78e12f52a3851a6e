"""The compiled dispatch makes exactly the moves ``transitions`` makes, for every edge of every table.

Each machine kind compiles its ``transitions.Machine`` into a ``state → trigger →
candidates`` dispatch (:mod:`hedge_fsm.machines.base`). These tests prove the two
equivalent: for every (state, trigger) the tables contain — read from the kinds
at import, so edges other engineers add are covered without touching this file —
Hypothesis builds a model by a random walk of events, puts it in that state,
draws an event for that trigger, and applies it to two identical copies: one
through the compiled dispatch, one through ``Machine.events[trigger].trigger``.
Both must end in the same state with the same outbox, the same model contents,
the same exception (if any), and the same conditions and callbacks called with
the same arguments, in the same order.
"""

from __future__ import annotations

import copy
import enum
import inspect
import types
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hedge_fsm.machines.events as events_module
from hedge_fsm import HedgeConfig, Instrument, OrderInfo, OrderStatus, Side
from hedge_fsm.errors import IllegalTransition, RejectReason
from hedge_fsm.machines.base import FsmModel, MachineKind
from hedge_fsm.machines.commands import PlaceLimit, PlaceMarket
from hedge_fsm.machines.events import Event
from hedge_fsm.machines.leg import LEG, LegHedge
from hedge_fsm.machines.supervisor import SUPERVISOR, HedgeSupervisor, LegPlan
from hedge_fsm.values import TransitionRecord
from tests.strategies import bbos_for, instruments, trigger_fills

EVENT_CLASSES: dict[str, type[Event]] = {
    cls.TRIGGER: cls
    for _, cls in inspect.getmembers(events_module, inspect.isclass)
    if issubclass(cls, Event) and cls is not Event
}


def _recording(cls: type[FsmModel], kind: MachineKind) -> type[FsmModel]:
    """A subclass whose every condition and callback logs (name, args) before running."""
    names = {
        name
        for by_trigger in kind.compiled.values()
        for candidates in by_trigger.values()
        for edge in candidates
        for name in (
            *edge.prepare, *(c for c, _ in edge.conditions), *edge.before, *edge.exit,
            *edge.enter, *edge.after,
        )
        if isinstance(name, str)
    }
    body: dict[str, Any] = {}
    for name in names:
        original = inspect.getattr_static(cls, name, None)
        if not isinstance(original, types.FunctionType):
            continue

        def wrapper(self: Any, *args: Any, _name: str = name, _fn: Any = original) -> Any:
            self.__dict__.setdefault("calls", []).append((_name, args))
            return _fn(self, *args)

        body[name] = wrapper
    return type(f"Recording{cls.__name__}", (cls,), body)


RECORDING: dict[str, type[FsmModel]] = {
    "leg": _recording(LegHedge, LEG),
    "supervisor": _recording(HedgeSupervisor, SUPERVISOR),
}
KINDS: dict[str, MachineKind] = {"leg": LEG, "supervisor": SUPERVISOR}
PAIRS = [
    (name, state, trigger)
    for name, kind in KINDS.items()
    for state, by_trigger in kind.compiled.items()
    for trigger in by_trigger
]


def snapshot(value: Any, seen: dict[int, int] | None = None) -> Any:
    """A comparable picture of ``value``'s whole contents (object identity ignored, sharing kept)."""
    seen = {} if seen is None else seen
    if value is None or isinstance(value, str | int | float | bool | Decimal | enum.Enum):
        return value
    if isinstance(value, types.FunctionType | types.MethodType | type):
        return repr(value)
    key = id(value)
    if key in seen:
        return ("<shared>", seen[key])
    seen[key] = len(seen)
    if isinstance(value, list | tuple):
        return (type(value).__name__, [snapshot(v, seen) for v in value])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(repr(snapshot(v, seen)) for v in value))
    if isinstance(value, dict):
        return ("dict", [(snapshot(k, seen), snapshot(v, seen)) for k, v in value.items()])
    if attrs.has(type(value)):
        return (type(value).__name__, [(f.name, snapshot(getattr(value, f.name), seen))
                                       for f in attrs.fields(type(value))])
    fields: dict[str, Any] = dict(getattr(value, "__dict__", {}))
    for slot in getattr(type(value), "__slots__", ()):
        if hasattr(value, slot):
            fields[slot] = getattr(value, slot)
    return (type(value).__name__, [(k, snapshot(v, seen)) for k, v in sorted(fields.items())])


def _known_orders(model: Any) -> list[tuple[int, str, Side, Decimal, Decimal | None]]:
    """(leg, client id, side, quantity, price) of every order the model asked for so far."""
    return list(model.__dict__.setdefault("known", []))


def _remember(model: Any, commands: list[Any]) -> None:
    known = model.__dict__.setdefault("known", [])
    for command in commands:
        if isinstance(command, PlaceLimit):
            known.append(
                (command.leg, command.client_order_id, command.side, command.quantity, command.price)
            )
        elif isinstance(command, PlaceMarket):
            known.append((command.leg, command.client_order_id, command.side, command.quantity, None))


def _instrument_of(model: Any, leg: int | None) -> Instrument:
    if isinstance(model, HedgeSupervisor):
        return model.plans[leg or 0].instrument
    instrument: Instrument = model.instrument
    return instrument


@st.composite
def order_infos(draw: st.DrawFn, model: Any, leg: int | None) -> OrderInfo:
    """A report about an order the model knows (or a stranger), with any consistent fill."""
    instrument = _instrument_of(model, leg)
    known = [k for k in _known_orders(model) if leg is None or k[0] == leg]
    lot, tick = instrument.lot_size, instrument.tick_size
    if known and draw(st.integers(0, 9)) > 0:
        _, cid, side, quantity, price = draw(st.sampled_from(known))
    else:
        cid = draw(st.sampled_from(["stranger", "x1"]))
        side = draw(st.sampled_from(Side))
        quantity = lot * draw(st.integers(1, 20))
        price = tick * draw(st.integers(1, 10_000))
    filled = lot * draw(st.integers(0, int(quantity / lot)))
    status = draw(st.sampled_from(OrderStatus))
    if filled == quantity and filled > 0 and draw(st.booleans()):
        status = OrderStatus.FILLED
    average = tick * draw(st.integers(1, 10_000)) if filled > 0 else None
    return OrderInfo(
        order_id=f"v-{cid}", client_order_id=cid, symbol=instrument.symbol, side=side,
        quantity=quantity, price=price, status=status, filled_quantity=filled,
        average_price=average,
        reject_reason=draw(st.sampled_from([None, RejectReason.POST_ONLY])) if status in (
            OrderStatus.REJECTED, OrderStatus.EXPIRED) else None,
        maker_quantity=draw(st.sampled_from([None, Decimal(0), filled])),
    )


def _field_strategy(
    field: attrs.Attribute, model: Any, leg: int | None, now: float  # type: ignore[type-arg]
) -> st.SearchStrategy[Any]:
    name = field.name
    if name == "now":
        return st.just(now)
    if name == "bbo":
        return bbos_for(_instrument_of(model, leg), max_spread_ticks=5, max_bid_ticks=20_000)
    if name == "order":
        return order_infos(model, leg)
    if name == "client_order_id":
        ids = [k[1] for k in _known_orders(model)] or ["x1"]
        return st.sampled_from([*ids, "stranger"])
    if name == "token":
        return st.sampled_from([model.timer_token, model.timer_token - 1, 0])
    if name == "quantity":
        lot = _instrument_of(model, leg).lot_size
        return st.integers(-20, 20).map(lambda n: n * lot)
    if name == "reason":
        return st.sampled_from(RejectReason)
    if name == "message":
        return st.just("simulated")
    if field.default is not attrs.NOTHING:
        return st.just(field.default)
    assert field.type is not None
    return st.from_type(field.type)  # a field added by another engineer's event


def events_for(trigger: str, model: Any, leg: int | None, now: float) -> st.SearchStrategy[Event]:
    cls = EVENT_CLASSES[trigger]
    attrs.resolve_types(cls)
    return st.fixed_dictionaries(
        {f.name: _field_strategy(f, model, leg, now) for f in attrs.fields(cls) if f.init}
    ).map(lambda kwargs: cls(**kwargs))


@st.composite
def leg_models(draw: st.DrawFn) -> LegHedge:
    instrument = draw(instruments(symbol="PEPE"))
    side = draw(st.sampled_from(Side))
    model = RECORDING["leg"](
        leg=1, hedge_id="eq", venue="v", instrument=instrument, side=side,
        target=instrument.lot_size * draw(st.integers(1, 20)) + instrument.min_quantity,
        reduce_only=draw(st.booleans()), config=HedgeConfig(), started_at=0.0,
        trigger=draw(st.none() | trigger_fills(side=side.opposite, tick=instrument.tick_size)),
        market_only=draw(st.booleans()),
    )
    assert isinstance(model, LegHedge)
    return model


@st.composite
def supervisor_models(draw: st.DrawFn) -> HedgeSupervisor:
    first = draw(instruments(symbol="PEPE", multiplier=Decimal(1)))
    second = draw(instruments(symbol="kPEPE", multiplier=Decimal(1)))
    quantity = max(first.lot_size, second.lot_size) * draw(st.integers(1, 20)) + max(
        first.min_quantity, second.min_quantity)
    plans = [
        LegPlan(index=i, venue=f"v{i}", instrument=inst, side=side, quantity=quantity,
                price=inst.tick_size * draw(st.integers(1, 10_000)), reduce_only=False,
                baseline=Decimal(draw(st.integers(-2, 2))) * inst.lot_size)
        for i, (inst, side) in enumerate(((first, Side.BUY), (second, Side.SELL)))
    ]
    model = RECORDING["supervisor"](
        hedge_id="eq", plans=plans, config=HedgeConfig(), direct=draw(st.booleans()),
    )
    assert isinstance(model, HedgeSupervisor)
    return model


def _apply(kind: MachineKind, model: Any, event: Event, leg: int | None, *, compiled: bool) -> str | None:
    """Apply one event; the exception it raised, as text (None: it moved)."""
    try:
        if compiled:
            kind.fire(model, event, leg)
        else:
            if event.TRIGGER not in kind.allowed[model.state]:
                raise IllegalTransition(kind.name, model.state, event.TRIGGER)
            if not kind.trigger_reference(model, event, leg):
                raise IllegalTransition(kind.name, model.state, event.TRIGGER, "no edge condition matched")
    except Exception as exc:  # callbacks on a forced state may fail: both paths alike
        return f"{type(exc).__name__}: {exc}"
    return None


@st.composite
def scenarios(draw: st.DrawFn, kind_name: str, state: str, trigger: str) -> tuple[Any, Event, int | None]:
    """A model walked by random events, then put in ``state``, and an event for ``trigger``."""
    kind = KINDS[kind_name]
    model: Any = draw(leg_models() if kind_name == "leg" else supervisor_models())
    now = 0.0
    legs = [None] if kind_name == "leg" else [0, 1, None]
    for _ in range(draw(st.integers(0, 6))):
        allowed = sorted(kind.allowed[model.state])
        if not allowed:
            break
        now += draw(st.sampled_from([0.0, 0.05, 0.5, 3.0]))
        leg = draw(st.sampled_from(legs))
        step = draw(events_for(draw(st.sampled_from(allowed)), model, leg, now))
        if _apply(kind, model, step, leg, compiled=True) is not None:
            break
        _remember(model, model.drain() if kind_name == "leg" else [c for _, c in model.drain_routed()])
    model.state = state  # any state the table names, whatever the walk reached
    leg = draw(st.sampled_from(legs))
    event = draw(events_for(trigger, model, leg, now + draw(st.sampled_from([0.0, 0.1, 10.0]))))
    model.__dict__["calls"] = []
    return model, event, leg


@pytest.mark.parametrize(("kind_name", "state", "trigger"), PAIRS)
@settings(max_examples=5, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_compiled_dispatch_matches_transitions(
    kind_name: str, state: str, trigger: str, data: st.DataObject
) -> None:
    """For (state, trigger): same destination, outbox, model contents, exception and callback calls."""
    kind = KINDS[kind_name]
    model, event, leg = data.draw(scenarios(kind_name, state, trigger))
    compiled, reference = copy.deepcopy(model), copy.deepcopy(model)
    before = len(compiled.history)
    compiled_error = _apply(kind, compiled, event, leg, compiled=True)
    reference_error = _apply(kind, reference, event, leg, compiled=False)
    assert compiled_error == reference_error
    assert compiled.state == reference.state
    if compiled_error is None:
        # Only the compiled path records the move: it must describe the move transitions made.
        record = compiled.history.pop()
        assert record == TransitionRecord(
            machine=kind.name, leg=compiled.leg_index if leg is None else leg, source=state,
            trigger=trigger, destination=reference.state, time=event.now,
        )
    assert len(compiled.history) == before
    assert compiled.calls == reference.calls
    assert compiled.outbox == reference.outbox
    assert snapshot(compiled) == snapshot(reference)


def test_every_edge_of_every_table_is_compiled() -> None:
    """The compiled dispatch holds exactly the Machine's transitions, in the Machine's order."""
    for kind in KINDS.values():
        for trigger, event in kind.machine.events.items():
            for source, transitions in event.transitions.items():
                compiled = kind.compiled[source][trigger]
                assert [(c.dest, [f for f, _ in c.conditions], list(c.after)) for c in compiled] == [
                    (t.dest, [c.func for c in t.conditions], list(t.after)) for t in transitions
                ]
        assert sum(len(c) for s in kind.compiled.values() for c in s.values()) == len(kind.edges)


@settings(max_examples=20)
@given(data=st.data())
def test_illegal_trigger_raises_and_changes_nothing(data: st.DataObject) -> None:
    """A trigger with no edge from the state raises IllegalTransition; the model is unchanged."""
    for name, kind in KINDS.items():
        model, _, leg = data.draw(scenarios(name, data.draw(st.sampled_from(kind.states)), "timer_fired"
                                            if name == "leg" else "start"))
        illegal = sorted(t for t in EVENT_CLASSES if t not in kind.allowed[model.state])
        if not illegal:
            continue
        trigger = data.draw(st.sampled_from(illegal))
        event = data.draw(events_for(trigger, model, leg, 1.0))
        before = snapshot(model)
        with pytest.raises(IllegalTransition, match=trigger):
            kind.fire(model, event, leg)
        assert snapshot(model) == before


class _Hooked(FsmModel):
    """A model of a kind whose Machine has hooks our tables do not use."""

    def __init__(self) -> None:
        self.state = "a"
        self.leg_index = None
        self.outbox = []
        self.history = []
        self.calls: list[str] = []

    def is_ok(self, _event: Event) -> bool:
        self.calls.append("is_ok")
        return True

    def on_before(self, _event: Event) -> None:
        self.calls.append("before")

    def on_exit_a(self, _event: Event) -> None:
        self.calls.append("exit_a")

    def on_enter_b(self, _event: Event) -> None:
        self.calls.append("enter_b")

    def on_after(self, _event: Event) -> None:
        self.calls.append("after")

    def on_prepare(self, _event: Event) -> None:
        self.calls.append("prepare")


def test_compiled_dispatch_runs_hooks_in_the_documented_order() -> None:
    """prepare, conditions, before_state_change, exit, change, enter, after, after_state_change."""
    from hedge_fsm.machines.base import Edge

    kind = MachineKind("hooked", states=["a", "b"], initial="a", terminal=["b"],
                       edges=(Edge("start", "a", "b", ("is_ok",), ("on_after",)),))
    machine = kind.machine
    machine.before_state_change = ["on_before"]
    machine.after_state_change = ["on_after"]
    machine.get_state("a").on_exit = ["on_exit_a"]
    machine.get_state("b").on_enter = ["on_enter_b"]
    for t in machine.events["start"].transitions["a"]:
        t.prepare = ["on_prepare"]
    from hedge_fsm.machines.base import _compile

    kind.compiled = _compile(machine)
    kind._bound.clear()
    compiled, reference = _Hooked(), _Hooked()
    start = events_module.Start(now=0.0)
    kind.fire(compiled, start)
    assert kind.trigger_reference(reference, start)
    expected = ["prepare", "is_ok", "before", "exit_a", "enter_b", "after", "after"]
    assert reference.calls == expected
    assert compiled.calls == expected
    assert compiled.state == reference.state == "b"
