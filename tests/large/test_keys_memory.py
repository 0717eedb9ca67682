"""Validation's memory stays flat in the number of keys: 1.5 million keys, tens of MB, not hundreds.

Measured as the growth of the peak resident memory of a fresh interpreter around
``validate_input_file`` of a generated file: the kernel's high-water mark (``VmHWM``) is reset
just before (``/proc/self/clear_refs``) and read after, so it counts every allocation of the
validation, C ones included (msgspec, ``array``), and nothing of the test session. Before the keys
were kept in bounded memory (``_core/keyset.py``), the validator's ``dict`` of every key and its
line grew by ~125 bytes a key: ~190 MB here (250 MB measured at 2 million keys).

Why not ``tracemalloc`` (the first version): it counts only the Python heap and slows every
allocation ~9x, so this test took 70-175 s; the peak RSS costs nothing and took ~10 s (65 MB
measured at 1.5 million keys, three runs).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

KEYS = 1_500_000
#: The ceiling: the window of recent keys (~33 MB), one 8 MiB read and one group of digests at
#: the end (~20 MB).
CEILING_MB = 80
LINE = '{"key":"req-%09d","request":{"contents":[{"parts":[{"text":"classify item %d"}]}]}}\n'

SCRIPT = """
import sys
from pathlib import Path
from airflow_provider_gemini_batch._core.jsonl import validate_input_file

keys, path, line = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
with path.open("w", encoding="ascii") as fh:
    for start in range(0, keys, 10_000):
        fh.write("".join(line % (i, i) for i in range(start, start + 10_000)))

def status(field):
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1]) * 1024
    raise SystemExit("no " + field)

Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts at the current RSS
before = status("VmRSS")
summary = validate_input_file(str(path))
print(summary.count, status("VmHWM") - before)
"""


def test_one_and_a_half_million_keys_are_checked_in_bounded_memory(tmp_path: Path) -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure a peak")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(KEYS), str(tmp_path / "many.jsonl"), LINE],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    count, peak = (int(word) for word in done.stdout.split()[-2:])
    assert count == KEYS
    assert peak < CEILING_MB * 1_000_000, f"peak growth {peak / 1e6:.0f} MB"
