"""Batch Operation shapes the real service (or its SDK's contract) was seen to produce.

Each constant names its source. Values are the source's; where a source quotes only a fragment,
the rest of the Operation is the minimal wrapper the REST reference documents
(docs/real-service/wire-format.md, The batch as returned).

Sources
-------
LIVE_CAPTURE
    IF-Solucoes/lupa ``tests/test_gemini.py`` (commit ddd4fc0e77aa24bb07d9bb9393ea14fdd816d942):
    a finished file batch as the live service returned it on 2026-08-20: output mirrored in ``response`` and
    ``metadata.output``, ``v1main`` in ``@type``, zero counters omitted.
USER_REPORT_BARE
    A user's report with no public copy: a finished batch answered without any output reference.
SDK_JOBSTATE
    googleapis/python-genai ``google/genai/types.py`` ``class JobState`` (commit
    66807187f2123c6676175ac991f4e34eb09200d1): QUEUED, CANCELLING ("may only go to either
    SUCCEEDED, FAILED or CANCELLED"), PARTIALLY_SUCCEEDED ("some results may be missing").
SDK_EMBED
    googleapis/python-genai ``google/genai/batches.py`` (same commit) reads inline embedding
    results from ``inlinedEmbedContentResponses.inlinedResponses``.
BARE_LIST
    Third-party Gemini batch clients' tests (code corpus: ``"inlinedResponses": [{"response": ...``
    under ``response`` with ``JOB_STATE_SUCCEEDED``) replay inline results as a bare list.
REST_404
    The real 404 body quoted in Wei-Shaw/sub2api issue #612: ``{"error": {"code": 404, "message":
    "Requested entity was not found.", "status": "NOT_FOUND"}}``.
FILES_PROCESSING
    Embassy-of-the-Free-Mind/sourcelibrary-v2 pull request #2186: creating a batch right after
    ``files.upload`` failed with ``400 FAILED_PRECONDITION`` while the JSONL was ``PROCESSING``;
    polling ``files.get`` until ``ACTIVE`` (bailing on ``FAILED``) fixed it.
"""

from __future__ import annotations

import copy
from typing import Any

BATCH_ID = "3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"
BATCH_NAME = f"batches/{BATCH_ID}"
RESULT_FILE = f"files/batch-{BATCH_ID}"

#: LIVE_CAPTURE: the finished file batch, as captured.
LIVE_FILE_BATCH_SUCCEEDED: dict[str, Any] = {
    "name": BATCH_NAME,
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "name": BATCH_NAME,
        "model": "models/gemini-3.5-flash-lite",
        "displayName": "lupa-batch",
        "inputConfig": {"fileName": "files/voe5u4gdj968"},
        "output": {"responsesFile": RESULT_FILE},
        "createTime": "2026-08-20T20:08:31.015405218Z",
        "endTime": "2026-08-20T20:10:25.852081585Z",
        "batchStats": {"requestCount": "9", "successfulRequestCount": "9"},
        "state": "BATCH_STATE_SUCCEEDED",
    },
    "done": True,
    "response": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
        "responsesFile": RESULT_FILE,
    },
}


def live_in_state(state: str, *, done: bool | None = None, output: bool = False) -> dict[str, Any]:
    """The LIVE_CAPTURE Operation in another state (output and ``done`` only when asked)."""
    op = copy.deepcopy(LIVE_FILE_BATCH_SUCCEEDED)
    op["metadata"]["state"] = state
    if not output:
        op["metadata"].pop("output")
        op.pop("response")
        op["metadata"].pop("endTime")
    if done is None:
        op.pop("done")
    else:
        op["done"] = done
    return op


#: USER_REPORT_BARE: SUCCEEDED, done, and no output reference anywhere.
BARE_SUCCEEDED: dict[str, Any] = {"done": True, "metadata": {"state": "BATCH_STATE_SUCCEEDED"}}

#: BARE_LIST: inline results as a bare list under ``response`` (SDK state spelling as quoted).
BARE_LIST_INLINE: dict[str, Any] = {
    "name": "batches/job-1",
    "done": True,
    "metadata": {"state": "JOB_STATE_SUCCEEDED"},
    "response": {
        "inlinedResponses": [
            {
                "metadata": {"key": "k1"},
                "response": {"candidates": [{"content": {"parts": [{"text": "ok"}]}}]},
            }
        ]
    },
}

#: SDK_EMBED: inline embedding results under the container name the SDK reads.
EMBED_INLINE: dict[str, Any] = {
    "name": "batches/embed-1",
    "done": True,
    "metadata": {
        "state": "BATCH_STATE_SUCCEEDED",
        "output": {
            "inlinedEmbedContentResponses": {
                "inlinedResponses": [{"response": {"embedding": {"values": [0.1, 0.2]}}}]
            }
        },
    },
}

#: REST_404: the body of a 404 on a batch (also what another key's batch answers).
NOT_FOUND_BODY: dict[str, Any] = {
    "error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}
}

#: A 400 for a request the service refuses (``google.rpc.Status`` envelope; the message is our choice).
INVALID_ARGUMENT_BODY: dict[str, Any] = {
    "error": {"code": 400, "message": "Invalid field mask.", "status": "INVALID_ARGUMENT"}
}


#: FILES_PROCESSING: the cookbook's uploaded file (tests/real_service/captures.py) while processing.
def file_in_state(
    file_resource: dict[str, Any], state: str, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    out = dict(file_resource, state=state)
    if error is not None:
        out["error"] = error
    return out
