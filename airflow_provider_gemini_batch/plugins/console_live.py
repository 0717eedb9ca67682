"""The API's batch list per connection, for the console's live states: bounded, cached, shared.

One read walks at most :data:`LIST_PAGES` pages of ``batches.list`` (``GET /v1beta/batches``; the
list key is ``operations``, REST reference ``batches.list``) with the hook's light field mask, each
request bounded like the batch page's live read (``live._bound``: the connection's timeout and
retry deadline capped to :data:`READ_SECONDS`, no retry), and stops at :data:`READ_SECONDS` in
all. What it read is kept per connection for :data:`CACHE_SECONDS`: any number of console loads
of any number of viewers cost one list read per connection and period. Reads run on this module's
own two threads, never on Airflow's shared pool, and the console waits for them at most
:data:`WAIT_SECONDS` together; a read still going fills the cache for the next load.

The connection ids come from the tasks' definitions in the serialized DAGs (``definition.py``),
never from XCom. What goes wrong is a fixed phrase chosen by the exception's type (as in
``live.py``): no exception text reaches the page. The connections whose read failed are named in
one notice (:func:`live_notice`: grouped by reason, at most :data:`NAMED` names), whatever their
number. Turn the reads off with ``[gemini_batch] console_live_state = False``; the console then
shows what the tasks recorded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

from airflow_provider_gemini_batch.plugins.console_rows import LiveBatch

#: Pages of the list one read walks at most (100 batches a page: the hook's page size).
LIST_PAGES = 5
#: Most seconds one list read takes (requests included), whatever the connection says.
READ_SECONDS = 4.0
#: Most seconds a console load waits for the list reads of its connections, together.
WAIT_SECONDS = 4.0
#: Seconds a finished list read serves further loads.
CACHE_SECONDS = 30.0
#: Connections whose last read is remembered.
CACHE_ENTRIES = 64
THREADS = 2
#: Connections one notice names at most; the others are counted ("and 3 more").
NAMED = 5

#: Why a list read gave nothing, as the notice says it (the config one gets its own advice).
MISSING = "missing or incomplete on the API server"
UNREACHABLE = "the Gemini API could not be reached"


@dataclass(frozen=True)
class ListRead:
    """The batches one list read saw (``name -> LiveBatch``), or why it saw none.

    ``reason`` is a short fixed phrase (:data:`MISSING`, :data:`UNREACHABLE`, ``"answered HTTP
    403"``...), never exception text; :func:`live_notice` puts it after the connection's name.
    """

    batches: Mapping[str, LiveBatch] = field(default_factory=dict)
    reason: str | None = None
    partial: bool = False


def _live(batch: object) -> LiveBatch:
    from airflow_provider_gemini_batch._core.models import Batch

    assert isinstance(batch, Batch)
    return LiveBatch(
        state=batch.state.short,
        done=batch.done,
        display_name=batch.display_name,
        stats={k: v for k, v in batch.stats.to_json().items() if isinstance(v, int)},
        create_time=batch.create_time,
        update_time=batch.update_time,
        end_time=batch.end_time,
    )


def read_list(conn_id: str, *, pages: int = LIST_PAGES, seconds: float = READ_SECONDS) -> ListRead:
    """Read up to ``pages`` pages of the connection's batch list within ``seconds``; never raises."""
    from airflow_provider_gemini_batch.exceptions import (
        GeminiApiError,
        GeminiConnectionConfigError,
        GeminiTransportError,
    )
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
    from airflow_provider_gemini_batch.plugins.live import _bound

    deadline = time.monotonic() + seconds
    out: dict[str, LiveBatch] = {}
    try:
        hook = GeminiBatchHook(gemini_conn_id=conn_id)
        _bound(hook, seconds)
        hook.max_list_pages = pages
        for batch in islice(hook.list_batches(light=True), pages * hook.list_page_size):
            if batch.name:
                out[batch.name] = _live(batch)
            if time.monotonic() > deadline:
                return ListRead(out, partial=True)
    except GeminiConnectionConfigError:
        return ListRead(out, MISSING)
    except GeminiApiError as exc:
        if exc.http_status == 200 and out:  # the page bound: more pages than one read walks
            return ListRead(out, partial=True)
        return ListRead(out, f"the Gemini API answered HTTP {int(exc.http_status)}")
    except GeminiTransportError:
        return ListRead(out, UNREACHABLE)
    except Exception as exc:  # the console renders whatever happens; the type only, never the text
        return ListRead(out, f"the list could not be read ({type(exc).__name__})")
    return ListRead(out)


class ListReader:
    """Per-connection list reads on an own pool, cached and shared while in flight."""

    def __init__(self, *, cache_seconds: float = CACHE_SECONDS, wait_seconds: float = WAIT_SECONDS) -> None:
        self.cache_seconds = cache_seconds
        self.wait_seconds = wait_seconds
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="gemini-batch-console")
        self._lock = threading.Lock()
        self._reads: OrderedDict[str, tuple[float, Future[ListRead]]] = OrderedDict()

    def _future(self, conn_id: str) -> Future[ListRead]:
        now = time.monotonic()
        with self._lock:
            found = self._reads.get(conn_id)
            if found is not None and (not found[1].done() or now - found[0] < self.cache_seconds):
                return found[1]
            future = self._pool.submit(read_list, conn_id)
            self._reads[conn_id] = (now, future)
            self._reads.move_to_end(conn_id)
            while len(self._reads) > CACHE_ENTRIES:
                self._reads.popitem(last=False)
            return future

    async def read(self, conn_ids: Iterable[str]) -> dict[str, ListRead]:
        """The reads of ``conn_ids`` that finished within ``wait_seconds`` (the others: a reason)."""
        futures = {conn_id: self._future(conn_id) for conn_id in sorted(set(conn_ids))}
        if not futures:
            return {}
        waiting = [asyncio.shield(asyncio.wrap_future(f)) for f in futures.values()]
        await asyncio.wait(waiting, timeout=self.wait_seconds)
        out = {}
        for conn_id, future in futures.items():
            if future.done() and not future.cancelled():
                out[conn_id] = future.result()
            else:
                out[conn_id] = ListRead(reason=f"no answer within {self.wait_seconds:g} s")
        return out

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def live_notice(reads: Mapping[str, ListRead], named: int = NAMED) -> str | None:
    """One sentence for every connection whose list read failed, or None when none did.

    The connections are grouped by reason (the largest group first) and at most ``named`` of them
    are named, the rest counted: ``"Live states are not shown for 12 connections: 'a', 'b'
    (missing or incomplete on the API server); 'c' (the Gemini API could not be reached), and 9
    more. ..."``, then what the viewer can do. Plain text: the page escapes it.
    """
    groups: dict[str, list[str]] = {}
    for conn_id in sorted(reads):
        reason = reads[conn_id].reason
        if reason:
            groups.setdefault(reason, []).append(conn_id)
    if not groups:
        return None
    failed = sum(len(conns) for conns in groups.values())
    parts, left = [], named
    for reason, conns in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        shown = conns[: max(left, 0)]
        left -= len(shown)
        if shown:
            parts.append(f"{', '.join(repr(c) for c in shown)} ({reason})")
    more = failed - min(failed, named)
    noun = "connection" if failed == 1 else "connections"
    advice = []
    if MISSING in groups:
        advice.append(
            "define the connections on the API server too (the console reads them there, not on the workers)"
        )
    if len(groups) > (MISSING in groups):
        advice.append("check that the API server can reach the Gemini API")
    advice.append("or turn live states off with [gemini_batch] console_live_state = False")
    return (
        f"Live states are not shown for {failed} {noun}: {'; '.join(parts)}"
        f"{f', and {more} more' if more else ''}. Their batches show the "
        f"state their tasks recorded. Live states are optional: {', '.join(advice)}."
    )
