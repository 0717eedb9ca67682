"""The emulator's knobs (:class:`Settings`, changed at run time through the control plane) and clock.

Defaults and their sources are in the docstring of :class:`Settings`; docs/emulator.md lists the
knobs for users.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_gemini_batch.emulator.batches import OUTCOMES
from airflow_provider_gemini_batch.emulator.fake_model import INJECTED_CODES
from airflow_provider_gemini_batch.emulator.modes import check_modes

# The Batch API guide's limit of concurrent jobs (ai.google.dev/gemini-api/docs/batch-api).
MAX_ACTIVE_BATCHES = 100


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
        service: the real API answers a batch GET in roughly 0.1-0.3 s (200 ms is the figure the
        benchmarks plan with). Default 0.
    :param max_active_batches: batches allowed in PENDING/RUNNING at once before create answers
        429 (default 100, the Batch API guide's limit of concurrent jobs); raise it to load-test many waits.
    :param running_slots: how many batches may run at once; 0 (default) runs every batch at once.
        With N > 0 new batches queue PENDING and are admitted highest ``priority`` first, then
        oldest first (REST reference ``GenerateContentBatch.priority``: "higher runs first"); see
        :meth:`~.developer.models.DeveloperStore.admit`.
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
    hold_pending: int = 0
    hold_pending_seconds: float | None = None

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
            hold_pending=self.hold_pending,
            hold_pending_seconds=self.hold_pending_seconds,
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


def configure(
    settings: Settings,
    admit: Callable[[], None],
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
    hold_pending: int | None = None,
    hold_pending_seconds: float | None = None,
) -> None:
    """Change the knobs of ``settings`` in place; ``modes`` replaces the set of modes.

    ``admit`` replays the queue admissions so far before ``running_slots`` changes (they follow
    the old number of slots).

    :raises ValueError: a bad value (the message names the knob).
    """
    if modes is not None:
        settings.modes = check_modes(modes)
    if extra_api_keys is not None:
        keys_ok = all(isinstance(k, str) and k for k in extra_api_keys)
        if not isinstance(extra_api_keys, list) or not keys_ok:
            raise ValueError("extra_api_keys must be a list of non-empty strings")
        settings.extra_api_keys = list(extra_api_keys)
    if file_processing_seconds is not None:
        if float(file_processing_seconds) < 0:
            raise ValueError("file_processing_seconds must be >= 0")
        settings.file_processing_seconds = float(file_processing_seconds)
    if huge_output_bytes is not None:
        if int(huge_output_bytes) < 0:
            raise ValueError("huge_output_bytes must be >= 0")
        settings.huge_output_bytes = int(huge_output_bytes)
    if state_names is not None:
        if not isinstance(state_names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in state_names.items()
        ):
            raise ValueError("state_names must map short states (PENDING, ...) to wire strings")
        settings.state_names = {k.upper(): v for k, v in state_names.items()}
    if latency_seconds is not None:
        if not 0.0 <= float(latency_seconds) <= 60.0:
            raise ValueError("latency_seconds must be within [0, 60]")
        settings.latency_seconds = float(latency_seconds)
    if max_active_batches is not None:
        if int(max_active_batches) < 1:
            raise ValueError("max_active_batches must be >= 1")
        settings.max_active_batches = int(max_active_batches)
    if running_slots is not None:
        if isinstance(running_slots, bool) or not isinstance(running_slots, int) or running_slots < 0:
            raise ValueError("running_slots must be an integer >= 0 (0: no queue)")
        admit()  # admissions so far follow the old number of slots
        settings.running_slots = running_slots
    if error_code is not None:
        if error_code not in INJECTED_CODES:
            raise ValueError(f"error_code must be one of {sorted(INJECTED_CODES)}")
        settings.error_code = int(error_code)
    if hold_pending is not None:
        if isinstance(hold_pending, bool) or not isinstance(hold_pending, int) or hold_pending < 0:
            raise ValueError("hold_pending must be an integer >= 0 (batches to hold PENDING)")
        settings.hold_pending = hold_pending
    if hold_pending_seconds is not None:
        # A negative value restores the default: hold until release_pending.
        seconds = float(hold_pending_seconds)
        settings.hold_pending_seconds = seconds if seconds >= 0 else None
    if processing_seconds is not None:
        if processing_seconds < 0:
            raise ValueError("processing_seconds must be >= 0")
        settings.processing_seconds = float(processing_seconds)
    if error_fraction is not None:
        if not 0.0 <= error_fraction <= 1.0:
            raise ValueError("error_fraction must be within [0, 1]")
        settings.error_fraction = float(error_fraction)
    if next_outcome is not None:
        outcome = next_outcome.upper().removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
        if outcome not in OUTCOMES:
            raise ValueError(f"next_outcome must be one of {sorted(OUTCOMES)}")
        settings.next_outcome = outcome
