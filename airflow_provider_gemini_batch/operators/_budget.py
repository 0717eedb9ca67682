"""The create operator's budget (``max_cost``) and the estimate the results manifest shows.

The create task estimates the batch's cost while it validates the input (``_core/estimate.py``),
refuses it above ``max_cost`` before any request, and pushes the estimate under XCom key
:data:`COST_ESTIMATE_XCOM_KEY` with the batch name. The results task finds it among its upstream
create tasks by that batch name and puts it beside the actual ``cost`` in its manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core.budget import check_budget, price_estimate
from airflow_provider_gemini_batch._core.cost import check_price_table
from airflow_provider_gemini_batch._core.estimate import BatchEstimator, estimate_requests
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: XCom key of the create task's ``cost_estimate`` (with ``batch_name``).
COST_ESTIMATE_XCOM_KEY = "cost_estimate"


def _count(value: Any, name: str, task_id: str, *, optional: bool = False) -> int | None:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GeminiInvalidInputError(
            f"{task_id}: {name} must be a whole number of tokens >= 0"
            + (" or None" if optional else "")
            + f", got {value!r}."
        )
    return value


def budget_estimator(op: Any) -> tuple[BatchEstimator, dict[str, dict[str, float]]] | None:
    """A fresh estimator and the checked price table when the create task ``op`` estimates its
    cost (``price_table`` given and the input readable), else None. Sends nothing.

    :raises GeminiInvalidInputError: ``max_cost`` without ``price_table`` or not a number >= 0,
        ``max_cost`` with ``input_file`` (an uploaded file is not read back), a bad price table or
        a bad ``assumed_output_tokens``/``tokens_per_media_part``.
    """
    task_id = op.task_id
    max_cost = op.max_cost
    if max_cost is not None and (
        isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or max_cost < 0
    ):
        raise GeminiInvalidInputError(
            f"{task_id}: max_cost must be an amount >= 0 in the price table's currency, got {max_cost!r}."
        )
    if op.price_table is None:
        if max_cost is not None:
            raise GeminiInvalidInputError(
                f"{task_id}: max_cost needs price_table (the batch prices you pay per million tokens, "
                'e.g. {"gemini-2.5-flash": {"input": 0.15, "output": 1.25}}) to estimate the cost.'
            )
        return None
    table = check_price_table(op.price_table)
    assumed = _count(op.assumed_output_tokens, "assumed_output_tokens", task_id)
    media = _count(op.tokens_per_media_part, "tokens_per_media_part", task_id, optional=True)
    if op.input_file:
        if max_cost is not None:
            raise GeminiInvalidInputError(
                f"{task_id}: max_cost cannot be checked for input_file {op.input_file!r}: an uploaded "
                "file is not read back. Give the JSONL as input_path (or the requests inline), or "
                "drop max_cost."
            )
        op.log.info("No cost estimate for input_file %s: an uploaded file is not read back.", op.input_file)
        return None
    estimator = BatchEstimator(
        embeddings=bool(op.embeddings), assumed_output_tokens=int(assumed or 0), tokens_per_media_part=media
    )
    return estimator, table


def estimate_and_check(
    op: Any, estimator: BatchEstimator, table: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Finish the estimate of ``op``'s input (already fed for ``input_path``) and check the budget.

    :returns: the ``cost_estimate`` object (``_core.budget.price_estimate``).
    :raises GeminiInvalidInputError: no estimate can be made (media parts without
        ``tokens_per_media_part``, an unreadable request, no price for the model), with max_cost.
    :raises GeminiBudgetExceededError: the estimate is above ``max_cost``.
    """
    if op.requests is not None:
        estimate_requests(op.requests, estimator)
        where = f"{op.task_id}: requests"
    else:
        estimator.finish()
        where = f"{op.task_id}: {op.input_path}"
    problem = estimator.problem(where)
    if problem is not None:
        if op.max_cost is not None:
            raise GeminiInvalidInputError(f"{problem} Nothing was uploaded or created.")
        op.log.warning("No cost estimate: %s", problem)
        return {}
    if op.max_cost is None and str(op.model).removeprefix("models/") not in table:
        op.log.warning("No cost estimate: price_table has no entry for %s.", op.model)
        return {}
    estimate = price_estimate(
        estimator, model=str(op.model), table=table, currency=str(op.currency), max_cost=op.max_cost
    )
    check_budget(estimate, op.max_cost, what=where)
    op.log.info(
        "Estimated cost of %d requests on %s: %.6f %s (max_cost %s). %s.",
        estimate["requests"],
        estimate["model"],
        estimate["total"],
        estimate["currency"],
        "none" if op.max_cost is None else f"{float(op.max_cost):.6f}",
        estimate["method"],
    )
    return estimate


def push_estimate(context: Context, estimate: dict[str, Any] | None, batch_name: str) -> None:
    """Push the estimate with the batch it belongs to (nothing without an estimate)."""
    if estimate:
        context["ti"].xcom_push(key=COST_ESTIMATE_XCOM_KEY, value={**estimate, "batch_name": batch_name})


def find_estimate(op: Any, context: Context, batch_name: str) -> dict[str, Any] | None:
    """The ``cost_estimate`` an upstream create task pushed for ``batch_name``, or None.

    Only upstream tasks (direct or not) that estimate (a create operator given a ``price_table``)
    are asked, one XCom read each (every map index); a DAG without them costs no read.
    """
    try:
        # ``op.dag`` raises (RuntimeError) for a task run outside a DAG: nothing to look at then.
        upstream = op.get_flat_relatives(upstream=True) if op.dag is not None else ()
    except RuntimeError:
        return None
    task_ids = sorted(
        t.task_id
        for t in upstream
        if getattr(t, "price_table", None) is not None and hasattr(t, "assumed_output_tokens")
    )
    if not task_ids:
        return None
    values = context["ti"].xcom_pull(task_ids=task_ids, key=COST_ESTIMATE_XCOM_KEY)
    for value in values if isinstance(values, list) else [values]:
        if isinstance(value, dict) and value.get("batch_name") == batch_name:
            return value
    return None
