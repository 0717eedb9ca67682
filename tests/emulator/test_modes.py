"""Raw-HTTP tests of the named modes (behaviours the live service was seen to show) and ``fields``.

Each mode's source is in ``airflow_provider_gemini_batch/emulator/modes.py`` and docs/emulator.md.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.test_batches import MODEL_PATH, create, get, inline_body, item, upload

POLL_FIELDS = "name,done,error,metadata(state,batchStats,createTime,updateTime,endTime,output/responsesFile)"


def inline_responses(op: dict) -> list[dict]:
    return op["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]


def test_unknown_mode_is_refused_with_the_known_names(emulator: EmulatorServer) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        emulator.control.set_modes("no_such_mode")
    assert "shuffle_inline" in caught.value.response.text


def test_modes_lists_every_mode_with_its_source(emulator: EmulatorServer) -> None:
    emulator.control.set_modes("row_status")
    listing = emulator.control.modes()
    assert listing["active"] == ["row_status"]
    assert all(entry["source"] for entry in listing["known"].values())


# ---- shuffled inline responses, responses without metadata ------------------------------------


def test_shuffle_inline_returns_responses_out_of_request_order(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """python-genai #1909: inlinedResponses not in request order; the keys still join."""
    emulator.control.set_modes("shuffle_inline")
    keys = [f"k{i}" for i in range(6)]
    op = create(http, [item(f"prompt {k}", k) for k in keys])
    emulator.control.advance_clock(10)

    rows = inline_responses(get(http, op["name"]))

    got = [row["metadata"]["key"] for row in rows]
    assert sorted(got) == keys
    assert got != keys
    for row in rows:
        assert row["response"]["candidates"][0]["content"]["parts"][0]["text"].endswith(
            "prompt " + row["metadata"]["key"]
        )


def test_inline_without_metadata_drops_the_echo(http: httpx.Client, emulator: EmulatorServer) -> None:
    """python-genai #2008 / js-genai #1191: responses carry no metadata."""
    emulator.control.set_modes("inline_without_metadata")
    op = create(http, [item("a", "k1"), item("b", "k2")])
    emulator.control.advance_clock(10)

    rows = inline_responses(get(http, op["name"]))

    assert [sorted(row) for row in rows] == [["response"], ["response"]]


# ---- per-key visibility ------------------------------------------------------------------------


def test_per_key_visibility_hides_batches_and_files_from_other_keys(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """A user's report (no public capture): a batch is visible only to the key that created it (404 for
    another)."""
    emulator.control.configure(modes=["per_key_visibility"], extra_api_keys=["other-key"])
    op = create(http, [item("a", "k1")])
    file_name = upload(http, b'{"key":"k","request":{"contents":[{"parts":[{"text":"x"}]}]}}\n')
    other = {"x-goog-api-key": "other-key"}

    assert http.get(f"/v1beta/{op['name']}", headers=other).status_code == 404
    assert http.post(f"/v1beta/{op['name']}:cancel", headers=other).status_code == 404
    # Another project's file: the Files API's 403 "... or it may not exist" (python-genai #1218).
    assert http.get(f"/v1beta/{file_name}", headers=other).status_code == 403
    assert http.get("/v1beta/batches", headers=other).json() == {}
    assert http.get("/v1beta/files", headers=other).json() == {}
    refused = http.post(MODEL_PATH, json={"batch": {"inputConfig": {"fileName": file_name}}}, headers=other)
    assert refused.status_code == 403
    # The creating key still sees both.
    assert get(http, op["name"])["name"] == op["name"]
    assert get(http, file_name)["name"] == file_name


# ---- cancel that still succeeds ----------------------------------------------------------------


def test_cancel_still_succeeds_accepts_the_cancel_and_ends_succeeded(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """A user's report (no public capture): a cancelled batch has been seen to end SUCCEEDED, with its
    results."""
    emulator.control.set_modes("cancel_still_succeeds")
    op = create(http, [item("a", "k1"), item("b", "k2")])
    emulator.control.advance_clock(0.1)
    assert http.post(f"/v1beta/{op['name']}:cancel").json() == {}
    emulator.control.advance_clock(10)

    done = get(http, op["name"])

    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert len(inline_responses(done)) == 2


# ---- strict request fields ---------------------------------------------------------------------


def test_strict_request_fields_refuses_file_lines_with_the_real_message(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """inspect_ai #3257: 400 'Error on line N: invalid JSON, near column C: no such field: ...'."""
    emulator.control.set_modes("strict_request_fields")
    good = {"key": "k1", "request": {"contents": [{"parts": [{"text": "x"}]}]}}
    bad = {
        "key": "k2",
        "request": {"contents": [{"parts": [{"text": "x"}]}], "thinking_config": {"thinking_budget": 0}},
    }
    lines = [json.dumps(good), json.dumps(bad), json.dumps(bad)]
    file_name = upload(http, ("\n".join(lines) + "\n").encode())

    response = http.post(MODEL_PATH, json={"batch": {"inputConfig": {"fileName": file_name}}})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    column = lines[1].index('"thinking_config"') + 1
    assert error["message"].split("\n") == [
        f"Error on line 2: invalid JSON, near column {column}: no such field: 'thinking_config'",
        f"Error on line 3: invalid JSON, near column {column}: no such field: 'thinking_config'",
    ]
    assert http.get("/v1beta/batches").json() == {}


def test_strict_request_fields_checks_inline_requests_and_accepts_both_spellings(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.set_modes("strict_request_fields")
    fine = {"request": {"contents": [{"parts": [{"text": "x"}]}], "generation_config": {}}}
    wrong = {"request": {"contents": [{"parts": [{"text": "x"}]}], "config": {"temperature": 0}}}

    assert http.post(MODEL_PATH, json=inline_body([fine])).status_code == 200
    refused = http.post(MODEL_PATH, json=inline_body([fine, wrong]))
    assert refused.status_code == 400
    assert refused.json()["error"]["message"].startswith("Error on line 2: ")
    assert "no such field: 'config'" in refused.json()["error"]["message"]


def test_without_strict_mode_unknown_fields_pass(http: httpx.Client) -> None:
    wrong = {"request": {"contents": [{"parts": [{"text": "x"}]}], "thinking_config": {}}}
    assert http.post(MODEL_PATH, json=inline_body([wrong])).status_code == 200


# ---- files briefly PROCESSING ------------------------------------------------------------------


def test_files_processing_refuses_create_until_the_file_is_active(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """sourcelibrary-v2 PR #2186: create on a PROCESSING file -> 400 FAILED_PRECONDITION."""
    emulator.control.configure(modes=["files_processing"], file_processing_seconds=5)
    file_name = upload(http, b'{"key":"k","request":{"contents":[{"parts":[{"text":"x"}]}]}}\n')
    body = {"batch": {"inputConfig": {"fileName": file_name}}}

    assert get(http, file_name)["state"] == "PROCESSING"
    refused = http.post(MODEL_PATH, json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "FAILED_PRECONDITION"

    emulator.control.advance_clock(5)
    assert get(http, file_name)["state"] == "ACTIVE"
    assert http.post(MODEL_PATH, json=body).status_code == 200


# ---- SUCCEEDED without output, per-row status ----------------------------------------------------


def test_succeeded_without_output_has_no_output_reference(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """A user's report (no public capture): ``{"done": true, "metadata": {"state":
    "BATCH_STATE_SUCCEEDED"}}``."""
    emulator.control.set_modes("succeeded_without_output")
    op = create(http, [item("a", "k1")])
    emulator.control.advance_clock(10)

    done = get(http, op["name"])

    assert done["done"] is True
    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert "output" not in done["metadata"]
    assert "response" not in done


def test_row_status_writes_per_row_errors_as_status(http: httpx.Client, emulator: EmulatorServer) -> None:
    """The guide's 'status object' lines, in the form a user reported: ``{"status": {...}, "key": ...}``."""
    emulator.control.set_modes("row_status")
    lines = [
        {"key": "ok", "request": {"contents": [{"parts": [{"text": "x"}]}]}},
        {"key": "bad", "request": {"contents": []}},
    ]
    file_name = upload(http, "".join(json.dumps(line) + "\n" for line in lines).encode())
    op = http.post(MODEL_PATH, json={"batch": {"inputConfig": {"fileName": file_name}}}).json()
    emulator.control.advance_clock(10)
    output = get(http, op["name"])["metadata"]["output"]["responsesFile"]

    rows = [json.loads(line) for line in http.get(f"/v1beta/{output}:download?alt=media").text.splitlines()]

    assert list(rows[0]) == ["response", "key"]
    assert list(rows[1]) == ["status", "key"]
    assert rows[1]["status"]["code"] == 3


# ---- state spellings ---------------------------------------------------------------------------


def test_state_names_give_sdk_spellings_or_unknown_states(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """python-genai ``types.JobState``: JOB_STATE_QUEUED (SDK/Vertex spelling) and states a client does not
    know."""
    emulator.control.configure(
        processing_seconds=10, state_names={"PENDING": "JOB_STATE_QUEUED", "RUNNING": "BATCH_STATE_PAUSED"}
    )
    op = create(http, [item("a", "k1")])
    assert op["metadata"]["state"] == "JOB_STATE_QUEUED"
    emulator.control.advance_clock(5)
    assert get(http, op["name"])["metadata"]["state"] == "BATCH_STATE_PAUSED"
    emulator.control.advance_clock(10)
    assert get(http, op["name"])["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"


# ---- fields: honoured by default, refused in a mode; huge answers 503 ----------------------------


def test_fields_selects_only_the_requested_paths(http: httpx.Client, emulator: EmulatorServer) -> None:
    op = create(http, [item("a", "k1")], displayName="light")
    emulator.control.advance_clock(10)

    light = http.get(f"/v1beta/{op['name']}", params={"fields": POLL_FIELDS}).json()

    assert set(light) == {"name", "done", "metadata"}
    assert set(light["metadata"]) == {"state", "batchStats", "createTime", "updateTime", "endTime"}
    assert "output" not in light["metadata"]  # inline output is not output/responsesFile


def test_fields_keeps_output_responses_file_and_applies_to_list_elements(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    file_name = upload(http, b'{"key":"k","request":{"contents":[{"parts":[{"text":"x"}]}]}}\n')
    op = http.post(MODEL_PATH, json={"batch": {"inputConfig": {"fileName": file_name}}}).json()
    emulator.control.advance_clock(10)

    light = http.get(f"/v1beta/{op['name']}", params={"fields": POLL_FIELDS}).json()
    listed = http.get("/v1beta/batches", params={"fields": "operations(name,metadata/state)"}).json()

    assert light["metadata"]["output"] == {"responsesFile": f"files/batch-{op['name'].split('/')[1]}"}
    assert listed == {"operations": [{"name": op["name"], "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}]}


def test_malformed_fields_is_invalid_argument(http: httpx.Client) -> None:
    assert http.get("/v1beta/batches", params={"fields": "operations(name"}).status_code == 400


def test_refuse_fields_mode_answers_400_to_fields(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.set_modes("refuse_fields")
    op = create(http, [item("a", "k1")])

    refused = http.get(f"/v1beta/{op['name']}", params={"fields": POLL_FIELDS})

    assert refused.status_code == 400
    assert http.get(f"/v1beta/{op['name']}").status_code == 200


def test_huge_inline_503_fails_full_gets_but_light_polls_work(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """discuss.ai.google.dev thread 113603: a huge inline batch made every full GET answer 503."""
    emulator.control.configure(modes=["huge_inline_503"], huge_output_bytes=2_000)
    op = create(http, [item("word " * 100, f"k{i}") for i in range(5)])
    emulator.control.advance_clock(10)

    assert http.get(f"/v1beta/{op['name']}").status_code == 503
    light = http.get(f"/v1beta/{op['name']}", params={"fields": POLL_FIELDS})
    assert light.status_code == 200
    assert light.json()["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"


def test_latency_knob_delays_every_api_answer_but_not_the_control_plane(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    """``latency_seconds`` (10,000 waits against an API answering in 200 ms, as the real one does in roughly
    0.1-0.3 s) applies to
    every API answer, errors included; the control plane stays fast; reset() restores 0."""
    control = emulator.control
    assert control.configure(latency_seconds=0.3)["latency_seconds"] == 0.3
    for path in ("/v1beta/batches", "/v1beta/batches/nope"):
        started = time.perf_counter()
        http.get(path)
        assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    control.health()
    assert time.perf_counter() - started < 0.3
    with pytest.raises(httpx.HTTPStatusError):
        control.configure(latency_seconds=-1)
    control.reset()
    started = time.perf_counter()
    http.get("/v1beta/batches")
    assert time.perf_counter() - started < 0.3


def test_max_active_batches_knob_moves_the_429_limit(http: httpx.Client, emulator: EmulatorServer) -> None:
    """Create answers 429 once ``max_active_batches`` batches are in flight (default 100)."""
    emulator.control.configure(max_active_batches=1, processing_seconds=3600)
    create(http, [item("hi", "a")])
    response = http.post(MODEL_PATH, json=inline_body([item("hi", "b")]))
    assert response.status_code == 429
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
