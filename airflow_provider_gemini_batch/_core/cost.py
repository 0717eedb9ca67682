"""An estimate in money of a batch's token usage, from a price table the user gives (pure).

No price is built in: prices change and differ per model, tier and modality, and a hard-coded
list goes stale. The user passes the prices they pay for *batch* requests, per million tokens
(Google's pricing page, ai.google.dev/gemini-api/docs/pricing, lists a "Batch" column at 50 % of
the interactive price, spec §10). Shape::

    {"gemini-2.5-flash": {"input": 0.15, "output": 1.25, "thinking": 1.25}, ...}

``input`` applies to ``promptTokenCount`` + ``toolUsePromptTokenCount`` (and the ``tokenCount`` of
embedding rows), ``output`` to ``candidatesTokenCount``, ``thinking`` to ``thoughtsTokenCount``
(defaults to the ``output`` price, which is how the pricing page bills thinking: "output price
(including thinking tokens)"). The counter names are those of ``usageMetadata`` ([LIVE] cookbook
``Batch_mode.ipynb`` cell 25: ``promptTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``)
as summed by ``ResultsTally.usage``. Model names match with or without ``models/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

#: Price kinds a table entry may give (per million tokens).
PRICE_KINDS = ("input", "output", "thinking")
#: usageMetadata counters billed at each price kind.
COUNTERS: dict[str, tuple[str, ...]] = {
    "input": ("promptTokenCount", "toolUsePromptTokenCount", "tokenCount"),
    "output": ("candidatesTokenCount",),
    "thinking": ("thoughtsTokenCount",),
}
_PER = 1_000_000


def check_price_table(table: Any, *, what: str = "price_table") -> dict[str, dict[str, float]]:
    """The table, checked: a mapping of model name to ``{"input", "output", "thinking"?}`` numbers >= 0.

    :raises GeminiInvalidInputError: naming the model and the field, and what to write instead.
    """
    if not isinstance(table, Mapping) or not table:
        raise GeminiInvalidInputError(
            f"{what} must be a non-empty mapping of model name to prices per million tokens, e.g. "
            '{"gemini-2.5-flash": {"input": 0.15, "output": 1.25}}; got ' + repr(type(table).__name__) + "."
        )
    out: dict[str, dict[str, float]] = {}
    for model, prices in table.items():
        if not isinstance(prices, Mapping):
            raise GeminiInvalidInputError(f"{what}[{model!r}] must be a mapping of price kind to number.")
        unknown = set(prices) - set(PRICE_KINDS)
        if unknown:
            raise GeminiInvalidInputError(
                f"{what}[{model!r}] has unknown price kinds {sorted(unknown)}; use {list(PRICE_KINDS)} "
                "(per million tokens)."
            )
        entry: dict[str, float] = {}
        for kind in PRICE_KINDS:
            if kind not in prices:
                if kind == "thinking":
                    continue
                raise GeminiInvalidInputError(
                    f"{what}[{model!r}] lacks the {kind!r} price per million tokens."
                )
            value = prices[kind]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise GeminiInvalidInputError(
                    f"{what}[{model!r}][{kind!r}] must be a number >= 0 (price per million tokens), "
                    f"got {value!r}."
                )
            entry[kind] = float(value)
        entry.setdefault("thinking", entry["output"])
        out[_bare(str(model))] = entry
    return out


def _bare(model: str) -> str:
    return model.removeprefix("models/")


def estimate_cost(
    usage: Mapping[str, int],
    model: str | None,
    table: Mapping[str, Mapping[str, float]],
    *,
    currency: str = "USD",
) -> dict[str, Any]:
    """The manifest's ``cost`` object for summed ``usage`` of one batch on ``model``.

    Shape: ``{"currency", "model", "tokens": {"input", "output", "thinking"}, "input", "output",
    "thinking", "total", "basis"}`` (amounts rounded to 6 decimals), or ``{"currency", "model",
    "total": None, "note"}`` when the table has no price for the model.

    :param table: a table checked by :func:`check_price_table`.
    """
    bare = _bare(model or "")
    prices = table.get(bare)
    if prices is None:
        return {
            "currency": currency,
            "model": bare or None,
            "total": None,
            "note": f"the price table has no entry for {bare or 'an unknown model'}; no estimate.",
        }
    tokens = {kind: sum(int(usage.get(c, 0)) for c in COUNTERS[kind]) for kind in PRICE_KINDS}
    amounts = {kind: round(tokens[kind] * prices[kind] / _PER, 6) for kind in PRICE_KINDS}
    return {
        "currency": currency,
        "model": bare,
        "tokens": tokens,
        **amounts,
        "total": round(sum(amounts.values()), 6),
        "basis": "user price table, per million tokens (batch prices as given)",
    }


def sum_costs(costs: list[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The sum of several ``cost`` objects (shards, rounds); None when none has a total.

    Shards on different models are summed in money; the currency of the first is kept (a table
    has one currency).
    """
    priced = [c for c in costs if c and c.get("total") is not None]
    if not priced:
        return None
    out: dict[str, Any] = {"currency": priced[0].get("currency", "USD")}
    out["tokens"] = {k: sum(int(c.get("tokens", {}).get(k, 0)) for c in priced) for k in PRICE_KINDS}
    for kind in (*PRICE_KINDS, "total"):
        out[kind] = round(sum(float(c.get(kind) or 0) for c in priced), 6)
    unpriced = len([c for c in costs if c]) - len(priced)
    if unpriced:
        out["note"] = f"{unpriced} part(s) had no price for their model and are not included."
    return out
