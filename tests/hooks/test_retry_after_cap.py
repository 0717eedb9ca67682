"""A ``Retry-After`` is honoured only up to the connection's backoff cap (``retry_max_delay``).

One 429 asking for a day (``Retry-After: 86400``) used to end the sync call at once (the wait would
cross ``retry_deadline``), although the service answered the very next request. These tests run
real calls against the emulator (one 429 with ``Retry-After: 86400``, then the normal answer) and
sleep for real: the call must complete within the cap, not give up and not sleep for a day.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.hooks.conftest import conn_env, make_request

CONN_ID = "gemini_capped"
#: The connection's backoff cap, seconds (retry_max_delay).
CAP = 0.5
#: What the stand-in asks for: a whole day.
A_DAY = 86400


@pytest.fixture
def capped_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        conn_env(emulator, retry_initial_delay=0.01, retry_max_delay=CAP, timeout=5, max_retries=3),
    )
    return emulator


def _batch(emulator: EmulatorServer) -> str:
    hook = GeminiBatchHook(gemini_conn_id=CONN_ID)
    name = str(hook.create_batch("gemini-2.5-flash", requests=[make_request("x")]).name)
    emulator.control.inject_fault(method="GET", path="/batches/", status=429, retry_after=A_DAY, times=1)
    return name


def test_sync_call_with_a_day_long_retry_after_completes_within_the_backoff_cap(
    capped_conn: EmulatorServer,
) -> None:
    name = _batch(capped_conn)
    started = time.monotonic()
    batch = GeminiBatchHook(gemini_conn_id=CONN_ID).get_batch(name)
    took = time.monotonic() - started
    assert batch.name == name
    assert CAP * 0.9 <= took < CAP + 3, f"the call took {took:.2f} s (cap {CAP} s)"


async def test_async_call_with_a_day_long_retry_after_completes_within_the_backoff_cap(
    capped_conn: EmulatorServer,
) -> None:
    name = await asyncio.to_thread(_batch, capped_conn)
    ahook = GeminiBatchAsyncHook(gemini_conn_id=CONN_ID)
    started = time.monotonic()
    try:
        batch = await ahook.get_batch(name)
    finally:
        await ahook.aclose()
    took = time.monotonic() - started
    assert batch.name == name
    assert CAP * 0.9 <= took < CAP + 3, f"the call took {took:.2f} s (cap {CAP} s)"
