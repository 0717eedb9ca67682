"""Mounts the Google Cloud surfaces (Vertex AI batch prediction, Cloud Storage, the token
endpoint) into the emulator app, with their control routes under ``/_emulator/vertex/...``.

The API routes join the request gate every surface passes (``gate.Gate``), so they share its journal,
scripted faults and latency; the control routes pass the same guard as the rest of the control
plane (``guard.control_allowed``).

Control routes (wrapped by ``EmulatorControl.vertex_*``):

* ``GET  /_emulator/vertex/jobs``: every Vertex job ever created since the last reset, deleted
  ones included (``{"jobs": [{"name", "displayName", "state", "createTime", "labels", "deleted",
  "predictions"}]}``), so a test can count duplicates;
* ``GET|POST /_emulator/vertex/config``: ``next_outcome`` (SUCCEEDED, FAILED, CANCELLED, EXPIRED,
  PARTIALLY_SUCCEEDED; the next created job only) and ``accept_any_token``;
* ``POST /_emulator/vertex/token``: an access token without a JWT (for clients that bring their
  own bearer token);
* ``PUT|GET /_emulator/vertex/bigquery?table=project.dataset.table``: load a table (JSONL rows,
  each with a ``request`` column) for ``bq://`` input, or read a ``bq://`` output table as JSONL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from airflow_provider_gemini_batch.emulator.backend import EmulatorState
from airflow_provider_gemini_batch.emulator.guard import control_allowed
from airflow_provider_gemini_batch.emulator.storage.models import ObjectStore
from airflow_provider_gemini_batch.emulator.storage.routes import StorageService
from airflow_provider_gemini_batch.emulator.token_server import TokenBook
from airflow_provider_gemini_batch.emulator.vertex.models import (
    VERTEX_OUTCOMES,
    VertexStore,
    bigquery_file_name,
)
from airflow_provider_gemini_batch.emulator.vertex.responses import timestamp
from airflow_provider_gemini_batch.emulator.vertex.routes import VertexService

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.gate import Gate

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class CloudServices:
    """The Google Cloud surfaces of one emulator app."""

    objects: ObjectStore
    vertex: VertexStore
    tokens: TokenBook
    vertex_service: VertexService
    storage_service: StorageService

    def reset(self) -> None:
        """Forget objects, jobs and tokens; knobs back to their defaults."""
        self.objects.reset()
        self.vertex.reset()
        self.tokens.clear()
        self.vertex_service.accept_any_token = False


def mount_cloud(
    app: FastAPI, gate: Gate, state: EmulatorState, *, bound_to_loopback: bool, control_token: str | None
) -> CloudServices:
    """Create the stores under ``state.data_dir``, put their routes in front of ``gate``'s table,
    register the control routes on ``app`` (before the API catch-all) and the reset hook."""
    objects = ObjectStore(state.data_dir / "gcs", state.clock.now)
    vertex = VertexStore(state, objects, state.data_dir / "vertex")
    tokens = TokenBook()
    services = CloudServices(objects, vertex, tokens, VertexService(vertex, tokens), StorageService(objects))
    entries = [*services.vertex_service.routes(), *services.storage_service.routes()]
    gate.add_routes(entries, first=True)
    state.reset_hooks.append(services.reset)
    _add_control_routes(app, services, bound_to_loopback=bound_to_loopback, control_token=control_token)
    return services


def _add_control_routes(
    app: FastAPI, services: CloudServices, *, bound_to_loopback: bool, control_token: str | None
) -> None:
    vertex = services.vertex

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def checked(request: Request) -> Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            if not control_allowed(headers, bound_to_loopback=bound_to_loopback, token=control_token):
                return JSONResponse(
                    {"error": "control plane refused (see docs/emulator.md)"}, status_code=403
                )
            return await endpoint(request)

        return checked

    async def jobs(request: Request) -> Response:
        now = vertex.now
        listed: list[dict[str, Any]] = []
        for job in sorted(vertex.jobs.values(), key=lambda j: (j.record.create_time, j.job_id)):
            listed.append(
                {
                    "name": job.name,
                    "displayName": job.spec.display_name,
                    "state": vertex.short_state(job, now),
                    "createTime": timestamp(job.record.create_time),
                    "labels": dict(job.spec.labels),
                    "deleted": job.deleted,
                    "predictions": job.output_object,
                }
            )
        return JSONResponse({"jobs": listed})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
                unknown = set(body) - {"next_outcome", "accept_any_token"}
                if unknown:
                    raise ValueError(f"unknown settings: {sorted(unknown)}")
                if body.get("next_outcome") is not None:
                    outcome = str(body["next_outcome"]).upper().removeprefix("JOB_STATE_")
                    if outcome not in VERTEX_OUTCOMES:
                        raise ValueError(f"next_outcome must be one of {sorted(VERTEX_OUTCOMES)}")
                    vertex.next_outcome = outcome
                if body.get("accept_any_token") is not None:
                    services.vertex_service.accept_any_token = bool(body["accept_any_token"])
            except (ValueError, TypeError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(
            {
                "next_outcome": vertex.next_outcome,
                "accept_any_token": services.vertex_service.accept_any_token,
            }
        )

    async def token(request: Request) -> Response:
        tokens = services.tokens
        return JSONResponse(
            {"access_token": tokens.issue(), "expires_in": tokens.seconds, "token_type": "Bearer"}
        )

    async def bigquery(request: Request) -> Response:
        table = request.query_params.get("table", "").removeprefix("bq://")
        if table.count(".") != 2 or "/" in table:
            return JSONResponse({"error": "table must be project.dataset.table"}, status_code=400)
        if request.method == "GET":
            path = vertex.bigquery.get(table)
            if path is None:
                return JSONResponse({"error": f"no table {table}"}, status_code=404)

            async def rows() -> AsyncIterator[bytes]:
                with open(path, "rb") as handle:  # noqa: ASYNC230 - a test tool's page-cache read
                    while block := handle.read(1 << 20):
                        yield block

            return StreamingResponse(rows(), media_type="application/jsonl")
        target = vertex.root / bigquery_file_name(table)
        with open(target, "wb") as out:  # noqa: ASYNC230 - a test tool's write
            async for chunk in request.stream():
                out.write(chunk)
        vertex.bigquery[table] = target
        return JSONResponse({"table": table})

    app.add_route("/_emulator/vertex/jobs", guarded(jobs), methods=["GET"])
    app.add_route("/_emulator/vertex/config", guarded(config), methods=["GET", "POST"])
    app.add_route("/_emulator/vertex/token", guarded(token), methods=["POST"])
    app.add_route("/_emulator/vertex/bigquery", guarded(bigquery), methods=["GET", "PUT"])
