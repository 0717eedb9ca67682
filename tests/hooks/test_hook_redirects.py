"""No credential ever crosses an origin, and a create is never turned into a read.

Against the hostile stand-in (``tests/hostile``): every route answers a redirect to a second
server on another port (another origin), which records every request. Before the fix the sync
hook (``requests``, ``allow_redirects`` on by default) re-sent ``x-goog-api-key`` there; a 307/308
re-sent the create body, and a 301-303 turned the create into a GET whose answer was taken for a
created batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from airflow_provider_gemini_batch.plugins.live import read_batch
from tests.hostile.fixtures import HOSTILE_KEY
from tests.hostile.server import REDIRECT_STATUSES, HostileServer, Rule, UploadSession, redirect, upload_start

#: A Location whose path and query must never be quoted (they may carry a token).
SECRET_PATH = "/collect/secret-path?token=secret-query"


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "input.jsonl"
    path.write_text('{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    return path


SYNC_CALLS: dict[str, Callable[[GeminiBatchHook, Path], Any]] = {
    "create": lambda h, _: h.create_batch(
        "gemini-2.5-flash", requests=[{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}]
    ),
    "get": lambda h, _: h.get_batch("batches/abc"),
    "list": lambda h, _: list(h.list_batches(light=True)),
    "upload": lambda h, p: h.upload_file(_input(p)),
    "download": lambda h, p: h.download_file("files/abc", p / "out.jsonl"),
}


def _assert_refused(message: str, status: int, elsewhere: HostileServer) -> None:
    assert f"HTTP {status}" in message
    assert elsewhere.base_url in message  # the origin is named ...
    assert "secret" not in message  # ... never its path or query
    assert HOSTILE_KEY not in message
    assert elsewhere.requests == []  # nothing, the key least of all, reached the other origin


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
@pytest.mark.parametrize("call", sorted(SYNC_CALLS))
def test_sync_hook_never_follows_a_redirect(
    call: str,
    status: int,
    hostile_server: Callable[..., HostileServer],
    elsewhere: HostileServer,
    hostile_conn: Callable[..., str],
    tmp_path: Path,
) -> None:
    server = hostile_server([Rule(None, r".*", redirect(status, elsewhere.base_url + SECRET_PATH))])
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    with pytest.raises(GeminiApiError) as caught:
        SYNC_CALLS[call](hook, tmp_path)
    _assert_refused(str(caught.value), status, elsewhere)
    assert len(server.requests) == 1  # refused at once, not retried
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
def test_connection_test_never_follows_a_redirect(
    status: int,
    hostile_server: Callable[..., HostileServer],
    elsewhere: HostileServer,
    hostile_conn: Callable[..., str],
) -> None:
    server = hostile_server([Rule(None, r".*", redirect(status, elsewhere.base_url + SECRET_PATH))])
    ok, message = GeminiBatchHook(gemini_conn_id=hostile_conn(server)).test_connection()
    assert not ok
    _assert_refused(message, status, elsewhere)


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
def test_batch_page_read_never_follows_a_redirect(
    status: int,
    hostile_server: Callable[..., HostileServer],
    elsewhere: HostileServer,
    hostile_conn: Callable[..., str],
) -> None:
    server = hostile_server([Rule(None, r".*", redirect(status, elsewhere.base_url + SECRET_PATH))])
    live = read_batch(hostile_conn(server), "batches/abc")
    assert live.batch is None  # the other origin's "batch" is never shown
    assert live.problem is not None
    assert f"HTTP {status}" in live.problem
    assert elsewhere.requests == []


@pytest.mark.parametrize("status", REDIRECT_STATUSES)
def test_async_hook_never_follows_a_redirect(
    status: int,
    hostile_server: Callable[..., HostileServer],
    elsewhere: HostileServer,
    hostile_conn: Callable[..., str],
) -> None:
    server = hostile_server([Rule(None, r".*", redirect(status, elsewhere.base_url + SECRET_PATH))])
    conn_id = hostile_conn(server)

    async def calls() -> list[str]:
        hook = GeminiBatchAsyncHook(gemini_conn_id=conn_id, retry=False)
        messages = []
        try:
            for call in (
                hook.get_batch("batches/abc", light=True),
                hook.list_operations_page(),
                hook.cancel_batch("batches/abc"),
            ):
                with pytest.raises(GeminiApiError) as caught:
                    await call
                messages.append(str(caught.value))
        finally:
            await hook.aclose()
        return messages

    for message in asyncio.run(calls()):
        _assert_refused(message, status, elsewhere)


def test_upload_session_on_another_origin_is_refused(
    hostile_server: Callable[..., HostileServer],
    elsewhere: HostileServer,
    hostile_conn: Callable[..., str],
    tmp_path: Path,
) -> None:
    session = UploadSession()
    elsewhere.rules.insert(0, Rule("POST", r"/upload/v1beta/files", session.action))
    server = hostile_server(
        [
            Rule(
                "POST",
                r"/upload/v1beta/files",
                upload_start(elsewhere.base_url + "/upload/v1beta/files?upload_id=x"),
            )
        ]
    )
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    with pytest.raises(GeminiApiError) as caught:
        hook.upload_file(_input(tmp_path))
    message = str(caught.value)
    assert elsewhere.base_url in message
    assert "upload_id" not in message
    assert elsewhere.requests == []  # not one byte of the file went there
