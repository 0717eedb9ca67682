"""Vertex AI batch prediction jobs: records, the store, and how a job's time line reads on the wire.

The time line is the Developer API emulator's (:class:`~..batches.BatchRecord`: a lazy state
machine driven by the emulator clock, so ``advance_clock`` and ``processing_seconds`` work the
same); this module only names its phases the Vertex way (``JobState``,
https://cloud.google.com/vertex-ai/docs/reference/rest/v1/JobState):

* the pending window reads ``JOB_STATE_PENDING`` for its first half, then ``JOB_STATE_QUEUED``:
  a create answers ``JOB_STATE_PENDING`` and a later poll of a job that had not started read
  ``JOB_STATE_QUEUED`` (not found in a public source as of 2026-12: docs/vertex-wire.md, "Live
  captures published by a batch-platform operator"; the REST ``JobState`` reference lists both);
* ``JOB_STATE_RUNNING``; after a cancel, ``JOB_STATE_CANCELLING`` for :func:`cancelling_seconds`
  ("Starts asynchronous cancellation", projects.locations.batchPredictionJobs.cancel reference),
  then ``JOB_STATE_CANCELLED`` with the rows finished by then, or the job's own end if it came
  first (the reference: from CANCELLING a job "may only go to either SUCCEEDED, FAILED or
  CANCELLED");
* the outcome: ``SUCCEEDED``, ``FAILED``, ``CANCELLED``, ``EXPIRED`` or ``PARTIALLY_SUCCEEDED``
  ("some results may be missing due to errors": every row written, the injected share failed).

Expiry keeps the Developer API emulator's 48 h from creation; Vertex documents a 72 h queue limit
and a 24 h run limit (https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini),
which the emulator does not model separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator.backend import EmulatorState
from airflow_provider_gemini_batch.emulator.batches import BatchRecord, count_requests
from airflow_provider_gemini_batch.emulator.files import remove_quietly
from airflow_provider_gemini_batch.emulator.storage.models import ObjectStore, StoredObject
from airflow_provider_gemini_batch.emulator.vertex.predictions import write_predictions
from airflow_provider_gemini_batch.emulator.wire import ApiError

#: Outcomes a job may be told to end in (control plane ``vertex/config``).
VERTEX_OUTCOMES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"})
TERMINAL = frozenset(VERTEX_OUTCOMES)
#: A PARTIALLY_SUCCEEDED job without an error_fraction gets this share of failed rows.
PARTIAL_ERROR_FRACTION = 0.5
#: How long a read waits for predictions being written before answering RUNNING (seconds).
RESULT_WAIT_SECONDS = 2.0
COPY_BLOCK = 1024 * 1024
#: Job-level errors. FAILED: gRPC 13 with the message seen on failed jobs; CANCELLED: code 1
#: "CANCELED" (the emulator's choice: not found in a public source as of 2026-12, see
#: docs/vertex-wire.md, "Live captures published by a batch-platform operator").
FAILED_ERROR = {"code": 13, "message": "System error. Please try this operation again. (emulated outcome)"}
CANCELLED_ERROR = {"code": 1, "message": "CANCELED"}
IMPORT_ERROR_PREFIX = (
    "Failed to import data. Please check 'Prepare input' section of the batch predictions documentation."
)


def cancelling_seconds(processing_seconds: float) -> float:
    """How long a cancelled job reads CANCELLING: a tenth of its processing time, at most 1 s."""
    return min(1.0, 0.1 * processing_seconds)


def project_number(project: str) -> str:
    """The 12-digit number the emulator gives ``project``: job names carry the project *number*
    (``projects/964831358985/locations/us-central1/batchPredictionJobs/5798522612028014592`` in
    python-genai's batches tests), whatever the create path said; either is accepted back."""
    if project.isdigit():
        return project
    return str(100_000_000_000 + int(hashlib.sha256(project.encode()).hexdigest(), 16) % 900_000_000_000)


def new_job_id() -> str:
    """A 19-digit job id, as Vertex's (python-genai accepts a bare id only when it is all digits)."""
    return str(1_000_000_000_000_000_000 + secrets.randbelow(8_000_000_000_000_000_000))


def bigquery_file_name(table: str) -> str:
    """Where a ``project.dataset.table``'s rows live under the store's root: a digest of the name,
    so no table name can reach outside that directory."""
    return f"bq-{hashlib.sha256(table.encode()).hexdigest()[:24]}.jsonl"


def split_gs(uri: str) -> tuple[str, str]:
    """``gs://bucket/name`` -> (bucket, name). :raises ApiError: 400 for another form."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ApiError(400, f"Invalid Cloud Storage URI {uri!r}: expected gs://bucket/object.")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


@dataclass
class JobSpec:
    """A parsed create request (see ``responses.parse_create``)."""

    display_name: str
    model: str
    input_format: str
    gcs_uris: list[str] | None
    bigquery_input: str | None
    output_format: str
    gcs_prefix: str | None
    bigquery_output: str | None
    labels: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)  # other fields, echoed back


@dataclass
class VertexJob:
    """One batch prediction job: its spec, names and the Developer-API-style ``record`` timeline."""

    job_id: str
    project: str  # as written in the create path
    location: str
    spec: JobSpec
    record: BatchRecord
    failure: dict[str, Any] | None = None  # a job-level error decided at create (e.g. no input)
    cancel_requested: float | None = None
    output_object: str | None = None  # "bucket/name" of predictions.jsonl once written
    deleted: bool = False

    @property
    def name(self) -> str:
        return (
            f"projects/{project_number(self.project)}/locations/{self.location}"
            f"/batchPredictionJobs/{self.job_id}"
        )

    def belongs_to(self, project: str, location: str) -> bool:
        """Whether a path naming ``project`` (id or number) and ``location`` reaches this job."""
        return location == self.location and project in (self.project, project_number(self.project))


class VertexStore:
    """The Vertex jobs of one emulator, with the object store they read and write.

    :param state: the emulator's state (clock, settings, journal).
    :param objects: where inputs are read and predictions written.
    :param root: a private directory for input snapshots.
    """

    def __init__(self, state: EmulatorState, objects: ObjectStore, root: Path) -> None:
        self.state = state
        self.objects = objects
        self.root = Path(root)
        self.jobs: dict[str, VertexJob] = {}
        self.next_outcome: str | None = None
        self.bigquery: dict[str, Path] = {}  # "project.dataset.table" -> JSONL rows on disk
        self._tasks: dict[str, asyncio.Future[None]] = {}
        self.root.mkdir(parents=True, exist_ok=True)

    def reset(self) -> None:
        """Forget every job and table (the control plane's reset)."""
        self.jobs.clear()
        self.bigquery.clear()
        self._tasks.clear()
        self.next_outcome = None
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def now(self) -> float:
        return self.state.clock.now()

    # ---- create ---------------------------------------------------------------------------------

    def _take_outcome(self) -> str:
        settings = self.state.settings
        outcome = self.next_outcome or settings.next_outcome or "SUCCEEDED"
        self.next_outcome = None
        settings.next_outcome = None
        return outcome

    def _matching(self, uri: str) -> list[StoredObject]:
        bucket, name = split_gs(uri)
        if "*" not in name and "?" not in name:
            found = self.objects.find(bucket, name)
            return [found] if found is not None else []
        stem = name.split("*")[0].split("?")[0]
        objects, _, _ = self.objects.list(bucket, stem, page_size=1 << 30)
        return [o for o in objects if fnmatch.fnmatchcase(o.name, name)]

    def _snapshot(self, sources: list[Path], target: Path) -> None:
        """Freeze the input at create (later writes to the objects do not change the job)."""
        if len(sources) == 1:
            try:
                os.link(sources[0], target)
                return
            except OSError:
                pass
        with open(target, "wb") as out:
            for source in sources:
                ended_with_newline = True
                with open(source, "rb") as handle:
                    while block := handle.read(COPY_BLOCK):
                        out.write(block)
                        ended_with_newline = block.endswith(b"\n")
                if not ended_with_newline:
                    out.write(b"\n")

    async def create(self, project: str, location: str, spec: JobSpec) -> VertexJob:
        """Register a job (answer: PENDING). A missing input fails the job later, not the create
        (a bad input bucket was accepted and failed asynchronously in the captures cited above)."""
        settings = self.state.settings
        job_id = new_job_id()
        snapshot = self.root / f"input-{job_id}"
        failure: dict[str, Any] | None = None
        sources: list[Path] = []
        if spec.gcs_uris is not None:
            missing = []
            for uri in spec.gcs_uris:
                found = self._matching(uri)
                if not found:
                    missing.append(uri)
                sources.extend(o.path for o in found)
            if missing:
                failure = {"code": 3, "message": f"{IMPORT_ERROR_PREFIX} No object matches {missing}."}
        elif spec.bigquery_input is not None:
            table = self.bigquery.get(spec.bigquery_input.removeprefix("bq://"))
            if table is None:
                failure = {
                    "code": 3,
                    "message": f"{IMPORT_ERROR_PREFIX} Not found: Table {spec.bigquery_input} (load "
                    "one with the emulator's control route vertex/bigquery).",
                }
            else:
                sources.append(table)
        if failure is None:
            await asyncio.to_thread(self._snapshot, sources, snapshot)
            count = await asyncio.to_thread(count_requests, snapshot)
        else:
            count = 0
        outcome = "FAILED" if failure is not None else self._take_outcome()
        fraction = settings.error_fraction
        if outcome == "PARTIALLY_SUCCEEDED" and not fraction:
            fraction = PARTIAL_ERROR_FRACTION
        record = BatchRecord(
            batch_id=job_id,
            kind="generate",
            model=spec.model,
            display_name=spec.display_name,
            priority=0,
            create_time=self.now,
            processing_seconds=settings.processing_seconds,
            outcome=outcome,
            error_fraction=fraction,
            request_count=count,
            input_path=snapshot if failure is None else None,
            modes=frozenset(settings.modes),
            error_code=settings.error_code,
        )
        job = VertexJob(job_id, project, location, spec, record, failure=failure)
        self.jobs[job_id] = job
        return job

    # ---- read -----------------------------------------------------------------------------------

    def get(self, project: str, location: str, job_id: str) -> VertexJob:
        """The live job. :raises ApiError: 404 for an unknown, deleted or other-project job."""
        job = self.jobs.get(job_id)
        if job is None or job.deleted or not job.belongs_to(project, location):
            raise ApiError(
                404,
                f"The BatchPredictionJob projects/{project}/locations/{location}/batchPredictionJobs/"
                f"{job_id} does not exist.",
            )
        return job

    def listed(self, project: str, location: str, keep: Callable[[VertexJob], bool]) -> list[VertexJob]:
        """The live jobs of ``project``/``location`` that ``keep`` accepts, newest first."""
        found = [
            j for j in self.jobs.values() if not j.deleted and j.belongs_to(project, location) and keep(j)
        ]
        return sorted(found, key=lambda j: (j.record.create_time, j.job_id), reverse=True)

    def short_state(self, job: VertexJob, now: float | None = None) -> str:
        """``JOB_STATE_*`` at ``now`` (see the module docstring)."""
        at = self.now if now is None else now
        record = job.record
        phase = record.phase(at)
        if phase.state == "PENDING":
            half = record.create_time + 0.05 * record.processing_seconds
            return "JOB_STATE_PENDING" if at < half else "JOB_STATE_QUEUED"
        if phase.state == "RUNNING" and job.cancel_requested is not None:
            return "JOB_STATE_CANCELLING"
        return f"JOB_STATE_{phase.state}"

    # ---- cancel / delete ------------------------------------------------------------------------

    def cancel(self, job: VertexJob) -> None:
        """Start cancelling. :raises ApiError: 400 FAILED_PRECONDITION on an ended job (seen
        answering a cancel of a FAILED job in the captures cited in the module docstring)."""
        now = self.now
        state = self.short_state(job, now)
        if state.removeprefix("JOB_STATE_") in TERMINAL:
            raise ApiError(
                400,
                f"Cannot cancel BatchPredictionJob {job.name}: it is in state {state}.",
                status="FAILED_PRECONDITION",
            )
        if job.cancel_requested is None:
            job.cancel_requested = now
            record = job.record
            if record.phase(now).state == "PENDING":
                record.cancel_time = now  # nothing ran: cancelled at once (captured pending -> cancelled)
            else:
                record.cancel_time = now + cancelling_seconds(record.processing_seconds)

    def delete(self, job: VertexJob) -> None:
        """Delete an ended job. :raises ApiError: 400 FAILED_PRECONDITION while it runs ("Can only
        be called on jobs that already finished", projects.locations.batchPredictionJobs.delete)."""
        state = self.short_state(job)
        if state.removeprefix("JOB_STATE_") not in TERMINAL:
            raise ApiError(
                400,
                f"BatchPredictionJob {job.name} is in state {state}; only a finished job can be "
                "deleted (cancel it and wait for JOB_STATE_CANCELLED first).",
                status="FAILED_PRECONDITION",
            )
        job.deleted = True
        if job.record.input_path is not None:
            remove_quietly(job.record.input_path)

    # ---- predictions ----------------------------------------------------------------------------

    def output_directory(self, job: VertexJob) -> str:
        """``<outputUriPrefix>/prediction-model-<create time>`` (the create-time stamp with
        microseconds, e.g. ``prediction-model-2026-09-02T20:06:30.166279Z``, in the captures cited
        above and in public users' paths; the directory and ``predictions.jsonl`` inside it are
        named in intro_batch_prediction.ipynb)."""
        from datetime import datetime, timezone

        stamp = datetime.fromtimestamp(job.record.create_time, tz=timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        prefix = (job.spec.gcs_prefix or "").rstrip("/")
        return f"{prefix}/prediction-model-{stamp}"

    async def ensure_predictions(self, job: VertexJob) -> bool:
        """Write an ended job's predictions once (first read after it ended), off the event loop.

        Returns False while they are still being written (the caller then shows RUNNING).
        """
        record = job.record
        if record.materialised or record.phase(self.now).state not in TERMINAL:
            return True
        task = self._tasks.get(job.job_id)
        if task is None:
            task = asyncio.ensure_future(self._materialise(job))
            self._tasks[job.job_id] = task
        try:
            await asyncio.wait_for(asyncio.shield(task), RESULT_WAIT_SECONDS)
        except asyncio.TimeoutError:
            return False
        return True

    async def _materialise(self, job: VertexJob) -> None:
        record = job.record
        phase = record.phase(self.now)
        source = record.input_path
        count = record.completed_count(phase) if source is not None else 0
        if source is not None and count and phase.state in ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "CANCELLED"):
            staging = self.root / f"predictions-{job.job_id}.jsonl"
            ok, failed = await asyncio.to_thread(
                write_predictions,
                source,
                count,
                staging,
                phase.since,
                record.error_fraction,
                record.error_code,
            )
            record.successful, record.failed = ok, failed
            if job.spec.gcs_prefix is not None:
                bucket, name = split_gs(self.output_directory(job) + "/predictions.jsonl")
                writer = await asyncio.to_thread(self.objects.ingest, staging)
                self.objects.commit(bucket, name, writer, "application/jsonl")
                job.output_object = f"{bucket}/{name}"
            else:
                table = self.bigquery_output_table(job)
                target = self.root / bigquery_file_name(table)
                os.replace(staging, target)
                self.bigquery[table] = target
                job.output_object = f"bq://{table}"
        record.materialised = True
        if record.input_path is not None:
            with contextlib.suppress(OSError):
                remove_quietly(record.input_path)

    def bigquery_output_table(self, job: VertexJob) -> str:
        """``project.dataset.table`` a BigQuery-output job writes: the destination's table, or
        ``predictions_<timestamp>`` in the destination dataset (BatchPredictionJob.OutputInfo
        reference: "The name of the BigQuery table created, in predictions_<timestamp> format")."""
        target = (job.spec.bigquery_output or "").removeprefix("bq://")
        if target.count(".") >= 2:
            return target
        from datetime import datetime, timezone

        stamp = datetime.fromtimestamp(job.record.create_time, tz=timezone.utc).strftime(
            "%Y_%m_%dT%H_%M_%S_%fZ"
        )
        return f"{target}.predictions_{stamp}"
