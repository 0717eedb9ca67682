"""The small results manifest returned to XCom, tallied one result at a time.

The results operator streams rows to storage and feeds each one to a :class:`ResultsTally`;
memory stays constant whatever the number of results. Pure: no I/O, no Airflow runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_gemini_batch._core.models import pick


@dataclass
class ResultsTally:
    """Running counts of landed results and summed token usage.

    ``usage`` sums every integer counter found in a response's ``usageMetadata`` (for example
    ``promptTokenCount``, ``candidatesTokenCount``, ``totalTokenCount``, ``thoughtsTokenCount``),
    keyed by the lowerCamelCase field name. Nested detail lists are ignored on purpose: they are
    per-modality breakdowns whose sum is already in the top-level counters.
    """

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    usage: dict[str, int] = field(default_factory=dict)

    def add(self, *, ok: bool, response: Mapping[str, Any] | None) -> None:
        """Count one result; ``response`` is the GenerateContentResponse (None for a failed row)."""
        self.total += 1
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
        if response:
            self._add_usage(pick(response, "usageMetadata"))

    def _add_usage(self, usage: Any) -> None:
        if not isinstance(usage, Mapping):
            return
        for raw_key, value in usage.items():
            # int64 counters may arrive as decimal strings (proto-JSON); bools are not counters.
            if isinstance(value, bool):
                continue
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if not isinstance(value, int):
                continue
            key = _camel(raw_key)
            self.usage[key] = self.usage.get(key, 0) + value

    @property
    def failed_ratio(self) -> float:
        """``failed / total`` (0.0 when there are no results)."""
        return self.failed / self.total if self.total else 0.0

    def exceeds(self, max_failed_ratio: float) -> bool:
        """True when the failed ratio is strictly above ``max_failed_ratio`` (a fraction, 0 to 1)."""
        return self.failed_ratio > max_failed_ratio


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def build_manifest(
    *,
    batch_name: str,
    state: str,
    destination: str | None,
    tally: ResultsTally,
    note: str | None = None,
) -> dict[str, Any]:
    """The JSON-native manifest pushed to XCom.

    :param state: the short final state (``"SUCCEEDED"``, ``"CANCELLED"`` ...).
    :param destination: where the rows were written, or None when nothing was written.
    :param note: a plain sentence for the reader (e.g. why there are no results), or None.
    """
    manifest: dict[str, Any] = {
        "batch_name": batch_name,
        "state": state,
        "destination": destination,
        "counts": {"total": tally.total, "succeeded": tally.succeeded, "failed": tally.failed},
        "usage": dict(sorted(tally.usage.items())),
    }
    if note:
        manifest["note"] = note
    return manifest
