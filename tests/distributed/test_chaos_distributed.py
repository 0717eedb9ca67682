"""The chaos run on the real distributed stack (scripts/chaos_distributed.py --quick).

PostgreSQL, Redis, API server, scheduler, DAG processor, two triggerers, two Celery workers and
the emulator; 30 batches (file, inline, mapped) under injected API faults while a Celery worker is
SIGKILLed mid-upload, mid-create, after a create's answer (its task waiting in the worker) and
mid-landing, and a triggerer mid-wait.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import chaos_distributed

pytestmark = pytest.mark.distributed


def test_no_duplicate_no_loss_no_wrong_state_and_nothing_survives(tmp_path: Path) -> None:
    figures = chaos_distributed.run(runs=6, parts=3, workdir=tmp_path)
    print("\n".join(figures.lines()))
    assert figures.batches_expected >= 30
    kinds = {k["what"] for k in figures.kills}
    assert {"mid-upload", "mid-create", "mid-landing", "mid-wait"} <= kinds, figures.kills
    # A create task killed after its create answer (waiting for its batch in the worker) reattached
    # through the batch name recorded in Airflow's task state store, not by listing batches; the
    # after-create kill makes sure there is one (another kill may already have hit one).
    after_answer = figures.killed_creates_found_by.get("after answer", [])
    assert after_answer, figures.killed_creates_found_by
    assert set(after_answer) == {"task state store"}, figures.killed_creates_found_by
    # ... and the one killed in its held create call (no answer, nothing recorded) was handled too.
    assert figures.killed_creates_found_by.get("before answer"), figures.killed_creates_found_by
    assert figures.duplicate_batches == 0
    assert figures.lost_or_partial_files == 0
    assert figures.wrong_run_states == 0, figures.problems
    # The killed triggerer's waits polled again, on the other triggerer, and every process group
    # and data dir of the stack is gone.
    assert figures.resume_seconds
    assert figures.leftovers == []
