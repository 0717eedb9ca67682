"""A small chaos run (benchmarks/chaos_run.py) keeps the script working: no duplicates, nothing
lost, no task failed wrongly. The 200-batch run is made by hand (see docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.fixtures.modules import import_file

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "chaos_run.py"


def load_script() -> ModuleType:
    return import_file("chaos_run", SCRIPT)


def test_small_chaos_run_loses_nothing_and_pays_once(tmp_path: Path) -> None:
    report = load_script().run_chaos(batches=6, seed=7, workdir=str(tmp_path))

    assert report.batches == 6
    assert sum(report.faults_injected.values()) > 0, "the run injected faults"
    assert report.duplicate_batches == 0, report.problems
    assert report.results_lost == 0, report.problems
    assert report.tasks_failed_wrongly == 0, report.problems
    assert report.problems == []
