"""The emulator keeps no credential and guards its control plane.

Users point connections at the emulator, some with the key they use for the real service, so its
journal (``GET /_emulator/journal``) must not hold the key, and the control routes must not answer
anyone who can reach the port: a web page the developer visits (DNS rebinding: a foreign ``Host``)
or another machine when bound beyond loopback.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs

import httpx

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.emulator.control import EmulatorControl
from airflow_provider_gemini_batch.emulator.guard import credential_mark

REAL_LOOKING_KEY = "AIzaSyD-real-looking-key-0123456789abcdef"
TOKEN = "ya29.a0-oauth-token-0123456789"


def test_journal_keeps_that_a_credential_came_never_its_value(emulator: EmulatorServer) -> None:
    base = emulator.base_url
    httpx.get(f"{base}/v1beta/batches", headers={"x-goog-api-key": REAL_LOOKING_KEY})
    httpx.get(f"{base}/v1beta/batches", params={"key": REAL_LOOKING_KEY, "pageSize": "5"})
    httpx.get(f"{base}/v1beta/batches", headers={"Authorization": f"Bearer {TOKEN}"})
    served = httpx.get(f"{base}/_emulator/journal")
    assert served.status_code == 200
    assert REAL_LOOKING_KEY not in served.text
    assert TOKEN not in served.text
    entries = served.json()["entries"]
    assert entries[0]["headers"]["x-goog-api-key"] == credential_mark(REAL_LOOKING_KEY)
    query = parse_qs(entries[1]["query"])
    assert query == {"key": [credential_mark(REAL_LOOKING_KEY)], "pageSize": ["5"]}
    assert entries[2]["headers"]["authorization"] == f"Bearer {credential_mark(TOKEN)}"


def test_control_routes_refuse_a_foreign_host_on_a_loopback_bind(emulator: EmulatorServer) -> None:
    journal = f"{emulator.base_url}/_emulator/journal"
    # A page on attacker.example whose name was rebound to 127.0.0.1 sends its own Host.
    for method, path in (("GET", "journal"), ("POST", "reset"), ("POST", "faults"), ("GET", "config")):
        refused = httpx.request(
            method, f"{emulator.base_url}/_emulator/{path}", headers={"Host": "attacker.example"}, json={}
        )
        assert refused.status_code == 403, (method, path)
    assert httpx.get(journal, headers={"Host": f"localhost:{emulator.port}"}).status_code == 200
    assert httpx.get(journal).status_code == 200  # Host 127.0.0.1:port
    assert emulator.control.health()


def test_a_non_loopback_bind_requires_the_control_token(tmp_path: Path) -> None:
    with EmulatorServer(api_key="k", host="0.0.0.0", data_dir=tmp_path) as emu:
        assert emu.control_token
        url = f"http://127.0.0.1:{emu.port}/_emulator"
        assert httpx.get(f"{url}/journal").status_code == 403
        assert httpx.post(f"{url}/reset").status_code == 403
        assert httpx.get(f"{url}/journal", headers={"X-Emulator-Control-Token": "wrong"}).status_code == 403
        assert emu.control.journal() == []  # the handle carries the token
        assert EmulatorControl(f"http://127.0.0.1:{emu.port}", control_token=emu.control_token).health()
        # The API itself still works (with its key).
        answer = httpx.get(f"http://127.0.0.1:{emu.port}/v1beta/batches", headers={"x-goog-api-key": "k"})
        assert answer.status_code == 200


def test_cli_warns_on_a_non_loopback_bind_and_prints_the_control_token(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "airflow_provider_gemini_batch.emulator", "--host", "0.0.0.0"]
    command += ["--port", "0", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        listening = proc.stdout.readline().strip()  # printed once serving; the rest came before it
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # Read through the text wrappers (communicate() would skip what readline() buffered).
    rest, errors = proc.stdout.read(), proc.stderr.read()
    token_line = (rest.splitlines() or [""])[0].strip()
    warning = (errors.splitlines() or [""])[0].strip()
    assert listening.startswith("Gemini Batch emulator listening on http://0.0.0.0:")
    assert warning.startswith("WARNING: the emulator listens on 0.0.0.0")
    assert "dummy API key" in warning
    assert "any key" in warning
    token = token_line.rsplit(" ", 1)[-1]
    assert token_line.startswith("Control token")
    assert len(token) >= 20
