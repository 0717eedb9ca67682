"""The worker-side wait near a batch's 48 h expiry: it says so once, whatever the policy.

The wait's wall clock (``time.time`` as ``operators/_wait.py`` sees it, the clock boundary) is
moved 43 hours past the batch's ``createTime``; the batch itself is a real emulator batch.
"""

from __future__ import annotations

import logging
import time
import types
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.pending import PendingWatch
from airflow_provider_gemini_batch._core.waiting import WaitTracker
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators import _wait
from tests.operators._support import MODEL, inline_requests, sync_hook


def _later(monkeypatch: pytest.MonkeyPatch, hours: float) -> None:
    shifted: Any = types.SimpleNamespace(
        time=lambda: time.time() + hours * 3600, monotonic=time.monotonic, sleep=time.sleep
    )
    monkeypatch.setattr(_wait, "time", shifted)


def test_a_running_batch_near_expiry_is_announced_once(
    gemini_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gemini_conn.control.configure(processing_seconds=600)
    hook = sync_hook()
    name = hook.create_batch(MODEL, requests=inline_requests(1)).name
    _later(monkeypatch, 43)
    log = logging.getLogger("test.pending")
    tracker, watch = WaitTracker(name), PendingWatch(name, timeout=None)
    with caplog.at_level(logging.WARNING, logger="test.pending"):
        for _ in range(3):
            batch, _step = _wait.poll_once(hook, tracker, log, watch)
    assert batch.state.short in ("PENDING", "RUNNING")
    said = [r.getMessage() for r in caplog.records if "expires in about" in r.getMessage()]
    assert len(said) == 1
    assert f"Batch {name} was created 1 d 19 h ago" in said[0]
    assert "expires in about 4 h 59 min" in said[0] or "expires in about 5 h 0 min" in said[0]


def test_a_pending_batch_past_the_timeout_stops_a_fail_wait(
    gemini_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gemini_conn.control.configure(hold_pending=1)
    hook = sync_hook()
    name = hook.create_batch(MODEL, requests=inline_requests(1)).name
    _later(monkeypatch, 7)
    with pytest.raises(_wait.PendingTooLong) as caught:
        _wait.poll_once(hook, WaitTracker(name), logging.getLogger("t"), PendingWatch(name, 6 * 3600, "fail"))
    assert caught.value.signal.batch_name == name
    assert caught.value.signal.age >= 7 * 3600
