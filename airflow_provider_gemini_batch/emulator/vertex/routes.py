"""Routes of the Vertex AI ``batchPredictionJobs`` surface and of the local token endpoint.

Paths (REST reference, https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.batchPredictionJobs;
google-genai's Vertex mode calls the same ones under ``v1beta1``, its default API version there):

* ``POST   /{v1|v1beta1}/projects/{p}/locations/{l}/batchPredictionJobs``            create
* ``GET    /{v1|v1beta1}/projects/{p}/locations/{l}/batchPredictionJobs``            list
* ``GET    /{v1|v1beta1}/projects/{p}/locations/{l}/batchPredictionJobs/{id}``       get
* ``POST   /{v1|v1beta1}/projects/{p}/locations/{l}/batchPredictionJobs/{id}:cancel`` cancel (``{}``)
* ``DELETE /{v1|v1beta1}/projects/{p}/locations/{l}/batchPredictionJobs/{id}``       delete (an Operation)
* ``POST   /token`` (also ``/oauth2/v4/token``): the JWT-bearer token endpoint (:mod:`..token_server`)

Every Vertex route needs ``Authorization: Bearer <token>`` with a token the token endpoint issued
(401 UNAUTHENTICATED otherwise, unless the ``accept_any_token`` knob is on). Handlers are plugged
into the emulator's one request gate (``gate.Gate.handle``), so they are journalled and faults
apply to them like to the Developer API's.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from airflow_provider_gemini_batch.emulator.token_server import (
    MAX_FORM_BYTES,
    TokenBook,
    TokenError,
    bearer_of,
    check_assertion,
    parse_token_form,
    unauthenticated,
)
from airflow_provider_gemini_batch.emulator.vertex.models import VertexJob, VertexStore
from airflow_provider_gemini_batch.emulator.vertex.responses import (
    delete_operation,
    matches,
    parse_create,
    parse_filter,
    render_job,
)
from airflow_provider_gemini_batch.emulator.wire import ApiError, invalid, parse_json_lenient

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.gate import Ctx

Handler = Callable[..., Awaitable[Response]]
Route = tuple[str, str, Handler, bool]

_BASE = (
    r"^/(?P<ver>v1|v1beta1)/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/batchPredictionJobs"
)
_JOB = _BASE + r"/(?P<job_id>[^/:]+)"
LIST_PAGE_DEFAULT, LIST_PAGE_MAX = 100, 1000
MAX_CREATE_BYTES = 1024 * 1024


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":")), status_code=status, media_type="application/json"
    )


def _token(after: VertexJob) -> str:
    raw = f"{after.record.create_time!r}:{after.job_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(token: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, _, job_id = raw.partition(":")
        return float(stamp), job_id
    except ValueError:
        raise invalid("Invalid page token.") from None


class VertexService:
    """The Vertex handlers bound to one :class:`VertexStore` and one :class:`TokenBook`.

    :param accept_any_token: accept any non-empty bearer token (default False: only issued ones).
    """

    def __init__(self, store: VertexStore, tokens: TokenBook, accept_any_token: bool = False) -> None:
        self.store = store
        self.tokens = tokens
        self.accept_any_token = accept_any_token

    def routes(self) -> list[Route]:
        """(method, regex, handler, self_authorising) entries for the gate's route table."""
        return [
            ("POST", r"^/(?:oauth2/v4/)?token$", self.token, True),
            ("POST", _BASE + "$", self.create, True),
            ("GET", _BASE + "$", self.list, True),
            ("GET", _JOB + "$", self.get, True),
            ("DELETE", _JOB + "$", self.delete, True),
            ("POST", _JOB + ":cancel$", self.cancel, True),
        ]

    # ---- auth -----------------------------------------------------------------------------------

    def authenticate(self, ctx: Ctx) -> None:
        """Require an issued bearer token. :raises ApiError: 401 UNAUTHENTICATED."""
        token = bearer_of(ctx.request.headers.get("authorization", ""))
        if not token:
            raise ApiError(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                status="UNAUTHENTICATED",
            )
        if not self.accept_any_token and not self.tokens.valid(token):
            raise unauthenticated(
                "The token was not issued by this emulator's token endpoint or has expired: point the "
                "service-account key's token_uri at <emulator>/token."
            )

    async def token(self, ctx: Ctx) -> Response:
        """``POST /token``: exchange a JWT-bearer assertion for an access token."""
        raw = b""
        async for chunk in ctx.request.stream():
            raw += chunk
            if len(raw) > MAX_FORM_BYTES:
                return _json(TokenError("invalid_request", "Request body too large.").body(), 400)
        ctx.entry["body_size"] = len(raw)
        try:
            check_assertion(parse_token_form(raw), time.time())
        except TokenError as exc:
            return _json(exc.body(), 400)
        return _json(
            {"access_token": self.tokens.issue(), "expires_in": self.tokens.seconds, "token_type": "Bearer"}
        )

    # ---- jobs -----------------------------------------------------------------------------------

    async def _body(self, ctx: Ctx) -> Any:
        raw = b""
        async for chunk in ctx.request.stream():
            raw += chunk
            if len(raw) > MAX_CREATE_BYTES:
                raise invalid(f"Request payload size exceeds the limit: {MAX_CREATE_BYTES} bytes.")
        ctx.entry["body_size"] = len(raw)
        data = parse_json_lenient(raw)
        ctx.entry["json"] = data
        return data

    async def _rendered(self, job: VertexJob) -> dict[str, Any]:
        ready = await self.store.ensure_predictions(job)
        return render_job(self.store, job, self.store.now, finishing=not ready)

    async def create(self, ctx: Ctx, ver: str, project: str, location: str) -> Response:
        self.authenticate(ctx)
        spec = parse_create(await self._body(ctx))
        job = await self.store.create(project, location, spec)
        # The answer describes the job as created (JOB_STATE_PENDING in the captures).
        return _json(render_job(self.store, job, job.record.create_time))

    async def get(self, ctx: Ctx, ver: str, project: str, location: str, job_id: str) -> Response:
        self.authenticate(ctx)
        return _json(await self._rendered(self.store.get(project, location, job_id)))

    async def list(self, ctx: Ctx, ver: str, project: str, location: str) -> Response:
        self.authenticate(ctx)
        query = ctx.request.query_params
        raw_size = query.get("pageSize") or query.get("page_size") or ""
        try:
            size = int(raw_size) if raw_size else LIST_PAGE_DEFAULT
        except ValueError:
            raise invalid(f"Invalid value for pageSize: {raw_size!r}.") from None
        size = LIST_PAGE_DEFAULT if size <= 0 else min(size, LIST_PAGE_MAX)
        clauses = parse_filter(query.get("filter"))
        now = self.store.now
        jobs = self.store.listed(project, location, lambda j: matches(self.store, j, clauses, now))
        token = query.get("pageToken") or query.get("page_token")
        if token:
            after = _after(token)
            jobs = [j for j in jobs if (j.record.create_time, j.job_id) < after]
        page = jobs[:size]
        data: dict[str, Any] = {}
        if page:
            data["batchPredictionJobs"] = [await self._rendered(job) for job in page]
        if len(jobs) > size:
            data["nextPageToken"] = _token(page[-1])
        return _json(data)

    async def cancel(self, ctx: Ctx, ver: str, project: str, location: str, job_id: str) -> Response:
        self.authenticate(ctx)
        job = self.store.get(project, location, job_id)
        await self.store.ensure_predictions(job)
        self.store.cancel(job)
        return _json({})

    async def delete(self, ctx: Ctx, ver: str, project: str, location: str, job_id: str) -> Response:
        self.authenticate(ctx)
        job = self.store.get(project, location, job_id)
        await self.store.ensure_predictions(job)
        self.store.delete(job)
        return _json(delete_operation(job, self.store.now))
