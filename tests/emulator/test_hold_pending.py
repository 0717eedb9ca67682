"""The emulator can hold batches PENDING (``hold_pending``), as the real service held users'
batches for more than 24 hours (python-genai #1482, js-genai #1453). Driven by the emulator's clock."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.test_batches import create, item


def _state(http: httpx.Client, name: str) -> str:
    return str(http.get(f"/v1beta/{name}").json()["metadata"]["state"])


def test_a_held_batch_stays_pending_until_released_and_the_next_one_is_not_held(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.configure(hold_pending=1)
    held = create(http, [item("a", "1")])["name"]
    free = create(http, [item("b", "2")])["name"]
    emulator.control.advance_clock(3600)
    assert _state(http, held) == "BATCH_STATE_PENDING"
    assert _state(http, free) == "BATCH_STATE_SUCCEEDED"
    assert emulator.control.release_pending() == 1
    assert _state(http, held) == "BATCH_STATE_PENDING"  # its timeline starts at the release
    emulator.control.advance_clock(60)
    assert _state(http, held) == "BATCH_STATE_SUCCEEDED"
    assert emulator.control.release_pending() == 0


def test_a_timed_hold_starts_by_itself(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(hold_pending=1, hold_pending_seconds=600)
    name = create(http, [item("a", "1")])["name"]
    emulator.control.advance_clock(590)
    assert _state(http, name) == "BATCH_STATE_PENDING"
    emulator.control.advance_clock(60)
    assert _state(http, name) == "BATCH_STATE_SUCCEEDED"


def test_a_held_batch_can_be_cancelled_and_expires_at_48_hours(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.configure(hold_pending=2)
    cancelled = create(http, [item("a", "1")])["name"]
    expiring = create(http, [item("b", "2")])["name"]
    assert http.post(f"/v1beta/{cancelled}:cancel").status_code == 200
    body = http.get(f"/v1beta/{cancelled}").json()
    assert body["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    assert body["done"] is True
    assert "output" not in body["metadata"]
    emulator.control.advance_clock(48 * 3600 + 1)
    assert _state(http, expiring) == "BATCH_STATE_EXPIRED"


def test_hold_pending_is_checked(emulator: EmulatorServer) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        emulator.control.configure(hold_pending=-1)
    settings = emulator.control.configure(hold_pending=3, hold_pending_seconds=5)
    assert (settings["hold_pending"], settings["hold_pending_seconds"]) == (3, 5.0)
    emulator.control.reset()
    assert emulator.control.configure()["hold_pending"] == 0
