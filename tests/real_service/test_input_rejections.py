"""Requests the real service rejects at create are refused before anything is sent.

Captures: ``captures_input`` (UKGovernmentBEIS/inspect_ai issue #3257 and PR #3273; google-gemini/
cookbook issue #846; googleapis/python-genai issue #1103). The scripted stand-in replays the real
400 so the first test shows what a user hit without the check: the whole batch refused at create,
after the upload, with a message naming only a column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_gemini_batch._core.jsonl import validate_input_lines
from airflow_provider_gemini_batch.exceptions import (
    GeminiClientError,
    GeminiInputFileError,
    GeminiInvalidInputError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.real_service import captures_input
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import connect

CREATE_PATH = r"/v1beta/models/gemini-2\.5-flash:batchGenerateContent"


@pytest.fixture
def standin() -> Iterator[ScriptedServer]:
    """Answers every create with the real create-time rejection; nothing else is scripted."""
    script = [Reply("POST", CREATE_PATH, status=400, body=captures_input.INSPECT_3257_CREATE_ERROR)]
    with ScriptedServer(script) as server:
        yield server


@pytest.fixture
def hook(standin: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> GeminiBatchHook:
    return connect(monkeypatch, standin)


def _jsonl(path: Path, *lines: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_without_the_check_the_service_refuses_the_whole_batch_at_create(
    hook: GeminiBatchHook, standin: ScriptedServer
) -> None:
    """INSPECT_3257: what users saw; the file had been uploaded and the batch is lost at create."""
    with pytest.raises(GeminiClientError) as caught:
        hook.create_batch("gemini-2.5-flash", input_file="files/uploaded-before")
    assert caught.value.http_status == 400
    assert "no such field: 'thinking_config'" in str(caught.value)
    assert len(standin.calls("POST", CREATE_PATH)) == 1


def test_the_reported_line_is_refused_before_the_upload(
    hook: GeminiBatchHook, standin: ScriptedServer, tmp_path: Path
) -> None:
    """INSPECT_3257: our check names file, line, key and field, and says where the setting goes."""
    path = _jsonl(tmp_path / "in.jsonl", captures_input.GENAI_1103_LINE, captures_input.INSPECT_3257_LINE)
    with pytest.raises(GeminiInputFileError) as caught:
        hook.upload_file(path)
    err = caught.value
    assert (err.path, err.line_number, err.key) == (str(path), 2, "1")
    # The first unknown field of the reported line is the flat temperature; thinking_config
    # (the one the service named) gets the same advice.
    assert err.field == "request.temperature"
    assert "generationConfig.temperature" in str(err)
    only_thinking = dict(captures_input.INSPECT_3257_LINE)
    only_thinking["request"] = {k: v for k, v in only_thinking["request"].items() if k != "temperature"}
    with pytest.raises(GeminiInputFileError, match=r"generationConfig\.thinkingConfig"):
        hook.upload_file(_jsonl(tmp_path / "t.jsonl", only_thinking))
    assert standin.requests == []


def test_the_reported_request_is_refused_inline_before_create(
    hook: GeminiBatchHook, standin: ScriptedServer
) -> None:
    """INSPECT_3257 as an inline request: refused with its position, key and field; nothing sent."""
    line = captures_input.INSPECT_3257_LINE
    with pytest.raises(GeminiInvalidInputError, match=r"requests\[0\] \(key '1'\), field request\."):
        hook.create_batch("gemini-2.5-flash", requests=[line])
    assert standin.requests == []


def test_a_setting_beside_request_is_refused_not_silently_ignored(
    hook: GeminiBatchHook, standin: ScriptedServer, tmp_path: Path
) -> None:
    """COOKBOOK_846: the service would run the batch without the setting; we refuse the line."""
    path = _jsonl(tmp_path / "in.jsonl", captures_input.COOKBOOK_846_LINE)
    with pytest.raises(GeminiInputFileError, match="move it into request") as caught:
        hook.upload_file(path)
    assert (caught.value.line_number, caught.value.field) == (1, "generation_config")
    assert standin.requests == []


def test_the_form_the_service_reads_passes() -> None:
    """GENAI_1103: snake_case inside generationConfig is accepted, as the service accepts it."""
    summary = validate_input_lines([json.dumps(captures_input.GENAI_1103_LINE)], path="in.jsonl")
    assert (summary.count, summary.keyed, summary.echoed_fields) == (1, True, {})
