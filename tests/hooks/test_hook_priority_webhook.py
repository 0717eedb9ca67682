"""Priority and webhook config on create, priority updates, and the emulator's
priority queue (``running_slots``), through the sync hook over a real socket."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiClientError, GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import make_request


def _creates(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return [c for c in emulator.control.journal() if c["path"].endswith(":batchGenerateContent")]


def test_create_sends_priority_as_int64_string_and_webhook_config_in_rest_spelling(
    hook: GeminiBatchHook, fast_conn: EmulatorServer
) -> None:
    hook.create_batch(
        "gemini-2.5-flash",
        requests=[make_request("hi")],
        priority=7,
        webhook_config={"uris": ["https://example.org/hook"], "user_metadata": {"team": "a"}},
    )
    body = _creates(fast_conn)[0]["json"]["batch"]
    assert body["priority"] == "7"
    assert body["webhookConfig"] == {"uris": ["https://example.org/hook"], "userMetadata": {"team": "a"}}


@pytest.mark.parametrize(
    "config",
    [
        {"uris": []},
        {"uris": ["ftp://x"]},
        {"uri": ["https://x"]},
        {"uris": ["https://x"], "user_metadata": 3},
    ],
)
def test_bad_webhook_config_is_refused_before_sending(
    hook: GeminiBatchHook, fast_conn: EmulatorServer, config: dict[str, Any]
) -> None:
    with pytest.raises(GeminiInvalidInputError, match="webhook_config"):
        hook.create_batch("gemini-2.5-flash", requests=[make_request("hi")], webhook_config=config)
    assert _creates(fast_conn) == []


def test_update_priority_patches_with_update_mask_and_returns_the_batch(
    hook: GeminiBatchHook, fast_conn: EmulatorServer
) -> None:
    fast_conn.control.configure(processing_seconds=60)
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("hi")])
    updated = hook.update_batch_priority(batch.name, 42)
    calls = [c for c in fast_conn.control.journal() if c["method"] == "PATCH"]
    assert calls[0]["path"].endswith(f"{batch.name}:updateGenerateContentBatch")
    assert "updateMask=priority" in str(calls[0].get("query"))
    assert calls[0]["json"] == {"priority": "42"}
    assert updated.name == batch.name
    assert hook.get_batch(batch.name).raw["metadata"]["priority"] == "42"


def test_update_on_an_embeddings_batch_needs_the_embed_method(
    hook: GeminiBatchHook, fast_conn: EmulatorServer
) -> None:
    fast_conn.control.configure(processing_seconds=60)
    batch = hook.create_embeddings_batch(
        "gemini-embedding-001", requests=[{"content": {"parts": [{"text": "a"}]}}]
    )
    with pytest.raises(GeminiClientError, match="updateEmbedContentBatch"):
        hook.update_batch_priority(batch.name, 1)
    assert hook.update_batch_priority(batch.name, 1, embeddings=True).name == batch.name


def test_queued_batches_run_highest_priority_first_and_updates_reorder(
    hook: GeminiBatchHook, fast_conn: EmulatorServer
) -> None:
    """One running slot: while A runs, B (priority 0), C (priority 5) and D (priority 0, raised to
    9 by an update) wait; D then C then B are admitted."""
    fast_conn.control.configure(processing_seconds=100, running_slots=1)
    a = hook.create_batch("gemini-2.5-flash", requests=[make_request("a")])
    b = hook.create_batch("gemini-2.5-flash", requests=[make_request("b")])
    c = hook.create_batch("gemini-2.5-flash", requests=[make_request("c")], priority=5)
    d = hook.create_batch("gemini-2.5-flash", requests=[make_request("d")])
    hook.update_batch_priority(d.name, 9)
    fast_conn.control.advance_clock(50)
    states = {x.name: hook.get_batch(x.name).state.short for x in (a, b, c, d)}
    assert states == {a.name: "RUNNING", b.name: "PENDING", c.name: "PENDING", d.name: "PENDING"}
    fast_conn.control.advance_clock(60)  # A ended at 100: D admitted
    assert hook.get_batch(d.name).state.short == "RUNNING"
    assert hook.get_batch(c.name).state.short == "PENDING"
    fast_conn.control.advance_clock(100)  # D ended at ~200: C admitted
    assert hook.get_batch(c.name).state.short == "RUNNING"
    assert hook.get_batch(b.name).state.short == "PENDING"
    fast_conn.control.advance_clock(100)
    assert hook.get_batch(c.name).state.short == "SUCCEEDED"
    assert hook.get_batch(b.name).state.short == "RUNNING"


def test_priority_must_be_int64(hook: GeminiBatchHook) -> None:
    with pytest.raises(GeminiInvalidInputError, match="int64"):
        hook.create_batch("gemini-2.5-flash", requests=[make_request("a")], priority=2**63)
