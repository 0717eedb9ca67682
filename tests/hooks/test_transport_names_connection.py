"""A call that gets no answer names the Airflow connection (and its Base URL) to check.

Before, the message said only "Getting batches/x got no answer (ConnectionRefusedError ...)": with
several connections in a deployment, a user could not tell which one pointed nowhere.
"""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiTransportError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchAsyncHook, GeminiBatchHook


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def down_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    base_url = f"http://127.0.0.1:{_closed_port()}"
    conn = {
        "conn_type": "gemini_batch",
        "host": base_url,
        "password": "SECRETKEY-transport",
        "extra": json.dumps({"max_retries": 0, "timeout": 5}),
    }
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_DOWN", json.dumps(conn))
    return base_url


def test_sync_transport_failure_names_the_connection(down_conn: str) -> None:
    with pytest.raises(GeminiTransportError) as caught:
        GeminiBatchHook(gemini_conn_id="gemini_down").get_batch("batches/abc")
    message = str(caught.value)
    assert f"Check the Airflow connection 'gemini_down' (Base URL {down_conn})" in message
    assert "SECRETKEY" not in message


def test_async_transport_failure_names_the_connection(down_conn: str) -> None:
    async def read() -> None:
        await GeminiBatchAsyncHook(gemini_conn_id="gemini_down", retry=False).get_batch("batches/abc")

    with pytest.raises(GeminiTransportError) as caught:
        asyncio.run(read())
    message = str(caught.value)
    assert f"Check the Airflow connection 'gemini_down' (Base URL {down_conn})" in message
    assert "SECRETKEY" not in message
