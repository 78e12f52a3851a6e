"""What each ccxt venue can do and how it wants to be spoken to: data, in one place.

A :class:`VenueProfile` says, for one exchange family, everything the adapter
must know that ccxt's unified API does not hide: the client order id format
(and how the engine's ids are mapped onto it and back), how an order is looked
up when ``fetch_order`` is missing, whether a cancel wants the client id,
whether market orders are native or need a price bound, the request validity
window, which venue codes mean "post-only would have taken", the venue's
non-unified status strings, placeholder ids, extra fees, and whether the venue
can trade through ccxt at all in this environment.

What ccxt itself knows (``exchange.has``: ``fetchOrder``, ``createMarketOrder``,
``editOrder``, ``watchOrders``, ...) is read from the instance at set-up by
:func:`capabilities_for`; the profile only holds what ccxt's capability data
does not say (``createMarketOrder`` is true on Hyperliquid, yet ccxt refuses a
market order there without a reference price).

Client ids
----------
The engine's client ids are 1 to 32 ASCII letters and digits. A venue whose
format differs gets a *deterministic* image of the engine's id
(:func:`wire_client_id`): the same engine id always maps to the same wire id,
so a lookup by client id works after a restart, from another process, with no
stored state. The adapter also keeps the reverse map, so every report carries
the engine's id. Formats:

* ``text``: sent as is, checked against the venue's rule (length, alphabet).
* ``hex128``: ``0x`` + 32 hex digits (Hyperliquid ``cloid``): the first 128 bits
  of SHA-256 of the engine id.
* ``uint``: an integer of ``client_id_bits`` bits, never 0 (Backpack and dYdX
  uint32, Lighter 48 bits, GRVT uint64 in the upper half the venue leaves to API
  clients): SHA-256 of the engine id, reduced. With 32 bits two engine ids can
  collide (about one in 10^6 for a thousand live ids); the adapter refuses a
  placement whose wire id is already held by another live engine id, before
  anything is sent.
* ``prefixed``: ``client_id_prefix`` + the engine id (Gate ``t-``); the echo's
  prefix is stripped.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from hedge_fsm.errors import RejectReason
from hedge_fsm.venue import AmendSupport, VenueCapabilities

__all__ = [
    "GENERIC",
    "PROFILES",
    "ClientIdFormat",
    "MarketMode",
    "VenueProfile",
    "capabilities_for",
    "engine_client_id",
    "profile_for",
    "request_window_seconds",
    "wire_client_id",
]


class ClientIdFormat(enum.StrEnum):
    """How a venue spells a client order id (see the module docstring)."""

    TEXT = "text"
    HEX128 = "hex128"
    UINT = "uint"
    PREFIXED = "prefixed"


class MarketMode(enum.StrEnum):
    """How a market order goes out through ccxt."""

    NATIVE = "native"
    """ccxt ``type='market'`` without a price."""
    SLIPPAGE_PRICE = "slippage_price"
    """ccxt ``type='market'`` with the BBO touch as reference price and ccxt's ``slippage``
    param (Hyperliquid: ccxt computes the IOC limit from them)."""
    WORST_PRICE = "worst_price"
    """ccxt ``type='market'`` with the slippage-bounded worst price (Extended, Apex, Lighter)."""
    IOC_LIMIT = "ioc_limit"
    """No market orders: a limit IOC at the slippage-bounded price (dYdX)."""


@attrs.frozen(kw_only=True)
class VenueProfile:
    """One exchange family's quirks, as data. Defaults describe a plain ccxt venue."""

    family: str
    client_id: ClientIdFormat = ClientIdFormat.TEXT
    client_id_rule: str | None = None
    """For ``text``: a regular expression the whole id must match."""
    client_id_rule_text: str = ""
    client_id_bits: int = 32
    client_id_floor: int = 0
    """For ``uint``: the smallest value the venue leaves to API clients."""
    client_id_prefix: str = ""
    client_id_param: str = "clientOrderId"
    """The ccxt param carrying the client id on create."""
    post_only_param: str = "postOnly"
    """The ccxt param asking for post-only (ccxt maps it: binance GTX, hyperliquid Alo, ...)."""
    reduce_only_param: str = "reduceOnly"
    lookup_param: str = "clientOrderId"
    """The ccxt param ``fetch_order`` reads a client id from."""
    lookup_by_client_id: str = "fetch_order"
    """``fetch_order`` (with ``lookup_param``) or ``lists`` (scan open/closed order lists)."""
    fetch_order_params: Mapping[str, Any] = attrs.field(factory=dict)
    cancel_by_client_id: bool = False
    """ccxt's cancel wants the client id (dYdX)."""
    market: MarketMode | None = None
    """None: native when ccxt's ``has['createMarketOrder']``, else IOC limit."""
    post_only_codes: frozenset[str] = frozenset()
    """Venue error codes (or labels) meaning a post-only order would have taken."""
    post_only_messages: tuple[str, ...] = ()
    """Exact venue phrases with that meaning (a phrase of this venue, never a loose pattern)."""
    immediately_fillable_is_post_only: bool = False
    """ccxt's ``OrderImmediatelyFillable`` means post-only here (Gate POC), not a stop
    that would trigger at once (Binance/Aster -2021)."""
    post_only_cancel_reasons: tuple[str, ...] = ()
    """Raw reason/status strings of an order the venue cancelled because it was post-only
    and would have taken."""
    reject_reasons: Mapping[str, RejectReason] = attrs.field(factory=dict)
    """Raw reason strings of an order the venue rejected after accepting it -> our reason
    (Paradex ``NOT_ENOUGH_MARGIN``)."""
    silent_post_only_cancel: bool = False
    """The venue cancels a crossing post-only order without saying why (KuCoin Futures):
    a post-only order of ours found cancelled, unfilled, that this venue object never
    asked to cancel, is read as a post-only refusal. An inference, documented as such."""
    reduce_only_codes: frozenset[str] = frozenset()
    reduce_only_messages: tuple[str, ...] = ()
    cancel_finished_codes: frozenset[str] = frozenset()
    """Venue codes refusing a cancel because the order is finished, filed by ccxt under a
    generic class (KuCoin 100004 "The order cannot be canceled", a BadRequest): the order is
    looked up, as after an InvalidOrder."""
    not_found_codes: frozenset[str] = frozenset()
    """Venue codes meaning "no such order" that ccxt files under another error class."""
    status_map: Mapping[str, str] = attrs.field(factory=dict)
    """Non-unified ccxt status strings this venue produces -> a unified one."""
    fill_value_keys: tuple[str, str] | None = None
    """Raw (filled value, filled size) fields giving the average fill price where ccxt gives
    none (Apex ``cumSuccessFillValue`` / ``cumSuccessFillSize``)."""
    placeholder_ids: frozenset[str] = frozenset()
    """Order ids a venue puts in an acknowledgement before it assigns the real one."""
    window_option: str | None = None
    """The ccxt option holding the request validity window (sent with each signed request)."""
    window_unit: Decimal = Decimal("0.001")
    """Seconds per unit of ``window_option``."""
    window_default: float | None = None
    """The window ccxt uses when the option is unset (in the option's unit)."""
    amend: AmendSupport | None = None
    """None: from ccxt's ``has['editOrder']`` (True native, 'emulated' emulated)."""
    amend_keeps_priority_on_decrease: bool = False
    builder_fee_option: str | None = None
    """The ccxt option holding the builder fee ccxt attaches to every order (Hyperliquid
    ``feeInt``, Aster ``builderRate``), folded into the instrument's fees while ccxt's
    ``builderFee`` option is on; None: no such fee."""
    builder_fee_unit: Decimal = Decimal(1)
    """The fee rate per unit of ``builder_fee_option`` (Hyperliquid: tenths of a bp)."""
    builder_fee_default: str = "0"
    """The option's value when unset (ccxt's own default)."""
    signed_size_keys: tuple[str, ...] = ()
    """Raw position fields that carry a signed size, read when ccxt gives no side."""
    cannot_trade: str | None = None
    """Why this venue cannot trade through ccxt here (refused at set-up), or None."""
    can_trade_with_option: str | None = None
    """The ccxt option that lifts ``cannot_trade`` when set to an existing file (Lighter's
    ``libraryPath``, the native signer)."""
    position_params: Mapping[str, Any] = attrs.field(factory=dict)
    order_book_depth: int = 5
    """The ``limit`` asked of ``fetch_order_book`` (KuCoin Futures takes only 20 or 100)."""


GENERIC = VenueProfile(family="")

_BINANCE_RULE = r"[.A-Z:/a-z0-9_-]{1,36}"

PROFILES: Mapping[str, VenueProfile] = {
    profile.family: profile
    for profile in (
        VenueProfile(
            family="binance",
            client_id_rule=_BINANCE_RULE,
            client_id_rule_text="1 to 36 of A-Z a-z 0-9 . : / _ -",
            # -5022: GTX order could not be executed as maker; spot -2010 LIMIT_MAKER.
            post_only_codes=frozenset({"-5022"}),
            post_only_messages=("Order would immediately match and take.",),
            reduce_only_codes=frozenset({"-2022"}),
            window_option="recvWindow",
            amend=AmendSupport.NATIVE,
            signed_size_keys=("positionAmt",),
        ),
        VenueProfile(
            family="bybit",
            client_id_rule=r"[A-Za-z0-9_-]{1,36}",
            client_id_rule_text="1 to 36 of A-Z a-z 0-9 _ -",
            lookup_param="orderLinkId",
            lookup_by_client_id="open_orders",
            fetch_order_params={"acknowledged": True},
            post_only_cancel_reasons=("EC_PostOnlyWillTakeLiquidity",),
            reduce_only_codes=frozenset({"110017"}),
            window_option="recvWindow",
            amend=AmendSupport.NATIVE,
            # Bybit's amend docs: only a quantity decrease keeps the order's priority.
            amend_keeps_priority_on_decrease=True,
        ),
        VenueProfile(
            family="okx",
            client_id_rule=r"[A-Za-z0-9]{1,32}",
            client_id_rule_text="1 to 32 letters and digits",
            lookup_param="clOrdId",
            post_only_cancel_reasons=("31",),
            amend=AmendSupport.NATIVE,
        ),
        VenueProfile(
            family="hyperliquid",
            client_id=ClientIdFormat.HEX128,
            market=MarketMode.SLIPPAGE_PRICE,
            post_only_messages=("Post only order would have immediately matched",),
            # "Order could not immediately match against any resting orders" is an IOC that
            # found nothing to take: NOT a post-only refusal (ccxt raises InvalidOrder).
            post_only_cancel_reasons=("badAloPxRejected",),
            reduce_only_messages=("Reduce only order would increase position",),
            builder_fee_option="feeInt",
            builder_fee_unit=Decimal("0.00001"),
            builder_fee_default="10",
            signed_size_keys=("szi",),
            amend=AmendSupport.NATIVE,
        ),
        VenueProfile(
            family="paradex",
            client_id_rule=r"[A-Za-z0-9_-]{1,64}",
            client_id_rule_text="1 to 64 of A-Z a-z 0-9 _ -",
            post_only_cancel_reasons=("POST_ONLY_WOULD_CROSS",),
            not_found_codes=frozenset({"ORDER_ID_NOT_FOUND", "CLIENT_ORDER_ID_NOT_FOUND"}),
            reject_reasons={
                "NOT_ENOUGH_MARGIN": RejectReason.INSUFFICIENT_FUNDS,
                "REDUCE_ONLY_WILL_INCREASE": RejectReason.REDUCE_ONLY,
                "ORDER_EXCEEDS_POSITION_LIMIT": RejectReason.INVALID_ORDER,
            },
        ),
        VenueProfile(
            family="lighter",
            client_id=ClientIdFormat.UINT,
            client_id_bits=48,
            lookup_by_client_id="lists",
            market=MarketMode.WORST_PRICE,
            post_only_cancel_reasons=("canceled-post-only",),
            reduce_only_messages=("canceled-reduce-only",),
            signed_size_keys=("sign",),
            cannot_trade=(
                "ccxt's lighter signs every transaction (and authenticates every private read) "
                "with Lighter's native signer library; set the exchange's options['libraryPath'] "
                "to that library (lighter-python's signers/*.so) to trade"
            ),
            can_trade_with_option="libraryPath",
        ),
        VenueProfile(
            family="aster",
            client_id_rule=_BINANCE_RULE,
            client_id_rule_text="1 to 36 of A-Z a-z 0-9 . : / _ -",
            post_only_codes=frozenset({"-5022"}),
            reduce_only_codes=frozenset({"-2022"}),
            # ccxt's aster signs with the v3 API: a nonce, no recvWindow, so no window.
            # ccxt attaches builder=... feeRate=0.001 (a fraction) to every swap order.
            builder_fee_option="builderRate",
            builder_fee_default="0.001",
            signed_size_keys=("positionAmt",),
        ),
        VenueProfile(
            family="backpack",
            client_id=ClientIdFormat.UINT,
            client_id_bits=32,
            lookup_by_client_id="lists",
            post_only_messages=("Order would immediately match and take",),
            # ccxt files Backpack's RESOURCE_NOT_FOUND under ExchangeNotAvailable (a network
            # error): on an order lookup it means no such order.
            not_found_codes=frozenset({"RESOURCE_NOT_FOUND"}),
            window_option="recvWindow",
            signed_size_keys=("netQuantity",),
        ),
        VenueProfile(
            family="grvt",
            client_id=ClientIdFormat.UINT,
            client_id_bits=64,
            # GRVT keeps client ids below 2**63 for its own front end.
            client_id_floor=2**63,
            status_map={"pending": "open"},
            placeholder_ids=frozenset({"0x00", "0x0", "0"}),
            post_only_cancel_reasons=("FAIL_POST_ONLY",),
            # 1004 "Data Not Found" (ccxt: OperationRejected) answers a lookup of an unknown order.
            not_found_codes=frozenset({"1004"}),
            reject_reasons={"FAIL_REDUCE_ONLY": RejectReason.REDUCE_ONLY},
            window_option="expirationSeconds",
            window_unit=Decimal(1),
            window_default=30,
            # ccxt approves builder 0x21d2... at max_futures_fee_rate=builderRate (0.01) and
            # attaches builder_fee=builderRate to each order; read as percent (0.01 % = 1 bp).
            builder_fee_option="builderRate",
            builder_fee_unit=Decimal("0.01"),
            builder_fee_default="0.01",
        ),
        VenueProfile(
            family="dydx",
            client_id=ClientIdFormat.UINT,
            client_id_bits=32,
            lookup_by_client_id="lists",
            cancel_by_client_id=True,
            status_map={"canceling": "open", "BEST_EFFORT_OPENED": "open"},
            cannot_trade=(
                "ccxt 4.5.90's Python dydx builds every order with Precise.string_neg() on the "
                "indexer's numeric atomicResolution and raises TypeError before signing"
            ),
        ),
        VenueProfile(
            family="extended",
            client_id_rule=r"[A-Za-z0-9_-]{1,64}",
            client_id_rule_text="1 to 64 of A-Z a-z 0-9 _ -",
            market=MarketMode.WORST_PRICE,
            # ccxt attaches builderId 257624 at builderFeeRate 0.0001 (a fraction: 1 bp).
            builder_fee_option="builderFeeRate",
            builder_fee_default="0.0001",
            # "Order not found" (not in ccxt's table: an ExchangeError); the code is taken from
            # Extended's error list as we read it, unverified against the live venue.
            not_found_codes=frozenset({"1006"}),
            cancel_finished_codes=frozenset({"1006"}),
            post_only_cancel_reasons=("POST_ONLY_FAILED",),
        ),
        VenueProfile(
            family="apex",
            client_id_rule=r"[A-Za-z0-9_-]{1,64}",
            client_id_rule_text="1 to 64 of A-Z a-z 0-9 _ -",
            market=MarketMode.WORST_PRICE,
            status_map={"filled": "closed"},
            fill_value_keys=("cumSuccessFillValue", "cumSuccessFillSize"),
            cannot_trade=(
                "ccxt's apex signs orders with a zkLink native signer, and ccxt 4.5.90's async "
                "apex awaits a synchronous signing call: orders cannot be signed"
            ),
        ),
        VenueProfile(
            family="gate",
            client_id=ClientIdFormat.PREFIXED,
            client_id_prefix="t-",
            client_id_rule=r"[A-Za-z0-9_.-]{1,26}",
            client_id_rule_text="1 to 26 of A-Z a-z 0-9 _ . - (after the t- prefix)",
            immediately_fillable_is_post_only=True,
            post_only_codes=frozenset({"POC_FILL_IMMEDIATELY", "ORDER_POC_IMMEDIATE"}),
            reduce_only_codes=frozenset({"REDUCE_EXCEEDED"}),
            amend=AmendSupport.NATIVE,
        ),
        VenueProfile(
            family="kucoinfutures",
            order_book_depth=20,
            cancel_finished_codes=frozenset({"100004"}),
            silent_post_only_cancel=True,
            # 300009 "No open positions to close."
            reduce_only_codes=frozenset({"300009"}),
            client_id_rule=r"[A-Za-z0-9_-]{1,40}",
            client_id_rule_text="1 to 40 of A-Z a-z 0-9 _ -",
            amend=AmendSupport.NONE,
        ),
        VenueProfile(
            family="bitget",
            client_id_rule=r"[A-Za-z0-9_-]{1,50}",
            client_id_rule_text="1 to 50 of A-Z a-z 0-9 _ -",
            # 22002 "No position to close": a reduce-only order with nothing to reduce.
            reduce_only_codes=frozenset({"22002"}),
            # Bitget cancels a post_only order that would take, without a reason field.
            silent_post_only_cancel=True,
        ),
    )
}


def profile_for(exchange: Any) -> VenueProfile:
    """The profile of ``exchange``'s family (by ccxt id, then by its class ancestry)."""
    candidates = [str(getattr(exchange, "id", ""))]
    candidates += [cls.__name__ for cls in type(exchange).__mro__]
    for candidate in candidates:
        if candidate in PROFILES:
            return PROFILES[candidate]
    for candidate in candidates:
        for family, profile in PROFILES.items():
            if candidate.startswith(family):
                return profile
    return attrs.evolve(GENERIC, family=str(getattr(exchange, "id", "")))


def _digest(engine_id: str) -> int:
    return int.from_bytes(hashlib.sha256(engine_id.encode()).digest(), "big")


def wire_client_id(profile: VenueProfile, engine_id: str) -> str:
    """The client id that goes on the wire for the engine's ``engine_id`` (deterministic)."""
    if profile.client_id is ClientIdFormat.HEX128:
        return "0x" + format(_digest(engine_id) >> 128, "032x")
    if profile.client_id is ClientIdFormat.UINT:
        floor = profile.client_id_floor
        span = (1 << profile.client_id_bits) - floor - 1
        return str(floor + 1 + _digest(engine_id) % span)
    if profile.client_id is ClientIdFormat.PREFIXED:
        return profile.client_id_prefix + engine_id
    return engine_id


def client_id_problem(profile: VenueProfile, engine_id: str) -> str | None:
    """Why ``engine_id`` cannot be sent to this venue (its rule), or None."""
    if profile.client_id_rule is None or profile.client_id in (ClientIdFormat.HEX128, ClientIdFormat.UINT):
        return None
    if re.fullmatch(profile.client_id_rule, engine_id):
        return None
    return f"breaks {profile.family}'s rule ({profile.client_id_rule_text})"


def engine_client_id(profile: VenueProfile, wire_id: str) -> str:
    """Best reading of a wire id without the adapter's map: the prefix stripped (Gate)."""
    prefix = profile.client_id_prefix
    if prefix and wire_id.startswith(prefix):
        return wire_id[len(prefix) :]
    return wire_id


def market_mode(profile: VenueProfile, has: Mapping[str, Any]) -> MarketMode:
    """How market orders go out, from the profile or ccxt's ``has['createMarketOrder']``."""
    if profile.market is not None:
        return profile.market
    return MarketMode.NATIVE if has.get("createMarketOrder") else MarketMode.IOC_LIMIT


def request_window_seconds(profile: VenueProfile, options: Mapping[str, Any]) -> float | None:
    """The window the instance sends with each signed request, in seconds, or None."""
    if profile.window_option is None:
        return None
    raw = options.get(profile.window_option, profile.window_default)
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        seconds = Decimal(str(raw)) * profile.window_unit
    except ArithmeticError:
        return None
    return float(seconds) if seconds > 0 else None


def capabilities_for(
    profile: VenueProfile,
    has: Mapping[str, Any],
    options: Mapping[str, Any],
    *,
    pro: bool,
) -> VenueCapabilities:
    """:class:`VenueCapabilities` from the profile and ccxt's own ``has`` of the instance."""
    lists = any(has.get(m) for m in ("fetchOpenOrders", "fetchClosedOrders", "fetchOrders"))
    order_lookup = bool(has.get("fetchOrder")) or lists
    if profile.lookup_by_client_id == "lists":
        by_client = lists
    elif profile.lookup_by_client_id == "open_orders":
        by_client = bool(has.get("fetchOpenOrders"))
    else:
        by_client = bool(has.get("fetchOrder"))
    amend = profile.amend
    if amend is None:
        edit = has.get("editOrder")
        amend = (
            AmendSupport.EMULATED
            if edit == "emulated"
            else AmendSupport.NATIVE
            if edit
            else AmendSupport.NONE
        )
    return VenueCapabilities(
        order_lookup=order_lookup,
        lookup_by_client_id=by_client,
        native_market=market_mode(profile, has) is MarketMode.NATIVE,
        amend=amend,
        amend_keeps_priority_on_decrease=profile.amend_keeps_priority_on_decrease
        and amend is AmendSupport.NATIVE,
        request_window=request_window_seconds(profile, options),
        reports_cancel_early=False,
        order_stream=pro and bool(has.get("watchOrders")),
        book_stream=pro and bool(has.get("watchOrderBook") or has.get("watchBidsAsks")),
    )
