"""The ASGI application: builds the request gate and mounts every surface on it.

Layout per surface (routes -> request parsing and rendering -> models, as moto lays out a
service): the Developer API in :mod:`.developer`, Vertex AI batch prediction in :mod:`.vertex`,
the Cloud Storage subset in :mod:`.storage` (both mounted by :mod:`.cloud`); the one gate every
API request passes (journal, scripted faults, authentication) in :mod:`.gate`; the control plane
under ``/_emulator`` in :mod:`.control_routes`.
"""

from __future__ import annotations

from fastapi import FastAPI

from airflow_provider_gemini_batch.emulator.backend import EmulatorState
from airflow_provider_gemini_batch.emulator.control_routes import add_control_routes
from airflow_provider_gemini_batch.emulator.developer.auth import ApiKeyAuth
from airflow_provider_gemini_batch.emulator.developer.routes import DeveloperService
from airflow_provider_gemini_batch.emulator.gate import Ctx, Gate

__all__ = ["Ctx", "Gate", "build_app"]


def build_app(
    state: EmulatorState,
    api_key: str | None,
    *,
    bound_to_loopback: bool = True,
    control_token: str | None = None,
) -> FastAPI:
    """The FastAPI application: control plane under ``/_emulator`` plus the catch-all public API.

    :param api_key: the one accepted API key of the Developer API; None accepts any key
        (credentials still required).
    :param bound_to_loopback: the server listens on a loopback address only (see ``guard.py``).
    :param control_token: the token control requests must carry (None: none on a loopback bind;
        the control plane is closed on another bind).
    """
    app = FastAPI(title="Gemini Batch API emulator", docs_url=None, redoc_url=None, openapi_url=None)
    gate = Gate(state, ApiKeyAuth(api_key, lambda: state.settings.extra_api_keys))
    gate.add_routes(DeveloperService(state.developer).routes())
    app.state.emulator = state
    add_control_routes(app, state, bound_to_loopback=bound_to_loopback, control_token=control_token)
    # Vertex AI batch prediction, Cloud Storage and the token endpoint, through the same gate.
    from airflow_provider_gemini_batch.emulator.cloud import mount_cloud

    app.state.cloud = mount_cloud(
        app, gate, state, bound_to_loopback=bound_to_loopback, control_token=control_token
    )
    app.add_route(
        "/{path:path}", gate.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    )
    return app
