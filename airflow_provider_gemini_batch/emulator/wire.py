"""Wire-format helpers shared by the emulator's routes: errors, timestamps, lenient JSON, field lookup.

Nothing here does I/O. The emulator is written from the public wire format alone and must not import the
client's code (``hooks/`` or ``_core/``): a test double sharing the client's code shares its mistakes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

# HTTP status -> canonical google.rpc status name used in the error envelope.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission.",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    502: "Bad gateway.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


class ApiError(Exception):
    """An error answered to the client in the google.rpc.Status envelope.

    :param code: HTTP status code (e.g. 404).
    :param message: human-readable message; defaults to the live service's generic text for ``code``.
    :param status: google.rpc status name; defaults to the canonical name for ``code``.
    :param details: the ``details`` array (list of ``@type``-tagged objects), omitted when None.
    :param headers: extra response headers (e.g. ``Retry-After``).
    """

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, "Error.")
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(f"{self.code} {self.status}: {self.message}")

    def envelope(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {code, message, status[, details]}}``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def error_info(reason: str, **metadata: str) -> dict[str, Any]:
    """A ``google.rpc.ErrorInfo`` detail object with the given reason."""
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com", **metadata},
    }


def not_found(what: str) -> ApiError:
    """404 NOT_FOUND for an unknown resource name (``what`` is e.g. ``batches/abc``)."""
    return ApiError(404, f"Requested entity was not found: {what}.")


def file_gone(file_id: str) -> ApiError:
    """What the Files API answers for a file that expired, was deleted or is another project's:
    403 PERMISSION_DENIED, not 404 [OBS: googleapis/python-genai #1218, google-gemini/
    deprecated-generative-ai-python #692, google-gemini/deprecated-generative-ai-js #236]."""
    return ApiError(
        403,
        f"You do not have permission to access the File {file_id} or it may not exist.",
        status="PERMISSION_DENIED",
    )


#: The Files API's longest file id. Batch output files (``batch-`` + a 36-character batch id)
#: are longer, so deleting them by name is refused [OBS: googleapis/python-genai #1759: on
#: google-genai 1.53 get and download work and only DeleteFileRequest is refused; #1613 had seen
#: GetFileRequest refused too].
MAX_FILE_ID = 40


def file_id_too_long(request: str) -> ApiError:
    """400 INVALID_ARGUMENT for a file id over :data:`MAX_FILE_ID` characters (``request`` is
    ``GetFileRequest`` or ``DeleteFileRequest``), worded as python-genai #1613 quotes it."""
    return ApiError(
        400, f"* {request}.name: File ID (name excluding 'files/') cannot be more than 40 characters.\n"
    )


def invalid(message: str) -> ApiError:
    """400 INVALID_ARGUMENT with ``message``."""
    return ApiError(400, message)


def rfc3339(epoch: float) -> str:
    """Format epoch seconds as RFC 3339 UTC with 9 fractional digits, like the live service."""
    whole = int(epoch // 1)
    nanos = round((epoch - whole) * 1_000_000_000)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    stamp = datetime.fromtimestamp(whole, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def int64(value: int) -> str:
    """Proto3 JSON renders int64 as a decimal string."""
    return str(int(value))


def snake(name: str) -> str:
    """lowerCamelCase -> snake_case (``inputConfig`` -> ``input_config``)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def field(obj: Any, camel: str, default: Any = None) -> Any:
    """Read a proto-JSON field accepting both spellings (``inputConfig`` or ``input_config``).

    Returns ``default`` when ``obj`` is not a dict or carries neither spelling.
    """
    if not isinstance(obj, dict):
        return default
    if camel in obj:
        return obj[camel]
    return obj.get(snake(camel), default)


def parse_json_lenient(raw: bytes) -> Any:
    """Parse a request body as JSON, also accepting the docs' single-quoted pseudo-JSON.

    An empty body parses as ``{}``. Raises :class:`ApiError` 400 when the body is neither.
    """
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return json.loads(_single_to_double_quotes(text))
    except ValueError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from None


def _single_to_double_quotes(text: str) -> str:
    """Rewrite single-quoted string literals as JSON double-quoted ones, leaving the rest alone."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            # Copy a double-quoted literal verbatim (escapes included).
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif ch == "'":
            j = i + 1
            buf: list[str] = []
            while j < n and text[j] != "'":
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j + 1] if text[j + 1] == "'" else text[j : j + 2])
                    j += 2
                    continue
                buf.append('\\"' if text[j] == '"' else text[j])
                j += 1
            out.append('"' + "".join(buf) + '"')
            i = j + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
