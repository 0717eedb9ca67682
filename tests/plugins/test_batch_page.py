"""The batch page without a server: what XCom rows make a record, how it renders, how it registers.

The browser test (tests/e2e/test_batch_page_browser.py) covers the served page end to end; these
pin the parts that need no Airflow process: escaping, the quiet state, the record built from a
run's XComs, the plugin's declarations (an invalid ``destination`` would silently drop the plugin).
"""

from __future__ import annotations

from importlib.metadata import distribution

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.links.gemini_batch import page_path
from airflow_provider_gemini_batch.plugins.app import (
    PAGE_ROUTE,
    URL_PREFIX,
    parse_map_index,
    security_headers,
)
from airflow_provider_gemini_batch.plugins.live import LiveRead
from airflow_provider_gemini_batch.plugins.page import render_batch, render_none
from airflow_provider_gemini_batch.plugins.records import BatchRecord, TaskRef, assemble, name_from_url

REF = TaskRef(dag_id="d", run_id="manual__2026-01-01T00:00:00+00:00", task_id="create_batch")
NAME = "batches/abc123"
URL = "http://127.0.0.1:1/v1beta/batches/abc123"
MANIFEST = {
    "batch_name": NAME,
    "state": "SUCCEEDED",
    "destination": "/data/out/results.jsonl",
    "counts": {"total": 3, "succeeded": 2, "failed": 1, "by_outcome": {"succeeded": 2, "safety": 1}},
}


def _batch(state: str, *, error: dict[str, object] | None = None) -> Batch:
    """A batch as ``batches.get`` returns it (an Operation; REST reference ``batches.get``)."""
    op: dict[str, object] = {
        "name": NAME,
        "metadata": {
            "name": NAME,
            "state": state,
            "displayName": "<b>blurbs</b>",
            "model": "models/gemini-2.5-flash",
            "batchStats": {"requestCount": "4", "successfulRequestCount": "1", "pendingRequestCount": "3"},
            "createTime": "2026-01-01T00:00:00Z",
            "updateTime": "2026-01-01T00:00:05Z",
        },
    }
    if error:
        op["done"] = True
        op["error"] = error
    return Batch.from_operation(op)


def test_create_task_record_gathers_url_and_the_results_manifest_but_no_conn_id() -> None:
    rows = [
        ("create_batch", -1, "batch_name", NAME),
        ("create_batch", -1, "gemini_conn_id", "my_conn"),
        ("wait_for_batch", -1, "gemini_batch_api_url", URL),
        ("fetch_results", -1, "return_value", MANIFEST),
        ("other", -1, "return_value", {"batch_name": "batches/other", "counts": {}}),
    ]
    record = assemble(REF, rows)
    # The connection comes from the task's definition (plugins/definition.py), never from XCom.
    assert record == BatchRecord(batch_name=NAME, conn_id=None, api_url=URL, manifest=MANIFEST)
    # The sensor knows its batch from the REST URL only.
    sensor = assemble(TaskRef("d", REF.run_id, "wait_for_batch"), rows)
    assert sensor is not None
    assert sensor.batch_name == NAME
    assert assemble(TaskRef("d", REF.run_id, "unrelated"), rows) is None


def test_name_from_url_takes_only_a_batch_id() -> None:
    assert name_from_url(URL) == NAME
    assert name_from_url("http://h/v1/batches/") is None
    assert name_from_url("http://h/v1/files/x") is None
    assert name_from_url(None) is None


def test_running_page_escapes_everything_and_refreshes() -> None:
    record = BatchRecord(batch_name=NAME, conn_id="<script>c</script>", api_url=URL)
    ref = TaskRef("d", 'run"<x>', "create_batch")
    html = render_batch(ref, record, LiveRead(batch=_batch("BATCH_STATE_RUNNING")), nonce="n0")
    assert "<b>blurbs</b>" not in html
    assert "&lt;b&gt;blurbs&lt;/b&gt;" in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'run"<x>' not in html
    assert "run&#34;&lt;x&gt;" in html  # markupsafe writes a quote as &#34;
    assert 'http-equiv="refresh"' in html
    assert '<progress max="4" value="1">' in html
    assert "1 of 4 requests finished (25%)" in html


def test_finished_page_shows_counts_by_outcome_destination_and_error_without_refresh() -> None:
    failed = _batch("BATCH_STATE_FAILED", error={"code": 3, "message": "bad <input>"})
    record = BatchRecord(batch_name=NAME, conn_id="c", manifest=MANIFEST)
    html = render_batch(REF, record, LiveRead(batch=failed), nonce="n0")
    assert "http-equiv" not in html
    assert "code 3: bad &lt;input&gt;" in html
    assert "/data/out/results.jsonl" in html
    assert "<th>safety</th><td>1</td>" in html


def test_unreadable_batch_falls_back_to_the_manifest_and_says_why() -> None:
    record = BatchRecord(batch_name=NAME, conn_id="c", manifest=MANIFEST)
    html = render_batch(REF, record, LiveRead(problem="The Gemini API no longer knows this batch"), "n")
    assert "SUCCEEDED" in html
    assert "no longer knows" in html
    assert "http-equiv" not in html


def test_quiet_page_for_a_task_without_batch() -> None:
    html = render_none(TaskRef("d", "r", "<t>"), nonce="n")
    assert "No Gemini batch here" in html
    assert "&lt;t&gt;" in html
    assert "http-equiv" not in html


def test_csp_allows_no_script_and_only_the_nonced_style() -> None:
    csp = security_headers("abc")["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'none'" in csp
    assert "style-src 'nonce-abc'" in csp
    assert "frame-ancestors 'self'" in csp


def test_link_path_matches_the_route_and_map_index_placeholder_means_unmapped() -> None:
    path = page_path("d", "scheduled__2026/01", "t", 3)
    assert path == f"{URL_PREFIX}/ti/d/t/3/scheduled__2026%2F01"
    assert PAGE_ROUTE.startswith("/ti/{dag_id}/{task_id}/{map_index}/")
    assert parse_map_index("{MAP_INDEX}") == -1
    assert parse_map_index("7") == 7


def test_plugin_is_registered_by_entry_point_with_a_valid_task_instance_tab() -> None:
    entry_points = [ep for ep in distribution("airflow-provider-gemini-batch").entry_points]
    plugins = [ep for ep in entry_points if ep.group == "airflow.plugins"]
    assert len(plugins) == 1
    plugin = plugins[0].load()
    view, console = plugin.external_views
    # Airflow 3.3.2 BaseDestinationLiteral; anything else drops the whole plugin silently.
    for each in (view, console):
        assert each["destination"] in {"nav", "dag", "dag_run", "task", "task_instance", "base"}
    assert view["destination"] == "task_instance"
    assert view["href"] == f"{URL_PREFIX}/ti/{{DAG_ID}}/{{TASK_ID}}/{{MAP_INDEX}}/{{RUN_ID}}"
    # The console of every batch: a menu entry (docs/console.md).
    assert (console["destination"], console["href"]) == ("nav", f"{URL_PREFIX}/console")
    (sub_app,) = plugin.fastapi_apps
    assert sub_app["url_prefix"] == URL_PREFIX


def test_airflow_plugins_manager_loads_the_plugin_and_its_sub_app() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    assert any(a["url_prefix"] == URL_PREFIX for a in apps)


def test_every_markup_of_the_plugin_is_built_from_a_literal_template() -> None:
    """No value can become markup: ``html()``/``Markup()`` take only string literals as templates."""
    import ast
    from pathlib import Path

    import airflow_provider_gemini_batch.plugins as plugins

    calls = 0
    for path in Path(plugins.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("html", "Markup"):
                calls += 1
                first = node.args[0] if node.args else None
                literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
                assert literal or (path.name == "markup.py" and getattr(first, "id", None) == "template"), (
                    f"{path.name}:{node.lineno} builds markup from a non-literal"
                )
            # No other way to mark a string safe.
            assert not (isinstance(node, ast.Attribute) and node.attr in ("__html__", "unescape")), path.name
    assert calls > 20


def test_planted_counts_are_coerced_or_dropped_never_rendered() -> None:
    summary = {
        "batch_name": NAME,
        "state": "RUNNING",
        "stats": {"request_count": "4", "successful_request_count": 1, "pending_request_count": "<i>3</i>"},
    }
    record = BatchRecord(batch_name=NAME, conn_id=None, summary=summary)
    html = render_batch(REF, record, None, nonce="n")
    assert "<i>" not in html
    assert "1 of 4 requests finished (25%): 1 succeeded, 0 failed, 0 pending." in html


def test_links_back_into_airflow_quote_and_escape_a_hostile_run_id() -> None:
    from airflow_provider_gemini_batch.plugins.app import airflow_root

    ref = TaskRef("d", 'scheduled__x"><script>/?#&', "t", map_index=2)
    html = render_batch(ref, BatchRecord(batch_name=NAME), None, nonce="n", base="/airflow")
    run = "/airflow/dags/d/runs/scheduled__x%22%3E%3Cscript%3E%2F%3F%23%26"
    assert f'<a href="{run}" target="_top">' in html
    assert f'<a href="{run}/tasks/t/mapped/2" target="_top">' in html
    assert "<script>" not in html
    # Airflow's root path comes from the mount's root_path (``[api] base_url``'s path).
    assert airflow_root({"root_path": "/airflow/gemini-batch"}) == "/airflow"
    assert airflow_root({"root_path": "/gemini-batch"}) == ""
    assert airflow_root({}) == ""
