"""Upload a JSONL input once per task instance and content: :class:`GeminiUploadFileOperator`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core.identity import TaskIdentity
from airflow_provider_gemini_batch._core.urls import public_url
from airflow_provider_gemini_batch.operators._common import (
    DEFAULT_CONN_ID,
    DEFAULT_REATTACH_SCAN_LIMIT,
    FileUploader,
    GeminiOperatorBase,
    TaskLog,
)
from airflow_provider_gemini_batch.operators._idempotency import find_reusable_file, upload_display_name
from airflow_provider_gemini_batch.operators._input import check_input_size, validate_and_hash, validate_jsonl
from airflow_provider_gemini_batch.operators._input import content_sha256 as content_sha256_of

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def upload_idempotent(
    hook: FileUploader,
    *,
    path: str,
    identity: TaskIdentity,
    display_name: str | None,
    mime_type: str,
    validate: bool,
    scan_limit: int,
    log: TaskLog,
    content_sha256: str | None = None,
    embeddings: bool | None = None,
) -> str:
    """Validate, then upload ``path`` once per task instance and content; returns ``files/...``.

    ``content_sha256`` is the file's hex sha256 when the caller already computed it, so a large
    input is not read once more just to hash it.

    Reads of the file: validation and the content hash share one read (the reuse lookup needs the
    hash before anything is uploaded, to find a file an earlier try uploaded), the upload is the
    second (it hashes the bytes it sends from memory for the integrity check, not from the file).
    A reused file costs one read; ``validate=False`` with a known ``content_sha256`` costs only
    the upload's read.

    :raises GeminiInputFileError: the file is missing, over 2 GB, or invalid JSONL (nothing is
        uploaded; the size is checked before a single byte is read).
    """
    check_input_size(path)
    if validate and content_sha256 is None:
        content_sha = validate_and_hash(path, embeddings=embeddings, log=log)
    else:
        if validate:
            validate_jsonl(path, embeddings=embeddings, log=log)
        content_sha = content_sha256 or content_sha256_of(path)
    existing = find_reusable_file(hook, identity, content_sha, limit=scan_limit, log=log)
    if existing is not None:
        log.info("Reusing %s, uploaded earlier by this task instance with identical content.", existing.name)
        return existing.name
    info = hook.upload_file(
        path,
        display_name=upload_display_name(display_name, identity, content_sha),
        mime_type=mime_type,
        validate=False,  # validated above when asked; validate=False must mean not at all
    )
    log.info("Uploaded %s as %s (%d bytes).", public_url(str(path)), info.name, info.size_bytes)
    return str(info.name)


class GeminiUploadFileOperator(GeminiOperatorBase):
    """Upload a JSONL input file for a batch; returns its name (``files/...``).

    Re-running the task for unchanged content reuses the file uploaded before (the display name
    carries a tag of the task instance and the content's sha256), so retries leave no orphans.

    :param path: the JSONL file (templated): a local path, a ``file://`` URI or an object-storage
        URI (``gs://``, ``s3://`` ..., any scheme with a registered Airflow ObjectStoragePath
        filesystem), exactly what the hook's ``upload_file`` accepts.
    :param display_name: display name of the file (templated); the identity marker is appended.
    :param mime_type: declared MIME type. Default ``application/jsonl``.
    :param validate: validate the JSONL line by line before uploading (every line an object with a
        ``request`` object whose fields are those of the request type, keys unique). Default True.
    :param embeddings: the file is for an embedding batch (True: EmbedContentRequest lines) or a
        generateContent batch (False); None (default): the first line's request decides.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :param reattach_scan_limit: existing files scanned for a reusable upload. Default 500.
    :raises GeminiInputFileError: invalid JSONL (file and line number in the message).
    """

    template_fields: Sequence[str] = ("path", "display_name", "mime_type")
    # Empty on purpose: a path ending in .jsonl must stay a path, not be read as a template file.
    template_ext: Sequence[str] = ()
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        path: str,
        display_name: str | None = None,
        mime_type: str = "application/jsonl",
        validate: bool = True,
        embeddings: bool | None = None,
        gemini_conn_id: str = DEFAULT_CONN_ID,
        reattach_scan_limit: int = DEFAULT_REATTACH_SCAN_LIMIT,
        **kwargs: Any,
    ) -> None:
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.path = path
        self.display_name = display_name
        self.mime_type = mime_type
        self.validate = validate
        self.embeddings = embeddings
        self.reattach_scan_limit = reattach_scan_limit

    def execute(self, context: Context) -> str:
        return upload_idempotent(
            self.hook,
            path=str(self.path),
            identity=TaskIdentity.from_context(context),
            display_name=self.display_name,
            mime_type=self.mime_type,
            validate=self.validate,
            scan_limit=self.reattach_scan_limit,
            log=self.log,
            embeddings=self.embeddings,
        )

    # -- OpenLineage (called by apache-airflow-providers-openlineage when installed) --------------

    def get_openlineage_facets_on_start(self) -> Any:
        """Lineage known before the upload: the input file (``path``) as input."""
        from airflow_provider_gemini_batch.operators import _lineage

        return _lineage.operator_lineage([_lineage.path_dataset(self.path)], [])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The input file as input and the uploaded ``files/…`` (found by this task's marker) as output."""
        from airflow_provider_gemini_batch.operators import _lineage

        uploaded = _lineage.created_by_task(self, task_instance, "files")
        return _lineage.operator_lineage(
            [_lineage.path_dataset(self.path)],
            [_lineage.gemini_dataset(_lineage.base_url_of(self), uploaded)],
        )
