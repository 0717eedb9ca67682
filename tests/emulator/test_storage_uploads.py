"""Upload protocol details of the emulator's Cloud Storage subset over raw HTTP: a resumable
session keeps the bytes a dropped connection let through (a status query reports them and the
client resumes), and a multipart body split anywhere, even inside boundary-like bytes, parses."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_resumable_session_keeps_bytes_of_a_dropped_chunk_and_resumes(emulator: EmulatorServer) -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes
    base = emulator.base_url
    started = httpx.post(
        f"{base}/upload/storage/v1/b/res/o",
        params={"uploadType": "resumable"},
        json={"name": "in/requests.jsonl", "contentType": "application/jsonl"},
        headers={"x-upload-content-length": str(len(data))},
    )
    assert started.status_code == 200
    session = started.headers["location"]
    emulator.control.inject_fault(method="PUT", path="upload_id=", drop_after_bytes=3000)
    with pytest.raises(httpx.TransportError):
        httpx.put(session, content=data, headers={"content-range": f"bytes 0-{len(data) - 1}/{len(data)}"})
    status = httpx.put(session, headers={"content-range": f"bytes */{len(data)}"})
    assert status.status_code == 308
    assert status.headers["range"] == "bytes=0-2999"
    # Re-sending from an earlier offset is fine: bytes already kept are skipped.
    done = httpx.put(
        session, content=data[2000:], headers={"content-range": f"bytes 2000-{len(data) - 1}/{len(data)}"}
    )
    assert done.status_code == 200
    stored = done.json()
    assert stored["size"] == str(len(data))
    assert stored["md5Hash"] == md5_b64(data)
    assert stored["contentType"] == "application/jsonl"
    assert (
        httpx.get(f"{base}/storage/v1/b/res/o/in%2Frequests.jsonl", params={"alt": "media"}).content == data
    )
    # A finished session answers its object again; a cancelled one 499.
    assert httpx.put(session, headers={"content-range": "bytes */*"}).status_code == 200


def test_resumable_session_cancel(emulator: EmulatorServer) -> None:
    started = httpx.post(
        f"{emulator.base_url}/upload/storage/v1/b/res/o", params={"uploadType": "resumable", "name": "x"}
    )
    session = started.headers["location"]
    assert httpx.delete(session).status_code == 499
    assert httpx.put(session, content=b"x", headers={"content-range": "bytes 0-0/1"}).status_code == 499
    assert httpx.get(f"{emulator.base_url}/storage/v1/b/res/o/x").status_code == 404


def test_multipart_split_into_odd_chunks_with_boundary_like_bytes(emulator: EmulatorServer) -> None:
    boundary = "==boundary-1234=="
    payload = b"line one\r\n--==boundary-12\r\n--==boundary-1234=x\r\n" * 50 + b"tail\r\n--"
    body = (
        f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n".encode()
        + json.dumps({"name": "odd/obj.bin", "metadata": {"origin": "test"}}).encode()
        + f"\r\n--{boundary}\r\ncontent-type: application/octet-stream\r\n\r\n".encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def pieces(size: int) -> Iterator[bytes]:
        for at in range(0, len(body), size):
            yield body[at : at + size]

    for size in (7, 13, 4096):
        answer = httpx.post(
            f"{emulator.base_url}/upload/storage/v1/b/mp/o",
            params={"uploadType": "multipart"},
            content=pieces(size),
            headers={"content-type": f'multipart/related; boundary="{boundary}"'},
        )
        assert answer.status_code == 200, answer.text
        stored = answer.json()
        assert stored["md5Hash"] == md5_b64(payload)
        assert stored["contentType"] == "application/octet-stream"
        assert stored["metadata"] == {"origin": "test"}
    media = httpx.get(
        f"{emulator.base_url}/download/storage/v1/b/mp/o/odd%2Fobj.bin", params={"alt": "media"}
    )
    assert media.content == payload


def test_a_multipart_body_without_its_closing_boundary_is_refused(emulator: EmulatorServer) -> None:
    body = b'--b\r\ncontent-type: application/json\r\n\r\n{"name": "x"}\r\n--b\r\n\r\nno end'
    answer = httpx.post(
        f"{emulator.base_url}/upload/storage/v1/b/mp/o",
        params={"uploadType": "multipart"},
        content=body,
        headers={"content-type": "multipart/related; boundary=b"},
    )
    assert answer.status_code == 400
    assert "closing boundary" in answer.json()["error"]["message"]
    assert httpx.get(f"{emulator.base_url}/storage/v1/b/mp/o/x").status_code == 404
