"""Bad input at the operator level gets a clear error, and nothing that creates or uploads is sent.

Each case calls the operator's ``execute()`` (the code a worker runs) and reads the exception it
raises; the emulator's journal must then show no upload and no create. One DAG run
(``dag.test()``) puts several bad tasks side by side to show the same through Airflow.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import (
    GeminiConnectionConfigError,
    GeminiInputFileError,
    GeminiInvalidInputError,
)
from tests.fixtures.airflow_env import unique_dag_id
from tests.reliability._support import (
    MODEL,
    creating_or_uploading,
    direct_context,
    keyed_requests,
    run,
    write_jsonl,
)


def upload_op(path: Path, **kwargs: Any) -> Any:
    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiUploadFileOperator

    return GeminiUploadFileOperator(task_id="upload", path=str(path), **kwargs)


def create_op(**kwargs: Any) -> Any:
    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator

    kwargs.setdefault("model", MODEL)
    return GeminiCreateBatchOperator(task_id="create", **kwargs)


def _lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = json.dumps({"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}})

#: name -> (build the file, expected exception, phrases the message must hold)
FILE_CASES: dict[str, tuple[Callable[[Path], Path], type[Exception], tuple[str, ...]]] = {
    "malformed_json": (
        lambda p: _lines(p, GOOD, '{"key": "b", "request": {'),
        GeminiInputFileError,
        ("line 2", "not valid JSON"),
    ),
    "line_without_request": (
        lambda p: _lines(p, GOOD, json.dumps({"key": "b", "contents": []})),
        GeminiInputFileError,
        ("line 2", '"request"'),
    ),
    "duplicate_keys": (
        lambda p: _lines(p, GOOD, GOOD.replace('"hi"', '"again"')),
        GeminiInputFileError,
        ("line 2", "duplicate key", "line 1"),
    ),
    "empty_file": (lambda p: _lines(p), GeminiInputFileError, ("no requests",)),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
@pytest.mark.parametrize("via", ["upload", "create_input_path"])
def test_bad_jsonl_is_refused_with_line_and_reason_and_nothing_is_sent(
    gemini_conn: EmulatorServer, tmp_path: Path, case: str, via: str
) -> None:
    build, error, phrases = FILE_CASES[case]
    path = build(tmp_path / f"{case}.jsonl")
    op = upload_op(path) if via == "upload" else create_op(input_path=str(path))
    with pytest.raises(error) as info:
        op.execute(direct_context(task_id=op.task_id))
    for phrase in phrases:
        assert phrase in str(info.value)
    assert str(path) in str(info.value)
    assert creating_or_uploading(gemini_conn) == []


@pytest.mark.parametrize(
    ("kwargs", "phrase"),
    [
        ({"requests": "21 MB"}, "MB"),
        ({"model": "../files/abc", "requests": keyed_requests(1)}, "model"),
        ({"model": "models/a/b", "requests": keyed_requests(1)}, "model"),
        ({"model": "gemini?alt=media", "requests": keyed_requests(1)}, "model"),
        ({"requests": keyed_requests(1) + keyed_requests(1)}, "duplicate"),
        ({"requests": keyed_requests(1), "input_file": "files/abc"}, "exactly one"),
        ({}, "exactly one"),
    ],
    ids=[
        "inline_over_20mb",
        "model_dotdot",
        "model_slash",
        "model_query",
        "dup_inline",
        "two_inputs",
        "none",
    ],
)
def test_bad_create_arguments_are_refused_and_nothing_is_sent(
    gemini_conn: EmulatorServer, kwargs: dict[str, Any], phrase: str
) -> None:
    if kwargs.get("requests") == "21 MB":
        # 21 distinct requests of ~1 MB each: a create request over the 20 MB inline limit.
        text = "y" * 1_000_000
        kwargs = {
            "requests": [
                {"key": f"k{i}", "request": {"contents": [{"parts": [{"text": text}]}]}} for i in range(21)
            ]
        }
    with pytest.raises(GeminiInvalidInputError) as info:
        create_op(**kwargs).execute(direct_context(task_id="create"))
    assert phrase in str(info.value)
    assert creating_or_uploading(gemini_conn) == []


def test_missing_connection_is_a_clear_config_error(emulator: EmulatorServer) -> None:
    with pytest.raises(GeminiConnectionConfigError, match="does not exist"):
        create_op(requests=keyed_requests(1), gemini_conn_id="no_such_conn").execute(direct_context())
    assert emulator.control.journal() == []


def test_connection_without_key_is_a_clear_config_error(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_NOKEY", json.dumps({"conn_type": "gemini_batch", "host": emulator.base_url})
    )
    with pytest.raises(GeminiConnectionConfigError, match="no API key"):
        create_op(requests=keyed_requests(1), gemini_conn_id="gemini_nokey").execute(direct_context())
    assert emulator.control.journal() == []


@pytest.mark.parametrize("where", ["parent_is_a_file", "read_only_dir"])
def test_unwritable_destination_is_refused_and_nothing_is_downloaded(
    gemini_conn: EmulatorServer, tmp_path: Path, where: str
) -> None:
    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator
    from tests.operators._support import sync_hook

    if where == "read_only_dir" and os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    hook = sync_hook()
    batch = hook.create_batch(MODEL, requests=keyed_requests(2))
    gemini_conn.control.advance_clock(5)
    assert hook.get_batch(batch.name).done
    if where == "parent_is_a_file":
        (tmp_path / "plain").write_text("x")
        destination = tmp_path / "plain" / "results.jsonl"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        destination = locked / "results.jsonl"
    gemini_conn.control.clear_journal()
    op = GeminiBatchResultsOperator(task_id="results", batch_name=batch.name, destination=str(destination))
    try:
        with pytest.raises(GeminiInvalidInputError) as info:
            op.execute(direct_context(task_id="results"))
    finally:
        if where == "read_only_dir":
            (tmp_path / "locked").chmod(stat.S_IRWXU)
    assert str(destination.parent) in str(info.value) or str(destination) in str(info.value)
    assert not destination.exists()


def test_file_over_2_gb_is_refused_by_the_upload_operator_before_reading_it(tmp_path: Path) -> None:
    """Run in a child process with a 1 GB address-space cap over its baseline: reading the file
    into memory fails there instead of exhausting the shared machine."""
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3 + 1)  # sparse: no disk used
    script = textwrap.dedent(
        f"""
        import json, os, resource, sys
        os.environ["AIRFLOW_CONN_GEMINI_BATCH_DEFAULT"] = json.dumps(
            {{"conn_type": "gemini_batch", "host": "http://127.0.0.1:9", "password": "k"}})
        from airflow_provider_gemini_batch.operators.gemini_batch import GeminiUploadFileOperator
        from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
        from tests.reliability._support import direct_context
        vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (vm + 1024**3, vm + 1024**3))
        try:
            GeminiUploadFileOperator(task_id="u", path={str(big)!r}).execute(direct_context())
        except GeminiInvalidInputError as exc:
            print("REFUSED", exc)
            sys.exit(0)
        except BaseException as exc:
            print("OTHER", type(exc).__name__)
            sys.exit(1)
        sys.exit(2)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-500:]
    assert "2 GB" in done.stdout


def test_bad_tasks_in_a_dag_run_fail_and_send_nothing(
    airflow_db: str, gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """Through Airflow: every bad task fails, no upload or create reaches the API."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import (
        GeminiCreateBatchOperator,
        GeminiUploadFileOperator,
    )

    bad = _lines(tmp_path / "bad.jsonl", GOOD, "not json")
    with DAG(unique_dag_id("bad_inputs"), schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        GeminiUploadFileOperator(task_id="malformed_upload", path=str(bad))
        GeminiCreateBatchOperator(task_id="bad_model", model="../x", requests=keyed_requests(1))
        GeminiCreateBatchOperator(
            task_id="no_connection", model=MODEL, requests=keyed_requests(1), gemini_conn_id="missing"
        )
        GeminiCreateBatchOperator(task_id="dup_keys", model=MODEL, requests=keyed_requests(1) * 2)
    write_jsonl(tmp_path / "unused.jsonl", [])
    result = run(dag)

    assert result.state == "failed"
    assert set(result.states.values()) == {"failed"}, result.states
    assert creating_or_uploading(gemini_conn) == []


# -- Requests the service rejects or ignores (inspect_ai issue #3257) ---------------------------
# Each case is refused by the upload operator, the create operator (input_path= and requests=)
# with file/position, line, key and field named, and the emulator's journal shows no upload and no
# create. Sources of the cases: see tests/real_service/captures_input.py.

_CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]

#: name -> (JSONL line object, field named in the error, phrase of the advice)
REQUEST_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "thinking_config_at_top": (
        {"key": "k1", "request": {"contents": _CONTENTS, "thinking_config": {"thinking_budget": 0}}},
        "request.thinking_config",
        "generationConfig.thinkingConfig",
    ),
    "sdk_config_object": (
        {"key": "k1", "request": {"contents": _CONTENTS, "config": {"temperature": 0.2}}},
        "request.config",
        "SDK's GenerateContentConfig",
    ),
    "contents_as_string": (
        {"key": "k1", "request": {"contents": "Why is the sky blue?"}},
        "request.contents",
        "list of Content",
    ),
    "system_instruction_as_string": (
        {"key": "k1", "request": {"contents": _CONTENTS, "systemInstruction": "be short"}},
        "request.systemInstruction",
        "not a string",
    ),
    "text_outside_parts": (
        {"key": "k1", "request": {"contents": [{"role": "user", "text": "hi"}]}},
        "request.contents[0].text",
        "inside parts",
    ),
    "embed_request_in_generate_batch": (
        {"key": "k1", "request": {"content": {"parts": [{"text": "hi"}]}}},
        "request.content",
        "embeddings=True",
    ),
    "generation_config_beside_request": (
        {"key": "k1", "request": {"contents": _CONTENTS}, "generation_config": {"temperature": 1}},
        "generation_config",
        "move it into request",
    ),
}


@pytest.mark.parametrize("case", sorted(REQUEST_CASES))
@pytest.mark.parametrize("via", ["upload", "create_input_path", "create_requests"])
def test_requests_the_service_would_reject_are_refused_and_nothing_is_sent(
    gemini_conn: EmulatorServer, tmp_path: Path, case: str, via: str
) -> None:
    line, field, advice = REQUEST_CASES[case]
    good = {"key": "k0", "request": {"contents": _CONTENTS}}
    if via == "create_requests":
        op = create_op(requests=[good, line], embeddings=False)
        with pytest.raises(GeminiInvalidInputError) as info:
            op.execute(direct_context(task_id=op.task_id))
        message = str(info.value)
        assert "requests[1]" in message
        assert "'k1'" in message or field == "generation_config"  # item fields are named by position
    else:
        path = write_jsonl(tmp_path / f"{case}.jsonl", [good, line])
        # The upload operator is not told the batch kind (default None): line 1 decides it.
        op = upload_op(Path(path)) if via == "upload" else create_op(input_path=path)
        with pytest.raises(GeminiInputFileError) as info:
            op.execute(direct_context(task_id=op.task_id))
        message = str(info.value)
        assert (info.value.path, info.value.line_number, info.value.key) == (path, 2, "k1")
        if via == "upload" and case == "embed_request_in_generate_batch":
            assert "one kind of request" in message  # a generate line 1, then an embed line
            assert creating_or_uploading(gemini_conn) == []
            return
        assert info.value.field == field
    assert f"field {field}" in message
    assert advice in message
    assert creating_or_uploading(gemini_conn) == []


def test_an_embedding_file_is_checked_as_embed_content_requests(
    gemini_conn: EmulatorServer, tmp_path: Path
) -> None:
    """The cookbook's embeddings lines pass for embeddings=True; a generate line among them does not."""
    lines = [
        {"key": "request_1", "request": {"output_dimensionality": 3, "content": {"parts": [{"text": "1"}]}}},
        {"key": "request_2", "request": {"contents": _CONTENTS}},
    ]
    path = write_jsonl(tmp_path / "emb.jsonl", lines)
    with pytest.raises(GeminiInputFileError, match="one content object") as info:
        create_op(input_path=path, embeddings=True).execute(direct_context(task_id="create"))
    assert (info.value.line_number, info.value.field) == (2, "request.contents")
    assert creating_or_uploading(gemini_conn) == []


def test_inline_requests_without_keys_are_created_with_generated_keys(gemini_conn: EmulatorServer) -> None:
    """Keys are the only safe join (python-genai issue #1909): every inline request is sent with a key,
    marked as generated."""
    from airflow_provider_gemini_batch._core.jsonl import GENERATED_KEY_METADATA

    requests = [{"contents": _CONTENTS}, {"key": "mine", "request": {"contents": _CONTENTS}}]
    create_op(requests=requests).execute(direct_context(task_id="create"))
    (create,) = [
        e for e in gemini_conn.control.journal() if e["method"] == "POST" and e["path"].endswith("Content")
    ]
    items = create["json"]["batch"]["inputConfig"]["requests"]["requests"]
    assert [item["metadata"] for item in items] == [
        {"key": "request-0", GENERATED_KEY_METADATA: "true"},
        {"key": "mine"},
    ]


def test_a_user_key_clashing_with_a_generated_key_is_refused(gemini_conn: EmulatorServer) -> None:
    requests = [{"key": "request-1", "request": {"contents": _CONTENTS}}, {"contents": _CONTENTS}]
    with pytest.raises(GeminiInvalidInputError, match=r"requests\[1\].*'request-1'.*requests\[0\]"):
        create_op(requests=requests).execute(direct_context(task_id="create"))
    assert creating_or_uploading(gemini_conn) == []
