"""Resumable upload: multi-chunk, resume from the server's offset, limits checked before sending."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import FAST_CONN_ID, creating_or_uploading, make_request

MiB = 1024 * 1024


def sha256_b64(path: Path) -> str:
    """``sha256Hash`` in the real service's form: base64 of the hex digest (see _core.digests)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return base64.b64encode(digest.hexdigest().encode()).decode()


def big_jsonl(path: Path, size: int) -> Path:
    """A valid JSONL file of at least ``size`` bytes."""
    with path.open("w") as fh:
        written, i = 0, 0
        while written < size:
            line = json.dumps({"key": f"k{i}", "request": make_request(f"{i} " + "lorem ipsum " * 80)}) + "\n"
            fh.write(line)
            written += len(line)
            i += 1
    return path


def chunk_entries(emulator: EmulatorServer) -> list[dict[str, object]]:
    return [e for e in emulator.control.journal() if "upload_id" in e["query"]]


def test_file_over_8_mib_goes_in_8_mib_chunks(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = big_jsonl(tmp_path / "big.jsonl", 9 * MiB)
    info = hook.upload_file(path)
    chunks = chunk_entries(emulator)
    assert [c["headers"]["x-goog-upload-offset"] for c in chunks] == ["0", str(8 * MiB)]  # type: ignore[index]
    assert [c["headers"]["x-goog-upload-command"] for c in chunks] == ["upload", "upload, finalize"]  # type: ignore[index]
    assert info.sha256_hash == sha256_b64(path)
    assert info.size_bytes == path.stat().st_size


def test_small_chunks_from_the_hook_parameter(
    fast_conn: EmulatorServer, write_jsonl: Callable[..., Path]
) -> None:
    path = write_jsonl([f"key-{i}" for i in range(50)])
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID, upload_chunk_size=1000)
    info = hook.upload_file(path)
    assert len(chunk_entries(fast_conn)) == -(-path.stat().st_size // 1000)
    assert info.sha256_hash == sha256_b64(path)


def test_dropped_chunk_resumes_from_the_server_offset(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path, sleeps: list[float]
) -> None:
    path = big_jsonl(tmp_path / "big.jsonl", 9 * MiB)
    # The first chunk is cut after 1,000,000 bytes reached (and were kept by) the server: the hook
    # must ask for the offset and send only the rest instead of starting over.
    emulator.control.inject_fault(method="POST", path="upload_id", drop_after_bytes=1_000_000, times=1)
    info = hook.upload_file(path)
    assert info.sha256_hash == sha256_b64(path)
    entries = chunk_entries(emulator)
    commands = [e["headers"]["x-goog-upload-command"] for e in entries]  # type: ignore[index]
    assert commands == ["upload", "query", "upload", "upload, finalize"]
    assert [e["headers"].get("x-goog-upload-offset") for e in entries[2:]] == [  # type: ignore[attr-defined]
        "1000000",
        str(1_000_000 + 8 * MiB),
    ]
    assert len(sleeps) == 1


def test_resume_survives_a_dropped_offset_query(
    fast_conn: EmulatorServer, tmp_path: Path, sleeps: list[float]
) -> None:
    path = big_jsonl(tmp_path / "mid.jsonl", 300_000)
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID, upload_chunk_size=100_000)
    # The chunk is cut 12,345 bytes in, then the offset query itself gets a 503.
    fast_conn.control.inject_fault(method="POST", path="upload_id", drop_after_bytes=12_345, times=1)
    fast_conn.control.inject_fault(method="POST", path="upload_id", status=503, times=1)
    info = hook.upload_file(path)
    assert info.sha256_hash == sha256_b64(path)
    entries = chunk_entries(fast_conn)
    commands = [e["headers"]["x-goog-upload-command"] for e in entries]  # type: ignore[index]
    assert commands[:3] == ["upload", "query", "query"]
    offsets = [e["headers"].get("x-goog-upload-offset") for e in entries[3:]]  # type: ignore[attr-defined]
    assert offsets == ["12345", "112345", "212345"]
    assert len(sleeps) == 2  # one before resuming, one before repeating the failed query


def test_file_over_2_gb_is_refused_before_sending(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as fh:
        fh.truncate(2 * 1024 * 1024 * 1024 + 1)  # sparse: no disk used
    with pytest.raises(GeminiInvalidInputError, match="2 GB"):
        hook.upload_file(path)
    assert creating_or_uploading(emulator) == []


GOOD_LINE = '{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'


GOOD_LINE = '{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "no requests"),
        (GOOD_LINE + GOOD_LINE, "line 2: duplicate key"),
        ('{"key": "a"}\n', "line 1"),
        ("not json\n", "line 1: not valid JSON"),
    ],
)
def test_bad_jsonl_is_refused_before_sending(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path, content: str, match: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(GeminiInputFileError, match=match):
        hook.upload_file(path)
    assert creating_or_uploading(emulator) == []


def test_missing_input_path_is_refused(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(GeminiInvalidInputError, match="does not exist"):
        hook.upload_file(tmp_path / "nope.jsonl")
    assert creating_or_uploading(emulator) == []


def test_upload_from_an_object_storage_path(
    fast_conn: EmulatorServer, write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    path = big_jsonl(tmp_path / "osp.jsonl", 50_000)
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID, upload_chunk_size=16_384)
    info = hook.upload_file(ObjectStoragePath(f"file://{path}"))
    assert info.sha256_hash == sha256_b64(path)
    assert len(chunk_entries(fast_conn)) == 4
    assert hook.upload_file(f"file://{path}").sha256_hash == info.sha256_hash


def test_chunk_feed_hands_over_the_file_in_order_hashed_once(tmp_path: Path) -> None:
    """The upload's reader thread: chunks in file order, the sha256 of the whole file."""
    from airflow_provider_gemini_batch.hooks._chunk_feed import ChunkFeed

    data = bytes(range(256)) * 40
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    with path.open("rb") as fh, ChunkFeed(fh, len(data), 1000, None) as feed:
        chunks = [feed.take() for _ in range(11)]
        assert feed.done
    assert chunks[0] == data[:1000]
    assert b"".join(chunks) == data
    assert feed.digest() == hashlib.sha256(data).digest()


def test_chunk_feed_raises_a_bad_line_at_its_chunk_and_stops_cleanly(tmp_path: Path) -> None:
    """Chunks before the bad line come through; the chunk holding it never does. Closing a feed
    whose reader is blocked on a full queue returns (the reader thread ends)."""
    from airflow_provider_gemini_batch._core.input_check import InputValidator
    from airflow_provider_gemini_batch.exceptions import GeminiInputFileError
    from airflow_provider_gemini_batch.hooks._chunk_feed import ChunkFeed

    good = json.dumps({"key": "k", "request": {"contents": [{"parts": [{"text": "x" * 60}]}]}})
    lines = [good.replace('"k"', f'"k{i}"') for i in range(100)]
    lines[60] = "{not json"
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    line_bytes = len(lines[0]) + 1
    with path.open("rb") as fh:
        feed = ChunkFeed(fh, len(data), line_bytes * 10, InputValidator(str(path)))
        taken = [feed.take() for _ in range(6)]  # lines 1-60
        with pytest.raises(GeminiInputFileError, match="line 61"):
            feed.take()
        with pytest.raises(GeminiInputFileError, match="line 61"):
            feed.take()
        feed.close()
    assert b"".join(taken) == data[: len(b"".join(taken))]
    with path.open("rb") as fh:
        blocked = ChunkFeed(fh, len(data), 100, None)  # never taken from: its queue fills up
        blocked.close()
        assert not blocked._thread.is_alive()
