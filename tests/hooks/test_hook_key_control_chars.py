"""A key with a trailing newline or an interior control character never leaks.

A key read from a secret file or a Kubernetes secret often ends in ``\\n``. Sent as a header value
it made ``requests`` raise ``InvalidHeader`` quoting the value with ``repr`` (``'...\\\\n'``), a form
neither ``redact()`` nor Airflow's secrets masker matches: the whole key reached the exception,
the log and the connection-test message. Now surrounding whitespace is stripped when the
connection is read and any other character outside visible ASCII is refused with a message that
says where, never what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.emulator.guard import credential_mark
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.hooks.conftest import FAST_EXTRAS, conn_env, make_request

CONN_ID = "gemini_key_chars"
CALLS: dict[str, Callable[[GeminiBatchHook, Path], Any]] = {
    "upload": lambda h, p: h.upload_file(p),
    "create": lambda h, _: h.create_batch(
        "gemini-2.5-flash", requests=[{"key": "a", "request": make_request("hi")}]
    ),
    "test_connection": lambda h, _: h.test_connection(),
}


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.jsonl"
    path.write_text('{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n')
    return path


def _connect(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, password: str) -> GeminiBatchHook:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", conn_env(emulator, password=password, **FAST_EXTRAS)
    )
    return GeminiBatchHook(gemini_conn_id=CONN_ID)


@pytest.mark.parametrize("suffix", ["\n", "\r\n", " \t"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_surrounding_whitespace_is_stripped_and_the_call_works(
    call: str,
    suffix: str,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    input_file: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = _connect(monkeypatch, emulator, emulator.api_key + suffix)
    result = CALLS[call](hook, input_file)
    if call == "test_connection":
        assert result[0], result[1]
    # Upload-session requests carry no key at all (the session URL is its own credential).
    sent = {e["headers"].get("x-goog-api-key") for e in emulator.control.journal()} - {None}
    # The journal keeps a fingerprint of each credential, never the value.
    assert sent == {credential_mark(emulator.api_key)}
    assert repr(emulator.api_key + suffix)[1:-1] not in caplog.text


def test_async_hook_strips_the_key_too(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _connect(monkeypatch, emulator, emulator.api_key + "\n")
    batch = hook.create_batch("gemini-2.5-flash", requests=[{"key": "a", "request": make_request("hi")}])

    async def read() -> str:
        ahook = GeminiBatchAsyncHook(gemini_conn_id=CONN_ID)
        try:
            return (await ahook.get_batch(batch.name)).name
        finally:
            await ahook.aclose()

    assert asyncio.run(read()) == batch.name


#: Halves long enough to be found if any part of the key leaked.
LEFT, RIGHT = "leftpartofthekey1234", "rightpartofthekey5678"


@pytest.mark.parametrize("inside", ["\r", "\n", "\x00", "\x7f", " ", "\u00e9"])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_interior_control_character_is_refused_without_quoting_the_key(
    call: str,
    inside: str,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    input_file: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = _connect(monkeypatch, emulator, LEFT + inside + RIGHT)
    if call == "test_connection":
        ok, text = hook.test_connection()
        assert not ok
    else:
        with pytest.raises(GeminiConnectionConfigError) as caught:
            CALLS[call](hook, input_file)
        text = f"{caught.value} {caught.value!r}"
    assert f"position {len(LEFT) + 1}" in text
    assert CONN_ID in text
    for shown in (text, caplog.text):
        assert LEFT not in shown
        assert RIGHT not in shown
    assert emulator.control.journal() == []  # refused before anything was sent


def test_async_hook_refuses_an_interior_control_character(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _connect(monkeypatch, emulator, LEFT + "\r" + RIGHT)

    async def read() -> None:
        ahook = GeminiBatchAsyncHook(gemini_conn_id=CONN_ID)
        try:
            await ahook.get_batch("batches/abc")
        finally:
            await ahook.aclose()

    with pytest.raises(GeminiConnectionConfigError) as caught:
        asyncio.run(read())
    assert LEFT not in str(caught.value)
    assert RIGHT not in str(caught.value)
    assert emulator.control.journal() == []
