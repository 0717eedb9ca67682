"""The Vertex hook's Cloud Storage I/O against the emulator: resumable upload, prediction files.

No mocks: the hook's own transport talks to the emulator's Cloud Storage JSON API over a socket,
with a bearer token google-auth obtained from the emulator's token endpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks.vertex import VertexBatchHook, hook_for
from tests.fixtures.vertex import vertex_connection

CHUNK = 256 * 1024


@pytest.fixture
def vertex_hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> VertexBatchHook:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_VERTEX", vertex_connection(emulator.base_url, upload_chunk_size=CHUNK)
    )
    hook = hook_for("gemini_vertex")
    assert isinstance(hook, VertexBatchHook)
    return hook


def _download(hook: VertexBatchHook, bucket: str, name: str) -> bytes:
    return b"".join(hook.storage.iter_object(bucket, name))


def test_upload_is_resumed_from_what_the_server_kept_after_a_cut_chunk(
    vertex_hook: VertexBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    data = os.urandom(CHUNK * 2 + 12345)
    source = tmp_path / "in.jsonl"
    source.write_bytes(data)
    # The second chunk's connection is cut after 1,000 bytes of its body reached the server.
    emulator.control.inject_fault(method="PUT", path="upload_id=", drop_after_bytes=1000, times=1)
    emulator.control.clear_journal()

    assert vertex_hook.upload_input(source, "gs://demo-bucket/in/requests.jsonl") == len(data)

    assert _download(vertex_hook, "demo-bucket", "in/requests.jsonl") == data
    puts = [e for e in emulator.control.journal() if e["method"] == "PUT"]
    ranges = [e["headers"].get("content-range", "") for e in puts]
    # The cut chunk is followed by a status query, then the chunks from the offset it named.
    assert f"bytes */{len(data)}" in ranges
    assert ranges[0] == f"bytes 0-{CHUNK - 1}/{len(data)}"
    assert ranges[-1].endswith(f"-{len(data) - 1}/{len(data)}")
    starts = [
        e for e in emulator.control.journal() if e["method"] == "POST" and "/upload/storage/" in e["path"]
    ]
    assert len(starts) == 1


def test_prediction_files_are_read_in_name_order_and_subfolders_are_skipped(
    vertex_hook: VertexBatchHook, tmp_path: Path
) -> None:
    folder = "gs://demo-bucket/out/prediction-model-2026-09-02T20:06:30.166279Z"
    parts = {
        "predictions_00002.jsonl": b'{"key": "b", "status": "", "response": {}}\n',
        # No newline at the end: the next file's first line must not run into it.
        "predictions_00001.jsonl": b'{"key": "a", "status": "", "response": {}}',
        "incremental_predictions/predictions.jsonl": b'{"key": "dup"}\n',
        "errors_stats.txt": b"nothing\n",
    }
    for name, body in parts.items():
        path = tmp_path / name.replace("/", "_")
        path.write_bytes(body)
        vertex_hook.upload_input(path, f"{folder}/{name}")

    assert vertex_hook.prediction_files(folder) == [
        f"{folder}/predictions_00001.jsonl",
        f"{folder}/predictions_00002.jsonl",
    ]
    joined = b"".join(vertex_hook.iter_file_blocks(folder))
    assert joined.splitlines() == [
        b'{"key": "a", "status": "", "response": {}}',
        b'{"key": "b", "status": "", "response": {}}',
    ]


def test_inline_requests_are_refused_on_vertex_before_anything_is_sent(
    vertex_hook: VertexBatchHook, emulator: EmulatorServer
) -> None:
    emulator.control.clear_journal()
    with pytest.raises(GeminiInvalidInputError, match="inline"):
        vertex_hook.create_batch(
            "gemini-2.5-flash",
            requests=[{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}],
            output_uri="gs://demo-bucket/out/",
        )
    assert emulator.control.journal() == []


def test_connection_test_names_project_and_region(vertex_hook: VertexBatchHook) -> None:
    ok, message = vertex_hook.test_connection()
    assert ok, message
    assert "demo-project" in message
    assert "us-central1" in message


def test_the_connection_form_test_button_tests_a_vertex_connection_as_vertex(
    vertex_hook: VertexBatchHook, emulator: EmulatorServer
) -> None:
    # Airflow's Test button builds the connection type's hook class, GeminiBatchHook.
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    emulator.control.clear_journal()
    ok, message = GeminiBatchHook(gemini_conn_id="gemini_vertex").test_connection()
    assert ok, message
    assert message.startswith("Connected to Vertex AI")
    paths = [e["path"] for e in emulator.control.journal()]
    assert any(p.endswith("/batchPredictionJobs") for p in paths)
    assert not any("/files" in p for p in paths)


def test_files_api_calls_are_refused_on_vertex_with_the_way_out(
    vertex_hook: VertexBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    emulator.control.clear_journal()
    with pytest.raises(GeminiInvalidInputError, match="input_path or input_uri"):
        vertex_hook.upload_file(source)
    with pytest.raises(GeminiInvalidInputError, match="Files API"):
        vertex_hook.delete_file("files/abc")
    assert emulator.control.journal() == []


def test_upload_and_download_memory_stays_flat(
    vertex_hook: VertexBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    import tracemalloc

    size = 48 * 1024 * 1024
    source = tmp_path / "big.jsonl"
    with source.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))
    tracemalloc.start()
    try:
        assert vertex_hook.upload_input(source, "gs://demo-bucket/big.jsonl") == size
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert sum(len(b) for b in vertex_hook.storage.iter_object("demo-bucket", "big.jsonl")) == size
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Chunks of 256 KiB and blocks of at most 1 MiB (the emulator shares this process): a
    # fraction of the 48 MiB file either way.
    assert upload_peak < 12 * 1024 * 1024
    assert download_peak < 12 * 1024 * 1024


def test_a_storage_host_from_storage_emulator_host_gets_no_token(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The variable names the emulator; the connection names no storage_host.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.base_url)
    conn = json.loads(vertex_connection(emulator.base_url))
    del conn["extra"]["storage_host"]
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_VERTEX_ENV", json.dumps(conn))
    hook = hook_for("gemini_vertex_env")
    assert isinstance(hook, VertexBatchHook)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    emulator.control.clear_journal()

    hook.upload_input(source, "gs://demo-bucket/env/in.jsonl")
    assert _download(hook, "demo-bucket", "env/in.jsonl") == source.read_bytes()

    storage = [e for e in emulator.control.journal() if "/storage/v1/" in e["path"]]
    assert storage
    assert all("authorization" not in e["headers"] for e in storage)
