"""Time bounds of the triggerer's HTTP calls and waits (shared by the trigger and its poller).

Why: the connection's ``timeout`` is handed to httpx, which applies it to each socket operation
(connect, each read), not to a whole answer; a server that trickles one byte a second keeps a
call alive for ever. In the triggerer that call would hold its origin's poll slot and its
trigger's wait past ``end_time``. So every call made here is bounded in total time
(:func:`call_seconds`: twice the connection's timeout, one for connecting and one for the answer,
capped by :data:`MAX_CALL_SECONDS`), and each trigger's wait for a read is bounded by its own
deadline (:func:`within`), whatever the call underneath is doing.

Poll slots are per origin (scheme, host, port; :func:`origin_of`): the slots bound what is in
flight in one connection pool (``hooks/gemini_batch_async.py`` shares one httpx client per base
URL), which is what they exist for, and a sick upstream then holds only its own slots.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import conf

from airflow_provider_gemini_batch.exceptions import GeminiTransportError

T = TypeVar("T")

#: Longest one HTTP call of the triggerer may take in total, seconds (Airflow config
#: ``[gemini_batch] max_call_seconds``, default 120): the cap of :func:`call_seconds`.
MAX_CALL_SECONDS = conf.getfloat("gemini_batch", "max_call_seconds", fallback=120.0)


def call_seconds(timeout: float) -> float:
    """Total time allowed to one call on a connection whose (per-read) ``timeout`` is given, seconds:
    ``min(2 * timeout, MAX_CALL_SECONDS)`` (one timeout to connect, one for the whole answer)."""
    return max(0.001, min(2.0 * timeout, MAX_CALL_SECONDS))


def origin_of(base_url: str) -> str:
    """``scheme://host:port`` of a connection's base URL (userinfo and path dropped), lower-cased."""
    parts = urlsplit(base_url)
    scheme = (parts.scheme or "https").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


class TimeLimitReached(Exception):
    """The time :func:`within` allowed ran out (and the awaited call was cancelled).

    Its own type, not :class:`TimeoutError`: a ``TimeoutError`` raised *inside* the call is not
    this limit and must not be taken for it.
    """


if sys.version_info >= (3, 11):

    async def within(aw: Awaitable[T], seconds: float) -> T:
        """``await aw`` for at most ``seconds``.

        ``asyncio.timeout`` costs one timer handle, not a task: every waiting trigger uses it.

        :raises TimeLimitReached: the time ran out (``aw`` was cancelled).
        """
        limit = asyncio.timeout(max(0.0, seconds))
        try:
            async with limit:
                return await aw
        except TimeoutError:
            if limit.expired():
                raise TimeLimitReached from None
            raise

else:  # pragma: no cover - Python 3.10 has no asyncio.timeout

    async def within(aw: Awaitable[T], seconds: float) -> T:
        """``await aw`` for at most ``seconds``.

        :raises TimeLimitReached: the time ran out (``aw`` was cancelled).
        """
        try:
            return await asyncio.wait_for(aw, max(0.0, seconds))
        except asyncio.TimeoutError:
            raise TimeLimitReached from None


async def bounded_call(aw: Awaitable[T], seconds: float, *, what: str, timeout: float) -> T:
    """``await aw`` (one HTTP call) for at most ``seconds``.

    :param what: the call, as the message names it (``"Getting batches/x"``).
    :param timeout: the connection's per-read timeout, named in the message.
    :raises GeminiTransportError: (``timed_out=True``, retryable for reads) the answer was not
        complete after ``seconds``; the call is cancelled and its connection closed.
    """
    try:
        return await within(aw, seconds)
    except TimeLimitReached:
        raise GeminiTransportError(
            f"{what} timed out: no complete answer within {seconds:g} s (the connection's timeout of "
            f"{timeout:g} s bounds each read, not a whole answer; the server may be sending it "
            "byte by byte).",
            sent=True,
            timed_out=True,
        ) from None
