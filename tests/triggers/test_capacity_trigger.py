"""The capacity trigger: watches the project's batches in flight and fires once a slot looks free.

Real triggers against the emulator (a project at its limit, a batch that ends) and against the
hostile stand-in (``tests/hostile``): a list that never ends is read to the page bound only, and
a list answer trickled byte by byte is cut by the call bound and ends in an ``error`` event after
the configured failures, not never.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.triggers.capacity import GeminiBatchCapacityTrigger
from tests.hostile.server import HostileServer, Rule, endless_pages, trickle
from tests.operators._support import MODEL, inline_requests, sync_hook

HOSTILE = "gemini_capacity_hostile"


async def _first_event(trigger: GeminiBatchCapacityTrigger) -> dict[str, Any]:
    try:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


def _fill(n: int) -> list[str]:
    """``n`` batches that stay RUNNING (the emulator's processing time is set to an hour)."""
    hook = sync_hook()
    return [str(hook.create_batch(MODEL, requests=inline_requests(1)).name) for _ in range(n)]


def _trigger(**kwargs: Any) -> GeminiBatchCapacityTrigger:
    defaults: dict[str, Any] = {"poll_interval": 0.1, "backoff_base": 0.01, "end_time": time.time() + 30}
    return GeminiBatchCapacityTrigger(**{**defaults, **kwargs})


async def test_fires_free_only_after_a_batch_of_the_full_project_ends(gemini_conn: EmulatorServer) -> None:
    """At the emulator's limit of 2, the trigger (default limit 100: the service refused below it)
    waits while 2 are in flight and fires ``free`` once one of them is cancelled."""
    gemini_conn.control.configure(max_active_batches=2, processing_seconds=3600)
    names = await asyncio.to_thread(_fill, 2)
    task = asyncio.ensure_future(_first_event(_trigger()))
    await asyncio.sleep(0.5)
    assert not task.done(), "the trigger fired while the project was still at its limit"
    await asyncio.to_thread(sync_hook().cancel_batch, names[0])
    event = await asyncio.wait_for(task, timeout=15)
    assert event["status"] == "free", event["message"]
    assert event["running"] == 1
    assert "slot looks free" in event["message"]


async def test_times_out_at_end_time_when_no_slot_frees(gemini_conn: EmulatorServer) -> None:
    gemini_conn.control.configure(max_active_batches=1, processing_seconds=3600)
    await asyncio.to_thread(_fill, 1)
    event = await asyncio.wait_for(_first_event(_trigger(limit=1, end_time=time.time() + 1.0)), timeout=15)
    assert event["status"] == "timeout", event["message"]
    assert event["running"] == 1
    assert "Nothing was created" in event["message"]


def test_round_trips_through_serialize() -> None:
    trigger = _trigger(limit=7, attempt=3)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_gemini_batch.triggers.capacity.GeminiBatchCapacityTrigger"
    assert GeminiBatchCapacityTrigger(**kwargs).serialize() == (path, kwargs)
    assert all(isinstance(v, (str, int, float)) for v in kwargs.values())


async def test_a_list_that_never_ends_is_read_to_the_page_bound_only(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """Every page names a further one: one count reads ``max_pages`` pages, then decides."""
    server = hostile_server([Rule("GET", r"/v1beta/batches.*", endless_pages("operations"))])
    hostile_conn(server, conn_id=HOSTILE, max_retries=0)
    event = await asyncio.wait_for(_first_event(_trigger(gemini_conn_id=HOSTILE, max_pages=5)), timeout=15)
    assert event["status"] == "free", event["message"]
    assert len(server.calls("GET", r"/v1beta/batches")) == 5


async def test_a_trickled_list_answer_is_cut_and_ends_in_an_error_event(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """Each page trickles one byte per 0.1 s: the call bound (2 x the 0.2 s timeout) cuts it, the
    failure is retried with backoff, and after ``max_consecutive_errors`` the trigger gives up."""
    server = hostile_server([Rule("GET", r"/v1beta/batches.*", trickle(interval=0.1))])
    hostile_conn(server, conn_id=HOSTILE, timeout=0.2, max_retries=0)
    started = time.monotonic()
    event = await asyncio.wait_for(
        _first_event(_trigger(gemini_conn_id=HOSTILE, max_consecutive_errors=2)), timeout=20
    )
    assert event["status"] == "error", event["message"]
    assert "timed out" in event["message"]
    assert len(server.calls("GET", r"/v1beta/batches")) == 2
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("waiters", [5])
async def test_waiters_of_one_connection_share_one_count(gemini_conn: EmulatorServer, waiters: int) -> None:
    """Several deferred creates of one connection share one list walk per refresh."""
    gemini_conn.control.configure(max_active_batches=1, processing_seconds=3600)
    await asyncio.to_thread(_fill, 1)
    gemini_conn.control.clear_journal()
    end = time.time() + 1.0
    events = await asyncio.wait_for(
        asyncio.gather(
            *(_first_event(_trigger(limit=1, poll_interval=0.4, end_time=end)) for _ in range(waiters))
        ),
        timeout=15,
    )
    assert {e["status"] for e in events} == {"timeout"}
    lists = [
        e for e in gemini_conn.control.journal() if e["method"] == "GET" and e["path"] == "/v1beta/batches"
    ]
    # One walk per 0.2 s refresh at most, shared by all waiters (not one per waiter per poll).
    assert 1 <= len(lists) <= 6, len(lists)
