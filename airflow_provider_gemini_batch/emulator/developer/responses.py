"""Request parsing and JSON rendering of the Developer API (Files, Models, Batches).

Wire facts: docs/real-service/wire-format.md (Conventions of every endpoint, Creating a batch,
Listing batches, Changing a batch's priority, Heavy reads). Nothing here touches the state: the
handlers in :mod:`.routes` and :mod:`.uploads` pass what these functions return to :mod:`.models`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_gemini_batch.emulator.gate import Ctx
from airflow_provider_gemini_batch.emulator.partial import apply_fields
from airflow_provider_gemini_batch.emulator.request_fields import unknown_field_errors
from airflow_provider_gemini_batch.emulator.settings import Settings
from airflow_provider_gemini_batch.emulator.wire import ApiError, field, invalid

FILES_PAGE_DEFAULT, FILES_PAGE_MAX = 10, 100
BATCHES_PAGE_DEFAULT, BATCHES_PAGE_MAX = 50, 1000
MODELS_PAGE_DEFAULT, MODELS_PAGE_MAX = 50, 1000


def page_size(request: Request, default: int, maximum: int) -> int:
    """``pageSize`` (or ``page_size``): ``default`` when absent or 0, capped at ``maximum``.

    :raises ApiError: 400 for a non-integer or negative value.
    """
    raw = request.query_params.get("pageSize") or request.query_params.get("page_size")
    if not raw:
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid(f"Invalid value for pageSize: {raw!r}.") from None
    if size < 0:
        raise invalid("pageSize must not be negative.")
    return default if size == 0 else min(size, maximum)


def page_token(request: Request) -> str | None:
    """``pageToken`` (or ``page_token``), None when absent or empty."""
    return request.query_params.get("pageToken") or request.query_params.get("page_token") or None


def shaped(ctx: Ctx, settings: Settings, data: dict[str, Any]) -> Response:
    """A JSON answer reduced to ``fields`` (if asked), or 503 when ``huge_inline_503`` finds it too big.

    The 503 reproduces discuss.ai.google.dev thread 113603: full GETs of batches with huge
    inline output answered 503 while polls that leave the output out kept working.
    """
    if ctx.fields is not None:
        data = apply_fields(data, ctx.fields)
    body = json.dumps(data, separators=(",", ":"))
    if settings.has("huge_inline_503") and len(body) > settings.huge_output_bytes:
        raise ApiError(503, "The service is currently unavailable.")
    return Response(content=body, media_type="application/json")


def listing(key: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """A list answer: ``{key: items, "nextPageToken": token}``, each left out when empty."""
    data: dict[str, Any] = {}
    if items:
        data[key] = items
    if token:
        data["nextPageToken"] = token
    return data


@dataclass
class CreateRequest:
    """A parsed ``models/{m}:batchGenerateContent`` / ``:asyncBatchEmbedContent`` body.

    ``requests`` (inline input) or ``file_name`` (``files/<id>``): exactly one is set.
    """

    kind: str  # "generate" or "embed"
    display_name: str | None
    priority: int
    requests: list[Any] | None
    file_name: str | None
    webhook: dict[str, Any] | None


def parse_create(body: Any, verb: str) -> CreateRequest:
    """Check a create body. :raises ApiError: 400 naming the field at fault."""
    batch = field(body, "batch")
    if not isinstance(batch, dict):
        raise invalid("* BatchGenerateContentRequest.batch: batch is required (an object).")
    config = field(batch, "inputConfig")
    file_name = field(config, "fileName")
    requests = field(field(config, "requests"), "requests")
    if (file_name is None) == (requests is None):
        raise invalid("batch.inputConfig must set exactly one of fileName or requests.requests.")
    if requests is not None and (not isinstance(requests, list) or not requests):
        raise invalid("batch.inputConfig.requests.requests must be a non-empty list.")
    if file_name is not None and (not isinstance(file_name, str) or not file_name.startswith("files/")):
        raise invalid("batch.inputConfig.fileName must look like files/<id>.")
    raw_priority = field(batch, "priority", 0)
    try:
        priority = int(raw_priority)
    except (TypeError, ValueError):
        raise invalid("batch.priority must be an integer.") from None
    display = field(batch, "displayName")
    webhook = webhook_config(field(batch, "webhookConfig"))
    return CreateRequest(
        kind="generate" if verb == "batchGenerateContent" else "embed",
        display_name=str(display) if display else None,
        priority=priority,
        requests=requests,
        file_name=file_name,
        webhook=webhook,
    )


def webhook_config(raw: Any) -> dict[str, Any] | None:
    """Check and keep ``batch.webhookConfig`` (never called back). REST spelling ``userMetadata``;
    google-genai 3.x sends ``user_metadata`` (its ``batches.py``): both are accepted."""
    if raw is None:
        return None
    uris = field(raw, "uris") if isinstance(raw, dict) else None
    if not isinstance(uris, list) or not all(isinstance(u, str) and u for u in uris):
        raise invalid("batch.webhookConfig.uris must be a list of URLs.")
    metadata = field(raw, "userMetadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise invalid("batch.webhookConfig.userMetadata must be an object.")
    return {"uris": list(uris), "userMetadata": metadata or {}}


def refuse_unknown_fields(kind: str, lines: list[str]) -> None:
    """Mode ``strict_request_fields``: one 400 listing every line's unknown request field."""
    errors = unknown_field_errors(kind, lines)
    if errors:
        raise invalid("\n".join(errors))


def read_lines(path: Any) -> list[str]:
    """The lines of a JSONL input file (text, blank lines kept so numbers match the file's)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [line.rstrip("\n") for line in handle]


def update_kind(verb: str) -> str:
    """The batch kind an update verb applies to (``updateGenerateContentBatch`` -> ``generate``)."""
    return "generate" if verb == "updateGenerateContentBatch" else "embed"


def check_update_kind(batch_id: str, kind: str, record_kind: str) -> None:
    """The update method must match the batch's kind. :raises ApiError: 400 naming the right one."""
    if kind != record_kind:
        right = "updateGenerateContentBatch" if record_kind == "generate" else "updateEmbedContentBatch"
        raise invalid(f"batches/{batch_id} is not a {kind} batch; use :{right}.")


def parse_update(mask_param: str, body: Any) -> int:
    """The new priority of ``PATCH batches/{id}:update...Batch?updateMask=priority``.

    Only ``priority`` is mutable here (the one field an owner has reason to change on a running
    batch); without ``updateMask`` the body's fields (but ``name``) are the mask.

    :raises ApiError: 400 for another field or a non-integer priority.
    """
    mask = [m.strip() for m in mask_param.split(",") if m.strip()]
    if not mask:
        mask = [k for k in (body or {}) if k != "name"] if isinstance(body, dict) else []
    unknown = [m for m in mask if m != "priority"]
    if unknown or not mask:
        raise invalid(f"updateMask must be 'priority' (the only updatable field here), got {mask!r}.")
    try:
        return int(field(body, "priority", 0))
    except (TypeError, ValueError):
        raise invalid("batch.priority must be an integer.") from None
