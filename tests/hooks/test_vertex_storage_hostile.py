"""Cloud Storage sessions that misbehave: the upload fails plainly instead of looping or leaking.

A scripted stand-in on a real socket plays the token endpoint and the Cloud Storage host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.vertex import VertexBatchHook, hook_for
from tests.fixtures.vertex import vertex_connection
from tests.real_service.standin import Reply, ScriptedServer


def _token() -> Reply:
    """The token endpoint's answer to google-auth's JWT grant."""
    return Reply("POST", "/token", body={"access_token": "ya29.standin-token", "expires_in": 3599})


def _hook(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> VertexBatchHook:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_VERTEX", vertex_connection(server.base_url, max_retries=1))
    hook = hook_for("gemini_vertex")
    assert isinstance(hook, VertexBatchHook)
    return hook


def test_a_session_that_never_keeps_bytes_fails_instead_of_looping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"x" * 1000)
    script = [
        _token(),
        Reply("POST", "/upload/storage/v1/b/bkt/o", headers={"Location": "{base}/upload/session-1"}),
        Reply("PUT", "/upload/session-1", status=308),  # "Resume Incomplete", nothing kept, forever
    ]
    with ScriptedServer(script) as server:
        hook = _hook(server, monkeypatch)
        with pytest.raises(GeminiApiError, match="kept no new bytes"):
            hook.upload_input(source, "gs://bkt/in.jsonl")
        assert len(server.calls("PUT", "/upload/session-1")) == 5


def test_a_session_url_on_another_host_is_not_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"x" * 10)
    script = [
        _token(),
        Reply(
            "POST", "/upload/storage/v1/b/bkt/o", headers={"Location": "http://127.0.0.2:9/upload/elsewhere"}
        ),
    ]
    with ScriptedServer(script) as server:
        hook = _hook(server, monkeypatch)
        with pytest.raises(GeminiApiError, match="another host"):
            hook.upload_input(source, "gs://bkt/in.jsonl")
        start = server.calls("POST", "/upload/storage/v1/b/bkt/o")[0]
        # The start carried the bearer token (storage host = configured origin) ...
        assert start.headers["authorization"] == "Bearer ya29.standin-token"
        # ... and nothing else was sent after the session URL was refused.
        assert [r.path for r in server.requests] == ["/token", "/upload/storage/v1/b/bkt/o"]
        assert server.unmatched == []


def test_a_session_claiming_bytes_never_sent_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"x" * 10)
    script = [
        _token(),
        Reply("POST", "/upload/storage/v1/b/bkt/o", headers={"Location": "{base}/upload/session-1"}),
        # Says it holds 100 bytes of a 10-byte file: it is not holding this file.
        Reply("PUT", "/upload/session-1", status=308, headers={"Range": "bytes=0-99"}),
    ]
    with ScriptedServer(script) as server:
        hook = _hook(server, monkeypatch)
        with pytest.raises(GeminiApiError, match="claims 100 bytes; only 10 were sent"):
            hook.upload_input(source, "gs://bkt/in.jsonl")
        assert len(server.calls("PUT", "/upload/session-1")) == 1
