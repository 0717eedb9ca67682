"""The unauthenticated control plane under ``/_emulator/...`` (a loopback test tool).

Wrapped by :class:`~airflow_provider_gemini_batch.emulator.control.EmulatorControl`, so tests
drive an in-process and a subprocess emulator the same way.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from airflow_provider_gemini_batch.emulator.backend import EmulatorState
from airflow_provider_gemini_batch.emulator.faults import fault_from_dict
from airflow_provider_gemini_batch.emulator.modes import MODES


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("control body must be a JSON object")
    return data


SETTING_KEYS = (
    "processing_seconds",
    "error_fraction",
    "next_outcome",
    "modes",
    "extra_api_keys",
    "file_processing_seconds",
    "huge_output_bytes",
    "state_names",
    "latency_seconds",
    "max_active_batches",
    "running_slots",
    "error_code",
)


def _bad(exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


def add_control_routes(app: FastAPI, state: EmulatorState) -> None:
    """Register the control endpoints on ``app`` (must precede the API catch-all route)."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse({})

    async def faults(request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse({"faults": [f.as_dict() for f in state.faults.pending()]})
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({})
        try:
            state.faults.add(fault_from_dict(await _body(request)))
        except (ValueError, TypeError) as exc:
            return _bad(exc)
        return JSONResponse({"pending": len(state.faults.pending())})

    async def clock(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                seconds = float((await _body(request))["seconds"])
            except (KeyError, ValueError, TypeError) as exc:
                return _bad(exc)
            if seconds < 0:
                return _bad(ValueError("the clock only moves forward"))
            state.clock.offset += seconds
        return JSONResponse({"now": state.clock.now(), "offset": state.clock.offset})

    async def configure(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _body(request)
                unknown = set(body) - set(SETTING_KEYS)
                if unknown:
                    raise ValueError(f"unknown settings: {sorted(unknown)}")
                state.configure(**body)
            except (ValueError, TypeError) as exc:
                return _bad(exc)
        return JSONResponse(vars(state.settings))

    async def modes(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "active": list(state.settings.modes),
                "known": {name: {"does": does, "source": src} for name, (does, src) in MODES.items()},
            }
        )

    async def journal(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            state.journal.clear()
            return JSONResponse({})
        return JSONResponse({"entries": list(state.journal)})

    app.add_route("/_emulator/health", health, methods=["GET"])
    app.add_route("/_emulator/reset", reset, methods=["POST"])
    app.add_route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"])
    app.add_route("/_emulator/clock", clock, methods=["GET", "POST"])
    app.add_route("/_emulator/config", configure, methods=["GET", "POST"])
    app.add_route("/_emulator/journal", journal, methods=["GET", "DELETE"])
    app.add_route("/_emulator/modes", modes, methods=["GET"])
