"""Requests are checked against their REST type before anything is sent.

Field lists: REST reference GenerateContentRequest (ai.google.dev/api/generate-content) and
EmbedContentRequest (ai.google.dev/api/embeddings); the rejection these checks pre-empt is quoted
in UKGovernmentBEIS/inspect_ai issue #3257 (``no such field: 'thinking_config'``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_gemini_batch._core import request_fields as rf
from airflow_provider_gemini_batch._core.jsonl import (
    GENERATED_KEY_METADATA,
    inline_request_items,
    key_was_generated,
    validate_input_lines,
)
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError

CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]
EMBED = {"content": {"parts": [{"text": "hi"}]}}


def _line(**obj: Any) -> str:
    return json.dumps(obj) + "\n"


@pytest.mark.parametrize(
    "request_",
    [
        {"contents": CONTENTS},
        {"contents": CONTENTS, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}},
        # python-genai issue #1103: snake_case inside generationConfig is read by the service.
        {"contents": CONTENTS, "generation_config": {"thinking_config": {"thinking_budget": 0}}},
        {"contents": CONTENTS, "system_instruction": {"parts": [{"text": "be short"}]}},
        {"contents": CONTENTS, "tools": [], "toolConfig": {}, "safety_settings": [], "cachedContent": "c/1"},
        {"model": "models/gemini-2.5-flash", "contents": [{"parts": [{"text": "no role"}]}]},
        # python-genai _InlinedRequest_to_mldev: the SDK puts labels / serviceTier / store at the top of the
        # request.
        {"contents": CONTENTS, "labels": {"a": "b"}, "service_tier": "flex", "store": False},
    ],
)
def test_real_generate_requests_pass(request_: dict[str, Any]) -> None:
    assert rf.check_request(request_, rf.GENERATE) is None


@pytest.mark.parametrize(
    ("request_", "field", "phrase"),
    [
        # inspect_ai #3257: the exact field the service rejected.
        (
            {"contents": CONTENTS, "thinking_config": {"thinking_budget": 0}},
            "thinking_config",
            "belongs under generationConfig.thinkingConfig",
        ),
        ({"contents": CONTENTS, "temperature": 0.2}, "temperature", "generationConfig.temperature"),
        ({"contents": CONTENTS, "config": {"temperature": 0.2}}, "config", "SDK's GenerateContentConfig"),
        ({"contents": CONTENTS, "foo": 1}, "foo", "not a field of GenerateContentRequest"),
        ({"content": {"parts": []}, "contents": CONTENTS}, "content", "embeddings=True"),
        (
            {"contents": CONTENTS, "generationConfig": {}, "generation_config": {}},
            "generation_config",
            "twice",
        ),
        ({"generationConfig": {}}, "contents", "contents is missing"),
        ({"contents": "Why is the sky blue?"}, "contents", "list of Content"),
        ({"contents": []}, "contents", "empty"),
        ({"contents": ["hi"]}, "contents[0]", "Content object"),
        ({"contents": [{"text": "hi"}]}, "contents[0].text", "text goes inside parts"),
        ({"contents": [{"role": "user"}]}, "contents[0].parts", "list of Part"),
        ({"contents": [{"parts": ["hi"]}]}, "contents[0].parts[0]", "Part object"),
        ({"contents": [{"parts": [], "role": 1}]}, "contents[0].role", "must be a string"),
        ({"contents": CONTENTS, "systemInstruction": "be short"}, "systemInstruction", "not a string"),
        ({"contents": CONTENTS, "system_instruction": {"text": "x"}}, "system_instruction.text", "Content"),
        ({"contents": CONTENTS, "generationConfig": "hot"}, "generationConfig", "must be an object"),
    ],
)
def test_bad_generate_requests_name_the_field_and_the_fix(
    request_: dict[str, Any], field: str, phrase: str
) -> None:
    problem = rf.check_request(request_, rf.GENERATE)
    assert problem is not None
    assert problem.field == field
    assert phrase in problem.message


def test_embed_requests_are_checked_as_embed_content_request() -> None:
    # The cookbook's own embeddings lines (snake_case output_dimensionality) pass.
    assert rf.check_request({"output_dimensionality": 3, **EMBED}, rf.EMBED) is None
    assert rf.check_request({"taskType": "RETRIEVAL_DOCUMENT", "title": "t", **EMBED}, rf.EMBED) is None
    missing = rf.check_request({"taskType": "CLUSTERING"}, rf.EMBED)
    assert missing is not None
    assert missing.field == "content"
    plural = rf.check_request({"contents": CONTENTS}, rf.EMBED)
    assert plural is not None
    assert "one content object" in plural.message


def test_file_errors_name_file_line_key_and_field() -> None:
    lines = [
        _line(key="k0", request={"contents": CONTENTS}),
        _line(key="k1", request={"contents": CONTENTS, "thinking_config": {"thinking_budget": 0}}),
    ]
    with pytest.raises(GeminiInputFileError) as info:
        validate_input_lines(lines, path="in.jsonl")
    err = info.value
    assert (err.line_number, err.key, err.field) == (2, "k1", "request.thinking_config")
    assert str(err).startswith("in.jsonl, line 2 (key 'k1'), field request.thinking_config: ")
    assert "belongs under generationConfig.thinkingConfig" in str(err)


def test_request_settings_beside_request_on_the_line_are_refused() -> None:
    """google-gemini/cookbook issue #846: generation_config next to "request" had no effect."""
    line = _line(key="k", request={"contents": CONTENTS}, generation_config={"temperature": 1})
    with pytest.raises(GeminiInputFileError, match="move it into request") as info:
        validate_input_lines([line], path="in.jsonl")
    assert info.value.field == "generation_config"


def test_other_line_fields_are_reported_for_a_warning() -> None:
    """Extra line fields are echoed on the result line (go-genai issue #513)."""
    lines = [_line(key=f"k{i}", request={"contents": CONTENTS}, custom_id=str(i)) for i in range(3)]
    assert validate_input_lines(lines, path="x").echoed_fields == {"custom_id": 1}


def test_the_batch_kind_decides_the_request_type() -> None:
    embed_lines = [_line(key="a", request=EMBED), _line(key="b", request=EMBED)]
    assert validate_input_lines(embed_lines, path="x").kind == rf.EMBED  # decided by line 1
    assert validate_input_lines(embed_lines, path="x", embeddings=True).count == 2
    with pytest.raises(GeminiInputFileError, match="embeddings=True"):
        validate_input_lines(embed_lines, path="x", embeddings=False)
    mixed = [_line(key="a", request=EMBED), _line(key="b", request={"contents": CONTENTS})]
    with pytest.raises(GeminiInputFileError, match="one kind") as info:
        validate_input_lines(mixed, path="x")
    assert info.value.line_number == 2


def test_inline_errors_name_position_key_and_field() -> None:
    bad = {"key": "k1", "request": {"contents": CONTENTS, "thinking_config": {"thinking_budget": 0}}}
    with pytest.raises(GeminiInvalidInputError) as info:
        inline_request_items([{"key": "k0", "request": {"contents": CONTENTS}}, bad])
    assert str(info.value).startswith("requests[1] (key 'k1'), field request.thinking_config: ")
    with pytest.raises(GeminiInvalidInputError, match=r"requests\[0\], field systemInstruction"):
        inline_request_items([{"contents": CONTENTS, "systemInstruction": "be short"}])
    with pytest.raises(GeminiInvalidInputError, match="embeddings=True"):
        inline_request_items([{"request": EMBED}])
    assert inline_request_items([{"request": EMBED}], embeddings=True)[0]["request"] == EMBED


def test_inline_item_fields_beside_request_are_refused_not_dropped() -> None:
    with pytest.raises(GeminiInvalidInputError, match=r"field generation_config: .*move it into request"):
        inline_request_items([{"key": "a", "request": {"contents": CONTENTS}, "generation_config": {}}])
    with pytest.raises(GeminiInvalidInputError, match=r"field note: .*would be dropped"):
        inline_request_items([{"key": "a", "request": {"contents": CONTENTS}, "note": "x"}])


def test_inline_requests_without_a_key_get_a_marked_generated_key() -> None:
    items = inline_request_items(
        [
            {"contents": CONTENTS},
            {"key": "mine", "request": {"contents": CONTENTS}},
            {"request": {"contents": CONTENTS}, "metadata": {"source": "crm"}},
        ]
    )
    assert [item["metadata"] for item in items] == [
        {"key": "request-0", GENERATED_KEY_METADATA: "true"},
        {"key": "mine"},
        {"source": "crm", "key": "request-2", GENERATED_KEY_METADATA: "true"},
    ]
    # Metadata values stay strings (python-genai InlinedResponse reads them as dict[str, str]).
    assert all(isinstance(v, str) for item in items for v in item["metadata"].values())
    assert [key_was_generated(item["metadata"]) for item in items] == [True, False, True]


def test_a_user_key_equal_to_a_generated_one_names_both_positions() -> None:
    with pytest.raises(GeminiInvalidInputError) as info:
        inline_request_items(
            [{"key": "request-1", "request": {"contents": CONTENTS}}, {"contents": CONTENTS}]
        )
    assert "requests[1]" in str(info.value)
    assert "requests[0]" in str(info.value)
    assert "'request-1'" in str(info.value)


def test_the_generated_key_marker_is_reserved() -> None:
    with pytest.raises(GeminiInvalidInputError, match="reserved"):
        inline_request_items(
            [{"request": {"contents": CONTENTS}, "metadata": {GENERATED_KEY_METADATA: "true"}}]
        )
