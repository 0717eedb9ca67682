"""Waits in the triggerer stay bounded in time against a server that trickles its answers.

httpx applies the connection's ``timeout`` to each socket read, so a server sending one byte every
0.2 s keeps a call alive for ever. These tests run real triggers against the hostile stand-in
(``tests/hostile``: ``trickle`` sends the headers, then one byte at a time, never finishing the
answer) on a real socket, next to the emulator for a healthy connection, and show:

* the poll slots of one sick origin are its own: triggers of a healthy connection whose batch has
  finished get their event at once while as many triggers as there are slots hang on the sick one;
* a trigger stuck in a trickling answer ends with a ``timeout`` event at its ``end_time``;
* one call is bounded in total time by the triggerer itself (``min(2 x timeout,
  max_call_seconds)``, whatever the hook bounds on its own): the slot is freed and the poll
  retried, for a GET and for a shared list page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.triggers import _bounds as bounds_module
from airflow_provider_gemini_batch.triggers import _poller as poller_module
from airflow_provider_gemini_batch.triggers import gemini_batch as trigger_module
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.hostile.server import HostileServer, Rule, trickle
from tests.operators._support import MODEL, inline_requests, sync_hook

SICK_CONN = "gemini_sick"


def _finished_batch() -> str:
    """A batch of the emulator that has reached SUCCEEDED (0.2 s after creation)."""
    hook = sync_hook()
    name = str(hook.create_batch(MODEL, requests=inline_requests(1)).name)
    deadline = time.monotonic() + 10
    while not hook.get_batch(name).done:
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


async def _until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _cancel(tasks: list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def sick(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> Callable[..., HostileServer]:
    """``sick(timeout=...)``: a server trickling every answer, behind connection ``gemini_sick``."""

    def start(timeout: float) -> HostileServer:
        server = hostile_server([Rule("GET", r"/v1beta/batches.*", trickle(interval=0.2))], name="sick")
        hostile_conn(server, conn_id=SICK_CONN, timeout=timeout)
        return server

    return start


async def test_a_healthy_connection_gets_its_event_while_every_poll_slot_hangs_on_a_trickling_one(
    gemini_conn: EmulatorServer, sick: Callable[..., HostileServer]
) -> None:
    """As many sick triggers as there are poll slots (8 by default), each stuck in a trickling GET
    (their connection's timeout of 30 s bounds a call to 60 s, far beyond this test): the trigger of
    a healthy connection whose batch already succeeded gets its event within a second."""
    server = sick(timeout=30)
    done = await asyncio.to_thread(_finished_batch)
    n = trigger_module.MAX_CONCURRENT_POLLS
    stuck = [
        asyncio.ensure_future(
            _first_event(
                GeminiBatchTrigger(
                    batch_name=f"batches/sick{i}",
                    gemini_conn_id=SICK_CONN,
                    poll_interval=0.2,
                    end_time=time.time() + 120,
                )
            )
        )
        for i in range(n)
    ]
    try:
        await _until(lambda: len(server.requests) >= n, 10, f"{n} polls in flight on the sick server")
        started = time.monotonic()
        event = await asyncio.wait_for(
            _first_event(GeminiBatchTrigger(batch_name=done, poll_interval=0.2, end_time=time.time() + 60)),
            timeout=15,
        )
        waited = time.monotonic() - started
        assert not any(task.done() for task in stuck), "the sick triggers were expected to hang still"
    finally:
        await _cancel(stuck)
    assert event["status"] == "success", event["message"]
    assert waited < 1.0, f"the healthy connection's event took {waited:.2f} s"


async def test_a_trigger_stuck_in_a_trickling_answer_times_out_at_its_end_time(
    sick: Callable[..., HostileServer],
) -> None:
    server = sick(timeout=30)  # a call may take 60 s: only end_time can end this wait in time
    end_time = time.time() + 3.0  # more than LAST_READ_SECONDS (2 s) away
    trigger = GeminiBatchTrigger(
        batch_name="batches/stuck", gemini_conn_id=SICK_CONN, poll_interval=0.2, end_time=end_time
    )
    event = await asyncio.wait_for(_first_event(trigger), timeout=20)
    late = time.time() - end_time
    assert event["status"] == "timeout", event["message"]
    assert "deadline passed" in event["message"]
    # The read was started more than LAST_READ_SECONDS before the deadline (a read started later
    # gets that long, to see a batch that ended just before): it is cut at end_time itself.
    assert -0.05 <= late <= 0.5, f"the timeout came {late:.2f} s after end_time"
    assert len(server.requests) == 1


@pytest.fixture
def call_cap(monkeypatch: pytest.MonkeyPatch) -> float:
    """``[gemini_batch] max_call_seconds`` at 0.5 s, far below the connections' timeouts here: a
    cut then comes from the triggerer's own bound, whatever the hook bounds by itself."""
    monkeypatch.setattr(bounds_module, "MAX_CALL_SECONDS", 0.5)
    return 0.5


async def test_a_trickling_get_is_cut_at_the_call_bound_and_retried(
    sick: Callable[..., HostileServer], call_cap: float
) -> None:
    """Each GET is cut after ``min(2 x timeout, max_call_seconds)`` = 0.5 s (a retryable timeout),
    the slot freed and the poll retried with the trigger's backoff, instead of one GET hanging for
    ever (the connection's timeout of 30 s bounds each read only)."""
    server = sick(timeout=30)
    trigger = GeminiBatchTrigger(
        batch_name="batches/stuck",
        gemini_conn_id=SICK_CONN,
        poll_interval=0.2,
        end_time=time.time() + 60,
        backoff_base=0.05,
        backoff_cap=0.1,
    )
    task = asyncio.ensure_future(_first_event(trigger))
    try:
        await _until(lambda: len(server.requests) >= 3, 8, "a third GET on the sick server")
    finally:
        await _cancel([task])


async def test_a_trickling_list_page_is_cut_and_the_shared_reads_retried(
    sick: Callable[..., HostileServer], call_cap: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From four waits on (set here) reads go through the shared list walk: a trickling page is cut
    at the call bound and its reads fail over to a retry, so the walker does not hold the
    connection's reads for ever."""
    monkeypatch.setattr(poller_module, "SHARED_LIST_MIN_WAITS", 4)
    server = sick(timeout=30)
    triggers = [
        GeminiBatchTrigger(
            batch_name=f"batches/stuck{i}",
            gemini_conn_id=SICK_CONN,
            poll_interval=0.2,
            end_time=time.time() + 60,
            backoff_base=0.05,
            backoff_cap=0.1,
        )
        for i in range(6)
    ]
    tasks = [asyncio.ensure_future(_first_event(t)) for t in triggers]
    try:
        await _until(
            lambda: len(server.calls("GET", r"/v1beta/batches")) >= 2, 8, "a second list page request"
        )
    finally:
        await _cancel(tasks)
