"""The structure holds: one wait memory, one public operators path, typed seams.

These guard the refactor (hook base, operator split, one wait) against drifting back: the
sensor does not load the operators module, the public path re-exports the very objects of the
new modules, and the tracker carries the memory every waiter used to keep by hand.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.waiting import StepKind, WaitTracker, verdict_once


def _batch(state: str, *, done: bool = False, output: bool = False) -> Batch:
    metadata: dict[str, object] = {"state": state}
    if output:
        metadata["output"] = {"responsesFile": "files/batch-abc"}
    return Batch.from_operation({"name": "batches/abc", "done": done, "metadata": metadata})


def test_tracker_marks_only_a_changed_state_and_remembers_it() -> None:
    tracker = WaitTracker("batches/abc")
    assert tracker.last_state is None
    first = tracker.observe(_batch("BATCH_STATE_PENDING"), 0.0)
    again = tracker.observe(_batch("BATCH_STATE_PENDING"), 1.0)
    running = tracker.observe(_batch("BATCH_STATE_RUNNING"), 2.0)
    assert (first.state_changed, again.state_changed, running.state_changed) == (True, False, True)
    assert tracker.last_state == _batch("BATCH_STATE_RUNNING").state_label


def test_tracker_asks_for_a_full_read_after_a_success_without_output() -> None:
    tracker = WaitTracker("batches/abc", output_grace=30.0)
    assert tracker.light
    tracker.observe(_batch("BATCH_STATE_SUCCEEDED", done=True), 0.0)
    assert not tracker.light
    tracker.observe(_batch("BATCH_STATE_RUNNING"), 1.0)
    assert tracker.light


def test_verdict_once_has_no_grace() -> None:
    assert verdict_once(_batch("BATCH_STATE_SUCCEEDED", done=True)).kind is StepKind.ERROR
    assert verdict_once(_batch("BATCH_STATE_SUCCEEDED", done=True, output=True)).kind is StepKind.SUCCESS
    assert verdict_once(_batch("BATCH_STATE_FAILED", done=True)).kind is StepKind.FAILURE


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("GeminiUploadFileOperator", "upload"),
        ("upload_idempotent", "upload"),
        ("GeminiCreateBatchOperator", "create"),
        ("batch_input_fingerprint", "create"),
        ("GeminiBatchResultsOperator", "results"),
        ("GeminiCancelBatchOperator", "cleanup"),
        ("GeminiDeleteBatchOperator", "cleanup"),
        ("GeminiDeleteFileOperator", "cleanup"),
        ("GeminiSplitInputOperator", "shards"),
        ("GeminiMergeShardsOperator", "shards"),
        ("GeminiBuildResubmissionOperator", "resubmit"),
        ("GeminiMergeResubmissionOperator", "resubmit"),
        ("GeminiUpdateBatchPriorityOperator", "priority"),
        ("poll_until_done", "_wait"),
        ("cancel_and_settle", "_wait"),
        ("cancel_in_flight", "_wait"),
        ("raise_for_outcome", "_wait"),
        ("check_input_size", "_input"),
        ("api_root_of", "_common"),
    ],
)
def test_public_operators_path_reexports_the_split_modules(name: str, module: str) -> None:
    public = importlib.import_module("airflow_provider_gemini_batch.operators.gemini_batch")
    home = importlib.import_module(f"airflow_provider_gemini_batch.operators.{module}")
    assert name in public.__all__
    assert getattr(public, name) is getattr(home, name)


def test_sensor_imports_nothing_from_the_operators_module() -> None:
    """The sensor's shared behaviour has a typed home (``operators._common``/``_wait``); no
    import of the operators module, not even a lazy one inside a method."""
    import airflow_provider_gemini_batch.sensors.gemini_batch as sensor_module

    tree = ast.parse(inspect.getsource(sensor_module))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "airflow_provider_gemini_batch.operators.gemini_batch" not in imported


def test_both_hooks_share_one_base() -> None:
    from airflow_provider_gemini_batch.hooks._base import GeminiHookBase
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchAsyncHook, GeminiBatchHook

    assert issubclass(GeminiBatchHook, GeminiHookBase)
    assert issubclass(GeminiBatchAsyncHook, GeminiHookBase)
    assert GeminiBatchHook.conn_type == GeminiBatchAsyncHook.conn_type == "gemini_batch"


def test_no_emulator_module_is_over_500_lines() -> None:
    """The emulator is laid out per surface (routes -> request parsing/rendering -> models), not
    as one handler class and one state object serving every service; no module outgrows that."""
    import airflow_provider_gemini_batch.emulator as emulator

    root = Path(emulator.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }
    assert sizes, root
    too_long = {name: lines for name, lines in sizes.items() if lines > 500}
    assert not too_long, f"emulator modules over 500 lines: {too_long}"


def test_the_app_module_only_builds_the_app() -> None:
    """``emulator/app.py`` builds the app and mounts the surfaces; no handler lives there."""
    import airflow_provider_gemini_batch.emulator.app as app_module

    tree = ast.parse(inspect.getsource(app_module))
    defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert defined == ["build_app"]
