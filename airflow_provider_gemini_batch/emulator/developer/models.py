"""The Developer API's state: files, upload sessions and batches, and the operations on them.

No HTTP here: :mod:`.routes` and :mod:`.uploads` parse a request and call one operation. The
records and their wire rendering live in :mod:`~airflow_provider_gemini_batch.emulator.files`
and :mod:`~airflow_provider_gemini_batch.emulator.batches` (the batch timeline is shared with the
Vertex surface). Everything runs on the server's single event loop thread, so no locks are needed
except around result materialisation, which runs in a worker thread for large files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch.emulator.batches import (
    JOB_EXPIRY_SECONDS,
    TERMINAL,
    BatchRecord,
    count_requests,
    inline_results,
    write_file_results,
)
from airflow_provider_gemini_batch.emulator.capacity import over_concurrent_limit
from airflow_provider_gemini_batch.emulator.files import (
    FileRecord,
    UploadSession,
    new_id,
    remove_quietly,
    sha256_hash_field,
)
from airflow_provider_gemini_batch.emulator.paging import page_sorted
from airflow_provider_gemini_batch.emulator.settings import Clock, Settings
from airflow_provider_gemini_batch.emulator.wire import ApiError, file_gone, not_found

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.backend import EmulatorState

# Live batch ids are 36 lowercase alphanumerics: cookbook Batch_mode.ipynb cells 19/28/34/44 outputs
# (e.g. ``batches/o08hk76gv328ihxcssjsgwt3g6omtfysxi46``); file ids 12 (``files/t5snrshrqff1``).
BATCH_ID_LENGTH = 36
FILE_ID_LENGTH = 12
# How long a read waits for results being built before answering RUNNING (seconds).
RESULT_WAIT_SECONDS = 2.0
#: Subdirectories of the data directory: file bytes, open upload sessions, batch input snapshots.
SUBDIRS = ("files", "uploads", "inputs")

_first = itemgetter(0)


def _sha256_hash_of(path: Path) -> str:
    """The ``sha256Hash`` field of a file on disk, streamed (form: see ``sha256_hash_field``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return sha256_hash_field(digest.hexdigest())


class DeveloperStore:
    """Files, upload sessions and batches of one emulator instance.

    :param shared: the emulator's shared state; its data directory, clock and settings (read on
        every use: a control-plane reset replaces the settings object) are this store's.
    """

    def __init__(self, shared: EmulatorState) -> None:
        self.shared = shared
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
        for sub in SUBDIRS:
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

    @property
    def data_dir(self) -> Path:
        return self.shared.data_dir

    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def clock(self) -> Clock:
        return self.shared.clock

    def reset(self) -> None:
        """Forget every file, session and batch, and their bytes on disk."""
        for session in self.sessions.values():
            session.close()
        self.files.clear()
        self.sessions.clear()
        self.batches.clear()
        self.deleted_in_flight.clear()
        self._batch_order = None
        self._seq.clear()
        self._tasks.clear()
        for sub in SUBDIRS:
            shutil.rmtree(self.data_dir / sub, ignore_errors=True)
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

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
        """One page of ``items`` by creation sequence (``emulator/paging.py``): one pass and a search."""
        seq = self._seq
        keyed = [(seq.get(item.name, 0), item) for item in items]
        # Records are kept in creation order, so this is normally already sorted (timsort: O(n)).
        keyed.sort(key=_first)
        return page_sorted([k for k, _ in keyed], [i for _, i in keyed], page_size, token, newest_first)

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

    def refuse_over_limit(self) -> None:
        """Raise the service's 429 when ``max_active_batches`` batches are in flight (``capacity``)."""
        if self.active_batch_count() >= self.settings.max_active_batches:
            raise over_concurrent_limit()

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
        self.refuse_over_limit()
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
        if self.settings.hold_pending > 0:
            self.settings.hold_pending -= 1
            hold = self.settings.hold_pending_seconds
            record.held = hold is None
            record.hold_until = None if hold is None else record.create_time + hold
        return record

    def release_pending(self) -> int:
        """Start every held batch now (its timeline begins at this instant); returns how many."""
        now = self.clock.now()
        held = [b for b in self.batches.values() if b.held]
        for record in held:
            record.held, record.hold_until = False, now
        return len(held)

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
        ``batches.list`` with descending create times.
        """
        self.admit()
        if visible is None:
            keys, ordered = self._batches_in_order()
            return page_sorted(keys, ordered, page_size, token, newest_first=True)
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
