"""What the emulator keeps of credentials, and who may use its control plane.

The emulator is a test tool, yet users point connections at it, some with the key they use for the
real service. So:

* the journal keeps *whether* a credential came and a short fingerprint to tell keys apart
  (:func:`credential_mark`: the first 12 hex digits of its SHA-256, useless for recovering a
  high-entropy key), never its value: the ``x-goog-api-key`` and ``Authorization`` headers (and
  cookies) and the ``key`` query parameter are replaced before an entry is stored;
* the control plane (``/_emulator/...``: reset, faults, clock, journal) answers only
  :func:`control_allowed` requests. On a loopback bind (the default) the ``Host`` header must name
  a loopback host, so a web page the developer visits cannot reach it through DNS rebinding; on any
  other bind (``--host 0.0.0.0``) the ``X-Emulator-Control-Token`` header must carry the control
  token (one is generated and printed when none is configured). A configured token is always
  required.

Written here on its own (the emulator imports nothing from the provider's hooks or core).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode

#: Header carrying the control token.
CONTROL_TOKEN_HEADER = "x-emulator-control-token"
#: Environment variable the CLI and :class:`~.control.EmulatorControl` read the token from.
CONTROL_TOKEN_ENV = "GEMINI_EMULATOR_CONTROL_TOKEN"
#: Request headers whose values are credentials (lower-case).
CREDENTIAL_HEADERS = frozenset({"x-goog-api-key", "authorization", "proxy-authorization", "cookie"})
#: Query parameters whose values are credentials.
CREDENTIAL_PARAMS = frozenset({"key", "access_token"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def credential_mark(value: str) -> str:
    """What the journal keeps of a credential: ``"<credential sha256:0123456789ab>"``."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"<credential sha256:{digest}>"


def _mark_header(name: str, value: str) -> str:
    if name in ("authorization", "proxy-authorization") and " " in value.strip():
        scheme, _, secret = value.strip().partition(" ")
        return f"{scheme} {credential_mark(secret.strip())}"
    return credential_mark(value)


def journal_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased headers with every credential replaced by its :func:`credential_mark`."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        out[key] = _mark_header(key, value) if key in CREDENTIAL_HEADERS else value
    return out


def journal_query(query: str) -> str:
    """The query string with credential parameters' values replaced (others kept as sent)."""
    if not query or not any(f"{p}=" in query for p in CREDENTIAL_PARAMS):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, credential_mark(v) if k in CREDENTIAL_PARAMS else v) for k, v in pairs])


def is_loopback(host: str) -> bool:
    """True for ``127.0.0.0/8``, ``::1`` and ``localhost`` (brackets and a port are ignored)."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_control_token() -> str:
    """A random control token (for a non-loopback bind without a configured one)."""
    return secrets.token_urlsafe(24)


def control_allowed(headers: Mapping[str, str], *, bound_to_loopback: bool, token: str | None) -> bool:
    """Whether a control request with these (lower-cased) headers may proceed (see module doc)."""
    if token is not None:
        given = headers.get(CONTROL_TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode()):
            return False
    elif not bound_to_loopback:
        return False  # never open on a reachable interface without a token
    return not bound_to_loopback or is_loopback(headers.get("host", ""))
