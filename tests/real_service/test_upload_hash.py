"""The upload's ``sha256Hash`` as the real service sends it (issue: every real upload failed).

Capture: ``captures.COOKBOOK_EMBEDDINGS_FILE`` (Google's cookbook, ``Batch_mode.ipynb``, run
2025-09-10): the service reports base64 of the *hex* digest. Before the fix the hook compared it
with base64 of the raw digest, raised DATA_LOSS and deleted the file it had just uploaded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core.digests import decode_sha256_hash, sha256_hash_matches
from airflow_provider_gemini_batch._core.identity import TaskIdentity
from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.operators._idempotency import find_reusable_file, upload_display_name
from tests.real_service import captures
from tests.real_service.standin import Reply, ScriptedServer

CONN_ID = "gemini_real_shapes"
UPLOAD_PATH = r"/upload/v1beta/files"


def upload_script(file_resource: dict[str, object]) -> list[Reply]:
    """Start → real start headers; one ``upload, finalize`` chunk → ``{"file": <capture>}``."""
    return [
        Reply(
            "POST",
            UPLOAD_PATH,
            headers=captures.UPLOAD_START_HEADERS,
            when=lambda r: "upload_id" not in r.query,
        ),
        Reply(
            "POST",
            UPLOAD_PATH,
            headers={"X-Goog-Upload-Status": "final"},
            body={"file": file_resource},
            when=lambda r: "upload_id" in r.query,
        ),
        Reply("DELETE", r"/v1beta/files/[a-z0-9-]+", body={}),
    ]


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    path = tmp_path / "embeddings_batch_requests.jsonl"
    path.write_bytes(captures.COOKBOOK_EMBEDDINGS_INPUT)
    assert path.stat().st_size == 202
    assert (
        hashlib.sha256(captures.COOKBOOK_EMBEDDINGS_INPUT).hexdigest()
        == captures.COOKBOOK_EMBEDDINGS_INPUT_SHA256
    )
    return path


def connect(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> GeminiBatchHook:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "gemini_batch",
                "host": server.base_url,
                "password": "real-shapes-key",
                "extra": json.dumps({"max_retries": 0, "api_version": "v1beta"}),
            }
        ),
    )
    return GeminiBatchHook(gemini_conn_id=CONN_ID)


@pytest.fixture
def standin() -> Iterator[ScriptedServer]:
    with ScriptedServer(upload_script(captures.COOKBOOK_EMBEDDINGS_FILE)) as server:
        yield server


def test_cookbook_fixture_uploads_and_is_kept(
    fixture_file: Path, standin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = connect(monkeypatch, standin).upload_file(fixture_file, mime_type="jsonl")

    assert info.name == "files/t5snrshrqff1"
    assert info.size_bytes == 202
    assert standin.calls("DELETE", r".*") == [], "the uploaded file must not be deleted"
    assert standin.unmatched == []
    (chunk,) = standin.calls("POST", UPLOAD_PATH)[1:]
    assert chunk.body == captures.COOKBOOK_EMBEDDINGS_INPUT


def test_bytes_the_service_did_not_store_are_still_refused(
    tmp_path: Path, standin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check still works: other local bytes than the capture names → DATA_LOSS, remote deleted."""
    other = tmp_path / "other.jsonl"
    other.write_bytes(captures.COOKBOOK_EMBEDDINGS_INPUT.replace(b'"1"', b'"9"'))

    with pytest.raises(GeminiApiError, match="names other bytes") as caught:
        connect(monkeypatch, standin).upload_file(other, mime_type="jsonl")

    assert "files/t5snrshrqff1" in str(caught.value)
    assert [c.path for c in standin.calls("DELETE", r".*")] == ["/v1beta/files/t5snrshrqff1"]


def test_retry_reuses_the_file_the_real_service_describes(
    standin: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reuse-on-retry compares the listed file's real-form hash with the local content's."""
    identity = TaskIdentity(dag_id="d", task_id="upload", run_id="r1")
    listed = dict(
        captures.COOKBOOK_EMBEDDINGS_FILE,
        displayName=upload_display_name("inputs", identity, captures.COOKBOOK_EMBEDDINGS_INPUT_SHA256),
    )
    standin.script.insert(0, Reply("GET", r"/v1beta/files", body={"files": [listed]}))

    found = find_reusable_file(
        connect(monkeypatch, standin),
        identity,
        captures.COOKBOOK_EMBEDDINGS_INPUT_SHA256,
        limit=100,
        log=logging.getLogger(__name__),
    )

    assert found is not None
    assert found.name == "files/t5snrshrqff1"


def test_every_hash_form_names_the_same_digest() -> None:
    raw = bytes.fromhex(captures.COOKBOOK_EMBEDDINGS_INPUT_SHA256)
    forms = {
        "base64 of hex (real service)": captures.COOKBOOK_EMBEDDINGS_FILE["sha256Hash"],
        "base64 of raw": base64.b64encode(raw).decode(),
        "url-safe base64 of raw, unpadded": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "plain hex": captures.COOKBOOK_EMBEDDINGS_INPUT_SHA256,
        "upper-case hex": captures.COOKBOOK_EMBEDDINGS_INPUT_SHA256.upper(),
    }
    for label, value in forms.items():
        assert decode_sha256_hash(str(value)) == raw, label
        assert sha256_hash_matches(str(value), raw) is True, label
    assert sha256_hash_matches(str(forms["plain hex"]), hashlib.sha256(b"other").digest()) is False
    assert sha256_hash_matches("not a hash", raw) is None
    assert sha256_hash_matches(None, raw) is None


def test_a_dead_upload_session_url_never_reaches_the_error_or_the_log(
    fixture_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The session URL authorises uploads by itself (docs/real-service/wire-format.md, Authentication), so
    its ``upload_id`` is a
    secret: requests quotes the URL in a connection error, which must come out scrubbed.

    The start answer names a session URL on the stand-in's own origin (a session elsewhere is
    refused before any byte is sent, ``tests/hooks/test_hook_redirects.py``), and the stand-in
    stops listening before it answers, so every chunk meets a real refused connection; production
    retry settings, with only the retry sleep recorded instead of slept."""
    from airflow_provider_gemini_batch._core import retry
    from airflow_provider_gemini_batch.exceptions import GeminiTransportError
    from tests.hostile.server import HostileServer, Rule, reply, then_refuse_connections

    session_id = "ABgVH8-session-secret-3141592653"
    session = f"{{base}}/upload/v1beta/files?upload_id={session_id}&upload_protocol=resumable"
    start = reply(
        200, b"", {"X-Goog-Upload-Status": "active", "X-Goog-Upload-URL": session, "Connection": "close"}
    )
    waits: list[float] = []
    monkeypatch.setattr(retry, "sleep", waits.append)
    caplog.set_level(logging.DEBUG)
    with HostileServer([Rule("POST", UPLOAD_PATH, then_refuse_connections(start))]) as server:
        dead_port = server.port
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            json.dumps({"conn_type": "gemini_batch", "host": server.base_url, "password": "real-shapes-key"}),
        )
        with pytest.raises(GeminiTransportError) as caught:
            GeminiBatchHook(gemini_conn_id=CONN_ID).upload_file(fixture_file, mime_type="jsonl")

    assert waits, "the production policy retries a refused chunk before giving up"
    assert f"port={dead_port}" in str(caught.value)  # the error still says where it failed
    assert session_id not in str(caught.value)
    assert session_id not in caplog.text
