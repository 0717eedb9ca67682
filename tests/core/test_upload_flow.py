"""The resumable upload protocol as a pure state machine, driven with scripted answers.

No sockets: the flow does no I/O, so each test plays the session's part step by step. The same
protocol over real sockets (the emulator, the hostile server) is covered by ``tests/hooks``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pytest

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core import upload_flow as uf
from airflow_provider_gemini_batch.exceptions import GeminiApiError

SESSION = "https://api.example/upload/v1beta/files?upload_id=abc"
FILE = {"name": "files/f1", "sizeBytes": "20"}


def active(received: int | None = None) -> uf.Reply:
    headers = {"X-Goog-Upload-Status": "active"}
    if received is not None:
        headers["X-Goog-Upload-Size-Received"] = str(received)
    return uf.Reply(200, headers)


def final(received: int | None = None, file: Mapping[str, Any] | None = FILE) -> uf.Reply:
    headers = {"x-goog-upload-status": "final"}  # any case: headers are case-insensitive
    if received is not None:
        headers["X-Goog-Upload-Size-Received"] = str(received)
    return uf.Reply(200, headers, json.dumps({"file": file} if file is not None else {}).encode())


class Script:
    """Runs a flow, answering each Send from a list and recording every step."""

    def __init__(self, upload: uf.ResumableUpload) -> None:
        self.flow = upload.flow()
        self.steps: list[uf.Step] = []
        self._step: uf.Step | None = None

    def run(self, *answers: uf.Reply | object) -> Mapping[str, Any] | None:
        """Answer the flow's Sends in order (other steps get None); the flow's result, or None
        when the answers ran out first."""
        queue = list(answers)
        try:
            step = next(self.flow) if self._step is None else self._step
            while True:
                self.steps.append(step)
                if isinstance(step, uf.Send):
                    if not queue:
                        self._step = step
                        return None
                    step = self.flow.send(queue.pop(0))  # type: ignore[arg-type]
                else:
                    step = self.flow.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def sends(self) -> list[tuple[str, str | None, uf.ChunkRef | None]]:
        return [
            (
                s.request.headers.get("X-Goog-Upload-Command", ""),
                s.request.headers.get("X-Goog-Upload-Offset"),
                s.chunk,
            )
            for s in self.steps
            if isinstance(s, uf.Send)
        ]


def test_chunks_go_in_order_and_the_last_one_finalizes() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    assert script.run(active(), active(), final()) == FILE
    assert script.sends() == [
        ("upload", "0", uf.ChunkRef(0, 8)),
        ("upload", "8", uf.ChunkRef(8, 8)),
        ("upload, finalize", "16", uf.ChunkRef(16, 4)),
    ]
    # Each confirmed chunk is progress (renews the driver's retry budget).
    assert [s for s in script.steps if isinstance(s, uf.Progress)] == [uf.Progress(8), uf.Progress(16)]
    assert all(
        isinstance(s, uf.Send) and not s.request.authenticated for s in script.steps if isinstance(s, uf.Send)
    )


def test_an_empty_file_is_one_empty_finalizing_chunk() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=0, chunk_size=8))
    assert script.run(final()) == FILE
    assert script.sends() == [("upload, finalize", "0", uf.ChunkRef(0, 0))]


def test_a_lost_chunk_is_resumed_from_the_offset_the_session_holds() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    # Chunk 2 is cut after the session persisted 3 of its bytes: ask, then continue at 11.
    assert script.run(active(), uf.LOST, active(received=11), active(), final()) == FILE
    assert script.sends() == [
        ("upload", "0", uf.ChunkRef(0, 8)),
        ("upload", "8", uf.ChunkRef(8, 8)),
        ("query", None, None),
        ("upload", "11", uf.ChunkRef(11, 8)),
        ("upload, finalize", "19", uf.ChunkRef(19, 1)),
    ]
    assert uf.Resumed(11, 20) in script.steps
    assert uf.Progress(11) in script.steps  # the cut chunk still moved the session forward


def test_a_resume_that_gained_nothing_is_not_progress() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    script.run(active(), uf.LOST, active(received=8), active(), final())
    resumed_at = script.steps.index(uf.Resumed(8, 20))
    assert not isinstance(script.steps[resumed_at + 1], uf.Progress)


def test_a_lost_query_is_asked_again() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=8, chunk_size=8))
    assert script.run(uf.LOST, uf.LOST, uf.LOST, active(received=0), final()) == FILE
    assert [c for c, _, _ in script.sends()] == [
        "upload, finalize",
        "query",
        "query",
        "query",
        "upload, finalize",
    ]


def test_a_session_finalized_while_its_answer_was_lost_ends_the_upload() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    assert script.run(active(), active(), uf.LOST, final(received=20)) == FILE
    assert [c for c, _, _ in script.sends()][-1] == "query"


def test_a_session_final_with_part_of_the_file_is_discarded() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    with pytest.raises(GeminiApiError, match="final with 8 of 20 bytes"):
        script.run(active(), uf.LOST, final(received=8))
    assert script.steps[-1] == uf.Discard(FILE)


def test_an_early_final_is_discarded_and_refused() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    with pytest.raises(GeminiApiError, match=r"finalized the file after bytes 0-8 of 20"):
        script.run(final())
    assert script.steps[-1] == uf.Discard(FILE)


def test_an_early_final_without_a_file_has_nothing_to_discard() -> None:
    script = Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8))
    with pytest.raises(GeminiApiError, match="before the last chunk"):
        script.run(final(file=None))
    assert not any(isinstance(s, uf.Discard) for s in script.steps)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ((uf.Reply(200, {}),), "answered status 'none' at offset 0"),
        ((active(), active(), active()), "answered status 'active' at offset 16"),  # last chunk not final
        ((uf.Reply(200, {"X-Goog-Upload-Status": "cancelled"}),), "status 'cancelled'"),
        ((uf.LOST, uf.Reply(200, {"X-Goog-Upload-Status": "cancelled"})), "can no longer be resumed"),
        ((active(), active(), final(file=None)), r'carried no \{"file": \.\.\.\}'),
        ((uf.LOST, active(received=9)), "claims 9 bytes; only 8 were sent"),
    ],
)
def test_a_session_breaking_the_protocol_is_refused(answers: tuple[Any, ...], message: str) -> None:
    with pytest.raises(GeminiApiError, match=message) as caught:
        Script(uf.ResumableUpload(SESSION, size=20, chunk_size=8)).run(*answers)
    assert caught.value.http_status == 200  # not a retryable status: the driver does not repeat it


START = routes.upload_start("v1beta", size=20, mime_type="application/jsonl", file_name="in.jsonl")


def test_the_session_url_comes_from_the_start_answer_on_the_connections_origin() -> None:
    reply = uf.Reply(200, {"x-goog-upload-url": SESSION})
    assert uf.session_url_from_start(reply, START, "https://api.example") == SESSION


def test_a_start_answer_without_a_session_url_is_refused() -> None:
    with pytest.raises(GeminiApiError, match="no X-Goog-Upload-URL"):
        uf.session_url_from_start(uf.Reply(200, {}), START, "https://api.example")


def test_a_session_url_on_another_origin_is_refused_without_its_upload_id() -> None:
    reply = uf.Reply(200, {"X-Goog-Upload-URL": "https://elsewhere.example:8443/up?upload_id=secret"})
    with pytest.raises(GeminiApiError, match=r"elsewhere\.example:8443") as caught:
        uf.session_url_from_start(reply, START, "https://api.example")
    assert "secret" not in str(caught.value)


def test_cancel_names_the_session() -> None:
    cancel = uf.ResumableUpload(SESSION, size=1, chunk_size=1).cancel()
    assert (cancel.path, cancel.headers["X-Goog-Upload-Command"], cancel.authenticated) == (
        SESSION,
        "cancel",
        False,
    )


DATA = b'{"key": "a"}\n'
DIGEST = hashlib.sha256(DATA)
# What the real service sends: base64 of the hex digest (see _core/digests.py).
REAL_HASH = __import__("base64").b64encode(DIGEST.hexdigest().encode()).decode()


def _problem(size_bytes: int | None, sha256_hash: str | None) -> str | None:
    return uf.stored_file_problem(
        size_bytes=size_bytes,
        sha256_hash=sha256_hash,
        size=len(DATA),
        digest=DIGEST.digest(),
        hexdigest=DIGEST.hexdigest(),
    )


def test_a_stored_file_with_the_same_size_and_hash_is_trusted() -> None:
    assert _problem(len(DATA), REAL_HASH) is None


@pytest.mark.parametrize(
    ("size_bytes", "sha256_hash", "message"),
    [
        (len(DATA) - 1, REAL_HASH, f"has {len(DATA) - 1} bytes, the local file {len(DATA)}"),
        (len(DATA), None, "carried no sha256Hash in a known form"),
        (len(DATA), "not-a-hash", "carried no sha256Hash in a known form"),
        (len(DATA), "0" * 64, "names other bytes"),
    ],
)
def test_a_stored_file_that_cannot_be_trusted_is_named(
    size_bytes: int, sha256_hash: str | None, message: str
) -> None:
    assert message in (_problem(size_bytes, sha256_hash) or "")
