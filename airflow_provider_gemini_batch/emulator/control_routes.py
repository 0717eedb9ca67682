"""The control plane under ``/_emulator/...`` (a loopback test tool).

Wrapped by :class:`~airflow_provider_gemini_batch.emulator.control.EmulatorControl`, so tests
drive an in-process and a subprocess emulator the same way. Every route but ``/health`` answers
only requests :func:`~.guard.control_allowed` lets through (a loopback ``Host`` on a loopback bind,
the control token otherwise); others get 403.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from airflow_provider_gemini_batch.emulator.backend import EmulatorState
from airflow_provider_gemini_batch.emulator.faults import fault_from_dict
from airflow_provider_gemini_batch.emulator.guard import control_allowed
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
    "hold_pending",
    "hold_pending_seconds",
)


def _bad(exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=400)


Endpoint = Callable[[Request], Awaitable[JSONResponse]]


def add_control_routes(
    app: FastAPI, state: EmulatorState, *, bound_to_loopback: bool = True, control_token: str | None = None
) -> None:
    """Register the control endpoints on ``app`` (must precede the API catch-all route).

    :param bound_to_loopback: the server listens on loopback only.
    :param control_token: the token control requests must carry (see ``guard.py``).
    """

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def checked(request: Request) -> JSONResponse:
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not control_allowed(headers, bound_to_loopback=bound_to_loopback, token=control_token):
                return JSONResponse(
                    {
                        "error": "control plane refused: send X-Emulator-Control-Token (printed at start, "
                        "or GEMINI_EMULATOR_CONTROL_TOKEN) from a loopback Host"
                    },
                    status_code=403,
                )
            return await endpoint(request)

        return checked

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

    async def release(request: Request) -> JSONResponse:
        return JSONResponse({"released": state.release_pending()})

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
    app.add_route("/_emulator/reset", guarded(reset), methods=["POST"])
    app.add_route("/_emulator/faults", guarded(faults), methods=["GET", "POST", "DELETE"])
    app.add_route("/_emulator/clock", guarded(clock), methods=["GET", "POST"])
    app.add_route("/_emulator/config", guarded(configure), methods=["GET", "POST"])
    app.add_route("/_emulator/journal", guarded(journal), methods=["GET", "DELETE"])
    app.add_route("/_emulator/modes", guarded(modes), methods=["GET"])
    app.add_route("/_emulator/release", guarded(release), methods=["POST"])
