"""A logged-out visitor of the batch page: a browser gets the way to log in, an API client JSON.

Airflow's API app (tests/plugins/airflow_api.py) with the simple auth manager's login in force
(not ``all_admins``, so a request without a token is refused with 401 by Airflow's own
``requires_access_dag``): the package's shared server (tests/plugins/conftest.py); ``all_admins``
is process-wide, so no all-admins server of the other page tests runs at the same time.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_gemini_batch.links.gemini_batch import page_path
from tests.browser.cdp import Browser, find_chromium
from tests.plugins.test_batch_page_served import SHOTS

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
RUN_ID = "manual__2026-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def api(login_api: str) -> str:
    return login_api  # the package's server with its login in force (tests/plugins/conftest.py)


def test_a_logged_out_browser_gets_a_page_with_the_way_to_log_in_and_back(api: str) -> None:
    page = page_path("some_dag", RUN_ID, "create_batch")
    answer = httpx.get(api + page, headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'none'" in answer.headers["content-security-policy"]
    assert "Log in to Airflow" in answer.text
    (href,) = [part.split('"', 1)[0] for part in answer.text.split('href="')[1:]]
    login = urlsplit(href.replace("&amp;", "&"))
    assert login.path == "/api/v2/auth/login"
    assert parse_qs(login.query) == {"next": [page]}
    # Airflow's login route accepts the way back and sends the browser to its login form.
    onward = httpx.get(api + href.replace("&amp;", "&"), timeout=30)
    assert onward.status_code == 307, onward.text
    assert "login" in onward.headers["location"]
    assert parse_qs(urlsplit(onward.headers["location"]).query) == {"next": [page]}


def test_an_api_client_still_gets_the_json_401(api: str) -> None:
    page = page_path("some_dag", RUN_ID, "create_batch")
    for accept in (None, "application/json", "*/*"):
        headers = {"Accept": accept} if accept else {}
        answer = httpx.get(api + page, headers=headers, timeout=30)
        assert answer.status_code == 401
        assert answer.json() == {"detail": "Not authenticated"}


def test_a_logged_out_browser_sees_the_login_link_not_json(api: str) -> None:
    """Debian's chromium, no cookie: the page says how to log in (screenshot ``batch_page_login.png``)."""
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium).")
    with Browser(chromium, width=900, height=300) as browser:
        browser.open(api + page_path("some_dag", RUN_ID, "create_batch"))
        text = browser.text()
        browser.screenshot(SHOTS / "batch_page_login.png")
        href = browser.evaluate("document.querySelector('a').href")
    assert "Log in to Airflow" in text, text
    assert "Not authenticated" not in text
    assert str(href).startswith(f"{api}/api/v2/auth/login?next=")


def test_the_providers_documentation_page_needs_a_login_too(api: str) -> None:
    """The reference page (Admin > Providers' link) is behind Airflow's login like the batch page."""
    page = f"{api}/gemini-batch/docs/"
    assert httpx.get(page, timeout=30).json() == {"detail": "Not authenticated"}
    browser = httpx.get(page, headers={"Accept": BROWSER_ACCEPT}, timeout=30)
    assert browser.status_code == 401
    assert "Log in to Airflow" in browser.text
