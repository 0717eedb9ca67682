"""Small typed views of the API's JSON resources (batches, files, results).

Every view keeps the raw JSON in ``raw`` so callers can reach fields this module does not model.
Parsing follows the wire rules in docs/real-service/wire-format.md (Conventions, The batch as
returned): int64 values arrive as decimal strings, zero values
are omitted, batch fields live under the Operation's ``metadata``, and field names may come in
lowerCamelCase or snake_case.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch.exceptions import shown_state


@functools.lru_cache(maxsize=1024)
def snake_name(camel: str) -> str:
    """``promptFeedback`` -> ``prompt_feedback``.

    Cached: it runs for every result row and for every absent field of every Operation on a list
    page (the largest own-time item on the triggerer loop with 10,000 waits, ``bench_trigger
    --profile``).
    """
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def pick(obj: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    """Read a proto-JSON field under its lowerCamelCase or its snake_case spelling."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake_name(camel), default)


def to_int(value: Any) -> int:
    """An int64 from the wire (a decimal string, a number, or absent meaning 0)."""
    if value is None or value == "":
        return 0
    return int(value)


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp with 0 to 9 fractional digits (Python keeps 6)."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    main, sep, rest = text.partition(".")
    if sep:
        # Only the leading run of digits is the fraction; the zone (+00:00) follows it.
        count = len(rest) - len(rest.lstrip("0123456789"))
        digits, zone = rest[:count], rest[count:]
        text = f"{main}.{(digits + '000000')[:6]}{zone}"
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class ApiStatus:
    """A ``google.rpc.Status``: numeric code (gRPC code, not HTTP), message, optional details."""

    code: int
    message: str
    details: tuple[Any, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> ApiStatus | None:
        if not obj:
            return None
        return cls(
            code=to_int(obj.get("code")),
            message=str(obj.get("message", "")),
            details=tuple(obj.get("details") or ()),
        )

    def describe(self) -> str:
        return f"code {self.code}: {self.message}" if self.message else f"code {self.code}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            out["details"] = list(self.details)
        return out


@dataclass(frozen=True)
class BatchStats:
    """Request counts of a batch (``metadata.batchStats``); absent counters are 0."""

    request_count: int = 0
    successful_request_count: int = 0
    failed_request_count: int = 0
    pending_request_count: int = 0

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> BatchStats:
        obj = obj or {}
        return cls(
            request_count=to_int(pick(obj, "requestCount")),
            successful_request_count=to_int(pick(obj, "successfulRequestCount")),
            failed_request_count=to_int(pick(obj, "failedRequestCount")),
            pending_request_count=to_int(pick(obj, "pendingRequestCount")),
        )

    def describe(self) -> str:
        return (
            f"{self.request_count} requests: {self.successful_request_count} succeeded, "
            f"{self.failed_request_count} failed, {self.pending_request_count} pending"
        )

    def to_json(self) -> dict[str, int]:
        """JSON-native counters for XCom and trigger events."""
        return {
            "request_count": self.request_count,
            "successful_request_count": self.successful_request_count,
            "failed_request_count": self.failed_request_count,
            "pending_request_count": self.pending_request_count,
        }


#: Where an Operation may carry the batch output, in the order read. The service mirrors the
#: output in top-level ``response`` ([LIVE] IF-Solucoes/lupa ``tests/test_gemini.py``; the REST
#: guide's ``jq`` reads ``.response.responsesFile``); the SDK reads only ``metadata.output``
#: (python-genai ``_BatchJob_from_mldev``), and
#: maximhq/bifrost's tests replay a body with the output only under ``metadata.output``.
OUTPUT_LOCATIONS: tuple[tuple[str, ...], ...] = (("response",), ("metadata", "output"))
#: Containers of inline results: ``inlinedResponses`` (generateContent and, on the wire,
#: embeddings) and ``inlinedEmbedContentResponses`` (the name python-genai ``batches.py`` reads
#: for embeddings after ``t_recv_batch_job_destination`` renames it; accepted should the service
#: send it).
INLINE_CONTAINERS: tuple[str, ...] = ("inlinedResponses", "inlinedEmbedContentResponses")


def _dig(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, Mapping):
            return None
        obj = pick(obj, part)
    return obj


def inline_items_of(output: Mapping[str, Any]) -> list[Any] | None:
    """The inline result items of one output object, or None when it has no inline container.

    Accepts the documented double nesting ``{"inlinedResponses": {"inlinedResponses": [...]}}``
    (REST reference ``InlinedResponses``; cookbook Batch_mode.ipynb) and a bare list
    ``{"inlinedResponses": [...]}`` (seen in third-party clients' replayed bodies; accepted so a
    flatter answer never loses results).
    """
    for container in INLINE_CONTAINERS:
        value = pick(output, container)
        if isinstance(value, list):
            return value
        if isinstance(value, Mapping):
            items = pick(value, "inlinedResponses")
            if isinstance(items, list):
                return items
            return []
    return None


def output_of(op: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first output object of an Operation that names results, else the first non-empty one.

    ``response`` is read first, then ``metadata.output`` (see :data:`OUTPUT_LOCATIONS`); a
    ``response`` that carries only its ``@type`` does not hide a full ``metadata.output``.
    """
    fallback: Mapping[str, Any] = {}
    for path in OUTPUT_LOCATIONS:
        candidate = _dig(op, path)
        if not isinstance(candidate, Mapping) or not candidate:
            continue
        if pick(candidate, "responsesFile") or inline_items_of(candidate):
            return candidate
        if not fallback:
            fallback = candidate
    return fallback


@dataclass(frozen=True)
class Batch:
    """A batch as returned by create/get/list (the Operation wrapper, flattened).

    ``responses_file`` is the ``files/batch-...`` result file for file-input batches;
    ``inlined_response_count`` is how many inline results the Operation carries (0 if none).
    ``error`` is the Operation's top-level error for a batch that failed as a whole.
    ``state_raw`` is the state as the wire spelled it (``state`` is UNKNOWN for a spelling this
    release does not know); ``operation_done`` is the Operation's own ``done`` flag.
    """

    name: str
    state: BatchState
    display_name: str | None
    model: str | None
    stats: BatchStats
    create_time: datetime | None
    update_time: datetime | None
    end_time: datetime | None
    responses_file: str | None
    inlined_response_count: int
    error: ApiStatus | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    state_raw: str | None = None
    operation_done: bool = False

    @classmethod
    def from_operation(cls, op: Mapping[str, Any]) -> Batch:
        """Build the view from an Operation JSON body (never raises for an unknown state)."""
        meta: Mapping[str, Any] = op.get("metadata") or {}
        name = str(op.get("name") or meta.get("name") or "")
        output = output_of(op)
        items = inline_items_of(output) or []
        raw_state = meta.get("state")
        return cls(
            name=name,
            state=BatchState.parse_lenient(raw_state),
            display_name=pick(meta, "displayName"),
            model=meta.get("model"),
            stats=BatchStats.from_json(pick(meta, "batchStats")),
            create_time=parse_time(pick(meta, "createTime")),
            update_time=parse_time(pick(meta, "updateTime")),
            end_time=parse_time(pick(meta, "endTime")),
            responses_file=pick(output, "responsesFile") or None,
            inlined_response_count=len(items),
            error=ApiStatus.from_json(op.get("error")),
            raw=op,
            state_raw=str(raw_state) if raw_state else None,
            operation_done=op.get("done") is True,
        )

    @property
    def batch_id(self) -> str:
        return self.name.removeprefix("batches/")

    @property
    def done(self) -> bool:
        return self.state.terminal

    @property
    def state_label(self) -> str:
        """The short state for messages; an unknown state shows its raw spelling."""
        if self.state is BatchState.UNKNOWN:
            return f"unknown state {shown_state(self.state_raw)}"
        return self.state.short

    @property
    def output(self) -> Mapping[str, Any]:
        """The raw output object (``responsesFile`` or inline responses); empty if none."""
        return output_of(self.raw)

    @property
    def inline_items(self) -> list[Any]:
        """The inline result items, whatever the nesting (empty when there are none)."""
        return inline_items_of(self.output) or []

    @property
    def has_results(self) -> bool:
        """True when the API offers results to fetch (a result file or inline responses)."""
        return bool(self.responses_file) or self.inlined_response_count > 0

    def summary(self) -> dict[str, Any]:
        """A small JSON-native summary for XCom, trigger events and logs."""
        out: dict[str, Any] = {
            "batch_name": self.name,
            "state": self.state.short,
            "display_name": self.display_name,
            "model": self.model,
            "stats": self.stats.to_json(),
            "responses_file": self.responses_file,
            "error": self.error.to_json() if self.error else None,
        }
        if self.state is BatchState.UNKNOWN:
            out["state_raw"] = self.state_raw
        return out


@dataclass(frozen=True)
class FileInfo:
    """A Files API resource. ``size_bytes`` in bytes; times in UTC."""

    name: str
    display_name: str | None
    mime_type: str | None
    size_bytes: int
    state: str | None
    source: str | None
    sha256_hash: str | None
    uri: str | None
    download_uri: str | None
    create_time: datetime | None
    expiration_time: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FileInfo:
        return cls(
            name=str(obj.get("name", "")),
            display_name=pick(obj, "displayName"),
            mime_type=pick(obj, "mimeType"),
            size_bytes=to_int(pick(obj, "sizeBytes")),
            state=obj.get("state"),
            source=obj.get("source"),
            sha256_hash=pick(obj, "sha256Hash"),
            uri=obj.get("uri"),
            download_uri=pick(obj, "downloadUri"),
            create_time=parse_time(pick(obj, "createTime")),
            expiration_time=parse_time(pick(obj, "expirationTime")),
            raw=obj,
        )


@dataclass(slots=True)
class BatchResult:
    """One normalised result row (treat it as read-only; :func:`dataclasses.replace` makes changed copies).

    Not ``frozen``: a frozen dataclass sets each field through ``object.__setattr__``, which made
    building one cost 1.3-1.7 us against 0.3 us (measured with ``timeit``), and a result is built
    for every landed row of files of hundreds of thousands of rows.

    ``key`` is the request's key as the service echoed it (None when the row carried none);
    ``index`` the 0-based output position; ``response`` the GenerateContentResponse or embedding
    response; ``error`` the per-row ``google.rpc.Status`` (from ``error`` or ``status``).
    ``outcome``/``reason``/``retryable`` are the row's classification (``_core/rows.py``: a
    response is not proof of success). ``key_inferred`` is true when the key was not on the row
    but given from the request's position (``request-<index>``), which is done only when the
    landed count equals the batch's request count.
    """

    key: str | None
    index: int
    response: Mapping[str, Any] | None
    error: Mapping[str, Any] | None
    outcome: str
    reason: str | None = None
    retryable: bool = False
    key_inferred: bool = False

    @property
    def ok(self) -> bool:
        """True only for a usable answer (outcome ``succeeded``)."""
        return self.outcome == "succeeded"

    def to_row(self) -> dict[str, Any]:
        """The landed JSONL row.

        ``{"key", "status": "succeeded"|"failed", "outcome", "reason"?, "retryable"? (failed rows
        only), "key_inferred"? (only when true), "response" | "error"}``. A row that failed with a
        response (blocked, stopped, cut off, no output) keeps the response: it carries the
        service's safety ratings and the billed usage.
        """
        row: dict[str, Any] = {
            "key": self.key,
            "status": "succeeded" if self.ok else "failed",
            "outcome": self.outcome,
        }
        if self.reason:
            row["reason"] = self.reason
        if not self.ok:
            row["retryable"] = self.retryable
        if self.key_inferred:
            row["key_inferred"] = True
        if self.response is not None and self.error is None:
            row["response"] = self.response
        else:
            row["error"] = self.error or {
                "code": 2,
                "message": "The result carried neither a response nor an error.",
            }
        return row
