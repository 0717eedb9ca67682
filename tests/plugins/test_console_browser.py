"""The console in Debian's chromium (over CDP), as an admin and as a viewer of one team's DAG.

Airflow's own API app on a real socket with the login in force; the history of
tests/plugins/console_seed.py (two DAGs run with ``dag.test()`` against the emulator, a planted
one, a batch the API lists as PENDING since 30 hours). The browser carries the UI's ``_token``
cookie, signed by Airflow's auth manager. Screenshots (paths printed):

* ``console_all_dags.png`` (the whole page): what a viewer of teams ``a`` and ``b`` sees, the four
  seeded DAGs and nothing of the session's other tests: the totals per DAG and per day with their
  cost, and the batch table with the stuck batch flagged;
* ``console_in_airflow_ui.png``: the same viewer's console as the menu page of Airflow's UI;
* ``console_viewer_team_a.png`` (the whole page): what a viewer of team ``a`` sees (only DAG ``a``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.browser.cdp import Browser, find_chromium
from tests.plugins.airflow_api import airflow_api
from tests.plugins.console_seed import STUCK_NAME, Seeded, seeded_history, token
from tests.plugins.test_batch_page_served import SHOTS


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


def _chromium() -> str:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium).")
    return chromium


def _framed_text(browser: Browser) -> str:
    return str(
        browser.evaluate(
            "(() => { const f = document.querySelector('iframe');"
            " return f && f.contentDocument && f.contentDocument.body"
            " ? f.contentDocument.body.innerText : ''; })()"
        )
    )


def _open_with_totals(browser: Browser, url: str) -> str:
    """Open ``url`` until the totals are on it (they are added up on their own thread; a load
    waits 1 s at most and the next load gets them); returns the page's text."""
    browser.open(url)
    deadline = time.monotonic() + 30
    while "Per DAG" not in browser.text() and time.monotonic() < deadline:
        time.sleep(0.5)
        browser.open(url)
    return browser.text()


def test_the_console_in_a_browser_for_several_dags_and_for_a_one_team_viewer(
    api: str, history: Seeded
) -> None:
    chromium = _chromium()
    console = f"{api}/gemini-batch/console"
    # A viewer of teams a and b reads exactly the seeded DAGs (the session's other DAGs are a
    # third team's): the picture shows several DAGs and nothing of other tests.
    both = token("viewer_ab", "viewer", [history.team_a, history.team_b])
    with Browser(chromium, width=1500, height=1000) as browser:
        browser.set_cookie(api, "_token", both)
        several_text = _open_with_totals(browser, console)
        # The whole page: the batch table with the stuck batch is below the totals.
        shot_all = browser.screenshot(SHOTS / "console_all_dags.png", full_page=True)
        links = browser.evaluate(
            "Array.from(document.querySelectorAll('a')).map(a => a.href).filter(h => h.includes('/ti/'))"
        )
        notices = browser.evaluate("document.querySelectorAll('.notice').length")
    # The console as a page of Airflow's UI (its menu entry opens this route); a tall window so
    # the frame shows the batch table too.
    with Browser(chromium, width=1500, height=1500) as ui_browser:
        ui_browser.set_cookie(api, "_token", both)
        ui_browser.open(f"{api}/plugin/gemini-batches")
        deadline = time.monotonic() + 60
        framed = ""
        while "Batches, newest first" not in framed and time.monotonic() < deadline:
            time.sleep(0.5)
            framed = _framed_text(ui_browser)
        time.sleep(1.0)  # let the UI finish painting around the iframe
        shot_ui = ui_browser.screenshot(SHOTS / "console_in_airflow_ui.png")
    with Browser(chromium, width=1500, height=700) as viewer_browser:
        viewer_browser.set_cookie(api, "_token", token("viewer_a", "viewer", [history.team_a]))
        viewer_text = _open_with_totals(viewer_browser, console)
        shot_viewer = viewer_browser.screenshot(SHOTS / "console_viewer_team_a.png", full_page=True)
    print(f"\nconsole screenshots: {shot_all}, {shot_ui}, {shot_viewer}")

    for dag_id in (history.a, history.b, history.c, history.stuck):
        assert dag_id in several_text, dag_id
    assert STUCK_NAME in several_text
    assert "Stuck in PENDING for 30 h" in several_text, several_text
    assert "Totals" in several_text
    assert "Per DAG" in several_text
    assert "USD 0.0" in several_text
    # Only the seeded DAGs, and no notice: both connections answered.
    for other in ("console_many", "console_trickle", "page_phases"):
        assert other not in several_text, other
    assert notices == 0, several_text
    # Each row links to its task's batch page, which the browser can open.
    assert any(f"/gemini-batch/ti/{history.a}/create_batch/-1/" in link for link in links), links
    assert "Gemini batches" in framed, framed
    assert history.a in viewer_text
    for hidden in (history.b, history.c, history.stuck):
        assert hidden not in viewer_text, hidden
    assert STUCK_NAME not in viewer_text
    # Every other DAG of the session's DB is another team's (console_seed): one DAG in the filter.
    assert "console_many" not in viewer_text
