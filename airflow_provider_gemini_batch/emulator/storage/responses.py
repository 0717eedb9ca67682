"""JSON rendering of the Cloud Storage JSON API subset, and the streaming multipart reader.

Resource shapes from the JSON API reference (Objects resource and objects.list,
https://cloud.google.com/storage/docs/json_api/v1/objects): int64 fields (``size``,
``generation``, ``metageneration``) as decimal strings, times RFC 3339 with milliseconds,
``mediaLink`` pointing at ``/download/storage/v1/...?alt=media``, which google-cloud-storage
follows for downloads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from airflow_provider_gemini_batch.emulator.storage.models import StoredObject
from airflow_provider_gemini_batch.emulator.wire import invalid


def gcs_time(epoch: float) -> str:
    """``2026-12-07T21:04:00.123Z``."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def render_object(stored: StoredObject, base_url: str) -> dict[str, Any]:
    """The Objects resource of ``stored`` as the JSON API answers it."""
    quoted = quote(stored.name, safe="")
    stamp = gcs_time(stored.created)
    data: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{stored.bucket}/{stored.name}/{stored.generation}",
        "selfLink": f"{base_url}/storage/v1/b/{stored.bucket}/o/{quoted}",
        "mediaLink": (
            f"{base_url}/download/storage/v1/b/{stored.bucket}/o/{quoted}"
            f"?generation={stored.generation}&alt=media"
        ),
        "name": stored.name,
        "bucket": stored.bucket,
        "generation": str(stored.generation),
        "metageneration": "1",
        "contentType": stored.content_type,
        "storageClass": "STANDARD",
        "size": str(stored.size),
        "md5Hash": stored.md5_hash,
        "crc32c": stored.crc32c,
        "etag": f"C{stored.generation % 10**12}EAE=",
        "timeCreated": stamp,
        "updated": stamp,
        "timeStorageClassUpdated": stamp,
    }
    if stored.metadata:
        data["metadata"] = dict(stored.metadata)
    return data


def render_bucket(bucket: str, base_url: str) -> dict[str, Any]:
    """An implicit bucket's resource (enough for clients that fetch a bucket before using it)."""
    return {
        "kind": "storage#bucket",
        "selfLink": f"{base_url}/storage/v1/b/{bucket}",
        "id": bucket,
        "name": bucket,
        "projectNumber": "0",
        "metageneration": "1",
        "location": "US-CENTRAL1",
        "storageClass": "STANDARD",
        "etag": "CAE=",
        "timeCreated": gcs_time(0),
        "updated": gcs_time(0),
        "locationType": "region",
    }


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive (start, end), None for the
    whole object. :raises ValueError: an unsatisfiable or malformed range (answered 416)."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        raise ValueError(header)
    first, _, last = spec.strip().partition("-")
    if not first:
        length = int(last)
        if length <= 0:
            raise ValueError(header)
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise ValueError(header)
    return start, min(end, size - 1)


def boundary_of(content_type: str) -> bytes:
    """The ``boundary`` parameter of a ``multipart/related`` Content-Type. :raises ApiError: 400."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/related":
        raise invalid("uploadType=multipart needs Content-Type: multipart/related; boundary=...")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip().strip('"').encode("latin-1")
    raise invalid("The multipart/related Content-Type has no boundary.")


class BodyReader:
    """Reads a request body stream up to markers without holding more than a chunk in memory."""

    def __init__(self, stream: AsyncIterator[bytes]) -> None:
        self._stream = stream
        self._buffer = b""
        self.total = 0

    async def _fill(self) -> bool:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            return False
        self._buffer += chunk
        self.total += len(chunk)
        return True

    async def read_until(self, marker: bytes, limit: int) -> bytes:
        """The bytes before ``marker`` (consumed with it); at most ``limit`` bytes.

        :raises ApiError: 400 when the body ends first or the part is too long.
        """
        while True:
            at = self._buffer.find(marker)
            if at >= 0:
                head, self._buffer = self._buffer[:at], self._buffer[at + len(marker) :]
                return head
            if len(self._buffer) > limit:
                raise invalid(f"Malformed multipart body: a header or metadata part exceeds {limit} bytes.")
            if not await self._fill():
                raise invalid("Malformed multipart body: it ended before the closing boundary.")

    async def stream_until(self, marker: bytes) -> AsyncIterator[bytes]:
        """Yield the bytes before ``marker`` block by block (then consume the marker)."""
        keep = len(marker) - 1
        while True:
            at = self._buffer.find(marker)
            if at >= 0:
                if at:
                    yield self._buffer[:at]
                self._buffer = self._buffer[at + len(marker) :]
                return
            if len(self._buffer) > keep:
                cut = len(self._buffer) - keep
                yield self._buffer[:cut]
                self._buffer = self._buffer[cut:]
            if not await self._fill():
                raise invalid("Malformed multipart body: it ended before the closing boundary.")
