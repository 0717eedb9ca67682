"""The small results manifest returned to XCom, tallied one result at a time.

The results operator streams rows to storage and feeds each one to a :class:`ResultsTally`;
memory stays constant whatever the number of results. Pure: no I/O, no Airflow runtime.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.models import BatchResult, pick

#: How many distinct keys the tally remembers to find duplicates (about 100 bytes each in a Python
#: set, so ~25 MB at the limit). Past it, new keys are no longer checked and the manifest says so;
#: memory stays bounded whatever the batch size.
DUPLICATE_CHECK_LIMIT = 250_000

#: How many distinct answering models (``modelVersion``) the tally sums usage for apart. Past it,
#: the usage of rows on further models is summed with the rows that name no model (priced by the
#: batch's model) and counted in ``models_unlisted``: one small dict per model, whatever the input.
MODEL_LIMIT = 64

#: The manifest's outcome for requests the batch counted and the results do not answer.
MISSING = "missing"
#: Digits of the largest usage counter accepted: counters are int64 (proto-JSON writes them as
#: decimal strings), at most 19 digits. Longer strings, or digits Python reads but JSON does not
#: ("²", "٣"), are not counts (``int()`` raises on them, or works for 4,300 digits and more).
_COUNTER_DIGITS = 19


class BadCounter(ValueError):
    """A usage counter that is not a count; the message names the field. Landing names the line.

    ``detail`` is the first part of the message alone (field, value, what a count is), for a
    caller whose advice differs (a merge re-reading landed rows).
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


@dataclass
class ResultsTally:
    """Running counts of landed results and summed token usage, fed one row at a time.

    ``usage`` sums every integer counter of a response's ``usageMetadata`` (``promptTokenCount``,
    ``candidatesTokenCount``, ``totalTokenCount``, ``thoughtsTokenCount`` ...) and the top-level
    ``tokenCount`` of embedding responses (``{"tokenCount": "1", "embedding": ...}``, [LIVE]
    cookbook ``Batch_mode.ipynb`` cell 48), keyed by the lowerCamelCase field name; int64 counters
    may be decimal strings. Rows that failed with a response (blocked, stopped ...) count too:
    they were billed. The sums are kept per answering model (the response's ``modelVersion``,
    which can differ from the batch's model when the service routes a retired model to another):
    :attr:`usage_by_model`, one dict per distinct model up to ``model_limit`` (rows without a
    ``modelVersion``, or on a model past the limit, are under ``None``; ``models_unlisted`` counts
    the rows of the latter). Nested detail lists are ignored on purpose: they are per-modality
    breakdowns whose sum is already in the top-level counters.

    ``by_outcome`` counts rows per outcome (``_core/rows.OUTCOMES``). ``total`` counts the landed
    rows; ``missing`` the requests the batch counted that no landed row answers (set by
    :meth:`account_for` once the rows are landed); ``requests`` is both, and ``failed`` every
    request without a usable answer: landed rows that are not ``succeeded`` plus the missing ones.
    ``duplicate_keys`` counts rows whose key was already seen (among the first ``key_limit``
    distinct keys), ``keyless`` rows that arrived without a key.

    :raises BadCounter: (from :meth:`add`, :meth:`add_succeeded`) a usage counter that is a string
        but not a decimal int64 (the caller names the line).
    """

    total: int = 0
    succeeded: int = 0
    by_outcome: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rows.OUTCOMES, 0))
    retryable: int = 0
    duplicate_keys: int = 0
    keyless: int = 0
    key_inferred: int = 0
    key_limit: int = DUPLICATE_CHECK_LIMIT
    keys_unchecked: int = 0
    missing: int = 0
    model_limit: int = MODEL_LIMIT
    models_unlisted: int = 0
    _seen: set[str] = field(default_factory=set, repr=False)
    _usage: dict[str | None, dict[str, int]] = field(default_factory=dict, repr=False)

    @property
    def usage(self) -> dict[str, int]:
        """The summed counters of every row, whichever model answered it (a new dict)."""
        buckets = list(self._usage.values())
        if len(buckets) == 1:
            return dict(buckets[0])
        out: dict[str, int] = {}
        for bucket in buckets:
            for name, value in bucket.items():
                out[name] = out.get(name, 0) + value
        return out

    @property
    def usage_by_model(self) -> dict[str | None, dict[str, int]]:
        """Summed counters per answering model (``modelVersion`` as written; ``None``: rows that
        name none, or whose model came past ``model_limit`` distinct ones). Copies."""
        return {model: dict(bucket) for model, bucket in self._usage.items() if bucket}

    def _bucket(self, model: str | None) -> dict[str, int]:
        """The sums for ``model``, made on its first row; past the limit, those of ``None``."""
        if model is not None and len(self._usage) - (None in self._usage) >= self.model_limit:
            self.models_unlisted += 1
            model = None
        bucket = self._usage.get(model)
        if bucket is None:
            bucket = self._usage[model] = {}
        return bucket

    @property
    def requests(self) -> int:
        """Requests accounted for: landed rows plus missing ones."""
        return self.total + self.missing

    @property
    def failed(self) -> int:
        """Requests without a usable answer: landed rows of any outcome but ``succeeded``, and
        missing rows."""
        return self.total - self.succeeded + self.missing

    def account_for(self, expected_requests: int | None) -> int:
        """Count as missing the requests of ``expected_requests`` (``batchStats.requestCount``)
        that no landed row answers; returns that number (0 when ``expected_requests`` is None).

        A row repeating a key answers no other request, so duplicates do not make up for missing
        rows: ``missing = expected - (total - duplicate_keys)`` when positive. Duplicates are known
        among the first ``key_limit`` distinct keys only, so past that the count is a lower bound.
        """
        answered = self.total - self.duplicate_keys
        self.missing = max(0, expected_requests - answered) if expected_requests else 0
        return self.missing

    def add(self, result: BatchResult) -> bool:
        """Count one landed row; returns True when its key duplicates an earlier row's."""
        # Runs once per landed row: attribute reads in locals, no call for a plain int counter.
        self.total += 1
        outcome = result.outcome
        if outcome == rows.SUCCEEDED:
            self.succeeded += 1
        elif result.retryable:
            self.retryable += 1
        by_outcome = self.by_outcome
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        if result.key_inferred:
            self.key_inferred += 1
        response = result.response
        if response:
            model = pick(response, "modelVersion")
            self._sum_usage(
                pick(response, "usageMetadata"),
                pick(response, "tokenCount"),
                model if type(model) is str else None,
            )
        if result.key is None or result.key_inferred:
            self.keyless += 1
            return False
        return self._check_key(result.key)

    def add_succeeded(self, key: str, usage: Any, tokens: Any, model: str | None = None) -> bool:
        """Count a keyed row that succeeded, as :meth:`add` counts its result; returns True when
        its key duplicates an earlier row's.

        For the landing path that never builds the row's response (``_core/landing.py``):
        ``usage`` and ``tokens`` are the response's ``usageMetadata`` and ``tokenCount`` (either
        spelling; None when absent), ``model`` its ``modelVersion`` (None when absent or not a
        string).
        """
        self.total += 1
        self.succeeded += 1
        by_outcome = self.by_outcome
        by_outcome[rows.SUCCEEDED] = by_outcome.get(rows.SUCCEEDED, 0) + 1
        self._sum_usage(usage, tokens, model)
        return self._check_key(key)

    def _sum_usage(self, usage: Any, tokens: Any, model: str | None) -> None:
        """Add a response's ``usageMetadata`` counters and its ``tokenCount`` to the sums of the
        model that answered it."""
        # One dict lookup per row: a batch has one or a few answering models.
        totals = self._usage.get(model)
        if totals is None:
            totals = self._bucket(model)
        if type(usage) is dict:
            for name, value in usage.items():
                kind = type(value)
                if kind is int and "_" not in name:
                    totals[name] = totals.get(name, 0) + value
                elif kind is not list:  # a per-modality breakdown list is never a counter
                    _add_counter(totals, _camel(name), value)
        elif isinstance(usage, Mapping):
            for raw_key, value in usage.items():
                _add_counter(totals, _camel(raw_key), value)
        if tokens is not None:
            _add_counter(totals, "tokenCount", tokens)

    def landed_key(self, key: str) -> bool | None:
        """Whether a row with ``key`` was landed; None when the tally cannot tell (more distinct
        keys landed than it remembers, ``keys_unchecked``)."""
        if key in self._seen:
            return True
        return None if self.keys_unchecked else False

    def _check_key(self, key: str) -> bool:
        if key in self._seen:
            self.duplicate_keys += 1
            return True
        if len(self._seen) < self.key_limit:
            self._seen.add(key)
        else:
            self.keys_unchecked += 1
        return False

    @property
    def failed_ratio(self) -> float:
        """``failed / requests`` (0.0 when there are none): missing rows count as failed."""
        return self.failed / self.requests if self.requests else 0.0

    def exceeds(self, max_failed_ratio: float) -> bool:
        """True when the failed ratio is strictly above ``max_failed_ratio`` (a fraction, 0 to 1)."""
        return self.failed_ratio > max_failed_ratio

    def counts(self) -> dict[str, Any]:
        """The manifest's ``counts`` object (JSON-native)."""
        return {
            "total": self.requests,
            "landed": self.total,
            "missing": self.missing,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "by_outcome": {**self.by_outcome, MISSING: self.missing},
            "retryable": self.retryable,
            "duplicate_keys": self.duplicate_keys,
            "keyless": self.keyless,
        }


def _add_counter(totals: dict[str, int], key: str, value: Any) -> None:
    # int64 counters may arrive as decimal strings (proto-JSON); bools are not counters.
    kind = type(value)
    if kind is not int:
        if kind is str:
            value = _string_counter(key, value)
        elif kind is bool or not isinstance(value, int):
            return
    totals[key] = totals.get(key, 0) + value


def _string_counter(name: str, value: str) -> int:
    """A counter written as a decimal string (``"42"``), or :class:`BadCounter` naming ``name``."""
    if value.isascii() and value.isdigit() and len(value) <= _COUNTER_DIGITS:
        return int(value)
    shown = value if len(value) <= 24 else f"{value[:20]}... ({len(value)} characters)"
    detail = (
        f"the usage counter {_field_of(name)} is {shown!r}, not a token count (ASCII digits, at most "
        f"{_COUNTER_DIGITS})"
    )
    raise BadCounter(
        f"{detail}; the result file is corrupt or not from the Gemini API. Nothing was published: "
        "check that the connection's host is the Gemini API.",
        detail,
    )


def _field_of(counter: str) -> str:
    """Where a summed counter sits in a result line."""
    return "response.tokenCount" if counter == "tokenCount" else f"response.usageMetadata.{counter}"


@functools.lru_cache(maxsize=1024)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def build_manifest(
    *,
    batch_name: str,
    state: str,
    destination: str | None,
    tally: ResultsTally,
    expected_requests: int | None = None,
    note: str | None = None,
    warnings: list[str] | None = None,
    cost: dict[str, Any] | None = None,
    missing_keys: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON-native manifest pushed to XCom.

    Shape: ``{"batch_name", "state", "destination", "expected_requests", "counts": {"total",
    "landed", "missing", "succeeded", "failed", "by_outcome": {outcome: n, "missing": n},
    "retryable", "duplicate_keys", "keyless"}, "usage": {counter: n}}`` plus ``"note"`` and
    ``"warnings"`` when there is something to say. ``total`` is ``landed + missing`` and equals
    ``succeeded + failed`` and the sum of ``by_outcome``.

    :param state: the short final state (``"SUCCEEDED"``, ``"CANCELLED"`` ...).
    :param destination: where the rows were written, or None when nothing was written.
    :param expected_requests: the batch's ``batchStats.requestCount`` (None when not reported).
    :param note: a plain sentence for the reader (e.g. why there are no results), or None.
    :param warnings: plain sentences about the rows (count mismatch, duplicate keys ...).
    :param missing_keys: the first keys of requests without a row (``_core/missing.py``), when
        they could be named; absent from the manifest otherwise.
    :param cost: the ``cost`` object (``_core/cost.estimate_cost``) when the user gave a price
        table; absent from the manifest otherwise.
    """
    manifest: dict[str, Any] = {
        "batch_name": batch_name,
        "state": state,
        "destination": destination,
        "expected_requests": expected_requests,
        "counts": tally.counts(),
        "usage": dict(sorted(tally.usage.items())),
    }
    if missing_keys is not None:
        manifest["missing_keys"] = list(missing_keys)
    if cost is not None:
        manifest["cost"] = cost
    if note:
        manifest["note"] = note
    if warnings:
        manifest["warnings"] = list(warnings)
    return manifest


def row_warnings(tally: ResultsTally, *, expected_requests: int | None, batch_name: str) -> list[str]:
    """Plain sentences for what the keys and counts of the landed rows put in doubt.

    * rows missing (:attr:`ResultsTally.missing`, counted as failed), or a landed count that
      differs from ``batchStats.requestCount`` otherwise (extra rows; keys were then not inferred
      for key-less rows);
    * rows sharing a key (a join on the key would pick one at random);
    * key-less rows (joined by position only when the counts matched, marked ``key_inferred``);
    * keys past :data:`DUPLICATE_CHECK_LIMIT` that were not checked for duplicates.
    """
    out: list[str] = []
    if tally.missing:
        out.append(
            f"{batch_name} owes {tally.missing} more result rows than were landed ({tally.total} landed, "
            f"{tally.duplicate_keys} of them repeating a key, {expected_requests} requests); the "
            "missing ones count as failed. Join the rows on their keys and resubmit the requests "
            "whose key has no row."
        )
    elif expected_requests and tally.total != expected_requests:
        out.append(
            f"{batch_name} reports {expected_requests} requests but {tally.total} results were landed; "
            "join the rows on their keys and resubmit the requests whose key is missing."
        )
    if tally.duplicate_keys:
        out.append(
            f"{tally.duplicate_keys} result rows repeat a key already landed; every copy was written, "
            "so dedupe on 'key' before joining."
        )
    if tally.keyless:
        if tally.key_inferred:
            out.append(
                f"{tally.keyless} result rows carried no key; they were given their request's position "
                "('request-<n>', marked key_inferred) because the counts match. Position is only the "
                "documented order: large inline batches have answered out of order (python-genai "
                "issue #1909), so treat these keys as a guess and give every request a key."
            )
        elif tally.keyless < tally.total:
            out.append(
                f"{tally.keyless} result rows carried no key while the other rows carry theirs; no "
                "position key was inferred (a row's position is no proof of its request when the "
                "rows are keyed); their 'key' is null. Give every request a key."
            )
        else:
            out.append(
                f"{tally.keyless} result rows carried no key and the counts do not allow inferring one; "
                "their 'key' is null. Give every request a key."
            )
    if tally.keys_unchecked:
        out.append(
            f"Duplicate keys were checked among the first {tally.key_limit} distinct keys only; "
            f"{tally.keys_unchecked} later rows were not checked."
        )
    return out
