"""Create a batch (idempotently) and optionally wait for it: :class:`GeminiCreateBatchOperator`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import conf

from airflow_provider_gemini_batch._core.capacity import DEFAULT_CONCURRENT_BATCH_LIMIT
from airflow_provider_gemini_batch._core.estimate import DEFAULT_ASSUMED_OUTPUT_TOKENS
from airflow_provider_gemini_batch._core.identity import TaskIdentity, fingerprint
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.pending import (
    DEFAULT_MAX_PENDING_RECREATES,
    DEFAULT_PENDING_TIMEOUT,
    PendingPolicy,
    PendingTooLong,
)
from airflow_provider_gemini_batch._core.waiting import (
    DEFAULT_FILE_ACTIVE_TIMEOUT,
    DEFAULT_OUTPUT_GRACE_SECONDS,
    EventStatus,
    create_timeout_advice,
    describe_deferral,
    parse_event,
    raise_for_event,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiInvalidInputError,
)
from airflow_provider_gemini_batch.links.gemini_batch import GeminiBatchLink
from airflow_provider_gemini_batch.operators._budget import (
    budget_estimator,
    estimate_and_check,
    push_estimate,
)
from airflow_provider_gemini_batch.operators._capacity import resume_after_capacity
from airflow_provider_gemini_batch.operators._common import (
    CONN_ID_XCOM_KEY,
    DEFAULT_CONN_ID,
    DEFAULT_REATTACH_SCAN_LIMIT,
    GeminiOperatorBase,
    api_root_of,
    as_seconds,
)
from airflow_provider_gemini_batch.operators._idempotency import (
    INPUT_CHANGE_POLICIES,
    InputChangePolicy,
)
from airflow_provider_gemini_batch.operators._pending import (
    apply_policy,
    check_pending_arguments,
    load_attempts,
    make_watch,
    pending_seconds,
    push_report,
    signal_from_event,
)
from airflow_provider_gemini_batch.operators._resolve import describe_input, resolve_or_create
from airflow_provider_gemini_batch.operators._state_store import read_record
from airflow_provider_gemini_batch.operators._vertex import (
    check_backend_arguments,
)
from airflow_provider_gemini_batch.operators._wait import cancel_in_flight, poll_until_done
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def batch_input_fingerprint(
    *, model: str, embeddings: bool, priority: int | None, described: Mapping[str, Any]
) -> str:
    """The input fingerprint a create task records in the batch display name.

    ``described`` is ``{"requests": [...]}``, ``{"file": "files/..."}`` or
    ``{"file_sha256": "<hex>"}`` (for ``input_path``: the content, not the uploaded name).
    """
    return fingerprint(
        {"model": model, "embeddings": bool(embeddings), "priority": priority, "input": dict(described)}
    )


class GeminiCreateBatchOperator(GeminiOperatorBase):
    """Create a batch on the worker, push its name to XCom at once, optionally wait for it.

    Exactly one input: ``requests`` (inline list of ``{"request": ..., "metadata": {...}}`` or of
    bare request bodies, whole create request < 20 MB), ``input_file`` (an uploaded
    ``files/...``) or ``input_path`` (a local JSONL, uploaded first like
    :class:`GeminiUploadFileOperator`).

    Idempotent: the display name carries a tag of the task instance (dag, task, run, map index;
    never the try number) and a fingerprint of the input. A retry, a cleared task or a worker that
    died after the API call finds that batch (scanning at most ``reattach_scan_limit`` batches)
    and reattaches instead of paying twice. A batch of this task instance that ended FAILED,
    CANCELLED or EXPIRED is not reused. If the input changed, ``on_input_change`` decides:
    ``"fail"`` (default: raise, nothing is created) or ``"create_new"``.

    On Airflow 3.3+ the batch name (and the file uploaded for ``input_path``) is also recorded in
    the task state store (key ``gemini_batch``) as soon as it is known, before any wait or
    deferral. A retry or a cleared task reads it back and checks it with one GET (same marker,
    same input, not FAILED/CANCELLED/EXPIRED) instead of listing batches; when the record is
    missing or unusable, or on older Airflow, the display-name lookup above decides.

    :param model: model name, e.g. ``gemini-2.5-flash`` (templated).
    :param requests: inline requests (templated).
    :param input_file: uploaded input file name (templated).
    :param input_path: JSONL to upload first (templated): a local path, ``file://`` or
        object-storage URI, as for :class:`GeminiUploadFileOperator`.
    :param display_name: batch display name (templated); the identity marker is appended.
    :param input_uri: on a Vertex AI connection (extra ``"backend": "vertex"``): the input already
        in place, ``gs://bucket/requests.jsonl`` or ``bq://project.dataset.table`` (templated).
        Refused on a Developer API connection (it cannot read Cloud Storage or BigQuery).
    :param output_uri: on a Vertex AI connection, where the job writes its predictions,
        ``gs://bucket/prefix/`` or ``bq://project.dataset`` (templated); an ``input_path`` is
        validated and uploaded under ``<output_uri>/inputs/`` first. Ignored (with a log line) on a
        Developer API connection, so one DAG file runs on either backend. Inline ``requests`` are
        refused on Vertex (see ``docs/vertex.md``).
    :param embeddings: create an embeddings batch (``asyncBatchEmbedContent``). Default False.
    :param priority: batch priority (higher runs first; int64, negatives allowed), or None for the
        API default (0). Sent as ``priority``; change it later with
        :class:`~airflow_provider_gemini_batch.operators.priority.GeminiUpdateBatchPriorityOperator`.
    :param webhook_config: ``{"uris": ["https://..."], "user_metadata": {...}}`` passed through on
        create as ``webhookConfig`` (REST spelling ``userMetadata``; see
        ``_core.routes.webhook_config_body``). Not part of the input fingerprint. Default None.
    :param wait_for_completion: wait until the batch ends (like :class:`GeminiBatchSensor`).
    :param deferrable: wait in the triggerer (no worker slot held). Default
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between polls while waiting. Default 60.
    :param timeout: longest wait (timedelta or seconds). Default 48 h. Counted from the moment
        the wait starts in this try; the batch is left running when it passes.
    :param pending_timeout: (when waiting) how long the batch may stay PENDING, counted from its
        ``createTime`` (so a retried, cleared or resumed wait keeps counting), as a timedelta or
        seconds; None never flags. Default 6 h, chosen from users' reports of batches stuck in
        PENDING for more than 24 h until they expired (python-genai #1482, #2974; js-genai
        #1453, where healthy batches finished "within a few hours"): see docs/operators.md.
    :param on_pending_timeout: what happens then: ``"warn"`` (default: log it, report it on the
        batch page and in the results manifest, keep waiting), ``"fail"`` (cancel the batch,
        re-read the state it ended in, fail without retries with
        :class:`~airflow_provider_gemini_batch.exceptions.GeminiBatchStuckError`) or
        ``"recreate"`` (cancel it, re-read it, and once it has ended create a new batch from the
        same input; never two at once; every attempt is recorded in the task state store and
        under XCom key ``batch_attempts``). Near the 48 h expiry the log says so in any case.
    :param max_pending_recreates: replacements ``"recreate"`` makes at most for this task
        instance (counted across tries where Airflow has the task state store, 3.3+); the next
        stuck batch then fails the task as ``"fail"`` does. Default 2.
    :param cancel_on_kill: cancel the batch when the task is killed while waiting. Default True.
        After the cancel the batch is re-read (bounded) and the state it ended in is logged.
    :param cancel_on_timeout: when ``timeout`` passes, cancel the batch, re-read it for up to 60 s
        and report the state it really ended in (a batch that still ended SUCCEEDED makes the task
        succeed). Default False (the batch is left running and the task fails with a timeout).
    :param output_grace_period: seconds a batch reporting SUCCEEDED without naming its output is
        re-read before the wait fails. Default 600.
    :param input_mime_type: MIME type declared when uploading ``input_path`` (templated). Default
        ``application/jsonl``; the cookbook declares ``jsonl``.
    :param file_active_timeout: seconds to wait for the input file to become ACTIVE before
        creating (a PROCESSING file is refused by the service). Default 600. A FAILED file fails
        the task with the file's error.
    :param on_input_change: ``"fail"`` or ``"create_new"`` (see above).
    :param reattach_scan_limit: existing batches scanned for a reattach. Default 500.
    :param price_table: the batch prices you pay per million tokens, per model (the shape of
        :class:`GeminiBatchResultsOperator`'s ``price_table``). When given, the task estimates the
        batch's cost while it checks the input (``_core/estimate.py``: text characters / 4, output
        from ``maxOutputTokens``), logs it and pushes it under XCom key ``cost_estimate``; the
        results task's manifest shows it beside the actual cost. Default None.
    :param currency: the currency of ``price_table``. Default ``"USD"``.
    :param max_cost: the most the batch may cost by that estimate, in ``currency``; above it the
        task fails with :class:`~airflow_provider_gemini_batch.exceptions.GeminiBudgetExceededError`
        before anything is uploaded or created (no retries). Needs ``price_table`` and an input that
        can be read (``requests`` or ``input_path``, not ``input_file``). Default None: no budget.
    :param assumed_output_tokens: output tokens counted for a request without
        ``generationConfig.maxOutputTokens`` (an assumption, not a bound). Default 8,192.
    :param tokens_per_media_part: tokens counted per ``inlineData``/``fileData`` part, or None
        (default): with ``max_cost``, an input holding media parts is then refused (their token
        count depends on the image size or media length).
    :param concurrent_batch_limit: batches the project may have PENDING or RUNNING at once.
        Default 100, the Gemini API's documented limit (ai.google.dev/gemini-api/docs/rate-limits,
        "Batch API": concurrent batch requests). A create refused at the limit (429
        RESOURCE_EXHAUSTED without a per-minute quota, see ``_core/capacity.py``) does not fail:
        deferrable, the task defers until the project's count of batches in flight drops below
        this limit (or below the count first seen, if the service refused earlier) and then
        creates through the same idempotent path; not deferrable, the worker waits so. docs/capacity.md.
    :param capacity_timeout: longest wait for a free slot (timedelta or seconds), across all
        refusals of this try. Default 24 h; past it the task fails with
        :class:`~airflow_provider_gemini_batch.exceptions.GeminiBatchTimeoutError`.
    :param capacity_poll_interval: seconds between two counts of the project's batches while
        waiting for a slot. Default 60.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: the batch name ``batches/...`` (also pushed at once under XCom key ``batch_name``,
        with the connection id under XCom key ``gemini_conn_id``). With ``input_path``, the
        uploaded (or reused) ``files/...`` is pushed under XCom key ``input_file`` right after the
        upload, before the create: the file is not deleted with the batch (the Files API removes
        it 48 h after upload), so delete it downstream with ``GeminiDeleteFileOperator(file_name=
        "{{ ti.xcom_pull(task_ids='create', key='input_file') }}")``, a teardown task that also
        runs when the create failed.
    :raises GeminiInvalidInputError: not exactly one input, or the input changed under ``"fail"``.
    :raises GeminiBudgetExceededError: the estimated cost is above ``max_cost`` (nothing was sent).
    :raises GeminiBatchFailedError: (when waiting) the batch ended FAILED, CANCELLED or EXPIRED;
        the task fails without retries (clear it to submit a new batch).
    :raises GeminiBatchOutputMissingError: (when waiting) the batch reports success but names no
        output after ``output_grace_period``; without retries.
    :raises GeminiBatchTimeoutError: (when waiting) the timeout passed; without retries.
    :raises GeminiBatchStuckError: (when waiting) the batch stayed PENDING past
        ``pending_timeout`` under ``"fail"`` (or ``"recreate"`` with no replacement left); the
        batch was cancelled; without retries.
    """

    template_fields: Sequence[str] = (
        "model",
        "requests",
        "input_file",
        "input_path",
        "input_uri",
        "output_uri",
        "input_mime_type",
        "display_name",
    )
    template_ext: Sequence[str] = ()
    operator_extra_links = (GeminiBatchLink(),)
    ui_color = "#d2e3fc"

    def __init__(
        self,
        *,
        model: str,
        requests: list[dict[str, Any]] | None = None,
        input_file: str | None = None,
        input_path: str | None = None,
        input_uri: str | None = None,
        output_uri: str | None = None,
        display_name: str | None = None,
        embeddings: bool = False,
        priority: int | None = None,
        webhook_config: dict[str, Any] | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 60,
        timeout: timedelta | float = timedelta(hours=48),
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = False,
        pending_timeout: timedelta | float | None = timedelta(seconds=DEFAULT_PENDING_TIMEOUT),
        on_pending_timeout: PendingPolicy = "warn",
        max_pending_recreates: int = DEFAULT_MAX_PENDING_RECREATES,
        output_grace_period: float = DEFAULT_OUTPUT_GRACE_SECONDS,
        input_mime_type: str = "application/jsonl",
        file_active_timeout: float = DEFAULT_FILE_ACTIVE_TIMEOUT,
        on_input_change: InputChangePolicy = "fail",
        reattach_scan_limit: int = DEFAULT_REATTACH_SCAN_LIMIT,
        price_table: dict[str, dict[str, float]] | None = None,
        currency: str = "USD",
        max_cost: float | None = None,
        assumed_output_tokens: int = DEFAULT_ASSUMED_OUTPUT_TOKENS,
        tokens_per_media_part: int | None = None,
        concurrent_batch_limit: int = DEFAULT_CONCURRENT_BATCH_LIMIT,
        capacity_timeout: timedelta | float = timedelta(hours=24),
        capacity_poll_interval: float = 60,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.model = model
        self.requests = requests
        self.input_file = input_file
        self.input_path = input_path
        self.input_uri = input_uri
        self.output_uri = output_uri
        self.display_name = display_name
        self.embeddings = embeddings
        self.priority = priority
        self.webhook_config = webhook_config
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.pending_timeout = pending_timeout
        self.on_pending_timeout = on_pending_timeout
        self.max_pending_recreates = max_pending_recreates
        self.output_grace_period = output_grace_period
        self.input_mime_type = input_mime_type
        self.file_active_timeout = file_active_timeout
        self.on_input_change = on_input_change
        self.reattach_scan_limit = reattach_scan_limit
        self.price_table = price_table
        self.currency = currency
        self.max_cost = max_cost
        self.assumed_output_tokens = assumed_output_tokens
        self.tokens_per_media_part = tokens_per_media_part
        self.concurrent_batch_limit = concurrent_batch_limit
        self.capacity_timeout = capacity_timeout
        self.capacity_poll_interval = capacity_poll_interval
        #: creates refused at the limit in this try, and the absolute deadline of the wait for a
        #: slot (restored from the trigger event after a deferral: see ``_capacity``).
        self.capacity_attempt = 0
        self.capacity_end_time: float | None = None
        self._in_flight: str | None = None
        self._vertex = False

    def _check_arguments(self) -> None:
        given = [
            n
            for n in ("requests", "input_file", "input_path", "input_uri")
            if getattr(self, n) not in (None, "", [])
        ]
        if len(given) != 1:
            raise GeminiInvalidInputError(
                f"{self.task_id}: give exactly one of requests, input_file, input_path or input_uri "
                f"(got {', '.join(given) or 'none'})."
            )
        if self.on_input_change not in INPUT_CHANGE_POLICIES:
            raise GeminiInvalidInputError(
                f"{self.task_id}: on_input_change must be one of {INPUT_CHANGE_POLICIES}, "
                f"got {self.on_input_change!r}."
            )
        check_pending_arguments(
            self.task_id, self.pending_timeout, self.on_pending_timeout, self.max_pending_recreates
        )
        for name in ("concurrent_batch_limit", "capacity_poll_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise GeminiInvalidInputError(
                    f"{self.task_id}: {name} must be a number above 0, got {value!r}."
                )
        if self.requests is not None and not isinstance(self.requests, list):
            raise GeminiInvalidInputError(
                f"{self.task_id}: requests must be a list of request objects, "
                f"got {type(self.requests).__name__}."
            )

    def _input_fingerprint(self, input_description: Mapping[str, Any]) -> str:
        return batch_input_fingerprint(
            model=self.model, embeddings=self.embeddings, priority=self.priority, described=input_description
        )

    def execute(self, context: Context) -> str:
        """Run the steps in order; everything before the reattach lookup sends no request."""
        self._check_arguments()
        # Reads the connection (no request): which backend decides which inputs are allowed.
        self._vertex = check_backend_arguments(self, self.hook)
        budget = budget_estimator(self)
        identity = TaskIdentity.from_context(context)
        described = describe_input(self, budget[0] if budget else None)
        # The budget is checked here, before any request (even the reattach lookup).
        estimate = estimate_and_check(self, *budget) if budget else None
        input_fp = self._input_fingerprint(described)
        batch = resolve_or_create(self, context, identity, described, input_fp).batch
        assert batch is not None  # resolve_or_create returns the record of a batch it found or made
        self._push_xcoms(context, batch)
        push_estimate(context, estimate, batch.name)
        if not self.wait_for_completion:
            return batch.name
        return self._wait(context, batch)

    # -- the steps of execute, in order ----------------------------------------------------------

    @property
    def capacity_timeout_seconds(self) -> float:
        return as_seconds(self.capacity_timeout)

    def execute_after_capacity(self, context: Context, event: Any = None) -> str:
        """Resume after the wait for a free batch slot: run the whole create path again, from the
        reattach lookup (a batch made meanwhile by this task instance is reattached, not doubled).

        :raises GeminiBatchTimeoutError: ``capacity_timeout`` passed without a free slot.
        """
        resume_after_capacity(self, event)
        return self.execute(context)

    def _push_xcoms(self, context: Context, batch: Batch) -> None:
        """Record the batch (name, connection id, link) before any waiting: if this worker dies
        now, the name is already recorded."""
        context["ti"].xcom_push(key="batch_name", value=batch.name)
        context["ti"].xcom_push(key=CONN_ID_XCOM_KEY, value=self.gemini_conn_id)
        page = GeminiBatchLink.persist(context, batch.name, api_root_of(self.hook))
        self.log.info("Batch page for %s: %s", batch.name, page)

    # -- helpers of the steps --------------------------------------------------------------------

    def _wait(self, context: Context, batch: Batch) -> str:
        end_time = time.time() + as_seconds(self.wait_timeout)
        self._in_flight = batch.name
        if self.deferrable and not batch.done:
            self.log.info("%s", describe_deferral(batch.name, float(self.poll_interval), end_time))
            self.defer(
                trigger=GeminiBatchTrigger(
                    batch_name=batch.name,
                    gemini_conn_id=self.gemini_conn_id,
                    poll_interval=float(self.poll_interval),
                    end_time=end_time,
                    cancel_on_kill=self.cancel_on_kill,
                    output_grace_period=float(self.output_grace_period),
                    cancel_on_timeout=self.cancel_on_timeout,
                    pending_timeout=pending_seconds(self.pending_timeout),
                    on_pending_timeout=str(self.on_pending_timeout),
                ),
                method_name="execute_complete",
            )
        # Also for a reattached batch that already ended: the same decision, no deferral.
        watch = make_watch(self, batch.name)
        try:
            final = poll_until_done(
                self.hook,
                batch.name,
                float(self.poll_interval),
                end_time,
                self.log,
                output_grace=float(self.output_grace_period),
                cancel_on_timeout=self.cancel_on_timeout,
                pending=watch,
            )
        except PendingTooLong as stuck:
            self._in_flight = None
            return self._after_stuck(context, apply_policy(self, context, stuck.signal))
        self._in_flight = None
        attempts = load_attempts(context, read_record(context, self.log))
        push_report(context, self, attempts, final.name, watch.stuck)
        return final.name

    def _after_stuck(self, context: Context, ended: Batch | None) -> str:
        """Go on after :func:`~._pending.apply_policy`: a batch that ended with results is the
        outcome; None means the old batch ended without, so the replacement is created now,
        through the same idempotent path as the first create (and waited for the same way)."""
        if ended is not None:
            self.log.info("Batch %s ended %s after all.", ended.name, ended.state.short)
            context["ti"].xcom_push(key="batch_summary", value=ended.summary())
            return ended.name
        return self.execute(context)

    def execute_complete(self, context: Context, event: Any = None) -> str:
        """Resume after the deferred wait; the batch name comes from the event, never from self.

        :raises GeminiBatchFailedError, GeminiBatchOutputMissingError, GeminiBatchTimeoutError,
            GeminiBatchError: as the event says.
        """
        parsed = parse_event(event)
        limit = pending_seconds(self.pending_timeout) or 0.0
        if parsed.status is EventStatus.PENDING_TIMEOUT:
            self.log.warning("%s", parsed.message)
            return self._after_stuck(context, apply_policy(self, context, signal_from_event(event, limit)))
        summary = raise_for_event(parsed, timeout_advice=create_timeout_advice(parsed.batch_name))
        self.log.info("%s", parsed.message or f"Batch {parsed.batch_name} succeeded.")
        context["ti"].xcom_push(key="batch_summary", value=dict(summary))
        # A flag the trigger raised under "warn" travels in the event (nothing survives a deferral).
        flag = signal_from_event(event, limit) if isinstance(event.get("pending"), Mapping) else None
        push_report(
            context, self, load_attempts(context, read_record(context, self.log)), parsed.batch_name, flag
        )
        return parsed.batch_name

    def on_kill(self) -> None:
        """Cancel the batch this task is waiting for (when ``cancel_on_kill``)."""
        cancel_in_flight(self, self._in_flight, self.cancel_on_kill)

    # -- OpenLineage (called by apache-airflow-providers-openlineage when installed) --------------

    def _lineage_inputs(self) -> list[Any]:
        """The batch's input as datasets: the local/object-store ``input_path`` or the uploaded
        ``input_file``; none for inline ``requests`` (they live in the DAG, not in a dataset)."""
        from airflow_provider_gemini_batch.operators import _lineage

        if self.input_path:
            return [_lineage.path_dataset(self.input_path)]
        if self.input_file:
            return [_lineage.gemini_dataset(_lineage.base_url_of(self), self.input_file)]
        return []

    def get_openlineage_facets_on_start(self) -> Any:
        """Lineage known before the create: the input file, if any, as input."""
        from airflow_provider_gemini_batch.operators import _lineage

        return _lineage.operator_lineage(self._lineage_inputs(), [])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The input as input and the batch (``batches/…``, found by this task's marker) as output."""
        from airflow_provider_gemini_batch.operators import _lineage

        batch_name = _lineage.created_by_task(self, task_instance, "batches")
        return _lineage.operator_lineage(
            self._lineage_inputs(), [_lineage.gemini_dataset(_lineage.base_url_of(self), batch_name)]
        )
