"""Admin > Providers' "Documentation" link leads to this provider's own reference page.

Airflow's API app on a real socket (tests/plugins/airflow_api.py; the package's server with its
login in force, tests/plugins/conftest.py, an admin's token). The link is what Airflow's
providers route answers for this provider (``documentation_url``, from ``Project-URL:
Documentation``); the UI renders it as ``<a href>`` in a document whose ``<base href>`` is the API
server's root path, so the test resolves it the way a browser does: against the ``<base>`` of the
UI page the same app serves.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest

from airflow_provider_gemini_batch import __version__
from airflow_provider_gemini_batch.plugins.docs_page import DOCS_LINK, DOCUMENTED
from tests.plugins.airflow_api import bearer

DIST = "airflow-provider-gemini-batch"


def _documentation_link(api: str) -> str:
    answer = httpx.get(f"{api}/api/v2/providers", params={"limit": 1000}, headers=bearer("admin"), timeout=30)
    answer.raise_for_status()
    (row,) = [p for p in answer.json()["providers"] if p["package_name"] == DIST]
    return str(row["documentation_url"])


def _base_href(api: str) -> str:
    """The ``<base href>`` of the UI's page (the Providers page is one of its routes)."""
    ui = httpx.get(f"{api}/providers", timeout=30)
    assert ui.status_code == 200, ui.text[:200]
    (base,) = re.findall(r'<base href="([^"]*)"', ui.text)
    return base


def test_the_providers_documentation_link_opens_this_providers_reference_page(login_api: str) -> None:
    api = login_api
    link = _documentation_link(api)
    assert link == DOCS_LINK
    page = urljoin(urljoin(api + "/", _base_href(api)), link)
    answer = httpx.get(page, headers=bearer("admin"), timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'none'" in answer.headers["content-security-policy"]
    text = answer.text
    assert f"Google Gemini Batch provider <code>{__version__}</code>" in text
    for _, name in DOCUMENTED:
        assert f"<h3 id={name}>{name}</h3>" in text
    assert "<script" not in text
    assert "ai.google.dev" in text  # the API's own documentation is one link away


def test_the_link_resolves_under_an_api_server_root_path() -> None:
    """Under ``[api] base_url = https://host/airflow/`` the UI's ``<base>`` is ``/airflow/``, and
    the plugin is mounted under it: a path-absolute link would miss it, the relative one does not."""
    assert urljoin("https://host/airflow/", DOCS_LINK) == "https://host/airflow/gemini-batch/docs/"
    assert urljoin("https://host/", DOCS_LINK) == "https://host/gemini-batch/docs/"


def test_the_reference_page_in_a_browser(login_api: str) -> None:
    """Debian's chromium, logged in (``_token`` cookie): the page renders with its style and no
    script error (screenshot ``provider_docs.png``)."""
    from tests.browser.cdp import Browser, find_chromium
    from tests.plugins.test_batch_page_served import SHOTS

    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (apt-get install chromium).")
    token = bearer("admin")["Authorization"].split(" ", 1)[1]
    with Browser(chromium, width=1000, height=900) as browser:
        browser.set_cookie(login_api, "_token", token)
        browser.open(urljoin(login_api + "/", DOCS_LINK))
        text = browser.text()
        styled = browser.evaluate("getComputedStyle(document.querySelector('pre')).whiteSpace")
        browser.screenshot(SHOTS / "provider_docs.png")
    assert "Google Gemini Batch provider" in text
    assert "GeminiDeleteFileOperator" in text
    assert styled == "pre-wrap"  # the nonce'd style block applied under the CSP


def test_the_pages_pipeline_snippet_builds_a_dag_with_a_teardown_cleanup() -> None:
    """The snippet the page shows is a working DAG body (its operators' real arguments)."""
    import datetime

    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.plugins.docs_page import _PIPELINE

    with DAG("docs_page_snippet", schedule=None, start_date=datetime.datetime(2026, 1, 1)) as dag:
        exec(_PIPELINE, {})
    assert sorted(dag.task_dict) == ["cleanup", "create", "results", "upload", "wait"]
    assert dag.task_dict["cleanup"].is_teardown
