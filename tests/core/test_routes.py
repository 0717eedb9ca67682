"""Request building: methods, paths, headers and bodies as the wire format wants them."""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

REQ = {"contents": [{"parts": [{"text": "hi"}]}]}


def test_batch_calls_use_versioned_paths() -> None:
    assert (
        routes.get_batch("v1beta", "batches/b1").method,
        routes.get_batch("v1beta", "batches/b1").path,
    ) == (
        "GET",
        "/v1beta/batches/b1",
    )
    cancel = routes.cancel_batch("v1beta", "batches/b1")
    assert (cancel.method, cancel.path, cancel.json) == ("POST", "/v1beta/batches/b1:cancel", None)
    assert routes.delete_batch("v1", "batches/b1").path == "/v1/batches/b1"
    listing = routes.list_batches("v1beta", "tok")
    assert listing.params == {"pageSize": "100", "pageToken": "tok"}


def test_create_inline_wraps_requests_with_key_metadata() -> None:
    req = routes.create_batch(
        "v1beta",
        "gemini-2.5-flash",
        requests=[{"key": "a", "request": REQ}, {"key": "b", "request": REQ}],
        display_name="d",
        priority=3,
    )
    assert req.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    assert req.idempotent is False
    assert req.json == {
        "batch": {
            "displayName": "d",
            "inputConfig": {
                "requests": {
                    "requests": [
                        {"request": REQ, "metadata": {"key": "a"}},
                        {"request": REQ, "metadata": {"key": "b"}},
                    ]
                }
            },
            "priority": "3",
        }
    }


def test_create_accepts_bare_requests_and_files() -> None:
    bare = routes.create_batch("v1beta", "gemini-2.5-flash", requests=[REQ])
    # A request without a key gets a generated one, marked as such (results join by key).
    generated = {"key": "request-0", "gemini_batch_key_generated": "true"}
    assert bare.json == {
        "batch": {"inputConfig": {"requests": {"requests": [{"request": REQ, "metadata": generated}]}}}
    }
    by_file = routes.create_batch("v1beta", "models/m", input_file="files/abc", embeddings=True)
    assert by_file.path == "/v1beta/models/m:asyncBatchEmbedContent"
    assert by_file.json == {"batch": {"inputConfig": {"fileName": "files/abc"}}}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"requests": [REQ], "input_file": "files/a"}, "exactly one"),
        ({"requests": []}, "empty"),
        ({"requests": [{"key": "a", "request": REQ}, {"key": "a", "request": REQ}]}, "duplicate key"),
        ({"requests": [{"key": "request-1", "request": REQ}, REQ]}, "generated key 'request-1'"),
        ({"requests": [{"key": 5, "request": REQ}]}, "non-empty string"),
        ({"input_file": "abc"}, "file name"),
        ({"requests": [REQ], "priority": "high"}, "priority"),
    ],
)
def test_create_refuses_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(GeminiInvalidInputError, match=match):
        routes.create_batch("v1beta", "gemini-2.5-flash", **kwargs)  # type: ignore[arg-type]


def test_inline_body_of_20_mb_is_refused_with_advice_to_use_a_file() -> None:
    big = {"contents": [{"parts": [{"text": "x" * 1_000_000}]}]}
    with pytest.raises(GeminiInvalidInputError, match="upload it and pass input_file"):
        routes.create_batch("v1beta", "m", requests=[big] * 20)
    # Just under the limit passes; the size is measured on the serialized bytes.
    ok = routes.create_batch("v1beta", "m", requests=[big] * 19)
    assert len(ok.content() or b"") < routes.MAX_INLINE_REQUEST_BYTES
    assert json.loads(ok.content() or b"") == ok.json


def test_upload_start_and_chunks() -> None:
    start = routes.upload_start(
        "v1beta", size=71, mime_type="application/jsonl", display_name="d", file_name="in.jsonl"
    )
    assert start.path == "/upload/v1beta/files"
    assert start.headers["X-Goog-Upload-Protocol"] == "resumable"
    assert start.headers["X-Goog-Upload-Command"] == "start"
    assert start.headers["X-Goog-Upload-Header-Content-Length"] == "71"
    assert start.json == {"file": {"mimeType": "application/jsonl", "sizeBytes": 71, "displayName": "d"}}
    chunk = routes.upload_chunk("http://h/upload?upload_id=1", offset=8, length=4, final=True)
    assert chunk.headers["X-Goog-Upload-Command"] == "upload, finalize"
    assert chunk.headers["X-Goog-Upload-Offset"] == "8"
    assert chunk.authenticated is False  # the session URL authorises itself; no key travels
    assert chunk.url("http://other") == "http://h/upload?upload_id=1"
    assert routes.upload_query("http://h/u").headers["X-Goog-Upload-Command"] == "query"


def test_upload_over_2_gb_is_refused() -> None:
    with pytest.raises(GeminiInvalidInputError, match="2 GB"):
        routes.upload_start("v1beta", size=routes.MAX_UPLOAD_BYTES + 1, mime_type="application/jsonl")


def test_file_calls_and_download_path() -> None:
    assert routes.get_file("v1beta", "files/f1").path == "/v1beta/files/f1"
    assert routes.delete_file("v1beta", "files/f1").method == "DELETE"
    dl = routes.download_file("v1beta", "files/batch-x")
    assert (dl.path, dl.params) == ("/v1beta/files/batch-x:download", {"alt": "media"})
    assert routes.list_files("v1beta", page_size=1000).params["pageSize"] == "100"
    assert (
        routes.get_file("v1beta", "files/f1").url("http://h:1/prefix/") == "http://h:1/prefix/v1beta/files/f1"
    )
