"""Which lines of a file hold a key from a set, in bounded memory however large the set.

Resubmission asks it twice: which input lines hold a key that failed retryably (the follow-up
input), and which rows of the earlier result file hold a key the follow-up answered again (the
merge drops them). Either set may be every key of a 2 GB input (a whole batch can fail with 429),
~20 million keys: several GB as a Python ``set``.

:func:`mark_positions` keeps the wanted keys in a ``set`` while there are at most
:data:`MEMORY_KEYS` of them (the usual case: few rows fail), and answers in one pass. Past that,
it partitions both sides by the key's hash into :data:`PARTITIONS` temporary files (the keys
themselves, as JSON arrays of a few thousand keys, so the comparison stays exact), then joins one
partition at a time: a ``set`` of that partition's wanted keys (~1/128 of them) checked against
that partition's ``(position, key)`` pairs. The answer is a bitmap with one bit per position
(2.4 MB for 19 million lines), which the caller uses in its next pass over the file. Nothing is
kept per key beyond one partition.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import msgspec

#: Wanted keys held in a ``set`` before the join partitions to disk (~25-35 MB of short keys).
MEMORY_KEYS = 1 << 18
#: Partitions of the on-disk join (each holds ~1/PARTITIONS of the keys while joined).
PARTITIONS = 128
#: Keys buffered per partition before they are appended to its file.
FLUSH_KEYS = 2048
#: Missing keys named (the smallest, sorted).
MISSING_NAMED = 20

_encode = msgspec.json.Encoder().encode
_decode_keys = msgspec.json.Decoder(list[str]).decode
_decode_pairs = msgspec.json.Decoder(tuple[list[int], list[str]]).decode


@dataclass
class Marks:
    """The answer of :func:`mark_positions`.

    :param bits: bit ``p`` set when position ``p`` holds a wanted key (see :meth:`__contains__`).
    :param matched: positions marked.
    :param missing: wanted keys at no position (count).
    :param missing_named: the smallest of them, sorted (at most :data:`MISSING_NAMED`).
    :param wanted: distinct wanted keys.
    """

    bits: bytearray = field(default_factory=bytearray)
    matched: int = 0
    missing: int = 0
    missing_named: list[str] = field(default_factory=list)
    wanted: int = 0

    def __contains__(self, position: int) -> bool:
        byte = position >> 3
        return byte < len(self.bits) and bool(self.bits[byte] >> (position & 7) & 1)

    def _mark(self, position: int) -> None:
        byte = position >> 3
        if byte >= len(self.bits):
            self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits) // 2 + 1)))
        self.bits[byte] |= 1 << (position & 7)
        self.matched += 1


def mark_positions(
    wanted: Iterable[str],
    keys: Iterable[str | None],
    *,
    first_only: bool,
    temp_dir: str | None = None,
    memory_keys: int = MEMORY_KEYS,
) -> Marks:
    """Mark the positions (0-based, in ``keys`` order) whose key is in ``wanted``.

    :param wanted: the keys to find (repeats are fine).
    :param keys: the key at each position of the file (None: a row without key, never marked).
    :param first_only: mark only the first position of each wanted key (the follow-up sends each
        request once); False marks every position holding it (the merge drops them all).
    :param memory_keys: wanted keys held in memory before partitioning to disk.
    """
    source = iter(wanted)
    held = set(islice(source, memory_keys))
    extra = next(source, None)
    if extra is None:
        return _join_in_memory(held, keys, first_only=first_only)
    with tempfile.TemporaryDirectory(prefix="gemini-join-", dir=temp_dir) as work:
        wanted_files = _partition_keys(work, "w", [held, [extra], source])
        del held
        key_files = _partition_positions(work, keys)
        marks = Marks()
        named: list[str] = []
        for part in range(PARTITIONS):
            missing = _join(_read_keys(wanted_files[part]), _read_pairs(key_files[part]), marks, first_only)
            named = heapq.nsmallest(MISSING_NAMED, [*named, *missing])
        marks.missing_named = named
    return marks


def _join_in_memory(wanted: set[str], keys: Iterable[str | None], *, first_only: bool) -> Marks:
    marks = Marks()
    marks.missing_named = sorted(_join(wanted, [enumerate(keys)], marks, first_only))[:MISSING_NAMED]
    return marks


def _join(
    wanted: set[str], pairs: Iterable[Iterable[tuple[int, str | None]]], marks: Marks, first_only: bool
) -> set[str]:
    """Mark the positions of ``pairs`` whose key is in ``wanted``; returns the wanted keys not found."""
    found: set[str | None] = set()
    mark = marks._mark
    for run in pairs:
        for position, key in run:
            if key in wanted and (not first_only or key not in found):
                mark(position)
                found.add(key)
    marks.wanted += len(wanted)
    missing = wanted.difference(found)
    marks.missing += len(missing)
    return missing


def _part_paths(work: str, side: str) -> list[str]:
    return [os.path.join(work, f"{side}{part:03d}") for part in range(PARTITIONS)]


def _partition_keys(work: str, side: str, sources: Iterable[Iterable[str]]) -> list[str]:
    """Write every key to the file of its partition (JSON arrays of keys, one per line)."""
    paths = _part_paths(work, side)
    buffers: list[list[str]] = [[] for _ in range(PARTITIONS)]
    mask = PARTITIONS - 1
    for keys in sources:
        for key in keys:
            buffer = buffers[hash(key) & mask]
            buffer.append(key)
            if len(buffer) >= FLUSH_KEYS:
                _append(paths[hash(key) & mask], _encode(buffer))
                buffer.clear()
    for part, buffer in enumerate(buffers):
        _append(paths[part], _encode(buffer) if buffer else b"")
    return paths


def _partition_positions(work: str, keys: Iterable[str | None]) -> list[str]:
    """Write ``(position, key)`` of every keyed position to the file of its key's partition."""
    paths = _part_paths(work, "k")
    positions: list[list[int]] = [[] for _ in range(PARTITIONS)]
    buffers: list[list[str]] = [[] for _ in range(PARTITIONS)]
    mask = PARTITIONS - 1
    for position, key in enumerate(keys):
        if key is None:
            continue
        part = hash(key) & mask
        buffer = buffers[part]
        buffer.append(key)
        positions[part].append(position)
        if len(buffer) >= FLUSH_KEYS:
            _append(paths[part], _encode((positions[part], buffer)))
            buffer.clear()
            positions[part].clear()
    for part in range(PARTITIONS):
        _append(paths[part], _encode((positions[part], buffers[part])) if buffers[part] else b"")
    return paths


def _append(path: str, data: bytes) -> None:
    # Opened per write (a few thousand keys): no file handle is held per partition.
    with open(path, "ab") as handle:
        if data:
            handle.write(data + b"\n")


def _read_keys(path: str) -> set[str]:
    out: set[str] = set()
    with open(path, "rb") as handle:
        for line in handle:
            out.update(_decode_keys(line))
    return out


def _read_pairs(path: str) -> Iterator[Iterable[tuple[int, str]]]:
    """The ``(position, key)`` pairs of a partition file, a flushed buffer at a time."""
    with open(path, "rb") as handle:
        for line in handle:
            positions, keys = _decode_pairs(line)
            yield zip(positions, keys, strict=True)
