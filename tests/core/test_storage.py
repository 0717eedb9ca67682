"""atomic_destination: the destination appears complete or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from airflow_provider_gemini_batch.storage import atomic_destination


def test_success_publishes_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "out.jsonl"
    with atomic_destination(dest) as fh:
        fh.write(b"hello")
        assert not dest.exists()  # not visible while being written
    assert dest.read_bytes() == b"hello"
    assert os.listdir(dest.parent) == ["out.jsonl"]


def _write_then_fail(dest: object, data: bytes) -> None:
    with atomic_destination(dest) as fh:
        fh.write(data)
        raise RuntimeError("cut off")


def test_failure_leaves_neither_destination_nor_temp(tmp_path: Path) -> None:
    dest = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        _write_then_fail(str(dest), b"partial")
    assert os.listdir(tmp_path) == []


def test_failure_keeps_an_older_complete_file(tmp_path: Path) -> None:
    dest = tmp_path / "out.jsonl"
    dest.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        _write_then_fail(dest, b"new-partial")
    assert dest.read_bytes() == b"old"


def test_unwritable_destination_raises_invalid_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with (
        pytest.raises(GeminiInvalidInputError, match="Cannot write"),
        atomic_destination(blocker / "out.jsonl"),
    ):
        pass


def test_file_uri_and_object_storage_path(tmp_path: Path) -> None:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    with atomic_destination(f"file://{tmp_path}/a.bin") as fh:
        fh.write(b"1")
    assert (tmp_path / "a.bin").read_bytes() == b"1"
    with atomic_destination(ObjectStoragePath(f"file://{tmp_path}/new-dir/b.bin")) as fh:
        fh.write(b"2")
    assert (tmp_path / "new-dir" / "b.bin").read_bytes() == b"2"
    assert os.listdir(tmp_path / "new-dir") == ["b.bin"]
