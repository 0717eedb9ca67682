"""GeminiBatchAsyncHook over a real socket: calls, retries, shared client, no loop stalls."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_gemini_batch._core import retry
from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError, GeminiNotFoundError
from airflow_provider_gemini_batch.hooks import gemini_batch_async
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchAsyncHook, GeminiBatchHook
from tests.hooks.conftest import FAST_CONN_ID, FAST_EXTRAS, conn_env, make_request


@pytest.fixture
def async_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry, "async_sleep", record)
    return waits


async def test_get_and_cancel_batch(hook: GeminiBatchHook, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=60)
    batch = await asyncio.to_thread(hook.create_batch, "gemini-2.5-flash", requests=[make_request("x")])
    ahook = GeminiBatchAsyncHook(gemini_conn_id=FAST_CONN_ID)
    try:
        seen = await ahook.get_batch(batch.name)
        assert seen.name == batch.name
        assert seen.state is BatchState.PENDING
        await ahook.cancel_batch(batch.name)
        deadline = time.monotonic() + 10
        while not (seen := await ahook.get_batch(batch.name)).done:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert seen.state is BatchState.CANCELLED
        with pytest.raises(GeminiNotFoundError):
            await ahook.get_file("files/doesnotexist")
    finally:
        await ahook.aclose()


async def test_async_retries_5xx_and_429(
    hook: GeminiBatchHook,
    emulator: EmulatorServer,
    async_sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch = await asyncio.to_thread(hook.create_batch, "gemini-2.5-flash", requests=[make_request("x")])
    emulator.control.inject_fault(method="GET", path="/batches/", status=503, times=1)
    emulator.control.inject_fault(method="GET", path="/batches/", status=429, retry_after=2, times=1)
    # A Retry-After is honoured up to the backoff cap (retry_max_delay): give it room for 2 s.
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_PATIENT", conn_env(emulator, **{**FAST_EXTRAS, "retry_max_delay": 10})
    )
    ahook = GeminiBatchAsyncHook(gemini_conn_id="gemini_patient")
    try:
        assert (await ahook.get_batch(batch.name)).name == batch.name
    finally:
        await ahook.aclose()
    assert len(async_sleeps) == 2
    assert async_sleeps[1] == 2.0


async def test_many_hooks_share_one_client_until_the_last_closes(fast_conn: EmulatorServer) -> None:
    await gemini_batch_async.aclose_shared_clients()
    hooks = [GeminiBatchAsyncHook(gemini_conn_id=FAST_CONN_ID) for _ in range(50)]
    results = await asyncio.gather(*(h.get_batch("batches/missing") for h in hooks), return_exceptions=True)
    assert all(isinstance(r, GeminiNotFoundError) for r in results)
    assert gemini_batch_async.shared_client_count() == 1
    for h in hooks[:-1]:
        await h.aclose()
    assert gemini_batch_async.shared_client_count() == 1
    await hooks[-1].aclose()
    assert gemini_batch_async.shared_client_count() == 0


async def test_async_missing_connection_is_a_config_error() -> None:
    with pytest.raises(GeminiConnectionConfigError, match="does not exist"):
        await GeminiBatchAsyncHook(gemini_conn_id="no_such_async_conn").get_batch("batches/x")


async def test_a_slow_server_does_not_block_the_event_loop(fast_conn: EmulatorServer) -> None:
    fast_conn.control.inject_fault(method="GET", path="/batches/", delay=0.5, status=404, times=1)
    ahook = GeminiBatchAsyncHook(gemini_conn_id=FAST_CONN_ID)
    ticks = 0
    longest_gap = 0.0

    async def ticker() -> None:
        nonlocal ticks, longest_gap
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            longest_gap = max(longest_gap, now - last)
            last = now
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        with pytest.raises(GeminiNotFoundError):
            await ahook.get_batch("batches/slow")
    finally:
        task.cancel()
        await ahook.aclose()
    # The loop kept running while the request waited ~0.5 s on the server.
    assert ticks >= 10
    assert longest_gap < 0.4  # a blocking call would stall it for the whole 0.5 s
