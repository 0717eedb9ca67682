"""Replaying snapshots: serve one to the provider's hook, or hold a server's answers to one.

:func:`serve` turns a snapshot into a :class:`ScriptedServer` script (each answer served once, in
order, placeholders made concrete). :data:`HOOK_DRIVERS` drive the real hook through the same
scenario, so every answer is parsed by the code that parses the real service's.
:func:`differences` runs a scenario against a live server (the emulator) and lists, per request,
what differs from the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiClientError, GeminiNotFoundError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.parity.record import DEFAULT_EMBED_MODEL, DEFAULT_MODEL, run_scenario
from tests.parity.scenarios import (
    ABSENT_BATCH,
    ABSENT_FILE,
    BAD_FIELD_INPUT,
    EMBED_INPUT,
    INLINE_REQUESTS,
    SCENARIOS,
    TEXT_INPUT,
)
from tests.parity.snapshot import encode_body, materialise, response_differences
from tests.real_service.captures_faults import NO_BATCH_MODEL
from tests.real_service.standin import Recorded, Reply, ScriptedServer


def _path_pattern(path: str) -> str:
    bare = path.split("?", 1)[0]
    pattern = re.escape(bare).replace(re.escape("<id>"), r"[^/:]+")
    # The model is the run's choice (GEMINI_PARITY_MODEL), not part of the answer.
    return re.sub(r"models/[^:/]+", r"models/[^:/]+", pattern)


def script(snapshot: Mapping[str, Any]) -> list[Reply]:
    """One :class:`Reply` per recorded answer, each used once, matched in order."""
    replies = []
    for exchange in snapshot["exchanges"]:
        request, response = exchange["request"], exchange["response"]
        headers = dict(response.get("headers") or {})
        if response["kind"] == "json":
            headers.setdefault("content-type", "application/json; charset=UTF-8")

        def body(_: Recorded, server: ScriptedServer, response: Mapping[str, Any] = response) -> bytes:
            return encode_body(response["kind"], materialise(response["body"], server.base_url))

        replies.append(
            Reply(
                request["method"],
                _path_pattern(request["path"]),
                status=response["status"],
                body=body,
                headers={k: materialise(v, "{base}") for k, v in headers.items()},
                times=1,
            )
        )
    return replies


# -- the hook through each scenario ---------------------------------------------------------------


def _upload(hook: GeminiBatchHook, tmp: Path, content: bytes, **options: Any) -> str:
    path = tmp / "input.jsonl"
    path.write_bytes(content)
    name = hook.upload_file(path, mime_type="jsonl", **options).name
    return hook.wait_for_file_active(name, timeout=5, interval=0.01).name


def _results(hook: GeminiBatchHook, name: str) -> None:
    batch = hook.get_batch(name)
    assert batch.done, batch
    rows = list(hook.iter_results(batch))
    assert rows, batch
    assert all(r.key for r in rows), rows


def _from_file(hook: GeminiBatchHook, tmp: Path) -> None:
    batch = hook.create_batch(DEFAULT_MODEL, input_file=_upload(hook, tmp, TEXT_INPUT))
    _results(hook, batch.name)


def _embeddings(hook: GeminiBatchHook, tmp: Path) -> None:
    batch = hook.create_embeddings_batch(DEFAULT_EMBED_MODEL, input_file=_upload(hook, tmp, EMBED_INPUT))
    _results(hook, batch.name)


def _inline(hook: GeminiBatchHook, tmp: Path) -> None:
    hook.create_batch(DEFAULT_MODEL, requests=INLINE_REQUESTS)
    batch = hook.create_batch(DEFAULT_MODEL, requests=INLINE_REQUESTS)
    _results(hook, batch.name)
    assert next(iter(hook.list_batches())).name.startswith("batches/")


def _cancel(hook: GeminiBatchHook, tmp: Path) -> None:
    batch = hook.create_batch(DEFAULT_MODEL, requests=INLINE_REQUESTS)
    hook.cancel_batch(batch.name)
    assert hook.get_batch(batch.name).state.short


def _delete(hook: GeminiBatchHook, tmp: Path, last: int) -> None:
    batch = hook.create_batch(DEFAULT_MODEL, requests=INLINE_REQUESTS)
    hook.cancel_batch(batch.name)
    hook.delete_batch(batch.name)
    _answered(last, lambda: hook.get_batch(batch.name), *_BATCH_GONE)


def _deleted(hook: GeminiBatchHook, tmp: Path, last: int) -> None:
    name = _upload(hook, tmp, EMBED_INPUT)
    hook.delete_file(name)
    _answered(last, lambda: hook.get_file(name), *_FILE_GONE)


#: The typed error and a phrase of its hint the hook gives, per kind of refusal: a user reads the
#: hint, so it is part of what the snapshot holds the hook to.
_BATCH_GONE: tuple[type[GeminiApiError], str] = (GeminiNotFoundError, "visible only")
_FILE_GONE: tuple[type[GeminiApiError], str] = (GeminiNotFoundError, "is gone")


def _answered(
    status: int, call: Callable[[], Any], error: type[GeminiApiError] = GeminiApiError, hint: str = ""
) -> None:
    """``call`` returns (the last answer was a 200) or raises ``error`` with that status and a
    message containing ``hint``."""
    if status == 200:
        call()
        return
    with pytest.raises(error) as caught:
        call()
    assert caught.value.http_status == status, caught.value
    assert hint in str(caught.value), caught.value


#: scenario → drive the hook through it; ``last`` is the status of the scenario's last answer.
HOOK_DRIVERS: dict[str, Callable[[GeminiBatchHook, Path, int], None]] = {
    "upload_file": lambda hook, tmp, last: _upload(hook, tmp, EMBED_INPUT) and None,
    "create_from_file": lambda hook, tmp, last: _from_file(hook, tmp),
    "embeddings_from_file": lambda hook, tmp, last: _embeddings(hook, tmp),
    "create_inline": lambda hook, tmp, last: _inline(hook, tmp),
    "cancel_batch": lambda hook, tmp, last: _cancel(hook, tmp),
    "delete_batch": _delete,
    "unknown_batch": lambda hook, tmp, last: _answered(
        last, lambda: hook.get_batch(f"batches/{ABSENT_BATCH}"), *_BATCH_GONE
    ),
    "deleted_file": lambda hook, tmp, last: _deleted(hook, tmp, last),
    "missing_file": lambda hook, tmp, last: _answered(
        last, lambda: hook.get_file(f"files/{ABSENT_FILE}"), *_FILE_GONE
    ),
    "delete_missing_file": lambda hook, tmp, last: _answered(
        last, lambda: hook.delete_file(f"files/{ABSENT_FILE}"), *_FILE_GONE
    ),
    "delete_batch_output_file": lambda hook, tmp, last: _answered(
        last,
        lambda: hook.delete_file(f"files/batch-{ABSENT_BATCH}"),
        GeminiClientError,
        "cannot be deleted by name",
    ),
    "model_without_batch": lambda hook, tmp, last: _answered(
        last,
        lambda: hook.create_batch(NO_BATCH_MODEL, requests=INLINE_REQUESTS),
        GeminiNotFoundError,
        "cannot run batches",
    ),
    # The hook refuses this file's lines itself; unchecked, the service's answer must be parsed.
    "bad_request_field": lambda hook, tmp, last: _answered(
        last,
        lambda: hook.create_batch(
            DEFAULT_MODEL, input_file=_upload(hook, tmp, BAD_FIELD_INPUT, validate=False)
        ),
    ),
}


# -- holding a server to a snapshot ---------------------------------------------------------------


def differences(snapshot: Mapping[str, Any], base_url: str, api_key: str) -> list[str]:
    """Run the snapshot's scenario against ``base_url``; one line per difference, naming the
    scenario, the request (number, method, path) and what differs."""
    name = snapshot["scenario"]
    exchanges, _ = run_scenario(SCENARIOS[name], base_url, api_key, poll_interval=0.05, timeout=20)
    out = []
    if len(exchanges) != len(snapshot["exchanges"]):
        out.append(
            f"scenario {name}: {len(snapshot['exchanges'])} requests in the snapshot, {len(exchanges)} run"
        )
    for number, (expected, actual) in enumerate(zip(snapshot["exchanges"], exchanges, strict=False), 1):
        request = expected["request"]
        for difference in response_differences(expected["response"], actual["response"]):
            out.append(
                f"scenario {name}, request {number} {request['method']} {request['path']}: {difference}"
            )
    return out
