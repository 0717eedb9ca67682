"""Cloud Storage objects kept on disk: the store behind the emulator's JSON API subset.

Buckets are implicit (an object's bucket exists once the object does, as in other Cloud Storage
emulators). Object bytes live in files under ``<data_dir>/gcs`` and are only ever streamed, so a
2 GB object costs a file, not memory; the store keeps a small metadata record per object (name,
size, hashes, generation), never its bytes.

Hashes are the JSON API's: ``md5Hash`` and ``crc32c`` base64-encoded (the crc32c as a big-endian
uint32), per the Objects resource reference (https://cloud.google.com/storage/docs/json_api/v1/objects).
google-cloud-storage compares the ``crc32c`` of an upload's answer with its own and a download's
``X-Goog-Hash`` with the bytes it received, so both must be right.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_gemini_batch.emulator.files import new_id, remove_quietly
from airflow_provider_gemini_batch.emulator.wire import ApiError

_crc32c_lib: Any
try:  # google-crc32c comes with google-cloud-storage; C speed when present.
    import google_crc32c as _crc32c_lib
except ImportError:  # pragma: no cover - exercised only without the test extra
    _crc32c_lib = None

#: Largest object accepted (the emulator's bound, not the service's 5 TiB).
MAX_OBJECT_BYTES = 5 * 1024 * 1024 * 1024
LIST_PAGE_DEFAULT = LIST_PAGE_MAX = 1000
COPY_BLOCK = 1024 * 1024


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


class Crc32c:
    """Running CRC-32C (Castagnoli): google-crc32c when installed, else a slow pure-Python table."""

    _TABLE: list[int] | None = None

    def __init__(self) -> None:
        self._fast = _crc32c_lib.Checksum() if _crc32c_lib is not None else None
        self._crc = 0xFFFFFFFF

    def update(self, data: bytes) -> None:
        if self._fast is not None:
            self._fast.update(data)
            return
        if Crc32c._TABLE is None:
            Crc32c._TABLE = _crc32c_table()
        table, crc = Crc32c._TABLE, self._crc
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self._crc = crc

    def digest(self) -> bytes:
        """Four bytes, big-endian."""
        if self._fast is not None:
            return bytes(self._fast.digest())
        return struct.pack(">I", self._crc ^ 0xFFFFFFFF)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@dataclass
class StoredObject:
    """One object's metadata and where its bytes are (``path``)."""

    bucket: str
    name: str
    size: int
    md5_hash: str  # base64 of the MD5 digest
    crc32c: str  # base64 of the big-endian CRC-32C
    content_type: str
    generation: int
    created: float  # epoch seconds, emulator clock
    path: Path
    metadata: dict[str, str] | None = None


@dataclass
class ObjectWriter:
    """Bytes of one object on their way to disk: a temporary file plus running hashes and size."""

    path: Path
    size: int = 0
    _md5: Any = field(default_factory=hashlib.md5)
    _crc: Crc32c = field(default_factory=Crc32c)
    _handle: Any = None

    def write(self, data: bytes) -> None:
        """Append ``data``. :raises ApiError: 400 past :data:`MAX_OBJECT_BYTES`."""
        if self._handle is None:
            self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open across chunks on purpose
        self.count(data)
        self._handle.write(data)

    def count(self, data: bytes) -> None:
        """Add ``data`` to the hashes and size only (its bytes are already on disk)."""
        if self.size + len(data) > MAX_OBJECT_BYTES:
            raise ApiError(400, f"Object exceeds the emulator's limit of {MAX_OBJECT_BYTES} bytes.")
        self._md5.update(data)
        self._crc.update(data)
        self.size += len(data)

    def flush(self) -> None:
        """Push buffered bytes to the OS (a later status query and a reader see them)."""
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if not self.path.exists():
            self.path.touch()

    def discard(self) -> None:
        self.close()
        remove_quietly(self.path)

    def hashes(self) -> tuple[str, str]:
        """(md5Hash, crc32c) of everything written, base64 as the JSON API writes them."""
        return b64(self._md5.digest()), b64(self._crc.digest())


@dataclass
class ResumableSession:
    """A resumable upload (JSON API ``uploadType=resumable``): bytes land in ``writer`` as they come."""

    upload_id: str
    bucket: str
    name: str
    content_type: str
    metadata: dict[str, str] | None
    declared_size: int | None
    writer: ObjectWriter
    done: StoredObject | None = None
    cancelled: bool = False


def check_names(bucket: str, name: str) -> None:
    """Refuse names the JSON API refuses: an empty object name, or one over 1024 bytes of UTF-8.

    :raises ApiError: 400 naming the bad part.
    """
    if not bucket or "/" in bucket:
        raise ApiError(400, f"Invalid bucket name: {bucket!r}.")
    if not name:
        raise ApiError(400, "Required parameter: name (the object name).")
    if len(name.encode("utf-8", "surrogatepass")) > 1024 or "\r" in name or "\n" in name:
        raise ApiError(400, f"Invalid object name {name[:80]!r}: at most 1024 bytes, no CR/LF.")


class ObjectStore:
    """Every bucket's objects; upload sessions.

    :param root: directory for object bytes (created).
    :param clock: emulator time (epoch seconds) for ``timeCreated``/``updated``.
    """

    def __init__(self, root: Path, clock: Callable[[], float]) -> None:
        self.root = Path(root)
        self.clock = clock
        self.buckets: dict[str, dict[str, StoredObject]] = {}
        self.sessions: dict[str, ResumableSession] = {}
        self._generation = 0
        self.root.mkdir(parents=True, exist_ok=True)

    def reset(self) -> None:
        """Forget every object and session and remove their bytes."""
        for session in self.sessions.values():
            session.writer.close()
        self.buckets.clear()
        self.sessions.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)

    def new_writer(self) -> ObjectWriter:
        """A writer to a fresh temporary file under the store."""
        return ObjectWriter(self.root / f"part-{new_id(24)}")

    def commit(
        self,
        bucket: str,
        name: str,
        writer: ObjectWriter,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> StoredObject:
        """Publish ``writer``'s bytes as ``bucket/name`` (replacing any older generation)."""
        check_names(bucket, name)
        writer.close()
        md5_hash, crc = writer.hashes()
        self._generation += 1
        # Generations grow with time on the service (microsecond timestamps); unique here.
        generation = int(self.clock() * 1_000_000) * 1000 + self._generation % 1000
        path = self.root / f"obj-{new_id(24)}"
        os.replace(writer.path, path)
        stored = StoredObject(
            bucket=bucket,
            name=name,
            size=writer.size,
            md5_hash=md5_hash,
            crc32c=crc,
            content_type=content_type or "application/octet-stream",
            generation=generation,
            created=self.clock(),
            path=path,
            metadata=metadata,
        )
        objects = self.buckets.setdefault(bucket, {})
        old = objects.get(name)
        objects[name] = stored
        if old is not None:
            remove_quietly(old.path)
        return stored

    def ingest(self, source: Path) -> ObjectWriter:
        """Take the file ``source`` over as a writer's bytes, hashing it block by block.

        Blocking I/O that touches no shared state: run it in a worker thread, then
        :meth:`commit` the writer on the event loop (listings iterate the buckets there).
        """
        writer = self.new_writer()
        with open(source, "rb") as handle:
            while block := handle.read(COPY_BLOCK):
                writer.count(block)
        os.replace(source, writer.path)  # the bytes stay where they are; only the name changes
        return writer

    def get(self, bucket: str, name: str) -> StoredObject:
        """The object ``bucket/name``. :raises ApiError: 404 ``No such object``."""
        stored = self.buckets.get(bucket, {}).get(name)
        if stored is None:
            raise ApiError(404, f"No such object: {bucket}/{name}")
        return stored

    def find(self, bucket: str, name: str) -> StoredObject | None:
        """The object, or None."""
        return self.buckets.get(bucket, {}).get(name)

    def delete(self, bucket: str, name: str) -> None:
        """Remove ``bucket/name`` and its bytes. :raises ApiError: 404 when absent."""
        stored = self.get(bucket, name)
        del self.buckets[bucket][name]
        remove_quietly(stored.path)

    def list(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        page_size: int = LIST_PAGE_DEFAULT,
        after: str | None = None,
    ) -> tuple[list[StoredObject], list[str], str | None]:
        """One page of ``bucket``'s objects under ``prefix`` in name order.

        With ``delimiter``, names holding it after the prefix are rolled up into ``prefixes``
        (each once, counted toward the page). ``after`` is the last name or prefix of the
        previous page. Returns (objects, prefixes, last entry of this page when more follow).
        """
        names = sorted(n for n in self.buckets.get(bucket, {}) if n.startswith(prefix))
        objects: list[StoredObject] = []
        prefixes: list[str] = []
        last: str | None = None
        for name in names:
            entry = name
            if delimiter:
                cut = name.find(delimiter, len(prefix))
                if cut >= 0:
                    entry = name[: cut + len(delimiter)]
            if after is not None and entry <= after:
                continue
            if entry == last:
                continue
            if len(objects) + len(prefixes) >= page_size:
                return objects, prefixes, last
            if entry != name:
                prefixes.append(entry)
            else:
                objects.append(self.buckets[bucket][name])
            last = entry
        return objects, prefixes, None
