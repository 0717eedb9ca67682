"""The emulator's Cloud Storage JSON API subset, driven by google-cloud-storage through
``STORAGE_EMULATOR_HOST`` (an independent client: if it cannot use the emulator, the emulator
is not faithful). Sources of the wire shapes: docs/vertex-wire.md."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator

import httpx
import pytest
from google.cloud import storage

from airflow_provider_gemini_batch.emulator import EmulatorServer


@pytest.fixture
def gcs(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[storage.Client]:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.base_url)
    client = storage.Client(project="emulator-project")
    yield client
    client.close()


def test_multipart_upload_list_download_delete(gcs: storage.Client) -> None:
    bucket = gcs.bucket("data")
    bucket.blob("batch/requests.jsonl").upload_from_string(
        b'{"key": "a"}\n', content_type="application/jsonl"
    )
    bucket.blob("batch/other/x.txt").upload_from_string("x")
    bucket.blob("elsewhere.txt").upload_from_string("e")
    blob = bucket.get_blob("batch/requests.jsonl")
    assert blob is not None
    assert blob.size == 13
    assert blob.content_type == "application/jsonl"
    assert blob.md5_hash == base64.b64encode(hashlib.md5(b'{"key": "a"}\n').digest()).decode()
    assert blob.download_as_bytes() == b'{"key": "a"}\n'
    listed = gcs.list_blobs("data", prefix="batch/", delimiter="/")
    assert [b.name for b in listed] == ["batch/requests.jsonl"]
    assert listed.prefixes == {"batch/other/"}
    blob.delete()
    assert bucket.get_blob("batch/requests.jsonl") is None
    assert [b.name for b in gcs.list_blobs("data")] == ["batch/other/x.txt", "elsewhere.txt"]


def test_resumable_upload_in_chunks_and_ranged_reads(gcs: storage.Client, tmp_path: os.PathLike[str]) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = os.path.join(tmp_path, "big.bin")
    with open(source, "wb") as handle:
        handle.write(data)
    blob = gcs.bucket("data").blob("big.bin", chunk_size=1024 * 1024)  # forces a resumable session
    blob.upload_from_filename(source)
    stored = gcs.bucket("data").get_blob("big.bin")
    assert stored is not None
    assert stored.size == len(data)
    # The client checks the download against X-Goog-Hash (crc32c and md5) itself.
    assert hashlib.sha256(stored.download_as_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert stored.download_as_bytes(start=10, end=19) == data[10:20]
    with stored.open("rb", chunk_size=256 * 1024) as reader:
        reader.seek(len(data) - 5)
        assert reader.read() == data[-5:]


def test_list_pages_with_a_page_token(gcs: storage.Client) -> None:
    bucket = gcs.bucket("pages")
    for i in range(5):
        bucket.blob(f"p/{i}").upload_from_string(str(i))
    pages = gcs.list_blobs("pages", prefix="p/", max_results=None, page_size=2).pages
    assert [[b.name for b in page] for page in pages] == [["p/0", "p/1"], ["p/2", "p/3"], ["p/4"]]


def test_media_routes_answer_anonymous_raw_http(emulator: EmulatorServer, gcs: storage.Client) -> None:
    gcs.bucket("raw").blob("a b/c.txt").upload_from_string("hello")
    base = emulator.base_url
    for url in (
        f"{base}/download/storage/v1/b/raw/o/a%20b%2Fc.txt?alt=media",
        f"{base}/storage/v1/b/raw/o/a%20b%2Fc.txt?alt=media",
    ):
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert answer.text == "hello"
        assert answer.headers["x-goog-hash"].startswith("crc32c=")
    ranged = httpx.get(f"{base}/storage/v1/b/raw/o/a%20b%2Fc.txt?alt=media", headers={"range": "bytes=1-2"})
    assert ranged.status_code == 206
    assert ranged.text == "el"
    assert ranged.headers["content-range"] == "bytes 1-2/5"
    assert httpx.get(f"{base}/storage/v1/b/raw/o/missing").status_code == 404
