"""A local emulator of the Gemini Batch API and Files API (FastAPI + uvicorn).

Written from the public wire format (docs/real-service/wire-format.md) and the real captures
alone: it imports nothing from ``hooks/`` or ``_core/`` and nothing from
Airflow, so it starts fast and is usable outside Airflow. See docs/emulator.md.

    >>> from airflow_provider_gemini_batch.emulator import EmulatorServer
    >>> with EmulatorServer(api_key="k") as emu:  # doctest: +SKIP
    ...     emu.control.configure(next_outcome="FAILED")
"""

from __future__ import annotations

from airflow_provider_gemini_batch.emulator import fake_model
from airflow_provider_gemini_batch.emulator.control import EmulatorControl
from airflow_provider_gemini_batch.emulator.faults import Fault
from airflow_provider_gemini_batch.emulator.server import EmulatorServer

__all__ = ["EmulatorControl", "EmulatorServer", "Fault", "fake_model"]
