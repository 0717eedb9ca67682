"""A minimal scripted HTTP stand-in that replays what the real service was seen to send.

Not the emulator: it knows nothing of batches or files. A test gives it a script, a list of
:class:`Reply` rules matched in order on method and path; each rule answers with the status,
headers and body of a real capture (from ``captures.py``) and may be used a bounded number of
times. Every request is recorded (method, path, query, headers, body) so a test can assert what the
provider sent. It runs on a real socket (``ThreadingHTTPServer`` on 127.0.0.1, a free port).

A request no rule matches is answered ``599`` with a plain message and recorded in
:attr:`ScriptedServer.unmatched`, so a test sees an unexpected call instead of a hang.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: What a reply body may be: bytes as sent, a JSON value (serialized compactly), or a function of
#: the recorded request returning either (for answers that name the stand-in's own URL).
Body = bytes | Mapping[str, Any] | Sequence[Any] | Callable[["Recorded", "ScriptedServer"], Any] | None


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    """One scripted answer.

    :param method: HTTP method to match (``"GET"``, ``"POST"`` ...).
    :param path: a regular expression the request path must match in full.
    :param status: HTTP status to answer.
    :param body: the body (see :data:`Body`); JSON values get ``Content-Type: application/json``.
    :param headers: extra response headers; a value may contain ``{base}``, replaced by the
        stand-in's base URL (upload session URLs are absolute on the real service).
    :param times: how many requests this rule answers (None: any number).
    :param when: an optional extra predicate on the recorded request (e.g. a query parameter).
    """

    method: str
    path: str
    status: int = 200
    body: Body = None
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int | None = None
    when: Callable[[Recorded], bool] | None = None
    used: int = 0

    def matches(self, request: Recorded) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if request.method != self.method or not re.fullmatch(self.path, request.path):
            return False
        return self.when is None or self.when(request)


class ScriptedServer:
    """Serve ``script`` on 127.0.0.1 until the context exits. ``base_url`` has no trailing slash."""

    def __init__(self, script: Sequence[Reply]) -> None:
        self.script = list(script)
        self.requests: list[Recorded] = []
        self.unmatched: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def calls(self, method: str, path_pattern: str) -> list[Recorded]:
        """Recorded requests whose method and path (a full-match regex) are as given."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path)]

    def _answer(self, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            rule = next((r for r in self.script if r.matches(request)), None)
            if rule is None:
                self.unmatched.append(request)
                return 599, {"Content-Type": "text/plain"}, b"no scripted reply for this request"
            rule.used += 1
        body = rule.body(request, self) if callable(rule.body) else rule.body
        headers = {k: v.replace("{base}", self.base_url) for k, v in rule.headers.items()}
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode("utf-8")
            headers.setdefault("Content-Type", "application/json; charset=UTF-8")
        return rule.status, headers, payload

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                status, headers, payload = server._answer(recorded)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
