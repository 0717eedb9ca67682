"""A key repeated further apart than the validator keeps keys exactly (262,144 keys) is still
refused by the upload, with both lines, and the file is never finalized.

Such a repeat is found by the whole-file check that runs before the last chunk is sent
(``_core/keyset.py``: digests spilled to disk, the file read again to name the key), so the session
is cancelled and the emulator holds no file. The emulator's journal is the witness.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import FAST_CONN_ID
from tests.reliability._support import file_names

LINE = '{"key":"k%d","request":{"contents":[{"parts":[{"text":"classify %d"}]}]}}\n'
LINES = 300_000


def _write(path: Path, repeat_at: int | None) -> Path:
    with path.open("w", encoding="ascii") as fh:
        for start in range(0, LINES, 10_000):
            fh.write("".join(LINE % (i, i) for i in range(start, start + 10_000)))
        if repeat_at is not None:
            fh.write(LINE % (repeat_at, 0))
    return path


def test_a_key_repeated_300000_lines_apart_is_refused_and_nothing_is_finalized(
    fast_conn: EmulatorServer, tmp_path: Path
) -> None:
    path = _write(tmp_path / "far.jsonl", repeat_at=2)  # line 300001 repeats line 3
    hook = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID)
    with pytest.raises(GeminiInputFileError) as info:
        hook.upload_file(path)
    assert f"{path}, line 300001: duplicate key 'k2' (first used on line 3)" in str(info.value)
    commands = [
        e["headers"].get("x-goog-upload-command", "")
        for e in fast_conn.control.journal()
        if e["path"].startswith("/upload/")
    ]
    assert commands[0] == "start"
    assert not any("finalize" in c for c in commands)
    assert commands[-1] == "cancel"
    assert file_names(fast_conn) == []


def test_the_same_file_without_the_repeat_uploads(fast_conn: EmulatorServer, tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.jsonl", repeat_at=None)
    info = GeminiBatchHook(gemini_conn_id=FAST_CONN_ID).upload_file(path)
    assert int(info.size_bytes or 0) == path.stat().st_size
