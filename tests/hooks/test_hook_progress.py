"""Progress renews the retry budget: long uploads and slow result consumers survive a cut.

All tests run with the PRODUCTION retry settings (5 retries, 300 s deadline, 1 s first backoff):
the connection below sets no retry extras. Time is shortened only at the two boundaries of
``_core.retry``: ``retry.sleep`` records the wait and advances a fake clock instead of sleeping,
and ``retry.monotonic`` (the clock the deadline is read from) returns that fake clock. Cut
connections are real (``tests/hooks/proxy.py``) or scripted emulator faults.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core import retry
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import conn_env, make_request
from tests.hooks.proxy import CuttingProxy
from tests.hooks.test_hook_upload import chunk_entries, sha256_b64

PROD_CONN_ID = "gemini_prod_retry"


class FakeClock:
    """The retry clock: ``scale`` fake seconds per real second, plus what was advanced by hand.

    ``sleep`` (the retry sleep boundary) advances the clock by the wait and returns at once.
    """

    def __init__(self, scale: float = 0.0) -> None:
        self.scale = scale
        self.advanced = 0.0
        self.sleeps: list[float] = []
        self._t0 = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.scale + self.advanced

    def advance(self, seconds: float) -> None:
        self.advanced += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advanced += seconds


@pytest.fixture
def prod_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``gemini_prod_retry``: the emulator with the default (production) retry settings."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{PROD_CONN_ID.upper()}", conn_env(emulator))
    return emulator


def install_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeClock:
    monkeypatch.setattr(retry, "monotonic", clock.monotonic)
    monkeypatch.setattr(retry, "sleep", clock.sleep)
    return clock


def jsonl(path: Path, count: int, pad: int = 0) -> Path:
    with path.open("w") as fh:
        for i in range(count):
            fh.write(json.dumps({"key": f"k{i:05d}", "request": make_request(f"{i} " + "x" * pad)}) + "\n")
    return path


def finished_batch(hook: GeminiBatchHook, path: Path) -> Batch:
    info = hook.upload_file(path)
    batch = hook.create_batch("gemini-2.5-flash", input_file=info.name)
    deadline = time.monotonic() + 60
    while not (batch := hook.get_batch(batch.name)).done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert batch.responses_file
    return batch


def proxied_hook(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, proxy: CuttingProxy
) -> GeminiBatchHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_PROD_CUT", conn_env(emulator).replace(emulator.base_url, proxy.base_url)
    )
    return GeminiBatchHook(gemini_conn_id="gemini_prod_cut")


def emulator_host_port(emulator: EmulatorServer) -> tuple[str, int]:
    host, port = emulator.base_url.removeprefix("http://").split(":")
    return host, int(port)


# -- bug 1: an upload running longer than the deadline still resumes ---------------------------


def test_upload_running_past_the_deadline_resumes_after_a_cut_chunk(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 chunks of 10 kB, each answered 50 ms late; the clock runs 200x (each chunk "takes" 10 s),
    so the 41st chunk is cut ~400 s into the upload: past the 300 s deadline counted from the
    start, well within it counted from the last confirmed chunk."""
    clock = install_clock(monkeypatch, FakeClock(scale=200.0))
    path = jsonl(tmp_path / "long.jsonl", 1_000, pad=400)
    chunk = 10_000
    chunks = -(-path.stat().st_size // chunk)
    assert chunks >= 45
    prod_conn.control.inject_fault(method="POST", path="upload_id", delay=0.05, times=40)
    prod_conn.control.inject_fault(method="POST", path="upload_id", drop_after_bytes=1_000, times=1)
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID, upload_chunk_size=chunk)

    info = hook.upload_file(path)

    assert clock.monotonic() > 300  # the upload outlived the deadline
    assert info.sha256_hash == sha256_b64(path)
    commands = [e["headers"]["x-goog-upload-command"] for e in chunk_entries(prod_conn)]  # type: ignore[index]
    assert commands[40:42] == ["upload", "query"]  # cut at the 41st chunk, then resumed
    assert len(clock.sleeps) == 1


def test_upload_keeps_resuming_when_every_cut_follows_progress(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight chunks are cut before the server kept a byte (more cuts than max_retries=5), each
    after the previous one was resumed and a chunk confirmed: the retry count is per stretch
    without progress, not per upload (a guard for the one-loop structure; the old loop did this)."""
    clock = install_clock(monkeypatch, FakeClock())
    path = jsonl(tmp_path / "flaky.jsonl", 300, pad=300)
    for _ in range(8):
        prod_conn.control.inject_fault(method="POST", path="upload_id", drop_after_bytes=0, times=1)
        prod_conn.control.inject_fault(method="POST", path="upload_id", times=2)  # query, next chunk pass
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID, upload_chunk_size=5_000)

    info = hook.upload_file(path)

    assert info.sha256_hash == sha256_b64(path)
    assert len(clock.sleeps) == 8
    assert prod_conn.control.pending_faults() == []


def test_upload_whose_cut_chunks_each_left_bytes_on_the_server_completes(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk is cut 500 bytes in, eight times running, but the session keeps those bytes:
    each resume starts further on, which is progress even though no chunk was confirmed."""
    clock = install_clock(monkeypatch, FakeClock())
    path = jsonl(tmp_path / "flaky.jsonl", 100, pad=300)
    for _ in range(8):
        prod_conn.control.inject_fault(method="POST", path="upload_id", drop_after_bytes=500, times=1)
        prod_conn.control.inject_fault(method="POST", path="upload_id", times=1)  # the query passes
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID, upload_chunk_size=5_000)

    info = hook.upload_file(path)

    assert info.sha256_hash == sha256_b64(path)
    assert len(clock.sleeps) == 8


# -- bug 2: a result stream renews its budget and does not charge the consumer's time ---------


def test_slow_consumer_with_one_cut_connection_lands_every_row(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow consumer: the consumer spends 0.1 s per row (6,000 rows, 600 s in all) and
    the connection is cut once, three quarters in. The consumer's ~450 s before the cut are not
    the stream's; every row arrives once, in order."""
    rows = 6_000
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID)
    batch = finished_batch(hook, jsonl(tmp_path / "in.jsonl", rows))
    size = hook.get_file(str(batch.responses_file)).size_bytes
    assert size
    clock = install_clock(monkeypatch, FakeClock())
    with CuttingProxy(*emulator_host_port(prod_conn), cut_after=size * 3 // 4, cut_connections=1) as proxy:
        keys = []
        for result in proxied_hook(prod_conn, monkeypatch, proxy).iter_results(batch):
            keys.append(result.key)
            clock.advance(0.1)  # a slow consumer: writing the row somewhere far away
        assert proxy.connections == 2
    assert keys == [f"k{i:05d}" for i in range(rows)]
    assert len(clock.sleeps) == 1


def test_result_stream_cut_more_often_than_max_retries_completes_when_each_cut_made_progress(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight cuts (max_retries is 5), each connection getting further than the last: every
    reconnection brings new rows, so none of them exhausts the budget."""
    rows = 600
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID)
    batch = finished_batch(hook, jsonl(tmp_path / "in.jsonl", rows))
    size = hook.get_file(str(batch.responses_file)).size_bytes
    assert size
    clock = install_clock(monkeypatch, FakeClock())
    cuts = [size * n // 10 for n in range(1, 9)]  # headers included: each cut a bit further on
    with CuttingProxy(*emulator_host_port(prod_conn), cut_after=cuts) as proxy:
        keys = [r.key for r in proxied_hook(prod_conn, monkeypatch, proxy).iter_results(batch)]
        assert proxy.connections == 9
    assert keys == [f"k{i:05d}" for i in range(rows)]
    assert len(clock.sleeps) == 8


def test_download_cut_repeatedly_resumes_to_a_complete_file(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """download_file goes through the same resumable stream: eight cuts, one complete file."""
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID)
    batch = finished_batch(hook, jsonl(tmp_path / "in.jsonl", 400))
    size = hook.get_file(str(batch.responses_file)).size_bytes
    assert size
    clean = tmp_path / "clean.jsonl"
    hook.download_file(str(batch.responses_file), clean)
    install_clock(monkeypatch, FakeClock())
    with CuttingProxy(
        *emulator_host_port(prod_conn), cut_after=[size * n // 10 for n in range(1, 9)]
    ) as proxy:
        out = tmp_path / "cut.jsonl"
        written = proxied_hook(prod_conn, monkeypatch, proxy).download_file(str(batch.responses_file), out)
    assert written == size
    assert out.read_bytes() == clean.read_bytes()


def test_consumer_that_stops_early_closes_the_stream_without_retrying(
    prod_conn: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = GeminiBatchHook(gemini_conn_id=PROD_CONN_ID)
    batch = finished_batch(hook, jsonl(tmp_path / "in.jsonl", 50))
    clock = install_clock(monkeypatch, FakeClock())
    results = hook.iter_results(batch)
    assert next(results).key == "k00000"
    results.close()  # GeneratorExit passes through the retry loop untouched
    assert clock.sleeps == []
