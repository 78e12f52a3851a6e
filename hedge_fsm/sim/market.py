"""The simulated market: one order book per venue and symbol, advanced lazily.

Theory of operation
-------------------
A :class:`MarketModel` owns every :class:`Book` of a simulation and one
seeded random stream per process, so that adding a book never changes the
paths of the others.

**Prices.** Each book has a latent mid ``m(t) = anchor · exp(σ · x(t))`` where
``x = ρ·F + √(1-ρ²)·I``: ``F`` is a standard Brownian motion shared by every
book that names the same *factor* (one per underlying asset, so BTC on two
venues moves together) and ``I`` is the book's own. Two books on one factor
have a return correlation ``ρ_a·ρ_b``. The latent path is a float (it is a
random number, not money); what leaves the model is always on the tick grid:
``bid = floor(m/tick + ½ - spread/2)`` ticks and ``ask = bid + spread``. The
quote is refreshed on a fixed grid of ``quote_interval`` seconds.

**Depth.** Every level of the displayed book holds ``depth + k·depth_step``
contracts of *other* traders (level ``k`` counted from the best price). The
model has no market impact: displayed depth refills at once, and our own
orders are not shown in the quote and never trade with each other.

**Trades.** Other traders' market orders arrive as a Poisson process
(``trade_rate`` per second, exponential sizes of mean ``trade_size_mean``,
buying with ``buy_probability``). A trade walks the opposite side of the book
in price-time priority, our resting orders included:

* an order of ours joins the *back* of its level: the others' quantity ahead
  of it is the displayed depth at that level on arrival (times
  ``queue_position``), zero inside the spread;
* it fills only after the quantity ahead has traded, and by no more than what
  is left of the trade (partial fills are capped by the trade size);
* a trade that reaches a worse price than the order's level has consumed the
  whole level: the order fills fully, orders in priority order;
* a quote that moves through a resting order (a buy at or above the new ask)
  fills it fully, as maker, at its own price: the level it sat in was traded.

**Laziness.** Nothing runs in the background. ``advance_to(t)`` generates
everything between the last time and ``t``: quote refreshes and trades are
stepped only for *live* books (those with a resting order of ours), trade
times are drawn from the exponential distribution and jumped to, and an idle
book catches up in one draw (a Brownian increment over the whole gap) when it
is next looked at. Given the same sequence of calls the model does the same
thing, bit for bit. Pass ``exact_path=True`` to step every book on every
quote tick, which makes the market path depend on the seed alone (common
random numbers across strategies) at the price of speed.

Internally prices are integer ticks and quantities integer lots, so book
arithmetic is exact; :class:`Book` converts at its boundary.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Protocol

import attrs

from hedge_fsm.errors import InvalidValue
from hedge_fsm.validators import integer_at_least, non_negative, number_in, positive
from hedge_fsm.values import BBO, Side, is_on_grid, make_bbo

__all__ = ["BBO", "Book", "BookConfig", "FillSink", "MarketModel", "RestingOrder"]

_INF = math.inf


_unit_interval = number_in(0.0, 1.0)
_loading = number_in(-1.0, 1.0)
_rate = number_in(0.0, what="a finite number")
_count = integer_at_least


@attrs.frozen(kw_only=True)
class BookConfig:
    """How one book behaves; quantities in contracts, prices per contract (Decimal).

    ``volatility`` is the standard deviation of log-returns per √second
    (``0.0001`` is 1 bp/√s); ``factor`` names the shared price driver (books
    naming the same factor are correlated by ``factor_loading`` each).
    """

    reference_price: Decimal = attrs.field(validator=positive)
    """The mid at the start (and after the book is built)."""
    volatility: float = attrs.field(default=0.0, validator=_rate)
    factor: str | None = None
    factor_loading: float = attrs.field(default=0.0, validator=_loading)
    spread_ticks: int = attrs.field(default=1, validator=_count(1))
    depth: Decimal = attrs.field(default=Decimal(1), validator=non_negative)
    """Others' displayed quantity at the best level, in contracts."""
    depth_step: Decimal = attrs.field(default=Decimal(0), validator=non_negative)
    """Extra displayed quantity per level away from the best."""
    depth_levels: int = attrs.field(default=20, validator=_count(1))
    """How many price levels a walk can reach on each side."""
    trade_rate: float = attrs.field(default=0.0, validator=_rate)
    """Others' market orders per second (Poisson)."""
    trade_size_mean: Decimal = attrs.field(default=Decimal(1), validator=positive)
    """Mean size of others' market orders (exponential), in contracts."""
    buy_probability: float = attrs.field(default=0.5, validator=_unit_interval)
    queue_position: float = attrs.field(default=1.0, validator=_unit_interval)
    """Fraction of the level's displayed depth ahead of a new order (1: back of the queue)."""


class RestingOrder:
    """One of our orders resting in a :class:`Book` (integer ticks and lots).

    The book owns ``remaining`` and ``ahead`` (others' quantity in front of it
    at its level); the venue names it by ``order_id``.
    """

    __slots__ = ("ahead", "order_id", "price", "remaining", "seq", "side")

    def __init__(self, *, order_id: str, side: Side, price: int, remaining: int, seq: int) -> None:
        self.order_id = order_id
        self.side = side
        self.price = price
        self.remaining = remaining
        self.seq = seq
        self.ahead = 0

    def __repr__(self) -> str:
        return (
            f"RestingOrder({self.order_id} {self.side} {self.remaining} lots @ {self.price} ticks, "
            f"{self.ahead} ahead)"
        )


class FillSink(Protocol):
    """Who is told when the market fills a resting order (the venue that owns the book)."""

    def on_market_fill(self, order: RestingOrder, lots: int, price: int, time: float) -> int:
        """Apply a maker fill; return the lots actually filled (less only to honour reduce-only)."""
        ...


class _Walk:
    """A standard Brownian motion sampled on the quote grid, lazily."""

    __slots__ = ("_dt", "_rng", "_sqrt_dt", "tick", "value")

    def __init__(self, rng: random.Random, dt: float, tick: int) -> None:
        self._rng = rng
        self._dt = dt
        self._sqrt_dt = math.sqrt(dt)
        self.tick = tick
        self.value = 0.0

    def sync(self, tick: int) -> None:
        steps = tick - self.tick
        if steps <= 0:
            return
        # One draw covers any gap: Brownian increments over n steps are N(0, n·dt).
        scale = self._sqrt_dt if steps == 1 else math.sqrt(steps * self._dt)
        self.value += self._rng.gauss(0.0, scale)
        self.tick = tick


class Book:
    """Our view of one venue's order book for one symbol. Built by :meth:`MarketModel.add_book`.

    ``bid``/``ask`` (integer ticks) and :meth:`bbo` are current as of the
    model's last :meth:`MarketModel.advance_to`. The ``set_quote``,
    ``set_mid`` and ``inject_trade`` methods are **test hooks**: they change
    the market deterministically at a given time.
    """

    def __init__(
        self,
        model: MarketModel,
        *,
        venue: str,
        symbol: str,
        config: BookConfig,
        tick_size: Decimal,
        lot_size: Decimal,
        factor: _Walk | None,
        idio_rng: random.Random,
        trade_rng: random.Random,
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.config = config
        self.tick_size = tick_size
        self.lot_size = lot_size
        self._model = model
        self._factor = factor
        self._idio = _Walk(idio_rng, model.quote_interval, model.tick)
        self._trade_rng = trade_rng
        self._sigma = config.volatility
        self._rho = config.factor_loading if factor is not None else 0.0
        self._rho_c = math.sqrt(max(0.0, 1.0 - self._rho * self._rho))
        self._spread = config.spread_ticks
        if not is_on_grid(config.reference_price, tick_size):
            raise InvalidValue(
                f"BookConfig.reference_price {config.reference_price} of {venue}/{symbol} is not "
                f"a multiple of tick size {tick_size}"
            )
        self._anchor = float(config.reference_price / tick_size)
        depth_lots = self.lots_of(config.depth, what="depth", exact=False)
        step_lots = self.lots_of(config.depth_step, what="depth_step", exact=False)
        self._levels = [depth_lots + k * step_lots for k in range(config.depth_levels)]
        self._cum = [0]
        for level in self._levels:
            self._cum.append(self._cum[-1] + level)
        self._trade_mean_lots = max(1.0, float(config.trade_size_mean / lot_size))
        self._sink: FillSink | None = None
        self._buys: list[RestingOrder] = []  # best (highest) first, then by arrival
        self._sells: list[RestingOrder] = []  # best (lowest) first, then by arrival
        self.next_trade = _INF
        self.tick = model.tick
        self.bid = 0
        self.ask = 0
        self._history: deque[tuple[float, int, int]] = deque(maxlen=512)
        self._recompute_quote()
        self._history.append((model.now if model.now is not None else 0.0, self.bid, self.ask))

    # ------------------------------------------------------------------ conversions

    def ticks_of(self, price: Decimal) -> int:
        """``price`` in integer ticks (the caller has checked it is on the grid)."""
        return int(price / self.tick_size)

    def lots_of(self, quantity: Decimal, *, what: str = "quantity", exact: bool = True) -> int:
        """``quantity`` in integer lots; ``exact`` refuses a quantity off the lot grid."""
        lots = quantity / self.lot_size
        if exact and lots != lots.to_integral_value():
            raise InvalidValue(
                f"{what} {quantity} of {self.venue}/{self.symbol} is not a multiple of lot size "
                f"{self.lot_size}"
            )
        return int(lots)

    def price(self, ticks: int) -> Decimal:
        """Integer ticks back to a Decimal price."""
        return ticks * self.tick_size

    def quantity(self, lots: int) -> Decimal:
        """Integer lots back to a Decimal quantity."""
        return lots * self.lot_size

    # ------------------------------------------------------------------ quote

    @property
    def is_live(self) -> bool:
        """True while one of our orders rests here (the model then steps this book)."""
        return bool(self._buys or self._sells)

    def level_depth(self, distance: int) -> int:
        """Others' displayed lots ``distance`` levels away from the best (0 inside the spread)."""
        if 0 <= distance < len(self._levels):
            return self._levels[distance]
        return 0

    def catch_up(self) -> None:
        """Bring an idle book's quote to the model's current quote tick (one draw per gap)."""
        tick = self._model.tick
        if tick > self.tick:
            self._refresh(tick, self._model.tick_time(tick))

    def bbo(self, time: float) -> BBO:
        """The current top of the book, stamped ``time``."""
        self.catch_up()
        return self._bbo(self.bid, self.ask, time)

    def bbo_at(self, time: float) -> BBO:
        """The quote as it was at ``time`` (a stale snapshot), stamped with when it was set."""
        self.catch_up()
        chosen = self._history[0]
        for entry in self._history:
            if entry[0] > time:
                break
            chosen = entry
        # A quote set before the market's first advance is stamped with the origin of time.
        return self._bbo(chosen[1], chosen[2], max(chosen[0], self._model.origin))

    def _bbo(self, bid: int, ask: int, time: float) -> BBO:
        size = self.quantity(self._levels[0])
        # Ticks and lots of the model: valid by construction, built without re-validation.
        return make_bbo(self.price(bid), self.price(ask), size, size, Decimal(repr(max(time, 0.0))))

    def _recompute_quote(self) -> None:
        if self._sigma:
            x = self._rho_c * self._idio.value
            if self._factor is not None:
                x += self._rho * self._factor.value
            center = self._anchor * math.exp(self._sigma * x)
        else:
            center = self._anchor
        bid = math.floor(center + 0.5 - self._spread / 2)
        # A price is never zero or negative, whatever the random walk did.
        self.bid = max(bid, 1)
        self.ask = self.bid + self._spread

    def _refresh(self, tick: int, time: float) -> None:
        self.tick = tick
        if not self._sigma:
            return
        if self._factor is not None:
            self._factor.sync(tick)
        self._idio.sync(tick)
        bid, ask = self.bid, self.ask
        self._recompute_quote()
        if self.bid != bid or self.ask != ask:
            self._history.append((time, self.bid, self.ask))
            self._fill_crossed(time)

    def _latent_exp(self) -> float:
        if not self._sigma:
            return 1.0
        x = self._rho_c * self._idio.value
        if self._factor is not None:
            x += self._rho * self._factor.value
        return math.exp(self._sigma * x)

    def _set_center(self, center_ticks: float, time: float) -> None:
        self.catch_up()
        self._anchor = center_ticks / self._latent_exp()
        self._recompute_quote()
        self._history.append((time, self.bid, self.ask))
        self._fill_crossed(time)

    # ------------------------------------------------------------------ our orders

    def attach(self, sink: FillSink) -> None:
        """Tell the book whom to report market fills to (its venue)."""
        self._sink = sink

    def add_resting(self, order: RestingOrder, time: float) -> None:
        """Queue ``order`` at the back of its level (the venue has checked it does not cross)."""
        self.catch_up()
        was_live = self.is_live
        if order.side is Side.BUY:
            distance = self.bid - order.price
            queue = self._buys
        else:
            distance = order.price - self.ask
            queue = self._sells
        order.ahead = int(self.level_depth(distance) * self.config.queue_position)
        queue.append(order)
        if order.side is Side.BUY:
            queue.sort(key=lambda o: (-o.price, o.seq))
        else:
            queue.sort(key=lambda o: (o.price, o.seq))
        if not was_live:
            self._model.wake(self, time)

    def remove_resting(self, order: RestingOrder) -> None:
        """Take ``order`` out of the book (cancelled or finished); absent orders are ignored."""
        queue = self._buys if order.side is Side.BUY else self._sells
        if order in queue:
            queue.remove(order)
        if not self.is_live:
            self._model.sleep(self)

    def resting(self) -> Iterator[RestingOrder]:
        """Our resting orders, bids first (best first), then asks."""
        yield from self._buys
        yield from self._sells

    def take(self, side: Side, lots: int, limit: int | None = None) -> list[tuple[int, int]]:
        """Walk the displayed book for a taker order of ours: ``(price_ticks, lots)`` fills.

        A buy takes asks upward from the best ask, a sell takes bids downward;
        ``limit`` (ticks) stops the walk at the order's limit price. What the
        displayed levels cannot supply is left unfilled.
        """
        self.catch_up()
        fills: list[tuple[int, int]] = []
        left = lots
        for distance, depth in enumerate(self._levels):
            if left <= 0:
                break
            price = self.ask + distance if side is Side.BUY else self.bid - distance
            if price <= 0:
                break
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                break
            size = min(left, depth)
            if size > 0:
                fills.append((price, size))
                left -= size
        return fills

    # ------------------------------------------------------------------ market events

    def _fill(self, order: RestingOrder, lots: int, price: int, time: float) -> bool:
        """Report a maker fill; True when the order leaves the book."""
        sink = self._sink
        filled = sink.on_market_fill(order, lots, price, time) if sink is not None else lots
        order.remaining -= filled
        return filled < lots or order.remaining <= 0

    def _fill_crossed(self, time: float) -> None:
        # The quote moved through an order: its level was traded away, so it filled.
        done: list[RestingOrder] = []
        for order in self._buys:
            if order.price < self.ask:
                break
            self._fill(order, order.remaining, order.price, time)
            done.append(order)
        for order in self._sells:
            if order.price > self.bid:
                break
            self._fill(order, order.remaining, order.price, time)
            done.append(order)
        for order in done:
            self.remove_resting(order)

    def random_trade(self, time: float) -> None:
        """Draw and apply others' next market order at ``time``; schedule the one after."""
        rng = self._trade_rng
        aggressor = Side.BUY if rng.random() < self.config.buy_probability else Side.SELL
        lots = max(1, round(rng.expovariate(1.0 / self._trade_mean_lots)))
        self._aggress(aggressor, lots, time, None)
        self.next_trade = self._draw_next_trade(time)

    def _draw_next_trade(self, time: float) -> float:
        rate = self.config.trade_rate
        return time + self._trade_rng.expovariate(rate) if rate > 0 else _INF

    def _aggress(self, aggressor: Side, volume: int, time: float, print_at: int | None) -> None:
        """Apply a market order of ``volume`` lots from others to our resting orders.

        ``print_at`` (ticks) forces the trade's last price: every level better
        than it was consumed, and ``volume`` traded at it.
        """
        if aggressor is Side.BUY:
            queue, best, direction = self._sells, self.ask, 1
        else:
            queue, best, direction = self._buys, self.bid, -1
        if not queue:
            return
        n = len(self._levels)
        print_distance = None if print_at is None else direction * (print_at - best)
        consumed_levels = 0  # displayed levels fully eaten so far (walk mode)
        done: list[RestingOrder] = []
        i = 0
        while i < len(queue) and volume > 0:
            price = queue[i].price
            j = i
            while j < len(queue) and queue[j].price == price:
                j += 1
            group = queue[i:j]
            i = j
            distance = direction * (price - best)
            if print_distance is not None:
                if distance > print_distance:
                    break
                if distance < print_distance:
                    # Traded through: the whole level went, ours included.
                    for order in group:
                        self._fill(order, order.remaining, order.price, time)
                        done.append(order)
                    continue
            else:
                # Others' displayed levels strictly better than this one trade first.
                reach = min(max(distance, 0), n)
                if reach > consumed_levels:
                    volume -= self._cum[reach] - self._cum[consumed_levels]
                    consumed_levels = reach
                if volume <= 0:
                    break
            depth = self.level_depth(distance)
            ours = sum(order.remaining for order in group)
            if volume >= depth + ours:
                for order in group:
                    self._fill(order, order.remaining, order.price, time)
                    done.append(order)
                volume -= depth + ours
                if 0 <= distance < n:
                    consumed_levels = max(consumed_levels, distance + 1)
                if print_distance is not None:
                    break
                continue
            self._fill_in_queue(group, depth, volume, time, done)
            break
        for order in done:
            self.remove_resting(order)

    def _fill_in_queue(
        self,
        group: Sequence[RestingOrder],
        depth: int,
        volume: int,
        time: float,
        done: list[RestingOrder],
    ) -> None:
        # Price-time priority inside one level: others ahead of each order trade first.
        others_consumed = 0
        left = volume
        for order in group:
            ahead = max(min(order.ahead, depth), others_consumed)
            gap = ahead - others_consumed
            if left <= gap:
                others_consumed += left
                left = 0
                break
            left -= gap
            others_consumed = ahead
            size = min(order.remaining, left)
            left -= size
            if self._fill(order, size, order.price, time):
                done.append(order)
            if left == 0:
                break
        for order in group:
            order.ahead = max(0, min(order.ahead, depth) - others_consumed)

    # ------------------------------------------------------------------ test hooks

    def set_quote(self, *, bid: Decimal, ask: Decimal, time: float) -> None:
        """**Test hook.** Move the quote to exactly ``bid``/``ask`` at ``time``.

        The spread becomes ``ask - bid``; later random moves start from here.
        Resting orders the new quote crosses fill, as after any quote move.
        """
        if not (is_on_grid(bid, self.tick_size) and is_on_grid(ask, self.tick_size)):
            raise InvalidValue(
                f"set_quote bid {bid} / ask {ask} are not multiples of tick size {self.tick_size}"
            )
        if not 0 < bid < ask:
            raise InvalidValue(f"set_quote needs 0 < bid < ask, got bid {bid} ask {ask}")
        self._model.advance_to(time)
        bid_ticks, ask_ticks = self.ticks_of(bid), self.ticks_of(ask)
        self._spread = ask_ticks - bid_ticks
        self._set_center((bid_ticks + ask_ticks) / 2, time)

    def set_mid(self, mid: Decimal, *, time: float) -> None:
        """**Test hook.** Rebuild the quote around ``mid`` (spread unchanged) at ``time``.

        With an odd spread in ticks the mid lands half a tick above ``mid``.
        """
        if mid <= 0:
            raise InvalidValue(f"set_mid needs a positive mid, got {mid}")
        self._model.advance_to(time)
        self._set_center(float(mid / self.tick_size), time)

    def inject_trade(
        self,
        aggressor: Side,
        quantity: Decimal,
        *,
        time: float,
        price: Decimal | None = None,
    ) -> None:
        """**Test hook.** Others send a market order of ``quantity`` at ``time``.

        ``aggressor`` is the taker's side (a BUY trade fills our resting sells).
        Without ``price`` the trade walks the book; with ``price`` it prints
        there: levels better than ``price`` are consumed whole and ``quantity``
        trades at ``price`` itself, in queue order.
        """
        self._model.advance_to(time)
        self.catch_up()
        lots = self.lots_of(quantity, what="inject_trade quantity")
        print_at = None
        if price is not None:
            if not is_on_grid(price, self.tick_size):
                raise InvalidValue(
                    f"inject_trade price {price} is not a multiple of tick size {self.tick_size}"
                )
            print_at = self.ticks_of(price)
        self._aggress(aggressor, lots, time, print_at)


class MarketModel:
    """Every book of one simulation, their shared price factors, and virtual market time.

    Venues call :meth:`advance_to` with the loop's time before they act; the
    model catches up on everything that happened since its last call.
    """

    def __init__(
        self, seed: int = 0, *, quote_interval: float = 0.05, exact_path: bool = False
    ) -> None:
        if not (isinstance(quote_interval, int | float) and quote_interval > 0):
            raise InvalidValue(f"MarketModel.quote_interval must be > 0, got {quote_interval!r}")
        self.seed = seed
        self.quote_interval = float(quote_interval)
        self.exact_path = exact_path
        self.now: float | None = None
        """The market's time (None until the first :meth:`advance_to`)."""
        self.tick = 0
        """Index of the last quote refresh on the grid."""
        self.origin = 0.0
        """The time of the first :meth:`advance_to` (quote tick 0)."""
        self._factors: dict[str, _Walk] = {}
        self._books: dict[tuple[str, str], Book] = {}
        self._live: list[Book] = []

    def _rng(self, *parts: str) -> random.Random:
        # A string seed goes through SHA-512: stable across runs and PYTHONHASHSEED.
        return random.Random("/".join((str(self.seed), *parts)))

    def add_book(
        self,
        *,
        venue: str,
        symbol: str,
        config: BookConfig,
        tick_size: Decimal,
        lot_size: Decimal,
    ) -> Book:
        """Create the book of ``symbol`` on ``venue``."""
        key = (venue, symbol)
        if key in self._books:
            raise InvalidValue(f"the market already has a book for {venue}/{symbol}")
        book = Book.__new__(Book)
        self._install(book, venue=venue, symbol=symbol, config=config, tick_size=tick_size, lot_size=lot_size)
        return book

    def _install(
        self,
        book: Book,
        *,
        venue: str,
        symbol: str,
        config: BookConfig,
        tick_size: Decimal,
        lot_size: Decimal,
    ) -> None:
        """(Re)initialise ``book`` as this model's book of ``symbol`` on ``venue``."""
        factor = None
        if config.factor is not None:
            factor = self._factors.get(config.factor)
            if factor is None:
                factor = _Walk(self._rng("factor", config.factor), self.quote_interval, self.tick)
                self._factors[config.factor] = factor
        Book.__init__(
            book,
            self,
            venue=venue,
            symbol=symbol,
            config=config,
            tick_size=tick_size,
            lot_size=lot_size,
            factor=factor,
            idio_rng=self._rng(venue, symbol, "mid"),
            trade_rng=self._rng(venue, symbol, "trades"),
        )
        self._books[(venue, symbol)] = book
        if self.exact_path:
            self.wake(book, self.now)

    def reset(self, seed: int) -> None:
        """Back to a model just built with ``seed`` holding the same books, in the same order.

        Each book keeps its identity and its venue but starts afresh (quote, walks, trade
        stream, no resting order), on the streams a fresh model seeded with ``seed`` would
        draw: the same paths. Cheaper than building the model and its venues again (no
        configuration is rebuilt or re-validated); reset the venues too
        (:meth:`hedge_fsm.sim.SimVenue.reset`, or :func:`hedge_fsm.sim.reset_venues`).
        """
        books = list(self._books.values())
        self.seed = seed
        self.now = None
        self.tick = 0
        self.origin = 0.0
        self._factors = {}
        self._books = {}
        self._live = []
        for book in books:
            sink = book._sink
            self._install(
                book,
                venue=book.venue,
                symbol=book.symbol,
                config=book.config,
                tick_size=book.tick_size,
                lot_size=book.lot_size,
            )
            book._sink = sink

    def book(self, venue: str, symbol: str) -> Book:
        """The book of ``symbol`` on ``venue``."""
        try:
            return self._books[(venue, symbol)]
        except KeyError:
            raise InvalidValue(f"the market has no book for {venue}/{symbol}") from None

    def books(self) -> list[Book]:
        """Every book, in creation order."""
        return list(self._books.values())

    def tick_time(self, tick: int) -> float:
        """The time of quote refresh number ``tick``."""
        return self.origin + tick * self.quote_interval

    def wake(self, book: Book, time: float | None) -> None:
        """Start stepping ``book`` (it has a resting order now); its next trade is drawn afresh.

        Before the model's first :meth:`advance_to` (``time`` None) the draw
        waits for the origin of time to be known.
        """
        if book in self._live:
            return
        book.catch_up()
        book.next_trade = _INF if time is None else book._draw_next_trade(time)
        self._live.append(book)

    def sleep(self, book: Book) -> None:
        """Stop stepping ``book`` (nothing of ours rests there; its trades cannot matter)."""
        if not self.exact_path and book in self._live:
            self._live.remove(book)

    def advance_to(self, time: float) -> None:
        """Generate everything that happens in the market up to ``time`` (never backwards)."""
        now = self.now
        if now is None:
            # The first call fixes the grid: the path does not depend on the loop's start time.
            self.origin = time
            self.now = time
            for book in self._live:
                book.next_trade = book._draw_next_trade(time)
            return
        if time <= now:
            return
        target = math.floor((time - self.origin) / self.quote_interval + 1e-9)
        if self._live:
            while self.tick < target:
                tick = self.tick + 1
                # min(): the epsilon above may round a refresh a hair past ``time``.
                tick_time = min(self.tick_time(tick), time)
                self._trades_until(tick_time)
                self.tick = tick
                for book in tuple(self._live):
                    book._refresh(tick, tick_time)
            self._trades_until(time)
        elif target > self.tick:
            # Nobody is live: books catch up lazily, in one draw, when next looked at.
            self.tick = target
        self.now = time

    def _trades_until(self, time: float) -> None:
        # Merge the live books' trade streams in time order, so logs read chronologically.
        while True:
            first: Book | None = None
            for book in self._live:
                if book.next_trade <= time and (first is None or book.next_trade < first.next_trade):
                    first = book
            if first is None:
                return
            first.random_trade(first.next_trade)
