"""Whether an uploaded input file can feed a batch yet. Pure."""

from __future__ import annotations

import enum

from airflow_provider_gemini_batch._core.models import FileInfo

#: Seconds to wait for an input file to leave PROCESSING before creating a batch.
DEFAULT_FILE_ACTIVE_TIMEOUT = 600.0
#: Seconds between two reads of a PROCESSING file.
FILE_ACTIVE_INTERVAL = 5.0


class FileReadiness(str, enum.Enum):
    READY = "ready"
    WAIT = "wait"
    FAILED = "failed"


def file_readiness(info: FileInfo) -> FileReadiness:
    """Whether an uploaded input file can feed a batch.

    A file is ``PROCESSING`` for a while after upload and the service refuses a batch on it
    (400 FAILED_PRECONDITION: Embassy-of-the-Free-Mind/sourcelibrary-v2 pull request #2186);
    ``FAILED`` carries the file's ``error`` (Files API ``File.state``/``File.error``, REST
    reference). An absent state (proto3 zero value) or ``ACTIVE`` is ready.
    """
    state = (info.state or "").upper().removeprefix("STATE_")
    if state == "PROCESSING":
        return FileReadiness.WAIT
    if state == "FAILED":
        return FileReadiness.FAILED
    return FileReadiness.READY
