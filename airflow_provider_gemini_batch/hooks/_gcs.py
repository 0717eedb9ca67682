"""Cloud Storage I/O for the Vertex backend, over the Cloud Storage JSON API with ``requests``.

Three calls, each with the bounds of the hook's transport (the connection's timeout on every
exchange, no redirects followed, bounded answers, the one retry policy):

- :meth:`CloudStorage.upload`: a resumable upload read from the file a chunk at a time (memory:
  one chunk), resumed from the byte the server persisted after a failure (the protocol is
  ``_core/gcs_upload_flow.py``, a state machine with no I/O, driven by ``hooks/_flow_driver.py``);
- :meth:`CloudStorage.list_objects`: the objects under a prefix, page by page;
- :meth:`CloudStorage.iter_object`: an object's bytes as they arrive (resumed with ``Range``).

Wire facts (Cloud Storage JSON API reference, https://cloud.google.com/storage/docs/json_api and
https://cloud.google.com/storage/docs/performing-resumable-uploads): a session starts with
``POST /upload/storage/v1/b/{bucket}/o?uploadType=resumable&name={object}`` (headers
``X-Upload-Content-Type`` and ``X-Upload-Content-Length``) and its URL comes back in ``Location``;
chunks are ``PUT`` to that URL with ``Content-Range: bytes {first}-{last}/{total}`` and are
multiples of 256 KiB except the last; an incomplete upload answers ``308`` with ``Range:
bytes=0-{last persisted}`` (no ``Range``: nothing persisted), the last chunk ``200``/``201`` with
the object's metadata; ``PUT`` with ``Content-Range: bytes */{total}`` and no body asks how far it
got. Listing is ``GET /storage/v1/b/{bucket}/o?prefix=`` (``items``, ``nextPageToken``);
media is ``GET /storage/v1/b/{bucket}/o/{object}?alt=media``. The session URL authorises itself
("the session URI acts as an authentication token", same page), so chunks carry no bearer token,
and it is used only on the storage host's own origin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from airflow_provider_gemini_batch._core import gcs_upload_flow as gf
from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core.errors import transport_error
from airflow_provider_gemini_batch._core.routes import ApiRequest
from airflow_provider_gemini_batch._core.upload_flow import Reply, Send
from airflow_provider_gemini_batch._core.vertex import split_gs_uri
from airflow_provider_gemini_batch._core.wire_guard import MAX_ERROR_BODY_BYTES
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiInvalidInputError
from airflow_provider_gemini_batch.hooks._flow_driver import run_flow
from airflow_provider_gemini_batch.hooks._sync_reads import read_answer

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

#: Largest answer to one upload-session request (object metadata), in bytes.
_MAX_SESSION_ANSWER = 1024 * 1024
#: Pages one listing reads at most (1,000 objects a page on the real service).
MAX_LIST_PAGES = 10_000


class CloudStorage:
    """Cloud Storage through the JSON API with the hook's session, credentials and bounds.

    :param hook: the sync hook whose transport, retry policy and credentials are used.
    :param storage_url: the API root (``https://storage.googleapis.com`` or an emulator).
    :param anonymous: send no credentials (an emulator named by ``STORAGE_EMULATOR_HOST``).
    """

    def __init__(self, hook: GeminiBatchHook, storage_url: str, *, anonymous: bool = False) -> None:
        self._hook = hook
        self.storage_url = storage_url.rstrip("/")
        #: Send no bearer token (a host named by STORAGE_EMULATOR_HOST, see ``VertexSettings``).
        self.anonymous = anonymous

    # -- listing and reading ---------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str) -> Iterator[Mapping[str, Any]]:
        """Every object whose name starts with ``prefix``, in the service's (lexicographic) order.

        :raises GeminiApiError: a page is not a listing, or the listing never ends.
        """
        token: str | None = None
        for _ in range(MAX_LIST_PAGES):
            params = {"prefix": prefix}
            if token:
                params["pageToken"] = token
            req = ApiRequest(
                "GET",
                f"{self.storage_url}/storage/v1/b/{quote(bucket, safe='')}/o",
                params=params,
                resource=f"gs://{bucket}/{prefix}",
                what=f"Listing gs://{bucket}/{prefix}",
                authenticated=not self.anonymous,
            )
            page = self._hook._json(req)
            for item in page.get("items") or ():
                if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                    yield item
            token = page.get("nextPageToken") or None
            if not token:
                return
        raise GeminiApiError(
            http_status=200,
            status=None,
            message=f"the listing of gs://{bucket}/{prefix} did not end after {MAX_LIST_PAGES} pages",
            resource=f"gs://{bucket}/{prefix}",
            method="Listing objects",
        )

    def iter_object(self, bucket: str, name: str) -> Iterator[bytes]:
        """The bytes of ``gs://bucket/name`` as they arrive (a cut connection is resumed)."""
        req = ApiRequest(
            "GET",
            f"{self.storage_url}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}",
            params={"alt": "media"},
            resource=f"gs://{bucket}/{name}",
            what=f"Downloading gs://{bucket}/{name}",
            authenticated=not self.anonymous,
        )
        return self._hook._stream_body(req)

    # -- upload ----------------------------------------------------------------------------------

    def upload(
        self, path: str | os.PathLike[str], uri: str, *, content_type: str = "application/jsonl"
    ) -> int:
        """Upload the file ``path`` (local, ``file://`` or an object-storage URI) to ``uri``
        (``gs://bucket/object``) with a resumable upload, one chunk in memory at a time; return
        the bytes stored.

        The protocol is decided by :class:`~airflow_provider_gemini_batch._core.gcs_upload_flow.
        GcsResumableUpload`; this method sends what it asks with the shared driver
        (``hooks/_flow_driver.py``: one retry loop whose budget every kept chunk renews).

        :raises GeminiInvalidInputError: ``uri`` is not a ``gs://bucket/object``.
        :raises GeminiApiError: the service refused the upload, or stored another size.
        :raises GeminiTransportError: the upload could not be completed within the retry policy.
        """
        bucket, name = split_gs_uri(uri, what="upload target")
        if not name or name.endswith("/"):
            raise GeminiInvalidInputError(f"The upload target {uri!r} names no object.")
        from airflow_provider_gemini_batch.storage import resolve_path

        source_path = resolve_path(path)
        size = int(source_path.stat().st_size)
        upload = gf.GcsResumableUpload(
            self._start(bucket, name, size, content_type),
            size=size,
            chunk_size=gf.chunk_size_for(self._hook.upload_chunk_size),
            resource=uri,
            source=os.fspath(path),
        )
        with source_path.open("rb") as source:

            def send(step: Send) -> Reply:
                data = b""
                if step.chunk is not None:
                    source.seek(step.chunk.offset)
                    data = source.read(step.chunk.length)
                return self._put(step.request, data)

            run_flow(self._hook, upload.flow(), send, what=f"Uploading to {uri}")
        return size

    def _start(self, bucket: str, name: str, size: int, content_type: str) -> str:
        req = ApiRequest(
            "POST",
            f"{self.storage_url}/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            params={"uploadType": "resumable", "name": name},
            headers={
                "Content-Type": "application/json; charset=UTF-8",
                "X-Upload-Content-Type": content_type,
                "X-Upload-Content-Length": str(size),
            },
            json={"name": name, "contentType": content_type},
            resource=f"gs://{bucket}/{name}",
            what=f"Starting the upload to gs://{bucket}/{name}",
            authenticated=not self.anonymous,
        )
        # Starting a session twice only leaves an unused session behind: safe to retry.
        response = self._hook._request(req)
        response.close()
        return gf.session_url_from_location(
            Reply(response.status_code, response.headers), req, self.storage_url
        )

    def _put(self, req: ApiRequest, data: bytes) -> Reply:
        """One ``PUT`` of ``req`` (a session step) with body ``data``: its answer when ``200``,
        ``201`` or ``308``.

        :raises GeminiApiError: any other status (typed by the shared error mapping).
        :raises GeminiTransportError: the exchange failed or outlived the connection's timeout.
        """
        hook = self._hook
        settings = hook.settings
        try:
            response = hook.session.put(
                req.path,
                data=data,
                headers=dict(req.headers),
                timeout=settings.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            raise transport_error(
                exc,
                resource=req.resource,
                method=req.what,
                sent=not isinstance(exc, requests.exceptions.ConnectTimeout),
                timed_out=isinstance(exc, requests.exceptions.Timeout),
                secrets=hook._secrets(),
                connection=hook.gemini_conn_id,
                base_url=self.storage_url,
            ) from None
        # The chunk's own bytes may take long on a slow link: the answer's deadline counts from here.
        started = retry_mod.monotonic()
        with response:
            status = response.status_code
            limit = _MAX_SESSION_ANSWER if status in (200, 201) else MAX_ERROR_BODY_BYTES
            content = read_answer(
                response,
                req,
                started=started,
                timeout=settings.timeout,
                limit=limit,
                conn_id=hook.gemini_conn_id,
                secrets=hook._secrets(),
            )
        if status in (200, 201, 308):
            return Reply(status, response.headers, content)
        raise hook._status_error(req, status, content, response.headers, response.reason, hook._secrets())


def is_predictions_file(relative: str) -> bool:
    """Whether an object directly under a job's output directory holds prediction lines.

    Gemini jobs write ``predictions.jsonl`` (Vertex "Retrieve batch output" pages); sharded
    outputs are ``predictions_00001.jsonl`` and so on (accepted too). Sub-folders (such as
    incremental exports) are not read, so a row is never landed twice.
    """
    return "/" not in relative and relative.startswith("predictions") and relative.endswith(".jsonl")
