"""One console row per batch, its warnings, and the totals per DAG and per day (pure).

A row is built from what the tasks recorded (``records.BatchRecord``: the sensor's summary, the
results task's manifest) and, when the connection's batch list was read, what the API says now
(:class:`LiveBatch`). The state shown is the API's when it has the batch, else the manifest's,
else the summary's; a batch whose end nobody recorded and that the list did not show is
``IN_FLIGHT`` while younger than the service's 48 h expiry, ``NOT_RECORDED`` after.

Every value from XCom is data a DAG's tasks (or a REST user with the ``user`` role) can plant:
counts go through ``page.count`` (an int, or dropped), money through :func:`money` (a finite
number, or dropped), and nothing here decides what is read.

Warnings (thresholds in :class:`Thresholds`):

* **stuck in PENDING**: the API says PENDING and the batch was created more than
  ``pending_hours`` ago (users report batches that sit in PENDING for a day and then expire:
  python-genai issues #1482 and #2974, js-genai #1453);
* **near expiry**: not ended and older than ``48 h - expiry_margin_hours`` (the service expires a
  batch still pending or running after 48 h, with no results: the batch-mode guide's "Batch job
  states");
* **no end recorded after 48 h**;
* **landed with failed rows**: the manifest counts requests without a usable answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from airflow_provider_gemini_batch._core.states import TERMINAL_STATES
from airflow_provider_gemini_batch.plugins.page import _stats_of, count
from airflow_provider_gemini_batch.plugins.records import BatchRecord

#: The service expires a batch that is still pending or running this long after its creation.
EXPIRY_HOURS = 48.0
#: The state of a batch whose end nobody recorded, while it may still run.
IN_FLIGHT = "IN_FLIGHT"
#: The state of a batch whose end nobody recorded although it must have ended (older than 48 h).
NOT_RECORDED = "NOT_RECORDED"
#: The state filter value that keeps rows with at least one warning.
WITH_WARNINGS = "WARNINGS"
FINAL: frozenset[str] = frozenset(state.short for state in TERMINAL_STATES)
#: States the filter offers (beside :data:`WITH_WARNINGS`).
FILTER_STATES = (
    "PENDING",
    "RUNNING",
    IN_FLIGHT,
    "SUCCEEDED",
    "PARTIALLY_SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "EXPIRED",
    NOT_RECORDED,
)
#: Batches the totals cover at most (the newest of the filter).
TOTALS_LIMIT = 10_000
#: Distinct DAGs and days the totals keep apart; past it, the rest is summed under "other".
TOTALS_KEYS = 500


@dataclass(frozen=True)
class Thresholds:
    """When a row is flagged, in hours (defaults: 6 h in PENDING, 6 h before the 48 h expiry)."""

    pending_hours: float = 6.0
    expiry_margin_hours: float = 6.0


@dataclass(frozen=True)
class LiveBatch:
    """What the batch list said about one batch (small: no inline bodies)."""

    state: str
    done: bool
    display_name: str | None
    stats: Mapping[str, int]
    create_time: datetime | None
    update_time: datetime | None
    end_time: datetime | None


@dataclass
class Row:
    """One batch as the console shows it.

    :param created: when the create task recorded the batch (the index XCom's timestamp, UTC).
    :param source: ``"live"`` (the API's list), ``"recorded"`` (XCom) or ``"none"``.
    :param in_state: seconds in the current state when known (PENDING: since creation; ended:
        since the end), else None.
    :param cost: ``(currency, amount)`` from the manifest's ``cost.total``, when priced.
    """

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    batch_name: str
    created: datetime
    display_name: str | None = None
    state: str = IN_FLIGHT
    source: str = "none"
    stats: dict[str, int] = field(default_factory=dict)
    requests: int | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: int | None = None
    tokens: int | None = None
    cost: tuple[str, float] | None = None
    landed: bool = False
    in_state: float | None = None
    age: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.state in FINAL or self.state == NOT_RECORDED


def count_of(value: Any) -> int | None:
    """A count as a non-negative int (``page.count``, negatives dropped: a planted ``-1``)."""
    number = count(value)
    return number if number is not None and number >= 0 else None


def money(value: Any) -> float | None:
    """A finite, non-negative amount, else None (a planted ``"1e999"`` or ``NaN`` is dropped)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number < 1e15 else None


def tokens_of(usage: Any) -> int | None:
    """Total tokens of a manifest's ``usage``: ``totalTokenCount``, else the sum of the prompt,
    candidates, thoughts and embedding counters; None when it names none."""
    if not isinstance(usage, Mapping):
        return None
    total = count_of(usage.get("totalTokenCount"))
    if total is not None:
        return total
    parts = [
        count_of(usage.get(k))
        for k in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "tokenCount")
    ]
    known = [p for p in parts if p is not None]
    return sum(known) if known else None


def _short(value: Any) -> str | None:
    text = str(value or "").strip().upper().removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
    return text[:40] or None


def _manifest_fields(row: Row, manifest: Mapping[str, Any]) -> None:
    counts = manifest.get("counts")
    counts = counts if isinstance(counts, Mapping) else {}
    row.landed = True
    row.requests = count_of(counts.get("total"))
    row.failed = count_of(counts.get("failed"))
    outcomes = counts.get("by_outcome")
    if isinstance(outcomes, Mapping):
        row.outcomes = {str(k)[:40]: n for k, v in outcomes.items() if (n := count_of(v))}
    row.tokens = tokens_of(manifest.get("usage"))
    cost = manifest.get("cost")
    if isinstance(cost, Mapping):
        amount = money(cost.get("total"))
        currency = str(cost.get("currency") or "USD")[:8]
        if amount is not None:
            row.cost = (currency, amount)


def build_row(
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    created: datetime,
    record: BatchRecord,
    live: LiveBatch | None,
    now: datetime,
    thresholds: Thresholds = Thresholds(),
) -> Row:
    """The console row of one recorded batch (``now`` and ``created`` in UTC)."""
    row = Row(dag_id, run_id, task_id, map_index, record.batch_name, created)
    summary = record.summary or {}
    manifest = record.manifest
    if live is not None and live.create_time is not None:
        row.created = live.create_time
    row.age = max(0.0, (now - row.created).total_seconds())
    display = summary.get("display_name")
    row.display_name = live.display_name if live is not None else (str(display) if display else None)
    if live is not None:
        row.state, row.source = live.state, "live"
        row.stats = dict(live.stats)
    elif manifest is not None or summary:
        recorded = _short((manifest or {}).get("state")) or _short(summary.get("state"))
        row.state, row.source = recorded or IN_FLIGHT, "recorded"
        row.stats = {k: v for k, v in _stats_of(summary.get("stats")).items() if v >= 0}
    if row.state == IN_FLIGHT and row.age > EXPIRY_HOURS * 3600:
        row.state = NOT_RECORDED
    if row.stats.get("request_count"):
        row.requests = row.stats["request_count"]
    if manifest is not None:
        _manifest_fields(row, manifest)
    _time_in_state(row, live, now)
    row.warnings = warnings(row, thresholds)
    return row


def _time_in_state(row: Row, live: LiveBatch | None, now: datetime) -> None:
    if row.state == "PENDING":
        row.in_state = row.age  # a batch is PENDING from its creation until it starts
    elif live is not None and live.done and live.end_time is not None:
        row.in_state = max(0.0, (now - live.end_time).total_seconds())


def warnings(row: Row, thresholds: Thresholds) -> list[str]:
    """The row's warnings, as plain sentences."""
    out = []
    hours = row.age / 3600
    if row.state == "PENDING" and hours > thresholds.pending_hours:
        out.append(
            f"Stuck in PENDING for {hours:.0f} h (flagged after {thresholds.pending_hours:g} h); the "
            "service expires it unrun at 48 h."
        )
    if not row.done and EXPIRY_HOURS - thresholds.expiry_margin_hours <= hours < EXPIRY_HOURS:
        out.append(f"Expires in about {EXPIRY_HOURS - hours:.0f} h unless it ends (48 h limit).")
    if row.state == NOT_RECORDED:
        out.append("No end recorded after 48 h: open the batch page to see what the API says.")
    if row.landed and row.failed:
        out.append(f"Landed with {row.failed} of {row.requests or '?'} requests failed.")
    return out


def matches(row: Row, state: str | None) -> bool:
    """Whether ``row`` passes the state filter (None: every row)."""
    if state is None:
        return True
    if state == WITH_WARNINGS:
        return bool(row.warnings)
    return row.state == state


@dataclass
class Sums:
    """Totals of a group of batches; ``cost`` per currency; ``unpriced`` landed without a cost."""

    batches: int = 0
    requests: int = 0
    tokens: int = 0
    failed: int = 0
    cost: dict[str, float] = field(default_factory=dict)
    unpriced: int = 0

    def add(self, row: Row) -> None:
        self.batches += 1
        self.requests += row.requests or 0
        self.tokens += row.tokens or 0
        self.failed += row.failed or 0
        if row.cost is not None:
            currency, amount = row.cost
            self.cost[currency] = self.cost.get(currency, 0.0) + amount
        elif row.landed:
            self.unpriced += 1


@dataclass
class Totals:
    """Sums per DAG, per creation day (UTC) and overall; at most :data:`TOTALS_KEYS` groups each,
    the rest under ``"other"`` (memory bounded by the groups, never by the batches)."""

    by_dag: dict[str, Sums] = field(default_factory=dict)
    by_day: dict[str, Sums] = field(default_factory=dict)
    overall: Sums = field(default_factory=Sums)
    scanned: int = 0
    complete: bool = True

    @staticmethod
    def _group(groups: dict[str, Sums], key: str) -> Sums:
        found = groups.get(key)
        if found is None:
            key = key if len(groups) < TOTALS_KEYS else "other"
            found = groups.setdefault(key, Sums())
        return found

    def add(self, row: Row) -> None:
        self._group(self.by_dag, row.dag_id).add(row)
        day: date = row.created.date()
        self._group(self.by_day, day.isoformat()).add(row)
        self.overall.add(row)
