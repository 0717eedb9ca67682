"""Map an HTTP error answer (or the lack of one) to the typed exceptions of ``exceptions.py``.

Pure: takes the status code, body bytes and headers, returns an exception instance for the caller
to raise. Parses the ``google.rpc.Status`` envelope (also wrapped in a one-element list, as some
Google front ends do), its ``ErrorInfo.reason`` and ``RetryInfo.retryDelay``, and the
``Retry-After`` header. Every text shown to users passes through :func:`redact` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

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

_HINTS = {
    404: "Check the name; files expire 48 hours after upload and deleted batches are gone.",
    429: (
        "A rate limit or quota was hit; a read, or a create told when to retry, was retried with "
        "backoff up to the connection's retry limits. A create refused without that is read as the "
        "project's limit of concurrent batches (100): GeminiCreateBatchOperator waits for a free slot "
        "(docs/capacity.md)."
    ),
}
#: A quota of zero: no retry lifts it (:func:`is_quota_zero`).
QUOTA_ZERO_HINT = (
    "There is no quota for this model on this project's tier (limit 0), so it was not retried: "
    "enable billing for the project, or use a model the tier includes."
)
_MODEL_HINT = (
    "This model cannot run batches (its supportedGenerationMethods lack the batch method); pick "
    "a model whose Models API entry lists batchGenerateContent (or asyncBatchEmbedContent for "
    "embeddings)."
)
#: Batch output files cannot be deleted by name through the Files API.
BATCH_OUTPUT_FILE_HINT = (
    "Batch output files (files/batch-<batch id>) have ids longer than the 40 characters the Files "
    "API accepts, so they cannot be deleted by name, and some service versions refuse reading their "
    "metadata too (python-genai #1613, #1759); land them with the results operator (the download "
    "works) and leave their removal to the service."
)
#: A 404 on a batch has more than one cause: a batch is visible only to the API key / project that created it,
#: and reading it with another key answers 404 like a deleted batch (a user's report; the 404 body:
#: Wei-Shaw/sub2api issue #612). The REST error model also lists 403 for another project's resources; that
#: case keeps the generic 403 hint, which already points at the key's project.
_BATCH_404_HINT = (
    "Check the name; a batch is visible only to the API key (Google Cloud project) that created it, "
    "so check that this connection uses the same key or project as the task that created the batch "
    "(its connection id is in that task's XCom under 'gemini_conn_id'); deleted batches are gone."
)


#: ``ErrorInfo.reason`` of a refused API key. [LIVE] the service answers HTTP 400
#: INVALID_ARGUMENT with this reason both for a key that is not valid ("API key not valid. Please
#: pass a valid API key.", continuedev/continue issue #8516) and for an expired one ("API key
#: expired. Please renew the API key.", continuedev/continue issue #11336).
AUTH_REASONS = frozenset({"API_KEY_INVALID"})
#: Google status strings of a refused caller: 401 UNAUTHENTICATED, and 403 PERMISSION_DENIED
#: ([LIVE] "Method doesn't allow unregistered callers" when no key is sent,
#: PublicAffairs/openai-gemini issue #92; "The caller does not have permission",
#: google-gemini/gemini-cli issue #14519).
_AUTH_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


#: The Files API's answer for a file that is gone (expired 48 hours after upload, deleted) or not
#: this project's: HTTP 403 PERMISSION_DENIED "You do not have permission to access the File <id>
#: or it may not exist." [OBS: googleapis/python-genai #1218 (files.get), google-gemini/
#: deprecated-generative-ai-python #692 (a chat on an uploaded file), google-gemini/
#: deprecated-generative-ai-js #236 (getFile)]. A status is not a meaning: this 403 is about the
#: file, not the key, so it is read as "not found" (#1218's cause was an unpaid bill, which the
#: hint names too).
_FILE_GONE = re.compile(r"access the File\s+(?:files/)?(?P<id>\S*)\s+or it may not exist", re.IGNORECASE)
#: The answer for a model that cannot run batches: 404 NOT_FOUND "… is not supported for
#: batchGenerateContent" [OBS: google-gemini/cookbook #1077]; the interactive API's form is
#: "models/x is not found for API version v1beta, or is not supported for generateContent".
_MODEL_CANNOT_BATCH = re.compile(r"not supported for (?:batchGenerateContent|asyncBatchEmbedContent)", re.I)
#: The Files API refuses ids longer than 40 characters, which every batch output file
#: (``files/batch-<36-character batch id>``) has: 400 INVALID_ARGUMENT "* DeleteFileRequest.name:
#: File ID (name excluding 'files/') cannot be more than 40 characters." [OBS: googleapis/
#: python-genai #1613 (get and delete refused), #1759 (only the delete on google-genai 1.53)].
_FILE_ID_TOO_LONG = re.compile(r"File ID .{0,40}cannot be more than 40 characters", re.IGNORECASE | re.DOTALL)
#: ``QuotaFailure`` quota ids of a free tier, and the message form of a quota of zero ("Quota
#: exceeded for metric: …, limit: 0, model: …") [OBS: google-gemini/gemini-cli #22486, #8437].
_LIMIT_ZERO = re.compile(r"\blimit:\s*0\b")


def is_file_gone(http_status: int, message: str | None) -> bool:
    """Whether an answer is the Files API's "… or it may not exist" for a file that is gone.

    HTTP 403 (or 404) whose message is the Files API's text (see :data:`_FILE_GONE`), whatever
    resource the call was about (a create on an expired input file names the file too).
    """
    return http_status in (403, 404) and bool(message and _FILE_GONE.search(message))


def is_auth_failure(
    http_status: int, status: str | None, reason: str | None, message: str | None = None
) -> bool:
    """Whether an error answer says the connection's key or credentials were refused.

    True for HTTP 401/403, a status UNAUTHENTICATED/PERMISSION_DENIED, or an ``ErrorInfo.reason``
    in :data:`AUTH_REASONS` (a bad or expired key comes as HTTP 400, see there); false for the
    Files API's 403 about a file that may not exist (:func:`is_file_gone`) unless an auth
    ``reason`` says otherwise.
    """
    if reason in AUTH_REASONS:
        return True
    if is_file_gone(http_status, message):
        return False
    return http_status in (401, 403) or status in _AUTH_STATUSES


def is_quota_zero(http_status: int, message: str | None, details: Iterable[Any]) -> bool:
    """Whether a 429 says the project has no quota at all for the model (``limit: 0``).

    A ``QuotaFailure`` violation with ``quotaValue`` "0", or the message's "limit: 0": a free
    tier without access to the model, or a model not enabled for the project. Waiting does not
    lift it, whatever ``RetryInfo`` says [OBS: google-gemini/gemini-cli #22486].
    """
    if http_status != 429:
        return False
    if message and _LIMIT_ZERO.search(message):
        return True
    for item in details:
        if not isinstance(item, Mapping) or not str(item.get("@type", "")).endswith("QuotaFailure"):
            continue
        violations = item.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            if isinstance(violation, Mapping) and str(violation.get("quotaValue", "")).strip() == "0":
                return True
    return False


def may_be_mask_refusal(exc: GeminiApiError) -> bool:
    """Whether a failed light read (one with the ``fields`` mask) may be the mask being refused.

    The live answer to a refused mask is not known (the emulator's ``refuse_fields`` mode answers
    400 INVALID_ARGUMENT, its own choice), so any 400 INVALID_ARGUMENT (or 400 without a status)
    counts, except an auth failure (:func:`is_auth_failure`): a bad key also answers 400
    INVALID_ARGUMENT, and reading again without the mask would only repeat the refusal.
    """
    return (
        exc.http_status == 400
        and exc.status in (None, "INVALID_ARGUMENT", "BAD_REQUEST")
        and not is_auth_failure(exc.http_status, exc.status, exc.reason, exc.api_message)
    )


def _auth_hint(http_status: int, reason: str | None, conn_id: str | None) -> str:
    """The next step for an auth failure, naming the Airflow connection (never its key)."""
    conn = f"Airflow connection {conn_id!r}" if conn_id else "the Airflow connection"
    if reason in AUTH_REASONS:
        return (
            f"The API key of {conn} was refused (not valid, or expired); fix the connection's "
            "password (the API key)."
        )
    if http_status == 403:
        return (
            f"The request of {conn} was denied: check that the connection's password holds an API "
            "key (without one no credentials are sent) and that its key or Google credentials may "
            "use the Gemini API and this resource's project."
        )
    return (
        f"The credentials of {conn} were refused; fix the connection's password (the API key) or "
        "its Google credentials."
    )


def hint_for(
    status_code: int,
    resource: str | None,
    *,
    status: str | None = None,
    reason: str | None = None,
    conn_id: str | None = None,
    message: str | None = None,
) -> str | None:
    """The next step to suggest for an error on ``resource``, read from its status, ``reason``
    and ``message`` together (a 403 may mean a gone file, a 404 a model that cannot batch).

    An auth failure (:func:`is_auth_failure`) names the Airflow connection ``conn_id`` whose key
    or credentials were refused.
    """
    if is_file_gone(status_code, message) and reason not in AUTH_REASONS:
        return _file_gone_hint(message or "", resource)
    if is_auth_failure(status_code, status, reason, message):
        return _auth_hint(status_code, reason, conn_id)
    if message and _MODEL_CANNOT_BATCH.search(message):
        return _MODEL_HINT
    if message and _FILE_ID_TOO_LONG.search(message):
        return BATCH_OUTPUT_FILE_HINT
    if status_code == 404 and resource and resource.startswith("batches/"):
        return _BATCH_404_HINT
    return _HINTS.get(status_code)


def _file_gone_hint(message: str, resource: str | None) -> str:
    """The next step after the Files API's "… or it may not exist" (:func:`is_file_gone`)."""
    match = _FILE_GONE.search(message)
    file_id = match.group("id") if match else ""
    name = f"files/{file_id}" if file_id else "The file"
    text = (
        f"{name} is gone or not visible to this project: uploaded files expire 48 hours after "
        "upload and deleted files are gone (the Files API answers 403, not 404, for both); it may "
        "also belong to another API key's project, or the project may be blocked (e.g. an unpaid "
        "bill)."
    )
    if resource and not resource.startswith("files/"):
        text += " Upload the input file again and create the batch from the new file."
    return text


#: Query parameters whose values authorise a request by themselves: ``key`` (an API key, a standard
#: system parameter) and ``upload_id`` (a resumable-upload session URL needs no other credential:
#: docs/real-service/wire-format.md, Authentication).
#: Transport errors of requests/urllib3 quote the URL they failed on, so these are scrubbed from
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
    (:func:`hint_for`).

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
