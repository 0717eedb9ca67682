"""Batch records, the lazy state machine and Operation rendering.

The wire shapes rendered here are described in docs/real-service/wire-format.md (Creating a
batch to Results).

State is never advanced by a background task: every read computes it from the emulator clock,
so thousands of pollers cost one dictionary lookup and a little arithmetic each.

Timeline of a batch created at ``t0`` with processing time ``p`` (seconds):

* ``[t0, t0 + 0.1 p)``      BATCH_STATE_PENDING
* ``[t0 + 0.1 p, t0 + p)``  BATCH_STATE_RUNNING (progress grows linearly)
* ``t0 + p``                the chosen outcome: SUCCEEDED (default), FAILED or EXPIRED;
  an outcome of CANCELLED means "cancelled half-way through RUNNING" (partial results)
* a user cancel at ``tc``   CANCELLED at ``tc``; results are offered for the requests finished
  by then (``floor(n * progress(tc))``, none if still PENDING)
* still not finished 48 h after ``t0`` (only when ``p`` > 48 h) -> EXPIRED, no results

With the ``running_slots`` knob set (see ``settings.Settings``), a new batch is *queued*: it stays
PENDING until the store (``developer.models``) admits it into a free slot (highest ``priority``
first, then the oldest; REST reference ``GenerateContentBatch.priority``: "batches with higher
priority will be processed before batches with lower priority"), and the timeline above starts at
its admission time ``start_time`` instead of ``t0`` (expiry still counts from ``t0``).

With the ``hold_pending`` knob, the next batches created are *held* PENDING, as batches stuck in
PENDING on the real service were (python-genai #1482, js-genai #1453): indefinitely until
``release_pending`` (or ``hold_pending_seconds`` after creation), after which the timeline above
starts at the release. A held batch can be cancelled (CANCELLED, no results) and expires 48 h
after ``t0`` like any other.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator import fake_model
from airflow_provider_gemini_batch.emulator.wire import field as wfield
from airflow_provider_gemini_batch.emulator.wire import int64, rfc3339

PENDING_FRACTION = 0.1
JOB_EXPIRY_SECONDS = 48 * 3600
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
OUTCOMES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})
_TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1beta."
FAILED_ERROR = {
    "code": 13,
    "message": "Batch job failed: internal error while processing (emulated outcome).",
}


@dataclass
class Phase:
    """The state of a batch at one instant: short state name, when it began, progress 0..1."""

    state: str
    since: float
    progress: float


@dataclass
class BatchRecord:
    """Everything the emulator remembers about one batch job."""

    batch_id: str
    kind: str  # "generate" or "embed"
    model: str
    display_name: str | None
    priority: int
    create_time: float
    processing_seconds: float
    outcome: str
    error_fraction: float
    request_count: int
    input_file: str | None = None  # "files/<id>" for file input
    input_path: Path | None = None  # private hard link/copy of the input bytes
    inline_requests: list[dict[str, Any]] | None = None
    cancel_time: float | None = None
    # Filled once, at the first read after the batch reached a terminal state.
    output: dict[str, Any] | None = None
    materialised: bool = False
    successful: int = 0
    failed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None  # the API key that created it (``per_key_visibility``)
    modes: frozenset[str] = frozenset()  # named modes in force when it was created
    state_names: dict[str, str] = field(default_factory=dict)  # wire spelling overrides
    queued: bool = False  # waits for a running slot (``running_slots``)
    start_time: float | None = None  # when a queued batch was admitted
    error_code: int = 3  # code of the per-request errors injected by ``error_fraction``
    webhook_config: dict[str, Any] | None = None  # accepted on create, never called
    held: bool = False  # held PENDING until released (``hold_pending``; a stuck batch)
    hold_until: float | None = None  # when a held batch's timeline starts (released or timed)

    @property
    def start(self) -> float | None:
        """When the timeline starts: the create time, or the admission time of a queued batch
        (None while it waits for a slot or is held PENDING); a released hold starts it then."""
        if self.held:
            return None
        if not self.queued:
            return self.create_time if self.hold_until is None else self.hold_until
        return self.start_time

    def end_time(self) -> float | None:
        """When it stops occupying a running slot (None while it waits for one)."""
        start = self.start
        if start is None:
            return None
        end = start + self.processing_seconds
        if self.outcome == "CANCELLED":
            end = (
                start
                + PENDING_FRACTION * self.processing_seconds
                + (self.processing_seconds - PENDING_FRACTION * self.processing_seconds) / 2
            )
        if self.cancel_time is not None:
            end = min(end, self.cancel_time)
        return min(end, self.create_time + JOB_EXPIRY_SECONDS)

    @property
    def name(self) -> str:
        return f"batches/{self.batch_id}"

    @property
    def result_file_id(self) -> str:
        return f"batch-{self.batch_id}"

    def progress_at(self, when: float) -> float:
        """Fraction (0..1) of requests processed at epoch ``when``."""
        if self.start is None:
            return 0.0
        start = self.start + PENDING_FRACTION * self.processing_seconds
        span = self.processing_seconds - PENDING_FRACTION * self.processing_seconds
        if span <= 0:
            return 1.0 if when >= start else 0.0
        # Epoch floats carry ~1e-7 s of noise; round so exact fractions (a half) stay exact.
        return round(min(1.0, max(0.0, (when - start) / span)), 6)

    def phase(self, now: float) -> Phase:
        """The state at emulator time ``now`` (pure; see the module docstring for the timeline)."""
        if self.start is None:  # queued, not admitted yet
            if self.cancel_time is not None and self.cancel_time <= now:
                return Phase("CANCELLED", self.cancel_time, 0.0)
            if now >= self.create_time + JOB_EXPIRY_SECONDS:
                return Phase("EXPIRED", self.create_time + JOB_EXPIRY_SECONDS, 0.0)
            return Phase("PENDING", self.create_time, 0.0)
        t0, p = self.start, self.processing_seconds
        done_at = t0 + p
        cancel_at = self.cancel_time
        if self.outcome == "CANCELLED":
            auto = t0 + PENDING_FRACTION * p + (p - PENDING_FRACTION * p) / 2
            cancel_at = auto if cancel_at is None else min(cancel_at, auto)
        if (
            cancel_at is not None
            and cancel_at <= now
            and cancel_at < min(done_at, self.create_time + JOB_EXPIRY_SECONDS)
        ):
            return Phase("CANCELLED", cancel_at, self.progress_at(cancel_at))
        expiry = self.create_time + JOB_EXPIRY_SECONDS
        if done_at > expiry and now >= expiry:
            return Phase("EXPIRED", expiry, self.progress_at(expiry))
        if now >= done_at:
            return Phase(self.outcome, done_at, 1.0)
        running_at = t0 + PENDING_FRACTION * p
        if now >= running_at:
            return Phase("RUNNING", running_at, self.progress_at(now))
        return Phase("PENDING", self.create_time, 0.0)

    def completed_count(self, phase: Phase) -> int:
        """How many requests have results in ``phase`` (all for SUCCEEDED, none for FAILED/EXPIRED)."""
        if phase.state == "SUCCEEDED":
            return self.request_count
        if phase.state in ("FAILED", "EXPIRED", "PENDING"):
            return 0
        return math.floor(self.request_count * phase.progress + 1e-9)

    def type_name(self, suffix: str = "") -> str:
        base = "GenerateContentBatch" if self.kind == "generate" else "EmbedContentBatch"
        return _TYPE_PREFIX + base + suffix

    def render_bare(self, now: float) -> dict[str, Any]:
        """The bare ``GenerateContentBatch``/``EmbedContentBatch`` resource (no Operation wrapper),
        as the update methods answer it (discovery document v1beta, ``batches.updateGenerateContentBatch``
        response ``GenerateContentBatch``): the Operation's ``metadata`` without ``@type``.
        """
        metadata = dict(self.render(now)["metadata"])
        metadata.pop("@type", None)
        return metadata

    def render(self, now: float, finishing: bool = False) -> dict[str, Any]:
        """The Operation JSON at emulator time ``now``.

        :param finishing: results are still being written; show a terminal batch as RUNNING.
        """
        phase = self.phase(now)
        if finishing and phase.state in TERMINAL:
            phase = Phase("RUNNING", phase.since, phase.progress)
        terminal = phase.state in TERMINAL
        metadata: dict[str, Any] = {
            "@type": self.type_name(),
            "name": self.name,
            "model": self.model,
        }
        if self.display_name:
            metadata["displayName"] = self.display_name
        if self.input_file:
            metadata["inputConfig"] = {"fileName": self.input_file}
        if self.priority:
            metadata["priority"] = int64(self.priority)
        metadata["createTime"] = rfc3339(self.create_time)
        metadata["updateTime"] = rfc3339(phase.since)
        if terminal:
            metadata["endTime"] = rfc3339(phase.since)
        metadata["batchStats"] = self._stats(phase)
        metadata["state"] = self.state_names.get(phase.state, "BATCH_STATE_" + phase.state)
        operation: dict[str, Any] = {"name": self.name, "metadata": metadata}
        # Mode succeeded_without_output (a user's report): SUCCEEDED with no output reference at all.
        hide_output = phase.state == "SUCCEEDED" and "succeeded_without_output" in self.modes
        if terminal:
            operation["done"] = True
            if self.output is not None and not hide_output:
                metadata["output"] = self.output
                operation["response"] = {"@type": self.type_name("Output"), **self.output}
            if phase.state == "FAILED":
                operation["error"] = dict(FAILED_ERROR)
        return operation

    def _stats(self, phase: Phase) -> dict[str, str]:
        counts: dict[str, int] = {"requestCount": self.request_count}
        if phase.state in ("PENDING", "RUNNING"):
            done = self.completed_count(phase)
            counts["successfulRequestCount"] = done
            counts["pendingRequestCount"] = self.request_count - done
        elif phase.state in ("SUCCEEDED", "CANCELLED") and self.materialised:
            counts["successfulRequestCount"] = self.successful
            counts["failedRequestCount"] = self.failed
        # Proto3 JSON omits zero values; int64 travels as a string.
        return {key: int64(value) for key, value in counts.items() if value}

    def needs_results(self, now: float) -> bool:
        """Whether the batch is terminal and its results have not been produced yet."""
        return not self.materialised and self.phase(now).state in TERMINAL


def answer(kind: str, request: Any) -> dict[str, Any]:
    """One result for one request: ``{"response": ...}`` or ``{"error": {"code": 3, ...}}``."""
    try:
        if kind == "embed":
            return {"response": fake_model.embed(request)}
        return {"response": fake_model.generate(request)}
    except fake_model.RequestError as exc:
        return {"error": {"code": 3, "message": f"Request contains an invalid argument. {exc}"}}


def shuffled(items: list[Any], seed: str) -> list[Any]:
    """``items`` in a deterministic order other than the original one (when there are 2 or more).

    Mode ``shuffle_inline``: python-genai issue #1909 saw inlinedResponses out of request order.
    """
    order = list(items)
    random.Random(seed).shuffle(order)
    if len(order) > 1 and order == list(items):
        order = order[1:] + order[:1]
    return order


def inline_results(record: BatchRecord, count: int) -> list[dict[str, Any]]:
    """Results of the first ``count`` inline requests, metadata echoed, errors injected by fraction.

    Modes: ``inline_without_metadata`` drops the echo (python-genai #2008, js-genai #1191);
    ``shuffle_inline`` reorders the results (python-genai #1909).
    """
    out: list[dict[str, Any]] = []
    for position, item in enumerate((record.inline_requests or [])[:count]):
        request = wfield(item, "request") if isinstance(item, dict) else None
        result = answer(record.kind, request)
        if "error" not in result and fake_model.is_injected_error(position, record.error_fraction):
            result = {"error": fake_model.injected_error(record.error_code)}
        metadata = wfield(item, "metadata") if isinstance(item, dict) else None
        if metadata is not None and "inline_without_metadata" not in record.modes:
            result["metadata"] = metadata
        out.append(result)
    if "shuffle_inline" in record.modes:
        out = shuffled(out, record.batch_id)
    return out


def iter_input_lines(path: Path) -> Iterator[bytes]:
    """Non-blank lines of a JSONL input file, streamed."""
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                yield line


def count_requests(path: Path) -> int:
    """Number of non-blank lines (requests) in a JSONL input file, streamed."""
    return sum(1 for _ in iter_input_lines(path))


def file_result_line(
    kind: str,
    position: int,
    line: bytes,
    error_fraction: float,
    row_status: bool = False,
    error_code: int = 3,
) -> dict[str, Any]:
    """The output object for one input line (keyed, wrapped or bare request, or a parse error).

    ``response`` (or ``error``) comes before ``key``, as on the live service (cookbook
    Batch_mode.ipynb cells 25 and 48 outputs). ``row_status`` writes errors as ``status`` (the
    guide's "status object"; the line form from a user's report).
    """
    try:
        obj = json.loads(line)
    except ValueError:
        return {"error": {"code": 3, "message": f"Invalid JSON on input line {position + 1}."}}
    key = None
    request: Any = obj
    if isinstance(obj, dict) and "request" in obj:
        key = obj.get("key")
        request = obj["request"]
    result = answer(kind, request)
    if "error" not in result and fake_model.is_injected_error(position, error_fraction):
        result = {"error": fake_model.injected_error(error_code)}
    if row_status and "error" in result:
        result = {"status": result["error"]}
    if key is not None:
        result = {**result, "key": key}
    return result


def write_file_results(record: BatchRecord, count: int, destination: Path) -> tuple[int, int]:
    """Stream results of the first ``count`` input lines to ``destination``; returns (ok, failed)."""
    ok = failed = 0
    assert record.input_path is not None
    with open(destination, "w", encoding="utf-8") as out:
        for position, line in enumerate(iter_input_lines(record.input_path)):
            if position >= count:
                break
            result = file_result_line(
                record.kind,
                position,
                line,
                record.error_fraction,
                "row_status" in record.modes,
                record.error_code,
            )
            if "error" in result or "status" in result:
                failed += 1
            else:
                ok += 1
            out.write(json.dumps(result, separators=(",", ":")))
            out.write("\n")
    return ok, failed
