"""Build every API request as data (sans-I/O): method, path, query, headers and JSON body.

The sync and the async hook only add authentication headers and send what these functions
return. Paths are relative to the connection's base URL and start with ``/{api_version}/``
(``/upload/{api_version}/`` for uploads); upload-session requests carry the absolute session URL
the server returned and no credentials (the session URL authorises itself, and the key must not
travel to whatever host that URL names).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_provider_gemini_batch._core import names
from airflow_provider_gemini_batch._core.jsonl import inline_request_items
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

#: The whole create request must stay under 20 MB (service limit); measured on the bytes we send.
MAX_INLINE_REQUEST_BYTES = 20 * 1000 * 1000
#: Largest input file the Files API accepts, in bytes (2 GiB, the discovery document's maxSize).
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
#: Page size used when iterating lists (the Files API maximum).
LIST_PAGE_SIZE = 100


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request to make.

    :param path: ``/v1beta/...`` relative to the base URL, or an absolute upload-session URL.
    :param resource: the resource the call is about, for error messages.
    :param idempotent: False for calls that must not be repeated blindly (batch creation).
    :param authenticated: False for upload-session requests (self-authorising URL).
    :param body: bytes to send as is (upload chunks); exclusive with ``json``.
    """

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    resource: str | None = None
    idempotent: bool = True
    authenticated: bool = True
    what: str = "Request"

    def url(self, base_url: str) -> str:
        """The absolute URL (the base URL may carry a path prefix)."""
        if self.path.startswith(("http://", "https://")):
            return self.path
        return base_url.rstrip("/") + self.path

    def content(self) -> bytes | None:
        """The serialized JSON body (compact UTF-8), or None for a body-less request."""
        if self.json is None:
            return None
        return serialize(self.json)


def serialize(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the exact bytes sent (also what the 20 MB limit is measured on)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_JSON = {"Content-Type": "application/json"}


def _id_path(name: str) -> str:
    # Names were validated already; quoting is belt and braces against path injection.
    prefix, _, ident = name.partition("/")
    return f"{prefix}/{quote(ident, safe='-_')}"


# -- batches ------------------------------------------------------------------------------------


#: The ``fields`` partial-response mask of a light poll: what a wait needs and nothing more.
#: ``fields`` is a standard system parameter of the API (discovery document). Inline
#: results are selected down to their ``metadata`` (the key), so their presence is still seen
#: while their bodies are not sent: a full GET of a huge inline image batch has answered 503 on
#: every read (discuss.ai.google.dev thread 113603 "Persistent 503 Errors on Gemini Batch API GET
#: Endpoint"; docs/real-service/wire-format.md, Heavy reads).
_OUTPUT_MASK = "responsesFile,inlinedResponses/inlinedResponses/metadata"
POLL_FIELDS = (
    "name,done,error,"
    "metadata(name,state,model,displayName,batchStats,createTime,updateTime,endTime,"
    f"output({_OUTPUT_MASK})),"
    f"response({_OUTPUT_MASK})"
)


def get_batch(api_version: str, name: str, *, fields: str | None = None) -> ApiRequest:
    """``GET batches/{id}``; ``fields`` (e.g. :data:`POLL_FIELDS`) asks for a partial response."""
    name = names.normalize_batch_name(name)
    params = {"fields": fields} if fields else {}
    return ApiRequest(
        "GET", f"/{api_version}/{_id_path(name)}", params=params, resource=name, what=f"Getting {name}"
    )


#: ``fields`` mask of a light ``batches.list``: each operation as a poll sees it (no inline
#: response bodies). A list holding a huge inline batch is as large as that batch's full GET,
#: which the service has answered 503 (discuss.ai.google.dev thread 113603).
LIST_FIELDS = f"nextPageToken,operations({POLL_FIELDS})"


def list_batches(
    api_version: str,
    page_token: str | None = None,
    page_size: int = LIST_PAGE_SIZE,
    fields: str | None = None,
) -> ApiRequest:
    """``GET batches``; ``fields`` (e.g. :data:`LIST_FIELDS`) asks for a partial response."""
    params = {"pageSize": str(page_size)}
    if page_token:
        params["pageToken"] = page_token
    if fields:
        params["fields"] = fields
    return ApiRequest(
        "GET", f"/{api_version}/batches", params=params, resource="batches", what="Listing batches"
    )


def cancel_batch(api_version: str, name: str) -> ApiRequest:
    name = names.normalize_batch_name(name)
    # Cancelling twice is harmless, so it is retried like a read.
    return ApiRequest(
        "POST",
        f"/{api_version}/{_id_path(name)}:cancel",
        headers=_JSON,
        resource=name,
        what=f"Cancelling {name}",
    )


def delete_batch(api_version: str, name: str) -> ApiRequest:
    name = names.normalize_batch_name(name)
    return ApiRequest("DELETE", f"/{api_version}/{_id_path(name)}", resource=name, what=f"Deleting {name}")


def create_batch(
    api_version: str,
    model: str,
    *,
    requests: Sequence[Mapping[str, Any]] | None = None,
    input_file: str | None = None,
    display_name: str | None = None,
    priority: int | None = None,
    embeddings: bool = False,
    webhook_config: Mapping[str, Any] | None = None,
) -> ApiRequest:
    """``POST models/{model}:batchGenerateContent`` (or ``:asyncBatchEmbedContent``).

    :param requests: inline requests, each ``{"key": str, "request": {...}}``, ``{"request": {...},
        "metadata": {...}}`` or a bare request dict.
    :param input_file: a ``files/...`` name of an uploaded JSONL file.
    :param embeddings: an embedding batch; inline requests are then checked as EmbedContentRequest.
    :param priority: higher runs first (int64, sent as a JSON string; default 0 on the service).
    :param webhook_config: ``{"uris": [...], "user_metadata"|"userMetadata": {...}}``, sent as
        ``webhookConfig`` (see :func:`webhook_config_body`).
    :raises GeminiInvalidInputError: bad model name, both/neither of requests and input_file, bad
        inline items (see :func:`~airflow_provider_gemini_batch._core.jsonl.inline_request_items`),
        or an inline body of 20 MB or more.
    """
    model_name = names.normalize_model(model)
    if (requests is None) == (input_file is None):
        raise GeminiInvalidInputError(
            "Pass exactly one of requests (inline list) and input_file (an uploaded 'files/...' name)."
        )
    batch: dict[str, Any] = {}
    if display_name is not None:
        batch["displayName"] = str(display_name)
    if input_file is not None:
        batch["inputConfig"] = {"fileName": names.normalize_file_name(input_file)}
    else:
        assert requests is not None
        batch["inputConfig"] = {
            "requests": {"requests": inline_request_items(requests, embeddings=embeddings)}
        }
    if priority is not None:
        batch["priority"] = priority_value(priority)
    if webhook_config is not None:
        batch["webhookConfig"] = webhook_config_body(webhook_config)
    body = {"batch": batch}
    if requests is not None:
        size = len(serialize(body))
        if size >= MAX_INLINE_REQUEST_BYTES:
            raise GeminiInvalidInputError(
                f"The inline requests make a {size / 1e6:.1f} MB create request; the API accepts less than "
                f"{MAX_INLINE_REQUEST_BYTES // 1_000_000} MB inline. Write the requests to a JSONL file, "
                "upload it and pass input_file instead."
            )
    verb = "asyncBatchEmbedContent" if embeddings else "batchGenerateContent"
    return ApiRequest(
        "POST",
        f"/{api_version}/{model_name}:{verb}",
        headers=_JSON,
        json=body,
        resource=model_name,
        idempotent=False,
        what=f"Creating a batch on {model_name}",
    )


#: int64 bounds of ``priority`` (proto int64; JSON carries it as a decimal string).
_INT64 = (-(2**63), 2**63 - 1)


def priority_value(priority: Any) -> str:
    """``priority`` as the wire carries it: an int64 as a decimal string (proto3 JSON mapping;
    REST reference ``GenerateContentBatch.priority``: "string (int64 format)", higher runs first,
    negatives allowed, default 0 — REST reference ``GenerateContentBatch.priority``).

    :raises GeminiInvalidInputError: not an integer, or outside int64.
    """
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise GeminiInvalidInputError(f"priority must be an integer, got {priority!r}.")
    if not _INT64[0] <= priority <= _INT64[1]:
        raise GeminiInvalidInputError(f"priority must fit in int64, got {priority}.")
    return str(priority)


def webhook_config_body(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``webhookConfig`` object of a create body: ``{"uris": [...], "userMetadata": {...}}``.

    The REST field names are lowerCamelCase (``GenerateContentBatch.webhookConfig`` with ``uris``
    and ``userMetadata``: REST reference ai.google.dev/api/batch-api). google-genai 3.x
    sends ``user_metadata`` in snake_case (its ``batches.py``); the service's JSON parser accepts both
    spellings, and we send the REST one. Both spellings are accepted here.

    :raises GeminiInvalidInputError: not a mapping, unknown fields, ``uris`` not a non-empty list
        of http(s) URLs, or ``user_metadata`` not a mapping.
    """
    if not isinstance(config, Mapping):
        raise GeminiInvalidInputError(
            f"webhook_config must be a mapping like {{'uris': ['https://...'], 'user_metadata': {{...}}}}, "
            f"got {type(config).__name__}."
        )
    unknown = set(config) - {"uris", "user_metadata", "userMetadata"}
    if unknown:
        raise GeminiInvalidInputError(
            f"webhook_config has unknown fields {sorted(unknown)}; it takes 'uris' and 'user_metadata'."
        )
    uris = config.get("uris")
    if (
        not isinstance(uris, (list, tuple))
        or not uris
        or not all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in uris)
    ):
        raise GeminiInvalidInputError(
            f"webhook_config['uris'] must be a non-empty list of http(s) URLs, got {uris!r}."
        )
    body: dict[str, Any] = {"uris": list(uris)}
    metadata = config.get("user_metadata", config.get("userMetadata"))
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise GeminiInvalidInputError(
                f"webhook_config['user_metadata'] must be a mapping, got {type(metadata).__name__}."
            )
        body["userMetadata"] = dict(metadata)
    return body


def update_batch_priority(
    api_version: str, name: str, priority: int, *, embeddings: bool = False
) -> ApiRequest:
    """``PATCH batches/{id}:updateGenerateContentBatch?updateMask=priority`` (or
    ``:updateEmbedContentBatch``) with body ``{"priority": "<int64>"}``.

    The method, path, ``updateMask`` query and the bare ``GenerateContentBatch`` answer (not an
    Operation) are those of the discovery document ``generativelanguage v1beta``
    (``batches.updateGenerateContentBatch`` / ``batches.updateEmbedContentBatch``;
    docs/real-service/wire-format.md, Changing a batch's priority).
    Setting a value twice is harmless, so it is retried like a read.

    :raises GeminiInvalidInputError: bad name or priority.
    """
    name = names.normalize_batch_name(name)
    verb = "updateEmbedContentBatch" if embeddings else "updateGenerateContentBatch"
    return ApiRequest(
        "PATCH",
        f"/{api_version}/{_id_path(name)}:{verb}",
        params={"updateMask": "priority"},
        headers=_JSON,
        json={"priority": priority_value(priority)},
        resource=name,
        what=f"Updating the priority of {name}",
    )


# -- files --------------------------------------------------------------------------------------


def get_file(api_version: str, name: str) -> ApiRequest:
    name = names.normalize_file_name(name)
    return ApiRequest("GET", f"/{api_version}/{_id_path(name)}", resource=name, what=f"Getting {name}")


def list_files(
    api_version: str, page_token: str | None = None, page_size: int = LIST_PAGE_SIZE
) -> ApiRequest:
    params = {"pageSize": str(min(page_size, LIST_PAGE_SIZE))}
    if page_token:
        params["pageToken"] = page_token
    return ApiRequest("GET", f"/{api_version}/files", params=params, resource="files", what="Listing files")


def delete_file(api_version: str, name: str) -> ApiRequest:
    name = names.normalize_file_name(name)
    return ApiRequest("DELETE", f"/{api_version}/{_id_path(name)}", resource=name, what=f"Deleting {name}")


def download_file(api_version: str, name: str) -> ApiRequest:
    """``GET /{ver}/files/{id}:download?alt=media`` (the path the Python SDK uses)."""
    name = names.normalize_file_name(name)
    return ApiRequest(
        "GET",
        f"/{api_version}/{_id_path(name)}:download",
        params={"alt": "media"},
        resource=name,
        what=f"Downloading {name}",
    )


def check_upload_size(size: int) -> None:
    """:raises GeminiInvalidInputError: if ``size`` (bytes) exceeds the 2 GiB Files API limit."""
    if size > MAX_UPLOAD_BYTES:
        raise GeminiInvalidInputError(
            f"The file is {size} bytes; the Files API accepts at most {MAX_UPLOAD_BYTES} bytes (2 GB). "
            "Split the input into several files and batches."
        )


def upload_start(
    api_version: str,
    *,
    size: int,
    mime_type: str,
    display_name: str | None = None,
    file_name: str | None = None,
) -> ApiRequest:
    """Open a resumable upload session for ``size`` bytes.

    :raises GeminiInvalidInputError: if ``size`` exceeds 2 GiB.
    """
    check_upload_size(size)
    headers = {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime_type,
        "Content-Type": "application/json",
    }
    if file_name:
        # HTTP header values must be latin-1; percent-encode anything else.
        headers["X-Goog-Upload-File-Name"] = quote(file_name, safe=" ._-()")
    file_obj: dict[str, Any] = {"mimeType": mime_type, "sizeBytes": size}
    if display_name is not None:
        file_obj["displayName"] = display_name
    # Opening a session creates nothing lasting, so retrying it is safe.
    return ApiRequest(
        "POST",
        f"/upload/{api_version}/files",
        headers=headers,
        json={"file": file_obj},
        resource=file_name or "upload",
        what="Starting an upload",
    )


def upload_chunk(session_url: str, *, offset: int, length: int, final: bool) -> ApiRequest:
    """Headers for one chunk of ``length`` bytes at ``offset`` (the body is sent by the hook)."""
    return ApiRequest(
        "POST",
        session_url,
        headers={
            "X-Goog-Upload-Command": "upload, finalize" if final else "upload",
            "X-Goog-Upload-Offset": str(offset),
            "Content-Length": str(length),
        },
        resource="upload session",
        authenticated=False,
        what=f"Uploading bytes {offset}-{offset + length}",
    )


def upload_cancel(session_url: str) -> ApiRequest:
    """Abandon an upload session before it is finalized, so no file is created.

    ``X-Goog-Upload-Command: cancel`` on the session URL (docs/real-service/wire-format.md, Resumable
    upload); the same command of
    Google's resumable ("X-Goog-Upload") protocol is sent by firebase/firebase-android-sdk
    ``ResumableUploadCancelRequest.java`` (POST, ``X-Goog-Upload-Protocol: resumable``), and the
    JS SDK knows the session status ``cancelled`` it leads to.
    """
    return ApiRequest(
        "POST",
        session_url,
        headers={
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "cancel",
            "Content-Length": "0",
        },
        resource="upload session",
        authenticated=False,
        what="Cancelling the upload session",
    )


def upload_query(session_url: str) -> ApiRequest:
    """Ask the session how many bytes it holds (``X-Goog-Upload-Size-Received``)."""
    return ApiRequest(
        "POST",
        session_url,
        headers={"X-Goog-Upload-Command": "query", "Content-Length": "0"},
        resource="upload session",
        authenticated=False,
        what="Querying the upload offset",
    )
