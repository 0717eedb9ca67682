"""What the hooks refuse to trust on the wire: other origins, redirects, big or encoded answers.

Pure (no I/O): both transports (``requests`` in the sync hook, ``httpx`` in the async one) call
these. The promises they implement are listed in ``docs/security.md`` ("Transport"):

* the API key never leaves the configured origin (scheme, host, port): redirects are never
  followed (:func:`redirect_error`) and an upload session URL on another origin is refused
  (:func:`check_session_url`);
* a control-plane answer (JSON of a get, list, create, cancel, an error body) is read while it
  streams and refused past a cap, counted in *decoded* bytes, so a small ``gzip`` answer that
  expands to hundreds of MB costs at most the cap (:class:`BoundedBody`).
"""

from __future__ import annotations

import re
import zlib
from urllib.parse import urlsplit

from airflow_provider_gemini_batch.exceptions import GeminiApiError

#: Largest control-plane answer of the sync hook, in decoded bytes (64 MiB). A full read of an
#: inline batch carries its responses: inline requests are capped at 20 MB by the service, and
#: their answers are typically of the same order, so this leaves room while bounding the worker.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Largest answer the async hook (the triggerer, whose memory every trigger shares) accepts: it
#: reads with a field mask (a poll answer is under 1 KiB, a list page of 100 under 100 KiB).
MAX_ASYNC_ANSWER_BYTES = 16 * 1024 * 1024
#: An error body is read this far at most (its message is cut much shorter anyway).
MAX_ERROR_BODY_BYTES = 256 * 1024
#: A download slower than this, measured over each ``timeout`` seconds spent waiting for bytes,
#: is given up (1 KiB/s: a 2 GB result file would take 24 days at this rate).
MIN_DOWNLOAD_BYTES_PER_SECOND = 1024
#: Encodings decoded here (with a cap on the decoded size); any other is refused.
_DECODED = {"gzip": 31, "x-gzip": 31, "deflate": 15}
_PIECE = 1024 * 1024
_TOKEN = re.compile(r"[A-Za-z0-9._+-]{1,32}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (default port filled in, userinfo, path and query dropped).

    A URL without scheme or host gives ``""``, which equals no configured origin.
    """
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return ""
    if not scheme or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def redirect_error(
    http_status: int, location: str | None, base_url: str, *, resource: str | None, method: str | None
) -> GeminiApiError:
    """The error for a 3xx answer: the hooks never follow a redirect.

    Following one would send the key (``requests`` keeps custom headers across hosts) and, for a
    301-303, turn a create into a GET whose answer could be taken for a created batch. The
    message names the status and the Location's *origin* only: its path or query may carry a
    token.
    """
    target = origin(location or "") if location else ""
    if location and not target:
        target = origin(base_url)  # a relative Location points into the configured origin
    where = f" to {target}" if target else ""
    same = target == origin(base_url)
    return GeminiApiError(
        http_status=http_status,
        status=None,
        message=(
            f"the server answered a redirect{where}, which is never followed (the API key must not "
            "leave the configured origin, and a redirect can turn a create into a read)."
        ),
        resource=resource,
        method=method,
        hint=(
            "Check the connection's host: it should be the API's base URL itself"
            + (" (the redirect stays on it: maybe a missing or extra path prefix)." if same else ".")
        ),
    )


def check_session_url(session_url: str, base_url: str, *, resource: str | None) -> None:
    """Refuse an upload session URL on another origin than the connection's.

    The real service names a session on its own origin (``captures.UPLOAD_START_HEADERS``:
    ``https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=...``). A session
    URL is its own credential (no key is sent to it), but the file's bytes are: they must not go
    to a host the connection does not name.

    :raises GeminiApiError: with the session's origin only (its query holds the upload id).
    """
    if origin(session_url) != origin(base_url) or not origin(base_url):
        raise GeminiApiError(
            http_status=200,
            status=None,
            message=(
                f"the upload session URL is on {origin(session_url) or 'no valid origin'}, not on the "
                f"connection's {origin(base_url)}; the file was not sent there"
            ),
            resource=resource,
            method="Starting an upload",
            hint="Check the connection's host, or any proxy or gateway in front of the API.",
        )


def _encoding_name(value: str) -> str:
    return repr(value) if _TOKEN.fullmatch(value) else "an unknown encoding"


class BoundedBody:
    """Collect an answer's raw bytes, decoding ``gzip``/``deflate`` with a cap on decoded size.

    :param encoding: the answer's ``Content-Encoding`` (None or ``identity``: as is).
    :param limit: most decoded bytes accepted.
    :param http_status: ``resource`` and ``method``: for the error's message.
    :raises GeminiApiError: from the constructor for an encoding not decoded here (``br``,
        ``zstd``, unknown), from :meth:`feed` once the decoded body passes ``limit``.
    """

    def __init__(
        self,
        encoding: str | None,
        limit: int,
        *,
        http_status: int,
        resource: str | None,
        method: str | None,
    ) -> None:
        self.limit = limit
        self._status, self._resource, self._method = http_status, resource, method
        self._parts: list[bytes] = []
        self.size = 0
        codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in _DECODED):
            raise self._error(
                f"the answer is encoded with {_encoding_name(', '.join(codings))}, which this provider "
                "does not decode (it asks for identity, and decodes only gzip and deflate)"
            )
        self._decoder = zlib.decompressobj(_DECODED[codings[0]]) if codings else None

    def _error(self, message: str) -> GeminiApiError:
        return GeminiApiError(
            http_status=self._status,
            status=None,
            message=message,
            resource=self._resource,
            method=self._method,
        )

    def _too_big(self) -> GeminiApiError:
        return self._error(
            f"the answer is larger than {self.limit} bytes (decoded); it was not read further. A broken "
            "or hostile server, or a proxy answering with something else than the API"
        )

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self._parts.clear()
            raise self._too_big()
        if data:
            self._parts.append(data)

    def feed(self, raw: bytes) -> None:
        """Add bytes as they came off the wire."""
        if self._decoder is None:
            self._keep(raw)
            return
        data = raw
        while data:
            # One byte over the cap proves the body too big; pieces of at most 1 MiB keep zlib's
            # growing output buffer (and its final copy) small.
            room = min(self.limit - self.size + 1, _PIECE)
            try:
                out = self._decoder.decompress(data, room)
            except zlib.error:
                raise self._error("the answer's compressed body is corrupt") from None
            self._keep(out)
            data = self._decoder.unconsumed_tail

    def body(self) -> bytes:
        """The whole decoded body. :raises GeminiApiError: a compressed body that was cut short."""
        if self._decoder is not None:
            self._keep(self._decoder.flush())
            if not self._decoder.eof and self.size:
                raise self._error("the answer's compressed body ended before its end marker")
        return b"".join(self._parts)
