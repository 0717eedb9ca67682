"""Change the priority of a batch that is pending or running: :class:`GeminiUpdateBatchPriorityOperator`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core.routes import priority_value
from airflow_provider_gemini_batch.operators._common import DEFAULT_CONN_ID, GeminiOperatorBase

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The Operation ``metadata.@type`` of an embeddings batch ends with this
#: (docs/real-service/wire-format.md, Embedding batches).
_EMBED_TYPE_SUFFIX = "EmbedContentBatch"


class GeminiUpdateBatchPriorityOperator(GeminiOperatorBase):
    """Set ``priority`` on an existing batch (higher runs first; int64, negatives allowed).

    Sends ``PATCH batches/{id}:updateGenerateContentBatch?updateMask=priority`` (or
    ``:updateEmbedContentBatch`` for an embeddings batch; discovery document, see
    docs/real-service/wire-format.md, Changing a batch's priority). Useful while the batch is
    still pending: the service picks higher-priority batches first (REST reference
    ``GenerateContentBatch.priority``).

    :param batch_name: ``batches/...`` (templated), usually the create task's XCom.
    :param priority: the new priority (templated; an integer or its decimal string).
    :param embeddings: the batch is an embeddings batch; None (default) reads the batch once to
        find out from its ``metadata.@type``.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: ``{"batch_name", "priority", "state"}``.
    :raises GeminiInvalidInputError: a priority that is not an int64 (before any request).
    """

    template_fields: Sequence[str] = ("batch_name", "priority")
    ui_color = "#d2e3fc"

    def __init__(
        self,
        *,
        batch_name: str,
        priority: int | str,
        embeddings: bool | None = None,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.batch_name = batch_name
        self.priority = priority
        self.embeddings = embeddings

    def execute(self, context: Context) -> dict[str, Any]:
        raw = self.priority
        priority = int(raw) if isinstance(raw, str) and raw.strip().lstrip("-").isdigit() else raw
        priority_value(priority)  # refuse a bad value before any request
        assert isinstance(priority, int)
        embeddings = self.embeddings
        if embeddings is None:
            # A full read: the light poll's field mask leaves out ``@type``. A batch whose priority
            # still matters is pending or running, so it carries no inline results yet.
            meta = self.hook.get_batch(str(self.batch_name)).raw.get("metadata") or {}
            embeddings = str(meta.get("@type", "")).endswith(_EMBED_TYPE_SUFFIX)
        batch = self.hook.update_batch_priority(str(self.batch_name), priority, embeddings=embeddings)
        self.log.info("Priority of %s set to %d (%s).", batch.name, priority, batch.state.short)
        return {"batch_name": batch.name, "priority": priority, "state": batch.state.short}
