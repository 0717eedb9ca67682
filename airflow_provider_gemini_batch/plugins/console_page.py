"""The console as HTML: every value escaped by construction (``markup.html``), no script.

Pure functions of :class:`View`, so the markup is tested without a server. The filter is a plain
GET form (the console's CSP allows ``form-action 'self'``, nothing else); each batch links to its
task's batch page (same frame), and the DAG run to Airflow's UI (``target="_top"``: the console
usually sits in the UI's iframe).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote, urlencode

from airflow_provider_gemini_batch.links.gemini_batch import page_path
from airflow_provider_gemini_batch.plugins.console_rows import (
    FILTER_STATES,
    IN_FLIGHT,
    NOT_RECORDED,
    TOTALS_LIMIT,
    WITH_WARNINGS,
    Row,
    Sums,
    Totals,
)
from airflow_provider_gemini_batch.plugins.markup import Markup, html, join
from airflow_provider_gemini_batch.plugins.page import duration

_STYLE = html(
    """
body{{font:13px/1.4 system-ui,sans-serif;margin:14px;color:#1a202c;background:#fff}}
h1{{font-size:18px;margin:0 0 8px}}h2{{font-size:15px;margin:14px 0 4px}}.muted{{color:#5a6473}}
table{{border-collapse:collapse;margin:4px 0 12px}}td,th{{padding:3px 10px 3px 0;text-align:left;
vertical-align:top}}th{{color:#5a6473;font-weight:500;border-bottom:1px solid #e2e8f0}}
td.n,th.n{{text-align:right}}tr.warn td{{background:#fffbea}}
.state{{display:inline-block;padding:0 7px;border-radius:9px;background:#e2e8f0;font-weight:600}}
.state.ok{{background:#c6f6d5}}.state.bad{{background:#fed7d7}}.state.run{{background:#bee3f8}}
.state.warn{{background:#fefcbf}}.w{{color:#8a4b00}}.notice{{background:#fefcbf;padding:5px 9px}}
progress{{width:110px;height:12px}}form{{margin:0 0 10px}}form label{{margin-right:10px}}
a{{color:#2b6cb0}}.totals{{display:flex;gap:28px;flex-wrap:wrap}}code{{font-size:12px}}
"""
)


@dataclass
class View:
    """Everything the console shows for one request.

    :param base: Airflow's root path (``""`` at the host's root).
    :param dag_options: the DAGs the viewer may read that recorded batches (the filter's choices).
    :param next_token: the keyset token of the next page, None on the last one.
    :param scanned_all: False when the state filter stopped at the scan bound before a full page.
    """

    base: str
    rows: Sequence[Row]
    totals: Totals | None
    dag_options: Sequence[str]
    dag_id: str | None = None
    state: str | None = None
    since: date | None = None
    until: date | None = None
    next_token: str | None = None
    notices: list[str] = field(default_factory=list)
    now: datetime | None = None


def _state_class(state: str) -> str:
    if state == "SUCCEEDED":
        return "ok"
    if state in ("PARTIALLY_SUCCEEDED", NOT_RECORDED):
        return "warn"
    if state in ("FAILED", "CANCELLED", "EXPIRED"):
        return "bad"
    return "run"


def _money(cost: dict[str, float]) -> str:
    return ", ".join(f"{currency} {amount:,.4f}" for currency, amount in sorted(cost.items())) or "—"


def _options(choices: Iterable[tuple[str, str]], chosen: str | None) -> Markup:
    return join(
        html('<option value="{}"{}>{}</option>', value, " selected" if value == chosen else "", label)
        for value, label in choices
    )


def _form(view: View) -> Markup:
    dags = [("", "all DAGs"), *((d, d) for d in view.dag_options)]
    states = [("", "any state"), *((s, s) for s in FILTER_STATES), (WITH_WARNINGS, "with warnings")]
    return html(
        '<form method="get" action="">'
        '<label>DAG <select name="dag_id">{}</select></label>'
        '<label>State <select name="state">{}</select></label>'
        '<label>Created from <input type="date" name="since" value="{}"></label>'
        '<label>to <input type="date" name="until" value="{}"></label>'
        '<button type="submit">Filter</button> <a href="?">clear</a></form>',
        _options(dags, view.dag_id or ""),
        _options(states, view.state or ""),
        view.since.isoformat() if view.since else "",
        view.until.isoformat() if view.until else "",
    )


def _sums_table(title: str, first: str, groups: Iterable[tuple[str, Sums]]) -> Markup:
    body = join(
        html(
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{:,}</td><td class=n>{:,}</td>"
            "<td class=n>{:,}</td><td class=n>{}</td></tr>",
            key,
            s.batches,
            s.requests,
            s.failed,
            s.tokens,
            _money(s.cost) + (f" (+{s.unpriced} unpriced)" if s.unpriced else ""),
        )
        for key, s in groups
    )
    return html(
        "<div><h2>{}</h2><table><tr><th>{}</th><th class=n>batches</th><th class=n>requests</th>"
        "<th class=n>failed</th><th class=n>tokens</th><th class=n>cost</th></tr>{}</table></div>",
        title,
        first,
        body,
    )


def _totals(totals: Totals | None) -> Markup:
    if totals is None:
        return html(
            "<section><h2>Totals</h2><p class=muted>The totals of this filter are being added up "
            "(the newest {:,} batches at most); reload in a few seconds.</p></section>",
            TOTALS_LIMIT,
        )
    overall = totals.overall
    scope = (
        html("over the {:,} batches of this filter", totals.scanned)
        if totals.complete
        else html(
            "over the newest {:,} batches of this filter (narrow the dates for the rest)", totals.scanned
        )
    )
    return html(
        "<section><h2>Totals</h2><p>{:,} requests, {:,} failed, {:,} tokens, cost {} {}.</p>"
        '<div class="totals">{}{}</div></section>',
        overall.requests,
        overall.failed,
        overall.tokens,
        _money(overall.cost),
        scope,
        _sums_table("Per DAG", "DAG", sorted(totals.by_dag.items())),
        _sums_table("Per day (UTC, by creation)", "day", sorted(totals.by_day.items(), reverse=True)),
    )


def _progress(row: Row) -> Markup:
    total = row.stats.get("request_count", 0)
    finished = row.stats.get("successful_request_count", 0) + row.stats.get("failed_request_count", 0)
    if total <= 0:
        return html("<span class=muted>—</span>")
    return html(
        '<progress max="{}" value="{}"></progress> {}/{}',
        total,
        finished,
        finished,
        total,
    )


def _row(row: Row, base: str) -> Markup:
    page = base + page_path(row.dag_id, row.run_id, row.task_id, row.map_index)
    run = f"{quote(base, safe='/')}/dags/{quote(row.dag_id, safe='')}/runs/{quote(row.run_id, safe='')}"
    outcomes = ", ".join(f"{k} {n}" for k, n in sorted(row.outcomes.items())) or "—"
    state_note = {"live": "API", "recorded": "recorded"}.get(row.source, "")
    if row.state == IN_FLIGHT:
        state_note = "no end recorded yet"
    return html(
        '<tr class="{}"><td>{}<br><span class=muted>{} ago</span></td>'
        '<td><a href="{}" target="_top">{}</a><br><span class=muted>{}</span><br>'
        "<code>{}</code>{}</td>"
        '<td><a href="{}"><code>{}</code></a><br><span class=muted>{}</span></td>'
        '<td><span class="state {}">{}</span><br><span class=muted>{}{}</span></td>'
        "<td>{}</td><td class=n>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
        "warn" if row.warnings else "",
        row.created.strftime("%Y-%m-%d %H:%M"),
        duration(row.age),
        run,
        row.dag_id,
        row.run_id,
        row.task_id,
        f" [{row.map_index}]" if row.map_index >= 0 else "",
        page,
        row.batch_name,
        row.display_name or "",
        _state_class(row.state),
        row.state,
        state_note,
        f" · {duration(row.in_state)} in state" if row.in_state is not None else "",
        _progress(row),
        f"{row.requests:,}" if row.requests is not None else "—",
        outcomes,
        f"{row.tokens:,}" if row.tokens is not None else "—",
        f"{row.cost[0]} {row.cost[1]:,.4f}" if row.cost else "—",
        join(html("<div class=w>⚠ {}</div>", w) for w in row.warnings),
    )


def _next_link(view: View) -> Markup:
    if not view.next_token:
        return html("")
    params = {
        k: v
        for k, v in (
            ("dag_id", view.dag_id),
            ("state", view.state),
            ("since", view.since.isoformat() if view.since else None),
            ("until", view.until.isoformat() if view.until else None),
            ("after", view.next_token),
        )
        if v
    }
    return html('<p><a href="?{}">Older batches →</a></p>', urlencode(params))


def render_console(view: View, nonce: str) -> str:
    """The console page (a complete HTML document)."""
    if view.rows:
        table = html(
            "<table><tr><th>Created</th><th>DAG / run / task</th><th>Batch</th><th>State</th>"
            "<th>Progress</th><th class=n>Requests</th><th>Outcomes</th><th class=n>Tokens</th>"
            "<th class=n>Cost</th><th>Warnings</th></tr>{}</table>",
            join(_row(row, view.base) for row in view.rows),
        )
    else:
        table = html("<p class=muted>No Gemini batch matches (or none of a DAG you may read).</p>")
    body = html(
        "<h1>Gemini batches</h1>{}{}{}<h2>Batches, newest first</h2>{}{}",
        _form(view),
        join(html("<p class=notice>{}</p>", n) for n in view.notices),
        _totals(view.totals),
        table,
        _next_link(view),
    )
    return str(
        html(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Gemini batches</title>"
            '<style nonce="{}">{}</style></head><body>{}</body></html>',
            nonce,
            _STYLE,
            body,
        )
    )
