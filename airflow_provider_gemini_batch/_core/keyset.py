"""Repeated keys found in bounded memory, however many keys a pass sees (pure but for a temp file).

Inputs go up to the Files API's 2 GB: with ~100-byte requests that is ~20 million keys, and a
Python ``dict`` or ``set`` of them costs ~100-150 bytes a key (several GB). :class:`KeySet` keeps
two things instead:

* **a window**: a plain ``dict`` of the most recent keys (at most :data:`WINDOW_KEYS`, ~33 MB of
  short keys) to the line each was first seen on. A key repeated within the window is found at
  once, exactly, with both lines, as before. An input smaller than the window costs nothing more.
* **sorted runs of digests on disk**: when the window is full, the 64-bit digest of each of its
  keys is taken (Python's own ``hash`` of the ``str``: SipHash with a key chosen at random per
  process, already computed and cached on the string by the ``dict``, so it costs one C call per
  key), the digests are sorted as one bounded list, written as one run to an unnamed temporary
  file (8 bytes a key: 152 MB of disk for 19 million keys, nothing in memory) and the window is
  cleared. With each run it remembers where each of :data:`FINE_BUCKETS` digest ranges starts.

At the end, :meth:`KeySet.repeated_digests` reads the runs one digest range at a time (ranges
grouped so a group holds at most :data:`GROUP_KEYS` digests, ~20 MB while checked) and finds the
digests that occur more than once with a ``set`` built in C. A repeated digest is only a
*candidate*: the caller then reads its input again (:func:`first_repeat`), takes the keys whose
digest is a candidate and compares the keys themselves, so it names the true repeat with both
lines and a digest collision between two different keys is never taken for a repeat. The second
read happens only when some digest repeated: on a valid input, with a probability of about
``n**2 / 2**65`` (n keys; 1e-5 at 19 million keys, see ``docs/large-batches.md`` for the
measured rate), or when the input really repeats a key (then it is refused anyway).

Why this shape: the per-key work in Python must stay a few C calls (the validator's speed at 2 GB
is per line), so no Python loop runs per key on the common path: ``map(hash, window)``,
``list.sort``, ``array.tofile`` and ``set`` all iterate in C over bounded lists. A hash table in
a ``bytearray`` would need a Python-level probe per key; a merge of the runs with ``heapq`` a
Python step per key.

Not for a one-shot iterator that cannot be read again: :class:`KeySet` with ``window=None`` never
spills (a plain exact ``dict``, as memory-hungry as before), which is what the callers use then.
"""

from __future__ import annotations

import bisect
import collections
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

#: Keys the window holds before its digests are spilled to disk (~33 MB of 15-character keys).
WINDOW_KEYS = 1 << 18
#: Digest ranges each run remembers the start of (the finest grain of the final check).
FINE_BUCKETS = 256
#: At most this many digests are checked together at the end (a ``set`` of them: ~20 MB).
GROUP_KEYS = 1 << 18
#: Candidates handed to the caller at a time (each batch costs the caller one more read).
CANDIDATE_BATCH = 4096

_ITEM = array("q").itemsize
#: The digest range of fine bucket ``i`` starts at ``_BOUNDS[i]`` (signed 64-bit digests).
_BOUNDS = [-(1 << 63) + i * ((1 << 64) // FINE_BUCKETS) for i in range(FINE_BUCKETS)]

#: A key's 64-bit digest; the default is the builtin ``hash`` (a C call, cached on the ``str``).
Digest = Callable[[str], int]


@dataclass(frozen=True)
class Repeat:
    """A key seen twice: ``key``, the line it was ``first`` on, and the ``line`` repeating it."""

    key: str
    first: int
    line: int


class KeySet:
    """Keys seen in one pass: exact over a recent window, as sorted digests on disk before it.

    :param window: keys kept exactly before spilling (default :data:`WINDOW_KEYS`); None: never
        spill (an exact ``dict`` of every key: for inputs that cannot be read again).
    :param digest: the 64-bit digest of a key (default Python's ``hash``). A test may pass one
        that collides on purpose to show that collisions are resolved, never reported.
    :param temp_dir: where the unnamed spill file goes (default the system's temp dir).

    Memory: the window (``window`` keys and their lines) plus, at the end, one group of digests.
    Disk: 8 bytes per spilled key, in a file deleted when closed (:meth:`close` or the ``with``).
    """

    __slots__ = ("_file", "_runs", "_temp_dir", "digest", "limit", "spilled", "window")

    def __init__(
        self, *, window: int | None = WINDOW_KEYS, digest: Digest | None = None, temp_dir: str | None = None
    ) -> None:
        #: The exact window: key -> the line it was first seen on. Callers on a hot path may read
        #: and update it directly, then call :meth:`spill_if_full` now and then.
        self.window: dict[str, int] = {}
        self.limit = window
        self.digest: Digest = hash if digest is None else digest
        self._temp_dir = temp_dir
        self._file: IO[bytes] | None = None
        #: Per run: (file offset in items, items, offset of each fine bucket's start within it).
        self._runs: list[tuple[int, int, list[int]]] = []
        #: Keys written to disk so far.
        self.spilled = 0

    def __enter__(self) -> KeySet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the spill file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def add(self, key: str, line: int) -> int | None:
        """Remember ``key`` first seen on ``line``; returns the earlier line when the window holds it.

        A repeat of a key already spilled is not seen here: :meth:`repeated_digests` finds it.
        """
        window = self.window
        earlier = window.get(key)
        if earlier is not None:
            return earlier
        window[key] = line
        if self.limit is not None and len(window) >= self.limit:
            self.spill()
        return None

    def spill_if_full(self) -> None:
        """Spill the window when it reached its size (for callers that update it directly)."""
        if self.limit is not None and len(self.window) >= self.limit:
            self.spill()

    def spill(self) -> None:
        """Write the window's digests as one sorted run and clear the window."""
        window = self.window
        if not window:
            return
        digests = list(map(self.digest, window))
        window.clear()
        digests.sort()
        if self._file is None:
            # Kept open across spills and closed by close(): unnamed, so nothing is left behind.
            self._file = tempfile.TemporaryFile(prefix="gemini-keys-", dir=self._temp_dir)  # noqa: SIM115
        starts = [bisect.bisect_left(digests, bound) for bound in _BOUNDS]
        run = array("q", digests)
        del digests
        self._runs.append((self.spilled, len(run), starts))
        self._file.seek(self.spilled * _ITEM)
        run.tofile(self._file)
        self.spilled += len(run)

    def repeated_digests(self) -> Iterator[set[int]]:
        """The digests seen more than once across the whole pass, in batches of at most
        :data:`CANDIDATE_BATCH` (nothing when no key was spilled: the window was exact).

        Spills what is left in the window first. Each batch is a set of candidates for the caller
        to resolve against the real keys (:func:`first_repeat`).
        """
        if not self.spilled:
            return
        self.spill()
        found: set[int] = set()
        for group in self._groups():
            digests = self._read_group(group)
            if len(set(digests)) != len(digests):
                found.update(d for d, n in collections.Counter(digests).items() if n > 1)
                while len(found) >= CANDIDATE_BATCH:
                    batch = set(sorted(found)[:CANDIDATE_BATCH])
                    found -= batch
                    yield batch
            del digests
        if found:
            yield found

    def _groups(self) -> Iterator[range]:
        """Consecutive fine buckets, each group holding at most :data:`GROUP_KEYS` digests (a
        single bucket may hold more)."""
        first = 0
        size = 0
        for bucket in range(FINE_BUCKETS):
            here = sum(self._bucket_len(run, bucket) for run in self._runs)
            if size and size + here > GROUP_KEYS:
                yield range(first, bucket)
                first, size = bucket, 0
            size += here
        yield range(first, FINE_BUCKETS)

    @staticmethod
    def _bucket_len(run: tuple[int, int, list[int]], bucket: int) -> int:
        _offset, items, starts = run
        end = starts[bucket + 1] if bucket + 1 < FINE_BUCKETS else items
        return end - starts[bucket]

    def _read_group(self, group: range) -> array[int]:
        """The digests of every run that fall in the fine buckets of ``group``."""
        assert self._file is not None
        out = array("q")
        for offset, items, starts in self._runs:
            begin = starts[group.start]
            end = starts[group.stop] if group.stop < FINE_BUCKETS else items
            if end > begin:
                self._file.seek((offset + begin) * _ITEM)
                out.frombytes(self._file.read((end - begin) * _ITEM))
        return out


def first_repeat(
    numbered_keys: Iterable[tuple[int, str]], candidates: set[int], digest: Digest
) -> Repeat | None:
    """The first key (in line order) that repeats an earlier one, among the keys whose digest is a
    candidate; None when those keys are all distinct (the digests collided).

    :param numbered_keys: every ``(line, key)`` of the input again, in order.
    :param candidates: digests that repeated (:meth:`KeySet.repeated_digests`).
    :param digest: the :class:`KeySet`'s digest (``KeySet.digest``).

    Memory: the first line of each distinct key whose digest is a candidate.
    """
    first: dict[str, int] = {}
    for line, key in numbered_keys:
        if digest(key) in candidates:
            earlier = first.get(key)
            if earlier is not None:
                return Repeat(key, earlier, line)
            first[key] = line
    return None


def find_repeat(keys: KeySet, reread: Callable[[], Iterable[tuple[int, str]]]) -> Repeat | None:
    """The first true repeat across the whole pass of ``keys`` (after its last key was added).

    ``reread`` gives the input's ``(line, key)`` pairs again; it is called only when some digest
    repeated (once per batch of candidates), so a valid input is normally read once.
    """
    for candidates in keys.repeated_digests():
        repeat = first_repeat(reread(), candidates, keys.digest)
        if repeat is not None:
            return repeat
    return None
