"""The hook sends what the official google-genai SDK sends for the same operation.

Both clients talk to the emulator (API version pinned to v1beta for the SDK); the emulator's
journal captures each request. For every operation we compare method, path, query, the headers
that matter and the JSON body after normalising snake_case/camelCase and int64 spelling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from google import genai
from google.genai import types

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

JSON_HEADERS = ("x-goog-api-key",)
UPLOAD_START_HEADERS = (
    "x-goog-api-key",
    "x-goog-upload-protocol",
    "x-goog-upload-command",
    "x-goog-upload-header-content-length",
    "x-goog-upload-header-content-type",
    "x-goog-upload-file-name",
)
UPLOAD_CHUNK_HEADERS = ("x-goog-upload-command", "x-goog-upload-offset", "content-length")


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalise(value: Any) -> Any:
    """camelCase keys; int64 as strings (proto-JSON accepts both spellings of each)."""
    if isinstance(value, dict):
        return {camel(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def view(entry: dict[str, Any], headers: tuple[str, ...]) -> dict[str, Any]:
    return {
        "method": entry["method"],
        "path": entry["path"],
        "query": parse_qs(entry["query"]),
        "headers": {h: entry["headers"].get(h) for h in headers},
        "json": normalise(entry["json"]) if entry["json"] else None,
    }


@pytest.fixture
def sdk(emulator: EmulatorServer) -> genai.Client:
    return genai.Client(
        api_key=emulator.api_key,
        http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1beta"),
    )


@pytest.fixture
def hook(gemini_conn: EmulatorServer) -> GeminiBatchHook:
    return GeminiBatchHook()


def captured(emulator: EmulatorServer, action: Callable[[], object]) -> list[dict[str, Any]]:
    emulator.control.clear_journal()
    action()
    return emulator.control.journal()


def compare(
    emulator: EmulatorServer,
    sdk_action: Callable[[], object],
    hook_action: Callable[[], object],
    headers: tuple[str, ...] = JSON_HEADERS,
    rename: dict[str, str] | None = None,
) -> None:
    theirs = [view(e, headers) for e in captured(emulator, sdk_action)]
    ours = [view(e, headers) for e in captured(emulator, hook_action)]
    for old, new in (rename or {}).items():
        for entry in ours:
            entry["path"] = entry["path"].replace(old.split("/", 1)[1], new.split("/", 1)[1])
    assert theirs
    assert ours == theirs


REQUEST = {"contents": [{"parts": [{"text": "Why is the sky blue?"}], "role": "user"}]}


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"key": f"k{i}", "request": REQUEST}) + "\n" for i in range(3)))
    return path


def test_upload_start_and_chunk(
    sdk: genai.Client, hook: GeminiBatchHook, emulator: EmulatorServer, input_file: Path
) -> None:
    def by_sdk() -> None:
        sdk.files.upload(
            file=str(input_file), config={"mime_type": "application/jsonl", "display_name": "in"}
        )

    theirs = captured(emulator, by_sdk)
    ours = captured(emulator, lambda: hook.upload_file(input_file, display_name="in"))
    assert len(ours) == len(theirs) == 2
    assert view(ours[0], UPLOAD_START_HEADERS) == view(theirs[0], UPLOAD_START_HEADERS)
    # Chunk URLs carry a per-session upload_id; compare everything else.
    chunk_ours, chunk_theirs = view(ours[1], UPLOAD_CHUNK_HEADERS), view(theirs[1], UPLOAD_CHUNK_HEADERS)
    assert chunk_ours.pop("query").keys() == chunk_theirs.pop("query").keys()
    assert chunk_ours == chunk_theirs
    # Neither client sends the key with the self-authorising chunk.
    assert "x-goog-api-key" not in ours[1]["headers"]
    assert "x-goog-api-key" not in theirs[1]["headers"]


def test_create_inline(sdk: genai.Client, hook: GeminiBatchHook, emulator: EmulatorServer) -> None:
    compare(
        emulator,
        lambda: sdk.batches.create(
            model="gemini-2.5-flash",
            src=[{**REQUEST, "metadata": {"key": "k1"}}, {**REQUEST, "metadata": {"key": "k2"}}],
            config={"display_name": "inline-job"},
        ),
        lambda: hook.create_batch(
            "gemini-2.5-flash",
            requests=[{"key": "k1", "request": REQUEST}, {"key": "k2", "request": REQUEST}],
            display_name="inline-job",
        ),
    )


def test_create_from_file_and_embeddings_from_file(
    sdk: genai.Client, hook: GeminiBatchHook, emulator: EmulatorServer, input_file: Path
) -> None:
    name = hook.upload_file(input_file).name
    compare(
        emulator,
        lambda: sdk.batches.create(model="gemini-2.5-flash", src=name, config={"display_name": "file-job"}),
        lambda: hook.create_batch("gemini-2.5-flash", input_file=name, display_name="file-job"),
    )
    compare(
        emulator,
        lambda: sdk.batches.create_embeddings(model="text-embedding-004", src={"file_name": name}),
        lambda: hook.create_embeddings_batch("text-embedding-004", input_file=name),
    )


def test_get_list_cancel_delete_batch(
    sdk: genai.Client, hook: GeminiBatchHook, emulator: EmulatorServer
) -> None:
    emulator.control.configure(processing_seconds=60)
    names = [hook.create_batch("gemini-2.5-flash", requests=[REQUEST]).name for _ in range(3)]
    compare(emulator, lambda: sdk.batches.get(name=names[0]), lambda: hook.get_batch(names[0]))

    def hook_list() -> None:
        hook.list_page_size = 2
        list(hook.list_batches())

    compare(emulator, lambda: list(sdk.batches.list(config={"page_size": 2})), hook_list)
    compare(emulator, lambda: sdk.batches.cancel(name=names[0]), lambda: hook.cancel_batch(names[0]))
    # Deleting twice is not possible: delete different batches and compare with the id swapped.
    compare(
        emulator,
        lambda: sdk.batches.delete(name=names[1]),
        lambda: hook.delete_batch(names[2]),
        rename={names[2]: names[1]},
    )


def test_get_list_delete_file_and_download(
    sdk: genai.Client, hook: GeminiBatchHook, emulator: EmulatorServer, input_file: Path, tmp_path: Path
) -> None:
    emulator.control.configure(processing_seconds=0)
    files = [hook.upload_file(input_file).name for _ in range(3)]
    compare(emulator, lambda: sdk.files.get(name=files[0]), lambda: hook.get_file(files[0]))

    def hook_list() -> None:
        hook.list_page_size = 2
        list(hook.list_files())

    compare(emulator, lambda: list(sdk.files.list(config={"page_size": 2})), hook_list)
    batch = hook.create_batch("gemini-2.5-flash", input_file=files[0])
    deadline = time.monotonic() + 10
    while not (batch := hook.get_batch(batch.name)).done:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    result = batch.responses_file
    assert result
    compare(
        emulator,
        lambda: sdk.files.download(file=result),
        lambda: hook.download_file(result, tmp_path / "r.jsonl"),
    )
    compare(
        emulator,
        lambda: sdk.files.delete(name=files[1]),
        lambda: hook.delete_file(files[2]),
        rename={files[2]: files[1]},
    )
