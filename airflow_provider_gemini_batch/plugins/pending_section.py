"""The batch page's word on a batch stuck in PENDING, near its expiry, or replacing stuck ones.

Two sources, both only shown (escaped by :func:`~.markup.html`, numbers coerced first):

* the live batch: still PENDING (or QUEUED) longer than the task's ``pending_timeout`` after its
  ``createTime`` (the default, 6 h, when the task reported none), or not ended 42 h after it (the
  service expires batches 48 h after creation). This shows while a deferred wait runs, before
  the task has pushed anything;
* the create task's ``batch_attempts`` XCom (``operators/_pending.py``): every batch it tried,
  with what became of each, and the flag raised under ``on_pending_timeout="warn"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from airflow_provider_gemini_batch._core.pending import (
    DEFAULT_PENDING_TIMEOUT,
    EXPIRY_SECONDS,
    NEAR_EXPIRY_MARGIN,
    NOT_STARTED,
)
from airflow_provider_gemini_batch.messages.pending import REPORTS, duration
from airflow_provider_gemini_batch.plugins.markup import Markup, html, join

#: Most attempts shown (the create task keeps at most 20; a planted list is cut).
MAX_SHOWN = 20


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value < 10**9 else None


def live_notices(batch: Any, report: Mapping[str, Any] | None, now: datetime) -> Markup:
    """Notices about the live batch: stuck in PENDING, or near its 48 h expiry (else nothing)."""
    if batch is None or batch.done or batch.create_time is None:
        return html("")
    age = (now - batch.create_time).total_seconds()
    limit = _seconds((report or {}).get("pending_timeout")) or DEFAULT_PENDING_TIMEOUT
    parts = []
    if batch.state in NOT_STARTED and age >= limit:
        parts.append(
            html(
                "<p class=notice>Stuck? This batch has been {} for {} since it was created, past the "
                "pending_timeout of {}. Batches stuck in PENDING have stayed there until they expired "
                "48 h after creation ({}).</p>",
                batch.state.short,
                duration(age),
                duration(limit),
                REPORTS,
            )
        )
    if age >= EXPIRY_SECONDS - NEAR_EXPIRY_MARGIN:
        parts.append(
            html(
                "<p class=notice>Near expiry: created {} ago; the service expires a batch 48 h after "
                "creation, in about {} from now.</p>",
                duration(age),
                duration(max(0.0, EXPIRY_SECONDS - age)),
            )
        )
    return join(parts)


def attempts_section(report: Mapping[str, Any] | None) -> Markup:
    """The attempts table (every batch the create task tried) and the flags it reported."""
    raw = (report or {}).get("attempts")
    attempts = [a for a in raw[:MAX_SHOWN] if isinstance(a, Mapping)] if isinstance(raw, list) else []
    if not attempts:
        return html("")
    rows = []
    flags = []
    for attempt in attempts:
        pending = _seconds(attempt.get("pending_seconds"))
        rows.append(
            html(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                str(attempt.get("batch_name") or "—"),
                str(attempt.get("created") or "—"),
                duration(pending) if pending is not None else "—",
                str(attempt.get("ended") or "—"),
                str(attempt.get("action") or "—"),
            )
        )
        if attempt.get("action") == "current" and attempt.get("reason"):
            flags.append(html("<p class=notice>{}</p>", str(attempt["reason"])))
    policy = (report or {}).get("on_pending_timeout")
    return html(
        "<section><h2>Attempts</h2><p class=muted>Batches this task created for its input "
        "(on_pending_timeout <code>{}</code>).</p><table><tr><th>Batch</th><th>Created</th>"
        "<th>PENDING for</th><th>Ended</th><th>What happened</th></tr>{}</table>{}</section>",
        str(policy or "—"),
        join(rows),
        join(flags),
    )
