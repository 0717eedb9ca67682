"""Validation's memory stays flat in the number of keys: 2 million keys, tens of MB, not hundreds.

Measured with ``tracemalloc`` (the Python heap: independent of the machine's speed and of what
else runs), over an input generated a chunk at a time and never held whole. Before the keys were
kept in bounded memory (``_core/keyset.py``), the validator's ``dict`` of every key and its line
grew by ~120 bytes a key: ~250 MB here.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

from airflow_provider_gemini_batch._core.input_check import InputValidator

KEYS = 2_000_000
#: The ceiling: the window of recent keys (~33 MB) and one group of digests at the end (~20 MB).
CEILING_MB = 80
LINE = '{"key":"req-%09d","request":{"contents":[{"parts":[{"text":"classify item %d"}]}]}}\n'


def _chunks() -> Iterator[bytes]:
    for start in range(0, KEYS, 2_000):
        yield "".join(LINE % (i, i) for i in range(start, start + 2_000)).encode()


def _lines() -> Iterator[bytes]:
    for chunk in _chunks():
        yield from chunk.splitlines()


def test_two_million_keys_are_checked_in_bounded_memory() -> None:
    validator = InputValidator("generated.jsonl", reread=_lines)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for chunk in _chunks():
            validator.feed_chunk(chunk)
        summary = validator.finish()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert summary.count == KEYS
    assert peak < CEILING_MB * 1_000_000, f"peak growth {peak / 1e6:.0f} MB"
