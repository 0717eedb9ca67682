"""The request gate every API request of every surface passes (Developer API, Vertex, Cloud Storage).

The public API is served by one catch-all route with its own regex table, because Google's
``name:verb`` paths (``files/x:download``, ``models/m:batchGenerateContent``) do not fit
path-parameter routing, and because every API request must pass the same gate in the same order:
journal -> scripted fault -> authentication -> ``fields`` -> handler.

Each surface contributes ``(method, regex, handler, self_authorising)`` entries
(:data:`Route`); a handler that is not self-authorising is authenticated by the gate's
``authenticate`` callable (the Developer API's key check). Two handler flags, set with the
decorators below, change the gate's treatment of one route:

* :func:`keeps_partial_body`: a scripted drop fault is left to the handler, which persists the
  bytes it lets through (upload chunks);
* :func:`authorised_by_query`: a request carrying the named query parameter (an upload-session
  URL's ``upload_id``) is authorised by it, one without it is authenticated as usual.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_gemini_batch.emulator.faults import Fault
from airflow_provider_gemini_batch.emulator.guard import journal_headers, journal_query
from airflow_provider_gemini_batch.emulator.partial import FieldsError, Mask, parse_fields
from airflow_provider_gemini_batch.emulator.transport import drop_connection
from airflow_provider_gemini_batch.emulator.wire import ApiError, invalid, parse_json_lenient

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.backend import EmulatorState

Handler = Callable[..., Awaitable[Response]]
#: (method, regex, handler, self_authorising) as a surface declares it.
Route = tuple[str, str, Handler, bool]
#: Turns a request into the caller's identity (the API key, None for a bearer token), or raises.
Authenticator = Callable[[Request], "str | None"]
H = TypeVar("H", bound=Callable[..., Any])

# "whole create request < 20 MB" (ai.google.dev/gemini-api/docs/batch-api); the live limit is stated in bytes.
MAX_INLINE_BODY_BYTES = 20 * 1024 * 1024
# Any other JSON body is small; bound it so a broken client cannot exhaust memory.
MAX_JSON_BODY_BYTES = MAX_INLINE_BODY_BYTES


def keeps_partial_body(handler: H) -> H:
    """Mark ``handler`` as one that persists the bytes a scripted drop fault lets through."""
    handler.keeps_partial_body = True  # type: ignore[attr-defined]
    return handler


def authorised_by_query(param: str) -> Callable[[H], H]:
    """Mark ``handler`` as authorised by the query parameter ``param`` when present (a session URL)."""

    def mark(handler: H) -> H:
        handler.authorised_by_query = param  # type: ignore[attr-defined]
        return handler

    return mark


@dataclass
class Ctx:
    """One API request in flight: the Starlette request, its journal entry and any pending drop."""

    request: Request
    entry: dict[str, Any]
    drop_after: int | None = None
    lose_answer: bool = False
    caller: str | None = None  # the API key used (None for a bearer token or a session URL)
    fields: Mask | None = None  # the parsed ``fields`` partial-response selection


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response (always 200 on success, like the live service)."""
    return Response(
        content=json.dumps(data, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(error: ApiError) -> Response:
    """The service's JSON error envelope for ``error``, with its status and headers."""
    return json_response(error.envelope(), status=error.code, headers=error.headers)


def base_url(request: Request) -> str:
    """Externally reachable base URL, from the Host header the client used."""
    return str(request.base_url).rstrip("/")


async def read_json(ctx: Ctx, limit: int = MAX_JSON_BODY_BYTES) -> Any:
    """The request body parsed as JSON (leniently, like the service), journalled with its size.

    :raises ApiError: 400 when the body exceeds ``limit`` bytes (declared or streamed).
    """
    declared = ctx.request.headers.get("content-length")
    too_big = ApiError(400, f"Request payload size exceeds the limit: {limit} bytes.")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in ctx.request.stream():
        size += len(chunk)
        if size > limit:
            ctx.entry["body_size"] = size
            raise too_big
        chunks.append(chunk)
    raw = b"".join(chunks)
    ctx.entry["body_size"] = size
    data = parse_json_lenient(raw)
    ctx.entry["json"] = data
    return data


class Gate:
    """The route table of every mounted surface and the one path a request takes through it.

    :param state: the emulator's shared state (journal, faults, settings).
    :param authenticate: authenticates requests to routes that are not self-authorising.
    """

    def __init__(self, state: EmulatorState, authenticate: Authenticator) -> None:
        self.state = state
        self.authenticate = authenticate
        self.routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []

    def add_routes(self, entries: list[Route], *, first: bool = False) -> None:
        """Add a surface's routes; ``first`` puts them ahead of those already there."""
        compiled = [(method, re.compile(rx), handler, own) for method, rx, handler, own in entries]
        if first:
            self.routes[:0] = compiled
        else:
            self.routes.extend(compiled)

    async def handle(self, request: Request) -> Response:
        """Serve one API request: journal it, apply a scripted fault, authenticate, dispatch."""
        method = request.method.upper()
        path = request.scope["path"]
        query = request.scope.get("query_string", b"").decode("latin-1")
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            # Credentials are journalled as a mark (present + fingerprint), never as sent.
            "query": journal_query(query),
            "headers": journal_headers(request.headers.items()),
            "body_size": 0,
            "json": None,
            # Wall-clock arrival (epoch seconds): lets an observer time events across processes,
            # e.g. when a killed triggerer's waits resume polling (scripts/chaos_distributed.py).
            "at": time.time(),
        }
        self.state.journal.append(entry)
        ctx = Ctx(request, entry)
        if self.state.settings.latency_seconds:
            # A distant service: every answer (errors and scripted faults too) comes this late.
            await asyncio.sleep(self.state.settings.latency_seconds)
        try:
            fault = self.state.faults.take(method, path + ("?" + query if query else ""))
            if fault is not None:
                early = await self._apply_fault(ctx, fault)
                if early is not None:
                    return early
            handler, params, self_auth = self._match(method, path, request)
            if not self_auth:
                ctx.caller = self.authenticate(request)
            self._read_fields(ctx)
            # Upload handlers persist the bytes a drop fault lets through (they flag themselves).
            if ctx.drop_after is not None and not getattr(handler, "keeps_partial_body", False):
                await self._read_then_drop(ctx)
                return Response(status_code=500)  # never sent: the connection is gone
            response = await handler(ctx, **params)
            if ctx.lose_answer:
                await drop_connection(request.scope)
                return Response(status_code=500)  # never sent: the connection is gone
            return response
        except ApiError as exc:
            return error_response(exc)

    async def _apply_fault(self, ctx: Ctx, fault: Fault) -> Response | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop_after_bytes is not None:
            ctx.drop_after = fault.drop_after_bytes
            return None
        if fault.lose_answer:
            ctx.lose_answer = True
            return None
        if fault.status is None:
            return None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if ctx.request.url.path.startswith(("/upload/", "/resumable/")):
            # The SDK re-sends a chunk whose answer lacks this header; a fault must not look like that.
            headers["X-Goog-Upload-Status"] = "active"
        if fault.body is not None:
            return json_response(fault.body, status=fault.status, headers=headers)
        return error_response(ApiError(fault.status, headers=headers))

    def _match(self, method: str, path: str, request: Request) -> tuple[Handler, dict[str, str], bool]:
        path_known = False
        for route_method, regex, handler, self_auth in self.routes:
            found = regex.match(path)
            if found is None:
                continue
            path_known = True
            if route_method != method:
                continue
            # An upload-session URL carries its own authorisation (upload_id), a start does not.
            session_param = getattr(handler, "authorised_by_query", None)
            authorised = self_auth or (session_param is not None and session_param in request.query_params)
            return handler, found.groupdict(), authorised
        if path_known:
            raise ApiError(404, f"Method {method} is not supported for {path}.")
        raise ApiError(404, f"Method not found: {path}.")

    def _read_fields(self, ctx: Ctx) -> None:
        """Parse the ``fields`` system parameter; mode ``refuse_fields`` answers 400 to it instead."""
        raw = ctx.request.query_params.get("fields")
        if raw is None:
            return
        if self.state.settings.has("refuse_fields"):
            raise invalid(f"Invalid value at 'fields': partial responses are not supported here ({raw!r}).")
        try:
            ctx.fields = parse_fields(raw)
        except FieldsError as exc:
            raise invalid(str(exc)) from None

    async def _read_then_drop(self, ctx: Ctx) -> None:
        """Consume up to ``drop_after`` body bytes, then abort the connection without a response."""
        limit = ctx.drop_after or 0
        seen = 0
        if limit > 0:
            async for chunk in ctx.request.stream():
                seen += len(chunk)
                if seen >= limit:
                    break
        ctx.entry["body_size"] = min(seen, limit)
        await drop_connection(ctx.request.scope)
