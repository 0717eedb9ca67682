"""A key the server echoes back never reaches an exception text, a log line or a trigger event.

The hostile stand-in (``tests/hostile``) answers with the received ``x-goog-api-key`` in
``error.message``, ``error.status``, ``ErrorInfo.reason`` and (on a non-JSON answer) the HTTP
reason phrase upper-cased, as a server that turns a value into a status word would; and a
finished batch whose operation error quotes the key upper-cased. Two keys: the stand-in's default
(``hostile-test-key-0123456789``, which no status word can match) and one of letters and
underscores, whose upper-cased form *is* a well-shaped status word, so only case-insensitive
redaction keeps it out. Every text is searched case-insensitively.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiBatchError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.hostile.fixtures import HOSTILE_KEY
from tests.hostile.server import HostileServer, Rule, echo_secret, reply

#: A key whose upper-cased form has the shape of a status word and of an ErrorInfo reason.
WORDLIKE_KEY = "hostile_key_abcdefghijklmnop"
KEYS = [HOSTILE_KEY, WORDLIKE_KEY]


def _phrase_echo(key: str) -> Any:
    """A non-JSON error answer whose reason phrase is the key upper-cased (the status word is made
    of the phrase when the body is no Google error envelope)."""
    return reply(400, b"<html>refused</html>", {"Content-Type": "text/html"}, reason=key.upper())


def _failed_batch_quoting(key: str) -> dict[str, Any]:
    return {
        "name": "batches/echo",
        "metadata": {"name": "batches/echo", "state": "BATCH_STATE_FAILED"},
        "done": True,
        "error": {"code": 3, "message": f"The key {key.upper()} cannot run batches"},
    }


def _server(hostile_server: Callable[..., HostileServer], place: str, key: str) -> HostileServer:
    if place == "phrase":
        action = _phrase_echo(key)
    elif place == "all":
        action = echo_secret(400)
    else:
        action = echo_secret(400, places=(place,))
    return hostile_server([Rule("GET", r"/v1beta/batches/.*", action)])


def _capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Everything this provider logs (DEBUG up), and INFO up from the libraries under it: httpcore's
    DEBUG trace quotes every response's status line and headers as received, which no caller can
    redact (Airflow logs at INFO by default)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_gemini_batch")


def _assert_no_key(key: str, *texts: str) -> None:
    for text in texts:
        assert key.lower() not in text.lower(), f"the key (in some letter case) leaked: {text}"


PLACES = ["message", "status", "reason", "phrase", "all"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("place", PLACES)
def test_sync_hook_error_never_quotes_an_echoed_key(
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    place: str,
    key: str,
) -> None:
    conn_id = hostile_conn(_server(hostile_server, place, key), key=key)
    _capture_logs(caplog)
    with pytest.raises(GeminiApiError) as info:
        GeminiBatchHook(gemini_conn_id=conn_id).get_batch("batches/echo")
    exc = info.value
    _assert_no_key(key, str(exc), repr(exc), str(exc.status), str(exc.reason), caplog.text)
    assert exc.http_status == 400


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("place", PLACES)
async def test_async_hook_error_never_quotes_an_echoed_key(
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    place: str,
    key: str,
) -> None:
    conn_id = hostile_conn(_server(hostile_server, place, key), key=key)
    _capture_logs(caplog)
    ahook = GeminiBatchAsyncHook(gemini_conn_id=conn_id, retry=False)
    try:
        with pytest.raises(GeminiApiError) as info:
            await ahook.get_batch("batches/echo")
    finally:
        await ahook.aclose()
    exc = info.value
    _assert_no_key(key, str(exc), repr(exc), str(exc.status), str(exc.reason), caplog.text)


async def _event(trigger: GeminiBatchTrigger) -> dict[str, Any]:
    try:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("place", [*PLACES, "failed_batch"])
async def test_trigger_event_and_log_never_quote_an_echoed_key(
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    place: str,
    key: str,
) -> None:
    if place == "failed_batch":
        server = hostile_server([Rule("GET", r"/v1beta/batches/.*", reply(200, _failed_batch_quoting(key)))])
    else:
        server = _server(hostile_server, place, key)
    conn_id = hostile_conn(server, key=key)
    _capture_logs(caplog)
    capsys.readouterr()  # Airflow's structlog setup writes trigger log lines to stdout
    trigger = GeminiBatchTrigger(
        batch_name="batches/echo", gemini_conn_id=conn_id, poll_interval=0.1, end_time=time.time() + 30
    )
    event = await asyncio.wait_for(_event(trigger), timeout=30)
    out = capsys.readouterr()
    assert event["status"] == ("failure" if place == "failed_batch" else "error"), event
    _assert_no_key(key, json.dumps(event), caplog.text, out.out, out.err)
    assert set(server.headers_seen("x-goog-api-key")) == {key}, "the stand-in did receive the key"


def test_an_echoed_status_or_reason_is_kept_only_in_its_documented_shape(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """Well-shaped words survive (hints depend on them); anything else is dropped, not quoted."""
    good = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    odd = {
        "error": {
            "code": 400,
            "message": "m",
            "status": "<b>invalid</b> argument",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "api key invalid"}],
        }
    }
    server = hostile_server(
        [
            Rule("GET", r"/v1beta/batches/good", reply(400, good)),
            Rule("GET", r"/v1beta/batches/odd", reply(400, odd)),
        ]
    )
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    with pytest.raises(GeminiBatchError) as kept:
        hook.get_batch("batches/good")
    assert (kept.value.status, kept.value.reason) == ("INVALID_ARGUMENT", "API_KEY_INVALID")  # type: ignore[attr-defined]
    assert "API key of Airflow connection" in str(kept.value)  # the auth hint still reads the reason
    with pytest.raises(GeminiBatchError) as dropped:
        hook.get_batch("batches/odd")
    assert (dropped.value.status, dropped.value.reason) == (None, None)  # type: ignore[attr-defined]
    assert "<b>" not in str(dropped.value)


def test_the_task_log_masker_knows_the_key_in_upper_and_lower_case(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """On a worker, a batch's own error text (a FAILED batch quoting the key upper-cased) reaches
    the task log inside the exception; Airflow's secrets masker, which the hook tells about the
    key, matches exactly, so the hook registers the key's upper- and lower-cased forms too."""
    try:
        from airflow.sdk._shared.secrets_masker import redact as masked
    except ImportError:  # pragma: no cover - older Airflow 3 layouts
        from airflow._shared.secrets_masker import redact as masked  # type: ignore[no-redef]
    server = hostile_server(
        [Rule("GET", r"/v1beta/batches/.*", reply(200, _failed_batch_quoting(WORDLIKE_KEY)))]
    )
    batch = GeminiBatchHook(gemini_conn_id=hostile_conn(server, key=WORDLIKE_KEY)).get_batch("batches/echo")
    assert batch.error is not None
    line = masked(f"Batch failed: {batch.error.message} ({WORDLIKE_KEY.lower()}, {WORDLIKE_KEY})")
    _assert_no_key(WORDLIKE_KEY, str(line))
