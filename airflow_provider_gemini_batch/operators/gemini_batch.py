"""Operators for the Gemini Batch lifecycle: upload, create (and optionally wait), results, cleanup.

All operators are safe to construct: ``__init__`` only stores arguments; the hook is created on
first use. The API key lives in the connection only; no argument, template field, XCom value or
log line carries it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_gemini_batch._core import jsonl
from airflow_provider_gemini_batch._core.identity import TaskIdentity, fingerprint, tagged_display_name
from airflow_provider_gemini_batch._core.jsonl import with_position_key
from airflow_provider_gemini_batch._core.manifest import ResultsTally, build_manifest, row_warnings
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.rows import SUCCEEDED
from airflow_provider_gemini_batch._core.states import FAILURE_STATES, PARTIAL_STATES
from airflow_provider_gemini_batch._core.waiting import (
    CANCEL_SETTLE_INTERVAL,
    DEFAULT_CANCEL_SETTLE_SECONDS,
    DEFAULT_FILE_ACTIVE_TIMEOUT,
    DEFAULT_OUTPUT_GRACE_SECONDS,
    OutcomeKind,
    StepKind,
    WaitTracker,
    describe_settled,
    interpret,
    parse_event,
    raise_for_event,
    raise_for_step,
    settle_after_cancel,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiBatchTimeoutError,
    GeminiInputFileError,
    GeminiInvalidInputError,
    GeminiNotFoundError,
    GeminiResultsThresholdError,
    GeminiServerError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.links.gemini_batch import GeminiBatchLink
from airflow_provider_gemini_batch.operators._assets import destination_asset
from airflow_provider_gemini_batch.operators._idempotency import (
    INPUT_CHANGE_POLICIES,
    InputChangePolicy,
    find_reattachable_batch,
    find_reusable_file,
    sha256_of,
    upload_display_name,
)
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

DEFAULT_CONN_ID = "gemini_batch_default"
#: XCom key under which create and sensor tasks record the connection id beside the batch name:
#: a batch is visible only to the key/project that created it, so downstream tasks must use the
#: same connection (a 404 otherwise).
CONN_ID_XCOM_KEY = "gemini_conn_id"
#: How many existing files/batches a reattach lookup scans at most.
DEFAULT_REATTACH_SCAN_LIMIT = 500


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _make_hook(conn_id: str) -> GeminiBatchHook:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    return GeminiBatchHook(gemini_conn_id=conn_id)


def api_root_of(hook: Any) -> str | None:
    """The connection's versioned API root for links (``<base url>/<api_version>``); never the key.

    The version is the connection's ``api_version`` extra (default ``v1beta``), so the link
    names the same REST resource the hook talks to.
    """
    settings = getattr(hook, "settings", None)
    base_url = getattr(settings, "base_url", None)
    if base_url is None:
        return None
    version = getattr(settings, "api_version", None)
    return f"{base_url.rstrip('/')}/{version}" if version else base_url


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


class _GeminiOperator(BaseOperator):
    """Shared plumbing: the connection id and a lazily created sync hook."""

    def __init__(self, *, gemini_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gemini_conn_id = gemini_conn_id

    @cached_property
    def hook(self) -> GeminiBatchHook:
        """The sync hook for ``gemini_conn_id`` (created on first use, on the worker)."""
        return _make_hook(self.gemini_conn_id)


# --------------------------------------------------------------------------------------------
# Upload
# --------------------------------------------------------------------------------------------


def _validate_jsonl(path: str, *, embeddings: bool | None = None, log: Any = None) -> None:
    """Validate a JSONL input (see ``_core.jsonl.validate_input_lines``); warn about line fields
    the service will not read.

    :param path: a local path, ``file://`` or object-storage URI (see ``storage.resolve_path``).
    :param embeddings: True/False when the batch kind is known; None: the first line decides.
    """
    from airflow_provider_gemini_batch.storage import resolve_path

    try:
        summary = jsonl.validate_input_file(path, opener=resolve_path(path), embeddings=embeddings)
    except OSError as exc:
        raise GeminiInputFileError(f"cannot read the input file ({exc}).", path=path) from None
    warning = jsonl.echoed_fields_warning(summary, path)
    if warning and log is not None:
        log.warning(warning)


def _content_sha256(path: str) -> str:
    """Hex sha256 of the input at ``path`` (any form :func:`storage.resolve_path` accepts)."""
    from airflow_provider_gemini_batch.storage import resolve_path

    source = resolve_path(path)
    try:
        return sha256_of(path, opener=lambda: source.open("rb"))
    except OSError as exc:
        raise GeminiInputFileError(f"cannot read the input file ({exc}).", path=path) from None


def check_input_size(path: str) -> int:
    """Size of the input file in bytes, refused before reading when over the API's 2 GB.

    ``path`` is a local path, a ``file://`` URI or an object-storage URI/``ObjectStoragePath``
    (whatever :func:`storage.resolve_path` accepts, like the hook's ``upload_file``).

    :raises GeminiInputFileError: the file does not exist, is a directory or is larger than 2 GB.
    :raises GeminiInvalidInputError: a URI whose scheme has no registered filesystem.
    """
    from airflow_provider_gemini_batch._core.routes import MAX_UPLOAD_BYTES
    from airflow_provider_gemini_batch.storage import resolve_path

    source = resolve_path(path)
    try:
        size = int(source.stat().st_size)
        is_dir = source.is_dir()
    except OSError as exc:
        raise GeminiInputFileError(
            f"cannot read the input file ({exc.strerror or exc}).", path=str(path)
        ) from None
    if is_dir:
        raise GeminiInputFileError("the input path is a directory; pass a file.", path=str(path))
    if size > MAX_UPLOAD_BYTES:
        raise GeminiInputFileError(
            f"the file is {size} bytes; the Batch API accepts input files of at most "
            f"{MAX_UPLOAD_BYTES} bytes (2 GB). Split it into several batches.",
            path=str(path),
        )
    return size


def upload_idempotent(
    hook: Any,
    *,
    path: str,
    identity: TaskIdentity,
    display_name: str | None,
    mime_type: str,
    validate: bool,
    scan_limit: int,
    log: Any,
    content_sha256: str | None = None,
    embeddings: bool | None = None,
) -> str:
    """Validate, then upload ``path`` once per task instance and content; returns ``files/...``.

    ``content_sha256`` is the file's hex sha256 when the caller already computed it, so a large
    input is not read once more just to hash it.

    :raises GeminiInputFileError: the file is missing, over 2 GB, or invalid JSONL (nothing is
        uploaded; the size is checked before a single byte is read).
    """
    check_input_size(path)
    if validate:
        _validate_jsonl(path, embeddings=embeddings, log=log)
    content_sha = content_sha256 or _content_sha256(path)
    existing = find_reusable_file(hook, identity, content_sha, limit=scan_limit, log=log)
    if existing is not None:
        log.info("Reusing %s, uploaded earlier by this task instance with identical content.", existing.name)
        return existing.name
    info = hook.upload_file(
        path,
        display_name=upload_display_name(display_name, identity, content_sha),
        mime_type=mime_type,
        validate=False,  # validated above when asked; validate=False must mean not at all
    )
    log.info("Uploaded %s as %s (%d bytes).", path, info.name, info.size_bytes)
    return str(info.name)


class GeminiUploadFileOperator(_GeminiOperator):
    """Upload a JSONL input file for a batch; returns its name (``files/...``).

    Re-running the task for unchanged content reuses the file uploaded before (the display name
    carries a tag of the task instance and the content's sha256), so retries leave no orphans.

    :param path: the JSONL file (templated): a local path, a ``file://`` URI or an object-storage
        URI (``gs://``, ``s3://`` ..., any scheme with a registered Airflow ObjectStoragePath
        filesystem), exactly what the hook's ``upload_file`` accepts.
    :param display_name: display name of the file (templated); the identity marker is appended.
    :param mime_type: declared MIME type. Default ``application/jsonl``.
    :param validate: validate the JSONL line by line before uploading (every line an object with a
        ``request`` object whose fields are those of the request type, keys unique). Default True.
    :param embeddings: the file is for an embedding batch (True: EmbedContentRequest lines) or a
        generateContent batch (False); None (default): the first line's request decides.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :param reattach_scan_limit: existing files scanned for a reusable upload. Default 500.
    :raises GeminiInputFileError: invalid JSONL (file and line number in the message).
    """

    template_fields: Sequence[str] = ("path", "display_name", "mime_type")
    # Empty on purpose: a path ending in .jsonl must stay a path, not be read as a template file.
    template_ext: Sequence[str] = ()
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        path: str,
        display_name: str | None = None,
        mime_type: str = "application/jsonl",
        validate: bool = True,
        embeddings: bool | None = None,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        reattach_scan_limit: int = DEFAULT_REATTACH_SCAN_LIMIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.path = path
        self.display_name = display_name
        self.mime_type = mime_type
        self.validate = validate
        self.embeddings = embeddings
        self.reattach_scan_limit = reattach_scan_limit

    def execute(self, context: Context) -> str:
        return upload_idempotent(
            self.hook,
            path=str(self.path),
            identity=TaskIdentity.from_context(context),
            display_name=self.display_name,
            mime_type=self.mime_type,
            validate=self.validate,
            scan_limit=self.reattach_scan_limit,
            log=self.log,
            embeddings=self.embeddings,
        )


# --------------------------------------------------------------------------------------------
# Create (and optionally wait)
# --------------------------------------------------------------------------------------------


class GeminiCreateBatchOperator(_GeminiOperator):
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

    :param model: model name, e.g. ``gemini-2.5-flash`` (templated).
    :param requests: inline requests (templated).
    :param input_file: uploaded input file name (templated).
    :param input_path: JSONL to upload first (templated): a local path, ``file://`` or
        object-storage URI, as for :class:`GeminiUploadFileOperator`.
    :param display_name: batch display name (templated); the identity marker is appended.
    :param embeddings: create an embeddings batch (``asyncBatchEmbedContent``). Default False.
    :param priority: batch priority (higher runs first), or None for the API default.
    :param wait_for_completion: wait until the batch ends (like :class:`GeminiBatchSensor`).
    :param deferrable: wait in the triggerer (no worker slot held). Default
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between polls while waiting. Default 60.
    :param timeout: longest wait (timedelta or seconds). Default 48 h. Counted from the moment
        the wait starts in this try; the batch is left running when it passes.
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
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: the batch name ``batches/...`` (also pushed at once under XCom key ``batch_name``,
        with the connection id under XCom key ``gemini_conn_id``).
    :raises GeminiInvalidInputError: not exactly one input, or the input changed under ``"fail"``.
    :raises GeminiBatchFailedError: (when waiting) the batch ended FAILED, CANCELLED or EXPIRED.
    :raises GeminiBatchTimeoutError: (when waiting) the timeout passed.
    """

    template_fields: Sequence[str] = (
        "model",
        "requests",
        "input_file",
        "input_path",
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
        display_name: str | None = None,
        embeddings: bool = False,
        priority: int | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 60,
        timeout: timedelta | float = timedelta(hours=48),
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = False,
        output_grace_period: float = DEFAULT_OUTPUT_GRACE_SECONDS,
        input_mime_type: str = "application/jsonl",
        file_active_timeout: float = DEFAULT_FILE_ACTIVE_TIMEOUT,
        on_input_change: InputChangePolicy = "fail",
        reattach_scan_limit: int = DEFAULT_REATTACH_SCAN_LIMIT,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.model = model
        self.requests = requests
        self.input_file = input_file
        self.input_path = input_path
        self.display_name = display_name
        self.embeddings = embeddings
        self.priority = priority
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.output_grace_period = output_grace_period
        self.input_mime_type = input_mime_type
        self.file_active_timeout = file_active_timeout
        self.on_input_change = on_input_change
        self.reattach_scan_limit = reattach_scan_limit
        self._in_flight: str | None = None

    def _check_arguments(self) -> None:
        given = [
            n for n in ("requests", "input_file", "input_path") if getattr(self, n) not in (None, "", [])
        ]
        if len(given) != 1:
            raise GeminiInvalidInputError(
                f"{self.task_id}: give exactly one of requests, input_file or input_path "
                f"(got {', '.join(given) or 'none'})."
            )
        if self.on_input_change not in INPUT_CHANGE_POLICIES:
            raise GeminiInvalidInputError(
                f"{self.task_id}: on_input_change must be one of {INPUT_CHANGE_POLICIES}, "
                f"got {self.on_input_change!r}."
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
        self._check_arguments()
        identity = TaskIdentity.from_context(context)
        input_file = self.input_file
        if self.requests is not None:
            # Refuse bad requests before any call (even the reattach lookup); the hook checks
            # them again when it builds the body, which is cheap next to the create itself.
            jsonl.inline_request_items(self.requests, embeddings=self.embeddings)
            described: dict[str, Any] = {"requests": self.requests}
        elif self.input_path:
            path = str(self.input_path)
            # Refuse bad input before any request (even the reattach lookup) is sent.
            check_input_size(path)
            _validate_jsonl(path, embeddings=self.embeddings, log=self.log)
            # Fingerprint the content, not the uploaded name: a re-upload gets a new name.
            described = {"file_sha256": _content_sha256(path)}
        else:
            described = {"file": input_file}
        input_fp = self._input_fingerprint(described)

        decision = find_reattachable_batch(
            self.hook,
            identity,
            input_fp,
            on_input_change=self.on_input_change,
            limit=self.reattach_scan_limit,
            log=self.log,
        )
        self.log.info("Idempotency check: %s.", decision.reason)
        batch = decision.batch
        if batch is None:
            if self.input_path:
                input_file = upload_idempotent(
                    self.hook,
                    path=str(self.input_path),
                    identity=identity,
                    display_name=self.display_name,
                    mime_type=str(self.input_mime_type or "application/jsonl"),
                    validate=False,  # validated above, before the lookup
                    scan_limit=self.reattach_scan_limit,
                    log=self.log,
                    content_sha256=described["file_sha256"],
                )
            if input_file:
                # A file is PROCESSING for a while after upload; a batch on it is refused.
                self.hook.wait_for_file_active(str(input_file), timeout=float(self.file_active_timeout))
            try:
                batch = self._create(tagged_display_name(self.display_name, identity, input_fp), input_file)
            except (GeminiServerError, GeminiTransportError) as exc:
                batch = self._find_after_ambiguous_failure(identity, input_fp, exc)
            else:
                self.log.info("Created %s (%s).", batch.name, batch.state.short)

        # Pushed before any waiting: if this worker dies now, the name is already recorded.
        context["ti"].xcom_push(key="batch_name", value=batch.name)
        context["ti"].xcom_push(key=CONN_ID_XCOM_KEY, value=self.gemini_conn_id)
        GeminiBatchLink.persist(context, batch.name, api_root_of(self.hook))
        if not self.wait_for_completion:
            return batch.name
        return self._wait(context, batch)

    def _find_after_ambiguous_failure(
        self, identity: TaskIdentity, input_fp: str, exc: GeminiServerError | GeminiTransportError
    ) -> Batch:
        """Look once for the batch a failed create may have made anyway, before failing the task.

        A 5xx or a connection lost after the request was sent does not prove the service did not
        create the batch (the hook never repeats a create for that reason). If the batch of this
        task instance exists now, reattach; otherwise re-raise, and a retry of the task will look
        again before creating.

        :raises GeminiServerError, GeminiTransportError: ``exc``, when no such batch exists.
        """
        if isinstance(exc, GeminiTransportError) and not exc.sent:
            raise exc  # the request never left this machine: nothing can exist
        decision = find_reattachable_batch(
            self.hook,
            identity,
            input_fp,
            on_input_change=self.on_input_change,
            limit=self.reattach_scan_limit,
            log=self.log,
        )
        if decision.batch is None:
            self.log.warning(
                "Creating the batch failed and no batch of this task instance exists (%s); a retry of "
                "this task looks again before creating.",
                exc,
            )
            raise exc
        self.log.warning(
            "Creating the batch failed (%s), but the service had created it: %s.", exc, decision.reason
        )
        return decision.batch

    def _create(self, display_name: str, input_file: str | None) -> Batch:
        if self.embeddings:
            return self.hook.create_embeddings_batch(
                self.model, requests=self.requests, input_file=input_file, display_name=display_name
            )
        return self.hook.create_batch(
            self.model,
            requests=self.requests,
            input_file=input_file,
            display_name=display_name,
            priority=self.priority,
        )

    def _wait(self, context: Context, batch: Batch) -> str:
        end_time = time.time() + _seconds(self.wait_timeout)
        self._in_flight = batch.name
        if self.deferrable and not batch.done:
            self.defer(
                trigger=GeminiBatchTrigger(
                    batch_name=batch.name,
                    gemini_conn_id=self.gemini_conn_id,
                    poll_interval=float(self.poll_interval),
                    end_time=end_time,
                    cancel_on_kill=self.cancel_on_kill,
                    output_grace_period=float(self.output_grace_period),
                    cancel_on_timeout=self.cancel_on_timeout,
                ),
                method_name="execute_complete",
            )
        # Also for a reattached batch that already ended: the same decision, no deferral.
        final = poll_until_done(
            self.hook,
            batch.name,
            float(self.poll_interval),
            end_time,
            self.log,
            output_grace=float(self.output_grace_period),
            cancel_on_timeout=self.cancel_on_timeout,
        )
        self._in_flight = None
        return final.name

    def execute_complete(self, context: Context, event: Any = None) -> str:
        """Resume after the deferred wait; the batch name comes from the event, never from self.

        :raises GeminiBatchFailedError, GeminiBatchTimeoutError, GeminiBatchError: as the event says.
        """
        parsed = parse_event(event)
        summary = raise_for_event(parsed)
        self.log.info("%s", parsed.message or f"Batch {parsed.batch_name} succeeded.")
        context["ti"].xcom_push(key="batch_summary", value=dict(summary))
        return parsed.batch_name

    def on_kill(self) -> None:
        """Cancel the batch this task is waiting for (when ``cancel_on_kill``)."""
        cancel_in_flight(self, self._in_flight, self.cancel_on_kill)


def cancel_and_settle(
    hook: Any, batch_name: str, log: Any, *, settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS
) -> Batch | None:
    """Request a cancel, then re-read the batch (bounded) and log the state it really ended in.

    A cancel is a request, not an outcome: a batch being cancelled may still end SUCCEEDED or
    FAILED (python-genai ``JobState.JOB_STATE_CANCELLING``). Returns the last batch read (None if
    none could be read); never raises for the cancel itself.
    """
    try:
        hook.cancel_batch(batch_name)
    except GeminiBatchError as exc:
        log.warning("Could not cancel %s: %s", batch_name, exc)
    settled = settle_after_cancel(
        lambda: hook.get_batch(batch_name, light=True),
        timeout=settle_timeout,
        interval=CANCEL_SETTLE_INTERVAL,
        clock=time.monotonic,
        sleep=time.sleep,
    )
    log.info("%s", describe_settled(batch_name, settled))
    return settled


#: Seconds ``on_kill`` spends re-reading after its cancel (Airflow bounds ``on_kill`` too).
ON_KILL_SETTLE_SECONDS = 10.0


def cancel_in_flight(op: Any, batch_name: str | None, enabled: bool) -> None:
    """Best-effort cancel of a batch a killed task was waiting for, then a bounded re-read."""
    if not batch_name or not enabled:
        return
    op.log.info("Task killed; cancelling %s.", batch_name)
    cancel_and_settle(op.hook, batch_name, op.log, settle_timeout=ON_KILL_SETTLE_SECONDS)


def raise_for_outcome(batch: Batch) -> None:
    """Raise :class:`GeminiBatchFailedError` for a batch that ended FAILED, CANCELLED, EXPIRED
    or done in an unknown state."""
    outcome = interpret(batch)
    if outcome.kind is OutcomeKind.FAILURE:
        raise GeminiBatchFailedError(
            outcome.message, batch_name=batch.name, state=batch.state.short, summary=batch.summary()
        )


def poll_until_done(
    hook: Any,
    batch_name: str,
    poll_interval: float,
    end_time: float,
    log: Any,
    *,
    output_grace: float = DEFAULT_OUTPUT_GRACE_SECONDS,
    cancel_on_timeout: bool = False,
    settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
) -> Batch:
    """Synchronous wait with the same decision as the trigger (one :class:`WaitTracker`).

    Polls are light (``fields`` mask); a success without an output reference is re-read in full
    for up to ``output_grace`` seconds. Transient errors are already retried inside the sync
    hook. ``time.sleep`` is the only clock boundary (tests may patch it).

    :returns: the batch that ended SUCCEEDED or PARTIALLY_SUCCEEDED (the latter logged as a warning).
    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED, EXPIRED or done in an
        unknown state.
    :raises GeminiBatchError: the batch reports success but names no output after the grace.
    :raises GeminiBatchTimeoutError: ``end_time`` (epoch seconds) passed first (with
        ``cancel_on_timeout``: after the cancel, when the batch did not end SUCCEEDED).
    """
    tracker = WaitTracker(batch_name, output_grace=output_grace)
    last_state: str | None = None
    full_read = False
    while True:
        batch = hook.get_batch(batch_name, light=not full_read)
        step = tracker.observe(batch, time.monotonic())
        if batch.state_label != last_state:
            last_state = batch.state_label
            log.info("%s", step.message)
        if step.warning:
            log.warning("%s", step.warning)
        if step.kind is StepKind.SUCCESS:
            return batch
        raise_for_step(step, batch)
        full_read = step.full_read
        remaining = end_time - time.time()
        if remaining <= 0:
            message = f"Stopped waiting for {batch_name}: the timeout passed while it was {last_state}."
            if not cancel_on_timeout:
                raise GeminiBatchTimeoutError(message + " The batch was left running.")
            settled = cancel_and_settle(hook, batch_name, log, settle_timeout=settle_timeout)
            if settled is not None and settled.done:
                final = WaitTracker(batch_name, output_grace=0.0).observe(settled, 0.0)
                if final.kind is StepKind.SUCCESS:
                    log.warning("%s %s", message, describe_settled(batch_name, settled))
                    return settled
                raise_for_step(final, settled)
            raise GeminiBatchTimeoutError(f"{message} {describe_settled(batch_name, settled)}")
        time.sleep(min(poll_interval, remaining))


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class GeminiBatchResultsOperator(_GeminiOperator):
    """Stream every result of a finished batch to ``destination`` as JSONL; return a small manifest.

    Rows are ``{"key", "status": "succeeded"|"failed", "outcome", "reason"?, "retryable"?,
    "key_inferred"?, "response"|"error"}``, written one at a time into a temporary sibling of
    ``destination`` and published only when complete (a cut-off download never leaves a file that
    looks complete). Memory stays flat whatever the size.

    A response is not proof of success: each row is classified (``_core/rows.py``) as
    ``succeeded`` (a usable answer), ``error`` (the row carried ``error`` or ``status``; ``retryable``
    for codes 429/500/503/504 and their gRPC equivalents), ``blocked`` (``promptFeedback.blockReason``),
    ``stopped`` (finishReason SAFETY, RECITATION ...), ``max_tokens`` or ``no_output`` (no visible,
    non-thought output). Only ``succeeded`` rows have ``status: "succeeded"``.

    Keys are the only safe join. Rows repeating a key are all written, counted in
    ``counts.duplicate_keys`` and logged. The landed count is checked against the batch's
    ``batchStats.requestCount`` (``expected_requests``; a warning when they differ). Rows without a
    key get their request's identity ``request-<position>`` (marked ``key_inferred``) only when the
    counts match; that rewrites the destination once more (a second read of the results).

    Batches that ended CANCELLED, EXPIRED or FAILED: whatever results the API still offers are
    landed (they were billed); when it offers none, the manifest says so in ``note`` and nothing is
    written. Such a batch then fails the task (after landing) unless
    ``fail_on_unsuccessful_batch=False``; the manifest is pushed under XCom key ``manifest`` first.

    :param batch_name: ``batches/...`` (templated), usually the create task's XCom.
    :param destination: local path or object-storage URI (``gs://``, ``s3://`` ...) (templated).
        Declared as an Asset outlet when it is a literal (not templated) value.
    :param max_failed_ratio: largest tolerated ``failed / total`` (0.0 to 1.0), where ``failed``
        counts every row without a usable answer (any outcome but ``succeeded``). Default 0.0.
    :param fail_on_unsuccessful_batch: raise for a batch that did not SUCCEED. Default True.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: ``{"batch_name", "state", "destination", "expected_requests", "counts": {"total",
        "succeeded", "failed", "by_outcome": {outcome: n}, "retryable", "duplicate_keys",
        "keyless"}, "usage": {<summed usageMetadata counters and embedding tokenCount>}}``
        (+ ``"note"`` when there was nothing to land, ``"warnings"`` about counts and keys).
    :raises GeminiResultsThresholdError: failed ratio above ``max_failed_ratio`` (after writing).
    :raises GeminiBatchFailedError: the batch ended badly (after landing what exists).
    :raises GeminiBatchError: the batch is still in flight.
    """

    template_fields: Sequence[str] = ("batch_name", "destination")
    template_ext: Sequence[str] = ()
    ui_color = "#ceead6"

    def __init__(
        self,
        *,
        batch_name: str,
        destination: str,
        max_failed_ratio: float = 0.0,
        fail_on_unsuccessful_batch: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            asset = destination_asset(destination)
            if asset is not None:
                kwargs["outlets"] = [asset]
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.batch_name = batch_name
        self.destination = destination
        self.max_failed_ratio = max_failed_ratio
        self.fail_on_unsuccessful_batch = fail_on_unsuccessful_batch

    def execute(self, context: Context) -> dict[str, Any]:
        if not 0.0 <= float(self.max_failed_ratio) <= 1.0:
            raise GeminiInvalidInputError(
                f"max_failed_ratio must be within 0.0..1.0, got {self.max_failed_ratio}."
            )
        batch = self.hook.get_batch(str(self.batch_name))
        if not batch.done:
            raise GeminiBatchError(
                f"Batch {batch.name} is still {batch.state.short} ({batch.stats.describe()}); "
                "wait for it (GeminiBatchSensor) before fetching results."
            )
        expected = batch.stats.request_count or None
        tally = ResultsTally()
        destination: str | None = str(self.destination)
        note: str | None = None
        if batch.has_results:
            tally = self._land(batch, expected)
        else:
            destination = None
            note = (
                f"The API offers no results for {batch.name} (state {batch.state.short}); "
                "nothing was written."
            )
            self.log.warning("%s", note)
        warnings = (
            row_warnings(tally, expected_requests=expected, batch_name=batch.name) if tally.total else []
        )
        for warning in warnings:
            self.log.warning("%s", warning)
        manifest = build_manifest(
            batch_name=batch.name,
            state=batch.state.short,
            destination=destination,
            tally=tally,
            expected_requests=expected,
            note=note,
            warnings=warnings,
        )
        outcomes = ", ".join(f"{n} {o}" for o, n in tally.by_outcome.items() if n and o != SUCCEEDED)
        self.log.info(
            "Landed %d results of %s (expected %s) in %s: %d succeeded, %d without a usable answer%s; "
            "%d retryable.",
            tally.total,
            batch.name,
            expected if expected is not None else "?",
            destination,
            tally.succeeded,
            tally.failed,
            f" ({outcomes})" if outcomes else "",
            tally.retryable,
        )
        if batch.state in PARTIAL_STATES:
            self.log.warning(
                "%s ended PARTIALLY_SUCCEEDED: some results may be missing (%d landed, %d expected).",
                batch.name,
                tally.total,
                batch.stats.request_count,
            )
        if batch.state in FAILURE_STATES and self.fail_on_unsuccessful_batch:
            context["ti"].xcom_push(key="manifest", value=manifest)
            raise_for_outcome(batch)
        if tally.exceeds(float(self.max_failed_ratio)):
            context["ti"].xcom_push(key="manifest", value=manifest)
            raise GeminiResultsThresholdError(
                f"{tally.failed} of {tally.total} requests of {batch.name} gave no usable answer "
                f"({tally.failed_ratio:.1%} > max_failed_ratio {float(self.max_failed_ratio):.1%}; "
                f"by outcome: {outcomes}; {tally.retryable} retryable). "
                f"All rows, failed ones included, were written to {destination}; inspect the rows "
                "with status 'failed' (their 'outcome' and 'reason' say why), resubmit the retryable "
                "ones, fix the others, or raise max_failed_ratio."
            )
        return manifest

    def _land(self, batch: Batch, expected: int | None) -> ResultsTally:
        """Write every row; if some rows had no key and the landed count equals ``expected``,
        write them all again with keys inferred from their position (bounded memory: the
        results are streamed twice rather than held)."""
        tally = self._land_once(batch, infer_keys=False)
        if tally.keyless and expected and tally.total == expected:
            self.log.info(
                "%d of %d results of %s carry no key and the count matches the batch's %d requests; "
                "writing them again keyed by their request's position (request-<n>).",
                tally.keyless,
                tally.total,
                batch.name,
                expected,
            )
            tally = self._land_once(batch, infer_keys=True)
        return tally

    def _land_once(self, batch: Batch, *, infer_keys: bool) -> ResultsTally:
        from airflow_provider_gemini_batch.storage import atomic_destination

        tally = ResultsTally()
        logged = 0
        with atomic_destination(str(self.destination)) as out:
            for result in self.hook.iter_results(batch):
                if infer_keys:
                    result = with_position_key(result)
                out.write(json.dumps(result.to_row(), ensure_ascii=False).encode("utf-8") + b"\n")
                # Only the first few duplicates are named, so a pathological file cannot flood the log.
                if tally.add(result) and logged < _DUPLICATES_LOGGED:
                    logged += 1
                    self.log.warning(
                        "Result row %d of %s repeats key %r; both rows were written.",
                        result.index + 1,
                        batch.name,
                        result.key,
                    )
        return tally


_DUPLICATES_LOGGED = 5


# --------------------------------------------------------------------------------------------
# Cleanup
# --------------------------------------------------------------------------------------------


class GeminiCancelBatchOperator(_GeminiOperator):
    """Cancel a batch that is still in flight (a no-op for an ended or missing batch).

    A cancel is a request, not an outcome: the batch may still end SUCCEEDED or FAILED. After the
    request the batch is re-read for up to ``settle_timeout`` seconds and the state it really
    ended in is logged and returned, with its output reference (results of a cancelled batch are
    still landable by :class:`GeminiBatchResultsOperator`).

    Usable with ``trigger_rule="all_done"``; an empty ``batch_name`` (failed upstream) is a no-op.

    :param batch_name: ``batches/...`` (templated).
    :param settle_timeout: seconds to re-read the batch after the cancel. Default 60; 0 reads once.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: the batch summary as last read (``state`` is the state it ended in, or the in-flight
        state if it had not ended yet), or None when there was nothing to cancel.
    """

    template_fields: Sequence[str] = ("batch_name",)

    def __init__(
        self,
        *,
        batch_name: str | None,
        settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.batch_name = batch_name
        self.settle_timeout = settle_timeout

    def execute(self, context: Context) -> dict[str, Any] | None:
        if not self.batch_name or self.batch_name == "None":
            self.log.info("No batch name given (upstream failed before creating one); nothing to cancel.")
            return None
        try:
            batch = self.hook.get_batch(str(self.batch_name), light=True)
        except GeminiNotFoundError:
            self.log.info(
                "%s does not exist (anymore) for connection %r; nothing to cancel.",
                self.batch_name,
                self.gemini_conn_id,
            )
            return None
        if batch.done:
            self.log.info("%s already ended %s; nothing to cancel.", batch.name, batch.state.short)
            return batch.summary()
        self.log.info("Requesting a cancel of %s (was %s).", batch.name, batch.state_label)
        settled = cancel_and_settle(
            self.hook, batch.name, self.log, settle_timeout=float(self.settle_timeout)
        )
        return (settled or batch).summary()


class _GeminiDeleteOperator(_GeminiOperator):
    """Shared cleanup behaviour: an empty name is a no-op, a missing resource counts as deleted."""

    #: What the subclass deletes, for log lines ("batch", "file").
    resource_kind = "resource"

    def __init__(self, *, ignore_missing: bool = True, gemini_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any):
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.ignore_missing = ignore_missing

    def _target(self) -> str | None:
        raise NotImplementedError

    def _delete(self, name: str) -> None:
        raise NotImplementedError

    def execute(self, context: Context) -> None:
        name = self._target()
        # An upstream that failed before producing a name renders "None" into the template.
        if not name or name == "None":
            self.log.info(
                "No %s name given (upstream failed before making one); nothing to delete.", self.resource_kind
            )
            return
        try:
            self._delete(name)
        except GeminiNotFoundError:
            if not self.ignore_missing:
                raise
            self.log.info("%s does not exist (anymore); nothing to delete.", name)
            return
        self.log.info("Deleted %s.", name)


class GeminiDeleteBatchOperator(_GeminiDeleteOperator):
    """Delete a batch (stops it if still running). Usable with ``trigger_rule="all_done"``.

    :param batch_name: ``batches/...`` (templated); empty/None is a no-op with a log line.
    :param ignore_missing: treat a batch that no longer exists as deleted. Default True.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :raises GeminiNotFoundError: the batch does not exist and ``ignore_missing`` is False.
    """

    template_fields: Sequence[str] = ("batch_name",)
    resource_kind = "batch"

    def __init__(
        self,
        *,
        batch_name: str | None,
        ignore_missing: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(ignore_missing=ignore_missing, gemini_conn_id=gemini_conn_id, **kwargs)
        self.batch_name = batch_name

    def _target(self) -> str | None:
        return None if self.batch_name is None else str(self.batch_name)

    def _delete(self, name: str) -> None:
        self.hook.delete_batch(name)


class GeminiDeleteFileOperator(_GeminiDeleteOperator):
    """Delete an uploaded file. Usable with ``trigger_rule="all_done"``.

    :param file_name: ``files/...`` (templated); empty/None (failed upstream) is a no-op.
    :param ignore_missing: treat a file that no longer exists as deleted. Default True.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :raises GeminiNotFoundError: the file does not exist and ``ignore_missing`` is False.
    """

    template_fields: Sequence[str] = ("file_name",)
    resource_kind = "file"

    def __init__(
        self,
        *,
        file_name: str | None,
        ignore_missing: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(ignore_missing=ignore_missing, gemini_conn_id=gemini_conn_id, **kwargs)
        self.file_name = file_name

    def _target(self) -> str | None:
        return None if self.file_name is None else str(self.file_name)

    def _delete(self, name: str) -> None:
        self.hook.delete_file(name)
