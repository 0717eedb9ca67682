"""Result rows as the real service was seen to write them, rebuilt from public sources.

Each constant names its source. Result lines are bytes, one JSON object per line ending in ``\\n``.
Where a source printed a line pretty-printed (``json.dumps(..., indent=2)`` of the parsed line),
the line is rebuilt compactly with the source's own field order and values.

Sources
-------
COOKBOOK
    google-gemini/cookbook ``quickstarts/Batch_mode.ipynb`` saved outputs (mirror commit
    f1e7e3de6004e6ca604b174684ecf89d628ac6c4): cell 19 (batch name), cell 25 (the text result
    file ``files/batch-o08hk76gv328ihxcssjsgwt3g6omtfysxi46``: two ``response`` lines with
    ``thoughtsTokenCount``, ``response`` before ``key``, int counters as JSON numbers), cell 48
    (the embeddings result lines: ``{"response":{"tokenCount":"1","embedding":{...}},"key":...}``,
    printed verbatim, int64 ``tokenCount`` as a string).
LIVE_CAPTURE
    IF-Solucoes/lupa ``tests/test_gemini.py`` (commit ddd4fc0e77aa24bb07d9bb9393ea14fdd816d942):
    a finished Operation as the live API returned it on 2026-08-20, the envelope used by
    :func:`finished_operation` (``v1main`` ``@type``, ``done``, ``response`` mirror of
    ``metadata.output``, int64 ``batchStats`` strings, zero counters omitted). The inline result
    shape is the REST reference's ``InlinedResponse``; the per-row message "Request contains an
    invalid argument." is the canonical text of gRPC code 3 (google/rpc/code.proto).
USER_REPORT
    Users' reports with no public copy (the SAFETY line's class is public: google/langextract
    issue #527), quoting lines users hit:
    ``{"key":"k2","response":{"candidates":[{"finishReason":"SAFETY","index":0}]}}`` and
    ``{"status":{"code":3,"message":"..."},"key":"k2"}``.
GENAI_DOCS_235
    google/generative-ai-docs issue #235 "Missing content field when finishReason is other than
    STOP": a candidate ``{"finishReason": "MAX_TOKENS", "index": 0, ...}`` without ``content``
    (description), and ``{"candidates":[{"finishReason":"OTHER","index":0}],"usageMetadata":
    {"promptTokenCount":171,"totalTokenCount":171}}`` (comment of 2024-06-28). These are the
    GenerateContentResponse objects a batch row wraps under ``response``; safety ratings the
    source elided (``[...]``) are left out.
PROMPT_BLOCK
    A blocked prompt answers ``{"promptFeedback": {"blockReason": ...}}`` with no candidates:
    experientiallabs/experiential PR #783 (blockReason SAFETY | PROHIBITED_CONTENT | BLOCKLIST |
    OTHER, no ``candidates``), simonw/llm-gemini PR #144 (the reported example is
    ``PROHIBITED_CONTENT``); google/langextract issue #527: such Gemini *batch* items were
    silently stored as successful empty results.
THOUGHTS_ONLY
    A thinking model spends the output budget on thoughts and returns no answer text:
    NousResearch/hermes-agent PR #87209 and vectorize-io/hindsight PR #3405 (thought tokens count
    against ``maxOutputTokens``; "empty content"). Thought parts carry ``"thought": true``
    (REST reference ``Part.thought``). Counter values here are the cookbook's (cell 25).
VERTEX_STATUS
    google/langextract PR #537 ("Recognize Vertex's top-level status error messages"): Vertex
    batch output lines carry a top-level ``status`` error message. That it is a string, empty on
    success, is our reading of the PR, not a quoted payload.
KEYLESS
    Inline requests need no key (cookbook cell 28: "the order of responses will match the order of
    requests"); results then carry no ``metadata`` (python-genai issue #2008, js-genai issue
    #1191: InlinedResponse without metadata); input lines without a key give result lines without
    one (the Batch API guide's curl sample uploads bare request lines); python-genai issue #1909: inline
    responses came back out of order on a large batch.
"""

from __future__ import annotations

import json
from typing import Any

API = "v1beta"


def line(obj: dict[str, Any]) -> bytes:
    """One compact JSONL line (field order as given), ending in ``\\n``."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def finished_operation(
    batch_id: str,
    *,
    request_count: int,
    responses_file: str | None = None,
    inlined: list[dict[str, Any]] | None = None,
    kind: str = "GenerateContentBatch",
    model: str = "models/gemini-2.5-flash",
) -> dict[str, Any]:
    """A SUCCEEDED batch Operation in the LIVE_CAPTURE envelope (int64 counters as strings)."""
    output: dict[str, Any]
    if responses_file is not None:
        output = {"responsesFile": responses_file}
    else:
        output = {"inlinedResponses": {"inlinedResponses": inlined or []}}
    name = f"batches/{batch_id}"
    return {
        "name": name,
        "metadata": {
            "@type": f"type.googleapis.com/google.ai.generativelanguage.v1main.{kind}",
            "name": name,
            "model": model,
            "output": output,
            "createTime": "2025-07-01T21:19:31.015405218Z",
            "endTime": "2025-07-01T21:24:25.852081585Z",
            "batchStats": {"requestCount": str(request_count), "successfulRequestCount": str(request_count)},
            "state": "BATCH_STATE_SUCCEEDED",
        },
        "done": True,
        "response": {
            "@type": f"type.googleapis.com/google.ai.generativelanguage.v1main.{kind}Output",
            **output,
        },
    }


# ---- COOKBOOK cell 25: the text batch's two result lines ----------------------------------------

COOKBOOK_TEXT_BATCH_ID = "o08hk76gv328ihxcssjsgwt3g6omtfysxi46"
COOKBOOK_TEXT_RESULTS_FILE = f"files/batch-{COOKBOOK_TEXT_BATCH_ID}"

COOKBOOK_TEXT_RESPONSE_1: dict[str, Any] = {
    "responseId": "6VFkaIDwEPXVjMcP4-XW6Qo",
    "usageMetadata": {
        "totalTokenCount": 848,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
        "thoughtsTokenCount": 829,
        "candidatesTokenCount": 11,
        "promptTokenCount": 8,
    },
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [{"text": "AI learns patterns from data to make decisions or predictions."}],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "modelVersion": "gemini-2.5-flash",
}
COOKBOOK_TEXT_RESPONSE_2: dict[str, Any] = {
    "modelVersion": "gemini-2.5-flash",
    "candidates": [
        {
            "index": 0,
            "finishReason": "STOP",
            "content": {
                "role": "model",
                "parts": [
                    {
                        "text": "Quantum computers use **qubits** that can be 0, 1, or both simultaneously "
                        "(**superposition**), and be interconnected (**entanglement**). They manipulate "
                        "these states, causing correct answers to **reinforce** and incorrect ones to "
                        "cancel out, to solve complex problems by exploring vast possibilities at once."
                    }
                ],
            },
        }
    ],
    "responseId": "7FFkaJK7EaWOjMcP-LvX2AQ",
    "usageMetadata": {
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
        "candidatesTokenCount": 63,
        "promptTokenCount": 9,
        "thoughtsTokenCount": 1180,
        "totalTokenCount": 1252,
    },
}
COOKBOOK_TEXT_LINE_1 = line({"response": COOKBOOK_TEXT_RESPONSE_1, "key": "request_1"})
COOKBOOK_TEXT_LINE_2 = line({"response": COOKBOOK_TEXT_RESPONSE_2, "key": "request_2"})
COOKBOOK_TEXT_RESULT_LINES = COOKBOOK_TEXT_LINE_1 + COOKBOOK_TEXT_LINE_2
COOKBOOK_TEXT_BATCH_DONE = finished_operation(
    COOKBOOK_TEXT_BATCH_ID, request_count=2, responses_file=COOKBOOK_TEXT_RESULTS_FILE
)

# ---- COOKBOOK cell 48: the embeddings batch's result lines (verbatim) ---------------------------

COOKBOOK_EMBED_BATCH_ID = "2icf9ky95pieco1jwucta7drijo5k8hjllzj"
#: The live naming rule ``files/batch-<batchId>`` (LIVE_CAPTURE); cell 48 reads it from the job.
COOKBOOK_EMBED_RESULTS_FILE = f"files/batch-{COOKBOOK_EMBED_BATCH_ID}"
COOKBOOK_EMBED_RESULT_LINES = (
    b'{"response":{"tokenCount":"1","embedding":{"values":[-0.034119852,0.0025719088,0.017325249]}},'
    b'"key":"request_1"}\n'
    b'{"response":{"tokenCount":"1","embedding":{"values":[0.020208105,-0.016668973,-0.011120025,'
    b'-0.063684635]}},"key":"request_2"}\n'
)
COOKBOOK_EMBED_BATCH_DONE = finished_operation(
    COOKBOOK_EMBED_BATCH_ID,
    request_count=2,
    responses_file=COOKBOOK_EMBED_RESULTS_FILE,
    kind="EmbedContentBatch",
    model="models/gemini-embedding-001",
)

# ---- Users' reports: rows that carry a response but no usable answer, and per-row errors --------

#: USER_REPORT (class reported for Gemini batch in google/langextract issue #527).
REPORTED_SAFETY_LINE = b'{"key":"k2","response":{"candidates":[{"finishReason":"SAFETY","index":0}]}}\n'
#: GENAI_DOCS_235 description: cut at the token limit, no content.
DOCS235_MAX_TOKENS_LINE = line(
    {"key": "k3", "response": {"candidates": [{"finishReason": "MAX_TOKENS", "index": 0}]}}
)
#: GENAI_DOCS_235 comment of 2024-06-28: stopped for OTHER, prompt tokens billed.
DOCS235_OTHER_LINE = line(
    {
        "key": "k4",
        "response": {
            "candidates": [{"finishReason": "OTHER", "index": 0}],
            "usageMetadata": {"promptTokenCount": 171, "totalTokenCount": 171},
        },
    }
)
#: PROMPT_BLOCK: the prompt itself refused, no candidates.
PROMPT_BLOCKED_LINE = line(
    {"key": "k5", "response": {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}}
)
#: USER_REPORT: the per-row error under ``status`` (message: gRPC code 3's canonical text).
REPORTED_STATUS_LINE = b'{"status":{"code":3,"message":"Request contains an invalid argument."},"key":"k6"}\n'
#: The same ``status`` form with a retryable gRPC code (8 RESOURCE_EXHAUSTED). Constructed: no
#: public capture of a retryable per-row code was found; the code is google/rpc/code.proto's.
STATUS_RESOURCE_EXHAUSTED_LINE = (
    b'{"status":{"code":8,"message":"Resource has been exhausted (e.g. check quota)."},"key":"k7"}\n'
)
#: THOUGHTS_ONLY: the budget went to thoughts; the only part is a thought, cut at MAX_TOKENS.
THOUGHTS_ONLY_LINE = line(
    {
        "key": "k8",
        "response": {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "Considering the question...", "thought": True}],
                    },
                    "finishReason": "MAX_TOKENS",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 8, "thoughtsTokenCount": 829, "totalTokenCount": 837},
        },
    }
)
#: THOUGHTS_ONLY, ended STOP: nothing but thoughts to show.
THOUGHTS_ONLY_STOP_LINE = line(
    {
        "key": "k9",
        "response": {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "Thinking it over.", "thought": True}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ]
        },
    }
)
#: VERTEX_STATUS: ``status`` as a plain string.
VERTEX_STATUS_STRING_LINE = line({"key": "k10", "status": "Bad Request: the request is invalid."})

#: One file batch holding every user-reported shape above plus the cookbook's first success.
REPORTED_BATCH_ID = "rowsreported0000000000000000000000000"
REPORTED_RESULTS_FILE = f"files/batch-{REPORTED_BATCH_ID}"
REPORTED_RESULT_LINES = (
    COOKBOOK_TEXT_LINE_1
    + REPORTED_SAFETY_LINE
    + DOCS235_MAX_TOKENS_LINE
    + DOCS235_OTHER_LINE
    + PROMPT_BLOCKED_LINE
    + REPORTED_STATUS_LINE
    + STATUS_RESOURCE_EXHAUSTED_LINE
    + THOUGHTS_ONLY_LINE
    + THOUGHTS_ONLY_STOP_LINE
    + VERTEX_STATUS_STRING_LINE
)
REPORTED_BATCH_DONE = finished_operation(
    REPORTED_BATCH_ID, request_count=10, responses_file=REPORTED_RESULTS_FILE
)

#: ``key -> (status, outcome, reason, retryable)`` each reported line must land with.
REPORTED_EXPECTED: dict[str, tuple[str, str, str | None, bool | None]] = {
    "request_1": ("succeeded", "succeeded", None, None),
    "k2": ("failed", "stopped", "SAFETY", False),
    "k3": ("failed", "max_tokens", "MAX_TOKENS", False),
    "k4": ("failed", "stopped", "OTHER", False),
    "k5": ("failed", "blocked", "PROHIBITED_CONTENT", False),
    "k6": ("failed", "error", "INVALID_ARGUMENT", False),
    "k7": ("failed", "error", "RESOURCE_EXHAUSTED", True),
    "k8": ("failed", "max_tokens", "MAX_TOKENS", False),
    "k9": ("failed", "no_output", "ONLY_THOUGHTS", False),
    "k10": ("failed", "error", None, False),
}

# ---- KEYLESS and duplicate keys ----------------------------------------------------------------

#: An inline batch of the cookbook's two keyless requests (cell 28): responses without metadata.
KEYLESS_BATCH_ID = "rowskeyless00000000000000000000000000"
KEYLESS_INLINED = [{"response": COOKBOOK_TEXT_RESPONSE_1}, {"response": COOKBOOK_TEXT_RESPONSE_2}]
KEYLESS_BATCH_DONE = finished_operation(KEYLESS_BATCH_ID, request_count=2, inlined=KEYLESS_INLINED)
#: The same two responses where the batch reports three requests: one result is missing.
KEYLESS_SHORT_BATCH_ID = "rowskeylessshort000000000000000000000"
KEYLESS_SHORT_BATCH_DONE = finished_operation(
    KEYLESS_SHORT_BATCH_ID, request_count=3, inlined=KEYLESS_INLINED
)

#: Duplicate keys (results are joined by key, python-genai issue #1909): the cookbook's lines
#: with ``request_1`` twice. Constructed from COOKBOOK cell 25.
DUPLICATE_BATCH_ID = "rowsduplicate000000000000000000000000"
DUPLICATE_RESULTS_FILE = f"files/batch-{DUPLICATE_BATCH_ID}"
DUPLICATE_RESULT_LINES = COOKBOOK_TEXT_LINE_1 + COOKBOOK_TEXT_LINE_2 + COOKBOOK_TEXT_LINE_1
DUPLICATE_BATCH_DONE = finished_operation(
    DUPLICATE_BATCH_ID, request_count=3, responses_file=DUPLICATE_RESULTS_FILE
)
