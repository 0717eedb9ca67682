"""The console of all Gemini batches, served by Airflow's own API app with the login in force.

History (tests/plugins/console_seed.py): two DAGs run for real with ``dag.test()`` against the
emulator, a DAG with planted markup, a batch the API lists as PENDING since 30 hours; DAG ``a`` in
team ``a``'s bundle, the others in team ``b``'s. Requests carry tokens Airflow's auth manager
signs: an admin, and a viewer of team ``a`` only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from airflow.sdk import DAG

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator
from airflow_provider_gemini_batch.plugins.console import PAGE_SIZE
from tests.fixtures.airflow_env import unique_dag_id
from tests.hostile.fixtures import HOSTILE_KEY
from tests.hostile.server import HostileServer, Rule, trickle
from tests.plugins.airflow_api import airflow_api, planted_run
from tests.plugins.console_seed import (
    PLANTED_DISPLAY,
    PLANTED_NAME,
    STUCK_NAME,
    Seeded,
    seeded_history,
    token,
)

CONSOLE = "/gemini-batch/console"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"


@pytest.fixture(scope="module")
def api(airflow_db: str) -> Iterator[str]:
    with airflow_api(all_admins=False) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def history(
    api: str, emulator_server: EmulatorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    emulator_server.control.reset()
    with seeded_history(emulator_server, tmp_path_factory.mktemp("console-results")) as seeded:
        yield seeded


def _auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {who}"}


def _get(api: str, who: str, params: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(api + CONSOLE, params=params, headers=_auth(who), timeout=60)


def _with_totals(api: str, who: str, params: dict[str, str] | None = None) -> httpx.Response:
    """A load whose totals are added up (they run on their own thread; a load waits 1 s at most
    and the next load within 30 s gets them)."""
    for _ in range(60):
        answer = _get(api, who, params)
        if "Per DAG" in answer.text:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"the totals never came: {answer.text}")


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("&#39;", "'")


def _batch_links(page: str) -> list[str]:
    """The batch-page links of the table's rows, in order."""
    return re.findall(r'<a href="([^"]*/gemini-batch/ti/[^"]+)"', page)


def test_admin_sees_every_dags_batches_newest_first_with_states_counts_cost_and_totals(
    api: str, history: Seeded
) -> None:
    answer = _with_totals(api, token("admin", "admin"))
    assert answer.status_code == 200, answer.text
    page, text = answer.text, _text(answer.text)
    links = _batch_links(page)
    # Newest first: the stuck batch was recorded last, then c, then b, then a.
    order = [
        next(i for i, link in enumerate(links) if f"/ti/{dag}/" in link)
        for dag in (history.stuck, history.c, history.b, history.a)
    ]
    assert order == sorted(order), (order, links)
    manifest_a = history.results["a"].xcom("fetch_results")
    row_a = page.split(f"/ti/{history.a}/")[1].split("</tr>")[0]
    assert "SUCCEEDED" in row_a
    assert ">3/3<" in row_a.replace("</progress> ", ">")  # progress from batchStats
    assert f"USD {manifest_a['cost']['total']:,.4f}" in row_a, row_a
    assert "succeeded 3" in row_a
    # The stuck batch: the API's list says PENDING since 30 h; flagged.
    row_s = page.split(f"/ti/{history.stuck}/")[1].split("</tr>")[0]
    assert "PENDING" in row_s, row_s
    assert "Stuck in PENDING for 30 h" in _text(row_s), row_s
    # Totals per DAG: a's and b's requests and costs.
    cost_b = history.results["b"].xcom("fetch_results")["cost"]["total"]
    per_dag = text.split("Per DAG")[1].split("Per day")[0]
    assert f"{history.a} 1 3 0" in per_dag, per_dag
    assert f"{history.b} 1 5 0" in per_dag, per_dag
    assert f"USD {cost_b:,.4f}" in per_dag, per_dag
    assert (
        f"Per day (UTC, by creation) day batches requests failed tokens cost {date.today().isoformat()}"
        in text
    )


def test_filters_by_dag_state_and_date(api: str, history: Seeded) -> None:
    admin = token("admin", "admin")
    only_b = _get(api, admin, {"dag_id": history.b}).text
    assert {link.split("/ti/")[1].split("/")[0] for link in _batch_links(only_b)} == {history.b}
    pending = _batch_links(_get(api, admin, {"state": "PENDING"}).text)
    assert len(pending) == 1
    assert f"/ti/{history.stuck}/" in pending[0]
    warned = _get(api, admin, {"state": "WARNINGS"}).text
    assert any(f"/ti/{history.stuck}/" in link for link in _batch_links(warned))
    assert not any(f"/ti/{history.a}/" in link for link in _batch_links(warned))
    succeeded = _batch_links(_get(api, admin, {"state": "SUCCEEDED", "dag_id": history.a}).text)
    assert len(succeeded) == 1
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert _batch_links(_get(api, admin, {"since": tomorrow}).text) == []
    assert _batch_links(_get(api, admin, {"until": yesterday}).text) == []
    today = _with_totals(api, admin, {"since": date.today().isoformat(), "dag_id": history.a}).text
    assert len(_batch_links(today)) == 1
    # A filter narrows the totals too.
    assert history.b not in _text(today).split("Per DAG")[1].split("Batches, newest first")[0]
    # A bad value is ignored and said so, never an error page.
    odd = _get(api, admin, {"since": "yesterday", "state": "<b>"})
    assert odd.status_code == 200
    assert "since is not a date" in odd.text
    assert "Unknown state" in odd.text


def test_planted_batch_and_display_names_render_inert(api: str, history: Seeded) -> None:
    page = _get(api, token("admin", "admin"), {"dag_id": history.c}).text
    assert "<script" not in page
    assert "<meta http-equiv" not in page
    assert '<b id="planted">' not in page
    assert "&lt;b id=&#34;planted&#34;&gt;x&lt;/b&gt;" in page, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert PLANTED_NAME not in page
    assert PLANTED_DISPLAY not in page


def test_a_viewer_of_one_team_sees_only_that_teams_dag(api: str, history: Seeded) -> None:
    viewer = token("viewer_a", "viewer", [history.team_a])
    page = _with_totals(api, viewer).text
    text = _text(page)
    assert any(f"/ti/{history.a}/" in link for link in _batch_links(page))
    for hidden in (history.b, history.c, history.stuck):
        assert hidden not in page, hidden  # not in the rows, the totals or the DAG filter
    assert STUCK_NAME not in page
    # Asking for another team's DAG by name shows nothing of it either.
    asked = _get(api, viewer, {"dag_id": history.b}).text
    assert _batch_links(asked) == []
    assert history.b not in asked.split("</form>")[1]
    # The same request as a viewer of team b shows b (the restriction is the team, not the role).
    other = _batch_links(_get(api, token("viewer_b", "viewer", [history.team_b]), {"dag_id": history.b}).text)
    assert len(other) == 1
    assert "cost USD" in text


def test_rows_page_by_keyset_without_gaps_or_repeats(api: str, history: Seeded) -> None:
    with DAG(unique_dag_id("console_many"), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        GeminiCreateBatchOperator.partial(task_id="create_batch", model="gemini-2.5-flash").expand(
            input_path=[f"/in/{i}.jsonl" for i in range(PAGE_SIZE + 7)]
        )
    planted_run(dag, {("create_batch", "batch_name", i): f"batches/many-{i}" for i in range(PAGE_SIZE + 7)})
    admin = token("admin", "admin")
    first = _get(api, admin, {"dag_id": dag.dag_id}).text
    (older,) = re.findall(r'<a href="\?([^"]+)">Older batches', first)
    params = {k: v[0] for k, v in parse_qs(older.replace("&amp;", "&")).items()}
    assert params["dag_id"] == dag.dag_id
    second = _get(api, admin, params).text
    names = re.findall(r"<code>(batches/many-\d+)</code>", first + second)
    assert len(names) == PAGE_SIZE + 7
    assert len(set(names)) == PAGE_SIZE + 7
    assert "Older batches" not in second


def test_logged_out_browsers_get_the_way_to_log_in_and_back_to_the_console(api: str) -> None:
    answer = httpx.get(api + CONSOLE + "?state=PENDING", headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    assert answer.status_code == 401
    assert "Log in to Airflow" in answer.text
    (href,) = re.findall(r'href="([^"]+)"', answer.text)
    login = urlsplit(href.replace("&amp;", "&"))
    assert login.path == "/api/v2/auth/login"
    assert parse_qs(login.query) == {"next": [CONSOLE + "?state=PENDING"]}
    assert httpx.get(api + CONSOLE, timeout=30).json() == {"detail": "Not authenticated"}
    assert httpx.get(api + CONSOLE, cookies={"_token": "forged"}, timeout=30).status_code == 403


def test_console_headers_no_script_no_secrets_get_only(api: str, history: Seeded) -> None:
    answer = _get(api, token("admin", "admin"))
    csp = answer.headers["content-security-policy"]
    assert "script-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert "form-action 'self'" in csp
    assert answer.headers["cache-control"] == "no-store"
    assert "<script" not in answer.text
    for secret in ("stuck-key-0123456789", "test-key", "emulator"):
        assert secret not in answer.text.replace(history.stuck, ""), secret
    refused = httpx.post(
        api + CONSOLE, headers={"Authorization": f"Bearer {token('admin', 'admin')}"}, timeout=30
    )
    assert refused.status_code == 405


def test_the_console_is_a_menu_entry_of_airflows_ui(api: str) -> None:
    plugins = httpx.get(api + "/api/v2/plugins", headers=_auth(token("admin", "admin")), timeout=30).json()
    views = [v for p in plugins["plugins"] for v in p["external_views"] if v["name"] == "Gemini batches"]
    assert views == [{**views[0], "href": CONSOLE, "destination": "nav", "url_route": "gemini-batches"}], (
        views
    )


def test_live_list_reads_against_a_trickling_upstream_are_bounded_and_shared(
    api: str, history: Seeded, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """The console's optional list read: bounded like the batch page's read, one per connection
    for any number of loads, and the page still shows what the tasks recorded."""
    upstream = hostile_server([Rule("GET", r"/v1beta/batches", trickle(interval=1.0))])
    conn_id = hostile_conn(upstream, conn_id=f"console_trickle_{unique_dag_id('c')}")
    with DAG(unique_dag_id("console_trickle"), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        GeminiCreateBatchOperator(
            task_id="create_batch", model="gemini-2.5-flash", input_path="/in.jsonl", gemini_conn_id=conn_id
        )
    planted_run(dag, {("create_batch", "batch_name"): "batches/behind-a-trickle"})
    admin = token("admin", "admin")
    first = _get(api, admin, {"dag_id": dag.dag_id})
    second = _get(api, admin, {"dag_id": dag.dag_id})
    for answer in (first, second):
        assert answer.status_code == 200
        text = _text(answer.text)
        assert "batches/behind-a-trickle" in text
        assert "IN_FLIGHT" in text  # what the tasks recorded
        assert (
            f"'{conn_id}' (no answer within 4 s)" in text
            or f"'{conn_id}' (the Gemini API could not be reached)" in text
        ), text
    # One list read for both loads (shared while in flight, then cached); the key never shown.
    assert len(upstream.calls("GET", r"/v1beta/batches.*")) == 1
    assert HOSTILE_KEY not in first.text + second.text


def test_connections_whose_list_read_failed_share_one_notice_that_says_what_to_do(
    api: str, history: Seeded
) -> None:
    """A DAG whose tasks name seven connections the API server lacks (one with markup in its id):
    one notice, not one per connection, naming five (escaped) and counting the rest, saying that
    live states are optional and how to turn them off."""
    tag = unique_dag_id("g").rsplit("_", 1)[-1]
    conn_ids = [f"console_gone_{tag}_{i}" for i in range(6)] + [f'a_gone_{tag}<b id="c">x</b>']
    with DAG(unique_dag_id("console_gone"), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        for i, conn_id in enumerate(conn_ids):
            GeminiCreateBatchOperator(
                task_id=f"create_{i}",
                model="gemini-2.5-flash",
                input_path="/in.jsonl",
                gemini_conn_id=conn_id,
            )
    planted_run(dag, {(f"create_{i}", "batch_name"): f"batches/gone-{i}" for i in range(len(conn_ids))})
    page = _get(api, token("admin", "admin"), {"dag_id": dag.dag_id}).text
    notices = re.findall(r"<p class=notice>(.*?)</p>", page, flags=re.S)
    assert len(notices) == 1, notices
    (notice,) = notices
    text = unescape(_text(notice))
    assert text.startswith("Live states are not shown for 7 connections: "), text
    assert "(missing or incomplete on the API server)" in text
    assert sum(conn_id in text for conn_id in conn_ids) == 5, text
    assert "(missing or incomplete on the API server), and 2 more." in text
    assert "define the connections on the API server" in text
    assert "[gemini_batch] console_live_state = False" in text
    # The id with markup (named first: sorted) is text on the page, never markup.
    assert '<b id="c">' not in page
    assert f"&#39;a_gone_{tag}&lt;b id=&#34;c&#34;&gt;x&lt;/b&gt;&#39;" in notice, notice
    # The rows still show what the tasks recorded.
    assert len(_batch_links(page)) == len(conn_ids)
    print(f"\nthe notice: {text}")
