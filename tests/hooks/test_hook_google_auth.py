"""Service-account credentials: Bearer token from google-auth, refreshed once, quota project sent.

The OAuth token endpoint is a small local HTTP server (the key's ``token_uri`` points at it), so
google-auth does its real JWT-bearer exchange over a socket.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.emulator.guard import credential_mark
from airflow_provider_gemini_batch.exceptions import (
    GeminiApiError,
    GeminiConnectionConfigError,
    GeminiNotFoundError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchAsyncHook, GeminiBatchHook
from tests.hostile.server import HostileServer, Rule, echo_secret


class TokenServer:
    """Answers every POST with a fresh access token and counts the exchanges."""

    def __init__(self) -> None:
        self.grants: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                outer.grants.append(body)
                answer = json.dumps({"access_token": f"tok-{len(outer.grants)}", "expires_in": 3600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.server.shutdown()


@pytest.fixture
def service_account(token_server: TokenServer) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "batch@test-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_server.url,
    }


@pytest.fixture
def sa_conn(
    emulator: EmulatorServer, service_account: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    extra = {
        "keyfile_dict": json.dumps(service_account),
        "quota_project_id": "billing-project",
        "scopes": "s1,s2",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_SA",
        json.dumps({"conn_type": "gemini_batch", "host": emulator.base_url, "extra": json.dumps(extra)}),
    )
    return "gemini_sa"


def test_service_account_sends_a_bearer_token_and_quota_project(
    sa_conn: str, emulator: EmulatorServer, token_server: TokenServer, service_account: dict[str, str]
) -> None:
    hook = GeminiBatchHook(gemini_conn_id=sa_conn)
    assert list(hook.list_files()) == []
    assert list(hook.list_batches()) == []
    entries = emulator.control.journal()
    assert [e["headers"].get("authorization") for e in entries] == [f"Bearer {credential_mark('tok-1')}"] * 2
    assert all(e["headers"].get("x-goog-user-project") == "billing-project" for e in entries)
    assert all("x-goog-api-key" not in e["headers"] for e in entries)
    # One token exchange serves both calls (refreshed only when expired), with the configured scopes.
    assert len(token_server.grants) == 1
    assert "grant_type=urn" in token_server.grants[0]
    assert service_account["private_key"] not in repr(hook.settings)


async def test_async_hook_refreshes_the_token_off_the_loop(
    sa_conn: str, emulator: EmulatorServer, token_server: TokenServer
) -> None:
    ahook = GeminiBatchAsyncHook(gemini_conn_id=sa_conn)
    try:
        with pytest.raises(GeminiNotFoundError, match="batches/missing"):
            await ahook.get_batch("batches/missing")
    finally:
        await ahook.aclose()
    assert emulator.control.journal()[0]["headers"]["authorization"] == f"Bearer {credential_mark('tok-1')}"


def test_unusable_service_account_key_is_a_config_error_without_the_key(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = {
        "type": "service_account",
        "private_key": "-----BEGIN PRIVATE KEY-----\nsecretstuff\n",
        "client_email": "x",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_BADSA",
        json.dumps(
            {
                "conn_type": "gemini_batch",
                "host": emulator.base_url,
                "extra": json.dumps({"keyfile_dict": bad}),
            }
        ),
    )
    with pytest.raises(GeminiConnectionConfigError, match="cannot load Google credentials") as info:
        GeminiBatchHook(gemini_conn_id="gemini_badsa").get_batch("batches/x")
    assert "secretstuff" not in str(info.value)
    assert emulator.control.journal() == []


def test_private_key_inside_keyfile_json_is_masked_by_the_hook(
    sa_conn: str, service_account: dict[str, str]
) -> None:
    """Airflow's connection lookup masks the connection's password and whole sensitive extras, but
    not the private key as it appears alone (e.g. in a google-auth error or a debug line). The hook
    registers it: before the hook reads the connection it is shown, afterwards it is redacted."""
    from airflow.providers.common.compat.sdk import BaseHook, redact

    pem = service_account["private_key"]
    BaseHook.get_connection(sa_conn).extra_dejson  # noqa: B018 - Airflow's own lookup and masking
    assert pem in str(redact(f"key: {pem}"))
    GeminiBatchHook(gemini_conn_id=sa_conn).settings  # noqa: B018 - reading settings registers secrets
    assert pem not in str(redact(f"key: {pem}"))


@pytest.mark.parametrize("hook_kind", ["sync", "async"])
async def test_an_echoed_bearer_token_is_redacted_like_the_key(
    hostile_server: Callable[..., HostileServer],
    service_account: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    hook_kind: str,
) -> None:
    """A server that quotes the ``Authorization`` header it received (in the error message, any
    letter case): the access token opens what its scopes allow, so it is redacted like a key."""
    server = hostile_server(
        [Rule("GET", r"/v1beta/batches/.*", echo_secret(400, header="authorization", places=("message",)))]
    )
    extra = {"keyfile_dict": json.dumps(service_account), "max_retries": 0}
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_SA_ECHO",
        json.dumps({"conn_type": "gemini_batch", "host": server.base_url, "extra": json.dumps(extra)}),
    )
    if hook_kind == "sync":
        with pytest.raises(GeminiApiError) as info:
            GeminiBatchHook(gemini_conn_id="gemini_sa_echo").get_batch("batches/b1")
    else:
        ahook = GeminiBatchAsyncHook(gemini_conn_id="gemini_sa_echo", retry=False)
        try:
            with pytest.raises(GeminiApiError) as info:
                await ahook.get_batch("batches/b1")
        finally:
            await ahook.aclose()
    assert server.headers_seen("authorization") == ["Bearer tok-1"]
    assert "API key Bearer ***" in str(info.value)
    assert "tok-1" not in str(info.value).lower()
