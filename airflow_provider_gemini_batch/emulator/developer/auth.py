"""The Developer API's authentication: an API key (header or query) or any OAuth bearer token.

Wire facts (status, reason, wording): docs/real-service/wire-format.md, sections Authentication and Errors.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from airflow_provider_gemini_batch.emulator.wire import ApiError, error_info


class ApiKeyAuth:
    """Accept ``x-goog-api-key``, ``?key=`` or ``Authorization: Bearer``, like the live service.

    :param api_key: the one accepted API key; None accepts any key (credentials still required).
    :param extra_keys: returns the keys accepted besides ``api_key`` now (the ``extra_api_keys``
        knob, read on every request because the control plane can change it).
    """

    def __init__(self, api_key: str | None, extra_keys: Callable[[], list[str]]) -> None:
        self.api_key = api_key
        self.extra_keys = extra_keys

    def __call__(self, request: Request) -> str | None:
        """The API key used (None for a bearer token), the identity ``per_key_visibility`` uses.

        :raises ApiError: 403 PERMISSION_DENIED without credentials; 400 API_KEY_INVALID for a key
            other than the configured one (or ``extra_api_keys``). Any non-empty bearer token is
            accepted (the emulator cannot verify OAuth tokens).
        """
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        if key:
            accepted = {self.api_key, *self.extra_keys()}
            if self.api_key is not None and key not in accepted:
                raise ApiError(
                    400,
                    "API key not valid. Please pass a valid API key.",
                    details=[
                        error_info("API_KEY_INVALID"),
                        {
                            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                            "locale": "en-US",
                            "message": "API key not valid. Please pass a valid API key.",
                        },
                    ],
                )
            return key
        if bearer:
            return None
        raise ApiError(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
