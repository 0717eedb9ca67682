"""Userinfo in a URL the user gave never reaches a message: connection test, transport errors,
storage errors.

A connection host may carry a gateway's basic-auth userinfo (``https://user:pass@gateway``) and an
object-store URI a connection id or credentials (``s3://KEY:SECRET@bucket/...``). The client uses
them; the connection test's message (shown in the UI), an exception text and a log line (readable
by every viewer of the DAG) show the URL without them.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import pytest

from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiInvalidInputError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.hostile.fixtures import HOSTILE_KEY, NO_RETRY
from tests.hostile.server import HostileServer, Rule, reply

USER = "gw-user"
PASSWORD = "gw-pass-0123456789"


def _connect(monkeypatch: pytest.MonkeyPatch, base_url: str, conn_id: str = "gemini_userinfo") -> str:
    host = base_url.replace("http://", f"http://{USER}:{PASSWORD}@")
    conn = {"conn_type": "gemini_batch", "host": host, "password": HOSTILE_KEY, "extra": json.dumps(NO_RETRY)}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


def _listen(monkeypatch: pytest.MonkeyPatch, *names: str) -> list[str]:
    """Every record of the named loggers, whatever the test run's logging setup does with them."""
    lines: list[str] = []
    for name in names:
        logger = logging.getLogger(name)
        handler = _Lines(lines)
        logger.addHandler(handler)
        monkeypatch.setattr(logger, "disabled", False)
        monkeypatch.setattr(logger, "level", logging.DEBUG)
        monkeypatch.setattr(logger, "handlers", [*logger.handlers])
    return lines


def _assert_no_userinfo(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text, text
        assert f"{USER}:" not in text, text
        assert f"{USER}@" not in text, text


def test_connection_test_message_shows_the_host_without_userinfo(
    hostile_server: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = hostile_server([Rule("GET", r"/v1beta/files", reply(200, {"files": []}))])
    ok, message = GeminiBatchHook(gemini_conn_id=_connect(monkeypatch, server.base_url)).test_connection()
    assert ok, message
    assert f"127.0.0.1:{server.port}" in message
    _assert_no_userinfo(message)


def _dead_base_url(hostile_server: Callable[..., HostileServer]) -> str:
    server = hostile_server()
    base_url = server.base_url
    server.close()  # nothing listens on the port any more: every call fails to connect
    return base_url


def test_transport_error_names_the_base_url_without_userinfo(
    hostile_server: Callable[..., HostileServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_gemini_batch")
    hook = GeminiBatchHook(gemini_conn_id=_connect(monkeypatch, _dead_base_url(hostile_server)))
    with pytest.raises(GeminiTransportError) as info:
        hook.get_batch("batches/b1")
    assert "Base URL http://127.0.0.1:" in str(info.value)
    _assert_no_userinfo(str(info.value), caplog.text)
    ok, message = hook.test_connection()
    assert not ok
    _assert_no_userinfo(message)


async def test_async_transport_error_names_the_base_url_without_userinfo(
    hostile_server: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    ahook = GeminiBatchAsyncHook(
        gemini_conn_id=_connect(monkeypatch, _dead_base_url(hostile_server)), retry=False
    )
    try:
        with pytest.raises(GeminiTransportError) as info:
            await ahook.get_batch("batches/b1")
    finally:
        await ahook.aclose()
    assert "Base URL http://127.0.0.1:" in str(info.value)
    _assert_no_userinfo(str(info.value))


def test_storage_errors_quote_object_store_uris_without_userinfo(
    hostile_server: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unregistered scheme, and a missing file on a registered one (Airflow's object-store
    URIs put a connection id, or whatever the user typed, in the userinfo)."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    server = hostile_server()
    hook = GeminiBatchHook(gemini_conn_id=_connect(monkeypatch, server.base_url))
    with pytest.raises(GeminiInvalidInputError) as unregistered:
        hook.upload_file(f"nosuchfs://{USER}:{PASSWORD}@bucket/in.jsonl")
    assert "nosuchfs://bucket/in.jsonl" in str(unregistered.value)
    attach("memory", conn_id=f"{USER}:{PASSWORD}", fs=MemoryFileSystem())
    with pytest.raises(GeminiInvalidInputError) as missing:
        hook.upload_file(f"memory://{USER}:{PASSWORD}@bucket/missing.jsonl")
    assert "memory://bucket/missing.jsonl" in str(missing.value)
    _assert_no_userinfo(str(unregistered.value), str(missing.value))
    assert server.requests == [], "refused before any request"


@pytest.mark.parametrize("hook_kind", ["sync", "async"])
async def test_an_echoed_gateway_password_is_redacted_like_the_key(
    hostile_server: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch, hook_kind: str
) -> None:
    """A gateway that quotes the basic-auth password it received (in any letter case)."""
    echo = {"error": {"code": 401, "message": f"bad password {PASSWORD.upper()} for {USER}"}}
    server = hostile_server([Rule("GET", r"/v1beta/batches/.*", reply(401, echo))])
    conn_id = _connect(monkeypatch, server.base_url)
    if hook_kind == "sync":
        with pytest.raises(GeminiApiError) as info:
            GeminiBatchHook(gemini_conn_id=conn_id).get_batch("batches/b1")
    else:
        ahook = GeminiBatchAsyncHook(gemini_conn_id=conn_id, retry=False)
        try:
            with pytest.raises(GeminiApiError) as info:
                await ahook.get_batch("batches/b1")
        finally:
            await ahook.aclose()
    assert "bad password ***" in str(info.value)
    assert PASSWORD.lower() not in str(info.value).lower()


@pytest.mark.parametrize("hook_kind", ["sync", "async"])
async def test_http_library_logs_never_show_the_hosts_userinfo(
    hostile_server: Callable[..., HostileServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    hook_kind: str,
) -> None:
    """httpx logs every request's URL at INFO (the level Airflow logs at), urllib3 at DEBUG; the
    gateway's credentials go in an ``Authorization: Basic`` header, as both libraries would send
    them, never in the URL they log."""
    running = {"name": "batches/b1", "metadata": {"name": "batches/b1", "state": "BATCH_STATE_RUNNING"}}
    server = hostile_server([Rule("GET", r"/v1beta/batches/.*", reply(200, running))])
    conn_id = _connect(monkeypatch, server.base_url)
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    lines = _listen(monkeypatch, "httpx", "httpcore", "urllib3", "requests")
    if hook_kind == "sync":
        GeminiBatchHook(gemini_conn_id=conn_id).get_batch("batches/b1")
    else:
        ahook = GeminiBatchAsyncHook(gemini_conn_id=conn_id, retry=False)
        try:
            await ahook.get_batch("batches/b1")
        finally:
            await ahook.aclose()
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert server.headers_seen("authorization") == [basic]
    out = capsys.readouterr()  # Airflow's structlog setup writes some library lines to the console
    logged = "\n".join([caplog.text, out.out, out.err, *lines])
    assert "/v1beta/batches/b1" in logged  # the libraries did log the request
    _assert_no_userinfo(logged)
