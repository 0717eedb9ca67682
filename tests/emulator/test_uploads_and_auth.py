"""Raw-HTTP tests of the upload protocol, files, authentication, limits and dropped connections."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer

START_HEADERS = {
    "X-Goog-Upload-Protocol": "resumable",
    "X-Goog-Upload-Command": "start",
    "X-Goog-Upload-Header-Content-Type": "application/jsonl",
}


def start_upload(http: httpx.Client, size: int, body: object = None) -> str:
    response = http.post(
        "/upload/v1beta/files",
        headers={**START_HEADERS, "X-Goog-Upload-Header-Content-Length": str(size)},
        json=body if body is not None else {"file": {"display_name": "raw"}},
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-goog-upload-status"] == "active"
    assert response.headers["x-goog-upload-chunk-granularity"] == "8388608"
    return response.headers["x-goog-upload-url"]


def send(url: str, data: bytes, offset: int, command: str = "upload") -> httpx.Response:
    """A chunk request with no credentials: session URLs authorise themselves."""
    return httpx.post(
        url, content=data, headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
    )


def query(url: str) -> httpx.Response:
    return httpx.post(url, headers={"X-Goog-Upload-Command": "query"})


# ---- upload protocol ---------------------------------------------------------------------------


def test_upload_url_is_absolute_and_points_at_this_server(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    url = start_upload(http, 3)
    assert url.startswith(emulator.base_url + "/upload/v1beta/files?upload_id=")


def test_query_reports_bytes_received_and_upload_resumes_from_there(http: httpx.Client) -> None:
    url = start_upload(http, 10)
    assert send(url, b"01234", 0).headers["x-goog-upload-status"] == "active"

    answer = query(url)
    assert answer.headers["x-goog-upload-status"] == "active"
    assert answer.headers["x-goog-upload-size-received"] == "5"

    final = send(url, b"56789", 5, "upload, finalize")
    assert final.status_code == 200
    assert final.headers["x-goog-upload-status"] == "final"
    assert final.json()["file"]["sizeBytes"] == "10"


def test_query_after_finalize_returns_the_file(http: httpx.Client) -> None:
    url = start_upload(http, 2)
    name = send(url, b"ab", 0, "upload, finalize").json()["file"]["name"]

    answer = query(url)

    assert answer.headers["x-goog-upload-status"] == "final"
    assert answer.json()["file"]["name"] == name


def test_offset_mismatch_is_rejected_with_the_size_received(http: httpx.Client) -> None:
    url = start_upload(http, 10)
    send(url, b"0123", 0)

    answer = send(url, b"xxxx", 2)

    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert answer.headers["x-goog-upload-size-received"] == "4"
    assert query(url).headers["x-goog-upload-size-received"] == "4"


def test_cancelled_upload_session_refuses_further_chunks(http: httpx.Client) -> None:
    url = start_upload(http, 4)
    cancelled = httpx.post(url, headers={"X-Goog-Upload-Command": "cancel"})
    assert cancelled.headers["x-goog-upload-status"] == "cancelled"

    answer = send(url, b"abcd", 0, "upload, finalize")

    assert answer.status_code == 400
    assert answer.headers["x-goog-upload-status"] == "cancelled"
    assert "files" not in http.get("/v1beta/files").json()


def test_finalize_with_fewer_bytes_than_declared_is_refused(http: httpx.Client) -> None:
    url = start_upload(http, 10)

    answer = send(url, b"abc", 0, "upload, finalize")

    assert answer.status_code == 400
    assert answer.headers["x-goog-upload-status"] == "active"


def test_declared_size_over_2gb_is_refused_at_start(http: httpx.Client) -> None:
    response = http.post(
        "/upload/v1beta/files",
        headers={**START_HEADERS, "X-Goog-Upload-Header-Content-Length": str(2 * 1024**3 + 1)},
        json={},
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_client_chosen_file_name_is_kept_and_duplicates_conflict(http: httpx.Client) -> None:
    url = start_upload(http, 1, {"file": {"name": "files/my-input"}})
    assert send(url, b"x", 0, "upload, finalize").json()["file"]["name"] == "files/my-input"

    again = http.post(
        "/upload/v1beta/files",
        headers={**START_HEADERS, "X-Goog-Upload-Header-Content-Length": "1"},
        json={"file": {"name": "files/my-input"}},
    )
    assert again.status_code == 409


def test_single_quoted_start_body_from_the_docs_is_accepted(http: httpx.Client) -> None:
    url = start_upload(http, 1, None)
    response = http.post(
        "/upload/v1beta/files",
        headers={
            **START_HEADERS,
            "X-Goog-Upload-Header-Content-Length": "1",
            "Content-Type": "application/jsonl",
        },
        content=b"{'file': {'display_name': 'BatchInput'}}",
    )
    assert url
    assert response.status_code == 200
    file = send(response.headers["x-goog-upload-url"], b"x", 0, "upload, finalize").json()["file"]
    assert file["displayName"] == "BatchInput"


def test_file_resource_shape(http: httpx.Client) -> None:
    url = start_upload(http, 3)
    file = send(url, b"abc", 0, "upload, finalize").json()["file"]

    got = http.get(f"/v1beta/{file['name']}").json()

    assert got == file
    assert got["sizeBytes"] == "3"
    assert got["mimeType"] == "application/jsonl"
    assert got["state"] == "ACTIVE"
    assert got["source"] == "UPLOADED"
    assert got["createTime"].endswith("Z")
    assert len(got["createTime"].split(".")[1]) == 10
    assert "downloadUri" not in got


def test_uploaded_files_cannot_be_downloaded(http: httpx.Client) -> None:
    url = start_upload(http, 1)
    name = send(url, b"x", 0, "upload, finalize").json()["file"]["name"]

    response = http.get(f"/v1beta/{name}:download", params={"alt": "media"})

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_files_list_page_size_is_capped_at_100(http: httpx.Client) -> None:
    for _ in range(101):
        send(start_upload(http, 1), b"x", 0, "upload, finalize")

    first = http.get("/v1beta/files", params={"pageSize": 500}).json()
    second = http.get("/v1beta/files", params={"pageSize": 500, "pageToken": first["nextPageToken"]}).json()

    assert len(first["files"]) == 100
    assert len(second["files"]) == 1
    assert "nextPageToken" not in second


def test_unknown_page_token_is_invalid_argument(http: httpx.Client) -> None:
    response = http.get("/v1beta/files", params={"pageToken": "not-ours"})
    assert response.status_code == 400


def test_files_expire_after_48_hours(http: httpx.Client, emulator: EmulatorServer) -> None:
    name = send(start_upload(http, 1), b"x", 0, "upload, finalize").json()["file"]["name"]
    emulator.control.advance_clock(47 * 3600)
    assert http.get(f"/v1beta/{name}").status_code == 200

    emulator.control.advance_clock(2 * 3600)

    gone = http.get(f"/v1beta/{name}")
    # An expired file: 403 PERMISSION_DENIED "... or it may not exist" (python-genai #1218).
    assert gone.status_code == 403
    assert gone.json()["error"]["status"] == "PERMISSION_DENIED"
    assert http.get("/v1beta/files").json() == {}


# ---- authentication ----------------------------------------------------------------------------


def test_no_credentials_is_permission_denied(emulator: EmulatorServer) -> None:
    response = httpx.get(emulator.base_url + "/v1beta/batches")
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_wrong_key_gets_the_live_api_key_invalid_envelope(emulator: EmulatorServer) -> None:
    response = httpx.get(emulator.base_url + "/v1beta/batches", headers={"x-goog-api-key": "wrong"})

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "API key not valid. Please pass a valid API key."
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"key": "test-key"}, {}),
        ({}, {"x-goog-api-key": "test-key"}),
        ({}, {"Authorization": "Bearer ya29.any-token"}),
    ],
    ids=["query-key", "header-key", "bearer"],
)
def test_each_credential_form_is_accepted(emulator: EmulatorServer, params: dict, headers: dict) -> None:
    response = httpx.get(emulator.base_url + "/v1beta/batches", params=params, headers=headers)
    assert response.status_code == 200
    assert response.json() == {}


def test_upload_session_url_needs_no_key_but_start_does(emulator: EmulatorServer, http: httpx.Client) -> None:
    unauthenticated = httpx.post(
        emulator.base_url + "/upload/v1beta/files", headers={**START_HEADERS}, json={}
    )
    assert unauthenticated.status_code == 403
    assert send(start_upload(http, 1), b"x", 0, "upload, finalize").status_code == 200


# ---- routing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v1beta", "v1alpha"])
def test_every_api_version_is_routed(http: httpx.Client, version: str) -> None:
    assert http.get(f"/{version}/files").status_code == 200


def test_unknown_path_is_a_404_envelope(http: httpx.Client) -> None:
    response = http.get("/v1beta/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


# ---- dropped connections -----------------------------------------------------------------------


def test_drop_after_bytes_closes_the_socket_without_a_response_and_keeps_the_bytes(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    url = start_upload(http, 1000)
    emulator.control.inject_fault(method="POST", path="upload_id=", drop_after_bytes=600)
    target = urlsplit(url)

    with socket.create_connection((target.hostname, target.port), timeout=10) as sock:
        head = (
            f"POST {target.path}?{target.query} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            "X-Goog-Upload-Command: upload, finalize\r\nX-Goog-Upload-Offset: 0\r\n"
            "Content-Length: 1000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"a" * 1000)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass

    assert received == b""  # closed with no status line at all
    resumed = query(url)
    assert resumed.headers["x-goog-upload-size-received"] == "600"
    final = send(url, b"a" * 400, 600, "upload, finalize")
    assert final.json()["file"]["sizeBytes"] == "1000"


def test_drop_on_a_json_route_is_seen_by_httpx_as_a_protocol_error(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.inject_fault(method="GET", path=r"/v1beta/batches$", drop_after_bytes=0)

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.get("/v1beta/batches")
    assert http.get("/v1beta/batches").status_code == 200


def test_lost_answer_fault_serves_the_request_then_drops_the_connection(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.inject_fault(method="POST", path=r":batchGenerateContent$", lose_answer=True)
    body = {"batch": {"displayName": "lost", "inputConfig": {"requests": {"requests": [{"request": {}}]}}}}

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body)
    listed = http.get("/v1beta/batches").json()["operations"]
    assert [op["metadata"]["displayName"] for op in listed] == ["lost"]  # created all the same


# ---- memory ------------------------------------------------------------------------------------


def test_upload_and_result_download_memory_stays_flat(http: httpx.Client, emulator: EmulatorServer) -> None:
    """A 48 MiB upload and its result download never hold the file in memory (server or client)."""
    import json
    import tracemalloc

    line = (
        json.dumps({"key": "k", "request": {"contents": [{"parts": [{"text": "y" * 1_000_000}]}]}}) + "\n"
    ).encode()
    lines = 48
    size = len(line) * lines
    url = start_upload(http, size)

    def body():  # type: ignore[no-untyped-def]
        for _ in range(lines):
            yield line

    tracemalloc.start()
    try:
        final = httpx.post(
            url,
            content=body(),
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
            timeout=120,
        )
        name = final.json()["file"]["name"]
        op = http.post(
            "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
            json={"batch": {"inputConfig": {"fileName": name}}},
        ).json()
        emulator.control.advance_clock(10)
        done: dict = {}
        while done.get("metadata", {}).get("state") != "BATCH_STATE_SUCCEEDED":
            done = http.get(f"/v1beta/{op['name']}", timeout=120).json()
        received = 0
        result = done["metadata"]["output"]["responsesFile"]
        with http.stream("GET", f"/v1beta/{result}:download", params={"alt": "media"}) as response:
            for block in response.iter_raw():
                received += len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert final.json()["file"]["sizeBytes"] == str(size)
    assert received > size
    assert peak < 24 * 1024 * 1024
