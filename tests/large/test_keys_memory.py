"""Validation's memory stays flat in the number of keys: 1.5 million keys, tens of MB, not hundreds.

Measured with ``tracemalloc`` (the Python heap: independent of the machine's speed and of what
else runs) around ``validate_input_file`` of a generated file. Before the keys were kept in
bounded memory (``_core/keyset.py``), the validator's ``dict`` of every key and its line grew by
~125 bytes a key: ~190 MB here (250 MB measured at 2 million keys).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from airflow_provider_gemini_batch._core.jsonl import validate_input_file

KEYS = 1_500_000
#: The ceiling: the window of recent keys (~33 MB), one 8 MiB read and one group of digests at
#: the end (~20 MB).
CEILING_MB = 80
LINE = '{"key":"req-%09d","request":{"contents":[{"parts":[{"text":"classify item %d"}]}]}}\n'


def test_one_and_a_half_million_keys_are_checked_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    with path.open("w", encoding="ascii") as fh:
        for start in range(0, KEYS, 10_000):
            fh.write("".join(LINE % (i, i) for i in range(start, start + 10_000)))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        summary = validate_input_file(str(path))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert summary.count == KEYS
    assert peak < CEILING_MB * 1_000_000, f"peak growth {peak / 1e6:.0f} MB"
