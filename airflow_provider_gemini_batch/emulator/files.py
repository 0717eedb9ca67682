"""File records, resumable-upload sessions and their JSON rendering.

Wire facts: docs/real-service/wire-format.md, sections The File resource and Resumable upload.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator.wire import int64, rfc3339

# Files live 48 h after creation, then vanish (ai.google.dev/gemini-api/docs/files).
FILE_RETENTION_SECONDS = 48 * 3600
# Discovery document: media.upload maxSize.
MAX_FILE_BYTES = 2 * 1024 * 1024 * 1024
# Advertised by the live service on upload start; the Python SDK uses it as its chunk size.
CHUNK_GRANULARITY = 8 * 1024 * 1024

_ID_ALPHABET = string.ascii_lowercase + string.digits
_FILE_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


def new_id(length: int) -> str:
    """A random lowercase-alphanumeric resource id of ``length`` characters."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def sha256_hash_field(hexdigest: str) -> str:
    """``sha256Hash`` as the real service writes it: standard base64 of the lowercase *hex* digest.

    Source [LIVE]: Google's cookbook ``quickstarts/Batch_mode.ipynb`` (saved output of the run on
    2025-09-10) shows a 202-byte file with sha256 ``597b96e5…2837fc`` answered as
    ``sha256_hash='NTk3Yjk2…MzdmYw=='``, which is base64 of that hex string, not of the raw digest.
    """
    return base64.b64encode(hexdigest.encode("ascii")).decode("ascii")


def valid_file_id(file_id: str) -> bool:
    """Whether ``file_id`` is a legal file id: ``[a-z0-9-]``, 1-40 chars, no leading/trailing dash."""
    return bool(_FILE_ID_RE.match(file_id))


@dataclass
class FileRecord:
    """A stored file: metadata plus where its bytes are on disk."""

    file_id: str
    display_name: str | None
    mime_type: str
    size: int
    sha256_hash: str
    create_time: float
    source: str  # "UPLOADED" or "GENERATED"
    path: Path
    owner: str | None = None  # the API key that created it (``per_key_visibility``)
    processing_seconds: float = 0.0  # PROCESSING this long after creation (``files_processing``)

    @property
    def ready_time(self) -> float:
        """When the file turns ACTIVE (epoch seconds, emulator clock)."""
        return self.create_time + self.processing_seconds

    @property
    def name(self) -> str:
        return f"files/{self.file_id}"

    @property
    def expire_time(self) -> float:
        return self.create_time + FILE_RETENTION_SECONDS

    def render(self, base_url: str, version: str = "v1beta", now: float | None = None) -> dict[str, Any]:
        """The File resource JSON (lowerCamelCase, int64 as string); key set as the cookbook's File
        (Batch_mode.ipynb cell 42 output). ``state`` is PROCESSING before :attr:`ready_time`."""
        state = "PROCESSING" if now is not None and now < self.ready_time else "ACTIVE"
        data: dict[str, Any] = {"name": self.name}
        if self.display_name:
            data["displayName"] = self.display_name
        data.update(
            {
                "mimeType": self.mime_type,
                "sizeBytes": int64(self.size),
                "createTime": rfc3339(self.create_time),
                "updateTime": rfc3339(self.create_time),
                "expirationTime": rfc3339(self.expire_time),
                "sha256Hash": self.sha256_hash,
                "uri": f"{base_url}/{version}/files/{self.file_id}",
                "state": state,
                "source": self.source,
            }
        )
        if self.source == "GENERATED":
            data["downloadUri"] = f"{base_url}/download/{version}/files/{self.file_id}:download?alt=media"
        return data


@dataclass
class UploadSession:
    """One resumable upload: bytes are appended to ``path`` as they arrive (never held in memory)."""

    upload_id: str
    file_id: str
    display_name: str | None
    mime_type: str
    declared_size: int | None
    path: Path
    received: int = 0
    status: str = "active"  # active | final | cancelled
    file: FileRecord | None = None
    _hash: Any = field(default_factory=hashlib.sha256, repr=False)
    _handle: Any = field(default=None, repr=False)
    owner: str | None = None  # the API key that started the session

    def write(self, data: bytes) -> None:
        """Append ``data`` to the session file and the running hash."""
        if self._handle is None:
            self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open across chunks on purpose
        self._handle.write(data)
        self._hash.update(data)
        self.received += len(data)

    def flush(self) -> None:
        """Push buffered bytes to the OS so a later ``query`` and a reader see them."""
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        """Close the session file handle (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def sha256_hash(self) -> str:
        """``sha256Hash`` of every byte received, in the service's form (``sha256_hash_field``)."""
        return sha256_hash_field(self._hash.hexdigest())


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists (files may already be gone after a reset)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
