"""Parity: every snapshot of the real service replayed against the emulator and the hook.

Snapshots (``tests/real_service/snapshots/*.json``) come from ``make parity-real`` (recorded with a
key, source ``recorded``) or, until someone records them, from public captures (source
``public``, rebuilt by ``python -m tests.real_service.parity public``). ``parity.py`` has the
scenarios and the normalisation; docs/real-service/parity.md how to refresh them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiClientError, GeminiNotFoundError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.real_service import parity
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import CONN_ID

SNAPSHOTS = parity.load()

#: How the hook must read each scenario's answer: (the call, the error class it raises).
HOOK_CALLS: dict[str, tuple[Callable[[GeminiBatchHook], Any], type[GeminiApiError], str]] = {
    "missing_file": (lambda h: h.get_file(f"files/{parity.ABSENT_FILE}"), GeminiNotFoundError, "is gone"),
    "delete_missing_file": (
        lambda h: h.delete_file(f"files/{parity.ABSENT_FILE}"),
        GeminiNotFoundError,
        "is gone",
    ),
    "delete_batch_output_file": (
        lambda h: h.delete_file(f"files/batch-{parity.ABSENT_BATCH}"),
        GeminiClientError,
        "cannot be deleted by name",
    ),
    "unknown_batch": (
        lambda h: h.get_batch(f"batches/{parity.ABSENT_BATCH}"),
        GeminiNotFoundError,
        "visible only",
    ),
    "model_without_batch": (
        lambda h: h.create_batch(
            "gemini-2.0-flash-live-001", requests=[parity.TINY_REQUEST], display_name="parity"
        ),
        GeminiNotFoundError,
        "cannot run batches",
    ),
}


def test_every_scenario_has_a_snapshot_and_a_hook_reading() -> None:
    assert sorted(s["scenario"] for s in SNAPSHOTS) == sorted(parity.BY_NAME) == sorted(HOOK_CALLS)


def test_public_snapshots_are_what_the_captures_rebuild(tmp_path: Path) -> None:
    parity.write_public(tmp_path)
    for path in sorted(tmp_path.glob("*.json")):
        assert (parity.SNAPSHOTS / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda s: f"{s['scenario']}-{s['source']['kind']}")
def test_emulator_answers_as_the_snapshot(snapshot: dict[str, Any], emulator: EmulatorServer) -> None:
    import httpx

    scenario = parity.BY_NAME[snapshot["scenario"]]
    with httpx.Client(
        base_url=emulator.base_url, headers={"x-goog-api-key": str(emulator.api_key)}
    ) as client:
        status, body = parity.send(client, scenario)
    assert parity.differences(snapshot, status, body) == []


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda s: f"{s['scenario']}-{s['source']['kind']}")
def test_hook_reads_the_snapshot(snapshot: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = parity.BY_NAME[snapshot["scenario"]]
    call, error, phrase = HOOK_CALLS[snapshot["scenario"]]
    path = scenario.path.replace(".", r"\.")
    with ScriptedServer([Reply(scenario.method, path, snapshot["status"], snapshot["body"])]) as server:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            json.dumps(
                {
                    "conn_type": "gemini_batch",
                    "host": server.base_url,
                    "password": "parity-key",
                    "extra": json.dumps({"max_retries": 0, "api_version": parity.API}),
                }
            ),
        )
        with pytest.raises(error) as info:
            call(GeminiBatchHook(gemini_conn_id=CONN_ID))
        assert server.unmatched == []
    assert phrase in str(info.value)


def _standin_like_the_service(*, file_status: int) -> list[Reply]:
    """Answers for every scenario; ``file_status`` for a missing file (403 like the service, or a
    server that answers differently)."""
    snaps = {s["scenario"]: s for s in parity.public_snapshots()}
    replies = []
    for name, scenario in parity.BY_NAME.items():
        status, body = snaps[name]["status"], snaps[name]["body"]
        if name in ("missing_file", "delete_missing_file") and file_status != 403:
            status, body = (
                file_status,
                {"error": {"code": file_status, "message": "gone", "status": "NOT_FOUND"}},
            )
        replies.append(Reply(scenario.method, scenario.path.replace(".", r"\."), status, body))
    return replies


def test_recording_writes_normalised_snapshots_without_the_key(tmp_path: Path) -> None:
    key = "AIza-parity-recording-key"
    with ScriptedServer(_standin_like_the_service(file_status=403)) as server:
        written = parity.record(server.base_url, key, tmp_path)
        sent = server.requests
    assert sorted(p.name for p in written) == sorted(f"{n}.recorded.json" for n in parity.BY_NAME)
    assert all(r.headers.get("x-goog-api-key") == key for r in sent)
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert key not in text
        snapshot = json.loads(text)
        assert snapshot["source"]["kind"] == "recorded"
        assert snapshot["source"]["api_version"] == parity.API
    recorded = parity.load(tmp_path)
    assert {s["scenario"]: s["status"] for s in recorded}["missing_file"] == 403


def test_a_recording_that_differs_from_the_emulator_names_each_difference(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    import httpx

    with ScriptedServer(_standin_like_the_service(file_status=404)) as server:
        parity.record(server.base_url, "k", tmp_path)
    found: list[str] = []
    with httpx.Client(
        base_url=emulator.base_url, headers={"x-goog-api-key": str(emulator.api_key)}
    ) as client:
        for snapshot in parity.load(tmp_path):
            status, body = parity.send(client, parity.BY_NAME[snapshot["scenario"]])
            found += parity.differences(snapshot, status, body)
    expected = []
    for name, method in (("delete_missing_file", "DELETE"), ("missing_file", "GET")):
        where = f"{name} ({method} /v1beta/files/parityabsent)"
        expected += [
            f"{where}: status 403, the service answered 404",
            f"{where}: error_status 'PERMISSION_DENIED', the service answered 'NOT_FOUND'",
            f"{where}: error_code 403, the service answered 404",
        ]
    assert found == expected
