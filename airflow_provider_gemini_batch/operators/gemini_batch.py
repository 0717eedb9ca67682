"""Operators for the Gemini Batch lifecycle: upload, create (and optionally wait), results, cleanup.

This module is the public import path (users' DAGs import from it); each operator lives in its
own module and is re-exported here:

* :mod:`.upload`: :class:`GeminiUploadFileOperator`;
* :mod:`.create`: :class:`GeminiCreateBatchOperator`;
* :mod:`.results`: :class:`GeminiBatchResultsOperator`;
* :mod:`.shards`: :class:`GeminiSplitInputOperator`, :class:`GeminiMergeShardsOperator` (large inputs);
* :mod:`.resubmit`: :class:`GeminiBuildResubmissionOperator`, :class:`GeminiMergeResubmissionOperator`;
* :mod:`.priority`: :class:`GeminiUpdateBatchPriorityOperator`;
* :mod:`.cleanup`: :class:`GeminiCancelBatchOperator`, :class:`GeminiDeleteBatchOperator`,
  :class:`GeminiDeleteFileOperator`;

Only the operators are public here (``__all__``); the helpers they share live in the private
modules ``_common`` (defaults, hook protocols), ``_input`` (input size checks) and ``_wait`` (the
synchronous wait), and the modules above keep their own helpers (``upload_idempotent``,
``batch_input_fingerprint``): import those from their home modules, knowing they may change.

All operators are safe to construct: ``__init__`` only stores arguments; the hook is created on
first use. The API key lives in the connection only; no argument, template field, XCom value or
log line carries it.
"""

from __future__ import annotations

from airflow_provider_gemini_batch.operators.cleanup import (
    GeminiCancelBatchOperator,
    GeminiDeleteBatchOperator,
    GeminiDeleteFileOperator,
)
from airflow_provider_gemini_batch.operators.create import GeminiCreateBatchOperator
from airflow_provider_gemini_batch.operators.priority import GeminiUpdateBatchPriorityOperator
from airflow_provider_gemini_batch.operators.resubmit import (
    GeminiBuildResubmissionOperator,
    GeminiMergeResubmissionOperator,
)
from airflow_provider_gemini_batch.operators.results import GeminiBatchResultsOperator
from airflow_provider_gemini_batch.operators.shards import GeminiMergeShardsOperator, GeminiSplitInputOperator
from airflow_provider_gemini_batch.operators.upload import GeminiUploadFileOperator

__all__ = [
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
]
