"""The connection test's messages as the Airflow UI shows them, and as a
direct ``test_connection()`` call shows them.

Airflow's UI tests an unsaved form under a generated connection id (``get_random_string()``: 8
ASCII letters and digits, exported as ``AIRFLOW_CONN_<ID>``; Airflow 3.3.2
``api_fastapi/core_api/routes/public/connections.py``), so those messages must not quote the id
and must still read as sentences; a direct call names its real id. A host typed without a scheme
is taken as https://, which against the plain-HTTP emulator used to surface as a bare SSL error.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.fixtures.emulator import EmulatorServer

GENERATED_ID = "xQ7vcX0a"  # shaped like the UI's random test id (8 letters and digits)


def test_host_without_scheme_gets_a_hint_and_no_generated_id(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = emulator.base_url.removeprefix("http://")
    conn = {"conn_type": "gemini_batch", "host": host, "password": emulator.api_key}
    conn["extra"] = json.dumps({"max_retries": 0, "timeout": 5})
    monkeypatch.setenv(f"AIRFLOW_CONN_{GENERATED_ID.upper()}", json.dumps(conn))
    ok, message = GeminiBatchHook(gemini_conn_id=GENERATED_ID).test_connection()
    assert not ok
    assert f"write the host as http://{host}" in message
    assert GENERATED_ID not in message
    assert emulator.api_key not in message


def test_config_error_message_does_not_quote_the_generated_id(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "gemini_batch", "host": "https://example.invalid"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{GENERATED_ID.upper()}", json.dumps(conn))
    ok, message = GeminiBatchHook(gemini_conn_id=GENERATED_ID).test_connection()
    assert not ok
    assert message.startswith("This connection has no API key")
    assert GENERATED_ID not in message


def test_config_error_message_names_a_real_connection_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """A direct call with the user's own id: the id is named, in the operators' wording."""
    conn = {"conn_type": "gemini_batch", "host": "https://example.invalid"}
    monkeypatch.setenv("AIRFLOW_CONN_T_NOKEY", json.dumps(conn))
    ok, message = GeminiBatchHook(gemini_conn_id="t_nokey").test_connection()
    assert not ok
    assert message.startswith("Connection 't_nokey' has no API key")
    assert "this connection" not in message


def test_missing_connection_is_named() -> None:
    ok, message = GeminiBatchHook(gemini_conn_id="t_missing_conn").test_connection()
    assert not ok
    assert message.startswith("The Airflow connection 't_missing_conn' does not exist.")


def test_refused_key_names_the_connection_and_reads_well_under_the_ui_id(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong key: a real id is named in the auth hint; the UI's generated id becomes "this
    connection" inside the sentence, not a garbled "Airflow connection this connection"."""
    conn = json.dumps(
        {
            "conn_type": "gemini_batch",
            "host": emulator.base_url,
            "password": "WRONGKEY-test-connection",
            "extra": json.dumps({"max_retries": 0}),
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_BAD", conn)
    monkeypatch.setenv(f"AIRFLOW_CONN_{GENERATED_ID.upper()}", conn)
    ok, named = GeminiBatchHook(gemini_conn_id="gemini_bad").test_connection()
    assert not ok
    assert "The API key of Airflow connection 'gemini_bad' was refused" in named
    ok, generated = GeminiBatchHook(gemini_conn_id=GENERATED_ID).test_connection()
    assert not ok
    assert "The API key of this connection was refused" in generated
    assert GENERATED_ID not in generated
    assert all("WRONGKEY" not in text for text in (named, generated))
