"""The batch page as HTML: every value escaped, no script, one nonce'd style block.

Pure functions of a :class:`~.records.BatchRecord` and a :class:`~.live.LiveRead`, so the page is
tested without a server. What the page shows, from the wire (REST reference ``batches.get``,
spec §3; [LIVE] cookbook ``Batch_mode.ipynb`` outputs show ``batchStats`` with string counts and
``createTime``/``updateTime``/``endTime`` as RFC 3339): state, ``batchStats`` as a progress bar
(succeeded + failed of ``requestCount``), the three timestamps, the batch's ``error``, the
responses file or inline count; and from the results task's manifest: where the rows landed and
``counts.by_outcome``.

While the batch is not finished the page reloads itself with ``<meta http-equiv="refresh">``
(no script needed, so the Content-Security-Policy allows none).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from airflow_provider_gemini_batch.plugins.live import LiveRead
from airflow_provider_gemini_batch.plugins.records import BatchRecord, TaskRef

#: Seconds between reloads while the batch runs.
REFRESH_SECONDS = 10

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#1a202c;background:#fff}
h1{font-size:18px;margin:0 0 4px}.muted{color:#5a6473}
.state{display:inline-block;padding:1px 8px;border-radius:10px;background:#e2e8f0;font-weight:600}
.state.ok{background:#c6f6d5}.state.bad{background:#fed7d7}.state.run{background:#bee3f8}
progress{width:100%;max-width:640px;height:18px}
table{border-collapse:collapse;margin:6px 0 14px}td,th{padding:3px 12px 3px 0;text-align:left}
th{color:#5a6473;font-weight:500}section{margin-top:14px}.notice{background:#fefcbf;padding:6px 10px}
.error{background:#fed7d7;padding:6px 10px}code{font-size:13px}
"""


def esc(value: Any) -> str:
    """HTML-escape ``value`` (quotes too: values also land in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _rows(pairs: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<table>{body}</table>"


def _document(title: str, body: str, nonce: str, *, refresh: bool) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title>{meta}"
        f'<style nonce="{esc(nonce)}">{_STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


def render_none(ref: TaskRef, nonce: str) -> str:
    """The quiet page of a task instance that recorded no batch (the tab shows on every task)."""
    body = (
        "<p class=muted>No Gemini batch here. Only the Gemini Batch provider's create, sensor and "
        f"results tasks record one; task <code>{esc(ref.task_id)}</code> of this run did not "
        "(or has not yet).</p>"
    )
    return _document("No Gemini batch", body, nonce, refresh=False)


def _state_class(short: str, done: bool) -> str:
    if short == "SUCCEEDED":
        return "ok"
    if done or short in ("FAILED", "CANCELLED", "EXPIRED"):
        return "bad" if short != "PARTIALLY_SUCCEEDED" else "run"
    return "run"


def _progress(stats: Mapping[str, int]) -> str:
    total = stats.get("request_count", 0)
    finished = stats.get("successful_request_count", 0) + stats.get("failed_request_count", 0)
    if total <= 0:
        return "<p class=muted>The API reports no request counts yet.</p>"
    percent = 100.0 * finished / total
    return (
        f'<progress max="{total}" value="{finished}">{percent:.0f}%</progress>'
        f"<p>{finished} of {total} requests finished ({percent:.0f}%): "
        f"{stats.get('successful_request_count', 0)} succeeded, "
        f"{stats.get('failed_request_count', 0)} failed, "
        f"{stats.get('pending_request_count', 0)} pending.</p>"
    )


def _manifest_section(manifest: Mapping[str, Any]) -> str:
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), Mapping) else {}
    assert isinstance(counts, Mapping)
    by_outcome = counts.get("by_outcome") if isinstance(counts.get("by_outcome"), Mapping) else {}
    assert isinstance(by_outcome, Mapping)
    parts = ["<section><h2>Results</h2>"]
    destination = manifest.get("destination")
    parts.append(
        f"<p>Landed in <code>{esc(destination)}</code>.</p>"
        if destination
        else "<p class=muted>No result rows were written.</p>"
    )
    totals = [
        (label, counts.get(key))
        for label, key in (
            ("rows", "total"),
            ("succeeded", "succeeded"),
            ("without a usable answer", "failed"),
            ("retryable", "retryable"),
        )
        if counts.get(key) is not None
    ]
    parts.append(_rows(totals))
    if by_outcome:
        parts.append("<h3>By outcome</h3>")
        parts.append(_rows(sorted((str(k), v) for k, v in by_outcome.items())))
    for text in [manifest.get("note"), *(manifest.get("warnings") or [])]:
        if text:
            parts.append(f"<p class=notice>{esc(text)}</p>")
    parts.append("</section>")
    return "".join(parts)


def render_batch(ref: TaskRef, record: BatchRecord, live: LiveRead | None, nonce: str) -> str:
    """The page of a batch: live state when ``live.batch`` is set, else what XCom recorded."""
    batch = live.batch if live is not None else None
    manifest = record.manifest
    summary = record.summary or {}
    if batch is not None:
        short, done = batch.state.short, batch.done
        stats: Mapping[str, int] = batch.stats.to_json()
    else:
        short = str((manifest or {}).get("state") or summary.get("state") or "unknown")
        done = manifest is not None or short in ("SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED")
        raw_stats = summary.get("stats")
        stats = dict(raw_stats) if isinstance(raw_stats, Mapping) else {}
    parts = [
        f"<h1>Gemini batch <code>{esc(record.batch_name)}</code></h1>",
        f"<p class=muted>Task <code>{esc(ref.task_id)}</code>"
        + (f" [{ref.map_index}]" if ref.map_index >= 0 else "")
        + f" of run <code>{esc(ref.run_id)}</code> · connection <code>{esc(record.conn_id or '—')}</code>"
        + ("" if done else f" · refreshes every {REFRESH_SECONDS} s")
        + "</p>",
        f'<p>State: <span class="state {_state_class(short, done)}">{esc(short)}</span></p>',
    ]
    if live is not None and live.problem:
        parts.append(f"<p class=notice>{esc(live.problem)}</p>")
    elif record.conn_id is None:
        parts.append("<p class=notice>No task recorded the connection id, so the batch is not read live.</p>")
    parts.append("<section><h2>Progress</h2>" + _progress(stats) + "</section>")
    if batch is not None:
        details: list[tuple[str, Any]] = [
            ("Display name", batch.display_name or "—"),
            ("Model", batch.model or "—"),
            ("Created", _when(batch.create_time)),
            ("Updated", _when(batch.update_time)),
            ("Ended", _when(batch.end_time)),
        ]
        if batch.create_time and (batch.end_time or batch.update_time):
            end = batch.end_time or batch.update_time
            assert end is not None
            details.append(("Elapsed", f"{(end - batch.create_time).total_seconds():.0f} s"))
        if batch.responses_file:
            details.append(("Responses file", batch.responses_file))
        elif batch.inlined_response_count:
            details.append(("Inline responses", batch.inlined_response_count))
        parts.append("<section><h2>Timings</h2>" + _rows(details) + "</section>")
        if batch.error is not None:
            parts.append(f"<section><h2>Error</h2><p class=error>{esc(batch.error.describe())}</p></section>")
    if manifest is not None:
        parts.append(_manifest_section(manifest))
    elif done:
        parts.append("<p class=muted>The results task has not landed this batch's results (yet).</p>")
    if record.api_url:
        parts.append(
            f"<p class=muted>REST resource (needs the API key): <code>{esc(record.api_url)}</code></p>"
        )
    return _document(f"Gemini batch {record.batch_name}", "".join(parts), nonce, refresh=not done)
