"""One read of a batch through the sync hook, for the page (never raises, never leaks secrets).

The API server reads the connection like any Airflow component does (secrets backend, environment,
metadata DB) and asks the API once: a page that hangs through a five-minute retry budget helps
nobody, and the page refreshes itself anyway. What goes wrong becomes a fixed sentence chosen by
the exception's *type*: the exception's text is never shown, because an error from a transport
library may quote a URL or header (the hook redacts what it knows, but a page is no place to rely
on that).

A page view must never hold the API server: the read runs on this module's own small thread pool
(:class:`LiveReader`), never on the thread pool Airflow's own sync routes share, and the page waits
for it at most :data:`PAGE_READ_SECONDS` whatever the connection's ``timeout`` says. Reads are
shared: page loads of one batch within :data:`CACHE_SECONDS` (and while one read is in flight) get
the same answer, so many viewers of one batch cost one read upstream.

A read of an ended batch with a responses file also asks the Files API for that file, inside the
same read (the same thread, the same overall bound, the same cache entry): the file expires or
may be deleted while the batch record stays, and the page must not offer what is gone. The Files
API answers a gone file with 404 or with 403 PERMISSION_DENIED "... or it may not exist" (see
``_core/errors.py``), both read by the hook as ``GeminiNotFoundError``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

_A = TypeVar("_A")
_T = TypeVar("_T")

#: Most seconds a page waits for the live read, whatever the connection's timeout (the page then
#: shows what the tasks recorded and says the API did not answer in time).
PAGE_READ_SECONDS = 4.0
#: Seconds a finished read (answer or problem) serves further page loads of the same batch.
CACHE_SECONDS = 5.0
#: Batches whose last read is remembered (oldest forgotten first).
CACHE_ENTRIES = 256
#: Threads of the page's own pool: reads of this many distinct batches run at once; more wait.
READ_THREADS = 4
#: Threads of the page's metadata reads (XComs, serialized DAG).
DB_THREADS = 2


#: Least seconds left of a read's bound worth spending on the responses file's metadata.
FILE_CHECK_MIN_SECONDS = 0.2


@dataclass(frozen=True)
class LiveRead:
    """The batch as the API describes it now, or why it could not be read.

    :param file_gone: True when the Files API says the batch's responses file is gone (deleted or
        expired), False when it still has it, None when it was not asked or did not answer.
    :param file_expires: the responses file's ``expirationTime`` (UTC) when the API gave one.
    """

    batch: Batch | None = None
    problem: str | None = None
    file_gone: bool | None = None
    file_expires: datetime | None = None


def read_batch(conn_id: str, batch_name: str, *, timeout: float = PAGE_READ_SECONDS) -> LiveRead:
    """``GET`` ``batch_name`` once through ``GeminiBatchHook(conn_id)``; never raises.

    :param timeout: cap in seconds of the whole read: the hook's per-request timeout and retry
        deadline (the connection's own values apply when smaller), the responses file's check
        included (it gets what is left of the bound).
    """
    from airflow_provider_gemini_batch.exceptions import (
        GeminiApiError,
        GeminiConnectionConfigError,
        GeminiNotFoundError,
        GeminiTransportError,
    )
    from airflow_provider_gemini_batch.hooks.vertex import hook_for

    deadline = time.monotonic() + timeout
    try:
        # The Vertex AI hook for a connection on that backend (reads the connection).
        hook = hook_for(conn_id)
        _bound(hook, timeout)
        batch = hook.get_batch(batch_name, light=True)
    except GeminiNotFoundError:
        return LiveRead(
            problem="The Gemini API no longer knows this batch (deleted, expired from the API, "
            "or created with another key). What the tasks recorded is shown below."
        )
    except GeminiConnectionConfigError:
        return LiveRead(
            problem=f"The Airflow connection {conn_id!r} is missing or incomplete on the API server, "
            "so the batch could not be read live."
        )
    except GeminiApiError as exc:
        # The status code and Google status word are safe to show; the message is not shown.
        word = f" {exc.status}" if exc.status and re.fullmatch(r"[A-Z_]{1,40}", exc.status) else ""
        return LiveRead(
            problem=f"The Gemini API answered HTTP {int(exc.http_status)}{word} for this batch; "
            "the task log says more."
        )
    except GeminiTransportError:
        return LiveRead(problem="The Gemini API could not be reached from the API server; retrying.")
    except Exception as exc:  # the page must render whatever happens; the type only, never the text
        return LiveRead(problem=f"The batch could not be read ({type(exc).__name__}).")
    if not (batch.done and batch.responses_file) or batch.responses_file.startswith(("gs://", "bq://")):
        # A Vertex job's output is a Cloud Storage folder or a BigQuery table, not a Files API file.
        return LiveRead(batch=batch)
    return _with_file_check(hook, batch, deadline - time.monotonic())


def _bound(hook: GeminiBatchHook, seconds: float) -> None:
    """One attempt, bounded by ``seconds``: the page refreshes, it does not wait."""
    settings = hook.settings
    hook.settings = dataclasses.replace(
        settings,
        timeout=min(settings.timeout, seconds),
        max_retries=0,
        retry_deadline=min(settings.retry_deadline, seconds),
    )
    hook.policy = RetryPolicy(max_retries=0)


def _with_file_check(hook: GeminiBatchHook, batch: Batch, seconds: float) -> LiveRead:
    """``batch`` with whether its responses file still exists (asked within ``seconds``)."""
    from airflow_provider_gemini_batch.exceptions import GeminiNotFoundError

    if seconds < FILE_CHECK_MIN_SECONDS or not batch.responses_file:
        return LiveRead(batch=batch)
    try:
        _bound(hook, seconds)
        info = hook.get_file(batch.responses_file)
    except GeminiNotFoundError:
        return LiveRead(batch=batch, file_gone=True)
    except Exception:  # unknown is shown as the bare name; the batch itself was read
        return LiveRead(batch=batch)
    return LiveRead(batch=batch, file_gone=False, file_expires=info.expiration_time)


def _too_slow(seconds: float) -> LiveRead:
    return LiveRead(
        problem=f"The Gemini API did not answer within {seconds:g} s; what the tasks recorded is "
        "shown below (the page tries again on its next refresh)."
    )


class LiveReader:
    """Bounded, shared live reads: own thread pool, per-batch TTL cache, in-flight sharing.

    :param wait_seconds: most seconds :meth:`read` waits (default :data:`PAGE_READ_SECONDS`).
    :param cache_seconds: seconds a finished read is reused (default :data:`CACHE_SECONDS`).
    :param entries: bound of remembered batches (default :data:`CACHE_ENTRIES`).
    :param threads: size of the pool (default :data:`READ_THREADS`).
    """

    def __init__(
        self,
        *,
        wait_seconds: float = PAGE_READ_SECONDS,
        cache_seconds: float = CACHE_SECONDS,
        entries: int = CACHE_ENTRIES,
        threads: int = READ_THREADS,
    ) -> None:
        self.wait_seconds = wait_seconds
        self.cache_seconds = cache_seconds
        self.entries = entries
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="gemini-batch-page")
        # Metadata reads get threads of their own: API reads stuck on a silent upstream must not
        # queue them.
        self._db_pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="gemini-batch-page-db")
        self._lock = threading.Lock()
        # (conn_id, batch_name) -> (monotonic time the read started, its future)
        self._reads: OrderedDict[tuple[str, str], tuple[float, Future[LiveRead]]] = OrderedDict()

    def _future(self, key: tuple[str, str]) -> Future[LiveRead]:
        now = time.monotonic()
        with self._lock:
            found = self._reads.get(key)
            if found is not None:
                started, future = found
                # In flight: share it. Done: reuse it while fresh.
                if not future.done() or now - started < self.cache_seconds:
                    return future
            future = self._pool.submit(read_batch, key[0], key[1], timeout=self.wait_seconds)
            self._reads[key] = (now, future)
            self._reads.move_to_end(key)
            while len(self._reads) > self.entries:
                self._reads.popitem(last=False)
            return future

    async def run(self, fn: Callable[[_A], _T], arg: _A) -> _T:
        """``fn(arg)`` on the page's metadata pool (a short database read)."""
        return await asyncio.wrap_future(self._db_pool.submit(fn, arg))

    async def read(self, conn_id: str, batch_name: str) -> LiveRead:
        """The batch as read now (or recently), or a problem; waits at most ``wait_seconds``."""
        future = self._future((conn_id, batch_name))
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.wait_seconds)
        except asyncio.TimeoutError:
            return _too_slow(self.wait_seconds)

    def shutdown(self) -> None:
        """Stop the pool without waiting for reads in flight."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._db_pool.shutdown(wait=False, cancel_futures=True)
