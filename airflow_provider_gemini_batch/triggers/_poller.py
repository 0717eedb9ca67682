"""One shared poller per (event loop, connection): many waiting triggers, few requests.

Why: a poll is one HTTP exchange of ~200 ms against the real API and a loop admits a few in flight
per origin (``MAX_CONCURRENT_POLLS``), i.e. ~40 polls/s; 10,000 triggers at a 60 s interval need ~170/s.
``batches.list`` returns many batches in one answer (key ``operations``, REST reference; newest first,
as the emulator lists them), and with the ``fields`` mask of a poll (:data:`routes.LIST_FIELDS`)
each operation on a page is exactly what a light GET would have returned. So when many triggers of
one connection wait at once, their reads are served by walking the list, and only the batches not
found within a bounded number of pages are read one by one with GET.

Shapes and rules:

* a trigger calls :meth:`SharedPoller.read` when its poll is due and awaits the batch (or the
  error) - it never holds a poll slot while it sleeps or backs off: retrying stays the trigger's;
* with fewer than :data:`SHARED_LIST_MIN_WAITS` triggers waiting on the connection, or for a full
  read, ``read`` is a plain GET under the loop's poll slot (the behaviour of a lone trigger);
* otherwise the read joins the pending set and is answered by the next list page on which its
  batch appears. A walk reads pages one after another (page tokens chain and are opaque, and the
  Gemini API offers no ``filter`` to split the list), so one walk over 10,000 batches at 100 per
  page and 200 ms per page takes ~20 s: a read asked just after the walk passed its page would
  wait ~20 s. Hence up to :data:`MAX_WALKS` walks run at once, each started at least
  ``duration of the last full walk / MAX_WALKS`` after the previous one: a read waits about that
  long, not a whole walk (measured in ``benchmarks/bench_trigger.py --scenario scale``). Reads of
  one batch by several triggers share one answer. A walk ends when every batch of its round has
  been seen or answered, or after ``1 + 2 * ceil(names / page size)`` pages; the reads of its
  round whose batch was on none of its pages are read with GET (at most ``MAX_CONCURRENT_POLLS``
  at once); a batch seen on a page but asked again after the walk passed it waits for the next walk;
* a list page that fails answers that failure to the round's reads (each trigger then backs off as
  for a failed GET); a GET that fails answers only that batch's reads;
* a page is scanned lightly (``_core/list_page.py``): only the names of its operations are read,
  and a :class:`Batch` is built only for an operation some read waits for. When that operation's
  JSON (listed, or read with GET) equals the one the batch's last :class:`Batch` was built from,
  that same object is answered again: a batch that did not change costs no new objects, so a
  poll of a quiet batch leaves nothing behind for the cyclic garbage collector, whose full passes
  over a heap of 10,000 waits are the longest loop stalls left (``bench_trigger``: ``gc_pauses``);
* answers wake at most :data:`WAKE_CHUNK` triggers per loop turn, a quarter of that when they
  bring news (:data:`NEWS_WEIGHT`), fewer when the woken triggers' turn took longer than
  :data:`WAKE_TURN_BUDGET` (the chunk halves, down to :data:`MIN_WAKE_CHUNK`, and grows back
  when turns are short), so a page answering thousands of waits - all batches ending at once -
  never runs them all in one turn (the loop-stall budget is 50 ms);
* a poller belongs to one loop and one connection id: a failing or hanging connection only delays
  its own walker (which holds at most one poll slot of its origin while listing). Every exchange
  (GET or list page) is bounded in total time (``triggers/_bounds.py``): a server that trickles
  an answer byte by byte gets a retryable timeout after ``2 x`` the connection's timeout (at most
  ``[gemini_batch] max_call_seconds``), so it frees its slot and its round's reads.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import conf

from airflow_provider_gemini_batch._core import names
from airflow_provider_gemini_batch._core.list_page import decode_operation
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import GeminiBatchError
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from airflow_provider_gemini_batch.triggers._bounds import bounded_call, call_seconds, origin_of

#: Triggers waiting on one connection from which reads go through the shared list walk (Airflow
#: config ``[gemini_batch] shared_poll_min_waits``, default 16). Below it each trigger GETs its batch.
SHARED_LIST_MIN_WAITS = conf.getint("gemini_batch", "shared_poll_min_waits", fallback=16)
#: Operations asked per list page (``[gemini_batch] poll_list_page_size``, default 100). The API
#: documents no maximum for ``batches.list``; 100 is the documented ``files.list`` max.
LIST_PAGE_SIZE = conf.getint("gemini_batch", "poll_list_page_size", fallback=100)
#: List walks in flight at once per poller (``[gemini_batch] poll_list_walks``, default 4); each
#: holds at most one poll slot, so the rest stay free for GETs and other connections.
MAX_WALKS = max(1, conf.getint("gemini_batch", "poll_list_walks", fallback=4))
#: Shortest time between the starts of two walks, seconds (before a full walk has been timed).
MIN_WALK_GAP = 1.0
#: Most triggers woken per loop turn when one answer serves many (keeps each turn short).
WAKE_CHUNK = 64
#: Smallest chunk (the chunk shrinks to this when woken triggers are slow): 4 triggers with news
#: per turn, so pacing never makes 10,000 ends take 10,000 turns.
MIN_WAKE_CHUNK = 16
#: What waking a trigger with news (its batch changed, or its read failed) counts for in a chunk,
#: against 1 for a batch that did not change: a trigger with news logs a line and may fire its
#: event and end (~0.3-1 ms on the loop), one without only sleeps again (~20 us). So at most
#: WAKE_CHUNK / NEWS_WEIGHT = 16 triggers with news run in one turn - the moment every batch ends
#: at once included - before the pacer has measured anything.
NEWS_WEIGHT = 4
#: Seconds of the loop thread's CPU the triggers woken in one turn may take before the next chunk
#: is halved. A woken trigger that only sleeps again costs ~20 us; one whose batch ended logs,
#: builds its event and is torn down by the triggerer (~0.3-1 ms), which is what it is sized for.
#: CPU time, not wall time: on a busy machine the OS deschedules the process, which pacing
#: cannot help and must not mistake for costly triggers.
WAKE_TURN_BUDGET = 0.010
#: Tasks reading the leftovers of a round with GET (the loop's poll slots bound them further).
GET_WORKERS = 8
#: A round with at most this many batches is read with GETs (a list page costs as much as a GET).
FEW_NAMES = 2

#: Returns the running loop's poll semaphore of an origin (``scheme://host:port``).
SlotFactory = Callable[[str], asyncio.Semaphore]


class SharedPoller:
    """Reads batches for the triggers of one connection on one event loop (see module docstring).

    :param gemini_conn_id: the connection all its triggers use.
    :param poll_slot: returns the loop's poll semaphore of an origin (held for one HTTP exchange
        at a time, each exchange bounded in total time by :func:`~._bounds.call_seconds`).
    """

    def __init__(self, gemini_conn_id: str, poll_slot: SlotFactory) -> None:
        self.gemini_conn_id = gemini_conn_id
        self.hook = GeminiBatchAsyncHook(gemini_conn_id=gemini_conn_id, retry=False)
        self._slot = poll_slot
        #: triggers using this poller (between their first read and their cleanup).
        self.users = 0
        #: triggers currently inside their wait loop.
        self.active = 0
        self._pending: dict[str, list[asyncio.Future[Batch]]] = {}
        self._walks: set[asyncio.Task[None]] = set()
        self._last_walk_start = float("-inf")
        #: seconds the last walk that went through its whole round took (sets the gap between walks).
        self.walk_seconds = 0.0
        self._closing = False
        #: requests sent by this poller, by kind (``get``, ``list``), for tests and benchmarks.
        self.sent: dict[str, int] = {"get": 0, "list": 0}
        #: the last Batch answered per batch name, while some trigger still holds it.
        self._seen: weakref.WeakValueDictionary[str, Batch] = weakref.WeakValueDictionary()
        self._pacer = WakePacer()

    async def read(self, batch_name: str, *, light: bool) -> Batch:
        """The batch as the service reports it now (light: :data:`routes.POLL_FIELDS`).

        :raises GeminiBatchError: the read failed (the caller decides whether to retry).
        """
        if not light or self.active < SHARED_LIST_MIN_WAITS or not batch_name.startswith("batches/"):
            # Only Gemini API batches are read from the shared list walk; a Vertex AI job
            # (``projects/.../batchPredictionJobs/...``) is read with its own GET.
            return await self._get(batch_name, light=light)
        name = names.normalize_batch_name(batch_name)
        future: asyncio.Future[Batch] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(name, []).append(future)
        self._maybe_start_walk()
        try:
            return await future
        finally:
            if not future.done() or future.cancelled():
                self._forget(name, future)

    async def _get(self, batch_name: str, *, light: bool) -> Batch:
        # The slot (of the connection's origin) covers this one HTTP exchange (the hook does not
        # retry), which is bounded in total time: a trickling answer frees the slot after
        # call_seconds(timeout) with a retryable timeout, not never.
        settings = await self.hook.get_settings()
        async with self._slot(origin_of(settings.base_url)):
            self.sent["get"] += 1
            return await bounded_call(
                self.hook.get_batch(batch_name, light=light),
                call_seconds(settings.timeout),
                what=f"Getting {batch_name}",
                timeout=settings.timeout,
            )

    def _forget(self, name: str, future: asyncio.Future[Batch]) -> None:
        waiting = self._pending.get(name)
        if waiting is not None and future in waiting:
            waiting.remove(future)
            if not waiting:
                del self._pending[name]

    async def _answer(self, name: str, result: Batch | BaseException, *, news: bool = True) -> None:
        """Resolve every pending read of ``name``; wakes are paced by :class:`WakePacer`.

        ``news``: the batch changed since it was last answered (or the read failed), so the woken
        triggers will log (and may end): they weigh :data:`NEWS_WEIGHT` in the pacer's chunk.
        """
        weight = NEWS_WEIGHT if news else 1
        for future in self._pending.pop(name, ()):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
            await self._pacer.woke(weight)

    def _unchanged(self, name: str, op: Mapping[str, Any]) -> Batch | None:
        """The Batch last answered for ``name`` if it was built from this same operation JSON."""
        previous = self._seen.get(name)
        return previous if previous is not None and previous.raw == op else None

    def _remember(self, name: str, batch: Batch) -> Batch:
        """Keep ``batch`` as the last answer for ``name`` (while some trigger holds it); return it."""
        self._seen[name] = batch
        return batch

    def _maybe_start_walk(self) -> None:
        """Start a walk if none runs, or if the last started long enough ago and fewer than MAX_WALKS run."""
        if self._closing:
            return
        now = asyncio.get_running_loop().time()
        if self._walks:
            if len(self._walks) >= MAX_WALKS:
                return
            if now - self._last_walk_start < max(MIN_WALK_GAP, self.walk_seconds / MAX_WALKS):
                return
        self._last_walk_start = now
        walk = asyncio.ensure_future(self._walk())
        self._walks.add(walk)
        walk.add_done_callback(self._walks.discard)

    async def _walk(self) -> None:
        """Serve the reads pending now (one round); the last walk to end starts another if reads remain."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            round_names = set(self._pending)
            unseen = round_names
            if len(round_names) > FEW_NAMES:
                unseen, complete = await self._list_round(round_names)
                if complete:
                    self.walk_seconds = loop.time() - started
            await self._get_each([n for n in unseen if n in self._pending])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave triggers waiting forever
            for name in list(self._pending):
                await self._answer(name, exc)
        current = asyncio.current_task()
        if current is not None:
            self._walks.discard(current)
        if self._pending and not self._walks:
            self._maybe_start_walk()

    async def _list_round(self, round_names: set[str]) -> tuple[set[str], bool]:
        """Walk list pages until every batch of the round was seen or answered, or the budget is spent.

        Returns the round's batches seen on no page, and whether the walk went through its whole
        round (its duration then sets the gap between walks).
        """
        page_size = max(1, LIST_PAGE_SIZE)
        max_pages = 1 + 2 * math.ceil(len(round_names) / page_size)
        unseen = set(round_names)
        token: str | None = None
        pending = self._pending
        for _ in range(max_pages):
            try:
                settings = await self.hook.get_settings()
                async with self._slot(origin_of(settings.base_url)):
                    self.sent["list"] += 1
                    page = await bounded_call(
                        self.hook.list_operations_page(token, page_size=page_size, light=True),
                        call_seconds(settings.timeout),
                        what="Listing batches",
                        timeout=settings.timeout,
                    )
            except GeminiBatchError as exc:
                # The connection is failing: every read of the round gets the failure and its
                # trigger backs off (a GET per batch now would multiply the load on a sick service).
                for name in round_names:
                    await self._answer(name, exc)
                return set(), False
            token = page.next_page_token
            for name, raw in page.items:
                unseen.discard(name)
                if name in pending:
                    op = decode_operation(raw)
                    same = self._unchanged(name, op)
                    if same is not None:
                        await self._answer(name, same, news=False)
                    else:
                        await self._answer(name, self._remember(name, Batch.from_operation(op)))
            if token is None:
                return unseen, True
            if unseen.isdisjoint(pending):
                return unseen, True
        return unseen, False

    async def _get_each(self, batch_names: list[str]) -> None:
        """GET each batch (light), at most as many at once as the loop has poll slots."""
        if not batch_names:
            return
        todo = deque(batch_names)

        async def worker() -> None:
            while todo:
                name = todo.popleft()
                if name not in self._pending:
                    continue
                try:
                    got = await self._get(name, light=True)
                except GeminiBatchError as exc:
                    await self._answer(name, exc)
                    continue
                same = self._unchanged(name, got.raw)
                if same is not None:
                    await self._answer(name, same, news=False)
                else:
                    await self._answer(name, self._remember(name, got))

        # The poll slots bound what is in flight; the workers only need to be enough to fill them.
        workers = min(len(todo), GET_WORKERS)
        await asyncio.gather(*(worker() for _ in range(workers)))

    async def aclose(self) -> None:
        """Stop the walks and release the connection's client."""
        self._closing = True
        walks = [walk for walk in self._walks if not walk.done()]
        for walk in walks:
            walk.cancel()
        if walks:
            # asyncio.wait does not raise the walks' CancelledError; ours (if any) propagates.
            await asyncio.wait(walks)
        await self.hook.aclose()


class WakePacer:
    """Yields the loop after every ``chunk`` wakes; the chunk adapts to what the woken triggers cost.

    Resolving a read's future only schedules its trigger: the trigger runs in the next loop turn,
    together with the others woken since the last yield. The time :meth:`woke` spends in its
    ``sleep(0)`` is that turn, so the loop thread's CPU time over it measures the woken triggers'
    cost directly: above :data:`WAKE_TURN_BUDGET` the chunk halves (not below
    :data:`MIN_WAKE_CHUNK`), under a quarter of it the chunk doubles (not above
    :data:`WAKE_CHUNK`). Wakes count by weight: a trigger woken with news counts
    :data:`NEWS_WEIGHT`, one whose batch did not change counts 1.
    """

    def __init__(self) -> None:
        self.chunk = WAKE_CHUNK
        self._count = 0

    async def woke(self, weight: int = 1) -> None:
        """Count one wake of ``weight`` (:data:`NEWS_WEIGHT` for news); at the end of a chunk,
        yield the loop and adapt the chunk."""
        self._count += weight
        if self._count < self.chunk:
            return
        self._count = 0
        before = time.thread_time()
        await asyncio.sleep(0)
        spent = time.thread_time() - before
        if spent > WAKE_TURN_BUDGET:
            self.chunk = max(MIN_WAKE_CHUNK, self.chunk // 2)
        elif spent < WAKE_TURN_BUDGET / 4:
            self.chunk = min(WAKE_CHUNK, self.chunk * 2)


_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedPoller]] = (
    weakref.WeakKeyDictionary()
)


def poller_for(gemini_conn_id: str, poll_slot: SlotFactory) -> SharedPoller:
    """The running loop's poller of ``gemini_conn_id`` (created on first use); counts a user."""
    loop = asyncio.get_running_loop()
    mine = _POLLERS.setdefault(loop, {})
    poller = mine.get(gemini_conn_id)
    if poller is None:
        poller = mine[gemini_conn_id] = SharedPoller(gemini_conn_id, poll_slot)
    poller.users += 1
    return poller


async def release_poller(poller: SharedPoller) -> None:
    """Drop one user; the last one closes the poller (and forgets it, so a new one starts fresh)."""
    poller.users -= 1
    if poller.users > 0:
        return
    try:
        mine: dict[str, Any] | None = _POLLERS.get(asyncio.get_running_loop())
    except RuntimeError:
        mine = None
    if mine is not None and mine.get(poller.gemini_conn_id) is poller:
        del mine[poller.gemini_conn_id]
    await poller.aclose()
