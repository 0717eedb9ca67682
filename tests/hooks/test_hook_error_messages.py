"""What a person reads when a call fails: the real cause first, each resource named once.

A host nobody listens on is the reviewer's repro (connection host ``http://127.0.0.1:1``): the
transport error used to be cut at 300 characters inside urllib3's URL (with its ``fields`` query),
so "Connection refused" never showed. Real sockets: a port that was just closed, so the connect
is refused by the kernel, for the sync (requests) and the async (httpx) hook.
"""

from __future__ import annotations

import json
import socket

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import (
    GeminiClientError,
    GeminiNotFoundError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook

DEAD_CONN = "gemini_dead_port"
KEY = "dead-port-key-0123456789"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def dead_host(monkeypatch: pytest.MonkeyPatch) -> str:
    host = f"http://127.0.0.1:{_closed_port()}"
    conn = {
        "conn_type": "gemini_batch",
        "host": host,
        "password": KEY,
        "extra": json.dumps({"max_retries": 0, "timeout": 5}),
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{DEAD_CONN.upper()}", json.dumps(conn))
    return host


def _assert_refused_first(text: str, call: str) -> None:
    assert text.startswith(f"{call} got no answer (ConnectionRefusedError: ")
    assert "Errno 111" in text.split(";")[0]  # ECONNREFUSED, before anything else
    assert "fields=" not in text
    assert "pageSize" not in text
    assert KEY not in text


def test_sync_refused_connection_shows_the_cause_first(dead_host: str) -> None:
    hook = GeminiBatchHook(gemini_conn_id=DEAD_CONN)
    with pytest.raises(GeminiTransportError) as info:
        list(hook.list_batches(light=True))
    assert info.value.sent is False
    _assert_refused_first(str(info.value), "Listing batches")
    assert "for batches" not in str(info.value)


async def test_async_refused_connection_shows_the_cause_first(dead_host: str) -> None:
    hook = GeminiBatchAsyncHook(gemini_conn_id=DEAD_CONN, retry=False)
    try:
        with pytest.raises(GeminiTransportError) as info:
            await hook.get_batch("batches/abc", light=True)
    finally:
        await hook.aclose()
    _assert_refused_first(str(info.value), "Getting batches/abc")
    assert "for batches/abc" not in str(info.value)


def test_unresolvable_host_shows_the_name_resolution_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """``.invalid`` never resolves (RFC 6761): the resolver's error comes first."""
    conn = {
        "conn_type": "gemini_batch",
        "host": "http://gemini-host.invalid",
        "password": KEY,
        "extra": json.dumps({"max_retries": 0, "timeout": 5}),
    }
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_NO_NAME", json.dumps(conn))
    with pytest.raises(GeminiTransportError) as info:
        GeminiBatchHook(gemini_conn_id="gemini_no_name").get_batch("batches/abc")
    text = str(info.value)
    assert text.startswith("Getting batches/abc got no answer (gaierror: ")
    assert KEY not in text


def test_api_errors_name_the_resource_once(hook: GeminiBatchHook, fast_conn: EmulatorServer) -> None:
    with pytest.raises(GeminiNotFoundError) as info:
        hook.get_batch("batches/nosuchbatch")
    text = str(info.value)
    assert text.startswith("Getting batches/nosuchbatch failed: HTTP 404")
    assert "failed for batches/nosuchbatch" not in text


def test_wrong_key_on_the_reattach_lookup_is_one_request_naming_the_connection(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's repro at the hook: the create operator's lookup lists batches lightly; the
    emulator answers a wrong key 400 INVALID_ARGUMENT API_KEY_INVALID, as the service does."""
    conn = {
        "conn_type": "gemini_batch",
        "host": emulator.base_url,
        "password": "WRONGKEY-0123456789",
        "extra": json.dumps({"max_retries": 0}),
    }
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_BAD", json.dumps(conn))
    emulator.control.clear_journal()
    with pytest.raises(GeminiClientError) as info:
        list(GeminiBatchHook(gemini_conn_id="gemini_bad").list_batches(light=True))
    text = str(info.value)
    assert text.startswith("Listing batches failed: HTTP 400 INVALID_ARGUMENT (API_KEY_INVALID)")
    assert "The API key of Airflow connection 'gemini_bad' was refused" in text
    assert "WRONGKEY" not in text
    assert len(emulator.control.journal()) == 1
    assert "partial-response mask" not in capsys.readouterr().out
