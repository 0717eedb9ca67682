"""Routes of the Gemini Developer API (Files, Models, Batches) and their handlers.

Paths (REST reference https://ai.google.dev/api/batch-mode and https://ai.google.dev/api/files;
``{ver}`` is ``v1``, ``v1beta`` or ``v1alpha``):

* ``POST   /upload/{ver}/files`` (also ``/resumable/...``)          upload (:mod:`.uploads`)
* ``GET    /{ver}/files``, ``GET|DELETE /{ver}/files/{id}``            list, get, delete
* ``GET    /{ver}/files/{id}:download`` (also ``/download/...``)      download a generated file
* ``GET    /{ver}/models``, ``GET /{ver}/models/{model}``              the model catalogue
* ``POST   /{ver}/{models|tunedModels}/{m}:batchGenerateContent``     create (``:asyncBatchEmbedContent``)
* ``GET    /{ver}/batches``, ``GET|DELETE /{ver}/batches/{id}``        list, get, delete
* ``POST   /{ver}/batches/{id}:cancel`` (GET too)                      cancel
* ``PATCH  /{ver}/batches/{id}:updateGenerateContentBatch`` (or ``:updateEmbedContentBatch``)

Every route but an upload-session URL is authenticated by the gate with the API key
(:mod:`.auth`). Handlers parse with :mod:`.responses` and act on :mod:`.models`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.responses import Response, StreamingResponse

from airflow_provider_gemini_batch.emulator import models as model_catalogue
from airflow_provider_gemini_batch.emulator.batches import BatchRecord
from airflow_provider_gemini_batch.emulator.developer import responses as parse
from airflow_provider_gemini_batch.emulator.developer.uploads import UploadService
from airflow_provider_gemini_batch.emulator.files import FileRecord, remove_quietly
from airflow_provider_gemini_batch.emulator.gate import (
    MAX_INLINE_BODY_BYTES,
    Ctx,
    Route,
    base_url,
    json_response,
    read_json,
)
from airflow_provider_gemini_batch.emulator.wire import (
    MAX_FILE_ID,
    ApiError,
    file_gone,
    file_id_too_long,
    not_found,
)

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator.developer.models import DeveloperStore

DOWNLOAD_BLOCK = 1024 * 1024

_VER = r"(?P<ver>v1|v1beta|v1alpha)"
_ID = r"(?P<id>[a-z0-9][a-z0-9-]*)"


class DeveloperService:
    """The Developer API handlers bound to one :class:`~.models.DeveloperStore`."""

    def __init__(self, store: DeveloperStore) -> None:
        self.store = store
        self.uploads = UploadService(store)

    def routes(self) -> list[Route]:
        """(method, regex, handler, self_authorising) entries for the gate's route table."""
        create = (
            rf"^/{_VER}/(?P<coll>models|tunedModels)/(?P<model>[^/:]+)"
            r":(?P<verb>batchGenerateContent|asyncBatchEmbedContent)$"
        )
        return [
            ("POST", rf"^/(?:resumable/)?upload/{_VER}/files$", self.uploads.upload, False),
            ("GET", rf"^/{_VER}/files$", self.list_files, False),
            ("GET", rf"^/{_VER}/files/{_ID}$", self.get_file, False),
            ("DELETE", rf"^/{_VER}/files/{_ID}$", self.delete_file, False),
            ("GET", rf"^/(?:download/)?{_VER}/files/{_ID}:download$", self.download_file, False),
            ("GET", rf"^/{_VER}/models$", self.list_models, False),
            ("GET", rf"^/{_VER}/models/(?P<model>[^/:]+)$", self.get_model, False),
            ("GET", rf"^/{_VER}/batches$", self.list_batches, False),
            ("GET", rf"^/{_VER}/batches/{_ID}$", self.get_batch, False),
            ("DELETE", rf"^/{_VER}/batches/{_ID}$", self.delete_batch, False),
            # The docs' curl sample for cancel omits -X POST, so GET is accepted too.
            ("POST", rf"^/{_VER}/batches/{_ID}:cancel$", self.cancel_batch, False),
            ("GET", rf"^/{_VER}/batches/{_ID}:cancel$", self.cancel_batch, False),
            ("POST", create, self.create_batch, False),
            # Discovery document v1beta: batches.updateGenerateContentBatch / updateEmbedContentBatch
            # are PATCH {+name}:update...Batch with query updateMask.
            (
                "PATCH",
                rf"^/{_VER}/batches/{_ID}:(?P<verb>updateGenerateContentBatch|updateEmbedContentBatch)$",
                self.update_batch,
                False,
            ),
        ]

    def _visible(self, ctx: Ctx, owner: str | None) -> bool:
        """Mode ``per_key_visibility``: only the creating key sees a resource (a user's report)."""
        return not self.store.settings.has("per_key_visibility") or owner == ctx.caller

    def _shaped(self, ctx: Ctx, data: dict[str, Any]) -> Response:
        return parse.shaped(ctx, self.store.settings, data)

    # ---- files ----------------------------------------------------------------------------------

    async def list_files(self, ctx: Ctx, ver: str) -> Response:
        size = parse.page_size(ctx.request, parse.FILES_PAGE_DEFAULT, parse.FILES_PAGE_MAX)
        page, token = self.store.list_files(
            size, parse.page_token(ctx.request), lambda f: self._visible(ctx, f.owner)
        )
        now = self.store.clock.now()
        rendered = [f.render(base_url(ctx.request), ver, now) for f in page]
        return self._shaped(ctx, parse.listing("files", rendered, token))

    def _file(self, ctx: Ctx, id: str, request: str | None = None) -> FileRecord:
        """The file ``files/<id>`` as this caller may see it. ``request`` (``DeleteFileRequest``)
        applies the Files API's 40-character id limit (a get and a download do not)."""
        if request is not None and len(id) > MAX_FILE_ID:
            raise file_id_too_long(request)
        record = self.store.get_file(id)
        if not self._visible(ctx, record.owner):
            raise file_gone(id)
        return record

    async def get_file(self, ctx: Ctx, ver: str, id: str) -> Response:
        # Reading a batch output file by name works again (python-genai #1759 on google-genai
        # 1.53; #1613 had seen it refused); only the delete keeps the 40-character limit.
        record = self._file(ctx, id)
        return self._shaped(ctx, record.render(base_url(ctx.request), ver, self.store.clock.now()))

    async def delete_file(self, ctx: Ctx, ver: str, id: str) -> Response:
        self._file(ctx, id, "DeleteFileRequest")
        self.store.delete_file(id)
        return json_response({})

    async def download_file(self, ctx: Ctx, ver: str, id: str) -> Response:
        record = self._file(ctx, id)
        if record.source != "GENERATED":
            raise ApiError(
                400,
                f"File files/{id} was uploaded; only files generated by the service (batch results) "
                "can be downloaded.",
                status="FAILED_PRECONDITION",
            )

        async def blocks() -> AsyncIterator[bytes]:
            # Page-cache reads of 1 MiB are far faster than a thread hop per block.
            with open(record.path, "rb") as handle:  # noqa: ASYNC230
                while block := handle.read(DOWNLOAD_BLOCK):
                    yield block

        return StreamingResponse(
            blocks(),
            media_type=record.mime_type,
            headers={"Content-Length": str(record.size)},
        )

    # ---- models ---------------------------------------------------------------------------------

    async def list_models(self, ctx: Ctx, ver: str) -> Response:
        size = parse.page_size(ctx.request, parse.MODELS_PAGE_DEFAULT, parse.MODELS_PAGE_MAX)
        return self._shaped(ctx, model_catalogue.page(size, parse.page_token(ctx.request)))

    async def get_model(self, ctx: Ctx, ver: str, model: str) -> Response:
        return self._shaped(ctx, model_catalogue.get(model, ver))

    # ---- batches --------------------------------------------------------------------------------

    async def create_batch(self, ctx: Ctx, ver: str, coll: str, model: str, verb: str) -> Response:
        if coll == "models":
            model_catalogue.refuse_unless_batchable(model, verb, ver)
        body = await read_json(ctx, limit=MAX_INLINE_BODY_BYTES)
        request = parse.parse_create(body, verb)
        strict = self.store.settings.has("strict_request_fields")
        if request.requests is not None and strict:
            parse.refuse_unknown_fields(request.kind, [json.dumps(item) for item in request.requests])
        record = self.store.create_batch(
            kind=request.kind,
            model=f"{coll}/{model}",
            display_name=request.display_name,
            priority=request.priority,
            inline=request.requests,
            input_file=request.file_name,
            owner=ctx.caller,
        )
        if record.input_path is not None:
            if self.store.settings.has("strict_request_fields"):
                lines = await asyncio.to_thread(parse.read_lines, record.input_path)
                try:
                    parse.refuse_unknown_fields(request.kind, lines)
                except ApiError:
                    remove_quietly(record.input_path)
                    raise
            await self.store.count_file_requests(record)
            try:
                # Other creates ran while the file was counted: the limit is checked again, so
                # concurrent creates never put more than the limit in flight.
                self.store.refuse_over_limit()
            except ApiError:
                remove_quietly(record.input_path)
                raise
        record.webhook_config = request.webhook
        self.store.register_batch(record)
        # The answer describes the batch as created (PENDING, cookbook cell 44 output), even when
        # counting a large input file took longer than the PENDING window of a fast test batch.
        return json_response(record.render(record.create_time))

    def _batch(self, ctx: Ctx, id: str) -> BatchRecord:
        record = self.store.get_batch(id)
        if not self._visible(ctx, record.owner):
            raise not_found(f"batches/{id}")
        return record

    async def get_batch(self, ctx: Ctx, ver: str, id: str) -> Response:
        record = self._batch(ctx, id)
        ready = await self.store.ensure_results(record)
        return self._shaped(ctx, record.render(self.store.clock.now(), finishing=not ready))

    async def list_batches(self, ctx: Ctx, ver: str) -> Response:
        size = parse.page_size(ctx.request, parse.BATCHES_PAGE_DEFAULT, parse.BATCHES_PAGE_MAX)
        # Without per_key_visibility every batch is visible: no per-batch check (10,000 per page).
        visible = (
            (lambda b: self._visible(ctx, b.owner)) if self.store.settings.has("per_key_visibility") else None
        )
        page, token = self.store.list_batches(size, parse.page_token(ctx.request), visible)
        ready = [await self.store.ensure_results(record) for record in page]
        now = self.store.clock.now()
        rendered = [r.render(now, finishing=not ok) for r, ok in zip(page, ready, strict=True)]
        return self._shaped(ctx, parse.listing("operations", rendered, token))

    async def update_batch(self, ctx: Ctx, ver: str, id: str, verb: str) -> Response:
        """``PATCH batches/{id}:updateGenerateContentBatch?updateMask=priority`` (or the embed one).

        The answer is the bare batch resource, not an Operation (discovery document).
        """
        record = self._batch(ctx, id)
        parse.check_update_kind(id, parse.update_kind(verb), record.kind)
        body = await read_json(ctx)
        priority = parse.parse_update(ctx.request.query_params.get("updateMask", ""), body)
        record = self.store.update_priority(id, priority)
        return json_response(record.render_bare(self.store.clock.now()))

    async def cancel_batch(self, ctx: Ctx, ver: str, id: str) -> Response:
        self._batch(ctx, id)
        self.store.cancel_batch(id)
        return json_response({})

    async def delete_batch(self, ctx: Ctx, ver: str, id: str) -> Response:
        self._batch(ctx, id)
        self.store.delete_batch(id)
        return json_response({})
