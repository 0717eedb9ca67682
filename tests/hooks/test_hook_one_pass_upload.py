"""One pass over the input: each chunk is read once, checked, sent and hashed.

A bad line beyond the first chunk is found while uploading: the final chunk is never sent, the
session is cancelled (``X-Goog-Upload-Command: cancel``; docs/real-service/wire-format.md, Resumable upload)
and the emulator holds
no file; the error still names the file, line, key and field. The emulator's journal is the witness.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import FAST_CONN_ID, make_request
from tests.reliability._support import file_names

CHUNK = 16_384


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _good(i: int) -> str:
    return json.dumps({"key": f"k{i}", "request": make_request(f"{i} " + "lorem ipsum " * 40)})


def _upload_commands(emulator: EmulatorServer) -> list[str]:
    return [
        e["headers"].get("x-goog-upload-command", "")
        for e in emulator.control.journal()
        if e["path"].startswith("/upload/")
    ]


def test_bad_line_late_in_a_multi_chunk_file_cancels_the_session_and_creates_nothing(
    fast_conn: EmulatorServer, tmp_path: Path
) -> None:
    lines = [_good(i) for i in range(200)]  # ~100 kB: about six chunks of 16 KiB
    bad_number = 170
    lines[bad_number - 1] = json.dumps({"key": "bad", "request": {**make_request("x"), "temperature": 0.2}})
    path = _write(tmp_path / "late.jsonl", lines)
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID, upload_chunk_size=CHUNK)
    with pytest.raises(GeminiInputFileError) as info:
        hook.upload_file(path)
    message = str(info.value)
    assert f"{path}, line {bad_number} (key 'bad'), field request.temperature" in message
    assert "generationConfig" in message
    commands = _upload_commands(fast_conn)
    # One pass: chunks before the bad line went out as they were checked ...
    assert commands[0] == "start"
    assert commands.count("upload") >= 2
    # ... but the file was never finalized, and the session was abandoned.
    assert not any("finalize" in c for c in commands)
    assert commands[-1] == "cancel"
    assert file_names(fast_conn) == []


def test_a_bad_line_in_the_first_chunk_sends_nothing(fast_conn: EmulatorServer, tmp_path: Path) -> None:
    lines = [_good(i) for i in range(200)]
    lines[1] = '{"key": "k1", "request": {'
    path = _write(tmp_path / "early.jsonl", lines)
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID, upload_chunk_size=CHUNK)
    with pytest.raises(GeminiInputFileError, match="line 2: not valid JSON"):
        hook.upload_file(path)
    assert _upload_commands(fast_conn) == []


def test_lines_split_across_chunks_are_checked_whole(fast_conn: EmulatorServer, tmp_path: Path) -> None:
    """A line cut by a chunk boundary is valid (the upload succeeds, the bytes arrive intact), and
    a bad line cut by a boundary is reported with its own line number."""
    lines = [_good(i) for i in range(120)]
    path = _write(tmp_path / "split.jsonl", lines)
    data = path.read_bytes()
    assert all(data[k * CHUNK - 1 : k * CHUNK + 1].count(b"\n") == 0 for k in (1, 2, 3))  # cut lines
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID, upload_chunk_size=CHUNK)
    info = hook.upload_file(path)
    assert info.size_bytes == len(data)

    # Make the line that straddles the third boundary a duplicate key.
    straddling = data[: 3 * CHUNK].count(b"\n") + 1
    lines[straddling - 1] = lines[0]
    bad = _write(tmp_path / "split-bad.jsonl", lines)
    with pytest.raises(GeminiInputFileError) as caught:
        hook.upload_file(bad)
    assert caught.value.line_number == straddling
    assert "duplicate key 'k0' (first used on line 1)" in str(caught.value)
    assert _upload_commands(fast_conn)[-1] == "cancel"
    assert file_names(fast_conn) == [info.name]
