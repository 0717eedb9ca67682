"""The emulator's OAuth token endpoint: a service-account key whose token_uri points at it works
offline with google-auth, and malformed or stale assertions are refused (docs/vertex-wire.md)."""

from __future__ import annotations

import base64
import json
import time

import google.auth.exceptions
import google.auth.transport.requests
import httpx
import pytest
from google.oauth2 import service_account

from airflow_provider_gemini_batch.emulator import EmulatorServer

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def assertion(**claims: object) -> str:
    now = int(time.time())
    body = {"iss": "a@p.iam.gserviceaccount.com", "aud": "x", "iat": now, "exp": now + 3600, "scope": "s"}
    body.update(claims)
    return f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(body)}.c2lnbmF0dXJl"


def test_google_auth_refreshes_a_service_account_key_against_the_emulator(
    emulator: EmulatorServer, sa_credentials: service_account.Credentials
) -> None:
    sa_credentials.refresh(google.auth.transport.requests.Request())
    assert sa_credentials.token
    assert sa_credentials.valid
    token_requests = [e for e in emulator.control.journal() if e["path"] == "/token"]
    assert len(token_requests) == 1
    # The form (with the signed assertion) is not kept; only its size.
    assert token_requests[0]["json"] is None


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "assertion": "x"}, "unsupported_grant_type"),
        ({"grant_type": GRANT}, "invalid_request"),
        ({"grant_type": GRANT, "assertion": "not-a-jwt"}, "invalid_grant"),
        (
            {
                "grant_type": GRANT,
                "assertion": assertion(exp=int(time.time()) - 4000, iat=int(time.time()) - 7000),
            },
            "invalid_grant",
        ),
        ({"grant_type": GRANT, "assertion": assertion(exp=int(time.time()) + 7200)}, "invalid_grant"),
        ({"grant_type": GRANT, "assertion": assertion(scope="")}, "invalid_scope"),
    ],
)
def test_token_endpoint_refuses_what_google_would(
    emulator: EmulatorServer, form: dict[str, str], error: str
) -> None:
    answer = httpx.post(f"{emulator.base_url}/token", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]


def test_a_refused_assertion_surfaces_in_google_auth_as_a_refresh_error(
    emulator: EmulatorServer, service_account_info: dict[str, object]
) -> None:
    info = dict(service_account_info, token_uri=f"{emulator.base_url}/token")
    creds = service_account.Credentials.from_service_account_info(info)  # no scope
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_scope"):
        creds.refresh(google.auth.transport.requests.Request())


def test_a_token_dies_with_reset(emulator: EmulatorServer) -> None:
    answer = httpx.post(f"{emulator.base_url}/token", data={"grant_type": GRANT, "assertion": assertion()})
    token = answer.json()["access_token"]
    assert answer.json()["token_type"] == "Bearer"
    assert answer.json()["expires_in"] == 3599
    url = f"{emulator.base_url}/v1/projects/p/locations/l/batchPredictionJobs"
    assert httpx.get(url, headers={"authorization": f"Bearer {token}"}).status_code == 200
    emulator.control.reset()
    refused = httpx.get(url, headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.json()["error"]["status"] == "UNAUTHENTICATED"
