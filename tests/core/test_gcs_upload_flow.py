"""The Cloud Storage resumable upload as a pure state machine, driven with scripted answers.

No sockets: the flow does no I/O, so each test plays the session's part (the JSON API's ``308``
with ``Range``, ``200`` with the object's metadata) step by step. The same protocol over real
sockets (the storage emulator, a scripted hostile server) is covered by ``tests/hooks`` and
``tests/emulator``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from airflow_provider_gemini_batch._core import gcs_upload_flow as gf
from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core import upload_flow as uf
from airflow_provider_gemini_batch.exceptions import GeminiApiError

STORAGE = "https://storage.example"
SESSION = f"{STORAGE}/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=abc"
URI = "gs://bkt/in.jsonl"


def upload(size: int = 20, chunk: int = 8) -> gf.GcsResumableUpload:
    return gf.GcsResumableUpload(SESSION, size=size, chunk_size=chunk, resource=URI, source="in.jsonl")


def kept(upto: int | None) -> uf.Reply:
    """A ``308``: the session holds bytes ``0..upto-1`` (None: no ``Range``, nothing kept)."""
    return uf.Reply(308, {"Range": f"bytes=0-{upto - 1}"} if upto else {})


def done(size: int | str = 20, status: int = 200, **extra: Any) -> uf.Reply:
    return uf.Reply(status, {}, json.dumps({"name": "in.jsonl", "size": size, **extra}).encode())


class Script:
    """Runs a flow, answering each Send from a list and recording every step."""

    def __init__(self, flow: uf.Flow) -> None:
        self.flow = flow
        self.steps: list[uf.Step] = []

    def run(self, *answers: uf.Reply | object) -> Mapping[str, Any] | None:
        """Answer the flow's Sends in order (other steps get None); its result, or None when
        the answers ran out first."""
        queue = list(answers)
        try:
            step = next(self.flow)
            while True:
                self.steps.append(step)
                if isinstance(step, uf.Send):
                    if not queue:
                        return None
                    step = self.flow.send(queue.pop(0))  # type: ignore[arg-type]
                else:
                    step = self.flow.send(None)
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]

    def ranges(self) -> list[tuple[str, uf.ChunkRef | None]]:
        return [(s.request.headers["Content-Range"], s.chunk) for s in self.steps if isinstance(s, uf.Send)]

    def progress(self) -> list[int]:
        return [s.received for s in self.steps if isinstance(s, uf.Progress)]


def test_308_progress_moves_on_chunk_by_chunk_and_200_ends() -> None:
    script = Script(upload().flow())
    result = script.run(kept(8), kept(16), done())
    assert result is not None
    assert result["size"] == 20
    assert script.ranges() == [
        ("bytes 0-7/20", uf.ChunkRef(0, 8)),
        ("bytes 8-15/20", uf.ChunkRef(8, 8)),
        ("bytes 16-19/20", uf.ChunkRef(16, 4)),
    ]
    assert script.progress() == [8, 16]
    sends = [s for s in script.steps if isinstance(s, uf.Send)]
    # The session URL authorises itself: no bearer token, and only the storage host's origin.
    assert all(s.request.method == "PUT" and s.request.path == SESSION for s in sends)
    assert all(not s.request.authenticated for s in sends)


def test_201_ends_too() -> None:
    assert Script(upload(size=4).flow()).run(done(size="4", status=201)) is not None


def test_a_lost_chunk_is_followed_by_a_status_query_and_resumes_where_the_session_is() -> None:
    script = Script(upload().flow())
    # Chunk 2 is cut; the session kept 4 of its 8 bytes.
    result = script.run(kept(8), uf.LOST, kept(12), kept(20), done())
    assert result is not None
    assert script.ranges() == [
        ("bytes 0-7/20", uf.ChunkRef(0, 8)),
        ("bytes 8-15/20", uf.ChunkRef(8, 8)),
        ("bytes */20", None),  # the status query: no body
        ("bytes 12-19/20", uf.ChunkRef(12, 8)),
        ("bytes */20", None),  # every byte held (the 308 of a last chunk): ask again
    ]
    assert uf.Resumed(12, 20) in script.steps
    assert script.progress() == [8, 12, 20]


def test_a_lost_query_is_asked_again_and_a_finished_session_ends_the_upload() -> None:
    script = Script(upload().flow())
    # The last chunk's 200 was lost: the query finds the object complete.
    assert script.run(kept(8), kept(16), uf.LOST, uf.LOST, done()) is not None
    assert [r for r, _ in script.ranges()][-2:] == ["bytes */20", "bytes */20"]


def test_a_session_claiming_more_bytes_than_sent_is_refused() -> None:
    script = Script(upload().flow())
    with pytest.raises(GeminiApiError, match="claims 12 bytes; only 8 were sent"):
        script.run(kept(12))


def test_a_query_claiming_more_bytes_than_sent_is_refused() -> None:
    script = Script(upload().flow())
    with pytest.raises(GeminiApiError, match="claims 20 bytes; only 16 were sent"):
        script.run(kept(8), uf.LOST, kept(20))


def test_308_without_progress_is_bounded() -> None:
    script = Script(upload().flow())
    with pytest.raises(GeminiApiError, match="kept no new bytes in 5 chunks in a row"):
        script.run(*[kept(None)] * 10)
    assert len(script.ranges()) == gf.MAX_STALLED_STEPS


def test_progress_resets_the_stall_count() -> None:
    script = Script(upload(size=40).flow())
    # Four stalls, progress, four stalls, progress, ...: never five in a row.
    answers = [kept(None)] * 4 + [kept(8)] + [kept(8)] * 4 + [kept(16)] + [kept(24), kept(32), done(40)]
    assert script.run(*answers) is not None


def test_the_final_object_of_another_size_is_refused() -> None:
    with pytest.raises(GeminiApiError, match=r"stored 19 bytes of the 20 bytes of in\.jsonl"):
        Script(upload().flow()).run(kept(8), kept(16), done(size="19"))
    with pytest.raises(GeminiApiError, match="stored 'many' bytes"):
        Script(upload().flow()).run(kept(8), kept(16), done(size="many"))


def test_a_final_answer_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(GeminiApiError, match="not a JSON object"):
        Script(upload(size=4).flow()).run(uf.Reply(200, {}, b"[]"))


def test_an_empty_file_is_one_bodiless_put() -> None:
    script = Script(upload(size=0).flow())
    assert script.run(done(size=0)) is not None
    assert script.ranges() == [("bytes */0", None)]


def test_chunk_sizes_are_multiples_of_256_kib() -> None:
    assert gf.chunk_size_for(1) == 256 * 1024
    assert gf.chunk_size_for(8 * 1024 * 1024 + 5) == 8 * 1024 * 1024


START = routes.ApiRequest("POST", f"{STORAGE}/upload/storage/v1/b/bkt/o", resource=URI, what="Starting")


def test_the_session_url_comes_from_location_and_a_relative_one_is_on_the_storage_host() -> None:
    assert gf.session_url_from_location(uf.Reply(200, {"location": SESSION}), START, STORAGE) == SESSION
    relative = gf.session_url_from_location(uf.Reply(200, {"Location": "/upload/s?id=1"}), START, STORAGE)
    assert relative == f"{STORAGE}/upload/s?id=1"


@pytest.mark.parametrize(
    "location",
    [
        "https://elsewhere.example/upload/s?id=1",
        "http://storage.example/upload/s?id=1",  # another scheme
        "https://storage.example:8443/upload/s?id=1",  # another port
    ],
)
def test_a_session_url_on_another_origin_is_refused(location: str) -> None:
    with pytest.raises(GeminiApiError, match="another host") as caught:
        gf.session_url_from_location(uf.Reply(200, {"Location": location}), START, STORAGE)
    assert "id=1" not in str(caught.value)  # the session URL is a credential


def test_a_start_answer_without_a_session_url_is_refused() -> None:
    with pytest.raises(GeminiApiError, match="names no session URL"):
        gf.session_url_from_location(uf.Reply(200, {}), START, STORAGE)
