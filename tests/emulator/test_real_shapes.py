"""The emulator, held against what the real service sent: same keys, types, nesting, int64 strings.

Each test names the capture it compares with (``tests/real_service/captures.py`` and
``tests/real_service/captures_emulator.py``, both from Google's cookbook ``Batch_mode.ipynb``).
Where the capture is an SDK object rebuilt as wire JSON, the SDK has dropped the fields it does not
map (``batchStats``, ``inputConfig``...), so the capture's keys must be a *subset* of the
emulator's; raw lines (result files) must match key for key.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import httpx

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.test_batches import MODEL_PATH, create, get, item
from tests.real_service import captures, captures_emulator

BATCH_NAME = re.compile(r"^batches/[a-z0-9]{36}$")
FILE_NAME = re.compile(r"^files/[a-z0-9]{12}$")


def shape(value: Any) -> Any:
    """The shape of a JSON value: dict keys and nesting, list element shape, scalar type names.

    A string of digits is ``"int64"`` (proto3 JSON writes int64 as a string), so a real ``"202"``
    only matches an emulated digit string, never an int.
    """
    if isinstance(value, dict):
        return {key: shape(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, str):
        return "int64" if value.isdigit() else "str"
    return type(value).__name__


def contains_shape(real: Any, emulated: Any, path: str = "$") -> None:
    """Every key of ``real`` is in ``emulated`` with the same shape (recursively)."""
    if isinstance(real, dict):
        assert isinstance(emulated, dict), path
        for key, inner in real.items():
            assert key in emulated, f"{path}.{key} missing"
            contains_shape(inner, emulated[key], f"{path}.{key}")
        return
    assert shape(real) == shape(emulated), path


def upload(http: httpx.Client, data: bytes, mime: str) -> dict:
    start = http.post(
        "/upload/v1beta/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
            "X-Goog-Upload-Header-Content-Type": mime,
        },
        json={},
    )
    # captures.UPLOAD_START_HEADERS (live capture; docs/real-service/wire-format.md, Resumable upload): the
    # same headers on the start answer.
    assert all(name in start.headers for name in captures.UPLOAD_START_HEADERS)
    final = httpx.post(
        start.headers["x-goog-upload-url"],
        content=data,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
    )
    return final.json()["file"]


def run_file_batch(
    http: httpx.Client, emulator: EmulatorServer, path: str, file_name: str
) -> tuple[dict, list]:
    op = http.post(path, json={"batch": {"inputConfig": {"fileName": file_name}}}).json()
    emulator.control.advance_clock(10)
    done = get(http, op["name"])
    output = done["metadata"]["output"]["responsesFile"]
    text = http.get(f"/v1beta/{output}:download?alt=media").text
    return done, text.splitlines()


def test_uploaded_file_resource_matches_the_cookbook_file(http: httpx.Client) -> None:
    """captures.COOKBOOK_EMBEDDINGS_FILE (cell 42): same keys and types, and the same sha256Hash."""
    real = captures.COOKBOOK_EMBEDDINGS_FILE
    emulated = upload(http, captures.COOKBOOK_EMBEDDINGS_INPUT, "jsonl")

    assert shape(emulated) == shape(real)
    assert emulated["sha256Hash"] == real["sha256Hash"]
    assert emulated["sizeBytes"] == real["sizeBytes"] == "202"
    assert FILE_NAME.match(emulated["name"])
    assert FILE_NAME.match(real["name"])


def test_created_batch_has_the_cookbook_operation_shape(http: httpx.Client) -> None:
    """captures.COOKBOOK_EMBEDDINGS_BATCH_CREATED (cell 44): a PENDING Operation."""
    file_name = upload(http, captures.COOKBOOK_EMBEDDINGS_INPUT, "jsonl")["name"]
    op = http.post(
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        json={"batch": {"inputConfig": {"fileName": file_name}}},
    ).json()

    contains_shape(captures.COOKBOOK_EMBEDDINGS_BATCH_CREATED, op)
    assert op["metadata"]["state"] == captures.COOKBOOK_EMBEDDINGS_BATCH_CREATED["metadata"]["state"]
    assert op["metadata"]["@type"].endswith(".EmbedContentBatch")


def test_ids_have_the_real_lengths_and_the_output_file_is_named_after_the_batch(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """captures_emulator.COOKBOOK_BATCH_NAMES / FILE_NAMES / OUTPUT_FILE (cells 17-51)."""
    assert all(BATCH_NAME.match(name) for name in captures_emulator.COOKBOOK_BATCH_NAMES)
    assert all(FILE_NAME.match(name) for name in captures_emulator.COOKBOOK_FILE_NAMES)
    real_id = captures_emulator.COOKBOOK_BATCH_NAMES[0].split("/")[1]
    assert f"files/batch-{real_id}" == captures_emulator.COOKBOOK_OUTPUT_FILE

    line = b'{"key": "request_1", "request": {"contents": [{"parts": [{"text": "x"}]}]}}\n'
    file_name = upload(http, line, "application/jsonl")["name"]
    done, _ = run_file_batch(http, emulator, MODEL_PATH, file_name)

    assert BATCH_NAME.match(done["name"]), done["name"]
    assert FILE_NAME.match(file_name), file_name
    assert done["metadata"]["output"]["responsesFile"] == f"files/batch-{done['name'].split('/')[1]}"


def test_text_result_line_matches_the_cookbook_line(http: httpx.Client, emulator: EmulatorServer) -> None:
    """captures_emulator.COOKBOOK_RESULT_LINE (cell 25): key for key, response before key."""
    request = {"contents": [{"parts": [{"text": "Explain how AI works in a few words"}]}]}
    data = (json.dumps({"key": "request_1", "request": request}) + "\n").encode()
    file_name = upload(http, data, "application/jsonl")["name"]
    _, lines = run_file_batch(http, emulator, MODEL_PATH, file_name)

    emulated = json.loads(lines[0])
    real = captures_emulator.COOKBOOK_RESULT_LINE
    assert list(emulated) == list(real) == ["response", "key"]

    def keysets(value: Any) -> Any:
        return {k: keysets(v) for k, v in value.items()} if isinstance(value, dict) else shape(value)

    # Same keys, nesting and types; the live service's inner key order varies line to line.
    assert keysets(emulated) == keysets(real)


def test_embedding_result_lines_match_the_cookbook_lines(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """captures_emulator.COOKBOOK_EMBEDDING_LINES (cell 48) from the same 202-byte input."""
    file_name = upload(http, captures.COOKBOOK_EMBEDDINGS_INPUT, "jsonl")["name"]
    _, lines = run_file_batch(
        http, emulator, "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent", file_name
    )

    real = [json.loads(line) for line in captures_emulator.COOKBOOK_EMBEDDING_LINES]
    emulated = [json.loads(line) for line in lines]
    assert [list(row) for row in emulated] == [list(row) for row in real]
    assert [list(row["response"]) for row in emulated] == [list(row["response"]) for row in real]
    assert [shape(row) for row in emulated] == [shape(row) for row in real]
    assert [len(row["response"]["embedding"]["values"]) for row in emulated] == [3, 4]
    assert [row["key"] for row in emulated] == ["request_1", "request_2"]


def test_batches_list_is_newest_first_like_the_cookbook_list(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """captures_emulator.COOKBOOK_LIST_CREATE_TIMES (cell 34): descending create times."""
    real = [datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in captures_emulator.COOKBOOK_LIST_CREATE_TIMES]
    assert real == sorted(real, reverse=True)
    names = []
    for index in range(3):
        names.append(create(http, [item("x", f"k{index}")])["name"])
        emulator.control.advance_clock(1)

    listed = http.get("/v1beta/batches", params={"pageSize": 10}).json()["operations"]

    times = [op["metadata"]["createTime"] for op in listed]
    assert times == sorted(times, reverse=True)
    assert [op["name"] for op in listed] == names[::-1]


def test_inline_answer_has_the_cookbook_response_shape(http: httpx.Client, emulator: EmulatorServer) -> None:
    """Cell 25's ``response`` object is what an inline row's ``response`` holds too (REST reference
    ``InlinedResponse``)."""
    op = create(http, [item("Explain how AI works in a few words", "k")])
    emulator.control.advance_clock(10)
    row = get(http, op["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"][0]

    contains_shape(captures_emulator.COOKBOOK_RESULT_LINE["response"], row["response"])
