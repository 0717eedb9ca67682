"""Bad input is refused before anything is sent; the API key never shows in errors or logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.emulator.guard import credential_mark
from airflow_provider_gemini_batch.exceptions import (
    GeminiClientError,
    GeminiConnectionConfigError,
    GeminiInvalidInputError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.hooks.conftest import conn_env, creating_or_uploading, make_request

SECRET = "sk-unique-7f3a9c-never-show-me"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "../files/x", "requests": [make_request("a")]}, "model name"),
        ({"model": "gemini?alt=media", "requests": [make_request("a")]}, "model name"),
        ({"model": "a&b", "input_file": "files/abc"}, "model name"),
        ({"model": "gemini-2.5-flash"}, "exactly one"),
        (
            {"model": "gemini-2.5-flash", "requests": [make_request("a")], "input_file": "files/a"},
            "exactly one",
        ),
        ({"model": "gemini-2.5-flash", "input_file": "abc"}, "file name"),
        (
            {"model": "gemini-2.5-flash", "requests": [{"key": "k", "request": make_request("a")}] * 2},
            "duplicate",
        ),
        (
            {"model": "gemini-2.5-flash", "requests": [make_request("x" * 1_000_000)] * 21},
            "upload it and pass input_file",
        ),
    ],
)
def test_bad_create_arguments_send_nothing(
    hook: GeminiBatchHook, emulator: EmulatorServer, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(GeminiInvalidInputError, match=match):
        hook.create_batch(**kwargs)  # type: ignore[arg-type]
    assert creating_or_uploading(emulator) == []


@pytest.mark.parametrize("name", ["b1", "files/abc", "batches/../x", "batches/a?b=1"])
def test_bad_batch_names_send_nothing(hook: GeminiBatchHook, emulator: EmulatorServer, name: str) -> None:
    with pytest.raises(GeminiInvalidInputError, match="batch name"):
        hook.get_batch(name)
    assert emulator.control.journal() == []


def test_unwritable_destination_is_refused_before_downloading(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(GeminiInvalidInputError, match="Cannot write"):
        hook.download_file("files/batch-abc", blocker / "out.jsonl")
    assert emulator.control.journal() == []


def test_missing_connection_is_a_config_error() -> None:
    with pytest.raises(GeminiConnectionConfigError, match="does not exist"):
        GeminiBatchHook(gemini_conn_id="no_such_connection").get_batch("batches/x")


def test_wrong_connection_type_and_missing_key(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_HTTP", json.dumps({"conn_type": "http", "host": emulator.base_url})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_NOKEY", json.dumps({"conn_type": "gemini_batch", "host": emulator.base_url})
    )
    with pytest.raises(GeminiConnectionConfigError, match="type 'http'"):
        GeminiBatchHook(gemini_conn_id="gemini_http").get_batch("batches/x")
    ok, message = GeminiBatchHook(gemini_conn_id="gemini_nokey").test_connection()
    assert not ok
    assert "no API key" in message
    assert emulator.control.journal() == []


@pytest.fixture
def wrong_key_hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> GeminiBatchHook:
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_WRONG", conn_env(emulator, password=SECRET, max_retries=0))
    return GeminiBatchHook(gemini_conn_id="gemini_wrong")


def test_rejected_key_never_appears_in_errors_or_logs(
    wrong_key_hook: GeminiBatchHook,
    emulator: EmulatorServer,
    write_jsonl: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for call in (
        lambda: wrong_key_hook.get_batch("batches/abc"),
        lambda: wrong_key_hook.create_batch("gemini-2.5-flash", requests=[make_request("x")]),
        lambda: wrong_key_hook.upload_file(write_jsonl(["a"])),
    ):
        with pytest.raises(GeminiClientError) as info:
            call()
        texts += [str(info.value), repr(info.value), repr(info.value.details)]
    ok, message = wrong_key_hook.test_connection()
    assert not ok
    texts += [message, caplog.text, *capsys.readouterr()]
    # The emulator did receive it (so the test is meaningful) ...
    assert any(
        e["headers"].get("x-goog-api-key") == credential_mark(SECRET) for e in emulator.control.journal()
    )
    # ... yet no text a user can see contains it.
    assert all(SECRET not in text for text in texts)
    assert SECRET not in repr(wrong_key_hook.settings)


def test_the_key_is_registered_with_the_secrets_masker(wrong_key_hook: GeminiBatchHook) -> None:
    """Once the hook has read its connection, the key is redacted from any text. (Airflow's
    connection lookup masks the password too; the private-key test in test_hook_google_auth shows
    the hook's own registration where Airflow's does not reach.)"""
    from airflow.providers.common.compat.sdk import redact

    wrong_key_hook.settings  # noqa: B018 - reading the connection registers the key
    assert SECRET not in str(redact(f"token={SECRET}"))
