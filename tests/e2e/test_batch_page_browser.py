"""The batch page in a real headless Chromium against a real ``airflow standalone`` + the emulator.

Runs ``example_gemini_batch_file`` on the shared stack (tests/e2e/conftest.py) and, logged in with
the UI's ``_token`` cookie (the JWT ``POST /auth/token`` issues, which the UI's login stores under
that name), opens the batch page of the create task while the batch runs and again after the run,
plus the page of a task without a batch and Airflow's own task-instance view with the plugin tab.
Screenshots go to ``.artifacts/browser/`` (gitignored). Also checked without a browser: the
"Gemini Batch" extra link points at the page, a request without credentials is refused (401), one
with a forged token too (403), and the API key never appears in any page.

Chromium is Debian's (``make browser`` installs it; ``make test`` depends on that target).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from scripts.airflow_stack import REPO_ROOT, Stack, follow_run, wait_for
from tests.browser.cdp import Browser, find_chromium

pytestmark = pytest.mark.e2e

DAG_ID = "example_gemini_batch_file"
CREATE = "create_batch"
SHOTS = REPO_ROOT / ".artifacts" / "browser"
API_KEY = "emulator-key"  # scripts/airflow_stack.EmulatorProcess.api_key: the connection's password


def _page(stack: Stack, run_id: str, task_id: str) -> str:
    return f"{stack.airflow.base_url}/gemini-batch/ti/{DAG_ID}/{task_id}/-1/{quote(run_id, safe='')}"


def test_batch_page_in_a_browser_while_running_and_after(stack: Stack, tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium).")
    api = stack.api
    api.wait_for_dag(DAG_ID, timeout=120)
    started = time.monotonic()
    with Browser(chromium) as browser:
        browser.set_cookie(stack.airflow.base_url, "_token", api.token)
        run_id = api.trigger(DAG_ID, conf={"results_dir": str(tmp_path / "results")})
        page = _page(stack, run_id, CREATE)

        # While the batch runs: the create task has recorded it, the batch is not done yet.
        def created() -> bool | None:
            stack.alive()
            states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
            return True if states.get(CREATE) == "success" else None

        wait_for("the create task to finish", created, timeout=120, interval=0.5)
        browser.open(page)
        running_html, running_text = browser.html(), browser.text()
        browser.screenshot(SHOTS / "batch_page_running.png")
        assert "Gemini batch batches/" in running_text, running_text
        assert any(s in running_text for s in ("PENDING", "RUNNING")), running_text
        assert "refreshes every" in running_text
        assert 'http-equiv="refresh"' in running_html
        assert "requests finished" in running_text or "no request counts" in running_text
        assert "Running for" in running_text, running_text
        # The header leads back to the run and the task instance in Airflow's UI.
        hrefs = browser.evaluate("Array.from(document.querySelectorAll('nav a')).map(a => a.href)")
        ui_run = f"{stack.airflow.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}"
        assert hrefs == [ui_run, f"{ui_run}/tasks/{CREATE}"], hrefs

        # Airflow's own task-instance view shows the page in the plugin's tab.
        browser.open(
            f"{stack.airflow.base_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/{CREATE}"
            "/plugin/gemini-batch",
        )

        def tab_shows_page() -> bool | None:
            text = browser.evaluate(
                "(() => { const f = document.querySelector('iframe');"
                " return f && f.contentDocument && f.contentDocument.body"
                " ? f.contentDocument.body.innerText : ''; })()"
            )
            return True if "Gemini batch batches/" in str(text) else None

        wait_for("the plugin tab to show the batch page", tab_shows_page, timeout=60, interval=0.5)
        time.sleep(1.0)  # let the UI finish painting around the iframe
        browser.screenshot(SHOTS / "airflow_task_instance_tab.png")

        # The extra link of the create task opens the page (computed on the worker).
        links = api.request("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{CREATE}/links")
        assert links["extra_links"]["Gemini Batch"] == page

        state, timeline = follow_run(api, DAG_ID, run_id, timeout=240, alive=stack.alive)
        if state != "success":
            print(stack.airflow.diagnostics())
        assert state == "success", timeline.changes

        browser.open(page)
        done_html, done_text = browser.html(), browser.text()
        browser.screenshot(SHOTS / "batch_page_finished.png")
        assert "SUCCEEDED" in done_text
        assert "requests finished (100%)" in done_text, done_text
        assert "Landed in" in done_text, done_text
        assert "By outcome" in done_text, done_text
        assert "Created" in done_text
        assert "Ended" in done_text
        assert 'http-equiv="refresh"' not in done_html

        browser.open(_page(stack, run_id, "delete_uploaded_file"))
        none_text = browser.text()
        browser.screenshot(SHOTS / "batch_page_no_batch.png")
        assert "No Gemini batch here" in none_text
    # A browser without the login cookie is shown the way to log in, not Airflow's JSON 401.
    with Browser(chromium) as anonymous_browser:
        anonymous_browser.open(page)
        login_text = anonymous_browser.text()
        anonymous_browser.screenshot(SHOTS / "batch_page_login.png")
    assert "Log in to Airflow" in login_text, login_text
    print(f"\nbrowser part took {time.monotonic() - started:.1f} s; screenshots in {SHOTS}")

    for html in (running_html, done_html):
        assert API_KEY not in html
    # Refused without credentials, and with a token Airflow did not sign.
    anonymous = httpx.get(page, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    assert API_KEY not in anonymous.text
    forged = httpx.get(page, cookies={"_token": "not-a-jwt"}, timeout=30)
    assert forged.status_code == 403, forged.text
    # The page's response headers forbid scripts and framing by other origins.
    served = httpx.get(page, cookies={"_token": api.token}, timeout=30)
    assert served.status_code == 200
    csp = served.headers["content-security-policy"]
    assert "script-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert API_KEY not in served.text
