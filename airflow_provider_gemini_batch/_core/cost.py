"""An estimate in money of a batch's token usage, from a price table the user gives (pure).

No price is built in: prices change and differ per model, tier and modality, and a hard-coded
list goes stale. The user passes the prices they pay for *batch* requests, per million tokens
(Google's pricing page, ai.google.dev/gemini-api/docs/pricing, lists a "Batch" column at 50 % of
the interactive price, ai.google.dev/gemini-api/docs/batch-api). Shape::

    {"gemini-2.5-flash": {"input": 0.15, "output": 1.25, "thinking": 1.25}, ...}

``input`` applies to ``promptTokenCount`` + ``toolUsePromptTokenCount`` (and the ``tokenCount`` of
embedding rows) less the cached tokens, ``cached`` to ``cachedContentTokenCount`` (the part of the
prompt served from a context cache: it is counted *inside* ``promptTokenCount``, REST reference
``UsageMetadata``, and billed at the caching price, pricing page "Context caching price"),
``output`` to ``candidatesTokenCount``, ``thinking`` to ``thoughtsTokenCount``
(defaults to the ``output`` price, which is how the pricing page bills thinking: "output price
(including thinking tokens)"). The counter names are those of ``usageMetadata`` ([LIVE] cookbook
``Batch_mode.ipynb`` cell 25: ``promptTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``)
as summed by ``ResultsTally.usage``. Model names match with or without ``models/``.

Without a ``cached`` price, cached tokens are priced as fresh input (an upper bound) and shown
apart (``tokens.cached`` and a ``note``), so the estimate never hides them.

Each row is priced by the model that answered it (its response's ``modelVersion``, "the model
version used to generate the response" in the REST reference ``GenerateContentResponse``) when
the table has that model, else by the batch's model: the service answers requests for a retired
model name with another model (enricoros/big-AGI issue #1082: a request for
``gemini-3-pro-preview`` answered by 3.1 Pro; Google's changelog of 2025-05-06, quoted in
microsoft/vscode-copilot-release issue #9372: the 03-25 preview "now points to" the 05-06 one).
When rows are priced by more than one model, :func:`estimate_batch_cost` adds per-model subtotals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

#: Price kinds a table entry may give (per million tokens); ``cached`` is optional.
PRICE_KINDS = ("input", "cached", "output", "thinking")
#: Kinds a table entry may leave out: ``thinking`` defaults to ``output``, ``cached`` to ``input``.
_OPTIONAL = ("cached", "thinking")
#: The usageMetadata counter of prompt tokens served from a context cache (inside the prompt count).
CACHED_COUNTER = "cachedContentTokenCount"
#: usageMetadata counters billed at each price kind.
COUNTERS: dict[str, tuple[str, ...]] = {
    "input": ("promptTokenCount", "toolUsePromptTokenCount", "tokenCount"),
    "cached": (CACHED_COUNTER,),
    "output": ("candidatesTokenCount",),
    "thinking": ("thoughtsTokenCount",),
}
_PER = 1_000_000


def check_price_table(table: Any, *, what: str = "price_table") -> dict[str, dict[str, float]]:
    """The table, checked: a mapping of model name to ``{"input", "output", "cached"?,
    "thinking"?}`` numbers >= 0 per million tokens. An entry without ``cached`` keeps no cache
    price (:func:`estimate_cost` then prices cached tokens as input and says so).

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
                if kind in _OPTIONAL:
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
    # Cached tokens are inside promptTokenCount: bill them once, at the cache price if there is one.
    cached = min(tokens["cached"], tokens["input"])
    tokens["input"] -= cached
    tokens["cached"] = cached
    cache_price = prices.get("cached")
    rates = {**prices, "cached": prices["input"] if cache_price is None else cache_price}
    amounts = {kind: round(tokens[kind] * rates[kind] / _PER, 6) for kind in PRICE_KINDS}
    out: dict[str, Any] = {
        "currency": currency,
        "model": bare,
        "tokens": tokens,
        **amounts,
        "total": round(sum(amounts.values()), 6),
        "basis": "user price table, per million tokens (batch prices as given)",
    }
    if cached and cache_price is None:
        out["note"] = (
            f"{cached} prompt tokens were served from a context cache (cachedContentTokenCount) and "
            f"are priced here at the input price; add a 'cached' price for {bare} to bill them at "
            "the caching rate."
        )
    return out


def estimate_batch_cost(
    usage_by_model: Mapping[str | None, Mapping[str, int]],
    batch_model: str | None,
    table: Mapping[str, Mapping[str, float]],
    *,
    currency: str = "USD",
    rows_unlisted: int = 0,
) -> dict[str, Any]:
    """The manifest's ``cost`` for usage summed per answering model (``ResultsTally.usage_by_model``).

    Usage of a model the table prices is priced by that model; the rest (rows naming no model, or
    one the table lacks) by ``batch_model``. With one pricing model the shape is
    :func:`estimate_cost`'s; with several it is their sum (:func:`sum_costs`) with ``"model"`` the
    batch's and ``"by_model": {model: estimate_cost(...)}`` the subtotals.

    :param rows_unlisted: rows whose model came past the tally's model limit (summed under None,
        so priced by the batch's model); said in a ``note`` when not 0.
    """
    groups: dict[str, dict[str, int]] = {}
    batch = _bare(batch_model or "")
    for model, usage in usage_by_model.items():
        bare = _bare(model) if model else ""
        target = bare if bare and bare in table else batch
        group = groups.setdefault(target, {})
        for name, value in usage.items():
            group[name] = group.get(name, 0) + value
    if len(groups) <= 1:
        # One pricing model: the shape of a single estimate, as before rows named their model.
        model, usage = next(iter(groups.items()), (batch, {}))
        out = estimate_cost(usage, model or batch_model, table, currency=currency)
    else:
        by_model = {m: estimate_cost(u, m, table, currency=currency) for m, u in sorted(groups.items())}
        summed = sum_costs(list(by_model.values())) or {"total": None}
        summed.pop("currency", None)
        out = {"currency": currency, "model": batch or None, **summed, "by_model": by_model}
        if out["total"] is not None:
            out["basis"] = (
                "user price table, per million tokens, each row at the price of the model that answered it"
            )
    if rows_unlisted:
        extra = (
            f"{rows_unlisted} rows were answered by models past the first ones counted apart and are "
            f"priced by the batch's model {batch or '(unknown)'}."
        )
        out["note"] = f"{out['note']} {extra}" if out.get("note") else extra
    return out


def sum_costs(costs: list[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The sum of several ``cost`` objects (shards, rounds); None when none has a total.

    Shards on different models are summed in money; the currency of the first is kept (a table
    has one currency). When the parts were priced by more than one model, ``by_model`` holds the
    per-model sums (of the parts' own ``by_model`` subtotals where they have them).
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
    # Per-model subtotals survive the sum: a part's own, or the part itself under its model.
    parts: dict[str, list[Mapping[str, Any] | None]] = {}
    for cost in priced:
        for model, sub in (cost.get("by_model") or {str(cost.get("model")): cost}).items():
            parts.setdefault(model, []).append(sub)
    if len(parts) > 1:
        out["by_model"] = {model: sum_costs(subs) for model, subs in sorted(parts.items())}
    return out
