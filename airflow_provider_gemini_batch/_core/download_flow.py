"""A GET body read as one seamless byte stream across cut connections: a state machine, no I/O.

Protocol: HTTP range requests (RFC 9110 section 14: ``Range: bytes=<n>-`` asks for the bytes
from ``n``; a ``206 Partial Content`` answer says where it starts in ``Content-Range``; a server
may ignore ``Range`` and answer ``200`` with the whole body; ``416`` means nothing lies at or past
``n``). Google's media-download front end answers ``Range`` on ``alt=media`` downloads with 206
(google-api-python-client's ``MediaIoBaseDownload`` resumes that way); the Files API download
(https://ai.google.dev/api/files, ``files/{id}:download?alt=media``) is not known to, and the
emulator ignores ``Range`` (``docs/reliability.md``, "cut downloads"), so both answers are read.

:class:`RangedDownload` decides what to ask and what to keep; the driver (``hooks/_download.py``
for the sync hook) sends, reads and retries::

    while (req := download.next_request()) is not None:   # None: the whole body was read
        answer = send(req)                                 # accept 200, 206, 416
        if download.opened(answer.status, answer.headers): # False: 416, nothing left
            for block in answer: yield download.take(block)  # bytes already read are dropped
            download.ended(answer.status)                  # raises on a short or cut body

A failure anywhere (a retryable transport error, or :meth:`RangedDownload.ended` finding the body
cut) leads the driver's retry policy to start again at :meth:`RangedDownload.next_request`, which
then asks for the bytes from :attr:`RangedDownload.offset`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch.exceptions import GeminiApiError, GeminiTransportError

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
#: The statuses a ranged GET is accepted with (anything else is the transport's typed error).
ACCEPT = (200, 206, 416)


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return ""


class RangedDownload:
    """The state of one resumable read of ``req``'s body.

    :attr:`offset`: bytes handed to the caller so far. :attr:`total`: the body's size once an
    answer announced it (``Content-Length`` of a 200, the size in a 206's ``Content-Range``).
    """

    def __init__(self, req: routes.ApiRequest) -> None:
        self.req = req
        self.offset = 0
        self.total: int | None = None
        self._skip = 0

    def next_request(self) -> routes.ApiRequest | None:
        """The request for the bytes not yet read, or None when the announced size was read.

        ``Accept-Encoding: identity``: the offset, ``Range`` and ``Content-Length`` must all
        count the same (undecoded) bytes.
        """
        if self.total is not None and self.offset >= self.total:
            return None
        headers = {**self.req.headers, "Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        return dataclasses.replace(self.req, headers=headers)

    def opened(self, status: int, headers: Mapping[str, str]) -> bool:
        """Read an answer's status and headers; False when it has nothing more to give (416).

        A 206 starts where its ``Content-Range`` says; a 200 is the whole body again, so the
        bytes already handed over are skipped.

        :raises GeminiApiError: a 206 whose ``Content-Range`` is unreadable or starts past
            :attr:`offset` (bytes would be missing).
        """
        if status == 416:  # nothing at or past the offset: all was read
            return False
        if status == 206:
            match = _CONTENT_RANGE.match(_header(headers, "Content-Range"))
            if match is None or int(match.group(1)) > self.offset:
                raise GeminiApiError(
                    http_status=206,
                    status=None,
                    message=(
                        f"a resumed download answered Content-Range "
                        f"{_header(headers, 'Content-Range') or None!r} for bytes from {self.offset}"
                    ),
                    resource=self.req.resource,
                    method=self.req.what,
                )
            if match.group(3).isdigit():
                self.total = int(match.group(3))
            self._skip = self.offset - int(match.group(1))
            return True
        length = _header(headers, "Content-Length")
        if length.isdigit():
            self.total = int(length)
        self._skip = self.offset
        return True

    def take(self, block: bytes) -> bytes:
        """The part of ``block`` (the answer's next bytes) not handed over before; may be empty."""
        if self._skip:
            dropped = min(self._skip, len(block))
            block, self._skip = block[dropped:], self._skip - dropped
        self.offset += len(block)
        return block

    def ended(self, status: int) -> None:
        """The answer's body ended.

        :raises GeminiApiError: it ended before reaching the bytes already read (the file
            changed on the server; not worth retrying).
        :raises GeminiTransportError: it ended before the announced size (cut off; retryable:
            the next request asks for the rest).
        """
        if self._skip:
            raise GeminiApiError(
                http_status=status,
                status=None,
                message=(
                    f"the body read again is shorter than the {self.offset} bytes read before; "
                    "the file changed on the server"
                ),
                resource=self.req.resource,
                method=self.req.what,
            )
        if self.total is not None and self.offset < self.total:
            raise GeminiTransportError(
                f"{self.req.what} was cut off after {self.offset} of {self.total} bytes.", sent=True
            )
