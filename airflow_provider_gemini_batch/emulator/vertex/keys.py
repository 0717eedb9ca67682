"""A throwaway service-account key whose ``token_uri`` points at the emulator.

google-auth signs its token requests with the key's private key, so the key must be a real RSA
key; the emulator does not check the signature (see :mod:`..token_server`), so any fresh key does.
Never put a real key's JSON anywhere near the emulator: this one is generated on the spot.
"""

from __future__ import annotations

import secrets
from typing import Any

DEFAULT_PROJECT = "emulator-project"


def fake_service_account_info(
    base_url: str, project: str = DEFAULT_PROJECT, email: str | None = None
) -> dict[str, Any]:
    """The JSON of a service-account key (as ``json.loads`` of a key file) for ``project``, with
    ``token_uri`` ``<base_url>/token``. Needs ``cryptography`` (installed with Airflow).

    :param base_url: the emulator's base URL, e.g. ``http://127.0.0.1:8089``.
    :param email: the account's e-mail (default ``emulator@<project>.iam.gserviceaccount.com``).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    account = email or f"emulator@{project}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": account,
        "client_id": str(100_000_000_000_000_000_000 + secrets.randbelow(10**20)),
        "auth_uri": f"{base_url.rstrip('/')}/auth",
        "token_uri": f"{base_url.rstrip('/')}/token",
        "auth_provider_x509_cert_url": f"{base_url.rstrip('/')}/certs",
        "client_x509_cert_url": f"{base_url.rstrip('/')}/certs/{account}",
        "universe_domain": "googleapis.com",
    }
