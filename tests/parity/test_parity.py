"""The parity suite: the hook and the emulator held to the snapshots of the real service.

* every snapshot is served to the real hook by a scripted stand-in: each answer must be parsed;
* the emulator runs each scenario and must answer with the snapshot's status, field names and
  JSON types (values that vary are placeholders). A known difference is an ``xfail`` naming it,
  strict: when the emulator is fixed the test says so;
* the recorder itself runs in the suite against the emulator and a stand-in, so it cannot rot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.parity import public, record
from tests.parity.replay import HOOK_DRIVERS, differences, script
from tests.parity.scenarios import SCENARIOS
from tests.parity.snapshot import SNAPSHOT_DIR, read_snapshot
from tests.real_service import captures
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import connect

FAKE_KEY = "AIzaParityFakeKey-0123456789abcdefghijkl"
NOT_FOUND = {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
#: Recorder options for local servers: quick polls, and a poll that never ends fails in seconds.
FAST: dict[str, Any] = {"log": lambda _: None, "poll_interval": 0.05, "timeout": 10}
SNAPSHOTS = sorted(path.stem for path in SNAPSHOT_DIR.glob("*.json"))

_CREATED = "the emulator's created batch carries batchStats{}; the cookbook's (Batch_mode cell 44) has none"
_FINISHED = "the emulator's finished batch carries metadata.updateTime; the live capture has none"
#: scenario → what the emulator does differently from the snapshot today (by its source).
KNOWN_DIFFERENCES: dict[str, str] = {
    "create_from_file": f"{_CREATED.format(' and inputConfig')}; {_FINISHED}",
    "embeddings_from_file": f"{_CREATED.format(' and inputConfig')}; {_FINISHED}",
    "create_inline": f"{_CREATED.format('')}; {_FINISHED}",
    "cancel_batch": f"{_CREATED.format('')}; the cancelled batch carries metadata.updateTime",
    "delete_batch": _CREATED.format(""),
    "bad_request_field": (
        "a file line with the flat SDK field thinking_config: the service refuses the create (400), "
        "the emulator creates the batch"
    ),
}


def _known(name: str) -> Any:
    if name not in KNOWN_DIFFERENCES:
        return name
    mark = pytest.mark.xfail(strict=True, raises=AssertionError, reason=KNOWN_DIFFERENCES[name])
    return pytest.param(name, marks=mark)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(api_key=FAKE_KEY, processing_seconds=0.1) as server:
        yield server


def test_every_scenario_has_a_snapshot_with_its_source() -> None:
    assert sorted(SCENARIOS) == SNAPSHOTS
    for name in SNAPSHOTS:
        source = read_snapshot(name)["source"]
        if source["kind"] == "recorded":
            assert source["date"], name
            assert source["api_version"], name
        else:
            assert source["kind"] == "public", name
            assert source["from"], name


@pytest.mark.parametrize("name", [n for n in SNAPSHOTS if read_snapshot(n)["source"]["kind"] == "public"])
def test_public_snapshots_match_their_captures(name: str) -> None:
    """A public snapshot is rebuilt from ``tests/real_service/captures*``: they must not drift apart."""
    assert read_snapshot(name) == json.loads(json.dumps(public.build(name)))


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_hook_parses_every_answer_of_the_snapshot(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = read_snapshot(name)
    with ScriptedServer(script(snapshot)) as server:
        last = snapshot["exchanges"][-1]["response"]["status"]
        HOOK_DRIVERS[name](connect(monkeypatch, server), tmp_path, last)
    assert server.unmatched == [], [(r.method, r.path) for r in server.unmatched]
    unused = [f"{r.method} {r.path}" for r in server.script if r.used == 0]
    assert unused == [], f"{name}: answers the hook never asked for"


@pytest.mark.parametrize("name", [_known(n) for n in SNAPSHOTS])
def test_emulator_answers_like_the_snapshot(name: str, emulator: EmulatorServer) -> None:
    found = differences(read_snapshot(name), emulator.base_url, FAKE_KEY)
    print(found)
    assert found == [], "\n".join(found)


# -- the recorder, exercised so it cannot rot -----------------------------------------------------


def test_recorder_writes_normalised_key_free_snapshots(tmp_path: Path, emulator: EmulatorServer) -> None:
    paths = record.record_all(emulator.base_url, FAKE_KEY, directory=tmp_path, **FAST)

    assert sorted(p.stem for p in paths) == sorted(SCENARIOS)
    for path in paths:
        text = path.read_text()
        assert FAKE_KEY not in text, path.name
        assert emulator.base_url not in text, path.name
        assert not re.search(r"(batches|files)/[A-Za-z0-9_-]+(?![A-Za-z0-9_<-])", text), path.name
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text), path.name
        snapshot = json.loads(text)
        assert snapshot["source"]["kind"] == "recorded"
        assert snapshot["source"]["date"]
        # What the emulator recorded, the emulator matches; and the hook parses it.
        assert differences(snapshot, emulator.base_url, FAKE_KEY) == [], path.name


def test_recorder_refuses_to_run_without_a_key(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert record.main([]) == 2
    assert "needs GEMINI_API_KEY" in capsys.readouterr().err


def test_a_key_echoed_by_the_server_is_never_written(tmp_path: Path) -> None:
    echo = {"error": {"code": 400, "message": f"API key {FAKE_KEY} not valid.", "status": "INVALID_ARGUMENT"}}
    with ScriptedServer([Reply("GET", r".*", status=400, body=echo)]) as server:
        (path,) = record.record_all(
            server.base_url, FAKE_KEY, directory=tmp_path, names=["unknown_batch"], **FAST
        )
        sent = server.requests
    assert [r.headers.get("x-goog-api-key") for r in sent] == [FAKE_KEY]
    assert FAKE_KEY not in path.read_text()
    assert "API key <key> not valid." in path.read_text()


def test_a_redirect_is_recorded_not_followed(tmp_path: Path) -> None:
    """The key goes to the configured origin only: a server redirecting elsewhere gets no second request."""
    with ScriptedServer([Reply("GET", r".*", status=404, body=NOT_FOUND)]) as elsewhere:
        away = Reply("GET", r".*", status=302, headers={"Location": f"{elsewhere.base_url}/v1beta/x"})
        with ScriptedServer([away]) as server:
            (path,) = record.record_all(
                server.base_url, FAKE_KEY, directory=tmp_path, names=["unknown_batch"], **FAST
            )
        assert elsewhere.requests == []
    assert read_snapshot("unknown_batch", tmp_path)["exchanges"][0]["response"]["status"] == 302
    assert FAKE_KEY not in path.read_text()


def test_a_server_that_answers_otherwise_is_named_difference_by_difference(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    """Recorded from a server unlike the emulator, the replay names scenario, request and each difference."""
    file_with_number_size = dict(captures.COOKBOOK_EMBEDDINGS_FILE, sizeBytes=202)
    file_without_source = {k: v for k, v in captures.COOKBOOK_EMBEDDINGS_FILE.items() if k != "source"}
    other = [
        Reply("POST", r"/upload/v1beta/files", headers=captures.UPLOAD_START_HEADERS, times=1),
        Reply("POST", r"/upload/v1beta/files", body={"file": file_with_number_size}, times=1),
        Reply(
            "GET",
            r"/v1beta/files/[^/]+",
            body=json.dumps(file_without_source).encode(),
            headers={"Content-Type": "text/plain"},
        ),
        Reply("GET", r"/v1beta/batches/[^/]+", status=400, body={"error": {"code": 400, "message": "no"}}),
    ]
    with ScriptedServer(other) as server:
        record.record_all(
            server.base_url,
            FAKE_KEY,
            directory=tmp_path,
            names=["upload_file", "unknown_batch"],
            **FAST,
        )

    found = []
    for name in ("upload_file", "unknown_batch"):
        found += differences(read_snapshot(name, tmp_path), emulator.base_url, FAKE_KEY)

    session = "/upload/v1beta/files?upload_id=<token>&upload_protocol=resumable"
    upload = f"scenario upload_file, request 2 POST {session}"
    get_file = "scenario upload_file, request 3 GET /v1beta/files/<id>"
    get_batch = "scenario unknown_batch, request 1 GET /v1beta/batches/<id>"
    assert found == [
        f"{upload}: body.file.sizeBytes: number in the snapshot, string in the answer",
        f"{get_file}: header content-type: 'text/plain' in the snapshot, 'application/json' in the answer",
        f"{get_file}: body.source: in the answer, not in the snapshot",
        f"{get_batch}: status: 400 in the snapshot, 404 in the answer",
        f"{get_batch}: body.error.status: in the answer, not in the snapshot",
    ]
