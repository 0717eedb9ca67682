"""Cleanup tasks: cancel a batch, delete a batch, delete a file. Each is an Airflow teardown task.

Why teardowns: a cleanup must run whatever happened upstream, so it runs after ``all_done``; as a
plain task it then becomes the run's last task, and Airflow derives a run's state from its last
tasks: a run whose upload or results task failed ended ``success`` because the cleanup succeeded.
Airflow leaves teardown tasks out of that decision (``DagRun`` looks at the tasks before them),
which is exactly the cleanup's place: the run stays failed and the cleanup still runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import TriggerRule

from airflow_provider_gemini_batch._core.names import MAX_FILE_ID_CHARS, is_unaddressable_file
from airflow_provider_gemini_batch._core.settle import DEFAULT_CANCEL_SETTLE_SECONDS
from airflow_provider_gemini_batch.exceptions import GeminiNotFoundError
from airflow_provider_gemini_batch.operators._common import DEFAULT_CONN_ID, GeminiOperatorBase
from airflow_provider_gemini_batch.operators._wait import cancel_and_settle

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class _GeminiCleanupBase(GeminiOperatorBase):
    """A cleanup task: a teardown by default, running once every upstream task is done.

    :param teardown: mark the task as an Airflow teardown (default True): it runs when its
        upstream tasks are done, whatever their outcome (trigger rule ``all_done_setup_success``,
        which without setup tasks is ``all_done``), and its own outcome never decides the run's
        state, so a failed upstream keeps the run failed. A ``trigger_rule`` you pass is kept.
        Give ``teardown=False`` for a plain task (which, as the last task of the run, decides the
        run's state). ``.as_teardown(setups=..., on_failure_fail_dagrun=...)`` still works.
    """

    def __init__(self, *, teardown: bool = True, gemini_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any):
        if teardown:
            # Without setup tasks upstream this rule is all_done; with them it also skips the
            # cleanup when every setup was skipped (nothing was made), as Airflow's teardowns do.
            kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE_SETUP_SUCCESS)
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        if teardown:
            self.is_teardown = True

    @classmethod
    def partial(cls, *, teardown: bool = True, **kwargs: Any) -> Any:
        """``BaseOperator.partial`` that keeps a mapped cleanup a teardown, as the unmapped one is.

        A mapped task is built from ``partial``'s arguments without running ``__init__``, and
        the scheduler reads its trigger rule and ``is_teardown`` from them: without this a
        ``.partial(...).expand(...)`` cleanup was a plain ``all_success`` task, ``upstream_failed``
        after any failure upstream (so it never cleaned up). ``teardown=False`` and a given
        ``trigger_rule`` behave as in ``__init__``. Returns Airflow's ``OperatorPartial``.
        """
        if teardown:
            kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE_SETUP_SUCCESS)
        # BaseOperator.partial is a descriptor; through super() it resolves for this class.
        partial = super().partial(teardown=teardown, **kwargs)
        if teardown:
            # Where MappedOperator keeps is_teardown (its property reads partial_kwargs and
            # unmap() applies it to each expanded instance); not an __init__ argument.
            partial.kwargs["is_teardown"] = True
        return partial


class GeminiCancelBatchOperator(_GeminiCleanupBase):
    """Cancel a batch that is still in flight (a no-op for an ended or missing batch).

    A cancel is a request, not an outcome: the batch may still end SUCCEEDED or FAILED. After the
    request the batch is re-read for up to ``settle_timeout`` seconds and the state it really
    ended in is logged and returned, with its output reference (results of a cancelled batch are
    still landable by :class:`GeminiBatchResultsOperator`).

    A teardown task (see :class:`_GeminiCleanupBase`): it runs once its upstream tasks are done,
    and the run's state stays that of the work before it. An empty ``batch_name`` (failed
    upstream) is a no-op.

    :param batch_name: ``batches/...`` (templated).
    :param settle_timeout: seconds to re-read the batch after the cancel. Default 60; 0 reads once.
    :param teardown: an Airflow teardown task (default True); ``False`` for a plain task.
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
        teardown: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(teardown=teardown, gemini_conn_id=gemini_conn_id, **kwargs)
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


class _GeminiDeleteOperator(_GeminiCleanupBase):
    """Shared cleanup behaviour: an empty name is a no-op, a missing resource counts as deleted."""

    #: What the subclass deletes, for log lines ("batch", "file").
    resource_kind = "resource"

    def __init__(
        self,
        *,
        ignore_missing: bool = True,
        teardown: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ):
        super().__init__(teardown=teardown, gemini_conn_id=gemini_conn_id, **kwargs)
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
    """Delete a batch, cancelling it first if it is still in flight. A teardown task (runs whatever
    happened upstream).

    Deleting a batch does not stop it: the delete of a long-running operation only says the
    client is no longer interested in its result (Google's ``operations.delete`` reference), and a
    deleted pending batch kept holding the project's batch quota (googleapis/python-genai #2495).
    So a batch that has not ended is cancelled, re-read for up to ``settle_timeout`` seconds until
    it ends, and deleted then (the delete is sent even if it has not ended by then).

    :param batch_name: ``batches/...`` (templated); empty/None is a no-op with a log line.
    :param ignore_missing: treat a batch that no longer exists as deleted. Default True.
    :param settle_timeout: seconds to re-read a cancelled batch before deleting it. Default 60.
    :param teardown: an Airflow teardown task (default True); ``False`` for a plain task.
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
        settle_timeout: float = DEFAULT_CANCEL_SETTLE_SECONDS,
        teardown: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            ignore_missing=ignore_missing, teardown=teardown, gemini_conn_id=gemini_conn_id, **kwargs
        )
        self.batch_name = batch_name
        self.settle_timeout = settle_timeout

    def _target(self) -> str | None:
        return None if self.batch_name is None else str(self.batch_name)

    def _delete(self, name: str) -> None:
        batch = self.hook.get_batch(name, light=True)
        if not batch.done:
            self.log.info(
                "%s is %s; cancelling it before the delete (a delete alone does not stop a batch).",
                batch.name,
                batch.state_label,
            )
            timeout = float(self.settle_timeout)
            last = cancel_and_settle(self.hook, batch.name, self.log, settle_timeout=timeout) or batch
            if not last.done:
                self.log.warning(
                    "%s was still %s after %.0f s; deleting it anyway.", batch.name, last.state.short, timeout
                )
        self.hook.delete_batch(name)


class GeminiDeleteFileOperator(_GeminiDeleteOperator):
    """Delete an uploaded file. A teardown task (runs whatever happened upstream).

    A batch output file (``files/batch-…``) is skipped with a log line: its id is longer than the
    40 characters the Files API accepts, so it cannot be deleted by name (python-genai #1613).
    A file the Files API calls gone (403 "… or it may not exist": expired or deleted) counts as
    missing.

    :param file_name: ``files/...`` (templated); empty/None (failed upstream) is a no-op.
    :param ignore_missing: treat a file that no longer exists as deleted. Default True.
    :param teardown: an Airflow teardown task (default True); ``False`` for a plain task.
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
        teardown: bool = True,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            ignore_missing=ignore_missing, teardown=teardown, gemini_conn_id=gemini_conn_id, **kwargs
        )
        self.file_name = file_name

    def _target(self) -> str | None:
        return None if self.file_name is None else str(self.file_name)

    def _delete(self, name: str) -> None:
        self.hook.delete_file(name)

    def execute(self, context: Context) -> None:
        name = self._target()
        if name and is_unaddressable_file(name):
            self.log.info(
                "%s is a batch output file; the Files API refuses ids over %d characters, so it "
                "cannot be deleted by name (googleapis/python-genai #1613). Skipped; the service "
                "removes it.",
                name,
                MAX_FILE_ID_CHARS,
            )
            return
        super().execute(context)
