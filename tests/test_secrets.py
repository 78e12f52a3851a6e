"""Secrets: credentials enter only as Secret values and never come back out.

* :class:`Secret` is masked in repr, str and format, and refuses pickling,
  JSON and the library's converter;
* :func:`redact` masks registered secrets and key or signature shapes, and leaves
  ordinary trading text alone;
* :meth:`CcxtVenue.from_credentials` takes Secrets only;
* the canary: a recognisable fake key and secret go through full hedges over
  real ccxt classes (canned HTTP), with every logger at its most verbose, a
  journal, errors that echo the key and a signed URL, and an exception raised out
  of ``execute``; they are then looked for everywhere a user could see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import logging
import pickle
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from hedge_fsm import ExecutionResult, HedgeConfig, HedgeEngine, InvalidValue, VenueError
from hedge_fsm.convert import converter
from hedge_fsm.journal import JournalWriter
from hedge_fsm.secrets import MASK, Secret, log, redact
from hedge_fsm.sim.loop import run

# Long, random-looking, and recognisable in any text they might leak into.
CANARY_KEY = "CANARYKEYq7Vt2ZmX9pLw4RbN8sJd3Hf6Gk1Ye5Uc0Ai"
CANARY_SECRET = "CANARYSECRETz3Qn8Wd5Km2Xr7Tb4Lp9Fv6Hj1Gs0Ce"
CANARY_KEY_2 = "CANARYKEY2Xp4Nc9Rw2Lm7Qt5Vz8Bk3Hd6Js1Gf0Ya"
CANARY_SECRET_2 = "CANARYSECRET2Mv6Tq1Zw8Pk3Rn5Xc9Ld2Hb7Gj4Fs"
CANARIES = (CANARY_KEY, CANARY_SECRET, CANARY_KEY_2, CANARY_SECRET_2)
HMAC = "3f1c9a4e7b2d8f6051a3c9e7d4b2f8a6c1e9d7b5a3f2e8c6d4b2a9f7e5c3d1b0"


# --------------------------------------------------------------------------- the Secret type


def test_secret_is_masked_in_repr_str_and_every_format() -> None:
    secret = Secret(CANARY_KEY)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>80}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old formatting must mask too
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"api_key": secret}),
    ]
    for text in shown:
        assert CANARY_KEY not in text
        assert MASK in text
    assert secret.reveal() == CANARY_KEY


def test_secret_refuses_pickling_json_and_the_converter() -> None:
    secret = Secret(CANARY_SECRET)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError) as caught:
            pickle.dumps(secret, protocol=protocol)
        assert CANARY_SECRET not in str(caught.value)
    with pytest.raises(TypeError) as refused:
        json.dumps({"secret": secret})
    assert CANARY_SECRET not in str(refused.value)
    # A serializer told to stringify what it does not know gets the mask.
    assert CANARY_SECRET not in json.dumps({"secret": secret}, default=str)
    # The library's converter (journal, results, config) refuses it outright.
    with pytest.raises(TypeError, match="cannot be unstructured"):
        converter.unstructure(secret)
    with pytest.raises(TypeError):
        converter.unstructure({"credentials": [secret]})


def test_secret_needs_a_non_empty_string_and_never_echoes_what_it_got() -> None:
    for bad in ("", 12345678, None, b"bytes-key-0123456789"):
        with pytest.raises(TypeError) as caught:
            Secret(bad)  # type: ignore[arg-type]
        assert "bytes-key" not in str(caught.value)


def test_secrets_compare_by_value_without_showing_it() -> None:
    assert Secret(CANARY_KEY) == Secret(CANARY_KEY)
    assert Secret(CANARY_KEY) != Secret(CANARY_SECRET)
    assert Secret(CANARY_KEY) != CANARY_KEY
    assert len({Secret(CANARY_KEY), Secret(CANARY_KEY)}) == 1


# --------------------------------------------------------------------------- redact


def test_redact_masks_registered_secrets_wherever_they_appear() -> None:
    Secret(CANARY_KEY)
    text = redact(f"key {CANARY_KEY}, again:{CANARY_KEY}; inside a word x{CANARY_KEY}y")
    assert CANARY_KEY not in text
    assert text.count(MASK) == 3


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        (f"GET https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature={HMAC}", HMAC),
        ("POST /fapi/v1/order body quantity=0.003&signature=abcdef0123&timestamp=1", "abcdef0123"),
        ("apiKey=plainKEY0123xyz", "plainKEY0123xyz"),
        ("api_key: plainKEY0123xyz", "plainKEY0123xyz"),
        ('{"apiKey": "plainKEY0123xyz", "secret": "plainSECRET987"}', "plainKEY0123xyz"),
        ('{"apiKey": "plainKEY0123xyz", "secret": "plainSECRET987"}', "plainSECRET987"),
        ("X-MBX-APIKEY: plainKEY0123xyz", "plainKEY0123xyz"),
        ("{'X-MBX-APIKEY': 'plainKEY0123xyz', 'Content-Type': 'x'}", "plainKEY0123xyz"),
        ("{'X-BAPI-API-KEY': 'plainKEY0123xyz', 'X-BAPI-SIGN': 'f00dfeed'}", "plainKEY0123xyz"),
        ("{'X-BAPI-API-KEY': 'plainKEY0123xyz', 'X-BAPI-SIGN': 'f00dfeed'}", "f00dfeed"),
        ("OK-ACCESS-SIGN: b64Sig+/AAA== OK-ACCESS-PASSPHRASE: hunter22", "b64Sig+/AAA=="),
        ("OK-ACCESS-SIGN: b64Sig+/AAA== OK-ACCESS-PASSPHRASE: hunter22", "hunter22"),
        (f"an HMAC {HMAC} on its own", HMAC),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("token=tok_0123456789abcdef&x=1", "tok_0123456789abcdef"),
    ],
)
def test_redact_masks_key_and_signature_shapes(text: str, gone: str) -> None:
    redacted = redact(text)
    assert gone not in redacted
    assert MASK in redacted


@pytest.mark.parametrize(
    "text",
    [
        "buy 0.003 BTC/USDT:USDT @ 65000.1 post_only=True reduce_only=False",
        "order binance-12 (client id sim1h1n0) filled 0.003 at 65000.4",
        "client order id t1h1n0, order 4611875134427365377, status FILLED",
        "bybit order 00000001-5f1e-4c1d-9b7a-bybit0000000 cancelled",
        "leg 1: polling --order_updated--> done",
        "net exposure 0.000 tokens, cost 3.25 bps, time to flat 1.206 s",
        "hedge t1 ended done net exposure 0",
        "the secret of a good hedge is a fast cancel",
        "GET /fapi/v1/order?symbol=BTCUSDT&orderId=8389765500000000001",
        "1000PEPE/USDT:USDT tick 0.0000001 lot 1 min notional 5",
    ],
)
def test_redact_leaves_ordinary_trading_text_alone(text: str) -> None:
    assert redact(text) == text


def test_the_library_logger_redacts_message_and_extras() -> None:
    Secret(CANARY_KEY)
    records: list[Any] = []
    sink = logger.add(lambda m: records.append(m.record), level="TRACE")
    try:
        log.bind(header=f"X-MBX-APIKEY: {CANARY_KEY}", raw=CANARY_KEY).trace(
            "sending with {} and signature={}", CANARY_KEY, HMAC
        )
    finally:
        logger.remove(sink)
    (record,) = records
    assert CANARY_KEY not in record["message"] and HMAC not in record["message"]
    assert CANARY_KEY not in repr(record["extra"])


# --------------------------------------------------------------------------- from_credentials

ccxt_required = pytest.mark.skipif(importlib.util.find_spec("ccxt") is None, reason="needs the ccxt extra")


@ccxt_required
@pytest.mark.parametrize("parameter", ["api_key", "secret", "password"])
def test_from_credentials_refuses_plain_strings_naming_the_parameter(parameter: str) -> None:
    from hedge_fsm.venues.ccxt import CcxtVenue, CredentialError

    credentials: dict[str, Any] = {"api_key": Secret(CANARY_KEY), "secret": Secret(CANARY_SECRET)}
    credentials[parameter] = "PLAINTEXTCREDENTIAL0123456789"
    with pytest.raises(CredentialError) as caught:
        CcxtVenue.from_credentials("okx", **credentials)
    message = str(caught.value)
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, InvalidValue)
    assert parameter in message and "Secret" in message and "str" in message
    assert "PLAINTEXTCREDENTIAL" not in message + repr(caught.value)
    assert caught.value.field == parameter


@ccxt_required
def test_from_credentials_refuses_credentials_and_verbose_in_the_ccxt_config() -> None:
    from hedge_fsm.venues.ccxt import CcxtVenue, CredentialError

    keys: dict[str, Any] = {"api_key": Secret(CANARY_KEY), "secret": Secret(CANARY_SECRET)}
    with pytest.raises(CredentialError) as caught:
        CcxtVenue.from_credentials("binanceusdm", config={"apiKey": "PLAINTEXT0123456789"}, **keys)
    assert "PLAINTEXT" not in str(caught.value) and "apiKey" in str(caught.value)
    with pytest.raises(InvalidValue, match="verbose"):
        CcxtVenue.from_credentials("binanceusdm", config={"verbose": True}, **keys)
    with pytest.raises(InvalidValue, match="not a ccxt"):
        CcxtVenue.from_credentials("no-such-exchange", **keys)
    with pytest.raises(InvalidValue, match="has no sandbox"):
        CcxtVenue.from_credentials("kraken", sandbox=True, **keys)
    # ccxt failing to build the instance: reported without chaining ccxt's exception,
    # whose frames hold the revealed keys as local variables.
    with pytest.raises(InvalidValue, match="cannot build") as failed:
        CcxtVenue.from_credentials("binanceusdm", config={"options": 5}, **keys)
    assert failed.value.__context__ is None and failed.value.__cause__ is None
    assert CANARY_KEY not in str(failed.value) and CANARY_SECRET not in str(failed.value)


@ccxt_required
def test_from_credentials_builds_a_signed_instance_whose_repr_shows_no_key() -> None:
    from hedge_fsm.venues.ccxt import CcxtVenue

    async def main() -> None:
        venue = CcxtVenue.from_credentials(
            "okx",
            api_key=Secret(CANARY_KEY),
            secret=Secret(CANARY_SECRET),
            password=Secret(CANARY_KEY_2),
            options={"defaultType": "swap"},
            sandbox=True,
            config={"enableRateLimit": False, "timeout": 5000},
            name="okx-demo",
        )
        try:
            exchange = venue.exchange
            assert (exchange.apiKey, exchange.secret, exchange.password) == (
                CANARY_KEY,
                CANARY_SECRET,
                CANARY_KEY_2,
            )
            assert exchange.options["defaultType"] == "swap"
            assert exchange.isSandboxModeEnabled and exchange.timeout == 5000
            assert not exchange.enableRateLimit
            assert repr(venue) == str(venue) == "CcxtVenue(name='okx-demo', exchange='okx')"
            for shown in (repr(venue), f"{venue}", repr([venue]), repr(exchange), str(exchange)):
                for canary in (CANARY_KEY, CANARY_SECRET, CANARY_KEY_2):
                    assert canary not in shown
        finally:
            await venue.close()

    asyncio.run(main())


@ccxt_required
def test_a_hand_built_instance_gets_its_keys_registered_and_its_logger_redacted() -> None:
    """``CcxtVenue(ccxt.bybit({...plain keys...}))``: the keys still never reach a log record."""
    import ccxt.async_support as ccxt_async

    from hedge_fsm.venues.ccxt import CcxtVenue

    plain_key, plain_secret = "HANDBUILTKEYq1w2e3r4t5y6", "HANDBUILTSECRETa9s8d7f6g5"
    exchange = ccxt_async.bybit({"apiKey": plain_key, "secret": plain_secret, "enableRateLimit": False})
    CcxtVenue(exchange, name="bybit")
    assert plain_key not in redact(f"echo {plain_key} {plain_secret}")
    assert plain_secret not in redact(f"echo {plain_key} {plain_secret}")
    with captured_stdlib_logging() as stream:
        exchange.logger.debug(
            "%s %s, Request: %s %s", "POST", "https://api.bybit.com/v5/order/create",
            {"X-BAPI-API-KEY": plain_key, "X-BAPI-SIGN": HMAC}, '{"qty": "0.003"}',
        )
    text = stream.getvalue()
    assert "/v5/order/create" in text and '"qty": "0.003"' in text
    assert plain_key not in text and HMAC not in text


# --------------------------------------------------------------------------- the canary


@pytest.fixture
def logging_everything() -> Iterator[dict[str, Any]]:
    """hedge_fsm enabled into TRACE sinks (records, and full JSON with tracebacks), stdlib at DEBUG."""
    records: list[Any] = []
    serialized = io.StringIO()
    logger.enable("hedge_fsm")
    sinks = [
        logger.add(lambda m: records.append(m.record), level="TRACE"),
        # loguru's defaults (backtrace and diagnose: variable values in tracebacks).
        logger.add(serialized, level="TRACE", serialize=True, backtrace=True, diagnose=True),
    ]
    with captured_stdlib_logging() as stdlib:
        try:
            yield {"records": records, "serialized": serialized, "stdlib": stdlib}
        finally:
            for sink in sinks:
                logger.remove(sink)
            logger.disable("hedge_fsm")


class _Capture(logging.Handler):
    def __init__(self, stream: io.StringIO) -> None:
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # The formatted line, plus the raw parts a custom formatter could reach.
        self.stream.write(f"{self.format(record)} | {record.msg!r} | {record.args!r}\n")


@contextlib.contextmanager
def captured_stdlib_logging() -> Iterator[io.StringIO]:
    """Every stdlib record at DEBUG and up, from any logger, while active."""
    stream = io.StringIO()
    handler = _Capture(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return found


def _exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception shows: str, repr, args of it and its chain, and its formatted traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    for item in _chain(exc):
        texts += [str(item), repr(item), repr(item.args)]
    return texts


@ccxt_required
def test_canary_credentials_appear_in_no_log_journal_message_or_repr(
    logging_everything: dict[str, Any], tmp_path: Path
) -> None:
    """A full hedge, two exception paths, every logger on: the canary key is found nowhere."""
    import ccxt.async_support as ccxt_async

    from tests.ccxt.test_engine_ccxt import (
        LONG_BINANCE_SHORT_BYBIT,
        BinanceSim,
        BybitSim,
        binance_sim,
        bybit_sim,
        make_venue,
    )

    binance = binance_sim(
        make_venue("binanceusdm", name="binance", api_key=Secret(CANARY_KEY), secret=Secret(CANARY_SECRET))
    )
    bybit = bybit_sim(
        make_venue("bybit", name="bybit", api_key=Secret(CANARY_KEY_2), secret=Secret(CANARY_SECRET_2))
    )
    echo = f"Invalid API-key {CANARY_KEY} (secret {CANARY_SECRET}), IP, or permissions for action."

    # Faults on the way, each one carrying a credential or a signature into an error:
    # 1. the first binance order poll times out; ccxt-style, the error names the signed
    #    URL (signature in the query) and, worse than ccxt, the request headers (the key);
    binance.http.fail(
        "GET",
        "/fapi/v1/order",
        lambda r: ccxt_async.RequestTimeout(f"binanceusdm GET {r.url} headers={r.headers}"),
        times=1,
    )
    # 2. the first hedge order is refused by an error body that echoes key and secret;
    refused: list[str] = []

    def refuse_once(order: Any) -> Any:
        if order.client_order_id.startswith("t1h") and not refused:
            refused.append(order.client_order_id)
            return BinanceSim.error(-2015, echo, status=401)
        return None

    binance.refuse = refuse_once
    # 3. bybit's first position read (set-up) fails with an answer echoing its key.
    bybit.http.on(
        "GET",
        "/v5/position/list",
        BybitSim.answer({}, code=10003, msg=f"API key is invalid. {CANARY_KEY_2}"),
        times=1,
    )

    journal_path = tmp_path / "journal.jsonl"
    raised: list[BaseException] = []

    async def main() -> ExecutionResult:
        loop = asyncio.get_running_loop()
        loop.call_at(0.6, bybit.fill_live("t1e1"))
        loop.call_at(1.5, binance.fill_live("t1h0"))
        with JournalWriter(journal_path, fsync="never") as journal:
            engine = HedgeEngine(
                {"binance": binance.venue, "bybit": bybit.venue},
                HedgeConfig(),
                observers=[journal],
                hedge_ids=iter(["t1", "t2"]).__next__,
            )
            result = await engine.execute(LONG_BINANCE_SHORT_BYBIT)
            # 4. an exception raised out of execute: binance's positions cannot be read
            #    at set-up (every answer echoes the key), after the engine's retries.
            binance.http.on("GET", "/fapi/v3/positionRisk", (401, {"code": -2015, "msg": echo}), status=401)
            try:
                await engine.execute(LONG_BINANCE_SHORT_BYBIT)
            except VenueError as exc:
                raised.append(exc)
                # An application logging the failure the usual way, traceback included.
                logger.opt(exception=exc).error("hedge t2 failed: {}", exc)
        await binance.venue.close()
        await bybit.venue.close()
        return result

    result = run(main())

    # The run did what it should, and the faults did happen.
    assert result.state == "done", result
    assert result.net_exposure == 0
    assert refused == ["t1h0n0"]
    assert len(raised) == 1 and "cannot read position of binance" in str(raised[0])
    # The canaries did sign the requests: they were on the wire, and nowhere else.
    assert binance.http.requests[-1].headers["X-MBX-APIKEY"] == CANARY_KEY
    assert bybit.http.last("POST", "/v5/order/create").headers["X-BAPI-API-KEY"] == CANARY_KEY_2
    signatures = [r.params["signature"] for r in binance.http.requests if "signature" in r.params]
    signatures += [r.headers["X-BAPI-SIGN"] for r in bybit.http.requests if "X-BAPI-SIGN" in r.headers]
    assert len(signatures) > 10
    forbidden = [*CANARIES, *signatures]

    records = logging_everything["records"]
    serialized = logging_everything["serialized"].getvalue()
    stdlib = logging_everything["stdlib"].getvalue()
    journal = journal_path.read_text()
    # Not vacuous: each place did receive the traffic, the errors and the failure.
    assert any(r["name"].startswith("hedge_fsm.venues") for r in records)
    assert any("-->" in r["message"] for r in records)
    assert "Request:" in stdlib and "X-MBX-APIKEY" in stdlib and "signature=" in stdlib
    assert "RequestTimeout" in journal and "AuthenticationError" in journal
    assert "Traceback" in serialized and "hedge t2 failed" in serialized

    places: dict[str, list[str]] = {
        "loguru messages": [r["message"] for r in records],
        "loguru extras": [repr(r["extra"]) for r in records],
        "loguru exceptions": [repr(r["exception"]) for r in records if r["exception"]],
        "loguru serialized sink (diagnose on)": [serialized],
        "stdlib logging (ccxt included)": [stdlib],
        "journal": [journal],
        "raised exception": _exception_texts(raised[0]),
        "result": [repr(result), *(leg.error_message or "" for leg in result.legs)],
        "venues": [repr(binance.venue), str(binance.venue), repr(bybit.venue), str(bybit.venue)],
    }
    for place, texts in places.items():
        for text in texts:
            for canary in forbidden:
                assert canary not in text, f"{place} leaks {canary[:12]}...: {text[:2000]}"


@ccxt_required
def test_a_venue_error_raised_directly_keeps_no_credential_in_its_chain_or_traceback() -> None:
    """Called without the engine, a failing CcxtVenue raises errors safe to print in full."""
    import ccxt.async_support as ccxt_async

    from hedge_fsm.venues.ccxt import CcxtVenue
    from tests.ccxt.test_engine_ccxt import binance_sim, make_venue

    sim = binance_sim(
        make_venue("binanceusdm", name="binance", api_key=Secret(CANARY_KEY), secret=Secret(CANARY_SECRET))
    )
    sim.http.fail(
        "GET",
        "/fapi/v1/order",
        lambda r: ccxt_async.RequestTimeout(f"binanceusdm GET {r.url} {r.headers} {CANARY_SECRET}"),
    )

    async def main() -> BaseException:
        venue: CcxtVenue = sim.venue
        try:
            await venue.order("BTC/USDT:USDT", order_id="8389765500000000001")
        except VenueError as exc:
            return exc
        finally:
            await venue.close()
        raise AssertionError("the lookup did not fail")

    error = run(main())
    signature = sim.http.last("GET", "/fapi/v1/order").query["signature"]
    cause = error.__cause__
    assert isinstance(cause, ccxt_async.RequestTimeout)
    # The ccxt exception's frames held the signed request in their locals: dropped.
    assert cause.__traceback__ is None
    for text in _exception_texts(error):
        for forbidden in (CANARY_KEY, CANARY_SECRET, signature):
            assert forbidden not in text
    assert "RequestTimeout" in str(error) and "/fapi/v1/order" in str(error)
