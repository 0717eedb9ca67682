"""Map an HTTP error answer (or the lack of one) to the typed exceptions of ``exceptions.py``.

Pure: takes the status code, body bytes and headers, returns an exception instance for the caller
to raise. Parses the ``google.rpc.Status`` envelope (also wrapped in a one-element list, as some
Google front ends do), its ``ErrorInfo.reason`` and ``RetryInfo.retryDelay``, and the
``Retry-After`` header. Every text shown to users passes through :func:`redact` first. What an answer means
and the next step to suggest (a gone file, a refused key, a quota of zero) are read in
:mod:`~._core.error_hints`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_gemini_batch._core.error_hints import (
    AUTH_REASONS,
    QUOTA_ZERO_HINT,
    hint_for,
    is_file_gone,
    is_quota_zero,
)
from airflow_provider_gemini_batch._core.urls import public_url, scrub_userinfo
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiClientError,
    GeminiNoQuotaError,
    GeminiNotFoundError,
    GeminiRateLimitError,
    GeminiServerError,
    GeminiTransportError,
    call_phrase,
)

#: Non-JSON bodies are cut to this many characters in messages (an HTML error page is not useful).
_MAX_TEXT = 300
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


#: every redacted text whatever the connection's secrets are.
_SELF_AUTHORISING_QUERY = re.compile(r"(?i)([?&](?:key|upload_id)=)[^&\s'\")]+")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``, whatever its letter case
    and surrounding whitespace, and the values of self-authorising query parameters (``key=``,
    ``upload_id=``) in any URL it quotes.

    Case-insensitive because servers echo what they received in their own spelling: an HTTP
    reason phrase or a status word built from a value is upper-cased (``API_KEY_...``), and an
    upper-cased key still gives most of the key away.
    """
    variants = {v for s in secrets if s for v in (s, s.strip()) if v}
    if variants:
        # Longest first, so a secret that contains another is replaced whole.
        pattern = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
        text = re.sub(pattern, "***", text, flags=re.IGNORECASE)
    return _SELF_AUTHORISING_QUERY.sub(r"\1***", text)


def redact_all(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` (JSON-native: dicts, lists, strings, numbers) with :func:`redact` applied to every
    string in it, keys included; other values unchanged. For payloads made of server-supplied
    text, such as a trigger event's message and batch summary."""
    secrets = tuple(s for s in secrets if s)
    if not secrets:
        return value
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {redact_all(k, secrets): redact_all(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_all(v, secrets) for v in value]
    return value


#: A ``google.rpc.Status`` status name (``RESOURCE_EXHAUSTED``), or one made of an HTTP reason
#: phrase (``TOO_MANY_REQUESTS``): upper-case letters and underscores only.
STATUS_WORD = re.compile(r"[A-Z_]{1,64}")
#: An ``ErrorInfo.reason``: "UPPER_SNAKE_CASE, at most 63 characters, matching
#: ``[A-Z][A-Z0-9_]+[A-Z0-9]``" (google/rpc/error_details.proto, the ErrorInfo message).
REASON_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,61}[A-Z0-9]")


def shaped_word(value: Any, shape: re.Pattern[str], secrets: Iterable[str | None] = ()) -> str | None:
    """``value`` as a status or reason word if it has that word's documented ``shape`` and holds
    no secret (:func:`redact`, case-insensitive); None otherwise (the word is dropped, never shown).

    A server-supplied word reaches exception texts and decides hints, so only the documented shape
    is accepted: anything else (a key echoed by a broken or hostile server, free text, markup)
    is not a status.
    """
    if value is None or value == "":
        return None
    text = str(value)
    if redact(text, secrets) != text or not shape.fullmatch(text):
        return None
    return text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def parse_duration(value: Any) -> float | None:
    """A protobuf ``Duration`` in JSON form (``"30s"``, ``"1.5s"``) in seconds; None if not one."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1))
    if isinstance(value, Mapping):
        # Some encoders emit {"seconds": "30", "nanos": 0}.
        try:
            return float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def _envelope(body: bytes | str | Mapping[str, Any] | None) -> tuple[Mapping[str, Any] | None, str]:
    """Return (the ``error`` object or None, a text fallback)."""
    if body is None:
        return None, ""
    if isinstance(body, Mapping):
        data: Any = body
        text = ""
    else:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError:
            data = None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        return data["error"], text
    return None, text


def error_from_response(
    status_code: int,
    body: bytes | str | Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
    *,
    resource: str | None = None,
    method: str | None = None,
    reason_phrase: str | None = None,
    secrets: Iterable[str | None] = (),
    conn_id: str | None = None,
) -> GeminiApiError:
    """Build the typed exception for a non-200 answer.

    ``conn_id`` is the Airflow connection the request used; an auth failure's message names it
    (:func:`~._core.error_hints.hint_for`).

    ``headers`` may be any case-insensitive mapping (requests/httpx) or a plain dict.
    429 → :class:`GeminiRateLimitError` (:class:`GeminiNoQuotaError` for a quota of zero, never
    retried), 404 and the Files API's 403 "… or it may not exist" → :class:`GeminiNotFoundError`
    (its ``http_status`` stays 403), other 4xx →
    :class:`GeminiClientError`, 5xx → :class:`GeminiServerError`, anything else →
    :class:`GeminiApiError`. ``retry_after`` is the larger of ``Retry-After`` and
    ``RetryInfo.retryDelay`` (seconds), or None.
    """
    secrets = tuple(secrets)
    error, text = _envelope(body)
    # Before any cut below, so no part of a secret is left by a cut through it.
    text = redact(text, secrets)
    details: list[Any] = []
    reason: str | None = None
    retry_after = parse_retry_after(_header(headers, "retry-after"))
    if error is not None:
        message = str(error.get("message") or "")
        status = shaped_word(error.get("status"), STATUS_WORD, secrets)
        raw_details = error.get("details")
        details = list(raw_details) if isinstance(raw_details, list) else []
        for item in details:
            if not isinstance(item, Mapping):
                continue
            kind = str(item.get("@type", ""))
            if kind.endswith("google.rpc.ErrorInfo") and item.get("reason") and reason is None:
                reason = shaped_word(item["reason"], REASON_WORD, secrets)
            elif kind.endswith("google.rpc.RetryInfo"):
                delay = parse_duration(item.get("retryDelay"))
                if delay is not None:
                    retry_after = max(retry_after or 0.0, delay)
    else:
        phrase_word = re.sub(r"[\s-]+", "_", reason_phrase.strip().upper()) if reason_phrase else None
        status = shaped_word(phrase_word, STATUS_WORD, secrets)
        message = " ".join(text.split())[:_MAX_TEXT] or (reason_phrase or "no error body")
    hint = hint_for(status_code, resource, status=status, reason=reason, conn_id=conn_id, message=message)
    if status_code == 429 and is_quota_zero(status_code, message, details):
        cls: type[GeminiApiError] = GeminiNoQuotaError
        hint = QUOTA_ZERO_HINT
    elif status_code == 429:
        cls = GeminiRateLimitError
    elif status_code == 404 or (is_file_gone(status_code, message) and reason not in AUTH_REASONS):
        cls = GeminiNotFoundError
    elif 400 <= status_code < 500:
        cls = GeminiClientError
    elif status_code >= 500:
        cls = GeminiServerError
    else:
        cls = GeminiApiError
    return cls(
        http_status=status_code,
        status=status,
        message=redact(message, secrets),
        resource=resource,
        method=method,
        reason=reason,
        retry_after=retry_after,
        details=details,
        hint=hint,
    )


#: A URL's query string in an exception text (requests/urllib3 quote the URL they failed on): it is
#: long (``fields=`` masks), says nothing about the failure, and could carry a credential.
_URL_QUERY = re.compile(r"(/[^\s?'\")]*)\?[^\s'\")]*")
#: Modules of the exceptions that name a root cause (a refused connection, a name that does not
#: resolve, a TLS failure, a socket timeout) rather than wrap one.
_ROOT_MODULES = frozenset({"builtins", "socket", "ssl"})


def root_cause(exc: BaseException) -> BaseException | None:
    """The innermost low-level error under a transport exception, or None if there is none.

    Follows urllib3's ``.reason`` (``MaxRetryError``), then ``__cause__``, ``__context__`` and
    an exception held in ``args[0]`` (requests wraps urllib3's error so), and returns the deepest
    ``OSError`` of the standard library on the way (``ConnectionRefusedError``, ``socket.gaierror``,
    ``ssl.SSLError``, ``TimeoutError``); failing that, the deepest exception below ``exc``.
    """
    chain: list[BaseException] = []
    item: BaseException | None = exc
    while item is not None and item not in chain and len(chain) < 12:
        chain.append(item)
        following = [getattr(item, "reason", None), item.__cause__, item.__context__]
        following.append(item.args[0] if item.args else None)
        item = next((e for e in following if isinstance(e, BaseException)), None)
    for candidate in reversed(chain[1:]):
        if isinstance(candidate, OSError) and type(candidate).__module__ in _ROOT_MODULES:
            return candidate
    return chain[-1] if len(chain) > 1 else None


def transport_error(
    exc: BaseException,
    *,
    resource: str | None,
    method: str | None,
    sent: bool,
    timed_out: bool,
    secrets: Iterable[str | None] = (),
    connection: str | None = None,
    base_url: str | None = None,
) -> GeminiTransportError:
    """Wrap a connection failure or timeout.

    The message shows the root cause first (:func:`root_cause`, never cut), then the transport's
    own text with URL query strings removed, cut to :data:`_MAX_TEXT` characters; both redacted.
    With ``connection`` it ends naming the Airflow connection (and its ``base_url``) to check:
    a refused or timed-out call is most often a wrong Base URL or a network in between.

    :param sent: False only when the request provably never reached the server (connect failed);
        the retry policy uses it to decide whether a non-idempotent call may be retried.
    :param timed_out: True for a connect or read timeout.
    """
    what = "timed out" if timed_out else "got no answer"
    outer = _URL_QUERY.sub(r"\1", redact(f"{type(exc).__name__}: {exc}", secrets))
    if len(outer) > _MAX_TEXT:
        outer = outer[: _MAX_TEXT - 3] + "..."
    cause = root_cause(exc)
    detail = outer
    if cause is not None:
        first = _URL_QUERY.sub(r"\1", redact(f"{type(cause).__name__}: {cause}", secrets))
        if first != outer:
            detail = f"{first}; {outer}"
    text = f"{call_phrase(method, resource, what)} ({detail})."
    if connection is not None:
        where = f" (Base URL {public_url(base_url)})" if base_url else ""
        text += f" Check the Airflow connection {connection!r}{where} and the network to it."
    # A host may carry a gateway's userinfo; a transport's text may quote the URL it failed on.
    return GeminiTransportError(scrub_userinfo(text, base_url), sent=sent, timed_out=timed_out)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def json_object_body(
    http_status: int, content: bytes, *, resource: str | None, method: str | None
) -> dict[str, Any]:
    """The JSON object of a successful answer; an empty body is ``{}`` (the API's Empty).

    :raises GeminiApiError: the body is not JSON, or is JSON but not an object.
    """
    if not content.strip():
        return {}
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise GeminiApiError(
            http_status=http_status,
            status=None,
            message="the answer was not a JSON object",
            resource=resource,
            method=method,
        )
    return data
