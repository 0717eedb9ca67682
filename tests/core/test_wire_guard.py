"""The pure guards of ``_core/wire_guard.py``: origins, redirect errors, bounded decoding."""

from __future__ import annotations

import gzip
import zlib

import pytest

from airflow_provider_gemini_batch._core.wire_guard import (
    BoundedBody,
    check_session_url,
    origin,
    redirect_error,
)
from airflow_provider_gemini_batch.exceptions import GeminiApiError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com:443"),
        (
            "https://GenerativeLanguage.googleapis.com:443/upload/v1beta/files?upload_id=x",
            "https://generativelanguage.googleapis.com:443",
        ),
        ("http://user:pass@127.0.0.1:8089/v1beta", "http://127.0.0.1:8089"),
        ("http://[::1]:80/x", "http://[::1]:80"),
        ("/relative/path", ""),
        ("http://host:notaport/", ""),
    ],
)
def test_origin(url: str, expected: str) -> None:
    assert origin(url) == expected


def test_redirect_error_names_the_origin_only() -> None:
    error = redirect_error(
        302,
        "https://evil.example:8443/p?token=secret",
        "https://api.example",
        resource="batches/x",
        method="Getting batches/x",
    )
    assert "HTTP 302" in str(error)
    assert "https://evil.example:8443" in str(error)
    assert "secret" not in str(error)


def test_a_relative_redirect_is_refused_too() -> None:
    error = redirect_error(301, "/v1beta/other?key=secret", "https://api.example", resource=None, method=None)
    assert "https://api.example:443" in str(error)
    assert "secret" not in str(error)


def test_session_url_on_the_same_origin_passes_and_another_is_refused() -> None:
    check_session_url(
        "https://api.example:443/upload/v1beta/files?upload_id=x", "https://api.example", resource="f"
    )
    with pytest.raises(GeminiApiError, match=r"http://api\.example:80"):
        check_session_url("http://api.example/upload?upload_id=secret", "https://api.example", resource="f")


def _body(encoding: str | None, limit: int = 1000) -> BoundedBody:
    return BoundedBody(encoding, limit, http_status=200, resource="r", method="m")


def test_identity_and_gzip_are_read_and_capped() -> None:
    body = _body("identity")
    body.feed(b"abc")
    assert body.body() == b"abc"
    body = _body("gzip")
    packed = gzip.compress(b"x" * 999)
    body.feed(packed[:10])
    body.feed(packed[10:])
    assert body.body() == b"x" * 999
    with pytest.raises(GeminiApiError, match="larger than 1000 bytes"):
        _body("gzip").feed(gzip.compress(b"x" * 1001))


def test_raw_zlib_deflate_is_decoded() -> None:
    body = _body("deflate")
    body.feed(zlib.compress(b"hello"))
    assert body.body() == b"hello"


def test_corrupt_and_cut_compressed_bodies_are_errors() -> None:
    with pytest.raises(GeminiApiError, match="corrupt"):
        _body("gzip").feed(b"not gzip at all")
    cut = _body("gzip")
    cut.feed(gzip.compress(b"y" * 500)[:-8])
    with pytest.raises(GeminiApiError, match="ended before"):
        cut.body()


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, br", "<script>"])
def test_other_encodings_are_refused_without_echoing_odd_names(encoding: str) -> None:
    with pytest.raises(GeminiApiError, match="does not decode") as caught:
        _body(encoding)
    assert "<script>" not in str(caught.value)
