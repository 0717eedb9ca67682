"""The Gemini batch adapter of common.ai's ``@task.llm_batch`` (``model_id="google:<model>"``).

common.ai (``apache-airflow-providers-common-ai`` >= 1.0.0) owns the task: identity, the state
file under ``result_path``, polling or deferring, landing the JSONL rows and the XCom manifest.
This adapter only speaks Gemini for it, through this provider's
:class:`~airflow_provider_gemini_batch.hooks.gemini_batch.GeminiBatchHook` (its retry policy,
error mapping, secret redaction, resumable upload and streamed result download):

=====================  ==========================================================================
common.ai asks         the adapter does
=====================  ==========================================================================
validate_requests      count, one model per batch, bytes (inline under 20 MB, file under 2 GB)
submit                 ``batchGenerateContent`` inline, or upload a JSONL file first when the
                       requests are too big for an inline create; the display name carries the
                       ``[af:<key16>:<fingerprint>]`` marker of ``_core/identity.py``
get_batch              the batch state collapsed to common.ai's five statuses, ``batchStats``
cancel_batch           ``batches/…:cancel``
iter_results           the result file or inline responses, keyed ``<key16>-<index>``
extract_output         the first candidate's visible text, classified by ``_core/rows.py``
find_orphaned_batch    the newest listed batch whose marker carries the key and fingerprint
=====================  ==========================================================================

Credentials: common.ai builds every adapter from the connection's ``password`` (API key) and
``host`` (base URL) only, whatever the connection type, so a ``gemini_batch`` or ``pydanticai``
connection works with an API key; a ``gemini_batch`` connection's extras (service account, retry,
timeout, api_version) do not reach this adapter (see docs/common-ai.md).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.ai.batch.base import (
    BatchAdapter,
    BatchState,
    BatchStatus,
    ExtractedOutput,
    RawResultItem,
    SubmitResult,
)
from airflow.providers.common.ai.exceptions import LLMBatchLimitExceededError, LLMBatchModelMismatchError

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.identity import (
    FINGERPRINT_LENGTH,
    display_name_with_tag,
    find_tagged,
    parse_marker,
)
from airflow_provider_gemini_batch._core.models import Batch, BatchResult
from airflow_provider_gemini_batch._core.settings import CONN_TYPE, ConnectionSettings
from airflow_provider_gemini_batch._core.states import BatchState as GeminiState
from airflow_provider_gemini_batch.common_ai import requests as lines
from airflow_provider_gemini_batch.hooks._auth import register_secrets
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

if TYPE_CHECKING:
    from airflow.providers.common.ai.batch.base import BatchRequest
    from airflow.providers.common.ai.batch.output_schema import OutputSpec

#: Inline create requests above this many bytes of JSONL go through an uploaded file instead.
#: The documented limit is "under 20 MB" for the whole create request
#: (ai.google.dev/gemini-api/docs/batch-api); the margin
#: covers the envelope (model, displayName, inputConfig nesting).
INLINE_LIMIT_BYTES = 19_000_000
#: Batches listed when looking for an orphan (newest first on the service; bounded so a project
#: with thousands of old batches does not turn a retry into an unbounded listing).
ORPHAN_SCAN_LIMIT = 500
#: Tolerated clock difference between the worker that wrote ``not_before`` and the service.
CLOCK_SKEW = timedelta(minutes=5)

#: Gemini batch state -> common.ai status. PARTIALLY_SUCCEEDED has results to land (its failed
#: rows come back as errored rows). Every non-terminal or unknown state is "in_progress".
_STATUS: dict[GeminiState, BatchStatus] = {
    GeminiState.SUCCEEDED: "completed",
    GeminiState.PARTIALLY_SUCCEEDED: "completed",
    GeminiState.FAILED: "failed",
    GeminiState.CANCELLED: "cancelled",
    GeminiState.EXPIRED: "expired",
}


class _KeyedHook(GeminiBatchHook):
    """A :class:`GeminiBatchHook` built from an API key and base URL instead of a stored connection
    (common.ai hands adapters those two fields only)."""

    def __init__(self, *, api_key: str | None, base_url: str | None) -> None:
        super().__init__(gemini_conn_id="common.ai llm_conn_id")
        self._api_key = api_key
        self._base_url = base_url

    @cached_property
    def settings(self) -> ConnectionSettings:
        settings = ConnectionSettings.from_connection(
            conn_id=self.gemini_conn_id,
            conn_type=CONN_TYPE,
            host=self._base_url,
            password=self._api_key,
            extra=None,
        )
        register_secrets(settings)
        return settings


class GeminiBatchAdapter(BatchAdapter):
    """common.ai batch adapter for the Gemini Batch API (``model_id="google:gemini-2.5-flash"``).

    :param api_key: the Gemini API key (the connection's password). Required unless ``client``.
    :param base_url: scheme and host of the API (the connection's host); default
        ``https://generativelanguage.googleapis.com``. Point it at the emulator for tests.
    :param client: a ready :class:`GeminiBatchHook` (e.g. one reading a full ``gemini_batch``
        connection by id) instead of one built from ``api_key``/``base_url``.
    """

    name = "google"
    conn_types = frozenset({CONN_TYPE, "pydanticai"})
    #: No per-batch request count is documented for Gemini; the byte limits bind first. This cap
    #: keeps the worst-case key (``<key16>-99999``) well inside common.ai's 64-char check.
    max_requests = 100_000
    #: 2 GB per uploaded input file — ai.google.dev/gemini-api/docs/files (discovery ``maxSize: 2147483648``).
    max_payload_bytes = 2_147_483_648
    #: One model per batch: the model is in the create URL (``models/{model}:batchGenerateContent``).
    allows_per_request_model = False
    #: Requests whose JSONL exceeds this many bytes are uploaded as a file, not sent inline.
    inline_limit_bytes: int = INLINE_LIMIT_BYTES

    def __init__(
        self, *, api_key: str | None = None, base_url: str | None = None, client: Any | None = None
    ) -> None:
        self._client: GeminiBatchHook = (
            client if client is not None else _KeyedHook(api_key=api_key, base_url=base_url)
        )

    @property
    def hook(self) -> GeminiBatchHook:
        """The hook every call goes through."""
        return self._client

    # -- requests ---------------------------------------------------------------------------------

    def build_output_directive(self, spec: OutputSpec) -> dict[str, Any]:
        """``{"responseMimeType": "application/json", "responseJsonSchema": <schema>}`` for a
        structured ``output_type``, merged into every request's ``generationConfig``; ``{}`` for
        ``str``."""
        return lines.output_directive(spec.json_schema if spec.is_structured else None)

    def _lines(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        key_prefix: str,
        directive: Mapping[str, Any],
        system_prompt: str,
        max_tokens: int,
        request_params: Mapping[str, Any] | None,
    ) -> Iterator[dict[str, Any]]:
        for index, request in enumerate(requests):
            self.resolve_request_model(request.get("model"), default_bare_model=model, request_index=index)
            yield lines.build_line(
                key=lines.request_key(key_prefix, index),
                prompt=request["prompt"],
                system_prompt=request.get("system_prompt") or system_prompt,
                max_tokens=request.get("max_tokens") or max_tokens,
                params={**(request_params or {}), **(request.get("params") or {})},
                directive=directive,
            )

    def validate_requests(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        output_spec: OutputSpec,
        idempotency_key: str,
        system_prompt: str = "",
        max_tokens: int = 1024,
        request_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Reject the batch before any call: too many requests, a second model, over 2 GB.

        :raises LLMBatchLimitExceededError: count or size over the limits (the message names the
            limit, the actual figure and the ``.expand()`` remedy).
        :raises LLMBatchModelMismatchError: a request names another model or provider.
        """
        self.check_custom_id_length(idempotency_key, len(requests))
        if len(requests) > self.max_requests:
            raise LLMBatchLimitExceededError(
                f"The Gemini adapter submits at most {self.max_requests} requests per batch; got "
                f"{len(requests)}. Split the input across mapped task instances with .expand()."
            )
        models = {
            self.resolve_request_model(r.get("model"), default_bare_model=model, request_index=i)
            for i, r in enumerate(requests)
        }
        if len(models) > 1:
            raise LLMBatchModelMismatchError(
                f"A Gemini batch runs one model (it is part of the create URL); got {sorted(models)!r}. "
                "Use one model per @task.llm_batch task, or split by model with .expand()."
            )
        size = lines.encoded_size(
            self._lines(
                requests,
                model=model,
                key_prefix=idempotency_key,
                directive=self.build_output_directive(output_spec),
                system_prompt=system_prompt,
                max_tokens=max_tokens,
                request_params=request_params,
            )
        )
        if size > self.max_payload_bytes:
            raise LLMBatchLimitExceededError(
                f"These {len(requests)} requests make a {size}-byte Gemini input file; the limit is "
                f"{self.max_payload_bytes} bytes (2 GB). Split the input with .expand()."
            )

    def submit(
        self,
        requests: list[BatchRequest],
        *,
        model: str,
        idempotency_key: str,
        input_fingerprint: str,
        output_spec: OutputSpec,
        system_prompt: str = "",
        max_tokens: int = 1024,
        request_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SubmitResult:
        """Create the batch: inline up to :attr:`inline_limit_bytes`, else upload a JSONL file first.

        The display name is ``"llm_batch <key16> [af:<key16>:<fingerprint12>]"`` so
        :meth:`find_orphaned_batch` can find it again. ``provider_input_ref`` is the uploaded
        ``files/…`` name, or None for an inline batch. ``completion_window`` (OpenAI's) is ignored.
        """

        def build() -> Iterator[dict[str, Any]]:
            return self._lines(
                requests,
                model=model,
                key_prefix=idempotency_key,
                directive=self.build_output_directive(output_spec),
                system_prompt=system_prompt,
                max_tokens=max_tokens,
                request_params=request_params,
            )

        display_name = display_name_with_tag(
            f"llm_batch {idempotency_key}", idempotency_key, input_fingerprint[:FINGERPRINT_LENGTH]
        )
        # Before any upload: a model without batch support is refused only at create.
        self.hook.check_model_can_batch(model)
        if lines.encoded_size(build()) <= self.inline_limit_bytes:
            batch = self.hook.create_batch(model, requests=list(build()), display_name=display_name)
            return SubmitResult(batch_id=batch.name, provider_input_ref=None)
        uploaded = self._upload(build(), display_name=display_name)
        batch = self.hook.create_batch(model, input_file=uploaded, display_name=display_name)
        return SubmitResult(batch_id=batch.name, provider_input_ref=uploaded)

    def _upload(self, jsonl_lines: Iterator[dict[str, Any]], *, display_name: str) -> str:
        """Write the lines to a temporary JSONL file (streamed, never all in memory), upload it
        with the hook's resumable upload, and return the ``files/…`` name."""
        handle, path = tempfile.mkstemp(prefix="gemini-llm-batch-", suffix=".jsonl")
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in lines.iter_encoded(jsonl_lines):
                    out.write(chunk)
            return self.hook.upload_file(path, display_name=display_name).name
        finally:
            os.unlink(path)

    # -- state ------------------------------------------------------------------------------------

    def get_batch(self, batch_id: str) -> BatchState:
        """The batch's status, counts and error.

        ``counts`` maps ``batchStats``: successful -> ``succeeded``, failed -> ``errored``, and the
        still pending requests of an expired or cancelled batch to ``expired``/``cancelled``.
        ``error_message`` is the Operation's ``error.message`` for a failed batch.
        """
        batch = self.hook.get_batch(batch_id, light=True)
        status = _STATUS.get(batch.state, "in_progress")
        stats = batch.stats
        counts = {
            "succeeded": stats.successful_request_count,
            "errored": stats.failed_request_count,
            "expired": stats.pending_request_count if status == "expired" else 0,
            "cancelled": stats.pending_request_count if status == "cancelled" else 0,
        }
        error = batch.error
        message = None
        if error is not None:
            message = error.message or f"code {error.code}"
        elif status == "failed":
            message = f"Gemini batch {batch.name} ended {batch.state_label}."
        return BatchState(
            status=status, counts=counts if stats.request_count else None, error_message=message
        )

    def cancel_batch(self, batch_id: str) -> None:
        self.hook.cancel_batch(batch_id)

    def find_orphaned_batch(
        self, idempotency_key: str, input_fingerprint: str, not_before: str
    ) -> str | None:
        """The newest batch whose display-name marker carries ``idempotency_key`` and the first 12
        hex chars of ``input_fingerprint``, created at or after ``not_before`` minus
        :data:`CLOCK_SKEW`; None when there is none among the newest :data:`ORPHAN_SCAN_LIMIT`.

        Gemini batches carry no metadata, only a free ``displayName`` (``_core/identity.py``), so
        the marker :meth:`submit` wrote there is what a lost create answer leaves behind.
        """
        floor = datetime.fromisoformat(not_before) - CLOCK_SKEW if not_before else None
        fingerprint = input_fingerprint[:FINGERPRINT_LENGTH]
        best: Batch | None = None
        for batch in find_tagged(
            self.hook.list_batches(light=True),
            idempotency_key,
            limit=ORPHAN_SCAN_LIMIT,
            display_name=lambda b: b.display_name,
        ):
            marker = parse_marker(batch.display_name)
            if marker is None or marker.fingerprint != fingerprint:
                continue
            created = batch.create_time
            if floor is not None and (created is None or created < floor):
                continue
            if best is None or (created and best.create_time and created > best.create_time):
                best = batch
        return best.name if best is not None else None

    # -- results ----------------------------------------------------------------------------------

    def iter_results(self, batch_id: str) -> Iterator[RawResultItem]:
        """The batch's rows as common.ai results (reads the batch now, so a bad id raises here).

        A row's index comes from its key (``<key16>-<index>``); a row without a recognisable key
        keeps its output position, which equals the input position for inline results.
        """
        batch = self.hook.get_batch(batch_id)
        prefix = _key_prefix(batch.display_name)
        return (_raw_item(result, prefix) for result in self.hook.iter_results(batch))

    def extract_output(self, raw: RawResultItem, spec: OutputSpec) -> ExtractedOutput:
        """``text``/``json_text`` for a usable answer; ``absent`` (with any visible text, for the
        row's ``raw_output``) for a blocked prompt, a stopped or cut-off candidate, or only
        thoughts — ``_core/rows.py``: an HTTP-200 response is not proof of an answer."""
        response = raw.raw if isinstance(raw.raw, Mapping) else None
        text = lines.visible_text(response)
        if not rows.classify(response, None).ok or text is None:
            return ExtractedOutput(kind="absent", text=text)
        return ExtractedOutput(kind="json_text" if spec.is_structured else "text", text=text)

    def close(self) -> None:
        """Close the hook's HTTP session if it was opened."""
        session = self._client.__dict__.get("session")
        if session is not None:
            session.close()


def _key_prefix(display_name: str | None) -> str:
    """The key16 this adapter put in the batch's marker ('' for a batch it did not create)."""
    marker = parse_marker(display_name)
    return marker.tag if marker is not None else ""


def _raw_item(result: BatchResult, prefix: str) -> RawResultItem:
    """One classified row as a common.ai ``RawResultItem``.

    A row with an ``error``/``status`` is ``errored`` (the Status's code and message kept); every
    row with a response is ``success`` and :meth:`GeminiBatchAdapter.extract_output` decides
    whether it holds an answer, as common.ai's Anthropic adapter does for a refusal.
    """
    index = lines.index_of_key(result.key, prefix) if prefix else None
    if index is None:
        index = result.index
    custom_id = result.key or lines.request_key(prefix, index)
    response = result.response if isinstance(result.response, Mapping) else None
    candidate = lines.first_candidate(response)
    finish = candidate.get("finishReason") if candidate else None
    if result.outcome == rows.BLOCKED:
        finish = result.reason
    model = response.get("modelVersion") if response else None
    if result.outcome == rows.ERROR:
        error = result.error or {}
        return RawResultItem(
            custom_id=custom_id,
            index=index,
            provider_status="errored",
            model=model,
            usage=lines.usage_of(response),
            finish_reason=None,
            error={
                "type": "provider_error",
                "message": str(error.get("message") or result.reason or "error"),
                "provider_code": result.reason,
                "stage": "provider",
                "retryable": result.retryable,
            },
            raw=None,
        )
    return RawResultItem(
        custom_id=custom_id,
        index=index,
        provider_status="success",
        model=model,
        usage=lines.usage_of(response),
        finish_reason=str(finish) if finish else None,
        error=None,
        raw=response,
    )
