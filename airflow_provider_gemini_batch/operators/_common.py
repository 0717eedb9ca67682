"""What every Gemini operator and the sensor share: defaults, the hook seams, the base operator.

The free functions of the operators package take a hook through the small protocols below, not
``Any``: each names only the calls it makes, so the sync :class:`GeminiBatchHook` satisfies them
all and a reader sees at once what a helper may do (read, cancel, list, upload). They log through
:class:`TaskLog`, which both a stdlib logger and Airflow's task logger satisfy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_provider_gemini_batch._core.models import Batch, FileInfo
    from airflow_provider_gemini_batch._core.settings import ConnectionSettings
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

DEFAULT_CONN_ID = "gemini_batch_default"
#: XCom key under which create and sensor tasks record the connection id beside the batch name:
#: a batch is visible only to the key/project that created it, so downstream tasks must use the
#: same connection (a 404 otherwise).
CONN_ID_XCOM_KEY = "gemini_conn_id"
#: How many existing files/batches a reattach lookup scans at most.
DEFAULT_REATTACH_SCAN_LIMIT = 500


# -- seams: the task's log and the hook (each protocol names the calls a helper makes) ------------


class TaskLog(Protocol):
    """Where helpers log: a stdlib :class:`logging.Logger` or Airflow's task logger (``self.log``),
    both called with %-style arguments."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


class BatchReader(Protocol):
    """Reads one batch (``GeminiBatchHook.get_batch``)."""

    def get_batch(self, name: str, *, light: bool = False) -> Batch: ...


class BatchCanceller(BatchReader, Protocol):
    """Reads and cancels one batch (what a wait and its cancel-and-settle need)."""

    def cancel_batch(self, name: str) -> None: ...


class BatchLister(Protocol):
    """Lists the project's batches, newest first on the real service (reattach lookup)."""

    def list_batches(self, *, light: bool = False) -> Iterable[Batch]: ...


class FileLister(Protocol):
    """Lists the project's files (reusable-upload lookup)."""

    def list_files(self) -> Iterable[FileInfo]: ...


class FileUploader(FileLister, Protocol):
    """Lists and uploads files (the idempotent upload names the display name, MIME type and
    whether the hook validates again)."""

    def upload_file(
        self, path: Any, *, display_name: str | None, mime_type: str, validate: bool
    ) -> FileInfo: ...


class ConfiguredHook(Protocol):
    """Carries the parsed connection (for the link's API root)."""

    @property
    def settings(self) -> ConnectionSettings: ...


class KillableWait(Protocol):
    """A task that can cancel the batch it waits for when killed (operator or sensor)."""

    @property
    def hook(self) -> BatchCanceller: ...

    @property
    def log(self) -> TaskLog: ...


# -- small shared helpers ------------------------------------------------------------------------


def as_seconds(value: timedelta | float) -> float:
    """Seconds of a ``timedelta`` or of a number of seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def require_batch_name(value: Any, *, task_id: str, upstream: Iterable[str], what: str) -> str:
    """The batch name a reading task was given, or a plain failure saying there is no batch.

    An upstream create that failed (or never ran) leaves no XCom: a ``create.output`` argument then
    resolves to ``None`` and a Jinja ``xcom_pull`` renders ``"None"``. Reading that "batch" would
    fail with an invalid-name error that hides the cause.

    :param value: the rendered ``batch_name``.
    :param task_id: the reading task, for the message.
    :param upstream: its upstream task ids, named in the message.
    :param what: what the task would have done (``"read results from"``, ``"wait for"``).
    :raises GeminiNoBatchError: ``value`` is None, empty or ``"None"`` (no retries: none would help).
    """
    from airflow_provider_gemini_batch.exceptions import GeminiNoBatchError

    text = "" if value is None else str(value).strip()
    if text and text != "None":
        return text
    before = ", ".join(sorted(upstream)) or "none"
    raise GeminiNoBatchError(
        f"No batch to {what}: {task_id}'s batch_name is empty ({value!r}) because the task "
        f"that creates the batch did not run or failed before creating one (upstream tasks: "
        f"{before}). Fix that failure and clear the run; this task fails without retries."
    )


def make_hook(conn_id: str) -> GeminiBatchHook:
    """The sync hook for ``conn_id`` (imported here, on the worker, not at DAG parse time):
    the Vertex AI hook when the connection's extra ``backend`` is ``"vertex"`` (one connection read)."""
    from airflow_provider_gemini_batch.hooks.vertex import hook_for

    return hook_for(conn_id)


def api_root_of(hook: ConfiguredHook) -> str | None:
    """The connection's versioned API root for links (``<base url>/<api_version>``); never the key.

    The version is the connection's ``api_version`` extra (default ``v1beta``), so the link
    names the same REST resource the hook talks to.
    """
    settings = getattr(hook, "settings", None)
    base_url = getattr(settings, "base_url", None)
    if base_url is None:
        return None
    version = getattr(settings, "api_version", None)
    if getattr(settings, "is_vertex", False):
        from airflow_provider_gemini_batch._core.vertex import VERTEX_API_VERSION

        version = VERTEX_API_VERSION
    return f"{base_url.rstrip('/')}/{version}" if version else base_url


def serialized_fields_with_conn_id(fields: frozenset[str]) -> frozenset[str]:
    """``fields`` plus ``gemini_conn_id``: the serialized DAG then records each task's connection.

    The batch page on the API server reads a batch with the connection of the task's own
    definition (what the DAG file says), never with a connection id found in XCom, which anyone
    allowed to write an XCom on the DAG can plant.
    """
    return frozenset(fields) | {"gemini_conn_id"}


class GeminiOperatorBase(BaseOperator):
    """Shared plumbing: the connection id and a lazily created sync hook."""

    def __init__(self, *, gemini_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gemini_conn_id = gemini_conn_id

    @classmethod
    def get_serialized_fields(cls) -> frozenset[str]:
        """Airflow's serialized fields plus ``gemini_conn_id`` (read by the batch page)."""
        return serialized_fields_with_conn_id(super().get_serialized_fields())

    @cached_property
    def hook(self) -> GeminiBatchHook:
        """The sync hook for ``gemini_conn_id`` (created on first use, on the worker)."""
        return make_hook(self.gemini_conn_id)
