"""Raw-HTTP tests of batches: lazy state machine, Operation shape, fake model, outcomes, limits, faults."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer, fake_model
from airflow_provider_gemini_batch.emulator.guard import credential_mark

MODEL_PATH = "/v1beta/models/gemini-2.5-flash:batchGenerateContent"


def inline_body(requests: list[dict], **batch: object) -> dict:
    return {"batch": {"inputConfig": {"requests": {"requests": requests}}, **batch}}


def item(text: str, key: str) -> dict:
    return {"request": {"contents": [{"parts": [{"text": text}]}]}, "metadata": {"key": key}}


def create(http: httpx.Client, requests: list[dict], **batch: object) -> dict:
    response = http.post(MODEL_PATH, json=inline_body(requests, **batch))
    assert response.status_code == 200, response.text
    return response.json()


def upload(http: httpx.Client, data: bytes) -> str:
    start = http.post(
        "/upload/v1beta/files",
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(data)),
        },
        json={},
    )
    final = httpx.post(
        start.headers["x-goog-upload-url"],
        content=data,
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
    )
    return final.json()["file"]["name"]


def get(http: httpx.Client, name: str) -> dict:
    response = http.get(f"/v1beta/{name}")
    assert response.status_code == 200, response.text
    return response.json()


# ---- state machine and Operation shape ---------------------------------------------------------


def test_lifecycle_pending_running_succeeded_by_emulator_clock(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.configure(processing_seconds=100)
    op = create(http, [item("a", "k1"), item("b", "k2")], displayName="life")

    assert op["metadata"]["state"] == "BATCH_STATE_PENDING"
    assert "done" not in op
    assert "response" not in op
    assert "endTime" not in op["metadata"]
    assert op["metadata"]["batchStats"] == {"requestCount": "2", "pendingRequestCount": "2"}
    emulator.control.advance_clock(50)
    running = get(http, op["name"])
    assert running["metadata"]["state"] == "BATCH_STATE_RUNNING"
    assert "done" not in running
    emulator.control.advance_clock(50)
    done = get(http, op["name"])

    meta = done["metadata"]
    assert meta["state"] == "BATCH_STATE_SUCCEEDED"
    assert done["done"] is True
    assert meta["batchStats"] == {"requestCount": "2", "successfulRequestCount": "2"}
    assert meta["@type"].endswith("GenerateContentBatch")
    assert meta["name"] == done["name"]
    assert meta["displayName"] == "life"
    assert meta["model"] == "models/gemini-2.5-flash"
    assert meta["endTime"] >= meta["createTime"]
    inlined = meta["output"]["inlinedResponses"]["inlinedResponses"]
    assert [r["metadata"]["key"] for r in inlined] == ["k1", "k2"]
    assert done["response"]["@type"].endswith("GenerateContentBatchOutput")
    assert done["response"]["inlinedResponses"] == meta["output"]["inlinedResponses"]


def test_fake_model_answer_and_token_counts(http: httpx.Client, emulator: EmulatorServer) -> None:
    request = {"contents": [{"parts": [{"text": "one two"}, {"text": "three"}]}]}
    op = create(http, [{"request": request}])
    emulator.control.advance_clock(10)

    response = get(http, op["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"][0][
        "response"
    ]

    assert response["candidates"][0]["content"]["parts"][0]["text"] == fake_model.expected_text(request)
    assert fake_model.expected_text(request) == "Emulated answer to: one two\nthree"
    # Key set as the cookbook's result lines (Batch_mode.ipynb cell 25 output): thinking tokens
    # are counted in the total.
    assert response["usageMetadata"] == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 6,
        "thoughtsTokenCount": 18,
        "totalTokenCount": 27,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
    }


def test_invalid_requests_get_code_3_while_the_batch_succeeds(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    op = create(
        http,
        [
            item("fine", "ok"),
            {"request": {"generationConfig": {}}, "metadata": {"key": "no-contents"}},
            {"request": {"contents": [{"parts": [{"bogus": 1}]}]}, "metadata": {"key": "bad-part"}},
        ],
    )
    emulator.control.advance_clock(10)

    done = get(http, op["name"])

    assert done["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert done["metadata"]["batchStats"] == {
        "requestCount": "3",
        "successfulRequestCount": "1",
        "failedRequestCount": "2",
    }
    results = {
        r["metadata"]["key"]: r for r in done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    }
    for key in ("no-contents", "bad-part"):
        assert results[key]["error"]["code"] == 3
        assert "details" not in results[key]["error"]
    assert "response" in results["ok"]


def test_file_batch_result_lines_follow_input_lines_with_and_without_keys(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    lines = [
        {"key": "a", "request": {"contents": [{"parts": [{"text": "A"}]}]}},
        {"contents": [{"parts": [{"text": "bare"}]}]},
        "not json",
        {"key": "c", "request": {}},
    ]
    data = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n\n"
    name = upload(http, data)
    op = http.post(MODEL_PATH, json={"batch": {"input_config": {"file_name": name}}}).json()
    assert op["metadata"]["inputConfig"] == {"fileName": name}
    emulator.control.advance_clock(10)

    done = get(http, op["name"])
    out = http.get(
        f"/download/v1beta/{done['metadata']['output']['responsesFile']}:download", params={"alt": "media"}
    )

    results = [json.loads(x) for x in out.text.splitlines()]
    assert len(results) == 4
    assert results[0]["key"] == "a"
    assert "response" in results[0]
    assert "key" not in results[1]
    assert (
        results[1]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Emulated answer to: bare"
    )
    assert results[2]["error"]["code"] == 3
    assert results[3] == {"key": "c", "error": results[3]["error"]}
    assert results[3]["error"]["code"] == 3
    assert done["metadata"]["batchStats"]["failedRequestCount"] == "2"
    assert done["response"]["responsesFile"] == done["metadata"]["output"]["responsesFile"]


def test_result_file_metadata_and_both_download_paths(http: httpx.Client, emulator: EmulatorServer) -> None:
    name = upload(
        http, json.dumps({"key": "k", "request": {"contents": [{"parts": [{"text": "x"}]}]}}).encode()
    )
    op = http.post(MODEL_PATH, json={"batch": {"inputConfig": {"fileName": name}}}).json()
    emulator.control.advance_clock(10)
    result = get(http, op["name"])["metadata"]["output"]["responsesFile"]

    file = get(http, result)
    via_sdk_path = http.get(f"/v1beta/{result}:download", params={"alt": "media"})
    via_docs_path = http.get(f"/download/v1beta/{result}:download", params={"alt": "media"})

    assert file["source"] == "GENERATED"
    assert file["downloadUri"].endswith(f"/download/v1beta/{result}:download?alt=media")
    assert via_sdk_path.content == via_docs_path.content
    assert int(file["sizeBytes"]) == len(via_sdk_path.content)


def test_embedding_batch_uses_embed_types(http: httpx.Client, emulator: EmulatorServer) -> None:
    request = {"content": {"parts": [{"text": "vec"}]}, "outputDimensionality": 5}
    op = http.post(
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        json={"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}},
    ).json()
    emulator.control.advance_clock(10)

    done = get(http, op["name"])

    assert done["metadata"]["@type"].endswith("EmbedContentBatch")
    assert done["response"]["@type"].endswith("EmbedContentBatchOutput")
    values = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"][0]["response"]["embedding"][
        "values"
    ]
    assert values == fake_model.expected_embedding(request)
    assert abs(sum(v * v for v in values) - 1.0) < 1e-6


def test_single_quoted_snake_case_create_body_is_accepted(http: httpx.Client) -> None:
    body = (
        b"{'batch': {'display_name': 'docs', 'input_config': {'requests': {'requests': "
        b"[{'request': {'contents': [{'parts': [{'text': 'hi'}]}]}}]}}}}"
    )
    response = http.post(MODEL_PATH, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 200
    assert response.json()["metadata"]["displayName"] == "docs"


def test_create_without_input_is_invalid_argument(http: httpx.Client) -> None:
    response = http.post(MODEL_PATH, json={"batch": {"displayName": "empty"}})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_create_with_unknown_input_file_is_not_found(http: httpx.Client) -> None:
    response = http.post(MODEL_PATH, json={"batch": {"inputConfig": {"fileName": "files/nope"}}})
    # The Files API's answer for a file that does not exist (deprecated-generative-ai-js #236).
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "You do not have permission to access the File nope or it may not exist."
    )


# ---- outcomes ----------------------------------------------------------------------------------


def test_next_outcome_failed_has_top_level_error_and_no_output(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.configure(next_outcome="FAILED")
    failed = create(http, [item("x", "k")])
    other = create(http, [item("y", "k")])
    emulator.control.advance_clock(10)

    done = get(http, failed["name"])

    assert done["metadata"]["state"] == "BATCH_STATE_FAILED"
    assert done["done"] is True
    assert done["error"]["code"] == 13
    assert "output" not in done["metadata"]
    assert "response" not in done
    assert get(http, other["name"])["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"


def test_next_outcome_expired_offers_no_results(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(next_outcome="EXPIRED")
    op = create(http, [item("x", "k")])
    emulator.control.advance_clock(10)

    done = get(http, op["name"])

    assert done["metadata"]["state"] == "BATCH_STATE_EXPIRED"
    assert done["done"] is True
    assert "output" not in done["metadata"]
    assert "response" not in done


def test_job_still_running_after_48_hours_expires(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=100 * 3600)
    op = create(http, [item("x", "k")])
    emulator.control.advance_clock(47 * 3600)
    assert get(http, op["name"])["metadata"]["state"] == "BATCH_STATE_RUNNING"

    emulator.control.advance_clock(2 * 3600)

    done = get(http, op["name"])
    assert done["metadata"]["state"] == "BATCH_STATE_EXPIRED"
    assert "output" not in done["metadata"]


def test_next_outcome_cancelled_offers_half_the_results(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(next_outcome="CANCELLED")
    op = create(http, [item(str(i), f"k{i}") for i in range(4)])
    emulator.control.advance_clock(10)

    done = get(http, op["name"])

    assert done["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    results = done["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert [r["metadata"]["key"] for r in results] == ["k0", "k1"]
    assert done["metadata"]["batchStats"] == {"requestCount": "4", "successfulRequestCount": "2"}


def test_cancel_while_pending_offers_no_results(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=1000)
    op = create(http, [item("x", "k")])

    assert http.post(f"/v1beta/{op['name']}:cancel").json() == {}
    emulator.control.advance_clock(2000)

    done = get(http, op["name"])
    assert done["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    assert "output" not in done["metadata"]


def test_cancel_while_running_offers_results_finished_so_far(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.configure(processing_seconds=1000)
    op = create(http, [item(str(i), f"k{i}") for i in range(10)])
    emulator.control.advance_clock(100 + 900 * 0.35)  # 35 % through RUNNING

    http.post(f"/v1beta/{op['name']}:cancel")

    results = get(http, op["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert len(results) == 3


def test_cancel_of_a_finished_batch_is_a_no_op(http: httpx.Client, emulator: EmulatorServer) -> None:
    op = create(http, [item("x", "k")])
    emulator.control.advance_clock(10)
    assert http.post(f"/v1beta/{op['name']}:cancel").status_code == 200
    assert get(http, op["name"])["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"


def test_error_fraction_fails_the_documented_positions(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(error_fraction=0.25)
    op = create(http, [item(str(i), f"k{i}") for i in range(8)])
    emulator.control.advance_clock(10)

    results = get(http, op["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]

    failed = {i for i, r in enumerate(results) if "error" in r}
    assert failed == fake_model.injected_error_positions(8, 0.25) == {3, 7}


# ---- list / delete -----------------------------------------------------------------------------


def test_batches_list_paging_tokens_newest_first(http: httpx.Client) -> None:
    """Newest first, like the live list (cookbook Batch_mode.ipynb cell 34 output); tokens still page."""
    names = [create(http, [item("x", "k")])["name"] for _ in range(3)]

    first = http.get("/v1beta/batches", params={"pageSize": 2}).json()
    second = http.get("/v1beta/batches", params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()

    listed = [o["name"] for o in first["operations"]] + [o["name"] for o in second["operations"]]
    assert listed == names[::-1]
    assert "nextPageToken" not in second


def test_deleted_batch_404s_and_leaves_the_list(http: httpx.Client) -> None:
    op = create(http, [item("x", "k")])

    assert http.delete(f"/v1beta/{op['name']}").json() == {}

    assert http.get(f"/v1beta/{op['name']}").status_code == 404
    assert http.get("/v1beta/batches").json() == {}


# ---- limits ------------------------------------------------------------------------------------


def test_inline_create_over_20_mb_is_invalid_argument(http: httpx.Client) -> None:
    big = "x" * (20 * 1024 * 1024)
    response = http.post(MODEL_PATH, json=inline_body([item(big, "k")]))
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_101st_concurrent_job_is_refused_with_429(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=3600)
    for _ in range(100):
        create(http, [item("x", "k")])

    refused = http.post(MODEL_PATH, json=inline_body([item("x", "k")]))
    assert refused.status_code == 429
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    emulator.control.advance_clock(3600)
    assert http.post(MODEL_PATH, json=inline_body([item("x", "k")])).status_code == 200


# ---- faults and journal ------------------------------------------------------------------------


def test_status_fault_with_retry_after_applies_times_then_clears(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.inject_fault(method="GET", path=r"/batches$", status=429, retry_after=7, times=2)

    answers = [http.get("/v1beta/batches") for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "7"
    assert answers[0].json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert emulator.control.pending_faults() == []


def test_fault_matches_method_and_path_only(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.inject_fault(method="POST", path="batchGenerateContent", status=503)

    assert http.get("/v1beta/batches").status_code == 200
    assert http.post(MODEL_PATH, json=inline_body([item("x", "k")])).status_code == 503


def test_fault_path_regex_sees_the_query_string(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.inject_fault(path=r"pageSize=7", status=500)

    assert http.get("/v1beta/files", params={"pageSize": 3}).status_code == 200
    assert http.get("/v1beta/files", params={"pageSize": 7}).status_code == 500


def test_fault_custom_body_is_sent_verbatim(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.inject_fault(status=500, body=[{"error": {"code": 500, "message": "listy"}}])
    assert http.get("/v1beta/files").json() == [{"error": {"code": 500, "message": "listy"}}]


def test_delay_fault_makes_a_short_client_timeout_fire(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.inject_fault(method="GET", delay=2.0)

    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1beta/batches", timeout=0.3)


def test_clear_faults_drops_pending_faults(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.inject_fault(status=500, times=5)
    emulator.control.clear_faults()
    assert http.get("/v1beta/files").status_code == 200


def test_journal_records_requests_with_parsed_json(http: httpx.Client, emulator: EmulatorServer) -> None:
    create(http, [item("x", "k")], displayName="j")

    entry = emulator.control.journal()[-1]

    assert entry["method"] == "POST"
    assert entry["path"] == MODEL_PATH
    assert entry["query"] == ""
    assert entry["headers"]["x-goog-api-key"] == credential_mark("test-key")
    assert entry["json"]["batch"]["displayName"] == "j"
    assert entry["body_size"] > 0
    emulator.control.clear_journal()
    assert emulator.control.journal() == []


def test_reset_forgets_everything(http: httpx.Client, emulator: EmulatorServer) -> None:
    create(http, [item("x", "k")])
    emulator.control.configure(processing_seconds=99, next_outcome="FAILED")
    emulator.control.advance_clock(10)

    emulator.control.reset()

    assert http.get("/v1beta/batches").json() == {}
    settings = emulator.control.configure()
    assert settings == {
        "processing_seconds": 0.2,
        "error_fraction": 0.0,
        "next_outcome": None,
        "modes": [],
        "extra_api_keys": [],
        "file_processing_seconds": 2.0,
        "huge_output_bytes": 1_000_000,
        "state_names": {},
        "latency_seconds": 0.0,
        "max_active_batches": 100,
        "running_slots": 0,
        "error_code": 3,
        "hold_pending": 0,
        "hold_pending_seconds": None,
    }
    assert abs(emulator.control.now() - __import__("time").time()) < 5


def test_configure_rejects_an_unknown_outcome(emulator: EmulatorServer) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        emulator.control.configure(next_outcome="MAYBE")
