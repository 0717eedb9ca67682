"""Error mapping: status → exception class, envelope fields, Retry-After, redaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from airflow_provider_gemini_batch._core.errors import (
    error_from_response,
    parse_duration,
    parse_retry_after,
    redact,
    transport_error,
)
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiClientError,
    GeminiNotFoundError,
    GeminiRateLimitError,
    GeminiServerError,
)


def _envelope(code: int, status: str, message: str, details: list[object] | None = None) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "status": status, "details": details or []}}
    ).encode()


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, GeminiClientError),
        (403, GeminiClientError),
        (404, GeminiNotFoundError),
        (408, GeminiClientError),
        (429, GeminiRateLimitError),
        (500, GeminiServerError),
        (503, GeminiServerError),
        (302, GeminiApiError),
    ],
)
def test_status_codes_map_to_the_exception_tree(code: int, cls: type[GeminiApiError]) -> None:
    exc = error_from_response(code, _envelope(code, "X", "m"), {})
    assert type(exc) is cls
    assert exc.http_status == code


def test_envelope_fields_and_error_info_reason_are_kept() -> None:
    body = _envelope(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
        ],
    )
    exc = error_from_response(400, body, {}, resource="batches/b1", method="Getting batches/b1")
    assert exc.status == "INVALID_ARGUMENT"
    assert exc.reason == "API_KEY_INVALID"
    assert exc.resource == "batches/b1"
    assert "API key not valid" in exc.api_message
    assert "batches/b1" in str(exc)
    assert "INVALID_ARGUMENT" in str(exc)


def test_list_wrapped_envelope_is_unwrapped() -> None:
    body = json.dumps([{"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}}])
    exc = error_from_response(404, body, {})
    assert exc.status == "NOT_FOUND"
    assert exc.api_message == "gone"


def test_non_json_body_uses_text_and_reason_phrase() -> None:
    exc = error_from_response(502, b"<html>Bad gateway</html>", {}, reason_phrase="Bad Gateway")
    assert isinstance(exc, GeminiServerError)
    assert exc.status == "BAD_GATEWAY"
    assert "Bad gateway" in exc.api_message


def test_retry_after_header_and_retry_info_take_the_larger() -> None:
    body = _envelope(
        429,
        "RESOURCE_EXHAUSTED",
        "slow down",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}],
    )
    assert error_from_response(429, body, {"Retry-After": "7"}).retry_after == 30.0
    assert error_from_response(429, _envelope(429, "R", "m"), {"retry-after": "7"}).retry_after == 7.0
    assert error_from_response(429, _envelope(429, "R", "m"), {}).retry_after is None


def test_retry_after_accepts_http_dates_and_rejects_garbage() -> None:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("soon") is None
    assert parse_duration("1.5s") == 1.5
    assert parse_duration({"seconds": "2", "nanos": 500000000}) == 2.5


def test_secrets_are_redacted_from_messages() -> None:
    exc = error_from_response(
        400, _envelope(400, "INVALID_ARGUMENT", "bad key sk-123"), {}, secrets=["sk-123"]
    )
    assert "sk-123" not in str(exc)
    assert redact("a sk-123 b", ["sk-123", None]) == "a *** b"


def test_transport_error_records_whether_the_request_may_have_been_seen() -> None:
    err = transport_error(
        OSError("refused key=sk-9"), resource="x", method="GET", sent=False, timed_out=False, secrets=["sk-9"]
    )
    assert err.sent is False
    assert err.timed_out is False
    assert "sk-9" not in str(err)


def test_transport_error_shows_the_root_cause_first_and_no_url_query() -> None:
    """A wrapper whose own text is long (urllib3 quotes the URL with its ``fields`` mask) and
    whose root cause is deep: the cause leads, uncut; the query (which could carry ``key=``) goes."""

    class Wrapper(Exception):
        def __init__(self, text: str, reason: BaseException) -> None:
            super().__init__(text)
            self.reason = reason

    root = ConnectionRefusedError(111, "Connection refused")
    middle = Wrapper("Failed to establish a new connection", root)
    url = "/v1beta/batches?pageSize=100&key=sk-77&fields=" + "operations(name,metadata(state))," * 20
    outer = Wrapper(f"Max retries exceeded with url: {url}", middle)
    err = transport_error(outer, resource="batches", method="Listing batches", sent=False, timed_out=False)
    text = str(err)
    assert text.startswith(
        "Listing batches got no answer (ConnectionRefusedError: [Errno 111] Connection refused; "
    )
    assert "url: /v1beta/batches " in text or "url: /v1beta/batches)" in text
    assert "sk-77" not in text
    assert "fields=" not in text
