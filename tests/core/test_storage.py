"""atomic_destination: the destination appears complete or not at all."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from airflow_provider_gemini_batch.storage import BackgroundWriter, atomic_destination


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


# -- BackgroundWriter: blocks written on a thread, published only when all were written ----------


def test_background_writer_keeps_the_order_and_publishes_after_the_last_block(tmp_path: Path) -> None:
    destination = tmp_path / "rows.jsonl"
    blocks = [f"{n:05d}\n".encode() * 1000 for n in range(40)]
    with atomic_destination(str(destination)) as handle, BackgroundWriter(handle, depth=2) as out:
        for block in blocks:
            out.write(block)
        assert not destination.exists()  # still writing: nothing published yet
    assert destination.read_bytes() == b"".join(blocks)


def _write_blocks(handle: object, *blocks: bytes) -> None:
    with BackgroundWriter(handle) as out:  # type: ignore[arg-type]
        for block in blocks:
            out.write(block)


def test_a_failed_write_is_raised_to_the_caller() -> None:
    """``/dev/full`` refuses every write (ENOSPC) like a full disk: the error reaches the caller."""
    with open("/dev/full", "wb", buffering=0) as full, pytest.raises(OSError, match="No space") as caught:
        _write_blocks(full, b"x" * 10, b"y" * 10)
    assert caught.value.errno == errno.ENOSPC


def _land_then_fail(destination: Path) -> None:
    with atomic_destination(str(destination)) as handle, BackgroundWriter(handle) as out:
        out.write(b"row\n" * 1000)
        raise RuntimeError("parse failed")


def test_an_error_while_landing_stops_the_writer_and_publishes_nothing(tmp_path: Path) -> None:
    destination = tmp_path / "rows.jsonl"
    with pytest.raises(RuntimeError, match="parse failed"):
        _land_then_fail(destination)
    assert not destination.exists()
    assert os.listdir(tmp_path) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("gemini-writer")]


@pytest.mark.parametrize("shape", ["existing_dir", "trailing_slash", "object_store_slash"])
def test_directory_destination_is_refused_on_entry(tmp_path: Path, shape: str) -> None:
    """Refused before the caller writes anything (a rename onto a directory fails only at the end)."""
    (tmp_path / "out").mkdir()
    dest = {
        "existing_dir": str(tmp_path / "out"),
        "trailing_slash": f"{tmp_path}/new/",
        "object_store_slash": "file:///tmp/results/",
    }[shape]
    with pytest.raises(GeminiInvalidInputError, match="is a directory"), atomic_destination(dest):
        pytest.fail("entered")
    assert os.listdir(tmp_path) == ["out"]
    assert os.listdir(tmp_path / "out") == []
