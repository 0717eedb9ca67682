"""Faults survived (or reported) by the sync hook: 429 + Retry-After, 5xx bursts, timeouts, cuts."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import (
    GeminiRateLimitError,
    GeminiServerError,
    GeminiTransportError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import FAST_EXTRAS, api_requests, conn_env, make_request
from tests.hooks.proxy import CuttingProxy


def finished_file_batch(hook: GeminiBatchHook, write_jsonl: Callable[..., Path], keys: list[str]) -> Any:
    info = hook.upload_file(write_jsonl(keys))
    batch = hook.create_batch("gemini-2.5-flash", input_file=info.name)
    deadline = time.monotonic() + 20
    while not (batch := hook.get_batch(batch.name)).done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return batch


@pytest.fixture
def patient_hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> GeminiBatchHook:
    """FAST_EXTRAS with a 10 s backoff cap: a Retry-After is honoured only up to the cap."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_PATIENT", conn_env(emulator, **{**FAST_EXTRAS, "retry_max_delay": 10})
    )
    return GeminiBatchHook(gemini_conn_id="gemini_patient")


def test_429_waits_at_least_retry_after(
    patient_hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    hook = patient_hook
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    emulator.control.inject_fault(method="GET", path="/batches/", status=429, retry_after=3, times=1)
    assert hook.get_batch(batch.name).name == batch.name
    assert sleeps == [3.0]


def test_429_retries_are_bounded(
    hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    emulator.control.inject_fault(method="GET", path="/v1beta/files", status=429, times=20)
    with pytest.raises(GeminiRateLimitError, match="429"):
        list(hook.list_files())
    attempts = 1 + int(FAST_EXTRAS["max_retries"])
    assert api_requests(emulator).count(("GET", "/v1beta/files")) == attempts
    assert len(sleeps) == attempts - 1


OPERATIONS: dict[str, tuple[str, str]] = {
    "get_batch": ("GET", r"/v1beta/batches/"),
    "list_batches": ("GET", r"/v1beta/batches\?"),
    "cancel_batch": ("POST", r":cancel"),
    "delete_batch": ("DELETE", r"/v1beta/batches/"),
    "get_file": ("GET", r"/v1beta/files/[a-z0-9]+$"),
    "list_files": ("GET", r"/v1beta/files\?"),
    "delete_file": ("DELETE", r"/v1beta/files/"),
    "download_file": ("GET", r":download"),
    "iter_results": ("GET", r":download"),
    "upload_start": ("POST", r"^/upload/v1beta/files$"),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_5xx_bursts_are_retried_on_every_call(
    operation: str,
    hook: GeminiBatchHook,
    emulator: EmulatorServer,
    write_jsonl: Callable[..., Path],
    tmp_path: Path,
    sleeps: list[float],
) -> None:
    batch = finished_file_batch(hook, write_jsonl, ["a", "b"])
    input_file = batch.raw["metadata"]["inputConfig"]["fileName"]
    method, path = OPERATIONS[operation]
    for status in (500, 502, 503):
        emulator.control.inject_fault(method=method, path=path, status=status, times=1)
    calls: dict[str, Callable[[], object]] = {
        "get_batch": lambda: hook.get_batch(batch.name),
        "list_batches": lambda: list(hook.list_batches()),
        "cancel_batch": lambda: hook.cancel_batch(batch.name),
        "delete_batch": lambda: hook.delete_batch(batch.name),
        "get_file": lambda: hook.get_file(input_file),
        "list_files": lambda: list(hook.list_files()),
        "delete_file": lambda: hook.delete_file(input_file),
        "download_file": lambda: hook.download_file(batch.responses_file, tmp_path / "r.jsonl"),
        "iter_results": lambda: list(hook.iter_results(batch)),
        "upload_start": lambda: hook.upload_file(write_jsonl(["c"], name="again.jsonl")),
    }
    calls[operation]()
    assert emulator.control.pending_faults() == []
    assert len(sleeps) == 3


def test_create_is_not_repeated_after_a_server_error(
    hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    emulator.control.inject_fault(method="POST", path="batchGenerateContent", status=500, times=1)
    with pytest.raises(GeminiServerError, match="500"):
        hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    creates = [p for m, p in api_requests(emulator) if p.endswith(":batchGenerateContent")]
    assert len(creates) == 1
    assert sleeps == []


def test_create_is_retried_after_429(
    patient_hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    hook = patient_hook
    emulator.control.inject_fault(
        method="POST", path="batchGenerateContent", status=429, retry_after=1, times=2
    )
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    assert [b.name for b in hook.list_batches()] == [batch.name]
    assert sleeps == [1.0, 1.0]


@pytest.fixture
def slow_hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> GeminiBatchHook:
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_SLOW", conn_env(emulator, **{**FAST_EXTRAS, "timeout": 0.5}))
    return GeminiBatchHook(gemini_conn_id="gemini_slow")


def test_read_timeout_fires_and_the_retry_succeeds(
    slow_hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    emulator.control.inject_fault(method="GET", path="/v1beta/files", delay=1.5, times=2)
    assert list(slow_hook.list_files()) == []
    assert api_requests(emulator).count(("GET", "/v1beta/files")) == 3
    assert len(sleeps) == 2


def test_create_that_timed_out_is_not_repeated(
    slow_hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    emulator.control.inject_fault(method="POST", path="batchGenerateContent", delay=1.5, times=1)
    with pytest.raises(GeminiTransportError, match="timed out") as info:
        slow_hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    assert info.value.sent is True
    assert sleeps == []


def test_create_is_retried_when_the_connection_was_refused(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    conn = {
        "conn_type": "gemini_batch",
        "host": f"http://127.0.0.1:{port}",
        "password": "k",
        "extra": {"retry_initial_delay": 0.01, "max_retries": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_DOWN", json.dumps(conn))
    with pytest.raises(GeminiTransportError) as info:
        GeminiBatchHook(gemini_conn_id="gemini_down").create_batch(
            "gemini-2.5-flash", requests=[make_request("x")]
        )
    # Refused means never sent: safe to retry even a create.
    assert info.value.sent is False
    assert len(sleeps) == 2


def test_download_cut_off_midway_leaves_no_destination(
    emulator: EmulatorServer,
    hook: GeminiBatchHook,
    write_jsonl: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    batch = finished_file_batch(hook, write_jsonl, [f"k{i}" for i in range(200)])
    host, port = emulator.base_url.removeprefix("http://").split(":")
    out_dir = tmp_path / "landing"
    out_dir.mkdir()
    with CuttingProxy(host, int(port), cut_after=4000) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_GEMINI_CUT",
            conn_env(emulator, **FAST_EXTRAS).replace(emulator.base_url, proxy.base_url),
        )
        cut_hook = GeminiBatchHook(gemini_conn_id="gemini_cut")
        with pytest.raises(GeminiTransportError):
            cut_hook.download_file(batch.responses_file, out_dir / "results.jsonl")
    assert os.listdir(out_dir) == []
    assert len(sleeps) == int(FAST_EXTRAS["max_retries"])  # retried from scratch, then gave up


def test_delete_whose_answer_was_lost_still_succeeds(
    slow_hook: GeminiBatchHook, hook: GeminiBatchHook, emulator: EmulatorServer, sleeps: list[float]
) -> None:
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    # The first DELETE is answered only after the client timed out; the retry may find the batch
    # already gone (404), which must count as done, not as an error.
    emulator.control.inject_fault(method="DELETE", path="/batches/", delay=1.0, times=1)
    slow_hook.delete_batch(batch.name)
    assert len(sleeps) == 1
    time.sleep(1.0)  # let the delayed first DELETE finish on the server
    assert batch.name not in [b.name for b in hook.list_batches()]


def test_result_stream_cut_midway_is_read_again_without_losing_or_repeating(
    emulator: EmulatorServer,
    hook: GeminiBatchHook,
    write_jsonl: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    keys = [f"k{i}" for i in range(300)]
    batch = finished_file_batch(hook, write_jsonl, keys)
    host, port = emulator.base_url.removeprefix("http://").split(":")
    with CuttingProxy(host, int(port), cut_after=20_000, cut_connections=1) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_GEMINI_CUT_ONCE",
            conn_env(emulator, **FAST_EXTRAS).replace(emulator.base_url, proxy.base_url),
        )
        results = list(GeminiBatchHook(gemini_conn_id="gemini_cut_once").iter_results(batch))
        assert proxy.connections >= 2
    assert [r.key for r in results] == keys
    assert [r.index for r in results] == list(range(len(keys)))
    assert len(sleeps) == 1
