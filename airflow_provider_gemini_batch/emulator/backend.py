"""The emulator's whole mutable state and the operations on it (no HTTP here).

Everything runs on the server's single event loop thread, so no locks are needed except around
result materialisation, which runs in a worker thread for large files.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator.batches import (
    JOB_EXPIRY_SECONDS,
    OUTCOMES,
    TERMINAL,
    BatchRecord,
    count_requests,
    inline_results,
    write_file_results,
)
from airflow_provider_gemini_batch.emulator.fake_model import INJECTED_CODES
from airflow_provider_gemini_batch.emulator.faults import FaultBook
from airflow_provider_gemini_batch.emulator.files import (
    FileRecord,
    UploadSession,
    new_id,
    remove_quietly,
    sha256_hash_field,
)
from airflow_provider_gemini_batch.emulator.modes import check_modes
from airflow_provider_gemini_batch.emulator.wire import ApiError, file_gone, not_found

MAX_ACTIVE_BATCHES = 100
# Live batch ids are 36 lowercase alphanumerics: cookbook Batch_mode.ipynb cells 19/28/34/44 outputs
# (e.g. ``batches/o08hk76gv328ihxcssjsgwt3g6omtfysxi46``); file ids 12 (``files/t5snrshrqff1``).
BATCH_ID_LENGTH = 36
FILE_ID_LENGTH = 12
JOURNAL_MAX_ENTRIES = 100_000
# How long a read waits for results being built before answering RUNNING (seconds).
RESULT_WAIT_SECONDS = 2.0


def _sha256_hash_of(path: Path) -> str:
    """The ``sha256Hash`` field of a file on disk, streamed (form: see ``sha256_hash_field``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return sha256_hash_field(digest.hexdigest())


@dataclass
class Settings:
    """Knobs changeable at run time via the control plane.

    :param processing_seconds: time from create to the final state of *newly created* batches.
    :param error_fraction: fraction (0..1) of requests of newly created batches that end in a
        per-request error (positions chosen by :func:`fake_model.injected_error_positions`).
    :param next_outcome: final state of the next created batch only (then back to SUCCEEDED).
    :param modes: named modes switched on (see :mod:`.modes`); default none.
    :param extra_api_keys: keys accepted besides the server's ``api_key`` (for ``per_key_visibility``).
    :param file_processing_seconds: how long an upload stays PROCESSING under ``files_processing``.
    :param huge_output_bytes: answer size (bytes) above which ``huge_inline_503`` answers 503.
    :param state_names: wire spelling per short state of batches created from now on, e.g.
        ``{"PENDING": "JOB_STATE_QUEUED"}`` (SDK/Vertex spelling) or an unknown value; unmapped
        states are written ``BATCH_STATE_<STATE>``.
    :param latency_seconds: added to every API answer (not the control plane), like a distant
        service: the real API answers a batch GET in roughly 0.1-0.3 s (issue 10 takes 200 ms as
        the planning figure). Default 0.
    :param max_active_batches: batches allowed in PENDING/RUNNING at once before create answers
        429 (default 100, the limit the spec lists for concurrent jobs); raise it to load-test many waits.
    :param running_slots: how many batches may run at once; 0 (default) runs every batch at once.
        With N > 0 new batches queue PENDING and are admitted highest ``priority`` first, then
        oldest first (spec §5: "higher runs first"); see :meth:`EmulatorState.admit`.
    :param error_code: gRPC code of the per-request errors ``error_fraction`` injects: 3
        INVALID_ARGUMENT (default, not retryable) or a transient one (4, 8, 13, 14) to exercise a
        resubmission.
    """

    processing_seconds: float = 5.0
    error_fraction: float = 0.0
    next_outcome: str | None = None
    modes: list[str] = field(default_factory=list)
    extra_api_keys: list[str] = field(default_factory=list)
    file_processing_seconds: float = 2.0
    huge_output_bytes: int = 1_000_000
    state_names: dict[str, str] = field(default_factory=dict)
    latency_seconds: float = 0.0
    max_active_batches: int = MAX_ACTIVE_BATCHES
    running_slots: int = 0
    error_code: int = 3

    def copy(self) -> Settings:
        """An independent copy (lists and dicts are not shared)."""
        return Settings(
            processing_seconds=self.processing_seconds,
            error_fraction=self.error_fraction,
            next_outcome=self.next_outcome,
            modes=list(self.modes),
            extra_api_keys=list(self.extra_api_keys),
            file_processing_seconds=self.file_processing_seconds,
            huge_output_bytes=self.huge_output_bytes,
            state_names=dict(self.state_names),
            latency_seconds=self.latency_seconds,
            max_active_batches=self.max_active_batches,
            running_slots=self.running_slots,
            error_code=self.error_code,
        )

    def has(self, mode: str) -> bool:
        """Whether the named mode is on."""
        return mode in self.modes


class Clock:
    """Wall-clock time plus an offset that tests move forward (``advance_clock``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Emulator time, epoch seconds."""
        return time.time() + self.offset


_first = itemgetter(0)


def encode_token(seq: int, direction: str = "after") -> str:
    """Opaque page token for "items after (or before) sequence number ``seq``"."""
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode("ascii").rstrip("=")


def decode_token(token: str, direction: str = "after") -> int:
    """Inverse of :func:`encode_token`; raises 400 INVALID_ARGUMENT for a token we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        prefix, _, number = raw.partition(":")
        if prefix != direction:
            raise ValueError(raw)
        return int(number)
    except ValueError:
        raise ApiError(400, "Invalid page token.") from None


class EmulatorState:
    """Files, upload sessions, batches, faults, journal and clock of one emulator instance.

    :param data_dir: where uploaded and generated bytes are stored (subdirectories are created).
    :param settings: initial knobs; :meth:`reset` restores them.
    """

    def __init__(self, data_dir: Path, settings: Settings) -> None:
        self.data_dir = Path(data_dir)
        self.initial = settings.copy()
        self.settings = settings
        self.clock = Clock()
        self.faults = FaultBook()
        # Bounded so thousands of pollers over hours cannot grow memory without limit.
        self.journal: deque[dict[str, Any]] = deque(maxlen=JOURNAL_MAX_ENTRIES)
        self.files: dict[str, FileRecord] = {}
        self.sessions: dict[str, UploadSession] = {}
        self.batches: dict[str, BatchRecord] = {}
        #: Deleted batches that had not ended: a delete does not stop a batch, which keeps holding
        #: the concurrency quota until it ends (operations.delete reference; python-genai #2495).
        self.deleted_in_flight: list[BatchRecord] = []
        self._seq: dict[str, int] = {}
        self._counter = 0
        # (version, sequence numbers, records) of the batches in creation order; see _batches_in_order.
        self._batch_order: tuple[tuple[int, int], list[int], list[BatchRecord]] | None = None
        self._tasks: dict[str, asyncio.Future[None]] = {}
        #: Called by :meth:`reset` (the Google Cloud surfaces mounted beside this API forget theirs).
        self.reset_hooks: list[Callable[[], None]] = []
        for sub in ("files", "uploads", "inputs"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

    # ---- housekeeping -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every file, session, batch, fault and journal entry; clock offset back to 0."""
        for session in self.sessions.values():
            session.close()
        self.files.clear()
        self.sessions.clear()
        self.batches.clear()
        self.deleted_in_flight.clear()
        self._batch_order = None
        self._seq.clear()
        self._tasks.clear()
        self.faults.clear()
        self.journal.clear()
        self.clock.offset = 0.0
        self.settings = self.initial.copy()
        for sub in ("files", "uploads", "inputs"):
            shutil.rmtree(self.data_dir / sub, ignore_errors=True)
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        for hook in self.reset_hooks:
            hook()

    def _next_seq(self, name: str) -> None:
        self._counter += 1
        self._seq[name] = self._counter

    # ---- files ----------------------------------------------------------------------------------

    def file_path(self, file_id: str) -> Path:
        return self.data_dir / "files" / file_id

    def _expire_file(self, record: FileRecord) -> bool:
        if self.clock.now() >= record.expire_time:
            self.files.pop(record.file_id, None)
            self._seq.pop(record.name, None)
            remove_quietly(record.path)
            return True
        return False

    def get_file(self, file_id: str) -> FileRecord:
        """The live (unexpired) file ``files/<file_id>``; raises the Files API's 403 "… or it may
        not exist" otherwise (:func:`wire.file_gone`: the service does not answer 404 for files)."""
        record = self.files.get(file_id)
        if record is None or self._expire_file(record):
            raise file_gone(file_id)
        return record

    def list_files(
        self, page_size: int, token: str | None, visible: Callable[[FileRecord], bool] | None = None
    ) -> tuple[list[FileRecord], str | None]:
        """One page of the ``visible`` files in creation order, and the next page token (None on the last)."""
        for record in list(self.files.values()):
            self._expire_file(record)
        files = [f for f in self.files.values() if visible is None or visible(f)]
        return self._page(files, page_size, token)

    def delete_file(self, file_id: str) -> None:
        """Delete a file and its bytes; raises the Files API's 403 if unknown (:meth:`get_file`)."""
        record = self.get_file(file_id)
        del self.files[file_id]
        self._seq.pop(record.name, None)
        remove_quietly(record.path)

    def add_file(self, record: FileRecord) -> None:
        self.files[record.file_id] = record
        self._next_seq(record.name)

    def file_id_taken(self, file_id: str) -> bool:
        record = self.files.get(file_id)
        if record is not None and not self._expire_file(record):
            return True
        return any(s.file_id == file_id and s.status == "active" for s in self.sessions.values())

    # ---- batches --------------------------------------------------------------------------------

    def _page(
        self, items: list[Any], page_size: int, token: str | None, newest_first: bool = False
    ) -> tuple[list[Any], str | None]:
        """One page of ``items`` by creation sequence; the token holds the last sequence served.

        Cost: one pass over ``items`` plus a binary search, not a sort and a filter per page (with
        10,000 batches the sort made each 100-item page cost ~90 ms of emulator CPU, so a walk of
        every page cost the emulator 9 s and dominated a 10,000-trigger benchmark).
        """
        seq = self._seq
        keyed = [(seq.get(item.name, 0), item) for item in items]
        # Records are kept in creation order, so this is normally already sorted (timsort: O(n)).
        keyed.sort(key=_first)
        return self._page_sorted([k for k, _ in keyed], [i for _, i in keyed], page_size, token, newest_first)

    def _page_sorted(
        self, keys: list[int], items: list[Any], page_size: int, token: str | None, newest_first: bool
    ) -> tuple[list[Any], str | None]:
        """:meth:`_page` of ``items`` already in ascending sequence order (``keys``): a binary search."""
        direction = "before" if newest_first else "after"
        if newest_first:
            end = bisect.bisect_left(keys, decode_token(token, direction)) if token else len(keys)
            start = max(0, end - page_size)
            page = items[start:end][::-1]
            more = start > 0
        else:
            start = bisect.bisect_right(keys, decode_token(token, direction)) if token else 0
            page = items[start : start + page_size]
            more = start + page_size < len(keys)
        return page, (encode_token(self._seq[page[-1].name], direction) if more and page else None)

    def admit(self) -> None:
        """Admit queued batches into free running slots, in time order, up to now.

        Lazy like the rest of the state machine: replays the admissions that happened since the
        last call. A slot frees when a running batch ends (``BatchRecord.end_time``); the queued
        batch admitted then is the one with the highest ``priority``, then the oldest, among those
        created by that instant. A priority changed by an update counts for admissions after it
        (every API call runs this first, so earlier admissions are already fixed).
        """
        slots = self.settings.running_slots
        waiting = [b for b in self.batches.values() if b.queued and b.start_time is None]
        if not waiting:
            return
        now = self.clock.now()
        admitted = [b for b in self.batches.values() if b.start is not None]
        clock = max([b.start_time or 0.0 for b in admitted if b.queued] or [0.0])
        while waiting:
            ends = sorted(e for b in admitted if (e := b.end_time()) is not None and e > clock)
            running = len(ends)
            free_at = clock if not slots or running < slots else ends[running - slots]
            alive = [
                b
                for b in waiting
                if (b.cancel_time is None or b.cancel_time > free_at)
                and b.create_time + JOB_EXPIRY_SECONDS > free_at
            ]
            if not alive:
                return
            at = max(free_at, min(b.create_time for b in alive))
            if at > now:
                return
            ready = [b for b in alive if b.create_time <= at]
            chosen = max(ready, key=lambda b: (b.priority, -self._seq.get(b.name, 0)))
            chosen.start_time = at
            admitted.append(chosen)
            waiting = [b for b in alive if b is not chosen]
            clock = at

    def update_priority(self, batch_id: str, priority: int) -> BatchRecord:
        """Set a batch's priority (``updateGenerateContentBatch``/``updateEmbedContentBatch``);
        a queued batch is admitted by its new priority from now on."""
        self.admit()
        record = self.get_batch(batch_id)
        record.priority = priority
        return record

    def _batches_in_order(self) -> tuple[list[int], list[BatchRecord]]:
        """All batches in creation order with their sequence numbers, cached until one is added/removed."""
        version = (self._counter, len(self.batches))
        if self._batch_order is None or self._batch_order[0] != version:
            seq = self._seq
            keyed = sorted(((seq.get(b.name, 0), b) for b in self.batches.values()), key=_first)
            self._batch_order = (version, [k for k, _ in keyed], [b for _, b in keyed])
        return self._batch_order[1], self._batch_order[2]

    def active_batch_count(self) -> int:
        self.admit()
        now = self.clock.now()
        self.deleted_in_flight = [b for b in self.deleted_in_flight if b.phase(now).state not in TERMINAL]
        listed = sum(1 for b in self.batches.values() if b.phase(now).state not in TERMINAL)
        return listed + len(self.deleted_in_flight)

    def create_batch(
        self,
        *,
        kind: str,
        model: str,
        display_name: str | None,
        priority: int,
        inline: list[dict[str, Any]] | None,
        input_file: str | None,
        owner: str | None = None,
    ) -> BatchRecord:
        """Register a new batch (PENDING). Raises 429 at the concurrent-job limit, 404 for a bad file.

        File input is hard-linked (or copied) into a private area so deleting the input file later
        does not break the job, like a service that snapshots its input at creation.
        """
        limit = self.settings.max_active_batches
        if self.active_batch_count() >= limit:
            raise ApiError(
                429,
                f"Too many concurrent batch jobs: the limit is {limit} jobs in "
                "PENDING or RUNNING state. Wait for some to finish.",
            )
        batch_id = new_id(BATCH_ID_LENGTH)
        input_path: Path | None = None
        count = len(inline or [])
        if input_file is not None:
            file_id = input_file.removeprefix("files/")
            source = self.get_file(file_id)
            if self.settings.has("per_key_visibility") and source.owner != owner:
                raise file_gone(file_id)
            if self.clock.now() < source.ready_time:
                # sourcelibrary-v2 PR #2186: create on a still-PROCESSING file -> 400 FAILED_PRECONDITION.
                raise ApiError(
                    400,
                    f"File files/{file_id} is not in an ACTIVE state (it is PROCESSING); "
                    "wait until files.get reports ACTIVE, then create the batch.",
                    status="FAILED_PRECONDITION",
                )
            input_path = self.data_dir / "inputs" / batch_id
            try:
                os.link(source.path, input_path)
            except OSError:
                shutil.copyfile(source.path, input_path)
            count = -1  # counted off the event loop by the caller
        outcome = self.settings.next_outcome or "SUCCEEDED"
        self.settings.next_outcome = None
        record = BatchRecord(
            batch_id=batch_id,
            kind=kind,
            model=model,
            display_name=display_name,
            priority=priority,
            create_time=self.clock.now(),
            processing_seconds=self.settings.processing_seconds,
            outcome=outcome,
            error_fraction=self.settings.error_fraction,
            request_count=count,
            input_file=f"files/{input_file.removeprefix('files/')}" if input_file else None,
            input_path=input_path,
            inline_requests=inline,
            owner=owner,
            modes=frozenset(self.settings.modes),
            state_names=dict(self.settings.state_names),
            queued=self.settings.running_slots > 0,
            error_code=self.settings.error_code,
        )
        return record

    def register_batch(self, record: BatchRecord) -> None:
        self.batches[record.batch_id] = record
        self._next_seq(record.name)

    def get_batch(self, batch_id: str) -> BatchRecord:
        self.admit()
        record = self.batches.get(batch_id)
        if record is None:
            raise not_found(f"batches/{batch_id}")
        return record

    def list_batches(
        self, page_size: int, token: str | None, visible: Callable[[BatchRecord], bool] | None = None
    ) -> tuple[list[BatchRecord], str | None]:
        """One page of the ``visible`` batches, **newest first**, and the next page token.

        Newest first like the live service: cookbook Batch_mode.ipynb cell 34 output lists
        ``batches.list`` with descending create times (issue 15 bug 6).
        """
        self.admit()
        if visible is None:
            keys, ordered = self._batches_in_order()
            return self._page_sorted(keys, ordered, page_size, token, newest_first=True)
        batches = [b for b in self.batches.values() if visible(b)]
        return self._page(batches, page_size, token, newest_first=True)

    def cancel_batch(self, batch_id: str) -> None:
        """Cancel a PENDING/RUNNING batch; a no-op (200) on a terminal one."""
        record = self.get_batch(batch_id)
        now = self.clock.now()
        if record.phase(now).state not in TERMINAL and "cancel_still_succeeds" not in record.modes:
            record.cancel_time = now

    def delete_batch(self, batch_id: str) -> None:
        """Forget a batch (404 and out of lists from now on). It is **not** cancelled: one still
        pending or running keeps counting toward the concurrent-job limit until it would have
        ended (python-genai #2495: quota still held after delete)."""
        record = self.get_batch(batch_id)
        if record.phase(self.clock.now()).state not in TERMINAL:
            self.deleted_in_flight.append(record)
        del self.batches[batch_id]
        self._seq.pop(record.name, None)
        if record.input_path is not None:
            remove_quietly(record.input_path)

    async def ensure_results(self, record: BatchRecord) -> bool:
        """Produce the results of a terminal batch exactly once (first read after it ended).

        Results are built in a worker thread so a 2 GB input never stalls the event loop. The
        reading request waits up to :data:`RESULT_WAIT_SECONDS` for them; returns False if they are
        still being written, and the caller then shows the batch as RUNNING (a live service would
        likewise not report success before its output exists). Concurrent readers share one job.
        """
        if not record.needs_results(self.clock.now()):
            return True
        task = self._tasks.get(record.batch_id)
        if task is None:
            task = asyncio.ensure_future(self._materialise(record, self.clock.now()))
            self._tasks[record.batch_id] = task
        try:
            await asyncio.wait_for(asyncio.shield(task), RESULT_WAIT_SECONDS)
        except asyncio.TimeoutError:
            return False
        return True

    async def _materialise(self, record: BatchRecord, now: float) -> None:
        phase = record.phase(now)
        count = record.completed_count(phase)
        if count == 0 or phase.state not in ("SUCCEEDED", "CANCELLED"):
            record.output = None
        elif record.inline_requests is not None:
            results = await asyncio.to_thread(inline_results, record, count)
            record.successful = sum(1 for r in results if "error" not in r and "status" not in r)
            record.failed = len(results) - record.successful
            record.output = {"inlinedResponses": {"inlinedResponses": results}}
        else:
            file_id = record.result_file_id
            path = self.file_path(file_id)
            ok, failed = await asyncio.to_thread(write_file_results, record, count, path)
            digest = await asyncio.to_thread(_sha256_hash_of, path)
            record.successful, record.failed = ok, failed
            self.add_file(
                FileRecord(
                    file_id=file_id,
                    display_name=file_id,
                    mime_type="application/jsonl",
                    size=path.stat().st_size,
                    sha256_hash=digest,
                    create_time=phase.since,
                    source="GENERATED",
                    path=path,
                    owner=record.owner,
                )
            )
            record.output = {"responsesFile": f"files/{file_id}"}
        record.materialised = True
        if record.input_path is not None:
            remove_quietly(record.input_path)

    async def count_file_requests(self, record: BatchRecord) -> None:
        """Count the requests of a file-input batch in a worker thread."""
        assert record.input_path is not None
        record.request_count = await asyncio.to_thread(count_requests, record.input_path)

    def configure(
        self,
        processing_seconds: float | None = None,
        error_fraction: float | None = None,
        next_outcome: str | None = None,
        modes: list[str] | None = None,
        extra_api_keys: list[str] | None = None,
        file_processing_seconds: float | None = None,
        huge_output_bytes: int | None = None,
        state_names: dict[str, str] | None = None,
        latency_seconds: float | None = None,
        max_active_batches: int | None = None,
        running_slots: int | None = None,
        error_code: int | None = None,
    ) -> None:
        """Change knobs (see :class:`Settings`); ``modes`` replaces the set of modes.

        :raises ValueError: a bad value (the message names the knob).
        """
        if modes is not None:
            self.settings.modes = check_modes(modes)
        if extra_api_keys is not None:
            keys_ok = all(isinstance(k, str) and k for k in extra_api_keys)
            if not isinstance(extra_api_keys, list) or not keys_ok:
                raise ValueError("extra_api_keys must be a list of non-empty strings")
            self.settings.extra_api_keys = list(extra_api_keys)
        if file_processing_seconds is not None:
            if float(file_processing_seconds) < 0:
                raise ValueError("file_processing_seconds must be >= 0")
            self.settings.file_processing_seconds = float(file_processing_seconds)
        if huge_output_bytes is not None:
            if int(huge_output_bytes) < 0:
                raise ValueError("huge_output_bytes must be >= 0")
            self.settings.huge_output_bytes = int(huge_output_bytes)
        if state_names is not None:
            if not isinstance(state_names, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in state_names.items()
            ):
                raise ValueError("state_names must map short states (PENDING, ...) to wire strings")
            self.settings.state_names = {k.upper(): v for k, v in state_names.items()}
        if latency_seconds is not None:
            if not 0.0 <= float(latency_seconds) <= 60.0:
                raise ValueError("latency_seconds must be within [0, 60]")
            self.settings.latency_seconds = float(latency_seconds)
        if max_active_batches is not None:
            if int(max_active_batches) < 1:
                raise ValueError("max_active_batches must be >= 1")
            self.settings.max_active_batches = int(max_active_batches)
        if running_slots is not None:
            if isinstance(running_slots, bool) or not isinstance(running_slots, int) or running_slots < 0:
                raise ValueError("running_slots must be an integer >= 0 (0: no queue)")
            self.admit()  # admissions so far follow the old number of slots
            self.settings.running_slots = running_slots
        if error_code is not None:
            if error_code not in INJECTED_CODES:
                raise ValueError(f"error_code must be one of {sorted(INJECTED_CODES)}")
            self.settings.error_code = int(error_code)
        if processing_seconds is not None:
            if processing_seconds < 0:
                raise ValueError("processing_seconds must be >= 0")
            self.settings.processing_seconds = float(processing_seconds)
        if error_fraction is not None:
            if not 0.0 <= error_fraction <= 1.0:
                raise ValueError("error_fraction must be within [0, 1]")
            self.settings.error_fraction = float(error_fraction)
        if next_outcome is not None:
            outcome = next_outcome.upper().removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
            if outcome not in OUTCOMES:
                raise ValueError(f"next_outcome must be one of {sorted(OUTCOMES)}")
            self.settings.next_outcome = outcome
