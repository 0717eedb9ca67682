"""The connection's ``timeout`` bounds a whole call, not each socket read.

Against the hostile stand-in's trickle (headers at once, then one byte every half second): every
read succeeds well within the socket timeout, so before the fix both hooks kept reading for as
long as the server kept trickling (here ~15 s, on a real sick upstream forever). Now a control
call gives up within ``timeout`` plus slack, naming the connection, and a download (where a total
deadline makes no sense for a 2 GB stream) gives up once it falls under the minimum rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiTransportError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.hostile.server import HostileServer, Rule, trickle

TIMEOUT = 1.5
#: Scheduling slack on a loaded 2-core machine; the old code took ~15 s.
SLACK = 2.0
#: Thirty bytes at two a second: the old code ended after ~15 s, not forever.
SLOW = trickle(
    interval=0.5, count=30, prefix=b'{"name": "batches/abc", "metadata": {"state": "BATCH_STATE_RUNNING"}'
)


def test_sync_call_gives_up_within_the_timeout(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    server = hostile_server([Rule("GET", r"/v1beta/batches/abc", SLOW)])
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server, timeout=TIMEOUT))
    start = time.monotonic()
    with pytest.raises(GeminiTransportError) as caught:
        hook.get_batch("batches/abc")
    elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + SLACK
    assert "gemini_hostile" in str(caught.value)
    assert "timeout" in str(caught.value)


def test_async_call_gives_up_within_the_timeout(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    server = hostile_server([Rule("GET", r"/v1beta/batches/abc", SLOW)])
    conn_id = hostile_conn(server, timeout=TIMEOUT)

    async def read() -> float:
        hook = GeminiBatchAsyncHook(gemini_conn_id=conn_id, retry=False)
        start = time.monotonic()
        try:
            with pytest.raises(GeminiTransportError) as caught:
                await hook.get_batch("batches/abc", light=True)
        finally:
            await hook.aclose()
        assert "gemini_hostile" in str(caught.value)
        return time.monotonic() - start

    assert asyncio.run(read()) < TIMEOUT + SLACK


def test_trickling_download_is_given_up_below_the_minimum_rate(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str], tmp_path: Path
) -> None:
    server = hostile_server([Rule("GET", r"/v1beta/files/abc:download", trickle(interval=0.5, count=30))])
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server, timeout=TIMEOUT, max_retries=3))
    start = time.monotonic()
    with pytest.raises(GeminiApiError) as caught:
        hook.download_file("files/abc", tmp_path / "out.jsonl")
    elapsed = time.monotonic() - start
    # One window of `timeout` seconds spent waiting, then given up (not retried: it would trickle again).
    assert elapsed < 2 * TIMEOUT + SLACK
    assert "too slow" in str(caught.value)
    assert len(server.requests) == 1
    assert not (tmp_path / "out.jsonl").exists()


def test_a_slow_consumer_does_not_count_against_the_download_rate(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """Only time spent waiting for bytes counts: a consumer that takes long per block is fine."""
    from tests.hostile.server import reply

    body = b"x" * 4096
    server = hostile_server([Rule("GET", r"/v1beta/files/abc:download", reply(200, body))])
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server, timeout=0.2))
    got = b""
    for block in hook.iter_file_blocks("files/abc"):
        time.sleep(0.5)  # the consumer, not the server, is slow
        got += block
    assert got == body
