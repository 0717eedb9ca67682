"""The batch page as HTML: every value escaped by construction, no script, one nonce'd style block.

Pure functions of a :class:`~.records.BatchRecord` and a :class:`~.live.LiveRead`, so the page is
tested without a server. What the page shows, from the wire (REST reference ``batches.get``;
the cookbook notebook ``Batch_mode.ipynb`` outputs show ``batchStats`` with string counts and
``createTime``/``updateTime``/``endTime`` as RFC 3339): state, ``batchStats`` as a progress bar
(succeeded + failed of ``requestCount``), the three timestamps, the batch's ``error``, the
responses file or inline count; and from the results task's manifest: where the rows landed and
``counts.by_outcome``.

Everything here is built with :func:`~.markup.html` (literal templates, escaped values), and every
count is coerced to an int first: the XCom summary and manifest are data anyone allowed to write
an XCom on the DAG can plant, so no value of theirs may become markup (a planted
``<meta http-equiv="refresh">`` would send the viewer elsewhere; the CSP does not stop it).
URLs are shown without userinfo.

While the batch is not finished the page reloads itself with ``<meta http-equiv="refresh">``
(no script needed, so the Content-Security-Policy allows none); "finished" is any terminal state
of ``_core/states.py``, so a new end state there stops the refresh here too.

A header links back into Airflow's UI (the DAG run and the task instance, its routes
``dags/:dagId/runs/:runId[/tasks/:taskId[/mapped/:mapIndex]]``), with every id URL-quoted and
the whole URL escaped; the links target the top window, since the page usually sits in the UI's
iframe tab.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from airflow_provider_gemini_batch._core.states import (
    FAILURE_STATES,
    PARTIAL_STATES,
    TERMINAL_STATES,
    BatchState,
)
from airflow_provider_gemini_batch._core.urls import public_url
from airflow_provider_gemini_batch.plugins.live import LiveRead
from airflow_provider_gemini_batch.plugins.markup import Markup, html, join
from airflow_provider_gemini_batch.plugins.pending_section import attempts_section, live_notices
from airflow_provider_gemini_batch.plugins.records import BatchRecord, TaskRef

#: Seconds between reloads while the batch runs.
REFRESH_SECONDS = 10
#: The ``batchStats`` counts the page shows (``Batch.stats.to_json()`` names).
STAT_KEYS = ("request_count", "successful_request_count", "failed_request_count", "pending_request_count")
#: States after which the page stops refreshing: every terminal state the provider knows.
FINAL_STATES: frozenset[str] = frozenset(state.short for state in TERMINAL_STATES)
#: Ended states in which requests can be left unrun (shown as "not run (cancelled|expired)").
UNRUN_STATES: frozenset[str] = frozenset({BatchState.CANCELLED.short, BatchState.EXPIRED.short})

_STYLE = html(
    """
body{{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#1a202c;background:#fff}}
h1{{font-size:18px;margin:0 0 4px}}.muted{{color:#5a6473}}
.state{{display:inline-block;padding:1px 8px;border-radius:10px;background:#e2e8f0;font-weight:600}}
.state.ok{{background:#c6f6d5}}.state.bad{{background:#fed7d7}}.state.run{{background:#bee3f8}}
.state.warn{{background:#fefcbf}}nav{{margin:0 0 10px;font-size:13px}}nav a{{color:#2b6cb0}}
.gone{{color:#9b2c2c}}
progress{{width:100%;max-width:640px;height:18px}}
table{{border-collapse:collapse;margin:6px 0 14px}}td,th{{padding:3px 12px 3px 0;text-align:left}}
th{{color:#5a6473;font-weight:500}}section{{margin-top:14px}}.notice{{background:#fefcbf;padding:6px 10px}}
.error{{background:#fed7d7;padding:6px 10px}}code{{font-size:13px}}
"""
)


def count(value: Any) -> int | None:
    """A count as an int: an int or a string of digits (the wire sends int64 as strings); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.strip().isdigit() and len(value) <= 19:
        return int(value)
    return None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _rows(pairs: Iterable[tuple[str, Any]]) -> Markup:
    body = join(html("<tr><th>{}</th><td>{}</td></tr>", k, v) for k, v in pairs)
    return html("<table>{}</table>", body)


def _document(title: str, body: Markup, nonce: str, *, refresh: bool) -> str:
    meta = html('<meta http-equiv="refresh" content="{}">', REFRESH_SECONDS) if refresh else html("")
    return str(
        html(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>{}</title>{}"
            '<style nonce="{}">{}</style></head><body>{}</body></html>',
            title,
            meta,
            nonce,
            _STYLE,
            body,
        )
    )


def render_none(ref: TaskRef, nonce: str, *, base: str = "") -> str:
    """The quiet page of a task instance that recorded no batch (the tab shows on every task)."""
    body = html(
        "{}<p class=muted>No Gemini batch here. Only the Gemini Batch provider's create, sensor and "
        "results tasks record one; task <code>{}</code> of this run did not (or has not yet).</p>",
        airflow_links(ref, base),
        ref.task_id,
    )
    return _document("No Gemini batch", body, nonce, refresh=False)


def render_login(login_url: str, nonce: str) -> str:
    """The page a browser gets without a valid login: a link to Airflow's login, back here after.

    :param login_url: Airflow's ``/api/v2/auth/login?next=<this page>`` (escaped here).
    """
    body = html(
        "<h1>Log in to see this Gemini batch</h1><p>The batch page is part of Airflow and needs "
        'you to be logged in (or your session has expired).</p><p><a href="{}" target="_top">'
        "Log in to Airflow</a>; you come back to this page afterwards.</p>",
        login_url,
    )
    return _document("Log in: Gemini batch", body, nonce, refresh=False)


_FAILURE_SHORTS = frozenset(state.short for state in FAILURE_STATES)
_PARTIAL_SHORTS = frozenset(state.short for state in PARTIAL_STATES)


def _state_class(short: str, done: bool) -> str:
    if short == "SUCCEEDED":
        return "ok"
    if short in _PARTIAL_SHORTS:
        return "warn"
    if done or short in _FAILURE_SHORTS:
        return "bad"
    return "run"


def airflow_links(ref: TaskRef, base: str) -> Markup:
    """The header linking back to the DAG run and task instance in Airflow's UI.

    :param base: Airflow's root path (``""`` when served at the host's root); ids are URL-quoted
        with no safe characters (a run id may hold ``/``, ``?``, ``#``), the URL is then escaped.
    """
    run = f"{quote(base, safe='/')}/dags/{quote(ref.dag_id, safe='')}/runs/{quote(ref.run_id, safe='')}"
    task = f"{run}/tasks/{quote(ref.task_id, safe='')}"
    if ref.map_index >= 0:
        task += f"/mapped/{int(ref.map_index)}"
    return html(
        '<nav>Airflow: <a href="{}" target="_top">DAG run <code>{}</code></a> · '
        '<a href="{}" target="_top">task <code>{}</code>{}</a></nav>',
        run,
        ref.run_id,
        task,
        ref.task_id,
        f" [{ref.map_index}]" if ref.map_index >= 0 else "",
    )


def duration(seconds: float) -> str:
    """``seconds`` for a person: ``45 s``, ``12 min 5 s``, ``3 h 4 min``, ``2 d 5 h``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _stats_of(raw: Any) -> dict[str, int]:
    """The known counts of a stats mapping, each coerced by :func:`count` (others dropped)."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, int] = {}
    for key in STAT_KEYS:
        value = count(raw.get(key))
        if value is not None:
            out[key] = value
    return out


def _progress(stats: Mapping[str, int], short: str) -> Markup:
    """The progress bar and counts; in a cancelled or expired batch, the requests none of the
    counts covers (``requestCount`` - succeeded - failed - pending) are "not run"."""
    total = stats.get("request_count", 0)
    succeeded = stats.get("successful_request_count", 0)
    failed = stats.get("failed_request_count", 0)
    pending = stats.get("pending_request_count", 0)
    finished = succeeded + failed
    if total <= 0:
        return html("<p class=muted>The API reports no request counts yet.</p>")
    percent = 100.0 * finished / total
    unrun = total - finished - pending if short in UNRUN_STATES else 0
    return html(
        '<progress max="{}" value="{}">{:.0f}%</progress>'
        "<p>{} of {} requests finished ({:.0f}%): {} succeeded, {} failed, {} pending{}.</p>",
        total,
        finished,
        percent,
        finished,
        total,
        percent,
        succeeded,
        failed,
        pending,
        html(", {} not run ({})", unrun, short.lower()) if unrun > 0 else html(""),
    )


def _manifest_section(manifest: Mapping[str, Any]) -> Markup:
    raw_counts = manifest.get("counts")
    counts: Mapping[str, Any] = raw_counts if isinstance(raw_counts, Mapping) else {}
    raw_outcomes = counts.get("by_outcome")
    by_outcome: Mapping[Any, Any] = raw_outcomes if isinstance(raw_outcomes, Mapping) else {}
    parts = [html("<section><h2>Results</h2>")]
    destination = manifest.get("destination")
    parts.append(
        html("<p>Landed in <code>{}</code>.</p>", public_url(str(destination)))
        if destination
        else html("<p class=muted>No result rows were written.</p>")
    )
    totals = [
        (label, count(counts.get(key)))
        for label, key in (
            ("rows", "total"),
            ("succeeded", "succeeded"),
            ("without a usable answer", "failed"),
            ("retryable", "retryable"),
        )
        if count(counts.get(key)) is not None
    ]
    parts.append(_rows(totals))
    outcomes = sorted((str(k), n) for k, v in by_outcome.items() if (n := count(v)) is not None)
    if outcomes:
        parts.append(html("<h3>By outcome</h3>"))
        parts.append(_rows(outcomes))
    warnings = manifest.get("warnings")
    for text in [manifest.get("note"), *(warnings if isinstance(warnings, list) else [])]:
        if text:
            parts.append(html("<p class=notice>{}</p>", text))
    parts.append(html("</section>"))
    return join(parts)


def _responses_file(live: LiveRead, name: str) -> Markup:
    if live.file_gone:
        return html(
            '<code>{}</code> <span class="gone">gone: the Files API no longer has it (deleted, or '
            "expired 48 hours after the batch ended); download it from where the results task "
            "landed it, if it ran</span>",
            name,
        )
    if live.file_expires is not None:
        return html("<code>{}</code> (kept until {})", name, _when(live.file_expires))
    return html("<code>{}</code>", name)


def _timings(batch: Any, live: LiveRead, now: datetime) -> Markup:
    """Names, times and output. Elapsed: end - create once ended, now - create while running
    (``updateTime`` moves only when the service writes the batch, so it is no clock)."""
    details: list[tuple[str, Any]] = [
        ("Display name", batch.display_name or "—"),
        ("Model", batch.model or "—"),
        ("Created", _when(batch.create_time)),
        ("Updated", _when(batch.update_time)),
        ("Ended", _when(batch.end_time)),
    ]
    if batch.create_time is not None:
        if not batch.done:
            details.append(("Running for", duration((now - batch.create_time).total_seconds())))
        elif (end := batch.end_time or batch.update_time) is not None:
            details.append(("Elapsed", duration((end - batch.create_time).total_seconds())))
    if batch.responses_file:
        details.append(("Responses file", _responses_file(live, batch.responses_file)))
    elif batch.inlined_response_count:
        details.append(("Inline responses", batch.inlined_response_count))
    return html("<section><h2>Timings</h2>{}</section>", _rows(details))


def render_batch(
    ref: TaskRef,
    record: BatchRecord,
    live: LiveRead | None,
    nonce: str,
    *,
    base: str = "",
    now: datetime | None = None,
) -> str:
    """The page of a batch: live state when ``live.batch`` is set, else what XCom recorded.

    :param base: Airflow's root path, for the links back into its UI (:func:`airflow_links`).
    :param now: the time "running for" counts to (default: the current UTC time).
    """
    now = now or datetime.now(timezone.utc)
    batch = live.batch if live is not None else None
    manifest = record.manifest
    summary = record.summary or {}
    if batch is not None:
        short, done = batch.state.short, batch.done
        stats = _stats_of(batch.stats.to_json())
    else:
        short = str((manifest or {}).get("state") or summary.get("state") or "unknown")
        done = manifest is not None or short in FINAL_STATES
        stats = _stats_of(summary.get("stats"))
    parts = [
        airflow_links(ref, base),
        html("<h1>Gemini batch <code>{}</code></h1>", record.batch_name),
        html(
            "<p class=muted>Task <code>{}</code>{} of run <code>{}</code> · connection <code>{}</code>{}</p>",
            ref.task_id,
            f" [{ref.map_index}]" if ref.map_index >= 0 else "",
            ref.run_id,
            record.conn_id or "—",
            "" if done else f" · refreshes every {REFRESH_SECONDS} s",
        ),
        html('<p>State: <span class="state {}">{}</span></p>', _state_class(short, done), short),
    ]
    if live is not None and live.problem:
        parts.append(html("<p class=notice>{}</p>", live.problem))
    elif record.conn_id is None:
        parts.append(
            html(
                "<p class=notice>This task's definition names no Gemini connection, so the batch is "
                "not read live; what the tasks recorded is shown below.</p>"
            )
        )
    parts.append(live_notices(batch, record.attempts, now))
    parts.append(html("<section><h2>Progress</h2>{}</section>", _progress(stats, short)))
    if batch is not None and live is not None:
        parts.append(_timings(batch, live, now))
        if batch.error is not None:
            parts.append(
                html("<section><h2>Error</h2><p class=error>{}</p></section>", batch.error.describe())
            )
    parts.append(attempts_section(record.attempts))
    if manifest is not None:
        parts.append(_manifest_section(manifest))
    elif done:
        parts.append(html("<p class=muted>The results task has not landed this batch's results (yet).</p>"))
    if record.api_url:
        parts.append(
            html(
                "<p class=muted>REST resource (needs the API key): <code>{}</code></p>",
                public_url(record.api_url),
            )
        )
    return _document(f"Gemini batch {record.batch_name}", join(parts), nonce, refresh=not done)
