"""One retry layer in the triggerer: one failing batch must not hold up the others.

The trigger owns retrying: its hook makes one attempt per poll, the per-loop poll slot is held
only for the HTTP exchange, and the backoff (the policy of ``_core/retry.py``) is slept outside
the slot and never past ``end_time``. These tests run with the connection's PRODUCTION retry
settings (no ``max_retries`` override) and the trigger's default backoff: only poll intervals and
deadlines are shortened, so a hook that retries inside the slot shows up as the stall it causes.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.triggers import gemini_batch as trigger_module
from airflow_provider_gemini_batch.triggers._bounds import origin_of
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.operators._support import MODEL, inline_requests, sync_hook


def _create(n: int = 1) -> str:
    return str(sync_hook().create_batch(MODEL, requests=inline_requests(n)).name)


def _finished_batch() -> str:
    """A batch that has reached SUCCEEDED (the session emulator finishes batches in 0.2 s)."""
    name = _create()
    deadline = time.monotonic() + 10
    while not sync_hook().get_batch(name).done:
        assert time.monotonic() < deadline, f"{name} did not finish"
        time.sleep(0.05)
    return name


async def _first_event(trigger: GeminiBatchTrigger) -> dict[str, Any]:
    try:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


def _gets(emulator: EmulatorServer, name: str) -> list[dict[str, Any]]:
    return [e for e in emulator.control.journal() if e["method"] == "GET" and e["path"].endswith(name)]


@pytest.fixture
def one_poll_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """One poll in flight per loop and origin (each semaphore is built from this module attribute)."""
    monkeypatch.setattr(trigger_module, "MAX_CONCURRENT_POLLS", 1)


async def test_failing_batch_does_not_hold_the_poll_slot_while_backing_off(
    gemini_conn: EmulatorServer, one_poll_slot: None
) -> None:
    """A finished batch's event must not wait behind another batch's 503 + 429 Retry-After: 3."""
    done_name = _finished_batch()
    gemini_conn.control.configure(processing_seconds=600)
    failing = _create()
    # The failing batch's next polls: a 503, then a 429 asking for 3 s (the hook's connection keeps
    # its production retry settings, so a hook that retried itself would sleep inside the slot).
    gemini_conn.control.inject_fault(method="GET", path=re.escape(failing), status=503, times=1)
    gemini_conn.control.inject_fault(
        method="GET", path=re.escape(failing), status=429, retry_after=3, times=1
    )
    gemini_conn.control.clear_journal()  # count only the triggers' polls

    poll_interval = 0.5
    slow = GeminiBatchTrigger(batch_name=failing, poll_interval=poll_interval, end_time=time.time() + 30)
    slow_task = asyncio.ensure_future(_first_event(slow))
    # It reads its connection (to find the origin), takes the origin's only slot and starts its
    # first poll, so the finished batch's trigger queues behind it.
    slot = trigger_module._poll_limit(origin_of(gemini_conn.base_url))
    for _ in range(200):
        if slot.locked():
            break
        await asyncio.sleep(0.005)
    assert slot.locked()

    started = time.monotonic()
    event = await asyncio.wait_for(
        _first_event(
            GeminiBatchTrigger(batch_name=done_name, poll_interval=poll_interval, end_time=time.time() + 30)
        ),
        timeout=15,
    )
    waited = time.monotonic() - started
    slow_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow_task

    assert event["status"] == "success"
    assert waited < 2 * poll_interval, (
        f"the finished batch's event took {waited:.2f} s: it waited behind the other batch's backoff"
    )
    assert len(_gets(gemini_conn, done_name)) == 1
    assert _gets(gemini_conn, failing), "the failing batch was polled first"


async def test_trigger_never_sleeps_past_end_time_on_long_retry_after(gemini_conn: EmulatorServer) -> None:
    """A service that keeps answering 429 with a long Retry-After: the timeout comes at the deadline.

    The Retry-After is honoured (no poll before it elapses) and the wait is cut at ``end_time``.
    """
    gemini_conn.control.configure(processing_seconds=600)
    name = _create()
    gemini_conn.control.inject_fault(
        method="GET", path=re.escape(name), status=429, retry_after=60, times=100
    )
    end_time = time.time() + 1.0
    trigger = GeminiBatchTrigger(batch_name=name, poll_interval=0.1, end_time=end_time)

    event = await asyncio.wait_for(_first_event(trigger), timeout=10)
    arrived = time.time()

    assert event["status"] == "timeout"
    assert arrived - end_time < 0.5, f"the timeout came {arrived - end_time:.2f} s after end_time"
    # One poll: the next one would have come before the server's Retry-After ran out.
    assert len(_gets(gemini_conn, name)) == 1


async def test_408_is_retried_by_the_trigger_like_any_transient_error(gemini_conn: EmulatorServer) -> None:
    """408 is in the one retryable set (``_core.retry.is_retryable``): the trigger waits it out.

    Six 408s in a row outlast the hook's own retries (production: 5), so a trigger that judged
    408 a permanent client error would end with an ``error`` event. Only the trigger's backoff
    bounds are shortened here (its retry count is ``max_consecutive_errors``, default 10).
    """
    name = _finished_batch()
    gemini_conn.control.inject_fault(method="GET", path=re.escape(name), status=408, times=6)
    gemini_conn.control.clear_journal()  # count only the trigger's polls
    trigger = GeminiBatchTrigger(
        batch_name=name, poll_interval=0.1, end_time=time.time() + 60, backoff_base=0.02, backoff_cap=0.05
    )
    event = await asyncio.wait_for(_first_event(trigger), timeout=60)
    assert event["status"] == "success", event["message"]
    assert len(_gets(gemini_conn, name)) == 7  # six 408s, each one request, then the answer


def test_importing_the_trigger_does_not_load_requests() -> None:
    """The triggerer runs on httpx: loading the trigger must not pull in ``requests``."""
    code = (
        "import sys\n"
        "import airflow_provider_gemini_batch.triggers.gemini_batch\n"
        "print('requests' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


async def test_on_kill_cancel_is_retried_by_the_trigger(gemini_conn: EmulatorServer) -> None:
    """The hook no longer retries in the triggerer, so the cancel's retry moved to the trigger."""
    gemini_conn.control.configure(processing_seconds=600)
    name = _create()
    gemini_conn.control.inject_fault(method="POST", path=re.escape(f"{name}:cancel"), status=503, times=1)
    trigger = GeminiBatchTrigger(
        batch_name=name, poll_interval=0.1, cancel_on_kill=True, backoff_base=0.02, backoff_cap=0.05
    )
    try:
        await trigger.on_kill()
    finally:
        await trigger.cleanup()
    cancels = [e for e in gemini_conn.control.journal() if e["path"].endswith(":cancel")]
    assert len(cancels) == 2
    assert sync_hook().get_batch(name).state.short == "CANCELLED"


async def test_a_day_long_retry_after_is_capped_by_backoff_cap_and_the_finished_batch_is_reported(
    gemini_conn: EmulatorServer,
) -> None:
    """One 429 with ``Retry-After: 86400`` on a batch that has finished: the trigger polls again
    after ``backoff_cap`` and reports success, instead of sleeping to ``end_time`` and timing out."""
    name = _finished_batch()
    gemini_conn.control.inject_fault(
        method="GET", path=re.escape(name), status=429, retry_after=86400, times=1
    )
    cap = 0.5
    trigger = GeminiBatchTrigger(
        batch_name=name, poll_interval=0.1, end_time=time.time() + 20, backoff_base=0.02, backoff_cap=cap
    )
    started = time.monotonic()
    event = await asyncio.wait_for(_first_event(trigger), timeout=30)
    took = time.monotonic() - started
    assert event["status"] == "success", event["message"]
    assert took < cap + 3, f"the event took {took:.1f} s with a backoff cap of {cap} s"
