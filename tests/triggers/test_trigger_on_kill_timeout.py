"""on_kill's cancel that outlives its time limit is logged, not raised.

(``asyncio.wait_for``'s TimeoutError is no GeminiBatchError.)
"""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.triggers import gemini_batch as trigger_mod
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.operators._support import MODEL, inline_requests, sync_hook, use_connection


async def test_on_kill_whose_cancel_times_out_does_not_raise(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator answers the cancel 2 s late; on_kill allows it 0.3 s (the 20 s production limit,
    shortened: it is the time Airflow gives on_kill, not a retry setting). Production retry settings."""
    use_connection(monkeypatch, emulator)
    emulator.control.configure(processing_seconds=600)
    name = str(sync_hook().create_batch(MODEL, requests=inline_requests(1)).name)
    emulator.control.inject_fault(method="POST", path=":cancel", delay=2.0, times=1)
    monkeypatch.setattr(trigger_mod, "ON_KILL_CANCEL_TIMEOUT", 0.3)
    trigger = GeminiBatchTrigger(
        batch_name=name,
        gemini_conn_id="gemini_batch_default",
        poll_interval=1,
        end_time=0,
        cancel_on_kill=True,
    )
    try:
        await trigger.on_kill()  # must not raise
    finally:
        await trigger.cleanup()
