"""Turn an Airflow connection's fields into :class:`ConnectionSettings`.

Pure: the caller reads the connection (sync or async) and passes its plain fields, so the sync
hook, the async hook and tests share one parser. Secrets are kept out of ``repr`` and out of every
error message.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_provider_gemini_batch._core.vertex import VERTEX, VertexSettings, backend_of, default_host
from airflow_provider_gemini_batch.connection_fields import (
    DEFAULT_API_VERSION,
    DEFAULT_HOST,
    DEFAULT_MAX_RETRIES,
    DEFAULT_SCOPES,
    DEFAULT_TIMEOUT_SECONDS,
)
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError

CONN_TYPE = "gemini_batch"
DEFAULT_RETRY_DEADLINE_SECONDS = 300.0
DEFAULT_RETRY_INITIAL_DELAY_SECONDS = 1.0
DEFAULT_RETRY_MAX_DELAY_SECONDS = 60.0
#: Upload chunk size in bytes: the service's advertised granularity (8 MiB).
DEFAULT_UPLOAD_CHUNK_SIZE = 8 * 1024 * 1024
_API_VERSIONS = ("v1beta", "v1", "v1alpha")


class AuthMode(str, enum.Enum):
    """How requests are authenticated."""

    API_KEY = "api_key"
    SERVICE_ACCOUNT = "service_account"
    ADC = "adc"


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the hooks need from a ``gemini_batch`` connection.

    :param base_url: scheme and host (and optional path prefix), no trailing slash.
    :param api_version: ``v1beta`` (default), ``v1`` or ``v1alpha``.
    :param timeout: seconds one request may take in all (connect, send, answer; see
        ``docs/security.md``); a download is bounded by a minimum rate over spans of this length.
    :param max_retries: retries after the first attempt (0 = one attempt only).
    :param retry_deadline: seconds one call may spend in total, retries and waits included.
    :param retry_initial_delay: first backoff delay in seconds (doubles per retry, with jitter).
    :param retry_max_delay: cap of one backoff delay in seconds.
    :param upload_chunk_size: bytes per upload chunk (default 8 MiB).
    :param backend: ``"developer"`` (the Gemini API, default) or ``"vertex"`` (Vertex AI batch
        prediction; extra ``backend``).
    :param vertex: the Vertex project, location and Cloud Storage host (``backend == "vertex"`` only).
    """

    conn_id: str
    base_url: str
    api_version: str
    timeout: float
    max_retries: int
    retry_deadline: float
    retry_initial_delay: float
    retry_max_delay: float
    upload_chunk_size: int
    auth_mode: AuthMode
    scopes: tuple[str, ...]
    quota_project_id: str | None
    key_path: str | None
    api_key: str | None = field(default=None, repr=False)
    keyfile_dict: Mapping[str, Any] | None = field(default=None, repr=False, compare=False, hash=False)
    backend: str = "developer"
    vertex: VertexSettings | None = None

    @property
    def is_vertex(self) -> bool:
        """True for a connection on the Vertex AI backend."""
        return self.backend == VERTEX

    def secrets(self) -> tuple[str, ...]:
        """Every secret value these settings hold (to redact from any text shown to users)."""
        out: list[str] = []
        if self.api_key:
            out.append(self.api_key)
            # The escaped form a library's ``repr`` of a header value would show (a key with a
            # backslash or quote); the key itself holds visible ASCII only (``_api_key``).
            escaped = repr(self.api_key)[1:-1]
            if escaped != self.api_key:
                out.append(escaped)
        if self.keyfile_dict and self.keyfile_dict.get("private_key"):
            out.append(str(self.keyfile_dict["private_key"]))
        password = _userinfo_password(self.base_url)
        if password:
            # A gateway's basic-auth password in the host (``https://user:pass@gateway``): the
            # client sends it to the origin as a credential, and an echo of it is redacted too.
            out.append(password)
        return tuple(out)

    @classmethod
    def from_connection(
        cls,
        *,
        conn_id: str,
        conn_type: str | None,
        host: str | None,
        password: str | None,
        extra: Mapping[str, Any] | None,
        environ: Mapping[str, str] | None = None,
    ) -> ConnectionSettings:
        """Parse a connection's fields.

        Extras (all optional): ``api_version``, ``timeout``, ``max_retries``, ``retry_deadline``,
        ``retry_initial_delay``, ``retry_max_delay``, ``upload_chunk_size``, ``key_path``,
        ``keyfile_dict`` (JSON text or object), ``use_adc``, ``scopes`` (comma-separated text or
        list), ``quota_project_id``; for Vertex AI ``backend`` (``"vertex"``), ``project``,
        ``location`` (default ``us-central1``) and ``storage_host`` (default: the
        ``STORAGE_EMULATOR_HOST`` variable of ``environ``, else ``https://storage.googleapis.com``).
        On Vertex an empty host means ``https://{location}-aiplatform.googleapis.com``.

        :raises GeminiConnectionConfigError: wrong connection type, no key and no credentials,
            both a key and Google credentials, or an extra of the wrong type/range.
        """
        if conn_type and conn_type.replace("-", "_") != CONN_TYPE:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r} has type {conn_type!r}; this hook needs a {CONN_TYPE!r} connection."
            )
        extra = dict(extra or {})
        backend = backend_of(conn_id, extra)
        vertex: VertexSettings | None = None
        if backend == VERTEX:
            keyfile_project = None
            parsed_keyfile = _keyfile(conn_id, extra.get("keyfile_dict"))
            if parsed_keyfile is not None and parsed_keyfile.get("project_id"):
                keyfile_project = str(parsed_keyfile["project_id"])
            vertex = VertexSettings.from_extra(
                conn_id, extra, keyfile_project=keyfile_project, environ=environ
            )
            if not (host or "").strip():
                host = default_host(vertex.location)
            if (password or "").strip():
                raise GeminiConnectionConfigError(
                    f"Connection {conn_id!r} uses the Vertex backend, which authenticates with Google "
                    "credentials (extras keyfile_dict, key_path or use_adc), not an API key: clear the "
                    "password field."
                )
        base_url = _base_url(conn_id, host)
        api_version = str(extra.get("api_version") or DEFAULT_API_VERSION)
        if api_version not in _API_VERSIONS:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r}: api_version {api_version!r} is not one of "
                f"{', '.join(_API_VERSIONS)}."
            )
        keyfile = _keyfile(conn_id, extra.get("keyfile_dict"))
        key_path = str(extra["key_path"]) if extra.get("key_path") else None
        use_adc = _bool(conn_id, "use_adc", extra.get("use_adc", False))
        api_key = _api_key(conn_id, password)
        google_modes = [
            m for m, on in ((AuthMode.SERVICE_ACCOUNT, keyfile or key_path), (AuthMode.ADC, use_adc)) if on
        ]
        if keyfile and key_path:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r} sets both keyfile_dict and key_path; keep one of them."
            )
        if api_key and google_modes:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r} has both an API key and Google credentials "
                "(keyfile_dict/key_path/use_adc); keep exactly one way to authenticate."
            )
        if len(google_modes) > 1:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r} sets a service-account key and use_adc; keep one of them."
            )
        if not api_key and not google_modes:
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r} has no API key (password field) and no Google credentials "
                "(extras keyfile_dict, key_path or use_adc). Add one of them."
            )
        mode = google_modes[0] if google_modes else AuthMode.API_KEY
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            api_version=api_version,
            timeout=_number(conn_id, extra, "timeout", DEFAULT_TIMEOUT_SECONDS, minimum=0.001),
            max_retries=int(_number(conn_id, extra, "max_retries", DEFAULT_MAX_RETRIES, minimum=0)),
            retry_deadline=_number(
                conn_id, extra, "retry_deadline", DEFAULT_RETRY_DEADLINE_SECONDS, minimum=0
            ),
            retry_initial_delay=_number(
                conn_id, extra, "retry_initial_delay", DEFAULT_RETRY_INITIAL_DELAY_SECONDS, minimum=0
            ),
            retry_max_delay=_number(
                conn_id, extra, "retry_max_delay", DEFAULT_RETRY_MAX_DELAY_SECONDS, minimum=0
            ),
            upload_chunk_size=int(
                _number(conn_id, extra, "upload_chunk_size", DEFAULT_UPLOAD_CHUNK_SIZE, minimum=1)
            ),
            auth_mode=mode,
            scopes=_scopes(extra.get("scopes")),
            quota_project_id=str(extra["quota_project_id"]) if extra.get("quota_project_id") else None,
            key_path=key_path,
            api_key=api_key,
            keyfile_dict=keyfile,
            backend=backend,
            vertex=vertex,
        )


def _api_key(conn_id: str, password: str | None) -> str | None:
    """The key with surrounding whitespace removed; refused if any other character is not
    visible ASCII.

    A key read from a secret file or a Kubernetes secret often ends in a newline. Sent as a
    header value it makes ``requests``/``h11`` raise an error that quotes the value with ``repr``
    (``'...\\n'``), a form neither the provider's redaction nor Airflow's secrets masker matches, so
    the whole key would reach the log. Google API keys are visible ASCII (letters, digits, ``-``,
    ``_``); an interior control character or space means a damaged paste. The message never
    quotes the key: it says where the bad character is.

    :raises GeminiConnectionConfigError: an interior character outside visible ASCII.
    """
    if password is None:
        return None
    key = password.strip()
    if not key:
        return None
    for position, char in enumerate(key, start=1):
        if not ("!" <= char <= "~"):
            control = ord(char) < 32 or ord(char) == 127
            kind = "a control character" if control else "a space or non-ASCII character"
            raise GeminiConnectionConfigError(
                f"Connection {conn_id!r}: the API key (password field) has {kind} at position {position} "
                f"of {len(key)}; an API key is letters, digits, '-' and '_' only. Paste the key again "
                "as one line."
            )
    return key


def _base_url(conn_id: str, host: str | None) -> str:
    url = (host or DEFAULT_HOST).strip().rstrip("/")
    if "://" not in url:
        # A bare host name means the real service's scheme.
        url = "https://" + url
    if not url.startswith(("http://", "https://")):
        raise GeminiConnectionConfigError(
            f"Connection {conn_id!r}: host must be an http(s) base URL such as {DEFAULT_HOST!r}."
        )
    return url


def _keyfile(conn_id: str, value: Any) -> Mapping[str, Any] | None:
    if value in (None, "", {}):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    try:
        parsed = json.loads(str(value))
    except ValueError:
        # Never echo the value: it is a private key.
        raise GeminiConnectionConfigError(
            f"Connection {conn_id!r}: keyfile_dict is not valid JSON "
            "(paste the whole service-account key file)."
        ) from None
    if not isinstance(parsed, dict):
        raise GeminiConnectionConfigError(f"Connection {conn_id!r}: keyfile_dict must be a JSON object.")
    return parsed


def _bool(conn_id: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (None, ""):
        return False
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise GeminiConnectionConfigError(f"Connection {conn_id!r}: extra {name!r} must be true or false.")


def _number(conn_id: str, extra: Mapping[str, Any], name: str, default: float, *, minimum: float) -> float:
    value = extra.get(name)
    if value is None or value == "":
        return float(default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GeminiConnectionConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be a number, got {value!r}."
        ) from None
    if number < minimum:
        raise GeminiConnectionConfigError(f"Connection {conn_id!r}: extra {name!r} must be >= {minimum}.")
    return number


def _scopes(value: Any) -> tuple[str, ...]:
    if not value:
        return DEFAULT_SCOPES
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(s.strip() for s in items if str(s).strip())


#: Shorter userinfo passwords are not redacted from texts: replacing a two-letter word everywhere
#: would garble every message and hide nothing worth hiding.
_MIN_REDACTED_PASSWORD = 6


def _userinfo_password(base_url: str) -> str | None:
    """The password of ``base_url``'s userinfo (percent-decoded), if it has one long enough."""
    try:
        password = urlsplit(base_url).password
    except ValueError:
        return None
    if not password:
        return None
    password = unquote(password)
    return password if len(password) >= _MIN_REDACTED_PASSWORD else None
