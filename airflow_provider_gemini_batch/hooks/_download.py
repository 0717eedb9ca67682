"""The sync hook's side of a resumable download: the I/O around ``_core/download_flow.py``.

Protocol: HTTP range requests (RFC 9110 section 14) on the Files API's ``alt=media`` download
(https://ai.google.dev/api/files), decided by
:class:`~airflow_provider_gemini_batch._core.download_flow.RangedDownload` (what to ask, which
bytes to keep, when the body is whole). This module sends with the hook's transport, reads each
answer at a minimum rate (``hooks/_sync_reads.iter_body``) and retries under the connection's
policy, renewing the budget each time the caller takes a block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import requests

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.download_flow import ACCEPT, RangedDownload
from airflow_provider_gemini_batch._core.retry import RetryBudget
from airflow_provider_gemini_batch.hooks._sync_reads import iter_body

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


def stream_body(hook: GeminiBatchHook, req: routes.ApiRequest) -> Iterator[bytes]:
    """The body of the GET ``req`` as one seamless byte stream, resumed across cut connections.

    One retry loop (the connection's policy) covers opening and reading. After a failure the
    request is sent again for the bytes not yet yielded (see ``RangedDownload``). Each yielded
    block renews the retry budget *when the caller asks for the next one*, so the caller's time
    between blocks (a slow consumer) never counts against the deadline, and only failures without
    new bytes count as retries.

    :raises GeminiTransportError: the body could not be completed within the retry budget.
    :raises GeminiApiError: a resumed body is shorter than what was already read (the file
        changed), or the answer arrives too slowly (``iter_body``).
    """
    budget = RetryBudget()
    download = RangedDownload(req)

    def attempt() -> Iterator[bytes]:
        ranged = download.next_request()
        if ranged is None:
            return
        response = hook._send_once(ranged, stream=True, accept=ACCEPT)
        with response:
            if not download.opened(response.status_code, response.headers):
                return
            for block in read_blocks(hook, response, req):
                block = download.take(block)
                if not block:
                    continue
                yield block
                budget.renew()  # new bytes were taken by the caller: progress
            download.ended(response.status_code)

    for retry_attempt in hook.policy.retrying(idempotent=True, what=req.what, budget=budget):
        with retry_attempt:
            yield from attempt()


def read_blocks(
    hook: GeminiBatchHook, response: requests.Response, req: routes.ApiRequest
) -> Iterator[bytes]:
    """The body's blocks as they arrive, at a minimum rate over spans of the connection's
    ``timeout`` (``hooks/_sync_reads.iter_body``: a total deadline makes no sense for 2 GB)."""
    return iter_body(
        response,
        req,
        window=max(hook.settings.timeout, 1.0),
        conn_id=hook.gemini_conn_id,
        secrets=hook._secrets(),
    )
