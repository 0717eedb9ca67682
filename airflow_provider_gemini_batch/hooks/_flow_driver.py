"""The sync driver of the upload state machines (``_core/upload_flow.py``, ``_core/gcs_upload_flow.py``).

A flow decides (offsets, finalize, resume after a cut, refusals); this module does what it asks,
under ONE retry loop of the hook's policy whose budget every :class:`Progress` step renews: a
failed send leaves the flow waiting for its reply, the retry policy decides whether to go on, and
the next attempt answers :data:`~airflow_provider_gemini_batch._core.upload_flow.LOST` (the flow
then asks the session how far it got), so a 2 GB upload resumes however long it has been running:
only failures since the last confirmed chunk count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core import upload_flow as uf
from airflow_provider_gemini_batch._core.retry import RetryBudget
from airflow_provider_gemini_batch.exceptions import GeminiBatchError

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


def run_flow(
    hook: GeminiBatchHook,
    flow: uf.Flow,
    send: Callable[[uf.Send], uf.Reply],
    *,
    what: str,
    discard: Callable[[Mapping[str, Any]], None] | None = None,
) -> Mapping[str, Any]:
    """Drive ``flow`` to its end; its return value.

    :param send: sends one :class:`~airflow_provider_gemini_batch._core.upload_flow.Send` once
        and returns the accepted answer; it raises for a failure (the retry policy decides
        whether the flow hears ``LOST`` or the error ends the upload).
    :param what: the retried operation, for the policy's messages.
    :param discard: deletes a file the flow discards (best effort: errors are ignored).
    :raises GeminiApiError: the flow refused the session's answers.
    :raises GeminiTransportError: failures outlasted the retry budget.
    """
    budget = RetryBudget()
    pending: list[uf.Step] = []  # the step whose request failed, if any

    def drive(step: uf.Step) -> Mapping[str, Any]:
        while True:
            reply: uf.Reply | None = None
            if isinstance(step, uf.Send):
                pending[:] = [step]
                reply = send(step)
                pending.clear()
            elif isinstance(step, uf.Progress):
                budget.renew()  # the session confirmed bytes: progress
            elif isinstance(step, uf.Resumed):
                hook.log.info(
                    "The upload session holds %d of %d bytes; continuing from there.",
                    step.received,
                    step.size,
                )
            elif isinstance(step, uf.Discard) and discard is not None:
                with contextlib.suppress(GeminiBatchError):
                    discard(step.file)
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return done.value

    def attempt() -> Mapping[str, Any]:
        if pending:
            pending.clear()
            try:
                step = flow.send(uf.LOST)
            except StopIteration as done:  # pragma: no cover - a lost send never ends the flow
                return done.value
        else:
            step = next(flow)
        return drive(step)

    retrying = hook.policy.retrying(idempotent=True, what=what, budget=budget)
    try:
        return retrying(attempt)
    finally:
        flow.close()
