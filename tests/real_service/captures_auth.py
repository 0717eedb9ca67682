"""Error answers the real service gives a refused API key or caller, from users' bug reports.

Sources
-------
CONTINUE_8516
    continuedev/continue issue #8516 (2025-10-30), the body a Gemini call got with a key that is
    not valid: HTTP 400 INVALID_ARGUMENT, ``ErrorInfo.reason`` ``API_KEY_INVALID`` for the service
    ``generativelanguage.googleapis.com``, and a ``LocalizedMessage``. The report shows it wrapped in
    a one-element JSON list, as some Google front ends send it.
CONTINUE_11336
    continuedev/continue issue #11336 (2026-03-12): an expired key gets the same status and reason
    with the message "API key expired. Please renew the API key.".
OPENAI_GEMINI_92
    PublicAffairs/openai-gemini issue #92 (2026-05-10): a call that reached the service without a
    usable key: HTTP 403 PERMISSION_DENIED "Method doesn't allow unregistered callers ...", no
    details.
"""

from __future__ import annotations

from typing import Any


def _key_refused(message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": 400,
            "message": message,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
            ],
        }
    }


#: CONTINUE_8516: a key that is not valid, as a one-element list (the report's own framing).
API_KEY_INVALID_BODY: list[dict[str, Any]] = [_key_refused("API key not valid. Please pass a valid API key.")]

#: CONTINUE_11336: an expired key (same status and reason).
API_KEY_EXPIRED_BODY: dict[str, Any] = _key_refused("API key expired. Please renew the API key.")

#: OPENAI_GEMINI_92: no usable credentials reached the service.
UNREGISTERED_CALLER_BODY: dict[str, Any] = {
    "error": {
        "code": 403,
        "message": (
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API."
        ),
        "status": "PERMISSION_DENIED",
    }
}
