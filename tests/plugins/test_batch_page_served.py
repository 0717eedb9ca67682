"""What the batch page shows, served by Airflow's own API app, for batches in each phase.

The page is loaded through Airflow's API app on a real socket (tests/plugins/airflow_api.py) for
a DAG run whose XComs name a batch, with the task's connection pointing at a scripted stand-in
(tests/hostile/server.py) that answers ``batches.get`` and ``files.get`` the way the service does
(REST reference ``batches.get``: an Operation with ``metadata.batchStats``, ``createTime``,
``updateTime``, ``endTime``; ``response.responsesFile`` once done). Each test pins one thing a
user saw wrong: a frozen "Elapsed" while the batch runs, the requests a cancelled batch never ran,
a deleted responses file still listed, a PARTIALLY_SUCCEEDED page that reloads forever, and no
way back into Airflow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from airflow.sdk import DAG

from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator
from tests.browser.cdp import Browser, find_chromium
from tests.fixtures.airflow_env import unique_dag_id
from tests.hostile.server import HostileServer, Rule, reply
from tests.plugins.airflow_api import airflow_api, planted_run

NAME = "batches/page-phases"
FILE = "files/batch-page-phases"
#: The Files API's answer for a file that was deleted or expired (see _core/errors.py).
FILE_GONE = {
    "error": {
        "code": 403,
        "status": "PERMISSION_DENIED",
        "message": "You do not have permission to access the File batch-page-phases or it may not exist.",
    }
}
NOT_FOUND = {"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found."}}
REFRESH = 'http-equiv="refresh"'
#: Where the browser test writes its screenshots (gitignored by default).
SHOTS = Path(os.environ.get("GEMINI_PAGE_SHOTS", Path(__file__).parents[2] / ".artifacts" / "browser"))


@pytest.fixture(scope="module")
def api(airflow_db: str) -> Iterator[str]:
    with airflow_api() as base_url:
        yield base_url


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def operation(
    state: str,
    stats: dict[str, str],
    *,
    created: datetime,
    updated: datetime,
    ended: datetime | None = None,
    responses_file: str | None = None,
) -> dict[str, Any]:
    """A ``batches.get`` answer (an Operation; counts as strings, as the wire sends int64)."""
    metadata: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "name": NAME,
        "model": "models/gemini-2.5-flash",
        "displayName": "page phases",
        "state": state,
        "batchStats": stats,
        "createTime": _rfc3339(created),
        "updateTime": _rfc3339(updated),
    }
    op: dict[str, Any] = {"name": NAME, "metadata": metadata}
    if ended is not None:
        metadata["endTime"] = _rfc3339(ended)
        op["done"] = True
    if responses_file:
        metadata["output"] = {"responsesFile": responses_file}
        op["response"] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
            "responsesFile": responses_file,
        }
    return op


def _page(
    api: str,
    upstream: HostileServer,
    hostile_conn: Callable[..., str],
    xcoms: dict[Any, Any] | None = None,
) -> str:
    """Point a fresh connection at ``upstream``, plant a run naming the batch, load its page."""
    answer = httpx.get(_plant(api, upstream, hostile_conn, xcoms), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.text


def _plant(
    api: str,
    upstream: HostileServer,
    hostile_conn: Callable[..., str],
    xcoms: dict[Any, Any] | None = None,
) -> str:
    """Point a fresh connection at ``upstream``, plant a run naming the batch; its page's URL."""
    conn_id = hostile_conn(upstream, conn_id=f"page_{unique_dag_id('c')}")
    with DAG(unique_dag_id("page_phases"), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        GeminiCreateBatchOperator(
            task_id="create_batch", model="gemini-2.5-flash", input_path="/in.jsonl", gemini_conn_id=conn_id
        )
    run_id = planted_run(dag, xcoms or {("create_batch", "batch_name"): NAME})
    return f"{api}/gemini-batch/ti/{dag.dag_id}/create_batch/-1/{quote(run_id, safe='')}"


def _text(page: str) -> str:
    """The page's visible text, tags dropped (good enough for the fixed markup of the page)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_running_batch_counts_its_time_to_now_not_to_its_last_update(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    # Created two hours ago; the service last wrote the batch five seconds after creating it.
    created = datetime.now(timezone.utc) - timedelta(hours=2, seconds=30)
    running = operation(
        "BATCH_STATE_RUNNING",
        {"requestCount": "10", "pendingRequestCount": "10"},
        created=created,
        updated=created + timedelta(seconds=5),
    )
    upstream = hostile_server([Rule("GET", rf"/v1beta/{NAME}$", reply(200, running))])
    text = _text(_page(api, upstream, hostile_conn))
    assert "Running for 2 h 0 min" in text, text
    assert "Elapsed" not in text


def test_ended_batch_elapsed_is_end_minus_create(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    done = operation(
        "BATCH_STATE_SUCCEEDED",
        {"requestCount": "2", "successfulRequestCount": "2"},
        created=created,
        updated=created + timedelta(hours=5),  # a later write (the output file) moves updateTime
        ended=created + timedelta(minutes=12, seconds=5),
    )
    upstream = hostile_server([Rule("GET", rf"/v1beta/{NAME}$", reply(200, done))])
    text = _text(_page(api, upstream, hostile_conn))
    assert "Elapsed 12 min 5 s" in text, text
    assert "Running for" not in text


@pytest.mark.parametrize("state", ["CANCELLED", "EXPIRED"])
def test_cancelled_or_expired_batch_shows_the_requests_it_never_ran(
    state: str,
    api: str,
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
) -> None:
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # Cancelled after three of ten requests: the service's counts cover only those three.
    ended = operation(
        f"BATCH_STATE_{state}",
        {"requestCount": "10", "successfulRequestCount": "2", "failedRequestCount": "1"},
        created=created,
        updated=created + timedelta(minutes=3),
        ended=created + timedelta(minutes=3),
    )
    upstream = hostile_server([Rule("GET", rf"/v1beta/{NAME}$", reply(200, ended))])
    text = _text(_page(api, upstream, hostile_conn))
    assert (
        f"3 of 10 requests finished (30%): 2 succeeded, 1 failed, 0 pending, 7 not run ({state.lower()})."
        in text
    ), text


@pytest.mark.parametrize(
    "gone", [reply(403, FILE_GONE), reply(404, NOT_FOUND)], ids=["403-may-not-exist", "404"]
)
def test_a_deleted_responses_file_is_shown_as_gone_with_one_bounded_extra_read(
    gone: Any,
    api: str,
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
) -> None:
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    done = operation(
        "BATCH_STATE_SUCCEEDED",
        {"requestCount": "2", "successfulRequestCount": "2"},
        created=created,
        updated=created + timedelta(minutes=1),
        ended=created + timedelta(minutes=1),
        responses_file=FILE,
    )
    upstream = hostile_server(
        [Rule("GET", rf"/v1beta/{NAME}$", reply(200, done)), Rule("GET", rf"/v1beta/{FILE}$", gone)]
    )
    page = _page(api, upstream, hostile_conn)
    text = _text(page)
    assert f"{FILE} gone: the Files API no longer has it" in text, text
    # One read of the batch and one of its file, nothing more.
    assert [call.path for call in upstream.calls()] == [f"/v1beta/{NAME}", f"/v1beta/{FILE}"]


def test_an_existing_responses_file_shows_until_when_it_is_kept(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    done = operation(
        "BATCH_STATE_SUCCEEDED",
        {"requestCount": "2", "successfulRequestCount": "2"},
        created=created,
        updated=created + timedelta(minutes=1),
        ended=created + timedelta(minutes=1),
        responses_file=FILE,
    )
    info = {"name": FILE, "sizeBytes": "120", "state": "ACTIVE", "expirationTime": "2026-01-03T00:01:00Z"}
    upstream = hostile_server(
        [
            Rule("GET", rf"/v1beta/{NAME}$", reply(200, done)),
            Rule("GET", rf"/v1beta/{FILE}$", reply(200, info)),
        ]
    )
    text = _text(_page(api, upstream, hostile_conn))
    assert f"{FILE} (kept until 2026-01-03 00:01:00 UTC)" in text, text
    assert "no longer has it" not in text


def test_a_partially_succeeded_batch_page_stops_reloading(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    # The API no longer knows the batch: the page shows what the sensor recorded.
    upstream = hostile_server([Rule("GET", r".*", reply(404, NOT_FOUND))])
    summary = {
        "batch_name": NAME,
        "state": "PARTIALLY_SUCCEEDED",
        "stats": {"request_count": 4, "successful_request_count": 3, "failed_request_count": 1},
    }
    page = _page(
        api,
        upstream,
        hostile_conn,
        {("create_batch", "batch_name"): NAME, ("create_batch", "batch_summary"): summary},
    )
    assert "PARTIALLY_SUCCEEDED" in page
    assert REFRESH not in page
    assert "refreshes every" not in page


def test_the_page_links_back_to_the_dag_run_and_task_instance_in_airflow(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    upstream = hostile_server([Rule("GET", r".*", reply(404, NOT_FOUND))])
    page = _page(api, upstream, hostile_conn)
    links = re.findall(r'<a href="([^"]+)" target="_top">', page)
    assert len(links) == 2, page
    run_link, task_link = links
    assert re.fullmatch(r"/dags/page_phases[\w.-]*/runs/manual__planted_[\w%.-]+", run_link), run_link
    assert task_link == run_link + "/tasks/create_batch"
    # Both are pages of Airflow's UI (served by the same app).
    for link in links:
        assert httpx.get(api + link, timeout=30).status_code == 200


def test_running_and_cancelled_pages_in_a_browser(
    api: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """Debian's chromium renders both pages (screenshots ``batch_page_running_for.png`` and
    ``batch_page_cancelled.png`` in :data:`SHOTS`); the header's links resolve into Airflow's UI."""
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium).")
    created = datetime.now(timezone.utc) - timedelta(minutes=42, seconds=10)
    running = operation(
        "BATCH_STATE_RUNNING",
        {
            "requestCount": "200",
            "successfulRequestCount": "120",
            "failedRequestCount": "3",
            "pendingRequestCount": "77",
        },
        created=created,
        updated=created + timedelta(seconds=5),
    )
    cancelled = operation(
        "BATCH_STATE_CANCELLED",
        {"requestCount": "200", "successfulRequestCount": "40", "failedRequestCount": "2"},
        created=created,
        updated=created + timedelta(minutes=6),
        ended=created + timedelta(minutes=6),
    )
    running_url = _plant(api, hostile_server([Rule("GET", r".*", reply(200, running))]), hostile_conn)
    cancelled_url = _plant(api, hostile_server([Rule("GET", r".*", reply(200, cancelled))]), hostile_conn)
    with Browser(chromium, width=1000, height=640) as browser:
        browser.open(running_url)
        running_text = browser.text()
        browser.screenshot(SHOTS / "batch_page_running_for.png")
        hrefs = browser.evaluate("Array.from(document.querySelectorAll('nav a')).map(a => a.href)")
        browser.open(cancelled_url)
        cancelled_text = browser.text()
        browser.screenshot(SHOTS / "batch_page_cancelled.png")
    assert "Running for\t42 min" in running_text, running_text
    assert "123 of 200 requests finished (62%): 120 succeeded, 3 failed, 77 pending." in running_text
    assert (
        "42 of 200 requests finished (21%): 40 succeeded, 2 failed, 0 pending, 158 not run (cancelled)."
        in (cancelled_text)
    ), cancelled_text
    assert "Elapsed\t6 min 0 s" in cancelled_text, cancelled_text
    run_link, task_link = hrefs
    assert run_link.startswith(f"{api}/dags/page_phases")
    assert "/runs/manual__planted_" in run_link
    assert task_link == f"{run_link}/tasks/create_batch"
