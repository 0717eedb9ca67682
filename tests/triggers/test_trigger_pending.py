"""The trigger on a batch stuck in PENDING: it flags, hands the verdict back, and never acts itself.

Driven directly (``run()`` in the test's event loop) against the emulator holding batches PENDING.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.operators._support import MODEL, inline_requests, sync_hook


def _trigger(batch_name: str, **kwargs: Any) -> GeminiBatchTrigger:
    return GeminiBatchTrigger(
        batch_name=batch_name,
        poll_interval=0.05,
        end_time=time.time() + 60,
        **kwargs,
    )


async def _event(trigger: GeminiBatchTrigger) -> dict[str, Any]:
    try:
        return next(iter([event.payload async for event in trigger.run()]))
    finally:
        await trigger.cleanup()


def _gets(emulator: EmulatorServer, name: str) -> int:
    path = f"/v1beta/{name}"
    return sum(1 for e in emulator.control.journal() if e["method"] == "GET" and e["path"] == path)


@pytest.mark.parametrize("policy", ["fail", "recreate"])
def test_a_stuck_batch_ends_the_wait_with_a_pending_timeout_event_and_nothing_else(
    gemini_conn: EmulatorServer, policy: str
) -> None:
    gemini_conn.control.configure(hold_pending=1)
    name = sync_hook().create_batch(MODEL, requests=inline_requests(1)).name
    gemini_conn.control.clear_journal()
    event = asyncio.run(_event(_trigger(name, pending_timeout=0.3, on_pending_timeout=policy)))

    assert event["status"] == "pending_timeout"
    assert event["batch_name"] == name
    assert event["pending"]["age"] >= 0.3
    assert event["pending"]["limit"] == 0.3
    assert event["pending"]["timed_from_create"] is True
    assert f"on_pending_timeout={policy!r}" in event["message"]
    # The trigger only read: no cancel, no create (the task applies the policy on a worker).
    assert {(e["method"], e["path"]) for e in gemini_conn.control.journal()} == {("GET", f"/v1beta/{name}")}


def test_a_restarted_trigger_keeps_counting_from_create_time(gemini_conn: EmulatorServer) -> None:
    """Built 0.6 s after the batch was created, with a 0.5 s pending_timeout: its very first poll
    flags the batch (a clock started with the trigger would need ~10 more polls)."""
    gemini_conn.control.configure(hold_pending=1)
    name = sync_hook().create_batch(MODEL, requests=inline_requests(1)).name
    time.sleep(0.6)
    gemini_conn.control.clear_journal()
    event = asyncio.run(_event(_trigger(name, pending_timeout=0.5, on_pending_timeout="fail")))
    assert event["status"] == "pending_timeout"
    assert _gets(gemini_conn, name) == 1


def test_warn_keeps_waiting_and_the_success_event_carries_the_flag(
    gemini_conn: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    gemini_conn.control.configure(hold_pending=1, hold_pending_seconds=3.0)
    name = sync_hook().create_batch(MODEL, requests=inline_requests(1)).name
    event = asyncio.run(_event(_trigger(name, pending_timeout=0.3, on_pending_timeout="warn")))
    out, err = capfd.readouterr()
    assert event["status"] == "success"
    assert event["pending"]["age"] >= 0.3
    assert (out + err).count(f"Batch {name} has been PENDING for") == 1


def test_kwargs_round_trip_with_the_pending_settings() -> None:
    trigger = _trigger("batches/abc", pending_timeout=3600.0, on_pending_timeout="recreate")
    path, kwargs = trigger.serialize()
    assert kwargs["pending_timeout"] == 3600.0
    assert kwargs["on_pending_timeout"] == "recreate"
    assert GeminiBatchTrigger(**kwargs).serialize() == (path, kwargs)
