"""Credentials and connection loading shared by the sync and the async hook.

API-key connections send ``x-goog-api-key``. Service-account keys (``keyfile_dict`` or
``key_path``) and Application Default Credentials send ``Authorization: Bearer <token>``,
refreshed by google-auth; ``x-goog-user-project`` is added when a quota project is set.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from airflow_provider_gemini_batch import __version__
from airflow_provider_gemini_batch._core.settings import AuthMode, ConnectionSettings
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError

USER_AGENT = f"airflow-provider-gemini-batch/{__version__}"


def settings_from_connection(conn: Any, extra: Mapping[str, Any] | None = None) -> ConnectionSettings:
    """Parse an Airflow ``Connection`` (``extra`` may be passed when read asynchronously).

    A port set on the connection is added to a host that has none; one equal to the host's own
    port is fine (the form shows Port so that Airflow 3.3's Test button works).

    :raises GeminiConnectionConfigError: see :meth:`ConnectionSettings.from_connection`; also a
        Port field that contradicts the port written in the Base URL.
    """
    host = conn.host or None
    port = getattr(conn, "port", None)
    authority = (host or "").split("://", 1)[-1].split("/", 1)[0]
    if host and port and ":" not in authority:
        scheme, sep, rest = host.partition("://")
        if sep:
            hostname, slash, path = rest.partition("/")
            host = f"{scheme}://{hostname}:{port}{slash}{path}"
        else:
            host = f"{host}:{port}"
    elif host and port and authority.rsplit(":", 1)[-1] != str(port):
        raise GeminiConnectionConfigError(
            f"Connection {conn.conn_id!r}: the Base URL names port {authority.rsplit(':', 1)[-1]} but the "
            f"Port field says {port}; make them agree (or leave one of them empty)."
        )
    return ConnectionSettings.from_connection(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        host=host,
        password=conn.password,
        extra=extra if extra is not None else conn.extra_dejson,
        environ=os.environ,
    )


def _mask(secret: str) -> None:
    """Register ``secret`` and its upper- and lower-cased forms with Airflow's secrets masker."""
    try:
        from airflow.providers.common.compat.sdk import mask_secret
    except ImportError:  # pragma: no cover - every supported Airflow has it
        return
    for form in dict.fromkeys((secret, secret.upper(), secret.lower())):
        mask_secret(form)


def register_secrets(settings: ConnectionSettings) -> None:
    """Tell Airflow's secrets masker about the key and the private key, so logs redact them.

    The upper- and lower-cased forms too: the masker matches exactly, and a server may echo the
    key in its own spelling (a status word or reason phrase made of it is upper-cased), which then
    reaches a task log inside a batch's error text.
    """
    for secret in settings.secrets():
        _mask(secret)


class GoogleCredentials:
    """Bearer-token source from a service-account key or ADC, refreshed when expired.

    ``headers()`` blocks on a token refresh (an HTTPS call); the async hook runs it in a thread.
    """

    def __init__(self, settings: ConnectionSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._masked: str | None = None

    @property
    def token(self) -> str | None:
        """The current access token (None before the first refresh), to redact from texts."""
        token = getattr(self._credentials, "token", None)
        return str(token) if token else None

    def _build(self) -> Any:
        s = self._settings
        try:
            if s.auth_mode is AuthMode.SERVICE_ACCOUNT:
                from google.oauth2 import service_account

                if s.keyfile_dict is not None:
                    return service_account.Credentials.from_service_account_info(
                        dict(s.keyfile_dict), scopes=list(s.scopes)
                    )
                return service_account.Credentials.from_service_account_file(
                    str(s.key_path), scopes=list(s.scopes)
                )
            import google.auth

            credentials, _project = google.auth.default(scopes=list(s.scopes))
            return credentials
        except (ValueError, OSError, KeyError) as exc:
            # The exception text of google-auth may quote the key material; do not chain its text.
            raise GeminiConnectionConfigError(
                f"Connection {s.conn_id!r}: cannot load Google credentials ({type(exc).__name__}). "
                "Check keyfile_dict / key_path, or the Application Default Credentials setup."
            ) from None
        except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
            raise GeminiConnectionConfigError(
                f"Connection {s.conn_id!r}: cannot load Google credentials ({type(exc).__name__}). "
                "Check keyfile_dict / key_path, or the Application Default Credentials setup."
            ) from None

    def headers(self) -> dict[str, str]:
        """``Authorization`` (and ``x-goog-user-project``) headers with a valid token."""
        from google.auth.transport.requests import Request

        with self._lock:
            if self._credentials is None:
                self._credentials = self._build()
            if not self._credentials.valid:
                try:
                    self._credentials.refresh(Request())
                except Exception as exc:
                    raise GeminiConnectionConfigError(
                        f"Connection {self._settings.conn_id!r}: refreshing the Google access token failed "
                        f"({type(exc).__name__}). Check the credentials and their scopes."
                    ) from None
            token = self._credentials.token
        if token and token != self._masked:
            # A bearer token opens whatever its scopes allow for an hour: the task log's masker
            # learns it as it learns the key.
            self._masked = str(token)
            _mask(self._masked)
        headers = {"Authorization": f"Bearer {token}"}
        if self._settings.quota_project_id:
            headers["x-goog-user-project"] = self._settings.quota_project_id
        return headers


def api_key_headers(settings: ConnectionSettings) -> dict[str, str]:
    """The API-key header (the key never goes into a URL)."""
    assert settings.api_key is not None
    return {"x-goog-api-key": settings.api_key}
