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
