"""Helpers for raw-HTTP emulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """An httpx client for the emulator that sends the right API key."""
    with httpx.Client(
        base_url=emulator.base_url, headers={"x-goog-api-key": emulator.api_key or ""}, timeout=30
    ) as client:
        yield client


# ---- Vertex AI and Cloud Storage ---------------------------------------------------------------

VERTEX_PROJECT = "emulator-project"
VERTEX_LOCATION = "us-central1"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture(scope="session")
def service_account_info(emulator_server: EmulatorServer) -> dict[str, object]:
    """A throwaway service-account key whose token_uri is the session emulator's /token."""
    from airflow_provider_gemini_batch.emulator.vertex import fake_service_account_info

    return fake_service_account_info(emulator_server.base_url, VERTEX_PROJECT)


@pytest.fixture
def sa_credentials(emulator: EmulatorServer, service_account_info: dict[str, object]) -> object:
    """Fresh google-auth service-account credentials (no cached token: reset forgets tokens)."""
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_info(
        service_account_info, scopes=[CLOUD_PLATFORM]
    )


@pytest.fixture
def vertex(emulator: EmulatorServer, sa_credentials: object) -> Iterator[httpx.Client]:
    """An httpx client for the Vertex routes with a bearer token from the emulator's token endpoint
    (obtained by google-auth from the service-account key), base URL at the project's location."""
    import google.auth.transport.requests

    sa_credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[attr-defined]
    token = sa_credentials.token  # type: ignore[attr-defined]
    with httpx.Client(
        base_url=f"{emulator.base_url}/v1/projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}",
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client
