"""Resource-name validation: nothing that could alter a URL path or query gets through."""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch._core import names
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("tunedModels/my-model-1", "tunedModels/my-model-1"),
        ("text-embedding-004", "models/text-embedding-004"),
    ],
)
def test_model_names_get_their_prefix(given: str, expected: str) -> None:
    assert names.normalize_model(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "  ",
        "../batches/x",
        "gemini..flash",
        "gemini?x=1",
        "a&b",
        "models/a/b",
        "x/y",
        "a#b",
        "a%2f",
        "a b",
    ],
)
def test_model_names_with_path_characters_are_refused(bad: str) -> None:
    with pytest.raises(GeminiInvalidInputError, match="model name"):
        names.normalize_model(bad)


def test_batch_names_must_carry_the_prefix() -> None:
    assert names.normalize_batch_name("batches/abc123") == "batches/abc123"
    for bad in ["abc123", "files/abc", "batches/", "batches/a/b", "batches/a?b", "batches/../x"]:
        with pytest.raises(GeminiInvalidInputError, match="batch name"):
            names.normalize_batch_name(bad)


def test_file_names_and_file_uris_are_accepted() -> None:
    assert names.normalize_file_name("files/abc-123") == "files/abc-123"
    uri = "https://generativelanguage.googleapis.com/v1beta/files/voe5u4gdj968"
    assert names.normalize_file_name(uri) == "files/voe5u4gdj968"


def test_bad_file_names_are_refused() -> None:
    for bad in ["abc", "batches/x", "files/", "files/a b", "files/a&b"]:
        with pytest.raises(GeminiInvalidInputError, match="file name"):
            names.normalize_file_name(bad)
