"""Control-plane answers are capped while they stream, in decoded bytes.

A 0.3 MB ``Content-Encoding: gzip`` answer that expands to 300 MiB made both hooks decode it whole
(``response.content``) and parse it: ~700 MB in the worker, and in the triggerer, whose memory
every trigger shares. Now the hooks ask for ``identity``, decode gzip/deflate themselves with a
cap, refuse other encodings, and stop reading a plain answer past the cap.

The memory ceiling is asserted with ``tracemalloc`` (Python allocations, machine-speed
independent); the whole-process figures are in ``docs/security.md`` (``ru_maxrss`` in a
subprocess).
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.wire_guard import MAX_ANSWER_BYTES, MAX_ASYNC_ANSWER_BYTES
from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.hostile.server import MIB, HostileServer, Rule, bomb_bytes, encoded, gzip_bomb, oversized, reply

BATCH = r"/v1beta/batches/abc"


def _peak(call: Callable[[], Any]) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        call()
    except Exception as exc:
        return exc, tracemalloc.get_traced_memory()[1]
    else:
        return None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _sync_get(conn_id: str) -> Callable[[], Any]:
    return lambda: GeminiBatchHook(gemini_conn_id=conn_id).get_batch("batches/abc")


def _async_get(conn_id: str) -> Callable[[], Any]:
    async def read() -> Any:
        hook = GeminiBatchAsyncHook(gemini_conn_id=conn_id, retry=False)
        try:
            return await hook.get_batch("batches/abc", light=True)
        finally:
            await hook.aclose()

    return lambda: asyncio.run(read())


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize(
    ("hook", "cap"), [(_sync_get, MAX_ANSWER_BYTES), (_async_get, MAX_ASYNC_ANSWER_BYTES)]
)
def test_a_compression_bomb_is_refused_within_the_cap(
    hook: Callable[[str], Callable[[], Any]],
    cap: int,
    encoding: str,
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
) -> None:
    assert len(bomb_bytes(300 * MIB, encoding)) < 400_000  # 0.3 MB on the wire
    server = hostile_server([Rule("GET", BATCH, gzip_bomb(300 * MIB, encoding))])
    error, peak = _peak(hook(hostile_conn(server)))
    assert isinstance(error, GeminiApiError), error
    assert f"larger than {cap} bytes" in str(error)
    # The old code held the whole 300 MiB (and its parse); now at most the cap and one block.
    assert peak < cap + 8 * MIB, f"peak {peak / MIB:.0f} MiB"


@pytest.mark.parametrize("hook", [_sync_get, _async_get])
def test_a_plain_answer_is_refused_past_the_cap(
    hook: Callable[[str], Callable[[], Any]],
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
) -> None:
    server = hostile_server([Rule("GET", BATCH, oversized(80 * MIB))])
    error, peak = _peak(hook(hostile_conn(server)))
    assert isinstance(error, GeminiApiError), error
    assert "bytes (decoded)" in str(error)
    assert peak < MAX_ANSWER_BYTES + 8 * MIB, f"peak {peak / MIB:.0f} MiB"


@pytest.mark.parametrize("encoding", ["br", "zstd", "x-unknown", "gzip, gzip"])
@pytest.mark.parametrize("hook", [_sync_get, _async_get])
def test_an_encoding_not_decoded_here_is_refused(
    hook: Callable[[str], Callable[[], Any]],
    encoding: str,
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
) -> None:
    server = hostile_server([Rule("GET", BATCH, encoded(b"\x00\x01not-really-compressed", encoding))])
    with pytest.raises(GeminiApiError) as caught:
        hook(hostile_conn(server))()
    assert "does not decode" in str(caught.value)


@pytest.mark.parametrize("hook", [_sync_get, _async_get])
def test_a_small_gzip_answer_is_still_read(
    hook: Callable[[str], Callable[[], Any]],
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
) -> None:
    """A proxy that compresses anyway (despite ``Accept-Encoding: identity``) still works."""
    import gzip
    import json

    operation = {"name": "batches/abc", "metadata": {"state": "BATCH_STATE_RUNNING"}}
    server = hostile_server(
        [Rule("GET", BATCH, encoded(gzip.compress(json.dumps(operation).encode()), "gzip"))]
    )
    batch = hook(hostile_conn(server))()
    assert batch.name == "batches/abc"
    assert server.requests[0].headers["accept-encoding"] == "identity"


def test_the_sync_hooks_cap_is_a_hook_setting(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    server = hostile_server([Rule("GET", BATCH, reply(200, {"name": "batches/abc", "pad": "x" * 2048}))])
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    hook.max_answer_bytes = 1024
    with pytest.raises(GeminiApiError, match="larger than 1024 bytes"):
        hook.get_batch("batches/abc")
