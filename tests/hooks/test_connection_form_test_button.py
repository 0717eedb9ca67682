"""A connection saved from the UI form can be tested with the UI's *Test* button (Airflow's real API).

Airflow 3.3.2's connection list builds the *Test* request from the stored connection as
``port: Number(connection.port)`` (``airflow/ui/dist/assets/index-*.js``), so a connection stored
without a port is tested with ``"port": 0``; ``POST /api/v2/connections/test``
(``airflow/api_fastapi/core_api/routes/public/connections.py``) then finds the port changed and,
as the form posts the masked key, refuses with 400 "The host or port to test differs from the
stored connection". The provider's form used to hide Port, so no connection made in the form could
be tested. These tests drive Airflow's own API app (FastAPI test client, simple auth manager with
every user an admin) the way the UI does: read the form from ``/ui/connections/hook_meta``, fill
every field it shows, save with the add form's body, then send the list's *Test* body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def api() -> Iterator[Any]:
    """Airflow's core API app with *Test* enabled and every request an admin's (one app for the
    module: building it takes seconds; the connections the tests save have ids of their own)."""
    from fastapi.testclient import TestClient

    env = {
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        from airflow.api_fastapi.app import create_app, purge_cached_app

        purge_cached_app()
        with TestClient(create_app(apps="core")) as client:
            yield client
        purge_cached_app()


def _form(api: Any) -> dict[str, Any]:
    """The gemini_batch form as the UI receives it (``standard_fields``: hidden/title/placeholder)."""
    answer = api.get("/ui/connections/hook_meta")
    assert answer.status_code == 200, answer.text
    (meta,) = [m for m in answer.json() if m["connection_type"] == "gemini_batch"]
    return meta


def _save_from_form(api: Any, conn_id: str, values: dict[str, str]) -> dict[str, Any]:
    """Fill the fields the form shows and save with the add form's body (empty -> left out)."""
    shown = _form(api)["standard_fields"] or {}
    typed = {
        name: value
        for name, value in values.items()
        if not (shown.get(name) or {}).get("hidden", False)  # a hidden field cannot be typed into
    }
    body: dict[str, Any] = {"connection_id": conn_id, "conn_type": "gemini_batch"}
    for name, value in typed.items():
        if value != "":
            body[name] = int(value) if name == "port" else value
    answer = api.post("/api/v2/connections", json=body)
    assert answer.status_code == 201, answer.text
    return typed


def _press_test(api: Any, conn_id: str) -> Any:
    """What the connection list's *Test* button sends: the stored connection as read back, the
    port through ``Number()`` (null -> 0), the key masked."""
    stored = api.get(f"/api/v2/connections/{conn_id}").json()
    body = {
        "conn_type": stored["conn_type"],
        "connection_id": stored["connection_id"],
        "description": stored.get("description") or "",
        "extra": stored.get("extra") or "{}",
        "host": stored.get("host") or "",
        "login": stored.get("login") or "",
        "password": stored.get("password") or "",
        "port": int(stored.get("port") or 0),
        "schema": stored.get("schema") or "",
    }
    return api.post("/api/v2/connections/test", json=body)


def test_form_shows_port_with_a_placeholder(api: Any) -> None:
    """The form offers Port (optional) and says why to fill it."""
    port = (_form(api)["standard_fields"] or {}).get("port") or {}
    assert not port.get("hidden", False)
    assert "443" in (port.get("placeholder") or "")


def test_a_connection_saved_from_the_form_passes_the_test_button(api: Any, emulator: EmulatorServer) -> None:
    """Base URL, API key and Port typed into the form (the placeholder says to give the port):
    the *Test* button answers status true, with the provider's message, against the emulator."""
    port = str(urlsplit(emulator.base_url).port)
    typed = _save_from_form(
        api,
        "gemini_form_saved",
        {"host": emulator.base_url, "password": str(emulator.api_key), "port": port},
    )
    assert typed["port"] == port

    answer = _press_test(api, "gemini_form_saved")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is True, answer.json()
    assert str(emulator.api_key) not in answer.text
    assert [c["method"] for c in emulator.control.journal()] == ["GET"]


def test_port_in_the_port_field_and_a_bare_host_reach_the_emulator(
    api: Any, emulator: EmulatorServer
) -> None:
    """Base URL without a port plus the Port field: the hook appends the port."""
    parts = urlsplit(emulator.base_url)
    _save_from_form(
        api,
        "gemini_form_split",
        {"host": f"http://{parts.hostname}", "password": str(emulator.api_key), "port": str(parts.port)},
    )

    answer = _press_test(api, "gemini_form_split")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is True, answer.json()


def test_a_port_field_that_contradicts_the_base_url_is_named(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Base URL with the emulator's port, Port field 443 (a habit from the placeholder): the test
    says which two values disagree instead of silently using one."""
    import json

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    conn = {"conn_type": "gemini_batch", "host": emulator.base_url, "port": 443, "password": "k"}
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_PORTS", json.dumps(conn))

    ok, message = GeminiBatchHook(gemini_conn_id="gemini_ports").test_connection()

    assert not ok
    assert f"names port {urlsplit(emulator.base_url).port} but the Port field says 443" in message
    assert emulator.control.journal() == []


@pytest.mark.parametrize("conn_id", ["gemini01", "GEMINI01"])
def test_an_eight_character_env_connection_keeps_its_name(
    conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's own 8-letter/digit id from an environment variable is not the UI's random test id
    (which mixes upper and lower case): messages name it."""
    import json

    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    conn = {"conn_type": "gemini_batch", "host": "https://example.invalid"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    ok, message = GeminiBatchHook(gemini_conn_id=conn_id).test_connection()

    assert not ok
    assert message.startswith(f"Connection {conn_id!r} has no API key"), message
