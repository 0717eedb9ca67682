"""The connection test's messages as the Airflow UI shows them (issue 11 item 4).

Airflow's UI tests an unsaved form under a generated connection id, so the messages must not
quote the id; and a host typed without a scheme is taken as https://, which against the plain-HTTP
emulator used to surface as a bare SSL error.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.fixtures.emulator import EmulatorServer

GENERATED_ID = "xq7vcx0a1b2c"  # shaped like the UI's random test id


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
    assert "no API key" in message
    assert GENERATED_ID not in message
