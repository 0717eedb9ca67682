"""How the sync hook reads an answer's body: within a deadline and a size cap, or at a minimum rate.

A socket timeout bounds each read, which a server sending one byte a second never trips. So a
control-plane answer (:func:`read_answer`) must complete within the connection's ``timeout`` and
hold at most a capped number of decoded bytes (``_core.wire_guard.BoundedBody``), and a download
(:func:`iter_body`), for which a total deadline makes no sense (2 GB), must keep a minimum rate.
See ``docs/security.md`` ("Transport").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import requests
import urllib3.exceptions

from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.errors import transport_error
from airflow_provider_gemini_batch._core.wire_guard import MIN_DOWNLOAD_BYTES_PER_SECOND, BoundedBody
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiTransportError, call_phrase

#: Bytes read per network read when downloading or streaming results.
STREAM_CHUNK_BYTES = 1024 * 1024
#: What a transport failure while reading looks like (requests, urllib3 and the socket).
_READ_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def limit_next_read(raw: Any, seconds: float) -> None:
    """Make the next socket read of ``raw`` (a urllib3 response) wait at most ``seconds``.

    The per-read timeout is the connection's ``timeout``; near the call's deadline a read must
    not wait that long again. urllib3 resets the socket's timeout when it reuses the connection
    for the next request. Best effort: without a reachable socket the per-read timeout applies.
    """
    sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(0.001, seconds))


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError))


def read_answer(
    response: requests.Response,
    req: routes.ApiRequest,
    *,
    started: float,
    timeout: float,
    limit: int,
    conn_id: str,
    secrets: tuple[str, ...],
) -> bytes:
    """The decoded body of ``response``, read by ``started + timeout`` (monotonic seconds) and
    at most ``limit`` decoded bytes (``gzip``/``deflate`` decoded here, other encodings refused).

    :raises GeminiTransportError: the answer did not complete in time (naming ``conn_id``), or
        the connection broke.
    :raises GeminiApiError: the answer is too large or in an encoding not decoded here.
    """
    deadline = started + timeout
    body = BoundedBody(
        response.headers.get("Content-Encoding"),
        limit,
        http_status=response.status_code,
        resource=req.resource,
        method=req.what,
    )
    raw = response.raw

    def late() -> GeminiTransportError:
        return GeminiTransportError(
            f"{call_phrase(req.what, req.resource, 'timed out')}: the answer did not complete "
            f"within the {timeout:g} s timeout of connection {conn_id!r} (it was still arriving "
            f"after {body.size} bytes). Check the server or proxy; raise the connection's "
            "'timeout' extra only for a slow but healthy link.",
            sent=True,
            timed_out=True,
        )

    try:
        while True:
            remaining = deadline - retry_mod.monotonic()
            if remaining <= 0:
                raise late()
            limit_next_read(raw, remaining)
            block = raw.read1(STREAM_CHUNK_BYTES, decode_content=False)
            if not block:
                break
            body.feed(block)
    except _READ_ERRORS as exc:
        if _is_timeout(exc) and retry_mod.monotonic() >= deadline - 0.05:
            raise late() from None  # the read was cut short at the call's deadline
        raise transport_error(
            exc,
            resource=req.resource,
            method=req.what,
            sent=True,
            timed_out=_is_timeout(exc),
            secrets=secrets,
            connection=conn_id,
        ) from None
    return body.body()


def iter_body(
    response: requests.Response,
    req: routes.ApiRequest,
    *,
    window: float,
    conn_id: str,
    secrets: tuple[str, ...],
) -> Iterator[bytes]:
    """The body's bytes as they arrive (``read1``: up to :data:`STREAM_CHUNK_BYTES` per block).

    ``read1`` returns what the socket has instead of waiting to fill the block, so the bytes
    that arrived before a cut are handed over (and count as progress) rather than lost with
    the exception a full-block read raises.

    Bounded by rate, not by a total deadline: a read waits at most the connection's timeout (the
    socket timeout: a stall), and over every ``window`` seconds spent *waiting for bytes* at least
    :data:`~airflow_provider_gemini_batch._core.wire_guard.MIN_DOWNLOAD_BYTES_PER_SECOND` per
    second must arrive, else the download is given up with a :class:`GeminiApiError` (not
    retried: a server that trickles would trickle again). Time the caller spends between blocks
    is not counted.

    :raises GeminiTransportError: the connection broke or a read stalled (retried by the caller).
    """
    raw = response.raw
    waited, got = 0.0, 0
    try:
        while True:
            before = retry_mod.monotonic()
            block = raw.read1(STREAM_CHUNK_BYTES, decode_content=True)
            waited += retry_mod.monotonic() - before
            got += len(block)
            if waited >= window:
                if got < MIN_DOWNLOAD_BYTES_PER_SECOND * waited:
                    raise GeminiApiError(
                        http_status=response.status_code,
                        status=None,
                        message=(
                            f"the download is too slow: {got} bytes in {waited:.1f} s of waiting (at "
                            f"least {MIN_DOWNLOAD_BYTES_PER_SECOND} bytes/s are required); gave up after "
                            f"{_streamed_note(raw)}. Check the server or proxy of connection {conn_id!r}"
                        ),
                        resource=req.resource,
                        method=req.what,
                    )
                waited, got = 0.0, 0
            if not block:
                return
            yield block
    except _READ_ERRORS as exc:
        raise transport_error(
            exc,
            resource=req.resource,
            method=req.what,
            sent=True,
            timed_out=_is_timeout(exc),
            secrets=secrets,
            connection=conn_id,
        ) from None


def _streamed_note(raw: Any) -> str:
    told = getattr(raw, "tell", None)
    try:
        return f"{int(told())} bytes of this answer" if told is not None else "part of the answer"
    except (TypeError, ValueError, OSError):
        return "part of the answer"
