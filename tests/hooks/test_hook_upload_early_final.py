"""An upload the server finalizes early, reports at another size or without a hash is refused.

Against the hostile stand-in's upload session. Before the fix ``final`` after chunk 1 of 3 was
accepted as the uploaded file (a batch would run on the first rows only), even with a smaller
``sizeBytes``, and a missing ``sha256Hash`` silently skipped the content check. The real service
sends both ``sizeBytes`` and ``sha256Hash`` on every upload (``tests/real_service/captures.py``,
``COOKBOOK_EMBEDDINGS_FILE``), so a missing hash is an error too. The refused file is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hostile.server import HostileServer, Rule, UploadSession, is_upload_start, reply, upload_start

LINE = b'{"key": "k%d", "request": {"contents": [{"parts": [{"text": "hello"}]}]}}\n'


@pytest.fixture
def three_chunks(tmp_path: Path) -> Path:
    path = tmp_path / "input.jsonl"
    path.write_bytes(b"".join(LINE % n for n in range(3)))
    return path


def _upload(
    session: UploadSession,
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
    path: Path,
) -> tuple[HostileServer, GeminiBatchHook]:
    server = hostile_server(
        [
            Rule("POST", r"/upload/v1beta/files", upload_start(), when=is_upload_start),
            Rule("POST", r"/upload/v1beta/files", session.action),
            Rule("DELETE", r"/v1beta/files/.*", reply(200, {})),
        ]
    )
    chunk = len(LINE % 0)
    return server, GeminiBatchHook(gemini_conn_id=hostile_conn(server, upload_chunk_size=chunk))


@pytest.mark.parametrize("with_hash", [False, True])
def test_a_session_finalized_after_chunk_one_of_three_is_refused(
    with_hash: bool,
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
    three_chunks: Path,
) -> None:
    """Without a hash the old code accepted the first third as the file; with one, it caught the
    mismatch only by luck of the hash (a DATA_LOSS naming hashes, not the early final)."""
    session = UploadSession(finalize_after=1, with_hash=with_hash)
    server, hook = _upload(session, hostile_server, hostile_conn, three_chunks)
    with pytest.raises(GeminiApiError) as caught:
        hook.upload_file(three_chunks)
    assert "before the last chunk" in str(caught.value)
    assert server.calls("DELETE", r"/v1beta/files/hostile-upload")  # the partial file is gone


def test_an_early_final_reporting_the_smaller_size_is_refused(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str], three_chunks: Path
) -> None:
    session = UploadSession(finalize_after=1, size_bytes=len(LINE % 0))
    _, hook = _upload(session, hostile_server, hostile_conn, three_chunks)
    with pytest.raises(GeminiApiError, match="before the last chunk"):
        hook.upload_file(three_chunks)


def test_a_final_size_other_than_the_local_size_is_refused(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str], three_chunks: Path
) -> None:
    session = UploadSession(size_bytes=10)
    server, hook = _upload(session, hostile_server, hostile_conn, three_chunks)
    with pytest.raises(GeminiApiError) as caught:
        hook.upload_file(three_chunks)
    assert f"has 10 bytes, the local file {three_chunks.stat().st_size}" in str(caught.value)
    assert server.calls("DELETE", r"/v1beta/files/hostile-upload")


def test_a_missing_hash_is_an_error_not_a_skipped_check(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str], three_chunks: Path
) -> None:
    session = UploadSession(with_hash=False)
    server, hook = _upload(session, hostile_server, hostile_conn, three_chunks)
    with pytest.raises(GeminiApiError) as caught:
        hook.upload_file(three_chunks)
    assert "no sha256Hash" in str(caught.value)
    assert server.calls("DELETE", r"/v1beta/files/hostile-upload")


def test_an_honest_session_uploads(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str], three_chunks: Path
) -> None:
    session = UploadSession()
    server, hook = _upload(session, hostile_server, hostile_conn, three_chunks)
    info = hook.upload_file(three_chunks)
    assert info.name == "files/hostile-upload"
    assert bytes(session.received) == three_chunks.read_bytes()
    assert session.chunks == 3
    assert not server.calls("DELETE")
