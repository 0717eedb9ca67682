"""Prediction lines as Vertex AI writes them for a Gemini batch job with Cloud Storage output.

Shapes, from the Cloud Storage guide of Vertex batch inference
(https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage,
"For successful rows, model responses are stored in the response field. Otherwise, error details
are stored in the status field") and its examples:

* success: ``{"status": "", "processed_time": "2024-11-01T18:13:16.826+00:00", "request": {...},
  "response": {...GenerateContentResponse...}}`` (the same line is shown in the "Retrieve batch
  prediction results" cell of GoogleCloudPlatform/generative-ai
  gemini/batch-prediction/intro_batch_prediction.ipynb);
* failure: ``{"status": "Bad Request: {\\"error\\": {\\"code\\": 400, \\"message\\": \\"Please use
  a valid role: user, model.\\", \\"status\\": \\"INVALID_ARGUMENT\\"}}", "processed_time": ...,
  "request": {...}}``: no ``response``;
* other top-level fields of the input line (a ``key``, a ``custom_id``) come back on the output
  line: the BigQuery guide says extra input columns "appear in the output table"
  (intro_batch_prediction.ipynb, BigQuery section); for JSONL lines this is inferred from that
  and from adapter operators' reports without a public address (docs/vertex-wire.md): treat it
  as indicative until a real capture exists.

The ``status`` prefix for errors other than 400 (``Internal Server Error: {...}`` for a 500, and so
on) follows the 400 example by analogy: no capture of one is public.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator import fake_model
from airflow_provider_gemini_batch.emulator.batches import answer, iter_input_lines

#: gRPC code -> (HTTP status, reason phrase, canonical status name) for a failed row's ``status``.
_ROW_ERRORS: dict[int, tuple[int, str, str]] = {
    3: (400, "Bad Request", "INVALID_ARGUMENT"),
    4: (504, "Gateway Timeout", "DEADLINE_EXCEEDED"),
    8: (429, "Too Many Requests", "RESOURCE_EXHAUSTED"),
    13: (500, "Internal Server Error", "INTERNAL"),
    14: (503, "Service Unavailable", "UNAVAILABLE"),
}


def processed_time(epoch: float) -> str:
    """``processed_time`` as in the guide's examples: milliseconds and ``+00:00``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def row_status(code: int, message: str) -> str:
    """A failed row's ``status`` string: ``"<Reason>: {"error": {code, message, status}}"``."""
    http, reason, name = _ROW_ERRORS.get(code, (500, "Internal Server Error", "INTERNAL"))
    return f"{reason}: " + json.dumps({"error": {"code": http, "message": message, "status": name}})


def prediction_line(
    position: int, line: bytes, when: float, error_fraction: float, error_code: int
) -> dict[str, Any]:
    """The output object for one input line (0-based ``position``); ``error_fraction`` and
    ``error_code`` inject per-row errors as in the Developer API emulator."""
    try:
        obj = json.loads(line)
    except ValueError:
        return {
            "status": row_status(3, f"Invalid JSON on input line {position + 1}."),
            "processed_time": processed_time(when),
        }
    if not isinstance(obj, dict) or "request" not in obj:
        extras = obj if isinstance(obj, dict) else {}
        return {
            **extras,
            "status": row_status(3, 'Each input line must be an object with a "request" field.'),
            "processed_time": processed_time(when),
        }
    request = obj["request"]
    extras = {k: v for k, v in obj.items() if k not in ("request", "response", "status", "processed_time")}
    result = answer("generate", request)
    if "error" not in result and fake_model.is_injected_error(position, error_fraction):
        result = {"error": fake_model.injected_error(error_code)}
    out: dict[str, Any] = dict(extras)
    if "error" in result:
        error = result["error"]
        out["status"] = row_status(int(error.get("code", 13)), str(error.get("message", "")))
        out["processed_time"] = processed_time(when)
        out["request"] = request
    else:
        out["status"] = ""
        out["processed_time"] = processed_time(when)
        out["request"] = request
        out["response"] = result["response"]
    return out


def write_predictions(
    source: Path, count: int, destination: Path, when: float, error_fraction: float, error_code: int
) -> tuple[int, int]:
    """Stream the first ``count`` input lines' predictions to ``destination``; returns (ok, failed)."""
    ok = failed = 0
    with open(destination, "w", encoding="utf-8") as out:
        for position, line in enumerate(iter_input_lines(source)):
            if position >= count:
                break
            row = prediction_line(position, line, when, error_fraction, error_code)
            if row.get("status"):
                failed += 1
            else:
                ok += 1
            out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
            out.write("\n")
    return ok, failed
