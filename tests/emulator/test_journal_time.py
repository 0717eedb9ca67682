"""The journal stamps each request's arrival (wall clock), so an observer in another process can
time events: the distributed chaos run measures when a killed triggerer's waits poll again."""

from __future__ import annotations

import time

import httpx

from airflow_provider_gemini_batch.emulator import EmulatorServer


def test_journal_entries_carry_their_arrival_time(http: httpx.Client, emulator: EmulatorServer) -> None:
    before = time.time()
    http.get("/v1beta/batches")
    after = time.time()

    entry = emulator.control.journal()[-1]

    assert entry["path"] == "/v1beta/batches"
    assert before <= entry["at"] <= after
