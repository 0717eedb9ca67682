"""A hostile (or broken) API server on a real socket, for tests of what the provider trusts.

The counterpart of ``tests/real_service/standin.py``: that one replays what the real service was
seen to send; this one sends what an attacker, a misconfigured gateway or a broken server could.
A :class:`HostileServer` runs on 127.0.0.1 (a free port; another server on another port is another
*origin*, which is what redirect tests need) and answers each request with the first
:class:`Rule` that matches its method and path. A rule's ``action`` writes the answer through an
:class:`Exchange`, so behaviours compose per route::

    with HostileServer(name="elsewhere") as elsewhere, HostileServer(
        [
            Rule("POST", r".*:batchGenerateContent", redirect(307, elsewhere.base_url + "/steal")),
            Rule("GET", r"/v1beta/batches", endless_pages("operations")),
            Rule("GET", r"/v1beta/files/.*", gzip_bomb(300 * MIB)),
        ]
    ) as hostile:
        ...  # point a connection at hostile.base_url, then assert
        assert elsewhere.headers_seen("x-goog-api-key") == []

Actions (each a factory returning ``Callable[[Exchange], None]``):

* :func:`reply` - a status, headers, body (bytes or JSON) and an optional reason phrase.
* :func:`redirect` - 301/302/303/307/308 to a ``Location`` (``{base}`` = this server's URL).
* :func:`trickle` - headers at once, then one byte every ``interval`` seconds, for long.
* :func:`endless_pages` / :func:`repeated_page` - list pages that are empty and never end.
* :func:`gzip_bomb` - a small ``Content-Encoding: gzip`` (or ``deflate``) body that expands to
  ``expanded`` bytes; :func:`encoded` sends any bytes under any encoding name (``br``, unknown).
* :func:`oversized` - a plain body of ``size`` bytes, streamed (a JSON string that is huge).
* :func:`echo_secret` - an error answer that puts a received header's value (the API key by
  default) into ``error.message``, ``error.status``, ``ErrorInfo.reason``, the reason phrase
  (upper-cased) and a response header.
* :func:`upload_start` / :class:`UploadSession` - a resumable upload whose session URL may be on
  another origin, and which can finalize early, report a smaller ``sizeBytes`` or omit
  ``sha256Hash``.
* :func:`endless_line` - a download body that never contains a newline and never ends.
* :func:`then_refuse_connections` - answer, then refuse every later connection (a dead port).

Every request is recorded (:attr:`HostileServer.requests`) with its headers, so a test can assert
that a key never reached a server (:meth:`HostileServer.headers_seen`). A request no rule matches
is answered ``599`` and kept in :attr:`HostileServer.unmatched`. Actions that stream for long stop
when the client goes away or the server closes (leaving the ``with`` block).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

MIB = 1024 * 1024
REDIRECT_STATUSES = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Recorded:
    """One request as received. Header names are lower-cased; ``query`` as ``parse_qs`` gives it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_path: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Exchange:
    """What an action writes an answer with. Writes return False once the client has gone."""

    def __init__(self, handler: BaseHTTPRequestHandler, server: HostileServer, request: Recorded) -> None:
        self._handler = handler
        self.server = server
        self.request = request
        self.close_after = False

    def start(
        self,
        status: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        reason: str | None = None,
    ) -> bool:
        """Send the status line (``reason`` as the phrase if given) and the headers."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        try:
            if reason is None:
                self._handler.send_response(status)
            else:
                self._handler.send_response_only(status, reason)
                self._handler.send_header("Server", "hostile")
            for name, value in pairs:
                self._handler.send_header(name, value.replace("{base}", self.server.base_url))
                if name.lower() == "connection" and value.lower() == "close":
                    self.close_after = True
            self._handler.end_headers()
            return True
        except OSError:
            return False

    def write(self, data: bytes) -> bool:
        try:
            self._handler.wfile.write(data)
            self._handler.wfile.flush()
            return True
        except OSError:
            return False

    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        """A whole answer with ``Content-Length``."""
        all_headers = dict(headers or {})
        all_headers.setdefault("Content-Length", str(len(body)))
        if self.start(status, all_headers, reason):
            self.write(body)

    def send_json(
        self, status: int, value: Any, headers: Mapping[str, str] | None = None, reason: str | None = None
    ) -> None:
        all_headers = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        self.send(status, json.dumps(value).encode(), all_headers, reason)

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server is closing (then return False at once)."""
        return not self.server.stopping.wait(seconds)


Action = Callable[[Exchange], None]


@dataclass
class Rule:
    """Answer requests whose method (None: any) and path (a full-match regex) match.

    :param times: how many requests this rule answers (None: any number).
    :param when: an extra predicate on the request (e.g. a query parameter or header).
    """

    method: str | None
    path: str
    action: Action
    times: int | None = None
    when: Callable[[Recorded], bool] | None = None
    used: int = 0

    def matches(self, request: Recorded) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.method is not None and request.method != self.method:
            return False
        if not re.fullmatch(self.path, request.path):
            return False
        return self.when is None or self.when(request)


class HostileServer:
    """Serve ``rules`` on 127.0.0.1 until the context exits; ``base_url`` has no trailing slash.

    :param rules: matched in order; :meth:`add` appends more (e.g. once another server's URL is known).
    :param name: for messages only.
    """

    def __init__(self, rules: Sequence[Rule] = (), *, name: str = "hostile") -> None:
        self.rules = list(rules)
        self.name = name
        self.requests: list[Recorded] = []
        self.unmatched: list[Recorded] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *rules: Rule) -> HostileServer:
        with self._lock:
            self.rules.extend(rules)
        return self

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def stop_listening(self) -> None:
        """Close the listening socket (connections already open keep working): the next
        connection to this origin is refused, a real dead port on the same origin."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def close(self) -> None:
        self.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def calls(self, method: str | None = None, path_pattern: str = ".*") -> list[Recorded]:
        """Recorded requests whose method (None: any) and path (full-match regex) are as given."""
        with self._lock:
            seen = list(self.requests)
        return [
            r for r in seen if (method is None or r.method == method) and re.fullmatch(path_pattern, r.path)
        ]

    def headers_seen(self, name: str) -> list[str]:
        """Every value of header ``name`` any request carried (empty: it never arrived)."""
        with self._lock:
            return [r.headers[name.lower()] for r in self.requests if name.lower() in r.headers]

    def _rule_for(self, request: Recorded) -> Rule | None:
        with self._lock:
            self.requests.append(request)
            rule = next((r for r in self.rules if r.matches(request)), None)
            if rule is None:
                self.unmatched.append(request)
            else:
                rule.used += 1
            return rule

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    raw_path=self.path,
                )
                exchange = Exchange(self, server, request)
                rule = server._rule_for(request)
                if rule is None:
                    exchange.send(599, b"no hostile rule for this request", {"Content-Type": "text/plain"})
                else:
                    rule.action(exchange)
                if exchange.close_after:
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# -- actions -----------------------------------------------------------------------------------


def reply(
    status: int = 200,
    body: bytes | Mapping[str, Any] | Sequence[Any] | Callable[[Recorded], Any] | None = None,
    headers: Mapping[str, str] | None = None,
    reason: str | None = None,
) -> Action:
    """A plain answer; a JSON value gets ``Content-Type: application/json``; ``body`` may be a
    function of the request."""

    def act(ex: Exchange) -> None:
        value = body(ex.request) if callable(body) else body
        if value is None:
            ex.send(status, b"", headers, reason)
        elif isinstance(value, bytes):
            ex.send(status, value, headers, reason)
        else:
            ex.send_json(status, value, headers, reason)

    return act


#: An Operation a create could be taken for: what a redirect target answers by default.
PLAUSIBLE_BATCH = {
    "name": "batches/planted-by-another-origin",
    "metadata": {"name": "batches/planted-by-another-origin", "state": "BATCH_STATE_PENDING"},
}


def redirect(status: int, location: str | Callable[[Recorded], str]) -> Action:
    """A redirect to ``location`` (``{base}`` = this server's URL), with a small body."""

    def act(ex: Exchange) -> None:
        where = location(ex.request) if callable(location) else location
        ex.send(status, b"moved", {"Location": where.replace("{base}", ex.server.base_url)})

    return act


def trickle(
    status: int = 200,
    *,
    interval: float = 1.0,
    byte: bytes = b" ",
    prefix: bytes = b"",
    count: int = 10_000,
    headers: Mapping[str, str] | None = None,
) -> Action:
    """Headers at once (``Content-Length`` covering ``prefix`` and ``count`` bytes), then
    ``prefix``, then one ``byte`` every ``interval`` seconds: each socket read succeeds in time,
    the answer never completes within a test."""

    def act(ex: Exchange) -> None:
        all_headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(prefix) + count * len(byte)),
            **(headers or {}),
        }
        if not ex.start(status, all_headers) or (prefix and not ex.write(prefix)):
            return
        for _ in range(count):
            if not ex.wait(interval) or not ex.write(byte):
                return

    return act


def endless_pages(key: str = "operations", item: Mapping[str, Any] | None = None) -> Action:
    """Each answer is a page with no items (or one ``item``) and a new ``nextPageToken``."""
    counter = iter(range(1, 1 << 62))

    def act(ex: Exchange) -> None:
        n = next(counter)
        ex.send_json(200, {key: [dict(item)] if item else [], "nextPageToken": f"hostile-page-{n}"})

    return act


def repeated_page(key: str = "operations", token: str = "same-token") -> Action:
    """Each answer is an empty page naming the same ``nextPageToken``."""
    return reply(200, {key: [], "nextPageToken": token})


@functools.lru_cache(maxsize=8)
def bomb_bytes(expanded: int, encoding: str = "gzip") -> bytes:
    """``expanded`` bytes of a JSON-looking body compressed (``gzip`` or ``deflate``, zlib-wrapped
    as HTTP's ``deflate`` is). 300 MiB of it is about 0.3 MB compressed. Cached per size."""
    wbits = {"gzip": 31, "deflate": 15}[encoding]
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b" " * MIB
    out = [packer.compress(b'{"name": "batches/x", "padding": "')]
    left = expanded
    while left > 0:
        out.append(packer.compress(block[: min(MIB, left)]))
        left -= MIB
    out.append(packer.compress(b'"}'))
    out.append(packer.flush())
    return b"".join(out)


def encoded(body: bytes, encoding: str, status: int = 200, content_type: str = "application/json") -> Action:
    """``body`` sent as is under ``Content-Encoding: encoding`` (any name: ``br``, ``x-unknown``)."""
    return reply(status, body, {"Content-Type": content_type, "Content-Encoding": encoding})


def gzip_bomb(expanded: int = 300 * MIB, encoding: str = "gzip", status: int = 200) -> Action:
    """A small compressed answer that expands to ``expanded`` bytes (see :func:`bomb_bytes`)."""
    return encoded(bomb_bytes(expanded, encoding), encoding, status)


def oversized(size: int, *, status: int = 200, block: int = 64 * 1024) -> Action:
    """A ``size``-byte JSON body (one huge string), streamed in ``block``-byte writes."""

    def act(ex: Exchange) -> None:
        head, tail = b'{"name": "batches/x", "padding": "', b'"}'
        if not ex.start(status, {"Content-Type": "application/json", "Content-Length": str(size)}):
            return
        if not ex.write(head):
            return
        left = size - len(head) - len(tail)
        chunk = b"a" * block
        while left > 0:
            if not ex.write(chunk[: min(block, left)]):
                return
            left -= block
        ex.write(tail)

    return act


def echo_secret(
    status: int = 400,
    *,
    header: str = "x-goog-api-key",
    places: Sequence[str] = ("message", "status", "reason", "phrase", "header"),
) -> Action:
    """An error whose text carries the received ``header`` value (the key by default).

    ``places``: ``message`` (``error.message``), ``status`` (``error.status``), ``reason``
    (``ErrorInfo.reason`` in ``error.details``), ``phrase`` (the HTTP reason phrase, upper-cased,
    as a server that turns a value into a status word would) and ``header`` (``X-Echo``).
    """

    def act(ex: Exchange) -> None:
        value = ex.request.headers.get(header.lower(), "")
        error: dict[str, Any] = {"code": status, "message": "bad request", "status": "INVALID_ARGUMENT"}
        if "message" in places:
            error["message"] = f"API key {value} is not valid for this project"
        if "status" in places:
            error["status"] = value
        if "reason" in places:
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": value, "domain": "hostile"}
            ]
        extra = {"X-Echo": value} if "header" in places else {}
        phrase = value.upper() if "phrase" in places else None
        ex.send_json(status, {"error": error}, extra, phrase)

    return act


def upload_start(session_url: str = "{base}/upload/v1beta/files?upload_id=hostile-session") -> Action:
    """The answer to an upload ``start``: ``X-Goog-Upload-URL`` = ``session_url`` (``{base}`` is
    this server; another server's ``base_url`` puts the session on another origin)."""
    return reply(
        200,
        b"",
        {
            "X-Goog-Upload-Status": "active",
            "X-Goog-Upload-URL": session_url,
            "X-Goog-Upload-Chunk-Granularity": "8388608",
        },
    )


def is_upload_start(request: Recorded) -> bool:
    return request.headers.get("x-goog-upload-command", "").strip() == "start"


@dataclass
class UploadSession:
    """A resumable upload session (use :meth:`action` as the rule's action).

    :param finalize_after: answer ``final`` after this many chunks, whatever the client's command
        said (None: only when the client finalizes, as the real service does).
    :param size_bytes: the ``sizeBytes`` the final answer reports (None: the bytes received).
    :param with_hash: include ``sha256Hash`` (base64 of the hex digest of the bytes received, the
        encoding the real service uses per ``tests/real_service/captures.py``).
    """

    finalize_after: int | None = None
    size_bytes: int | None = None
    with_hash: bool = True
    received: bytearray = field(default_factory=bytearray)
    chunks: int = 0

    def file_resource(self) -> dict[str, Any]:
        digest = hashlib.sha256(bytes(self.received)).hexdigest()
        resource: dict[str, Any] = {
            "name": "files/hostile-upload",
            "mimeType": "application/jsonl",
            "sizeBytes": str(len(self.received) if self.size_bytes is None else self.size_bytes),
            "state": "ACTIVE",
            "source": "UPLOADED",
        }
        if self.with_hash:
            resource["sha256Hash"] = base64.b64encode(digest.encode()).decode()
        return resource

    def action(self, ex: Exchange) -> None:
        command = ex.request.headers.get("x-goog-upload-command", "")
        if "query" in command:
            status = (
                "final"
                if self.finalize_after is not None and self.chunks >= self.finalize_after
                else "active"
            )
            ex.send(
                200,
                b"",
                {"X-Goog-Upload-Status": status, "X-Goog-Upload-Size-Received": str(len(self.received))},
            )
            return
        if "cancel" in command:
            ex.send(200, b"", {"X-Goog-Upload-Status": "cancelled"})
            return
        self.received.extend(ex.request.body)
        self.chunks += 1
        early = self.finalize_after is not None and self.chunks >= self.finalize_after
        if "finalize" in command or early:
            ex.send_json(200, {"file": self.file_resource()}, {"X-Goog-Upload-Status": "final"})
        else:
            ex.send(
                200,
                b"",
                {"X-Goog-Upload-Status": "active", "X-Goog-Upload-Size-Received": str(len(self.received))},
            )


def then_refuse_connections(action: Action) -> Action:
    """Stop listening, then answer with ``action`` on the open connection and close it: every
    later request to this origin is refused (e.g. an upload session whose server went away)."""

    def act(ex: Exchange) -> None:
        ex.server.stop_listening()
        ex.close_after = True
        action(ex)

    return act


def endless_line(block: int = 64 * 1024, byte: bytes = b"x", interval: float = 0.0) -> Action:
    """A 200 download body with no newline that never ends (no length, connection closed at the
    end, which never comes until the client leaves or the server closes)."""

    def act(ex: Exchange) -> None:
        if not ex.start(200, {"Content-Type": "application/octet-stream", "Connection": "close"}):
            return
        chunk = byte * block
        while not ex.server.stopping.is_set():
            if not ex.write(chunk):
                return
            if interval and not ex.wait(interval):
                return

    return act
