"""Build the ``public`` snapshots: the answers of each scenario rebuilt from public captures.

``python -m tests.parity.public`` rewrites every snapshot whose source is not ``recorded`` (a
recorded one, from ``make parity-real``, is never overwritten). Each answer names its source; the
captures themselves, with their full citations, are in ``tests/real_service/captures*.py``.

Where a scenario needs an answer no source shows, the nearest capture is used and the source says
what was changed (e.g. the cookbook's File resource with the size and hash of another input).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.parity.record import API_VERSION, DEFAULT_EMBED_MODEL, DEFAULT_MODEL, to_snapshot
from tests.parity.scenarios import ABSENT_FILE, BAD_FIELD_INPUT, SCENARIOS, TEXT_INPUT
from tests.parity.snapshot import (
    SNAPSHOT_DIR,
    Normaliser,
    decode_body,
    read_snapshot,
    snapshot_path,
    write_snapshot,
)
from tests.real_service import captures
from tests.real_service import captures_batches as cb
from tests.real_service import captures_faults as cf
from tests.real_service import captures_rows as cr
from tests.real_service.captures_input import INSPECT_3257_CREATE_ERROR

ORIGIN = "https://generativelanguage.googleapis.com"

COOKBOOK = "google-gemini/cookbook quickstarts/Batch_mode.ipynb saved outputs"
LIVE_CAPTURE = "live capture quoted in docs/real-service/batches.md (finished file batch, Aug 2026)"
UPLOAD_START = "upload start headers of the live service (docs/real-service/input.md)"
UPLOAD_FINAL = "X-Goog-Upload-Status: final, which googleapis/python-genai _api_client.py requires of it"
REST_EMPTY = "REST reference: cancel and delete answer an empty message, sent as {} in JSON"
REST_404 = "Wei-Shaw/sub2api issue #612 (the real 404 body)"
FILE_403 = (
    "langgenius/dify-plugin-daemon issue #192 (the full body) and googleapis/python-genai issue "
    "#1218: files.get of a file that is gone answers 403 PERMISSION_DENIED"
)


def _file_for(content: bytes) -> dict[str, Any]:
    """The cookbook's File resource with the size and hash (base64 of the hex digest) of ``content``."""
    digest = hashlib.sha256(content).hexdigest().encode()
    return dict(
        captures.COOKBOOK_EMBEDDINGS_FILE,
        sizeBytes=str(len(content)),
        sha256Hash=base64.b64encode(digest).decode(),
    )


def _json(body: Any, status: int = 200) -> dict[str, Any]:
    return {"status": status, "headers": None, "content": body}


_START = {"status": 200, "headers": captures.UPLOAD_START_HEADERS, "content": None}


def _upload(content: bytes) -> list[tuple[dict[str, Any], str]]:
    same = content == captures.COOKBOOK_EMBEDDINGS_INPUT
    file_source = f"{COOKBOOK} cell 42" + ("" if same else ", with this input's size and hash")
    final = {
        "status": 200,
        "headers": {"X-Goog-Upload-Status": "final"},
        "content": {"file": _file_for(content)},
    }
    read = _json(_file_for(content))
    return [
        (_START, UPLOAD_START),
        (final, f"{file_source}; {UPLOAD_FINAL}"),
        (read, f"{file_source} (files.get answers the File)"),
    ]


def _pending() -> dict[str, Any]:
    """The cookbook's created (PENDING) embeddings batch, as a generateContent batch."""
    op = copy.deepcopy(captures.COOKBOOK_EMBEDDINGS_BATCH_CREATED)
    op["metadata"]["@type"] = op["metadata"]["@type"].replace("EmbedContentBatch", "GenerateContentBatch")
    op["metadata"]["model"] = f"models/{DEFAULT_MODEL}"
    return op


def _finished(kind: str = "GenerateContentBatch", inline: bool = False) -> dict[str, Any]:
    """The live finished file batch without the display name (the scenarios set none)."""
    op = copy.deepcopy(cb.LIVE_FILE_BATCH_SUCCEEDED)
    op["metadata"].pop("displayName")
    for part in (op["metadata"], op["response"]):
        part["@type"] = part["@type"].replace("GenerateContentBatch", kind)
    if inline:
        op["metadata"].pop("inputConfig")
        output = {"inlinedResponses": {"inlinedResponses": _INLINED}}
        op["metadata"]["output"] = output
        op["response"] = {"@type": op["response"]["@type"], **output}
    return op


_INLINED = [{"response": cr.COOKBOOK_TEXT_RESPONSE_1, "metadata": {"key": "request_1"}}]
_INLINE_DONE = _finished(inline=True)
_INLINE_SOURCE = (
    f"{LIVE_CAPTURE}, output inline as the SDK reads it (googleapis/python-genai batches.py), "
    f"the response of {COOKBOOK} cell 25"
)
_DONE_SOURCE = f"{LIVE_CAPTURE}, without a display name"
_PENDING_SOURCE = f"{COOKBOOK} cell 44 (a created batch), with the @type of a generateContent batch"
# proto3 JSON leaves an empty repeated field out, so ``unreachable: []`` is not on the wire.
_PAGE = {"operations": [_INLINE_DONE], "nextPageToken": "T2"}
_CANCELLED = cb.live_in_state("BATCH_STATE_CANCELLED", done=True)
for _field in ("displayName", "inputConfig"):
    _CANCELLED["metadata"].pop(_field)
_CANCELLED["metadata"]["endTime"] = cb.LIVE_FILE_BATCH_SUCCEEDED["metadata"]["endTime"]
# One inline request, none finished: the live capture leaves zero counters out.
_CANCELLED["metadata"]["batchStats"] = {"requestCount": "1"}

_FILE_GONE = {
    "error": {
        "code": 403,
        "message": f"You do not have permission to access the File {ABSENT_FILE} or it may not exist.",
        "status": "PERMISSION_DENIED",
    }
}

#: scenario → the answers of its steps, in order, each with its source.
ANSWERS: dict[str, list[tuple[dict[str, Any], str]]] = {
    "upload_file": _upload(captures.COOKBOOK_EMBEDDINGS_INPUT),
    "create_from_file": [
        *_upload(TEXT_INPUT),
        (_json(_pending()), _PENDING_SOURCE),
        (_json(_finished()), _DONE_SOURCE),
        ({"status": 200, "headers": None, "content": cr.COOKBOOK_TEXT_RESULT_LINES}, f"{COOKBOOK} cell 25"),
    ],
    "embeddings_from_file": [
        *_upload(captures.COOKBOOK_EMBEDDINGS_INPUT),
        (_json(captures.COOKBOOK_EMBEDDINGS_BATCH_CREATED), f"{COOKBOOK} cell 44"),
        (_json(_finished("EmbedContentBatch")), f"{_DONE_SOURCE}, as an embeddings batch"),
        ({"status": 200, "headers": None, "content": cr.COOKBOOK_EMBED_RESULT_LINES}, f"{COOKBOOK} cell 48"),
    ],
    "create_inline": [
        (_json(_pending()), _PENDING_SOURCE),
        (_json(_pending()), _PENDING_SOURCE),
        (_json(_INLINE_DONE), _INLINE_SOURCE),
        (_json(_PAGE), "a page of one operation and a next-page token (docs/real-service/batches.md)"),
    ],
    "cancel_batch": [
        (_json(_pending()), _PENDING_SOURCE),
        (_json({}), REST_EMPTY),
        (_json(_CANCELLED), f"{LIVE_CAPTURE}, in state CANCELLED with one request counted (rebuilt)"),
    ],
    "delete_batch": [
        (_json(_pending()), _PENDING_SOURCE),
        (_json({}), REST_EMPTY),
        (_json({}), REST_EMPTY),
        (_json(cb.NOT_FOUND_BODY, 404), REST_404),
    ],
    "unknown_batch": [(_json(cb.NOT_FOUND_BODY, 404), REST_404)],
    "missing_file": [(_json(_FILE_GONE, 403), FILE_403)],
    "delete_missing_file": [
        (
            _json(_FILE_GONE, 403),
            f"{FILE_403}; google-gemini/deprecated-generative-ai-python issue #692 (files.delete of a "
            "file that is gone answers the same)",
        )
    ],
    "delete_batch_output_file": [
        (
            _json(cf.file_id_too_long_body("DeleteFileRequest"), 400),
            "googleapis/python-genai issues #1613 and #1759 (a batch output file's id is over 40 "
            "characters: files.delete answers 400 INVALID_ARGUMENT)",
        )
    ],
    "model_without_batch": [
        (
            _json(cf.MODEL_CANNOT_BATCH_BODY, 404),
            "google-gemini/cookbook issue #1077 (a batch on a model without batch support: 404 NOT_FOUND)",
        )
    ],
    "deleted_file": [
        *_upload(captures.COOKBOOK_EMBEDDINGS_INPUT),
        (_json({}), REST_EMPTY),
        (
            _json(
                {
                    "error": {
                        "code": 403,
                        "message": "You do not have permission to access the File <id> or it may not exist.",
                        "status": "PERMISSION_DENIED",
                    }
                },
                403,
            ),
            f"{FILE_403}; python-genai issue #1218 names expired and deleted files",
        ),
    ],
    "bad_request_field": [
        *_upload(BAD_FIELD_INPUT),
        (
            _json(INSPECT_3257_CREATE_ERROR, 400),
            "UKGovernmentBEIS/inspect_ai issue #3257 (create refused, HTTP 400)",
        ),
    ],
}


def _request_url(path: str) -> str:
    filled = (
        path.replace("{api}", API_VERSION)
        .replace("{model}", DEFAULT_MODEL)
        .replace("{embed_model}", DEFAULT_EMBED_MODEL)
        .replace("{upload_url}", "/upload/v1beta/files?upload_id=<token>&upload_protocol=resumable")
        .replace("{file}", "files/<id>")
        .replace("{batch}", "batches/<id>")
        .replace("{results}", "files/batch-<id>")
    )
    return ORIGIN + filled


def build(name: str) -> dict[str, Any]:
    """The public snapshot of one scenario."""
    scenario, answers = SCENARIOS[name], ANSWERS[name]
    assert len(answers) == len(scenario.steps), name
    exchanges = []
    for step, (answer, _) in zip(scenario.steps, answers, strict=True):
        content = answer["content"]
        raw = content if isinstance(content, bytes) else (b"" if content is None else _dumps(content))
        headers = {k: v.replace("{base}", ORIGIN) for k, v in (answer["headers"] or {}).items()}
        exchanges.append(
            {
                "request": {"method": step.method, "url": _request_url(step.path), "body": step.body},
                "response": {
                    "status": answer["status"],
                    "headers": headers,
                    **_decoded(raw),
                },
            }
        )
    source = {"kind": "public", "from": [f"answer {i}: {src}" for i, (_, src) in enumerate(answers, 1)]}
    snapshot = to_snapshot(scenario, exchanges, Normaliser(ORIGIN), source)
    for exchange, (answer, _) in zip(snapshot["exchanges"], answers, strict=True):
        if answer["headers"] is None:
            exchange["response"]["headers"] = None  # the source did not show them: not compared
    return snapshot


def _dumps(body: Any) -> bytes:
    return json.dumps(body).encode()


def _decoded(raw: bytes) -> Mapping[str, Any]:
    kind, body = decode_body(raw)
    return {"kind": kind, "body": body}


def main(directory: Path = SNAPSHOT_DIR) -> int:
    for name in SCENARIOS:
        if (
            snapshot_path(name, directory).exists()
            and read_snapshot(name, directory)["source"]["kind"] == "recorded"
        ):
            continue
        write_snapshot(build(name), directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
