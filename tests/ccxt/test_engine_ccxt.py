"""The engine end to end over two CcxtVenues: real ccxt classes, an exchange simulated at the HTTP level.

Each venue wraps a real ccxt exchange (``binanceusdm``, ``bybit``) whose one
I/O method, ``fetch``, is answered by a tiny stateful exchange simulator: it
reads the request ccxt built and signed (form body, JSON body, query string),
keeps the orders and the position, and answers in the exchange's documented
response format (Binance USDⓈ-M futures REST, Bybit v5). ccxt parses every
answer and classifies every error body itself; the engine only ever sees the
CcxtVenue. Fills happen when the test says so, at a virtual time it chooses
(``loop.call_at`` under :func:`hedge_fsm.sim.run`); marketable orders fill at
once at the touch, as a taker.

Nothing sleeps on the wall clock: ccxt's rate limiter is off
(``enableRateLimit=False``), no HTTP session is ever opened, and the simulated
network latency and the engine's timers run on the virtual loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

from hedge_fsm import EntryHandoff, ExecutionResult, HedgeConfig, HedgeEngine, LegSpec, RetryPolicy, Side
from hedge_fsm.engine import HedgeObserver
from hedge_fsm.secrets import Secret
from hedge_fsm.sim.loop import run
from hedge_fsm.venues.ccxt import CcxtVenue
from tests.ccxt.fixtures.fake_http import FakeHttp, Request, load_fixture
from tests.ccxt.fixtures.sims import SimOrder

BTC = "BTC/USDT:USDT"
EPOCH_MS = 1716863718000
"""Exchange timestamps: this epoch plus the virtual time."""

# --------------------------------------------------------------------------- the simulated exchanges


Answer = tuple[int, Any]


class SimHttp(FakeHttp):
    """FakeHttp with network latency on the virtual clock and ccxt's own request logging.

    ccxt's real ``fetch`` logs each request and answer through ``exchange.logger``
    at DEBUG (URL, headers with the API key, body); this one does the same, so a
    test capturing stdlib logging sees what production would log.
    """

    latency: float = 0.004

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        self.exchange.logger.debug("%s %s, Request: %s %s", method, url, headers, body)
        await asyncio.sleep(self.latency / 2)
        request = Request(method=method, url=url, headers=dict(headers or {}), body=body)
        self.requests.append(request)
        for route in reversed(self.routes):
            if route.matches(request):
                route.used += 1
                break
        else:
            raise AssertionError(f"unexpected request {method} {request.path} {request.query}")
        if route.error is not None:
            raise route.error(request)
        assert route.responder is not None
        status, payload = route.responder(request)
        await asyncio.sleep(self.latency / 2)
        text = json.dumps(payload)
        self.exchange.logger.debug("%s %s, Response: %s %s %s", method, url, status, {}, text)
        parsed = self.exchange.parse_json(text)
        reason = {200: "OK", 400: "Bad Request"}.get(status, "Error")
        self.exchange.handle_errors(status, reason, url, method, {}, text, parsed, request.headers, body)
        self.exchange.handle_http_status_code(status, reason, url, method, text)
        return parsed


class ExchangeSim:
    """A one-symbol perpetual exchange behind a real ccxt class: book, orders, position.

    Subclasses speak one exchange's wire format. ``refuse(order)`` may return the
    exchange's own error answer for a new order (margin, risk limits...).
    """

    symbol_id = "BTCUSDT"

    def __init__(self, venue: CcxtVenue, *, bid: str, ask: str) -> None:
        self.venue = venue
        self.http = SimHttp(venue.exchange).install()
        self.bid, self.ask = D(bid), D(ask)
        self.orders: dict[str, SimOrder] = {}
        self.by_client: dict[str, SimOrder] = {}
        self.position = D(0)
        self.refuse: Callable[[SimOrder], Answer | None] | None = None
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ test controls

    @property
    def now_ms(self) -> int:
        return EPOCH_MS + round(asyncio.get_running_loop().time() * 1000)

    def fill(self, order: SimOrder, quantity: D | None = None, price: D | None = None) -> None:
        """Fill a live order (all that is left by default) at its limit price or ``price``."""
        if not order.live:
            return
        quantity = min(quantity if quantity is not None else order.quantity, order.quantity - order.filled)
        at = price if price is not None else order.price
        assert at is not None and quantity > 0
        order.filled += quantity
        order.notional += quantity * at
        order.updated_ms = self.now_ms
        self.position += order.sign * quantity
        if order.filled == order.quantity:
            order.status = "filled"

    def fill_live(self, prefix: str) -> Callable[[], None]:
        """A callback filling every live order whose client id starts with ``prefix``."""

        def act() -> None:
            for order in list(self.orders.values()):
                if order.live and order.client_order_id.startswith(prefix):
                    self.fill(order)

        return act

    def live_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.live]

    def trading_requests(self) -> list[Request]:
        """Requests that create or cancel orders, oldest first."""
        raise NotImplementedError

    # ------------------------------------------------------------------ matching

    def _new_order(self, order: SimOrder) -> Answer | None:
        """Validate and book a new order; an error answer refuses it (nothing booked)."""
        refusal = self.refuse(order) if self.refuse is not None else None
        if refusal is not None:
            return refusal
        if order.reduce_only and not (
            order.sign * self.position < 0 and order.quantity <= abs(self.position)
        ):
            return self._reduce_only_refusal()
        self.orders[order.order_id] = order
        self.by_client[order.client_order_id] = order
        touch = self.ask if order.side == "buy" else self.bid
        crosses = order.kind == "market" or (
            order.price is not None
            and (order.price >= self.ask if order.side == "buy" else order.price <= self.bid)
        )
        if crosses and order.post_only:
            order.status = "post_only_rejected"
        elif crosses:
            self.fill(order, price=touch)  # a taker at the touch (deep enough for tests)
        return None

    def _reduce_only_refusal(self) -> Answer:
        raise NotImplementedError

    def _cancel(self, order: SimOrder) -> None:
        order.status = "canceled"
        order.updated_ms = self.now_ms


class BinanceSim(ExchangeSim):
    """Binance USDⓈ-M futures: /fapi/v1/order (POST/GET/DELETE), depth, positionRisk v3."""

    ORDER = "/fapi/v1/order"

    def __init__(self, venue: CcxtVenue, *, bid: str, ask: str) -> None:
        super().__init__(venue, bid=bid, ask=ask)
        http = self.http
        http.on("GET", "/fapi/v1/exchangeInfo", load_fixture("binanceusdm_exchange_info.json"))
        http.on("GET", "/sapi/v1/capital/config/getall", [])
        http.on("GET", "/sapi/v1/margin/allPairs", [])
        http.on("GET", "/fapi/v1/leverageBracket", [{"symbol": self.symbol_id, "brackets": []}])
        http.respond("GET", "/fapi/v1/depth", self._depth)
        http.respond("GET", "/fapi/v3/positionRisk", self._position_risk)
        http.respond("POST", self.ORDER, self._create)
        http.respond("GET", self.ORDER, self._query)
        http.respond("DELETE", self.ORDER, self._cancel_request)

    def trading_requests(self) -> list[Request]:
        return [r for r in self.http.requests if r.path == self.ORDER and r.method in ("POST", "DELETE")]

    @staticmethod
    def error(code: int, msg: str, status: int = 400) -> Answer:
        return status, {"code": code, "msg": msg}

    def _reduce_only_refusal(self) -> Answer:
        return self.error(-2022, "ReduceOnly Order is rejected.")

    def wire(self, order: SimOrder) -> dict[str, Any]:
        """The order as /fapi/v1/order answers it."""
        status = {
            "open": "PARTIALLY_FILLED" if order.filled else "NEW",
            "filled": "FILLED",
            "canceled": "CANCELED",
            "post_only_rejected": "EXPIRED",
        }[order.status]
        average = order.average
        return {
            "orderId": int(order.order_id),
            "symbol": self.symbol_id,
            "status": status,
            "clientOrderId": order.client_order_id,
            "price": "0" if order.price is None else str(order.price),
            "avgPrice": "0.00" if average is None else str(average),
            "origQty": str(order.quantity),
            "executedQty": str(order.filled),
            "cumQty": str(order.filled),
            "cumQuote": str(order.notional),
            "timeInForce": "GTX" if order.post_only else "GTC",
            "type": order.kind.upper(),
            "reduceOnly": order.reduce_only,
            "closePosition": False,
            "side": order.side.upper(),
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": order.kind.upper(),
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": order.created_ms,
            "updateTime": order.updated_ms or order.created_ms,
        }

    def _depth(self, request: Request) -> Answer:
        now = self.now_ms
        return 200, {
            "lastUpdateId": now,
            "E": now,
            "T": now,
            "bids": [[str(self.bid), "5.000"]],
            "asks": [[str(self.ask), "5.000"]],
        }

    def _position_risk(self, request: Request) -> Answer:
        return 200, [
            {
                "symbol": self.symbol_id,
                "positionSide": "BOTH",
                "positionAmt": str(self.position),
                # Binance sends the entry price of an open position; ccxt skips one at 0.
                "entryPrice": str((self.bid + self.ask) / 2) if self.position else "0.0",
                "breakEvenPrice": "0.0",
                "markPrice": str((self.bid + self.ask) / 2),
                "unRealizedProfit": "0",
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": str(self.position * (self.bid + self.ask) / 2),
                "marginAsset": "USDT",
                "isolatedWallet": "0",
                "initialMargin": "0",
                "maintMargin": "0",
                "positionInitialMargin": "0",
                "openOrderInitialMargin": "0",
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": self.now_ms,
            }
        ]

    def _create(self, request: Request) -> Answer:
        sent = request.params
        assert sent["symbol"] == self.symbol_id
        kind = sent["type"].lower()
        order = SimOrder(
            order_id=str(8389765500000000000 + next(self._ids)),
            client_order_id=sent["newClientOrderId"],
            side=sent["side"].lower(),
            kind=kind,
            quantity=D(sent["quantity"]),
            price=D(sent["price"]) if kind == "limit" else None,
            post_only=sent.get("timeInForce") == "GTX",
            reduce_only=sent.get("reduceOnly") == "true",
            created_ms=self.now_ms,
        )
        if order.client_order_id in self.by_client:
            return self.error(-4116, "ClientOrderId is duplicated.")
        refusal = self._new_order(order)
        if refusal is not None:
            return refusal
        if order.status == "post_only_rejected":
            # Binance refuses a GTX order that would take at once, and records nothing.
            del self.orders[order.order_id], self.by_client[order.client_order_id]
            return self.error(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected. The order will not be recorded in the order history",
            )
        return 200, self.wire(order)

    def _find(self, request: Request) -> SimOrder | None:
        query = request.query
        if "orderId" in query:
            return self.orders.get(query["orderId"])
        return self.by_client.get(query.get("origClientOrderId", ""))

    def _query(self, request: Request) -> Answer:
        order = self._find(request)
        if order is None:
            return self.error(-2013, "Order does not exist.")
        return 200, self.wire(order)

    def _cancel_request(self, request: Request) -> Answer:
        order = self._find(request)
        if order is None or not order.live:
            return self.error(-2011, "Unknown order sent.")
        self._cancel(order)
        return 200, self.wire(order)


class BybitSim(ExchangeSim):
    """Bybit v5 unified account, linear: order create/cancel/realtime, orderbook, position list."""

    CREATE, CANCEL, REALTIME = "/v5/order/create", "/v5/order/cancel", "/v5/order/realtime"

    def __init__(self, venue: CcxtVenue, *, bid: str, ask: str) -> None:
        super().__init__(venue, bid=bid, ask=ask)
        http = self.http
        http.on("GET", "/v5/market/instruments-info", load_fixture("bybit_instruments_linear.json"))
        http.on(
            "GET",
            "/v5/market/instruments-info",
            self.answer({"category": "linear", "list": [], "nextPageCursor": ""}),
            match=lambda r: r.query.get("status") == "PreLaunch",
        )
        http.on("GET", "/v5/asset/coin/query-info", self.answer({"rows": []}))
        http.on(
            "GET",
            "/v5/user/query-api",
            self.answer({"id": "13770661", "readOnly": 0, "unified": 0, "uta": 1, "isMaster": True}),
        )
        http.on(
            "GET",
            "/v5/account/info",
            self.answer({"marginMode": "REGULAR_MARGIN", "unifiedMarginStatus": 5}),
        )
        http.respond("GET", "/v5/market/orderbook", self._orderbook)
        http.respond("GET", "/v5/position/list", self._positions)
        http.respond("POST", self.CREATE, self._create)
        http.respond("POST", self.CANCEL, self._cancel_request)
        http.respond("GET", self.REALTIME, self._realtime)

    def trading_requests(self) -> list[Request]:
        return [r for r in self.http.requests if r.path in (self.CREATE, self.CANCEL)]

    @staticmethod
    def answer(result: Any, *, code: int = 0, msg: str = "OK") -> dict[str, Any]:
        return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": EPOCH_MS}

    @classmethod
    def error(cls, code: int, msg: str) -> Answer:
        return 200, cls.answer({}, code=code, msg=msg)  # bybit answers errors with HTTP 200

    def _reduce_only_refusal(self) -> Answer:
        return self.error(110017, "current position is zero, cannot fix reduce-only order qty")

    def wire(self, order: SimOrder) -> dict[str, Any]:
        """One entry of /v5/order/realtime's list."""
        status = {
            "open": "PartiallyFilled" if order.filled else "New",
            "filled": "Filled",
            "canceled": "Cancelled",
            "post_only_rejected": "Cancelled",
        }[order.status]
        average = order.average
        return {
            "orderId": order.order_id,
            "orderLinkId": order.client_order_id,
            "symbol": self.symbol_id,
            "price": "0" if order.price is None else str(order.price),
            "qty": str(order.quantity),
            "side": order.side.capitalize(),
            "positionIdx": 0,
            "orderStatus": status,
            "cancelType": "CancelByUser" if order.status == "canceled" else "UNKNOWN",
            "rejectReason": (
                "EC_PostOnlyWillTakeLiquidity" if order.status == "post_only_rejected" else "EC_NoError"
            ),
            "avgPrice": "" if average is None else str(average),
            "leavesQty": str(order.quantity - order.filled if order.live else D(0)),
            "cumExecQty": str(order.filled),
            "cumExecValue": str(order.notional),
            "cumExecFee": "0",
            "timeInForce": "PostOnly" if order.post_only else ("IOC" if order.kind == "market" else "GTC"),
            "orderType": order.kind.capitalize(),
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "createdTime": str(order.created_ms),
            "updatedTime": str(order.updated_ms or order.created_ms),
        }

    def _orderbook(self, request: Request) -> Answer:
        now = self.now_ms
        return 200, self.answer(
            {
                "s": self.symbol_id,
                "a": [[str(self.ask), "5"]],
                "b": [[str(self.bid), "5"]],
                "ts": now,
                "u": now,
                "seq": now,
                "cts": now,
            }
        )

    def _positions(self, request: Request) -> Answer:
        side = "Buy" if self.position > 0 else "Sell" if self.position < 0 else ""
        entry = {
            "positionIdx": 0,
            "symbol": self.symbol_id,
            "side": side,
            "size": str(abs(self.position)),
            "avgPrice": "0",
            "positionValue": "0",
            "markPrice": str((self.bid + self.ask) / 2),
            "leverage": "10",
            "positionStatus": "Normal",
            "createdTime": str(EPOCH_MS),
            "updatedTime": str(self.now_ms),
        }
        return 200, self.answer({"category": "linear", "nextPageCursor": "", "list": [entry]})

    def _create(self, request: Request) -> Answer:
        sent = request.json
        assert sent["symbol"] == self.symbol_id and sent["category"] == "linear"
        kind = sent["orderType"].lower()
        order = SimOrder(
            order_id=f"{next(self._ids):08x}-5f1e-4c1d-9b7a-bybit0000000",
            client_order_id=sent["orderLinkId"],
            side=sent["side"].lower(),
            kind=kind,
            quantity=D(sent["qty"]),
            price=D(sent["price"]) if kind == "limit" else None,
            post_only=sent.get("timeInForce") == "PostOnly",
            reduce_only=sent.get("reduceOnly") is True,
            created_ms=self.now_ms,
        )
        if order.client_order_id in self.by_client:
            return self.error(110072, "OrderLinkedID is duplicate")
        refusal = self._new_order(order)
        if refusal is not None:
            return refusal
        # Bybit acknowledges with ids only; a post-only order that would take is
        # accepted, then cancelled with EC_PostOnlyWillTakeLiquidity.
        return 200, self.answer({"orderId": order.order_id, "orderLinkId": order.client_order_id})

    def _find(self, params: Mapping[str, Any]) -> SimOrder | None:
        if params.get("orderId"):
            return self.orders.get(params["orderId"])
        return self.by_client.get(params.get("orderLinkId", ""))

    def _realtime(self, request: Request) -> Answer:
        order = self._find(request.query)
        orders = [] if order is None else [self.wire(order)]
        return 200, self.answer({"category": "linear", "nextPageCursor": "", "list": orders})

    def _cancel_request(self, request: Request) -> Answer:
        order = self._find(request.json)
        if order is None or not order.live:
            return self.error(110001, "order not exists or too late to cancel")
        self._cancel(order)
        return 200, self.answer({"orderId": order.order_id, "orderLinkId": order.client_order_id})


# --------------------------------------------------------------------------- building venues

SIM_CONFIG: Mapping[str, Any] = {"enableRateLimit": False}
"""ccxt settings for simulations: no throttling sleeps between canned answers."""


def make_venue(
    exchange_id: str,
    *,
    name: str,
    api_key: Secret | None = None,
    secret: Secret | None = None,
) -> CcxtVenue:
    """A CcxtVenue built the way users build one: from Secret credentials."""
    options = {"fetchMarkets": {"types": ["linear"]}} if exchange_id == "bybit" else None
    venue = CcxtVenue.from_credentials(
        exchange_id,
        api_key=api_key or Secret(f"{exchange_id}-test-api-key-0123456789"),
        secret=secret or Secret(f"{exchange_id}-test-api-secret-9876543210"),
        options=options,
        config=SIM_CONFIG,
        name=name,
    )
    # close() waits this long for aiohttp's TLS shutdown; no session is ever opened here.
    venue.exchange.timeout_on_exit = 0
    return venue


def binance_sim(venue: CcxtVenue | None = None, *, bid: str = "65000.0", ask: str = "65000.5") -> BinanceSim:
    return BinanceSim(venue or make_venue("binanceusdm", name="binance"), bid=bid, ask=ask)


def bybit_sim(venue: CcxtVenue | None = None, *, bid: str = "65000.0", ask: str = "65000.5") -> BybitSim:
    return BybitSim(venue or make_venue("bybit", name="bybit"), bid=bid, ask=ask)


@dataclass
class Run:
    result: ExecutionResult
    virtual_seconds: float
    wall_seconds: float
    leftover_tasks: list[str] = field(default_factory=list)


def execute(
    sims: Mapping[str, ExchangeSim],
    legs: list[LegSpec],
    actions: list[tuple[float, Callable[[], None]]],
    *,
    config: HedgeConfig | None = None,
    observers: tuple[HedgeObserver, ...] = (),
    hedge_id: str = "t1",
) -> Run:
    """``engine.execute`` under virtual time, the test's actions scheduled on the same clock."""

    async def main() -> Run:
        loop = asyncio.get_running_loop()
        for at, action in actions:
            loop.call_at(at, action)
        engine = HedgeEngine(
            {name: sim.venue for name, sim in sims.items()},
            config or HedgeConfig(),
            observers=observers,
            hedge_ids=lambda: hedge_id,
        )
        try:
            result = await engine.execute(legs)
        finally:
            for sim in sims.values():
                await sim.venue.close()
        others = [repr(t) for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return Run(result, loop.time(), 0.0, others)

    started = time.perf_counter()
    outcome = run(main())
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


def summary(request: Request) -> tuple[str, ...]:
    """A trading request as (method, path, then the fields that matter, sorted)."""
    params = request.params
    kept = {
        key: params[key]
        for key in sorted(params)
        if key not in ("timestamp", "signature", "recvWindow", "category", "symbol")
    }
    return (request.method, request.path, *(f"{k}={v}" for k, v in kept.items()))


def reads(sim: ExchangeSim) -> set[tuple[str, str]]:
    """Every (method, path) the run used that is not a create or a cancel."""
    trading = {id(r) for r in sim.trading_requests()}
    return {(r.method, r.path) for r in sim.http.requests if id(r) not in trading}


def assert_nothing_left(run_: Run, *sims: ExchangeSim) -> None:
    assert run_.leftover_tasks == [], f"tasks left running after execute: {run_.leftover_tasks}"
    for sim in sims:
        assert sim.live_orders() == [], f"open orders left on {sim.venue.name}: {sim.live_orders()}"


# --------------------------------------------------------------------------- scenarios

LONG_BINANCE_SHORT_BYBIT = [
    LegSpec(venue="binance", symbol=BTC, side=Side.BUY, quantity=D("0.003"), price=D("64999.0")),
    LegSpec(venue="bybit", symbol=BTC, side=Side.SELL, quantity=D("0.003"), price=D("65001.5")),
]
# The entry orders as they go out on the wire (resting post-only limits, as
# LegSpec.post_only defaults to: GTX on binance, PostOnly on bybit; our client ids).
ENTRY_BINANCE = (
    "POST",
    "/fapi/v1/order",
    "newClientOrderId=t1e0n1",
    "newOrderRespType=RESULT",
    "price=64999",
    "quantity=0.003",
    "side=BUY",
    "timeInForce=GTX",
    "type=LIMIT",
)
ENTRY_BYBIT = (
    "POST",
    "/v5/order/create",
    "orderLinkId=t1e1n1",
    "orderType=Limit",
    "price=65001.5",
    "qty=0.003",
    "side=Sell",
    "timeInForce=PostOnly",
)


def test_binance_fills_first_bybit_entry_is_cancelled_and_the_post_only_hedge_fills() -> None:
    """The whole job over the wire: entries on both, trigger, cancel, post-only hedge, done."""
    binance, bybit = binance_sim(), bybit_sim()
    outcome = execute(
        {"binance": binance, "bybit": bybit},
        LONG_BINANCE_SHORT_BYBIT,
        actions=[(0.6, binance.fill_live("t1e0")), (1.2, bybit.fill_live("t1h1"))],
        # The cancel-first handoff is what this wire trace shows (adopt: tests/test_adopt.py).
        config=HedgeConfig(entry_handoff=EntryHandoff.CANCEL),
    )
    result = outcome.result

    assert result.state == "done"
    assert result.net_exposure == 0
    assert (binance.position, bybit.position) == (D("0.003"), D("-0.003"))
    assert result.legs[1].filled_quantity == D("0.003")
    assert result.legs[1].maker_quantity == D("0.003")  # the hedge rested and filled as a maker
    assert_nothing_left(outcome, binance, bybit)

    # Binance: the entry only, a post-only (GTX) limit; newClientOrderId carries our client id.
    assert [summary(r) for r in binance.trading_requests()] == [ENTRY_BINANCE]
    # Bybit: the entry, its cancel (by venue id) once binance filled, then the hedge:
    # timeInForce=PostOnly is bybit's post-only flag, orderLinkId our client id. The
    # price is one tick inside the spread for a sell (bid 65000.0 + tick 0.1): the
    # break-even sell (64999 plus both legs' fees, about 65038) is passive but more than
    # 2 ticks away from it, so the ladder skips it.
    entry_id = bybit.by_client["t1e1n1"].order_id
    assert [summary(r) for r in bybit.trading_requests()] == [
        ENTRY_BYBIT,
        ("POST", "/v5/order/cancel", f"orderId={entry_id}"),
        (
            "POST",
            "/v5/order/create",
            "orderLinkId=t1h1n0",
            "orderType=Limit",
            "price=65000.1",
            "qty=0.003",
            "side=Sell",
            "timeInForce=PostOnly",
        ),
    ]
    assert bybit.by_client["t1e1n1"].status == "canceled"
    # Everything else was a read: the book, order polls by venue id, positions, markets.
    assert reads(binance) <= {
        ("GET", "/fapi/v1/depth"),  # the set-up's check of the entry price against the book
        ("GET", "/fapi/v1/exchangeInfo"),
        ("GET", "/sapi/v1/capital/config/getall"),
        ("GET", "/sapi/v1/margin/allPairs"),
        ("GET", "/fapi/v1/leverageBracket"),
        ("GET", "/fapi/v3/positionRisk"),
        ("GET", "/fapi/v1/order"),
    }
    polls = binance.http.sent("GET", "/fapi/v1/order")
    assert polls and {p.query.get("orderId") for p in polls} == {binance.by_client["t1e0n1"].order_id}
    assert ("GET", "/v5/market/orderbook") in reads(bybit)
    # Signed with the key from the Secret, in the exchange's own header.
    assert bybit.http.last("POST", "/v5/order/create").headers["X-BAPI-API-KEY"] == (
        "bybit-test-api-key-0123456789"
    )
    # Virtual time: over a second of hedge, no wall-clock sleeping (no ccxt throttling).
    assert not binance.venue.exchange.enableRateLimit and not bybit.venue.exchange.enableRateLimit
    assert 1.2 < outcome.virtual_seconds < 3.0
    assert outcome.wall_seconds < 3.0


def test_hedge_refused_for_margin_rolls_back_with_a_reduce_only_market_order_on_the_trigger() -> None:
    """Bybit fills first; binance refuses every hedge with -2019: the bybit short is bought back."""
    binance, bybit = binance_sim(), bybit_sim()
    margin_refusal = BinanceSim.error(-2019, "Margin is insufficient.")
    binance.refuse = lambda order: margin_refusal if order.client_order_id.startswith("t1h") else None
    # Cancel-first: every hedge order is a new "t1h" order, so every one is refused.
    config = HedgeConfig(opening=RetryPolicy(max_attempts=3), entry_handoff=EntryHandoff.CANCEL)
    outcome = execute(
        {"binance": binance, "bybit": bybit},
        LONG_BINANCE_SHORT_BYBIT,
        actions=[(0.6, bybit.fill_live("t1e1"))],
        config=config,
    )
    result = outcome.result

    assert result.state == "rolled_back"
    assert result.net_exposure == 0
    assert (binance.position, bybit.position) == (D(0), D(0))
    assert result.legs[1].rolled_back_quantity == D("0.003")
    # ccxt read binance's -2019 as InsufficientFunds; the adapter kept that reason.
    assert result.legs[0].error_message is not None
    assert "insufficient_funds" in result.legs[0].error_message
    assert "Margin is insufficient" in result.legs[0].error_message
    assert_nothing_left(outcome, binance, bybit)

    # Binance: the entry, its cancel, then the hedge ladder, every order refused by the
    # exchange (nothing booked): three post-only buys one tick inside the spread (GTX,
    # ask 65000.5 - tick 0.1), then the market fallback.
    entry_id = binance.by_client["t1e0n1"].order_id
    hedge = ("POST", "/fapi/v1/order")
    limit = ("newOrderRespType=RESULT", "price=65000.4", "quantity=0.003", "side=BUY", "timeInForce=GTX")
    assert [summary(r) for r in binance.trading_requests()] == [
        ENTRY_BINANCE,
        ("DELETE", "/fapi/v1/order", f"orderId={entry_id}"),
        (*hedge, "newClientOrderId=t1h0n0", *limit, "type=LIMIT"),
        (*hedge, "newClientOrderId=t1h0n1", *limit, "type=LIMIT"),
        (*hedge, "newClientOrderId=t1h0n2", *limit, "type=LIMIT"),
        (*hedge, "newClientOrderId=t1h0n3", "newOrderRespType=RESULT", "quantity=0.003", "side=BUY",
         "type=MARKET"),
    ]
    assert not any(o.client_order_id.startswith("t1h") for o in binance.orders.values())

    # The rollback: one market buy on bybit, the trigger venue, reduce-only, for exactly
    # the trigger's fill; then the position is read back (flat).
    creates = bybit.http.sent("POST", "/v5/order/create")
    rollback = creates[-1]
    assert [summary(r) for r in creates] == [ENTRY_BYBIT, summary(rollback)]
    # The engine may cancel the rollback order when its (terse, OPEN) ack arrives; the
    # market order has filled by then: bybit says "too late", the lookup says Filled.
    # Nothing else is cancelled on bybit: its entry was the trigger, filled.
    rollback_id = bybit.by_client[rollback.json["orderLinkId"]].order_id
    assert {r.json["orderId"] for r in bybit.http.sent("POST", "/v5/order/cancel")} <= {rollback_id}
    assert rollback.json == {
        "symbol": "BTCUSDT",
        "category": "linear",
        "side": "Buy",
        "orderType": "Market",
        "qty": "0.003",
        "reduceOnly": True,
        "orderLinkId": rollback.json["orderLinkId"],
    }
    assert rollback.json["orderLinkId"].startswith("t1r1n")
    assert bybit.http.requests[-1].path == "/v5/position/list"
    assert bybit.by_client[rollback.json["orderLinkId"]].status == "filled"
    assert outcome.wall_seconds < 3.0
