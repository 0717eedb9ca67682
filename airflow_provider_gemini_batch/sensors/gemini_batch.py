"""The wait step: succeed when a Gemini batch SUCCEEDED, fail when it ended any other way."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_gemini_batch._core.states import OutcomeKind, interpret
from airflow_provider_gemini_batch._core.waiting import parse_event, raise_for_event
from airflow_provider_gemini_batch.exceptions import GeminiBatchFailedError
from airflow_provider_gemini_batch.links.gemini_batch import GeminiBatchLink
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


class GeminiBatchSensor(BaseSensorOperator):
    """Wait for a batch to end. Only ``SUCCEEDED`` succeeds.

    Deferrable mode hands the wait to :class:`GeminiBatchTrigger` at once (no worker slot is held
    while the batch runs). Non-deferrable mode polls on the worker with the same pure decision
    (:func:`~airflow_provider_gemini_batch._core.states.interpret`).

    :param batch_name: ``batches/...`` (templated), usually the create task's XCom.
    :param poll_interval: seconds between polls. Default 60.
    :param timeout: longest wait (timedelta or seconds). Default 48 h (a batch expires after 48 h
        anyway). In deferrable mode it becomes the trigger's absolute deadline.
    :param deferrable: wait in the triggerer. Default ``[operators] default_deferrable``.
    :param cancel_on_kill: cancel the batch when a user kills the waiting task. Default False: the
        sensor only watches a batch another task owns.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: the batch summary ``{"batch_name", "state", "stats", "display_name", "model",
        "responses_file", "error"}`` (small, JSON-native).
    :raises GeminiBatchFailedError: the batch ended FAILED, CANCELLED or EXPIRED (message names the
        batch, state, request counts and the API's error).
    :raises GeminiBatchTimeoutError: (deferrable) the deadline passed; non-deferrable mode raises
        Airflow's sensor timeout.
    """

    template_fields: Sequence[str] = ("batch_name",)
    template_ext: Sequence[str] = ()
    operator_extra_links = (GeminiBatchLink(),)
    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        batch_name: str,
        poll_interval: float = 60,
        timeout: timedelta | float = timedelta(hours=48),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = False,
        gemini_conn_id: str = "gemini_batch_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, timeout=timeout, **kwargs)
        self.batch_name = batch_name
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.gemini_conn_id = gemini_conn_id
        self._last_state: str | None = None

    @cached_property
    def hook(self) -> GeminiBatchHook:
        """The sync hook (created on first use, on the worker)."""
        from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

        return GeminiBatchHook(gemini_conn_id=self.gemini_conn_id)

    def _persist_link(self, context: Context) -> None:
        from airflow_provider_gemini_batch.operators.gemini_batch import api_root_of

        GeminiBatchLink.persist(context, str(self.batch_name), api_root_of(self.hook))

    def execute(self, context: Context) -> Any:
        self._persist_link(context)
        if not self.deferrable:
            return super().execute(context)
        # self.timeout is seconds (BaseSensorOperator normalises it).
        self.defer(
            trigger=GeminiBatchTrigger(
                batch_name=str(self.batch_name),
                gemini_conn_id=self.gemini_conn_id,
                poll_interval=float(self.poll_interval),
                end_time=time.time() + float(self.timeout),
                cancel_on_kill=self.cancel_on_kill,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue:
        batch = self.hook.get_batch(str(self.batch_name))
        outcome = interpret(batch)
        if batch.state.short != self._last_state:
            self._last_state = batch.state.short
            self.log.info("%s", outcome.message)
        if outcome.kind is OutcomeKind.FAILURE:
            raise GeminiBatchFailedError(
                outcome.message, batch_name=batch.name, state=batch.state.short, summary=batch.summary()
            )
        return PokeReturnValue(is_done=outcome.kind is OutcomeKind.SUCCESS, xcom_value=batch.summary())

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the deferred wait; everything comes from the event payload.

        :raises GeminiBatchFailedError, GeminiBatchTimeoutError, GeminiBatchError: as the event says.
        """
        parsed = parse_event(event)
        summary = dict(raise_for_event(parsed))
        self.log.info("%s", parsed.message or f"Batch {parsed.batch_name} succeeded.")
        return summary

    def on_kill(self) -> None:
        """Cancel the watched batch when ``cancel_on_kill`` (non-deferrable waits only)."""
        if not self.cancel_on_kill or not self.batch_name:
            return
        from airflow_provider_gemini_batch.operators.gemini_batch import cancel_in_flight

        cancel_in_flight(self, str(self.batch_name), True)
