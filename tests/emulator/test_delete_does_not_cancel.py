"""A deleted batch is not stopped: it keeps holding the concurrent-job quota until it ends.

Source: Google's long-running-operation ``operations.delete`` reference ("does not cancel the
operation") and googleapis/python-genai issue #2495 (a deleted pending batch still counted in the
project's batch quota days later). Cancelling first frees the slot at once, which is why
``GeminiDeleteBatchOperator`` cancels before it deletes.
"""

from __future__ import annotations

import httpx

from airflow_provider_gemini_batch.emulator import EmulatorServer
from tests.emulator.test_batches import create

REQUESTS = [{"request": {"contents": [{"parts": [{"text": "x"}]}]}, "metadata": {"key": "k"}}]


def test_a_deleted_running_batch_still_counts_toward_the_limit(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.control.configure(max_active_batches=1, processing_seconds=600)
    first = create(http, REQUESTS)["name"]
    assert http.delete(f"/v1beta/{first}").status_code == 200
    assert http.get(f"/v1beta/{first}").status_code == 404

    refused = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        json={"batch": {"inputConfig": {"requests": {"requests": REQUESTS}}}},
    )

    assert refused.status_code == 429
    emulator.control.advance_clock(601)  # the deleted batch would have ended by now
    assert create(http, REQUESTS)["name"].startswith("batches/")


def test_cancel_then_delete_frees_the_slot_at_once(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.control.configure(max_active_batches=1, processing_seconds=600)
    first = create(http, REQUESTS)["name"]
    assert http.post(f"/v1beta/{first}:cancel").status_code == 200
    assert http.delete(f"/v1beta/{first}").status_code == 200

    assert create(http, REQUESTS)["name"].startswith("batches/")
