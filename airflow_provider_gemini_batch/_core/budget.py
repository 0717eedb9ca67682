"""An estimate's price and the ``max_cost`` refusal (pure).

:func:`price_estimate` turns the token counts of a :class:`~._core.estimate.BatchEstimator` into
the ``cost_estimate`` object with a price table the user gives (checked by
``_core.cost.check_price_table``); :func:`check_budget` refuses an estimate above ``max_cost``
with the numbers and the fix, before anything is uploaded or created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_gemini_batch._core.estimate import BatchEstimator
from airflow_provider_gemini_batch.exceptions import GeminiBudgetExceededError, GeminiInvalidInputError

_PER = 1_000_000


def price_estimate(
    estimator: BatchEstimator,
    *,
    model: str,
    table: Mapping[str, Mapping[str, float]],
    currency: str = "USD",
    max_cost: float | None = None,
) -> dict[str, Any]:
    """The ``cost_estimate`` object of a batch (JSON-native).

    Shape: ``{"currency", "model", "requests", "tokens": {"input", "output"}, "input", "output",
    "total", "max_cost", "method"}``; amounts in ``currency``, rounded to 6 decimals.

    :param table: a table checked by ``_core.cost.check_price_table`` (keys without ``models/``).
    :raises GeminiInvalidInputError: the table has no price for ``model``.
    """
    bare = model.removeprefix("models/")
    prices = table.get(bare)
    if prices is None:
        raise GeminiInvalidInputError(
            f"price_table has no entry for {bare!r} (it has {sorted(table)}); add the batch prices of "
            f"{bare} per million tokens to estimate the cost for max_cost."
        )
    tokens = {"input": estimator.input_tokens, "output": estimator.output_tokens}
    out_price = max(prices["output"], prices.get("thinking", prices["output"]))
    amounts = {
        "input": round(tokens["input"] * prices["input"] / _PER, 6),
        "output": round(tokens["output"] * out_price / _PER, 6),
    }
    return {
        "currency": currency,
        "model": bare,
        "requests": estimator.requests,
        "tokens": tokens,
        **amounts,
        "total": round(amounts["input"] + amounts["output"], 6),
        "max_cost": max_cost,
        "method": (
            f"{estimator.method()}; priced with price_table[{bare!r}] per million tokens "
            f"(input {prices['input']}, output {out_price})"
        ),
    }


def check_budget(estimate: Mapping[str, Any], max_cost: float | None, *, what: str) -> None:
    """Refuse an estimate above ``max_cost`` (nothing happens when ``max_cost`` is None).

    :param what: the batch for the message (``"task create: input.jsonl"``).
    :raises GeminiBudgetExceededError: the estimate's total is above ``max_cost``.
    """
    if max_cost is None or float(estimate["total"]) <= float(max_cost):
        return
    currency = estimate["currency"]
    raise GeminiBudgetExceededError(
        f"{what}: the estimated cost {estimate['total']:.6f} {currency} of {estimate['requests']} "
        f"requests on {estimate['model']} is above max_cost {float(max_cost):.6f} {currency}; nothing "
        f"was uploaded or created. Estimate: {estimate['tokens']['input']:,} input tokens "
        f"({estimate['input']:.6f} {currency}) + {estimate['tokens']['output']:,} output tokens "
        f"({estimate['output']:.6f} {currency}). How: {estimate['method']}. Raise max_cost, lower "
        "maxOutputTokens (or assumed_output_tokens) or split the input.",
        estimate=dict(estimate),
    )
