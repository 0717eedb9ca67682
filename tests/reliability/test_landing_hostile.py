"""Landing results a hostile or broken server sends: huge lines, lost rows, hostile rows, killed landings.

Every test goes through the results operator (``execute`` with a direct context, or a DAG run
with ``dag.test()``) or the hook's result iterators, against a stand-in on a real socket:
``_result_server.ResultFileServer`` streams generated result files (a 96 MiB line, a line that
never ends, a download that stalls to be killed), ``tests/real_service/standin.ScriptedServer``
serves small ones. docs/security.md ("Landing results") lists what each test shows.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError, GeminiResultsThresholdError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator
from tests.fixtures.airflow_env import unique_dag_id
from tests.real_service import captures_rows as cr
from tests.real_service.standin import Reply, ScriptedServer
from tests.reliability._result_server import ResultFileServer
from tests.reliability._support import direct_context, run

CONN_ID = "gemini_hostile_rows"
MiB = 1024 * 1024
#: A usable answer as the live service writes it (cookbook ``Batch_mode.ipynb`` cell 25).
GOOD = cr.COOKBOOK_TEXT_RESPONSE_1


def good_line(key: str) -> bytes:
    return cr.line({"response": GOOD, "key": key})


def use(monkeypatch: pytest.MonkeyPatch, server: ResultFileServer) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", server.connection())


def results_op(
    server: ResultFileServer | str, destination: Path, **kwargs: Any
) -> GeminiBatchResultsOperator:
    name = server if isinstance(server, str) else server.batch_name
    return GeminiBatchResultsOperator(
        task_id="results", batch_name=name, destination=str(destination), gemini_conn_id=CONN_ID, **kwargs
    )


def peak_bytes_of(call: Any) -> tuple[int, BaseException | None]:
    """Python-heap peak (tracemalloc) while ``call()`` runs, and what it raised."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    error: BaseException | None = None
    try:
        call()
    except BaseException as exc:  # returned to the test
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


# ------------------------------------------------------------------ a result line's length is capped


def test_a_huge_result_line_is_refused_by_number_in_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line 3 of the result file is 96 MiB (a broken or hostile server; no Gemini answer is near
    that). Before: the line was gathered and joined whole (about twice its size in memory, 601 MB
    for a 300 MB line in the review) and landed. After: landing stops at the 64 MiB default cap
    with an error naming line 3, nothing is published, and the Python heap peaks near the cap."""
    head = good_line("k1") + good_line("k2") + b'{"key":"k3","response":{"text":"'
    with ResultFileServer([head, (b"A" * MiB, 96), b'"}}\n'], request_count=3) as server:
        use(monkeypatch, server)
        dest = tmp_path / "out" / "results.jsonl"
        op = results_op(server, dest)
        peak, error = peak_bytes_of(lambda: op.execute(direct_context(task_id="results")))

    assert isinstance(error, GeminiInvalidInputError), error
    assert "Result line 3 is longer than 67,108,864 bytes" in str(error)
    assert "max_result_line_bytes" in str(error)
    assert peak < 80 * MiB, f"peak {peak / MiB:.0f} MiB"
    assert not dest.exists()
    assert os.listdir(dest.parent) == []


def test_a_line_that_never_ends_stops_at_the_configured_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server streams one line without end (no length, no newline). Before: the worker grew
    until the server gave up (here after 512 MiB). After: ``max_result_line_bytes=1 MiB`` ends
    landing after about 1 MiB, naming line 1; memory stays within a few MiB."""
    endless = [b'{"key":"k1","response":{"text":"', (b"B" * 65536, 8192)]
    with ResultFileServer(endless, endless=True) as server:
        use(monkeypatch, server)
        dest = tmp_path / "results.jsonl"
        op = results_op(server, dest, max_result_line_bytes=MiB)
        peak, error = peak_bytes_of(lambda: op.execute(direct_context(task_id="results")))

    assert isinstance(error, GeminiInvalidInputError), error
    assert "Result line 1 is longer than 1,048,576 bytes" in str(error)
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("method", ["iter_results", "iter_raw_results"])
def test_the_hook_result_iterators_cap_a_line_too(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook's own readers of a result file (used by the common.ai adapter and user code): a
    12 MiB second line with ``max_line_bytes=4 MiB``. Before: read whole (``iter_results`` grew
    its buffer by copying it again for every block). After: an error naming line 2, memory near
    the cap."""
    body = [good_line("k1"), b'{"key":"k2","response":{"text":"', (b"C" * MiB, 12), b'"}}\n']
    with ResultFileServer(body, request_count=2) as server:
        use(monkeypatch, server)
        hook = GeminiBatchHook(gemini_conn_id=CONN_ID)
        batch = hook.get_batch(server.batch_name)
        peak, error = peak_bytes_of(lambda: list(getattr(hook, method)(batch, max_line_bytes=4 * MiB)))

    assert isinstance(error, GeminiInvalidInputError), error
    assert "Result line 2 is longer than 4,194,304 bytes" in str(error)
    assert peak < 10 * MiB, f"peak {peak / MiB:.1f} MiB"


# --------------------------------------------------------------------------- hostile rows are named


def scripted(lines: bytes, request_count: int = 2) -> list[Reply]:
    batch_id = "hostilerows000000000000000000000000"
    operation = cr.finished_operation(
        batch_id, request_count=request_count, responses_file=f"files/batch-{batch_id}"
    )
    return [
        Reply("GET", rf"/{cr.API}/batches/{batch_id}", body=operation),
        Reply(
            "GET",
            rf"/{cr.API}/files/batch-{batch_id}:download",
            body=lines,
            headers={"Content-Type": "application/octet-stream"},
        ),
    ]


@pytest.fixture
def scripted_conn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``serve(lines, request_count)``: a ScriptedServer for one batch, the connection set."""
    servers: list[ScriptedServer] = []

    def serve(lines: bytes, request_count: int = 2) -> str:
        server = ScriptedServer(scripted(lines, request_count)).__enter__()
        servers.append(server)
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            json.dumps(
                {
                    "conn_type": "gemini_batch",
                    "host": server.base_url,
                    "password": "hostile-rows-key",
                    "extra": json.dumps({"max_retries": 0, "api_version": cr.API}),
                }
            ),
        )
        return "batches/hostilerows000000000000000000000000"

    yield serve
    for server in servers:
        server.__exit__(None, None, None)


def with_usage(**counters: Any) -> dict[str, Any]:
    response = copy.deepcopy(GOOD)
    response["usageMetadata"].update(counters)
    return response


NESTED = {"a": 1}
for _ in range(1200):
    NESTED = {"a": NESTED}

#: id -> (second line of the result file, the text the error must carry)
HOSTILE_ROWS: dict[str, tuple[bytes, str]] = {
    "superscript_counter": (
        cr.line({"response": with_usage(promptTokenCount="²"), "key": "k2"}),
        "Result line 2: the usage counter response.usageMetadata.promptTokenCount is '²'",
    ),
    "4400_digit_counter": (
        cr.line({"response": with_usage(totalTokenCount="9" * 4400), "key": "k2"}),
        "Result line 2: the usage counter response.usageMetadata.totalTokenCount is '9999",
    ),
    "superscript_embedding_token_count": (
        cr.line({"response": {"tokenCount": "²", "embedding": {"values": [0.5]}}, "key": "k2"}),
        "Result line 2: the usage counter response.tokenCount is '²'",
    ),
    "deep_response": (
        b'{"key":"k2","response":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}\n",
        "Result line 2 cannot be read: its field 'response' is nested deeper than about 1,000 levels",
    ),
    "deep_metadata": (
        b'{"key":"k2","metadata":' + b"[" * 5000 + b"]" * 5000 + b',"response":{}}\n',
        "Result line 2 cannot be read: its field 'metadata' is nested deeper than about 1,000 levels",
    ),
    "deep_error": (
        b'{"key":"k2","error":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}\n",
        "Result line 2 cannot be read: its field 'error' is nested deeper than about 1,000 levels",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ROWS))
def test_a_hostile_row_ends_landing_with_an_error_naming_line_and_field(
    case: str, scripted_conn: Any, tmp_path: Path
) -> None:
    """Before: a bare ``ValueError`` ("invalid literal for int()", "Exceeds the limit (4300
    digits)") or ``RecursionError`` with no line. After: ``GeminiInvalidInputError`` naming the
    line and the field, and nothing published."""
    line, expected = HOSTILE_ROWS[case]
    name = scripted_conn(good_line("k1") + line)
    dest = tmp_path / "results.jsonl"

    with pytest.raises(GeminiInvalidInputError) as raised:
        results_op(name, dest).execute(direct_context(task_id="results"))

    assert expected in str(raised.value)
    assert os.listdir(tmp_path) == []


def test_an_error_code_that_is_not_a_number_lands_as_a_failed_row(scripted_conn: Any, tmp_path: Path) -> None:
    """A per-row error whose ``code`` is "²" or 4,400 digits. Before: a bare ``ValueError``
    aborted landing. After: the rows land as ``error`` rows keeping what the server sent (the
    code is no code: no reason, not retryable), and count as failed."""
    lines = cr.line({"error": {"code": "²", "message": "x"}, "key": "k1"}) + cr.line(
        {"error": {"code": "9" * 4400, "message": "y"}, "key": "k2"}
    )
    name = scripted_conn(lines)
    dest = tmp_path / "results.jsonl"

    manifest = results_op(name, dest, max_failed_ratio=1.0).execute(direct_context(task_id="results"))

    rows = [json.loads(text) for text in dest.read_text(encoding="utf-8").splitlines()]
    assert [(r["key"], r["outcome"], r["retryable"], r["error"]["message"]) for r in rows] == [
        ("k1", "error", False, "x"),
        ("k2", "error", False, "y"),
    ]
    assert manifest["counts"]["failed"] == 2


def test_a_non_string_key_lands_as_its_json_text(scripted_conn: Any, tmp_path: Path) -> None:
    """Keys the service echoes are strings; a number, a boolean or an object there (a broken or
    hostile file). Before: Python's repr (``"{'a': 1}"``, ``"True"``). After: the value's compact
    JSON text (``'{"a":1}'``, ``"true"``, ``"7"``), the documented rule."""
    lines = b"".join(cr.line({"response": GOOD, "key": key}) for key in (7, True, {"a": 1}, [1, "x"]))
    name = scripted_conn(lines, request_count=4)
    dest = tmp_path / "results.jsonl"

    results_op(name, dest).execute(direct_context(task_id="results"))

    keys = [json.loads(text)["key"] for text in dest.read_text(encoding="utf-8").splitlines()]
    assert keys == ["7", "true", '{"a":1}', '[1,"x"]']


# ------------------------------------------------------------------------ lost rows are failures


def test_rows_the_batch_owes_and_the_file_lacks_are_failures(
    airflow_db: str, scripted_conn: Any, tmp_path: Path
) -> None:
    """A SUCCEEDED batch whose ``batchStats`` counts 1,000 requests serves a result file of 10 rows.
    Before: ``failed: 0``, the task succeeded with a warning. After, in a DAG run: 990 rows are
    ``missing`` (``counts.missing``, ``by_outcome.missing``, part of ``failed`` and ``total``), the
    task with ``max_failed_ratio=0.5`` fails, and only a ratio allowing 99 % passes; given the
    input file, the manifest names the first missing keys."""
    from airflow.sdk import DAG

    name = scripted_conn(b"".join(good_line(f"k{i}") for i in range(10)), request_count=1000)
    input_path = tmp_path / "input.jsonl"
    input_path.write_text(
        "".join(json.dumps({"key": f"k{i}", "request": {"contents": []}}) + "\n" for i in range(1000))
    )
    with DAG(unique_dag_id("lost_rows"), schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        for task_id, ratio in (("strict", 0.5), ("tolerant", 0.99)):
            GeminiBatchResultsOperator(
                task_id=task_id,
                batch_name=name,
                destination=str(tmp_path / f"{task_id}.jsonl"),
                max_failed_ratio=ratio,
                gemini_conn_id=CONN_ID,
                input_path=str(input_path) if task_id == "tolerant" else None,
            )
    result = run(dag)

    assert result.states == {"strict": "failed", "tolerant": "success"}
    for task_id in ("strict", "tolerant"):
        xcoms = result.xcoms[task_id]
        counts = (xcoms.get("return_value") or xcoms["manifest"])["counts"]
        assert (counts["total"], counts["landed"], counts["missing"]) == (1000, 10, 990)
        assert (counts["succeeded"], counts["failed"], counts["by_outcome"]["missing"]) == (10, 990, 990)
    assert len((tmp_path / "strict.jsonl").read_text(encoding="utf-8").splitlines()) == 10
    # Named from the input file the batch was made from: the first 20 keys without a row.
    tolerant = result.xcoms["tolerant"]["return_value"]
    assert tolerant["missing_keys"] == [f"k{i}" for i in range(10, 30)]
    assert any("k10, k11" in w and "and 970 more" in w for w in tolerant["warnings"])
    assert "missing_keys" not in result.xcoms["strict"]["manifest"]


def test_a_repeated_key_does_not_stand_in_for_a_missing_row(scripted_conn: Any, tmp_path: Path) -> None:
    """Three requests, three rows, but ``k1`` twice: one request has no row. Before: counts matched,
    success. After: one missing row, a failure at the default ratio."""
    name = scripted_conn(good_line("k1") + good_line("k2") + good_line("k1"), request_count=3)
    context = direct_context(task_id="results")

    with pytest.raises(GeminiResultsThresholdError, match=r"1 of 4 results .*\(3 rows landed, 1 missing\)"):
        results_op(name, tmp_path / "results.jsonl").execute(context)

    counts = context["ti"].pushed["manifest"]["counts"]
    assert (counts["landed"], counts["duplicate_keys"], counts["missing"]) == (3, 1, 1)


# ------------------------------------------------------- killed landings leave no partials; file modes

KILLED_LANDING = textwrap.dedent(
    """
    import sys
    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator
    from tests.reliability._support import direct_context

    GeminiBatchResultsOperator(
        task_id="results", batch_name=sys.argv[1], destination=sys.argv[2], gemini_conn_id=sys.argv[3]
    ).execute(direct_context(task_id="results"))
    """
)


def partials(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".partial"))


def test_a_killed_landing_leaves_no_partial_after_the_next_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tries of a landing are SIGKILLed mid-download (a worker lost, an OOM kill); each leaves
    its ``.partial``. Before: both stayed for ever (one more per try) and the published file was
    0644. After: the next try publishes, removes both, and the file is 0600."""
    lines = b"".join(good_line(f"k{i}") for i in range(400))
    dest = tmp_path / "results.jsonl"
    for _ in range(2):
        with ResultFileServer([lines], request_count=400, stall_after=len(lines) // 2) as server:
            env = {**os.environ, f"AIRFLOW_CONN_{CONN_ID.upper()}": server.connection()}
            child = subprocess.Popen(
                [sys.executable, "-c", KILLED_LANDING, server.batch_name, str(dest), CONN_ID],
                cwd=Path(__file__).resolve().parents[2],
                env=env,
            )
            try:
                assert server.stalled.wait(120), "the landing never reached the middle of the file"
                time.sleep(0.2)  # the half that was sent reaches the partial file
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(30)
    left = partials(tmp_path)
    assert len(left) == 2
    assert not dest.exists()

    time.sleep(0.05)  # the next try begins after the killed ones last wrote (mtime resolution)
    with ResultFileServer([lines], request_count=400) as server:
        use(monkeypatch, server)
        manifest = results_op(server, dest).execute(direct_context(task_id="results"))

    assert manifest["counts"]["landed"] == 400
    assert os.listdir(tmp_path) == ["results.jsonl"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_the_sweep_touches_only_older_partials_of_the_same_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ``.<name>.<12 hex>.partial`` of this destination, last written before this try began,
    is removed: another destination's partial, look-alike names, a partial written after this try
    began (a concurrent writer) and the user's own files stay."""
    dest = tmp_path / "results.jsonl"
    stale = tmp_path / ".results.jsonl.0123456789ab.partial"
    kept = [
        tmp_path / ".other.jsonl.0123456789ab.partial",  # another destination
        tmp_path / ".results.jsonl.partial",  # not the pattern
        tmp_path / ".results.jsonl.0123456789AB.partial",  # not lower-case hex
        tmp_path / "results.jsonl.0123456789ab.partial",  # no leading dot
        tmp_path / "notes.txt",
    ]
    concurrent = tmp_path / ".results.jsonl.fedcba987654.partial"
    for path in (stale, *kept, concurrent):
        path.write_bytes(b"x")
    past = time.time() - 3600
    for path in (stale, *kept):
        os.utime(path, (past, past))
    future = time.time() + 3600  # written after this try began
    os.utime(concurrent, (future, future))

    with ResultFileServer([good_line("k1")], request_count=1) as server:
        use(monkeypatch, server)
        results_op(server, dest).execute(direct_context(task_id="results"))

    assert not stale.exists()
    assert all(path.exists() for path in (*kept, concurrent))


@pytest.mark.parametrize(("file_mode", "expected"), [(0o640, 0o640), (0o600, 0o600)])
def test_the_published_mode_is_exact_and_configurable(
    file_mode: int, expected: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``file_mode`` sets the landed file's mode exactly, whatever the umask (022 here; before,
    the file was 0644 under it)."""
    dest = tmp_path / "results.jsonl"
    old = os.umask(0o022)
    try:
        with ResultFileServer([good_line("k1")], request_count=1) as server:
            use(monkeypatch, server)
            results_op(server, dest, file_mode=file_mode).execute(direct_context(task_id="results"))
    finally:
        os.umask(old)

    assert stat.S_IMODE(dest.stat().st_mode) == expected


def test_inline_results_get_the_same_row_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Inline responses (inside the batch's answer, not a file): a usage counter of "²" on the
    second. Before: a bare ``ValueError``. After: an error naming the inline response and field."""
    batch_id = "hostileinline0000000000000000000000"
    inlined = [
        {"response": GOOD, "metadata": {"key": "k1"}},
        {"response": with_usage(promptTokenCount="²"), "metadata": {"key": "k2"}},
    ]
    operation = cr.finished_operation(batch_id, request_count=2, inlined=inlined)
    with ScriptedServer([Reply("GET", rf"/{cr.API}/batches/{batch_id}", body=operation)]) as server:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            json.dumps(
                {
                    "conn_type": "gemini_batch",
                    "host": server.base_url,
                    "password": "hostile-inline-key",
                    "extra": json.dumps({"max_retries": 0, "api_version": cr.API}),
                }
            ),
        )
        with pytest.raises(GeminiInvalidInputError) as raised:
            results_op(f"batches/{batch_id}", tmp_path / "r.jsonl").execute(direct_context(task_id="results"))

    assert f"Inline response 2 of batches/{batch_id}: the usage counter " in str(raised.value)
    assert "response.usageMetadata.promptTokenCount is '²'" in str(raised.value)
    assert os.listdir(tmp_path) == []
