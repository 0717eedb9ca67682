"""The batch page served by Airflow's own API app, against planted XComs and hostile upstreams.

XComs are data anyone allowed to write one on the DAG can plant (any task of the DAG; a REST user
with the ``user`` role through ``POST .../xcomEntries``). These tests store such XComs for a real
DAG run in the metadata DB, then load the page through Airflow's API app on a real socket
(tests/plugins/airflow_api.py), with the connection(s) pointing at hostile stand-ins
(tests/hostile/) on real sockets:

* planted markup in every XCom field the page reads renders inert;
* a planted ``gemini_conn_id`` naming another team's connection is not used: the batch is read
  with the connection of the task's own definition;
* against a trickling upstream many concurrent page loads neither hold Airflow's own routes
  (``/api/v2/monitor/health``) nor take longer than the page's read bound;
* userinfo in the connection host or a destination URI never reaches the page.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
)
from airflow_provider_gemini_batch.plugins.live import PAGE_READ_SECONDS
from tests.fixtures.airflow_env import unique_dag_id
from tests.hostile.server import HostileServer, Rule, reply, trickle
from tests.plugins.airflow_api import airflow_api, planted_run

METADATA = {"state": "BATCH_STATE_RUNNING", "model": "models/gemini-2.5-flash"}
NOT_FOUND = {"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found."}}
META_REFRESH = '<meta http-equiv="refresh" content="0;url=https://attacker.example/">'
SCRIPT = "<script>alert(document.cookie)</script>"
PLANT = META_REFRESH + SCRIPT
#: Seconds after which the trickle test stops waiting for a page / for Airflow's health route.
PAGE_GIVE_UP = 30.0
HEALTH_GIVE_UP = 15.0


@pytest.fixture(scope="module")
def api(airflow_db: str) -> Iterator[str]:
    with airflow_api() as base_url:
        yield base_url


def _dag(conn_id: str = "team_a", *, mapped: int = 0) -> DAG:
    with DAG(unique_dag_id("page_planted"), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        if mapped:
            GeminiCreateBatchOperator.partial(
                task_id="create_batch", model="gemini-2.5-flash", gemini_conn_id=conn_id
            ).expand(input_path=[f"/in/{i}.jsonl" for i in range(mapped)])
        else:
            GeminiCreateBatchOperator(
                task_id="create_batch",
                model="gemini-2.5-flash",
                input_path="/in.jsonl",
                gemini_conn_id=conn_id,
            )
            GeminiBatchResultsOperator(
                task_id="fetch_results",
                batch_name="batches/b1",
                destination="/out.jsonl",
                gemini_conn_id=conn_id,
            )
            EmptyOperator(task_id="other_task")
    return dag


def _page_url(api: str, dag: DAG, run_id: str, map_index: int = -1) -> str:
    return f"{api}/gemini-batch/ti/{dag.dag_id}/create_batch/{map_index}/{quote(run_id, safe='')}"


def _batch(name: str, display_name: str = "ours") -> dict[str, Any]:
    metadata = {**METADATA, "name": name, "displayName": display_name}
    return {"name": name, "metadata": metadata}


def _assert_inert(text: str) -> None:
    assert "<script" not in text.lower()
    assert 'attacker.example/">' not in text
    # The page's own refresh tag is the only meta refresh there may be.
    metas = re.findall(r"<meta[^>]*http-equiv[^>]*>", text, flags=re.IGNORECASE)
    assert metas in ([], ['<meta http-equiv="refresh" content="10">']), metas


def test_planted_markup_in_every_xcom_field_renders_inert(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    upstream = hostile_server([Rule("GET", r".*", reply(404, NOT_FOUND))])
    hostile_conn(upstream, conn_id="team_a")
    name = "batches/" + PLANT
    summary = {
        "batch_name": name,
        "state": PLANT,
        # One count that is markup among real ones: the unescaped field of the old page.
        "stats": {"request_count": 4, "successful_request_count": 1, "pending_request_count": PLANT},
    }
    manifest = {
        "batch_name": name,
        "state": PLANT,
        "destination": PLANT,
        "counts": {"total": PLANT, "succeeded": 1, "by_outcome": {PLANT: PLANT, "safety": 2}},
        "note": PLANT,
        "warnings": [PLANT],
    }
    dag = _dag()
    run_id = planted_run(
        dag,
        {
            ("create_batch", "batch_name"): name,
            ("create_batch", "gemini_batch_api_url"): "http://h/v1beta/" + name,
            ("create_batch", "batch_summary"): summary,
            ("fetch_results", "return_value"): manifest,
        },
    )
    answer = httpx.get(_page_url(api, dag, run_id), timeout=30)
    assert answer.status_code == 200, answer.text
    _assert_inert(answer.text)
    assert "&lt;script&gt;" in answer.text  # shown, as text
    assert "1 of 4 requests finished" in answer.text  # the real counts still show
    # The summary alone (no manifest, still running): the page that used to inject.
    dag2 = _dag()
    run2 = planted_run(
        dag2,
        {("create_batch", "batch_name"): "batches/summary-only", ("create_batch", "batch_summary"): summary},
    )
    answer = httpx.get(_page_url(api, dag2, run2), timeout=30)
    assert answer.status_code == 200, answer.text
    _assert_inert(answer.text)
    assert "0 pending" in answer.text


def test_planted_conn_id_is_not_used_the_tasks_own_connection_is(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    ours = hostile_server(
        [Rule("GET", r"/v1beta/batches/.*", reply(200, _batch("batches/b1", "team A's batch")))]
    )
    theirs = hostile_server([Rule("GET", r".*", reply(200, _batch("batches/b1", "TEAM-B-SECRET")))])
    hostile_conn(ours, conn_id="team_a", key="team-a-key")
    hostile_conn(theirs, conn_id="team_b", key="team-b-key")
    dag = _dag("team_a")
    run_id = planted_run(
        dag,
        {
            ("create_batch", "batch_name"): "batches/b1",
            # Planted by someone who wants team B's batch read with team B's key.
            ("create_batch", "gemini_conn_id"): "team_b",
            ("other_task", "gemini_conn_id"): "team_b",
        },
    )
    answer = httpx.get(_page_url(api, dag, run_id), timeout=30)
    assert answer.status_code == 200, answer.text
    assert "TEAM-B-SECRET" not in answer.text
    assert theirs.calls() == []
    assert "team A&#39;s batch" in answer.text
    assert [c.headers.get("x-goog-api-key") for c in ours.calls()] == ["team-a-key"]
    assert "connection <code>team_a</code>" in answer.text


def test_page_loads_against_a_trickling_upstream_are_bounded_and_leave_airflow_responsive(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    loads = 45
    # One byte a second: every socket read succeeds in time, the answer never completes.
    upstream = hostile_server([Rule("GET", r".*", trickle(interval=1.0))])
    hostile_conn(upstream, conn_id="team_slow", timeout=30)
    dag = _dag("team_slow", mapped=loads)
    # Distinct batches per map index, so no load is served by another's cached read; the
    # connection id XCom as the create operator pushes it (older pages read with it).
    xcoms: dict[Any, Any] = {("create_batch", "batch_name", i): f"batches/b{i}" for i in range(loads)}
    xcoms |= {("create_batch", "gemini_conn_id", i): "team_slow" for i in range(loads)}
    run_id = planted_run(dag, xcoms)

    async def scenario() -> tuple[list[float], list[float], list[int]]:
        async with httpx.AsyncClient(timeout=60) as client:

            async def page(i: int) -> tuple[float, int]:
                started = time.monotonic()
                try:
                    answer = await client.get(_page_url(api, dag, run_id, i), timeout=PAGE_GIVE_UP)
                except httpx.TimeoutException:
                    return PAGE_GIVE_UP, 0
                return time.monotonic() - started, answer.status_code

            async def health() -> float:
                started = time.monotonic()
                try:
                    answer = await client.get(f"{api}/api/v2/monitor/health", timeout=HEALTH_GIVE_UP)
                    assert answer.status_code == 200
                except httpx.TimeoutException:
                    return HEALTH_GIVE_UP
                return time.monotonic() - started

            pages = [asyncio.ensure_future(page(i)) for i in range(loads)]
            await asyncio.sleep(1.0)  # every load is in flight
            healths = [await health() for _ in range(3)]
            done = await asyncio.gather(*pages)
            return [d for d, _ in done], healths, [s for _, s in done]

    page_times, health_times, statuses = asyncio.run(scenario())
    print(
        f"\n{loads} page loads against a trickling upstream: health {max(health_times):.2f} s worst, "
        f"pages {min(page_times):.2f}-{max(page_times):.2f} s"
    )
    assert statuses == [200] * loads
    assert max(health_times) < 2.0, health_times
    # Each load waits for at most the page's bound (plus the metadata reads of a loaded machine).
    assert max(page_times) < PAGE_READ_SECONDS + 6.0, page_times
