"""Streaming reads and copies of JSONL files wherever they live (local, ``file://``, object storage).

Shared by the shard and resubmission operators: every function holds one block or one line at a
time, never a whole file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

#: Bytes per block when copying.
COPY_BLOCK_BYTES = 1024 * 1024


def iter_lines(path: Any) -> Iterator[bytes]:
    """The non-blank lines of the file at ``path`` (newline stripped), streamed.

    :raises GeminiInputFileError: the file cannot be opened or read.
    """
    from airflow_provider_gemini_batch.storage import resolve_path

    source = resolve_path(path)
    try:
        with source.open("rb") as handle:
            for line in handle:
                stripped = line.rstrip(b"\r\n")
                if stripped.strip():
                    yield stripped
    except OSError as exc:
        raise GeminiInputFileError(f"cannot read the file ({exc.strerror or exc}).", path=str(path)) from None


def copy_into(path: Any, out: IO[bytes]) -> None:
    """Append the bytes of ``path`` to ``out`` block by block, ending with a newline."""
    from airflow_provider_gemini_batch.storage import resolve_path

    last = b"\n"
    try:
        with resolve_path(path).open("rb") as handle:
            while block := handle.read(COPY_BLOCK_BYTES):
                out.write(block)
                last = block[-1:]
    except OSError as exc:
        raise GeminiInputFileError(f"cannot read the file ({exc.strerror or exc}).", path=str(path)) from None
    if last != b"\n":
        out.write(b"\n")


def write_lines(destination: Any, lines: Iterable[bytes]) -> int:
    """Write ``lines`` (each with its newline) to ``destination`` atomically; returns the bytes."""
    from airflow_provider_gemini_batch.storage import atomic_destination

    written = 0
    with atomic_destination(destination) as out:
        for line in lines:
            out.write(line)
            written += len(line)
    return written


def child(directory: Any, name: str) -> str:
    """``directory/name`` as a string, for a local path or an object-storage URI."""
    from airflow_provider_gemini_batch.storage import resolve_path

    return str(resolve_path(directory) / name)
