"""A connection saved from the form with Port left empty can be tested: the plugin's test route.

Airflow's API app on a real socket (tests/plugins/airflow_api.py), its login in force (the simple
auth manager; tokens minted by its own auth manager for the roles ``admin``, ``op`` and
``user``), ``[core] test_connection = Enabled``. The connection is saved the way the UI's add form
saves it when Port is left empty (the Base URL carries the emulator's port), then:

* Airflow's own *Test* (the connection list's body: ``port: Number(null)`` = 0) is refused by
  Airflow 3.3.2 with 400 before the provider runs: that is the bug this route works around;
* the plugin's ``POST /gemini-batch/connections/<id>/test`` tests the stored connection against
  the emulator, with Airflow's authorisation (read and edit access to the connection), the
  ``test_connection`` switch, a refusal of other sites' POSTs, and no key in any answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.plugins.conn_test import conn_test_path
from tests.plugins.airflow_api import bearer

HTML = "text/html,application/xhtml+xml"
CONN_ID = "gemini_saved_without_port"


#: Set for the server's life: the switch Airflow's own Test needs, and the process context
#: ``airflow/api_fastapi/main.py`` sets in the real API server (hooks there read connections from
#: the metadata DB; ``create_app`` alone does not set it).
SERVER_ENV = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "_AIRFLOW_PROCESS_CONTEXT": "server"}


@pytest.fixture(scope="module")
def api(login_api: str) -> Iterator[str]:
    """The package's server with its login in force (tests/plugins/conftest.py), with
    :data:`SERVER_ENV` for this module (both are read per request)."""
    previous = {name: os.environ.get(name) for name in SERVER_ENV}
    os.environ.update(SERVER_ENV)
    try:
        yield login_api
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _auth(role: str) -> dict[str, str]:
    return bearer(role)


def _save_without_port(api: str, conn_id: str, body: dict[str, Any]) -> None:
    """What the add form posts when Port is left empty (``port`` left out), by an admin."""
    admin = _auth("admin")
    httpx.delete(f"{api}/api/v2/connections/{conn_id}", headers=admin, timeout=30)
    answer = httpx.post(f"{api}/api/v2/connections", json={"connection_id": conn_id, **body}, headers=admin)
    assert answer.status_code == 201, answer.text
    assert answer.json()["port"] is None


@pytest.fixture
def saved(api: str, emulator: EmulatorServer) -> EmulatorServer:
    _save_without_port(
        api, CONN_ID, {"conn_type": "gemini_batch", "host": emulator.base_url, "password": emulator.api_key}
    )
    emulator.control.clear_journal()
    return emulator


def test_airflows_own_test_button_refuses_a_connection_saved_without_a_port(
    api: str, saved: EmulatorServer
) -> None:
    """The connection list's *Test* body (Airflow 3.3.2 UI): port 0, the key masked."""
    admin = _auth("admin")
    stored = httpx.get(f"{api}/api/v2/connections/{CONN_ID}", headers=admin, timeout=30).json()
    body = {
        "conn_type": stored["conn_type"],
        "connection_id": CONN_ID,
        "host": stored["host"] or "",
        "password": stored["password"] or "",
        "port": int(stored["port"] or 0),
        "extra": stored["extra"] or "{}",
    }
    answer = httpx.post(f"{api}/api/v2/connections/test", json=body, headers=admin, timeout=30)
    assert answer.status_code == 400
    assert "host or port to test differs" in answer.text
    assert saved.control.journal() == []  # refused before the provider ran


def test_the_plugin_route_tests_the_stored_connection(api: str, saved: EmulatorServer) -> None:
    answer = httpx.post(api + conn_test_path(CONN_ID), headers=_auth("op"), timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is True, answer.json()
    assert saved.base_url in answer.json()["message"]
    assert str(saved.api_key) not in answer.text
    assert [(c["method"], c["path"]) for c in saved.control.journal()] == [("GET", "/v1beta/files")]


def test_a_browser_gets_the_button_then_the_answer_as_a_page(api: str, saved: EmulatorServer) -> None:
    headers = {**_auth("admin"), "Accept": HTML}
    form = httpx.get(api + conn_test_path(CONN_ID), headers=headers, timeout=30)
    assert form.status_code == 200
    assert "<form method=post" in form.text
    assert "form-action 'self'" in form.headers["content-security-policy"]
    assert saved.control.journal() == []  # the GET only shows the button

    host = api.split("://", 1)[1]
    same_site = {**headers, "Origin": api, "Sec-Fetch-Site": "same-origin", "Host": host}
    page = httpx.post(api + conn_test_path(CONN_ID), headers=same_site, timeout=60)
    assert page.status_code == 200, page.text
    assert "Connection tested" in page.text
    assert '<a href="/connections">' in page.text  # the way back into Airflow's UI
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert str(saved.api_key) not in page.text


@pytest.mark.parametrize(
    "extra",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.example"},
        {"Origin": "null"},
    ],
)
def test_a_post_from_another_site_is_refused_before_any_request(
    api: str, saved: EmulatorServer, extra: dict[str, str]
) -> None:
    answer = httpx.post(api + conn_test_path(CONN_ID), headers={**_auth("admin"), **extra}, timeout=30)
    assert answer.status_code == 403
    assert saved.control.journal() == []


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("viewer", 403), ("user", 403)])
def test_only_users_who_may_edit_the_connection_may_test_it(
    api: str, saved: EmulatorServer, role: str | None, status: int
) -> None:
    headers = _auth(role) if role else {}
    answer = httpx.post(api + conn_test_path(CONN_ID), headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    assert saved.control.journal() == []


def test_another_connection_type_is_not_tested(api: str, emulator: EmulatorServer) -> None:
    """An http connection's password would go to a host of its own: refused, nothing sent."""
    _save_without_port(api, "not_gemini", {"conn_type": "http", "host": emulator.base_url, "password": "p"})
    emulator.control.clear_journal()
    answer = httpx.post(api + conn_test_path("not_gemini"), headers=_auth("admin"), timeout=30)
    assert answer.status_code == 400
    assert "not 'gemini_batch'" in answer.json()["message"]
    assert emulator.control.journal() == []
    missing = httpx.post(api + conn_test_path("no_such_conn"), headers=_auth("admin"), timeout=30)
    assert missing.status_code == 404


def test_the_route_honours_airflows_test_connection_switch(
    api: str, saved: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Disabled")
    answer = httpx.post(api + conn_test_path(CONN_ID), headers=_auth("admin"), timeout=30)
    assert answer.status_code == 403
    assert "disabled in Airflow configuration" in answer.text
    assert saved.control.journal() == []


def test_in_a_browser_the_button_tests_the_connection(api: str, saved: EmulatorServer) -> None:
    """Debian's chromium, logged in (Airflow's ``_token`` cookie, an ``op`` user): the page's
    button posts the form (a real same-origin POST with the browser's own ``Origin`` and
    ``Sec-Fetch-Site``) and shows the provider's answer (screenshots
    ``conn_test_button.png``, ``conn_test_answer.png``)."""
    import time

    from tests.browser.cdp import Browser, find_chromium
    from tests.plugins.test_batch_page_served import SHOTS

    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium).")
    token = _auth("op")["Authorization"].split(" ", 1)[1]
    with Browser(chromium, width=900, height=320) as browser:
        browser.set_cookie(api, "_token", token)
        browser.open(api + conn_test_path(CONN_ID))
        browser.screenshot(SHOTS / "conn_test_button.png")
        assert saved.control.journal() == []
        browser.evaluate("document.querySelector('button').click()")
        deadline = time.monotonic() + 30
        while "Connection tested" not in browser.text() and "Test failed" not in browser.text():
            assert time.monotonic() < deadline, browser.text()
            time.sleep(0.2)
        text = browser.text()
        browser.screenshot(SHOTS / "conn_test_answer.png")
    assert f"Connection tested: Connected to the Gemini API at {saved.base_url}" in text, text
    assert str(saved.api_key) not in text
    assert [c["method"] for c in saved.control.journal()] == ["GET"]
