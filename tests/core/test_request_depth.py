"""The input check one level deeper, before anything is sent (lines and raw chunks alike).

Each case is a request the service refuses at create or per row while the check accepted it:
fields misplaced inside ``generationConfig`` (``cached_content``: inspect_ai issue #3257's kind of
"no such field"; ``thinkingBudget`` outside ``thinkingConfig``; a misspelling; a string
``temperature``), Parts with an unknown field or none, the role ``system``, ``tools`` that are not
a list of Tool objects (a ``cachedContent`` tool), a non-list ``safetySettings``, a line with two
``request`` members. Field lists: the REST reference (``_core/request_types.py``). A file that
starts with a UTF-8 byte order mark is accepted. Every error names file, line, key and field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.input_check import InputValidator
from airflow_provider_gemini_batch._core.jsonl import validate_input_lines
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

OK = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
PATH = "in.jsonl"


def _file(*requests: dict[str, Any]) -> bytes:
    lines = [{"key": "ok", "request": OK}] + [{"key": f"k{i}", "request": r} for i, r in enumerate(requests)]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _by_lines(data: bytes) -> Any:
    return validate_input_lines(data.splitlines(keepends=True), path=PATH)


def _by_chunks(data: bytes) -> Any:
    validator = InputValidator(PATH)
    for start in range(0, len(data), 7):
        validator.feed_chunk(data[start : start + 7])
    return validator.finish()


def _by_whole_chunk(data: bytes) -> Any:
    validator = InputValidator(PATH)
    validator.feed_chunk(data)
    return validator.finish()


CHECKS = [_by_lines, _by_chunks, _by_whole_chunk]

REFUSED = {
    "cached_content_in_generation_config": (
        {**OK, "generationConfig": {"cached_content": "cachedContents/abc"}},
        "request.generationConfig.cached_content",
        "move it to request.cachedContent",
    ),
    "thinking_budget_outside_thinking_config": (
        {**OK, "generationConfig": {"thinkingBudget": 0}},
        "request.generationConfig.thinkingBudget",
        "generationConfig.thinkingConfig.thinkingBudget",
    ),
    "misspelled_config_field": (
        {**OK, "generationConfig": {"temprature": 0.2}},
        "request.generationConfig.temprature",
        "did you mean temperature?",
    ),
    "string_temperature": (
        {**OK, "generationConfig": {"temperature": "hot"}},
        "request.generationConfig.temperature",
        "must be a number",
    ),
    "unknown_thinking_field": (
        {**OK, "generationConfig": {"thinkingConfig": {"budget": 10}}},
        "request.generationConfig.thinkingConfig.budget",
        "not a field of ThinkingConfig",
    ),
    "part_unknown_field": (
        {"contents": [{"role": "user", "parts": [{"txt": "hi"}]}]},
        "request.contents[0].parts[0].txt",
        "did you mean text?",
    ),
    "empty_part": (
        {"contents": [{"role": "user", "parts": [{}]}]},
        "request.contents[0].parts[0]",
        "empty Part",
    ),
    "system_role": (
        {"contents": [{"role": "system", "parts": [{"text": "be brief"}]}, *OK["contents"]]},
        "request.contents[0].role",
        "request.systemInstruction",
    ),
    "tools_not_a_list": (
        {**OK, "tools": {"googleSearch": {}}},
        "request.tools",
        "must be a list of Tool objects",
    ),
    "cached_content_tool": (
        {**OK, "tools": [{"cachedContent": "cachedContents/abc"}]},
        "request.tools[0].cachedContent",
        "a cache is not a tool",
    ),
    "safety_settings_not_a_list": (
        {**OK, "safetySettings": {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}},
        "request.safetySettings",
        "must be a list of SafetySetting objects",
    ),
}


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_file_line_key_field_and_fix(case: str, check: Any) -> None:
    request, field, fix = REFUSED[case]
    with pytest.raises(GeminiInputFileError) as info:
        check(_file(request))
    exc = info.value
    assert (exc.path, exc.line_number, exc.key, exc.field) == (PATH, 2, "k0", field)
    assert fix in str(exc)


ACCEPTED = {
    "numeric_string_temperature": {**OK, "generationConfig": {"temperature": "0.5", "maxOutputTokens": "64"}},
    "thinking_config": {**OK, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
    "snake_case_config": {**OK, "generation_config": {"max_output_tokens": 64, "top_p": 0.9}},
    "tools_and_safety": {
        **OK,
        "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    },
    "system_instruction_with_a_role": {
        **OK,
        "systemInstruction": {"role": "system", "parts": [{"text": "x"}]},
    },
    "model_turn_and_file_part": {
        "contents": [
            {
                "role": "user",
                "parts": [{"fileData": {"fileUri": "https://x/files/a", "mimeType": "text/plain"}}],
            },
            {"role": "model", "parts": [{"text": "ok"}]},
            {"role": "user", "parts": [{"text": "more"}]},
        ]
    },
    "nested_request_key_in_a_tool": {
        **OK,
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"properties": {"request": {}}}}]}],
    },
}


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_valid_requests_still_pass(case: str, check: Any) -> None:
    assert check(_file(ACCEPTED[case])).count == 2


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_a_line_with_two_request_members_is_refused(check: Any) -> None:
    first = json.dumps({"key": "ok", "request": OK})
    second = '{"key": "k0", "request": ' + json.dumps(OK) + ', "request": ' + json.dumps(OK) + "}"
    with pytest.raises(GeminiInputFileError) as info:
        check((first + "\n" + second + "\n").encode())
    assert (info.value.line_number, info.value.field) == (2, "request")
    assert 'two "request" members' in str(info.value)


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_a_file_starting_with_a_byte_order_mark_is_accepted(check: Any) -> None:
    assert check(b"\xef\xbb\xbf" + _file(OK)).count == 2
