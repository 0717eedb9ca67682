"""Operators for the Gemini Batch lifecycle: upload, create (and optionally wait), results, cleanup.

This module is the public import path (users' DAGs import from it); each operator lives in its
own module and is re-exported here:

* :mod:`.upload`: :class:`GeminiUploadFileOperator` and :func:`upload_idempotent`;
* :mod:`.create`: :class:`GeminiCreateBatchOperator` and :func:`batch_input_fingerprint`;
* :mod:`.results`: :class:`GeminiBatchResultsOperator`;
* :mod:`.shards`: :class:`GeminiSplitInputOperator`, :class:`GeminiMergeShardsOperator` (large inputs);
* :mod:`.resubmit`: :class:`GeminiBuildResubmissionOperator`, :class:`GeminiMergeResubmissionOperator`;
* :mod:`.priority`: :class:`GeminiUpdateBatchPriorityOperator`;
* :mod:`.cleanup`: :class:`GeminiCancelBatchOperator`, :class:`GeminiDeleteBatchOperator`,
  :class:`GeminiDeleteFileOperator`;
* shared helpers: ``_common`` (defaults, hook protocols, :func:`api_root_of`), ``_input``
  (:func:`check_input_size`), ``_wait`` (the synchronous wait :func:`poll_until_done`,
  :func:`cancel_and_settle`, :func:`cancel_in_flight`, :func:`raise_for_outcome`).

All operators are safe to construct: ``__init__`` only stores arguments; the hook is created on
first use. The API key lives in the connection only; no argument, template field, XCom value or
log line carries it.
"""

from __future__ import annotations

from airflow_provider_gemini_batch.operators._common import (
    CONN_ID_XCOM_KEY,
    DEFAULT_CONN_ID,
    DEFAULT_REATTACH_SCAN_LIMIT,
    api_root_of,
)
from airflow_provider_gemini_batch.operators._input import check_input_size
from airflow_provider_gemini_batch.operators._wait import (
    ON_KILL_SETTLE_SECONDS,
    cancel_and_settle,
    cancel_in_flight,
    poll_until_done,
    raise_for_outcome,
)
from airflow_provider_gemini_batch.operators.cleanup import (
    GeminiCancelBatchOperator,
    GeminiDeleteBatchOperator,
    GeminiDeleteFileOperator,
)
from airflow_provider_gemini_batch.operators.create import GeminiCreateBatchOperator, batch_input_fingerprint
from airflow_provider_gemini_batch.operators.priority import GeminiUpdateBatchPriorityOperator
from airflow_provider_gemini_batch.operators.resubmit import (
    GeminiBuildResubmissionOperator,
    GeminiMergeResubmissionOperator,
)
from airflow_provider_gemini_batch.operators.results import GeminiBatchResultsOperator
from airflow_provider_gemini_batch.operators.shards import GeminiMergeShardsOperator, GeminiSplitInputOperator
from airflow_provider_gemini_batch.operators.upload import GeminiUploadFileOperator, upload_idempotent

__all__ = [
    "CONN_ID_XCOM_KEY",
    "DEFAULT_CONN_ID",
    "DEFAULT_REATTACH_SCAN_LIMIT",
    "ON_KILL_SETTLE_SECONDS",
    "GeminiBatchResultsOperator",
    "GeminiBuildResubmissionOperator",
    "GeminiCancelBatchOperator",
    "GeminiCreateBatchOperator",
    "GeminiDeleteBatchOperator",
    "GeminiDeleteFileOperator",
    "GeminiMergeResubmissionOperator",
    "GeminiMergeShardsOperator",
    "GeminiSplitInputOperator",
    "GeminiUpdateBatchPriorityOperator",
    "GeminiUploadFileOperator",
    "api_root_of",
    "batch_input_fingerprint",
    "cancel_and_settle",
    "cancel_in_flight",
    "check_input_size",
    "poll_until_done",
    "raise_for_outcome",
    "upload_idempotent",
]
