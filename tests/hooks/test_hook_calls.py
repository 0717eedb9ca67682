"""Every sync hook method against the emulator over a real socket."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.emulator.guard import credential_mark
from airflow_provider_gemini_batch.exceptions import GeminiNotFoundError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import api_requests, make_request


def wait_done(hook: GeminiBatchHook, name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not hook.get_batch(name).done:
        assert time.monotonic() < deadline, f"{name} did not finish"
        time.sleep(0.05)


def test_upload_get_list_delete_file(hook: GeminiBatchHook, write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(["a", "b"])
    info = hook.upload_file(path, display_name="my input")
    assert info.name.startswith("files/")
    assert info.display_name == "my input"
    assert info.size_bytes == path.stat().st_size
    assert (
        info.sha256_hash == base64.b64encode(hashlib.sha256(path.read_bytes()).hexdigest().encode()).decode()
    )
    assert hook.get_file(info.name).name == info.name
    assert [f.name for f in hook.list_files()] == [info.name]
    hook.delete_file(info.name)
    with pytest.raises(GeminiNotFoundError, match=info.name):
        hook.get_file(info.name)


def test_file_batch_lifecycle_and_streamed_results(
    hook: GeminiBatchHook, write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    # Keys deliberately unsorted: each result must carry its own request's answer.
    keys = ["zeta", "alpha", "mid", "b2"]
    info = hook.upload_file(write_jsonl(keys))
    batch = hook.create_batch("gemini-2.5-flash", input_file=info.name, display_name="file-job", priority=2)
    assert batch.state is BatchState.PENDING
    assert batch.display_name == "file-job"
    wait_done(hook, batch.name)
    done = hook.get_batch(batch.name)
    assert done.state is BatchState.SUCCEEDED
    assert done.responses_file
    results = {r.key: r for r in hook.iter_results(done)}
    assert set(results) == set(keys)
    for key, result in results.items():
        text = result.response["candidates"][0]["content"]["parts"][0]["text"]  # type: ignore[index]
        assert text.endswith(f"prompt for {key}")
    written = hook.download_file(done.responses_file, tmp_path / "out" / "results.jsonl")
    assert written == (tmp_path / "out" / "results.jsonl").stat().st_size > 0


def test_inline_batch_results_by_name(hook: GeminiBatchHook) -> None:
    batch = hook.create_batch(
        "models/gemini-2.5-flash",
        requests=[
            {"key": "q2", "request": make_request("two")},
            {"key": "q1", "request": make_request("one")},
        ],
    )
    wait_done(hook, batch.name)
    results = {r.key: r for r in hook.iter_results(batch.name)}
    assert set(results) == {"q1", "q2"}
    assert results["q1"].response["candidates"][0]["content"]["parts"][0]["text"].endswith("one")  # type: ignore[index]


def test_bare_inline_requests_get_generated_keys(hook: GeminiBatchHook) -> None:
    """Requests without a key are sent with ``request-<position>`` (results are joined by key: python-genai
    issue #1909)."""
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("first"), make_request("second")])
    wait_done(hook, batch.name)
    results = list(hook.iter_results(batch.name))
    assert [r.key for r in results] == ["request-0", "request-1"]
    assert results[1].index == 1
    assert results[1].response["candidates"][0]["content"]["parts"][0]["text"].endswith("second")  # type: ignore[index]


def test_embeddings_batch(hook: GeminiBatchHook) -> None:
    batch = hook.create_embeddings_batch(
        "text-embedding-004", requests=[{"key": "e1", "request": {"content": {"parts": [{"text": "hello"}]}}}]
    )
    wait_done(hook, batch.name)
    (result,) = list(hook.iter_results(batch.name))
    assert result.key == "e1"
    assert result.response["embedding"]["values"]  # type: ignore[index]


def test_results_of_a_running_batch_are_refused(hook: GeminiBatchHook, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=60)
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    with pytest.raises(ValueError, match="results exist only once"):
        list(hook.iter_results(batch))


def test_cancel_then_delete_batch(hook: GeminiBatchHook, emulator: EmulatorServer) -> None:
    emulator.control.configure(processing_seconds=60)
    batch = hook.create_batch("gemini-2.5-flash", requests=[make_request("x")])
    hook.cancel_batch(batch.name)
    wait_done(hook, batch.name)
    assert hook.get_batch(batch.name).state is BatchState.CANCELLED
    hook.delete_batch(batch.name)
    with pytest.raises(GeminiNotFoundError):
        hook.get_batch(batch.name)
    assert batch.name not in [b.name for b in hook.list_batches()]


def test_listing_follows_every_page(hook: GeminiBatchHook, emulator: EmulatorServer) -> None:
    names = [hook.create_batch("gemini-2.5-flash", requests=[make_request(str(i))]).name for i in range(5)]
    hook.list_page_size = 2
    emulator.control.clear_journal()
    assert sorted(b.name for b in hook.list_batches()) == sorted(names)
    pages = [e for e in emulator.control.journal() if e["path"] == "/v1beta/batches"]
    assert len(pages) == 3
    assert "pageToken" not in pages[0]["query"]
    assert all("pageToken" in p["query"] for p in pages[1:])


def test_file_listing_pages(
    hook: GeminiBatchHook, write_jsonl: Callable[..., Path], emulator: EmulatorServer
) -> None:
    made = {hook.upload_file(write_jsonl([f"k{i}"], name=f"f{i}.jsonl")).name for i in range(3)}
    hook.list_page_size = 1
    emulator.control.clear_journal()
    assert {f.name for f in hook.list_files()} == made
    assert api_requests(emulator).count(("GET", "/v1beta/files")) == 3


def test_test_connection_reports_success(hook: GeminiBatchHook) -> None:
    ok, message = hook.test_connection()
    assert ok
    assert "Connected" in message


def test_api_key_header_and_no_key_in_urls(
    hook: GeminiBatchHook, emulator: EmulatorServer, write_jsonl: Callable[..., Path]
) -> None:
    hook.upload_file(write_jsonl(["a"]))
    entries = emulator.control.journal()
    start, chunk = entries[0], entries[1]
    assert start["headers"]["x-goog-api-key"] == credential_mark(emulator.api_key)
    # The session URL authorises itself: the key must not follow it.
    assert "x-goog-api-key" not in chunk["headers"]
    assert all(emulator.api_key not in (e["path"] + e["query"]) for e in entries)
