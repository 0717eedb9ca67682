"""The wait step: succeed when a Gemini batch SUCCEEDED, fail when it ended any other way."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_gemini_batch._core.events import EventStatus, parse_event, raise_for_event
from airflow_provider_gemini_batch._core.pending import (
    DEFAULT_PENDING_TIMEOUT,
    PendingSignal,
    PendingTooLong,
    PendingWatch,
)
from airflow_provider_gemini_batch._core.settle import DEFAULT_CANCEL_SETTLE_SECONDS
from airflow_provider_gemini_batch._core.verdict import DEFAULT_OUTPUT_GRACE_SECONDS, StepKind, WaitTracker
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchStuckError,
    GeminiBatchTimeoutError,
)
from airflow_provider_gemini_batch.links.gemini_batch import GeminiBatchLink
from airflow_provider_gemini_batch.messages.pending import sensor_stuck_text
from airflow_provider_gemini_batch.messages.waiting import (
    SENSOR_TIMEOUT_ADVICE,
    describe_deferral,
    describe_settled,
    timeout_message,
)
from airflow_provider_gemini_batch.operators._common import (
    DEFAULT_CONN_ID,
    api_root_of,
    as_seconds,
    make_hook,
    require_batch_name,
    serialized_fields_with_conn_id,
)
from airflow_provider_gemini_batch.operators._pending import (
    check_pending_arguments,
    pending_seconds,
    signal_from_event,
)
from airflow_provider_gemini_batch.operators._wait import cancel_in_flight, poll_once, settle_timed_out_wait
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


#: Seconds between polls when neither ``poll_interval`` nor ``poke_interval`` is given.
DEFAULT_POLL_INTERVAL = 60.0


def _one_interval(poll_interval: timedelta | float | None, poke_interval: timedelta | float | None) -> float:
    """Seconds between polls from the provider's name or Airflow's (``poke_interval``).

    :raises ValueError: both given, with different values (which one was meant is unknowable).
    """
    given = [as_seconds(v) for v in (poll_interval, poke_interval) if v is not None]
    if len(given) == 2 and given[0] != given[1]:
        raise ValueError(
            f"GeminiBatchSensor got poll_interval={given[0]:g} s and poke_interval={given[1]:g} s; "
            "they are the same setting (poke_interval is Airflow's name for it): give one."
        )
    return given[0] if given else DEFAULT_POLL_INTERVAL


class GeminiBatchSensor(BaseSensorOperator):
    """Wait for a batch to end. Only ``SUCCEEDED`` succeeds.

    Deferrable mode hands the wait to :class:`GeminiBatchTrigger` at once (no worker slot is held
    while the batch runs). Non-deferrable mode polls on the worker with the same pure decision
    (one :class:`~airflow_provider_gemini_batch._core.verdict.WaitTracker` per sensor instance).
    Polls are light (``fields`` partial response, no inline result bodies).

    Airflow's standard sensor arguments are accepted: ``poke_interval`` is another name for
    ``poll_interval`` (seconds or a timedelta; give one of them), ``timeout``, ``mode``
    (``poke``/``reschedule``, when not deferrable), ``soft_fail``, ``exponential_backoff`` and
    ``max_wait`` (poke and reschedule mode; the deferrable wait backs off on errors only) go to
    Airflow's ``BaseSensorOperator``.

    :param batch_name: ``batches/...`` (templated), usually the create task's XCom.
    :param poll_interval: seconds between polls (or a timedelta). Default 60.
    :param poke_interval: Airflow's name for ``poll_interval``; giving both with different values
        raises ``ValueError``.
    :param timeout: longest wait (timedelta or seconds). Default 48 h (a batch expires after 48 h
        anyway). In deferrable mode it becomes the trigger's absolute deadline.
    :param deferrable: wait in the triggerer. Default ``[operators] default_deferrable``.
    :param cancel_on_kill: cancel the batch when a user kills the waiting task. Default False: the
        sensor only watches a batch another task owns.
    :param cancel_on_timeout: when ``timeout`` passes, cancel the batch, re-read it (bounded) and
        report the state it really ended in (a batch that still ended SUCCEEDED succeeds).
        Default False.
    :param pending_timeout: how long the batch may stay PENDING, counted from its ``createTime``
        (timedelta or seconds; None never flags). Default 6 h (see docs/operators.md for the
        users' reports behind it).
    :param on_pending_timeout: ``"warn"`` (default: log it and keep waiting) or ``"fail"`` (fail
        with :class:`~airflow_provider_gemini_batch.exceptions.GeminiBatchStuckError`, leaving
        the batch as it is: the sensor does not own it). ``"recreate"`` needs the input and is
        refused here: use the create operator with ``wait_for_completion=True``.
    :param output_grace_period: seconds a batch reporting SUCCEEDED without naming its output is
        re-read before the sensor fails. Default 600 (in ``reschedule`` mode the memory is per
        poke, so the sensor's own timeout bounds it instead).
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``; pushed to XCom under
        ``gemini_conn_id`` beside the summary.
    :returns: the batch summary ``{"batch_name", "state", "stats", "display_name", "model",
        "responses_file", "error"}`` (small, JSON-native).
    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED or EXPIRED, or done in a state
        this release does not know (message names the batch, state, request counts and the API's
        error). PARTIALLY_SUCCEEDED succeeds with a warning. Fails the task without retries (a
        retry cannot change how the batch ended; the message says to clear the create task).
    :raises GeminiBatchOutputMissingError: the batch reports success but names no output after
        ``output_grace_period`` (without retries).
    :raises GeminiBatchTimeoutError: ``timeout`` passed while the batch was in flight, in both
        modes (the message names the batch, says it was left running and how to wait longer). It
        is also an ``AirflowSensorTimeout``: the task fails without retries, as Airflow treats a
        sensor's timeout in poke, reschedule and deferrable mode alike. With ``soft_fail`` the
        task is skipped instead (Airflow's sensor rule).
    :raises GeminiBatchStuckError: the batch stayed PENDING past ``pending_timeout`` under
        ``on_pending_timeout="fail"``; without retries.
    :raises GeminiBatchError: the batch could not be read (after the hook's or trigger's own
        retries): the task's ``retries`` apply.
    :raises GeminiNoBatchError: no batch name (the create task did not run or failed before
        creating one); without retries.
    """

    template_fields: Sequence[str] = ("batch_name",)
    template_ext: Sequence[str] = ()
    operator_extra_links = (GeminiBatchLink(),)
    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        batch_name: str,
        poll_interval: timedelta | float | None = None,
        poke_interval: timedelta | float | None = None,
        timeout: timedelta | float = timedelta(hours=48),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = False,
        cancel_on_timeout: bool = False,
        output_grace_period: float = DEFAULT_OUTPUT_GRACE_SECONDS,
        pending_timeout: timedelta | float | None = timedelta(seconds=DEFAULT_PENDING_TIMEOUT),
        on_pending_timeout: str = "warn",
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        interval = _one_interval(poll_interval, poke_interval)
        super().__init__(poke_interval=interval, timeout=timeout, **kwargs)
        self.batch_name = batch_name
        self.poll_interval = interval
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.output_grace_period = output_grace_period
        self.pending_timeout = pending_timeout
        self.on_pending_timeout = on_pending_timeout
        self.gemini_conn_id = gemini_conn_id
        # One tracker per sensor instance: its memory (last state, output grace, full reads)
        # spans the pokes of a poke-mode wait.
        self._tracker: WaitTracker | None = None
        self._pending: PendingWatch | None = None

    @classmethod
    def get_serialized_fields(cls) -> frozenset[str]:
        """Airflow's serialized fields plus ``gemini_conn_id`` (read by the batch page)."""
        return serialized_fields_with_conn_id(super().get_serialized_fields())

    @cached_property
    def hook(self) -> GeminiBatchHook:
        """The sync hook (created on first use, on the worker)."""
        return make_hook(self.gemini_conn_id)

    def _persist_link(self, context: Context) -> None:
        GeminiBatchLink.persist(context, str(self.batch_name), api_root_of(self.hook))

    def execute(self, context: Context) -> Any:
        self.batch_name = require_batch_name(
            self.batch_name, task_id=self.task_id, upstream=self.upstream_task_ids, what="wait for"
        )
        check_pending_arguments(
            self.task_id, self.pending_timeout, self.on_pending_timeout, 0, allowed=("warn", "fail")
        )
        self._persist_link(context)
        context["ti"].xcom_push(key="gemini_conn_id", value=self.gemini_conn_id)
        if not self.deferrable:
            try:
                return super().execute(context)
            except GeminiBatchError:
                raise  # the batch's own outcome (already a typed error), never a timeout here
            except AirflowSensorTimeout as exc:
                if self.cancel_on_timeout:
                    return self._cancel_after_timeout()
                # Airflow's own text names no batch and says nothing of it; the same error type as
                # the deferrable mode (also an AirflowSensorTimeout: still no retry).
                raise GeminiBatchTimeoutError(self._timeout_message()) from exc
        # self.timeout is seconds (BaseSensorOperator normalises it).
        end_time = time.time() + float(self.timeout)
        self.log.info("%s", describe_deferral(str(self.batch_name), float(self.poll_interval), end_time))
        self.defer(
            trigger=GeminiBatchTrigger(
                batch_name=str(self.batch_name),
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

    def _timeout_message(self) -> str:
        last = self._tracker.last_state if self._tracker is not None else None
        return timeout_message(
            str(self.batch_name),
            last,
            SENSOR_TIMEOUT_ADVICE,
            what=f"the sensor's timeout of {float(self.timeout):g} s",
        )

    def _cancel_after_timeout(self) -> dict[str, Any]:
        """Cancel after a non-deferrable timeout; succeed only if the batch still ended SUCCEEDED."""
        name = str(self.batch_name)
        settled, succeeded = settle_timed_out_wait(
            self.hook, name, self.log, settle_timeout=DEFAULT_CANCEL_SETTLE_SECONDS
        )
        if settled is not None and succeeded:
            return settled.summary()
        raise GeminiBatchTimeoutError(
            f"Stopped waiting for {name}: the sensor's timeout of {float(self.timeout):g} s passed. "
            f"{describe_settled(name, settled)}"
        )

    def poke(self, context: Context) -> PokeReturnValue:
        name = str(self.batch_name)
        if self._tracker is None:
            self._tracker = WaitTracker(name, output_grace=float(self.output_grace_period))
        if self._pending is None:
            timeout = pending_seconds(self.pending_timeout)
            self._pending = PendingWatch(name, timeout, str(self.on_pending_timeout))
        try:
            batch, step = poll_once(self.hook, self._tracker, self.log, self._pending)
        except PendingTooLong as stuck:
            raise self._stuck(stuck.signal) from None
        return PokeReturnValue(is_done=step.kind is StepKind.SUCCESS, xcom_value=batch.summary())

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the deferred wait; everything comes from the event payload.

        :raises GeminiBatchFailedError, GeminiBatchOutputMissingError, GeminiBatchTimeoutError,
            GeminiBatchError: as the event says.
        """
        parsed = parse_event(event)
        if parsed.status is EventStatus.PENDING_TIMEOUT:
            raise self._stuck(signal_from_event(event, pending_seconds(self.pending_timeout) or 0.0))
        summary = dict(raise_for_event(parsed, timeout_advice=SENSOR_TIMEOUT_ADVICE))
        self.log.info("%s", parsed.message or f"Batch {parsed.batch_name} succeeded.")
        return summary

    def _stuck(self, signal: PendingSignal) -> GeminiBatchStuckError:
        return GeminiBatchStuckError(
            sensor_stuck_text(signal),
            batch_name=signal.batch_name,
            pending_seconds=signal.age,
            policy=str(self.on_pending_timeout),
        )

    def on_kill(self) -> None:
        """Cancel the watched batch when ``cancel_on_kill`` (non-deferrable waits only)."""
        if not self.cancel_on_kill or not self.batch_name:
            return
        cancel_in_flight(self, str(self.batch_name), True)
