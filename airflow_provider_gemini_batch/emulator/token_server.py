"""A local OAuth 2.0 token endpoint, so a service-account key works offline against the emulator.

google-auth's service-account credentials sign a JWT with the key and POST it to the key's
``token_uri`` as a form (RFC 7523 section 2.1, the grant google-auth's ``_client.jwt_grant``
sends)::

    grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<header>.<claims>.<signature>

and expect ``{"access_token", "expires_in", "token_type"}`` back. Pointing the key's ``token_uri``
at ``<emulator>/token`` therefore gives real google-auth code paths a token the emulator's Vertex
routes accept.

What is checked: the grant type; the assertion's shape (three base64url segments, a JSON header
with ``alg`` RS256 and a JSON claim set with ``iss``, ``aud``, ``iat``, ``exp`` and a ``scope``);
``exp`` after ``iat`` by at most one hour and not in the past (wall clock, five minutes of skew).
What is **not** checked: the signature. The emulator does not hold the public certificate of the
key (Google publishes it at the key's ``client_x509_cert_url``, which is not reachable offline),
so any well-formed assertion is accepted; the emulator is a test tool, not an identity provider.

Issued tokens are kept as SHA-256 digests only (never in clear, in memory or in the journal; the
journal marks the ``Authorization`` header with ``guard.credential_mark``), each valid for
:data:`TOKEN_SECONDS` of wall-clock time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from airflow_provider_gemini_batch.emulator.wire import ApiError

#: The grant google-auth's service-account credentials use (RFC 7523).
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Lifetime of an issued token (seconds); Google's token endpoint answers ``expires_in: 3599``.
TOKEN_SECONDS = 3599
#: Longest JWT lifetime Google's endpoint accepts (one hour), and the clock skew tolerated.
MAX_ASSERTION_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300
#: Bound on the form body (an assertion is about 1 KB).
MAX_FORM_BYTES = 64 * 1024


class TokenError(Exception):
    """A refused token request: OAuth ``error`` code and a description naming the fix."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """The OAuth error body (RFC 6749 section 5.2), which google-auth quotes in RefreshError."""
        return {"error": self.error, "error_description": self.description}


def _segment(raw: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("invalid_grant", f"Invalid JWT: the {what} is not base64url.") from None


def _json_segment(raw: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(_segment(raw, what))
    except ValueError:
        raise TokenError("invalid_grant", f"Invalid JWT: the {what} is not JSON.") from None
    if not isinstance(data, dict):
        raise TokenError("invalid_grant", f"Invalid JWT: the {what} is not a JSON object.")
    return data


def check_assertion(assertion: str, now: float) -> dict[str, Any]:
    """Check a JWT-bearer assertion's shape and times; returns its claims.

    :param assertion: ``<header>.<claims>.<signature>``, each base64url without padding.
    :param now: wall-clock epoch seconds.
    :raises TokenError: ``invalid_grant`` naming what is wrong (see the module docstring).
    """
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenError("invalid_grant", "Invalid JWT: expected three dot-separated segments.")
    header = _json_segment(parts[0], "header")
    claims = _json_segment(parts[1], "claim set")
    _segment(parts[2], "signature")
    if header.get("alg") != "RS256":
        raise TokenError("invalid_grant", f"Invalid JWT: alg must be RS256, got {header.get('alg')!r}.")
    missing = [name for name in ("iss", "aud", "iat", "exp") if name not in claims]
    if missing:
        raise TokenError("invalid_grant", f"Invalid JWT: claims {missing} are missing.")
    if not claims.get("scope") and not claims.get("target_audience"):
        raise TokenError("invalid_scope", "Invalid JWT: no scope (ask for the cloud-platform scope).")
    try:
        iat, exp = float(claims["iat"]), float(claims["exp"])
    except (TypeError, ValueError):
        raise TokenError("invalid_grant", "Invalid JWT: iat and exp must be numbers.") from None
    if exp <= iat or exp - iat > MAX_ASSERTION_SECONDS:
        raise TokenError("invalid_grant", "Invalid JWT: exp must be after iat and at most 1 hour later.")
    if exp < now - CLOCK_SKEW_SECONDS or iat > now + CLOCK_SKEW_SECONDS:
        raise TokenError(
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim.",
        )
    return claims


class TokenBook:
    """Access tokens issued by the token endpoint, as digests with their wall-clock expiry.

    :param seconds: lifetime of an issued token (default :data:`TOKEN_SECONDS`).
    """

    def __init__(self, seconds: int = TOKEN_SECONDS) -> None:
        self.seconds = seconds
        self._expiry: dict[str, float] = {}

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()

    def issue(self, now: float | None = None) -> str:
        """A new random bearer token valid for :attr:`seconds` from ``now`` (wall clock)."""
        at = time.time() if now is None else now
        # Keep the book bounded: forget tokens that have expired.
        self._expiry = {d: e for d, e in self._expiry.items() if e > at}
        token = "ya29.emulator-" + secrets.token_urlsafe(32)
        self._expiry[self._digest(token)] = at + self.seconds
        return token

    def valid(self, token: str, now: float | None = None) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        expiry = self._expiry.get(self._digest(token))
        return expiry is not None and expiry > (time.time() if now is None else now)

    def clear(self) -> None:
        """Forget every token (the control plane's reset)."""
        self._expiry.clear()


def parse_token_form(raw: bytes) -> str:
    """The assertion of a JWT-bearer token request body (form-encoded).

    :raises TokenError: ``unsupported_grant_type`` or ``invalid_request``.
    """
    form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    grant = (form.get("grant_type") or [""])[0]
    if grant != JWT_BEARER_GRANT:
        raise TokenError(
            "unsupported_grant_type",
            f"Invalid grant_type {grant!r}: the emulator's token endpoint serves {JWT_BEARER_GRANT} "
            "(a service-account key whose token_uri points here).",
        )
    assertion = (form.get("assertion") or [""])[0]
    if not assertion:
        raise TokenError("invalid_request", "Missing required parameter: assertion.")
    return assertion


def bearer_of(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header value ('' when absent)."""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def unauthenticated(detail: str) -> ApiError:
    """401 UNAUTHENTICATED in the words Google APIs use for a missing or bad OAuth token."""
    return ApiError(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        f"or other valid authentication credential. {detail}",
        status="UNAUTHENTICATED",
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )
