"""The resumable download as a pure state machine, driven with scripted answers.

No sockets: :class:`RangedDownload` does no I/O, so each test plays the server's part. Cut
downloads over real sockets (the emulator, the hostile server) are covered by ``tests/hooks``.
"""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.download_flow import ACCEPT, RangedDownload
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiTransportError

REQ = routes.download_file("v1beta", "files/f1")
BODY = b"0123456789"


def read(download: RangedDownload, status: int, headers: dict[str, str], blocks: list[bytes]) -> bytes:
    """Play one answer: what the caller receives of it (``ended`` is called at its end)."""
    if not download.opened(status, headers):
        return b""
    out = b"".join(download.take(block) for block in blocks)
    download.ended(status)
    return out


def test_the_first_request_asks_for_the_whole_body_undecoded() -> None:
    first = RangedDownload(REQ).next_request()
    assert first is not None
    assert "Range" not in first.headers
    assert first.headers["Accept-Encoding"] == "identity"
    assert (first.path, dict(first.params)) == (REQ.path, {"alt": "media"})
    assert ACCEPT == (200, 206, 416)


def test_a_whole_body_is_read_once_and_then_nothing_more_is_asked() -> None:
    download = RangedDownload(REQ)
    assert read(download, 200, {"Content-Length": "10"}, [BODY[:4], BODY[4:]]) == BODY
    assert download.next_request() is None


def test_a_cut_body_is_retried_with_a_range_and_a_206_continues_there() -> None:
    download = RangedDownload(REQ)
    with pytest.raises(GeminiTransportError, match="cut off after 4 of 10 bytes") as caught:
        read(download, 200, {"Content-Length": "10"}, [BODY[:4]])
    assert caught.value.sent is True  # retryable: the next request asks for the rest
    again = download.next_request()
    assert again is not None
    assert again.headers["Range"] == "bytes=4-"
    assert read(download, 206, {"content-range": "bytes 4-9/10"}, [BODY[4:]]) == BODY[4:]
    assert download.next_request() is None


def test_a_server_ignoring_range_sends_all_again_and_the_bytes_read_are_skipped() -> None:
    download = RangedDownload(REQ)
    with pytest.raises(GeminiTransportError):
        read(download, 200, {"Content-Length": "10"}, [BODY[:6]])
    assert read(download, 200, {"Content-Length": "10"}, [BODY[:3], BODY[3:8], BODY[8:]]) == BODY[6:]
    assert download.offset == 10


def test_a_206_starting_before_the_offset_is_trimmed() -> None:
    download = RangedDownload(REQ)
    with pytest.raises(GeminiTransportError):
        read(download, 200, {"Content-Length": "10"}, [BODY[:5]])
    assert read(download, 206, {"Content-Range": "bytes 2-9/10"}, [BODY[2:]]) == BODY[5:]


def test_a_206_starting_past_the_offset_is_refused() -> None:
    download = RangedDownload(REQ)
    with pytest.raises(GeminiTransportError):
        read(download, 200, {"Content-Length": "10"}, [BODY[:5]])
    with pytest.raises(GeminiApiError, match=r"Content-Range 'bytes 7-9/10' for bytes from 5"):
        download.opened(206, {"Content-Range": "bytes 7-9/10"})
    with pytest.raises(GeminiApiError, match="Content-Range None"):
        download.opened(206, {})


def test_416_means_everything_was_read() -> None:
    download = RangedDownload(REQ)
    with pytest.raises(GeminiTransportError):
        read(download, 200, {"Content-Length": "10"}, [BODY[:5]])
    assert download.opened(416, {}) is False


def test_a_body_read_again_that_is_shorter_than_before_means_the_file_changed() -> None:
    download = RangedDownload(REQ)
    assert download.opened(200, {})  # no size announced
    assert download.take(BODY[:8]) == BODY[:8]  # ... and then the connection broke mid-body
    with pytest.raises(GeminiApiError, match="shorter than the 8 bytes read before"):
        read(download, 200, {}, [BODY[:7]])


def test_without_an_announced_size_the_body_ends_where_it_ends() -> None:
    download = RangedDownload(REQ)
    assert read(download, 200, {}, [BODY]) == BODY
    assert download.total is None
    assert download.next_request() is not None  # the driver stops on its own: the attempt ended
