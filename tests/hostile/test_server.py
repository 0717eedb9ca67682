"""The hostile stand-in does what its docstring promises (over a real socket, with the stdlib client)."""

from __future__ import annotations

import http.client
import json
import time
import zlib
from collections.abc import Callable

from tests.hostile.server import (
    MIB,
    HostileServer,
    Rule,
    UploadSession,
    bomb_bytes,
    echo_secret,
    endless_pages,
    redirect,
    trickle,
    upload_start,
)


def connect(server: HostileServer, timeout: float = 5) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def test_redirect_names_the_other_origin_and_it_records_headers(
    hostile_server: Callable[..., HostileServer], elsewhere: HostileServer
) -> None:
    server = hostile_server([Rule("GET", r"/a", redirect(307, elsewhere.base_url + "/b?x=1"))])
    conn = connect(server)
    conn.request("GET", "/a")
    answer = conn.getresponse()
    assert answer.status == 307
    assert answer.getheader("Location") == elsewhere.base_url + "/b?x=1"
    other = connect(elsewhere)
    other.request("GET", "/b", headers={"x-goog-api-key": "k"})
    assert other.getresponse().status == 200
    assert elsewhere.headers_seen("x-goog-api-key") == ["k"]


def test_endless_pages_give_a_new_token_each_time(hostile_server: Callable[..., HostileServer]) -> None:
    server = hostile_server([Rule("GET", r"/v1beta/batches", endless_pages())])
    tokens = set()
    conn = connect(server)
    for _ in range(5):
        conn.request("GET", "/v1beta/batches")
        page = json.loads(conn.getresponse().read())
        assert page["operations"] == []
        tokens.add(page["nextPageToken"])
    assert len(tokens) == 5


def test_trickle_sends_bytes_slowly(hostile_server: Callable[..., HostileServer]) -> None:
    server = hostile_server([Rule("GET", r"/slow", trickle(interval=0.05, count=4))])
    conn = connect(server)
    start = time.monotonic()
    conn.request("GET", "/slow")
    body = conn.getresponse().read()
    assert body == b"    "
    assert time.monotonic() - start >= 0.15


def test_gzip_bomb_is_small_and_expands() -> None:
    bomb = bomb_bytes(64 * MIB)
    assert len(bomb) < 128 * 1024
    assert len(zlib.decompress(bomb, 31)) > 64 * MIB


def test_echo_secret_puts_the_key_everywhere(hostile_server: Callable[..., HostileServer]) -> None:
    server = hostile_server([Rule(None, r".*", echo_secret())])
    conn = connect(server)
    conn.request("GET", "/x", headers={"x-goog-api-key": "sekrit"})
    answer = conn.getresponse()
    error = json.loads(answer.read())["error"]
    assert answer.reason == "SEKRIT"
    assert answer.getheader("X-Echo") == "sekrit"
    assert "sekrit" in error["message"]
    assert error["status"] == "sekrit"
    assert error["details"][0]["reason"] == "sekrit"


def test_upload_session_finalizes_early(hostile_server: Callable[..., HostileServer]) -> None:
    session = UploadSession(finalize_after=1, with_hash=False)
    server = hostile_server(
        [
            Rule("POST", r"/upload/v1beta/files", upload_start(), when=lambda r: "upload_id" not in r.query),
            Rule("POST", r"/upload/v1beta/files", session.action),
        ]
    )
    conn = connect(server)
    conn.request("POST", "/upload/v1beta/files", headers={"X-Goog-Upload-Command": "start"})
    start = conn.getresponse()
    start.read()
    assert start.getheader("X-Goog-Upload-URL", "").startswith(server.base_url)
    conn.request(
        "POST",
        "/upload/v1beta/files?upload_id=hostile-session",
        body=b"abc",
        headers={"X-Goog-Upload-Command": "upload"},
    )
    chunk = conn.getresponse()
    assert chunk.getheader("X-Goog-Upload-Status") == "final"
    assert "sha256Hash" not in json.loads(chunk.read())["file"]
