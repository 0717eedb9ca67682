"""Everything the sync and the async hook share except the transport.

:class:`GeminiHookBase` holds the connection identity (``gemini_conn_id``, the connection type and
its form), turning an Airflow ``Connection`` into :class:`ConnectionSettings`, the credentials
(API-key header or a Google bearer token), what one request puts on the wire (URL, query, headers,
body), the mapping of an unexpected status to a typed error, the JSON-object body check and the
light-read fallback of ``get_batch``. The subclasses add only their transport:
:class:`~airflow_provider_gemini_batch.hooks.gemini_batch.GeminiBatchHook` (``requests``, on
workers) and :class:`~airflow_provider_gemini_batch.hooks.gemini_batch_async.GeminiBatchAsyncHook`
(``httpx``, in the triggerer). This module imports neither transport, so the triggerer never
loads ``requests``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.error_hints import may_be_mask_refusal
from airflow_provider_gemini_batch._core.errors import error_from_response, json_object_body
from airflow_provider_gemini_batch._core.models import Batch, FileInfo
from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch._core.shown import shown_batch, shown_file
from airflow_provider_gemini_batch.backends import Backend, backend_for
from airflow_provider_gemini_batch.connection_fields import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiClientError,
    GeminiConnectionConfigError,
)
from airflow_provider_gemini_batch.hooks._auth import (
    GoogleCredentials,
    settings_from_connection,
)


def _split_userinfo(url: str) -> tuple[str, str | None]:
    """``url`` without its userinfo, and the ``Authorization: Basic`` value made of it (None when
    the URL has none). User and password are percent-decoded, as both HTTP libraries do."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=hostport)), f"Basic {token}"


@dataclass(frozen=True)
class Outgoing:
    """What one request puts on the wire, whatever the transport sends it with.

    ``params`` is None when the request has no query (both transports then add no ``?``).
    """

    method: str
    url: str
    params: dict[str, str] | None
    headers: dict[str, str]
    content: bytes | None


class GeminiHookBase(BaseHook):
    """Connection, credentials, request shape and error mapping shared by both hooks.

    :param gemini_conn_id: the Airflow connection id (default ``gemini_batch_default``).
    """

    conn_name_attr = "gemini_conn_id"
    default_conn_name = "gemini_batch_default"
    conn_type = "gemini_batch"
    hook_name = "Google Gemini Batch"

    def __init__(self, gemini_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gemini_conn_id = gemini_conn_id
        # Set once the service refused the partial-response mask of a light read (see get_batch).
        self._fields_refused = False
        self._credentials: GoogleCredentials | None = None
        self._backend: Backend | None = None

    def _secrets(self) -> tuple[str, ...]:
        """The connection's secrets once its settings are read; () before (nothing was sent)."""
        raise NotImplementedError

    def _token_secrets(self) -> tuple[str, ...]:
        """The Google access token this hook sends, once it has one (a server may echo it)."""
        token = self._credentials.token if self._credentials is not None else None
        return (token,) if token else ()

    def _backend_of(self, settings: ConnectionSettings) -> Backend:
        """The backend the connection names (``backends/``: paths, bodies, states, auth headers),
        built once per settings object."""
        if self._backend is None or self._backend.settings is not settings:
            self._backend = backend_for(settings)
        return self._backend

    def _batch_view(self, backend: Backend, answer: Mapping[str, Any], *, bare: str | None = None) -> Batch:
        """The :class:`Batch` of a batch answer read by ``backend``, with every text it shows
        redacted: its error message and names come from the server and reach exceptions, logs
        and XComs. ``bare``: the answer is the bare batch resource (named ``bare`` if it names
        nothing itself), not the usual create/get answer."""
        if bare is not None:
            batch = backend.batch_from_bare(answer, bare)
        else:
            batch = backend.batch_from_answer(answer)
        return shown_batch(batch, self._secrets())

    def _file_view(self, obj: Mapping[str, Any]) -> FileInfo:
        """The :class:`FileInfo` of a Files API answer, its shown texts redacted (as above)."""
        return shown_file(FileInfo.from_json(obj), self._secrets())

    # -- connection form (Airflow 3.0/3.1; >= 3.2 reads the provider info) --------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden/relabelled standard fields, from ``connection_fields.UI_FIELD_BEHAVIOUR``."""
        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields, from ``connection_fields.CONN_FIELDS`` (empty without the FAB UI)."""
        try:
            from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
            from flask_babel import lazy_gettext
            from wtforms import BooleanField, FloatField, IntegerField, PasswordField, StringField
        except ImportError:
            return {}
        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            schema = spec.get("schema", {})
            types = schema.get("type")
            kinds = set(types) if isinstance(types, list) else {types}
            label = lazy_gettext(spec["label"])
            description = spec.get("description")
            default = schema.get("default")
            if "boolean" in kinds:
                widgets[name] = BooleanField(label, description=description, default=bool(default))
            elif "integer" in kinds:
                widgets[name] = IntegerField(
                    label, widget=BS3TextFieldWidget(), description=description, default=default
                )
            elif "number" in kinds:
                widgets[name] = FloatField(
                    label, widget=BS3TextFieldWidget(), description=description, default=default
                )
            elif schema.get("format") == "password":
                widgets[name] = PasswordField(label, widget=BS3PasswordFieldWidget(), description=description)
            else:
                widgets[name] = StringField(
                    label, widget=BS3TextFieldWidget(), description=description, default=default
                )
        return widgets

    # -- connection and credentials --------------------------------------------------------------

    def _missing_connection(self) -> GeminiConnectionConfigError:
        """The error for a connection id that names no connection (what to create instead)."""
        return GeminiConnectionConfigError(
            f"The Airflow connection {self.gemini_conn_id!r} does not exist. Create a connection of type "
            "'gemini_batch' with the Gemini API key in the password field."
        )

    @staticmethod
    def _parse_connection(conn: Any, extra: Mapping[str, Any] | None = None) -> ConnectionSettings:
        """:class:`ConnectionSettings` of an Airflow ``Connection`` (``extra`` when read async).

        :raises GeminiConnectionConfigError: wrong type, no key/credentials, bad extra.
        """
        return settings_from_connection(conn, extra)

    def _api_key_headers(self, settings: ConnectionSettings) -> dict[str, str] | None:
        """The headers that authenticate without a token (the API key), or None when the
        connection authenticates with Google credentials (the backend decides)."""
        return self._backend_of(settings).static_auth_headers()

    def _google_credentials_for(self, settings: ConnectionSettings) -> GoogleCredentials:
        """The bearer-token source of this hook (built once; refreshing it may block)."""
        if self._credentials is None:
            self._credentials = GoogleCredentials(settings)
        return self._credentials

    # -- one request -----------------------------------------------------------------------------

    @staticmethod
    def _outgoing(
        req: routes.ApiRequest,
        settings: ConnectionSettings,
        auth_headers: Mapping[str, str],
        *,
        data: bytes | None = None,
    ) -> Outgoing:
        """What ``req`` sends: the auth headers only on authenticated routes (an upload session
        URL is its own credential), ``data`` instead of the route's own body when given."""
        headers = dict(req.headers)
        if req.authenticated:
            headers.update(auth_headers)
        url, basic = _split_userinfo(req.url(settings.base_url))
        if basic is not None:
            # What requests and httpx do with a URL's userinfo (Basic auth, taking precedence),
            # but with the credentials out of the URL, which both libraries log and quote.
            headers["Authorization"] = basic
        return Outgoing(
            method=req.method,
            url=url,
            params=dict(req.params) or None,
            headers=headers,
            content=data if data is not None else req.content(),
        )

    def _status_error(
        self,
        req: routes.ApiRequest,
        status_code: int,
        content: bytes,
        headers: Mapping[str, str],
        reason_phrase: str | None,
        secrets: tuple[str, ...],
    ) -> GeminiApiError:
        """The typed error for an answer whose status the caller did not accept (``_core.errors``);
        an auth failure's message names this hook's connection id (never the key)."""
        return error_from_response(
            status_code,
            content,
            headers,
            resource=req.resource,
            method=req.what,
            reason_phrase=reason_phrase,
            secrets=secrets,
            conn_id=self.gemini_conn_id,
        )

    @staticmethod
    def _json_object(req: routes.ApiRequest, status_code: int, content: bytes) -> dict[str, Any]:
        """The answer's JSON object. :raises GeminiApiError: the body is not a JSON object."""
        return json_object_body(status_code, content, resource=req.resource, method=req.what)

    def _light_read_refused(self, exc: GeminiClientError, name: str) -> bool:
        """Whether a light read's failure may be the service refusing the ``fields`` mask
        (:func:`~airflow_provider_gemini_batch._core.error_hints.may_be_mask_refusal`: a 400 that is not
        a refused key, which a full read would only repeat).

        When it may be, it is logged once and every later read of this hook is a full one.
        """
        if not may_be_mask_refusal(exc):
            return False
        self._fields_refused = True
        self.log.warning(
            "The service refused the partial-response mask on %s (%s); reading in full from now on.",
            name,
            exc,
        )
        return True
