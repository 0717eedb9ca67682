"""Connection parsing: defaults, extras, auth modes, and no secret in repr or messages."""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch._core.settings import AuthMode, ConnectionSettings
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError


def _parse(**kw: object) -> ConnectionSettings:
    args: dict[str, object] = {
        "conn_id": "c",
        "conn_type": "gemini_batch",
        "host": None,
        "password": None,
        "extra": {},
    }
    args.update(kw)
    return ConnectionSettings.from_connection(**args)  # type: ignore[arg-type]


def test_defaults_for_an_api_key_connection() -> None:
    s = _parse(password="sk-secret-1")
    assert s.base_url == "https://generativelanguage.googleapis.com"
    assert s.api_version == "v1beta"
    assert s.auth_mode is AuthMode.API_KEY
    assert s.timeout == 60.0
    assert s.max_retries == 5
    assert s.upload_chunk_size == 8 * 1024 * 1024
    assert "sk-secret-1" not in repr(s)
    assert s.secrets() == ("sk-secret-1",)


def test_extras_override_defaults_and_host_is_normalised() -> None:
    s = _parse(
        host="http://127.0.0.1:8089/",
        password="k",
        extra={
            "api_version": "v1",
            "timeout": "2.5",
            "max_retries": 1,
            "retry_deadline": 9,
            "upload_chunk_size": 1024,
        },
    )
    assert s.base_url == "http://127.0.0.1:8089"
    assert (s.api_version, s.timeout, s.max_retries, s.retry_deadline, s.upload_chunk_size) == (
        "v1",
        2.5,
        1,
        9.0,
        1024,
    )


def test_service_account_json_is_parsed_and_hidden() -> None:
    key = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----abc", "client_email": "x@y"}
    s = _parse(extra={"keyfile_dict": json.dumps(key), "scopes": "a, b", "quota_project_id": "proj"})
    assert s.auth_mode is AuthMode.SERVICE_ACCOUNT
    assert s.scopes == ("a", "b")
    assert s.quota_project_id == "proj"
    assert "PRIVATE KEY" not in repr(s)
    assert key["private_key"] in s.secrets()


def test_adc_mode() -> None:
    assert _parse(extra={"use_adc": "true"}).auth_mode is AuthMode.ADC


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"conn_type": "http", "password": "k"}, "needs a 'gemini_batch' connection"),
        ({}, "no API key"),
        ({"password": "k", "extra": {"use_adc": True}}, "both an API key and Google credentials"),
        ({"password": "k", "extra": {"api_version": "v2"}}, "api_version"),
        ({"password": "k", "extra": {"timeout": "soon"}}, "must be a number"),
        ({"extra": {"keyfile_dict": "{not json sk-private"}}, "not valid JSON"),
        ({"password": "k", "host": "ftp://x"}, "http"),
    ],
)
def test_bad_connections_raise_a_clear_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(GeminiConnectionConfigError, match=match) as info:
        _parse(**kwargs)
    assert "sk-private" not in str(info.value)
