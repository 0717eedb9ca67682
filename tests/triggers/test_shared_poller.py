"""The shared poller (triggers/_poller.py) and the progress lines.

Many triggers of one connection on one loop are served by ``batches.list`` pages (newest first,
key ``operations``; docs/real-service/wire-format.md, Listing batches) and GETs for the batches the pages did
not show; these tests run
real triggers against the emulator and read its journal to see which requests were sent.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import time
import tracemalloc
from typing import Any

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.triggers import _poller as poller_module
from airflow_provider_gemini_batch.triggers import gemini_batch as trigger_module
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.operators._support import MODEL, inline_requests, sync_hook


def _create(n: int = 1) -> str:
    return str(sync_hook().create_batch(MODEL, requests=inline_requests(n)).name)


async def _event(trigger: GeminiBatchTrigger) -> dict[str, Any]:
    try:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


def _trigger(name: str, conn_id: str = "gemini_batch_default", interval: float = 0.2) -> GeminiBatchTrigger:
    return GeminiBatchTrigger(
        batch_name=name, gemini_conn_id=conn_id, poll_interval=interval, end_time=time.time() + 60
    )


def _requests(emulator: EmulatorServer) -> tuple[int, list[str]]:
    """(list requests, paths of batch GETs) in the journal."""
    journal = emulator.control.journal()
    lists = sum(1 for e in journal if e["method"] == "GET" and e["path"].endswith("/batches"))
    gets = [e["path"] for e in journal if e["method"] == "GET" and "/batches/" in e["path"]]
    return lists, gets


@pytest.fixture
def share_from_four(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads go through the shared list walk from 4 waiting triggers on (default 16)."""
    monkeypatch.setattr(poller_module, "SHARED_LIST_MIN_WAITS", 4)


async def test_many_triggers_share_list_pages_and_each_gets_its_own_event(
    gemini_conn: EmulatorServer, share_from_four: None
) -> None:
    gemini_conn.control.configure(processing_seconds=1.5)
    ok = [_create() for _ in range(30)]
    gemini_conn.control.configure(next_outcome="FAILED")
    failed = _create()
    gemini_conn.control.clear_journal()

    events = await asyncio.wait_for(
        asyncio.gather(*(_event(_trigger(name)) for name in [*ok, failed, ok[0]])), timeout=30
    )

    assert [e["batch_name"] for e in events] == [*ok, failed, ok[0]]
    assert [e["status"] for e in events] == ["success"] * 30 + ["failure", "success"]
    lists, gets = _requests(gemini_conn)
    assert lists >= 1, "the waits were not served by list pages"
    # 32 triggers polling every 0.2 s for ~1.5 s would have sent ~250 GETs one by one.
    assert lists + len(gets) < 100, (lists, len(gets))


async def test_batch_missing_from_the_list_pages_is_still_read_with_get(
    gemini_conn: EmulatorServer, share_from_four: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Newest first: 30 newer batches nobody waits for push the 5 oldest waited ones past the
    page budget (1 + 2 * ceil(20 / 5) = 9 pages of 5); those are read with GET."""
    monkeypatch.setattr(poller_module, "LIST_PAGE_SIZE", 5)
    gemini_conn.control.configure(processing_seconds=1.0)
    waited = [_create() for _ in range(20)]
    gemini_conn.control.configure(processing_seconds=3600)
    for _ in range(30):
        _create()
    gemini_conn.control.clear_journal()

    events = await asyncio.wait_for(asyncio.gather(*(_event(_trigger(n)) for n in waited)), timeout=30)

    assert [e["status"] for e in events] == ["success"] * 20
    lists, gets = _requests(gemini_conn)
    assert lists >= 1
    got = {path.rsplit("/", 1)[-1] for path in gets}
    oldest = {name.rsplit("/", 1)[-1] for name in waited[:5]}
    assert oldest <= got, "the batches beyond the page budget were never read"


async def test_a_hanging_connection_does_not_stall_another_connections_triggers(
    gemini_conn: EmulatorServer, share_from_four: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 triggers of a connection whose server accepts and never answers take one poll slot
    (their walker's list page), not all eight: the other connection's events come at once."""
    held: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv(
        "AIRFLOW_CONN_GEMINI_HANG",
        json.dumps({"conn_type": "gemini_batch", "host": f"http://127.0.0.1:{port}", "password": "k"}),
    )
    gemini_conn.control.configure(processing_seconds=0.2)
    done = [_create() for _ in range(20)]
    await asyncio.sleep(0.5)
    stuck = [asyncio.ensure_future(_event(_trigger(f"batches/hang{i}", "gemini_hang"))) for i in range(20)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    try:
        events = await asyncio.wait_for(asyncio.gather(*(_event(_trigger(n)) for n in done)), timeout=20)
        waited = time.monotonic() - started
    finally:
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
        server.close()
        for writer in held:
            writer.close()
    assert [e["status"] for e in events] == ["success"] * 20
    assert waited < 5, f"the healthy connection's events took {waited:.1f} s"


async def test_cancelling_and_cleaning_up_one_trigger_leaves_the_others_waiting(
    gemini_conn: EmulatorServer, share_from_four: None
) -> None:
    gemini_conn.control.configure(processing_seconds=2.0)
    names = [_create() for _ in range(10)]
    triggers = [_trigger(n) for n in names]
    tasks = [asyncio.ensure_future(_event(t)) for t in triggers]
    await asyncio.sleep(0.5)
    poller = triggers[0]._poller
    assert poller is not None
    assert poller.users == 10
    tasks[3].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[3]
    assert poller.users == 9, "the cancelled trigger's cleanup released the poller"
    events = await asyncio.wait_for(asyncio.gather(*tasks[:3], *tasks[4:]), timeout=30)
    assert [e["status"] for e in events] == ["success"] * 9
    assert poller.users == 0
    assert not poller._pending
    assert poller.hook is not None


async def test_memory_per_waiting_trigger_stays_under_ten_kb(
    gemini_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """< 10 KB per waiting trigger (tracemalloc, after every trigger has polled)."""
    gemini_conn.control.configure(processing_seconds=3600)
    names = [_create() for _ in range(50)]
    n = 500
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.take_snapshot()
        triggers = [_trigger(names[i % 50], interval=60) for i in range(n)]
        tasks = [asyncio.ensure_future(_event(t)) for t in triggers]
        await asyncio.sleep(3)
        gc.collect()
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
    finally:
        tracemalloc.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(t._poller is None for t in triggers)
    assert grown / n < 10 * 1024, f"{grown / n / 1024:.1f} KB per waiting trigger"


async def test_progress_lines_on_count_changes_and_a_rate_limited_heartbeat(
    gemini_conn: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line when the counts change; while nothing changes, at most one heartbeat per
    ``HEARTBEAT_SECONDS`` (10 minutes by default) - here 0.5 s against polls every 0.05 s."""
    monkeypatch.setattr(trigger_module, "HEARTBEAT_SECONDS", 0.5)
    gemini_conn.control.configure(processing_seconds=3600)
    name = _create(4)
    capsys.readouterr()  # Airflow's structlog setup writes log lines to stdout
    trigger = GeminiBatchTrigger(batch_name=name, poll_interval=0.05, end_time=time.time() + 1.8)
    event = await asyncio.wait_for(_event(trigger), timeout=30)
    assert event["status"] == "timeout"
    heartbeats = [line for line in capsys.readouterr().out.splitlines() if "Still waiting for" in line]
    assert 2 <= len(heartbeats) <= 4, heartbeats  # ~1.8 s / 0.5 s, never one per poll (~36 polls)
    assert name in heartbeats[0]
    assert "PENDING" in heartbeats[0]
    # Counts change while the batch runs (the emulator moves requests from pending to done).
    gemini_conn.control.configure(processing_seconds=1.5)
    name = _create(6)
    capsys.readouterr()
    event = await asyncio.wait_for(
        _event(GeminiBatchTrigger(batch_name=name, poll_interval=0.05)), timeout=30
    )
    assert event["status"] == "success"
    out = capsys.readouterr().out.splitlines()
    progress = [line.split("] ", 1)[1] for line in out if f"Batch {name} is" in line]
    assert len(set(progress)) >= 3, progress  # PENDING, counts moving while RUNNING, SUCCEEDED


async def test_a_new_list_walk_starts_while_a_long_one_is_still_under_way(
    gemini_conn: EmulatorServer, share_from_four: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page tokens chain, so one walk over many pages is long (10,000 batches, 100 per page, 200 ms
    each: ~20 s); a read asked just after its page went by must not wait for the whole walk. A
    second walk starts from the first page while the first is still paging: in the journal, the
    page tokens between two first-page requests then stop decreasing (newest first, the emulator's
    tokens name the last sequence number served), as two walks interleave."""
    from airflow_provider_gemini_batch.emulator.backend import decode_token

    monkeypatch.setattr(poller_module, "LIST_PAGE_SIZE", 1)
    monkeypatch.setattr(poller_module, "MIN_WALK_GAP", 0.1, raising=False)
    gemini_conn.control.configure(processing_seconds=2.5)
    waited = [_create() for _ in range(12)]
    gemini_conn.control.configure(latency_seconds=0.05)
    gemini_conn.control.clear_journal()

    events = await asyncio.wait_for(
        asyncio.gather(*(_event(_trigger(n, interval=0.3)) for n in waited)), timeout=60
    )

    assert [e["status"] for e in events] == ["success"] * 12
    journal = gemini_conn.control.journal()
    queries = [e["query"] for e in journal if e["method"] == "GET" and e["path"].endswith("/batches")]
    segments: list[list[int]] = []
    for query in queries:
        token = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("pageToken")
        if token is None:
            segments.append([])
        elif segments:
            segments[-1].append(decode_token(token, "before"))
    interleaved = [s for s in segments if any(b >= a for a, b in itertools.pairwise(s))]
    assert interleaved, f"list walks never overlapped: {segments}"


# --- Quiet polls reuse their Batch; a storm of news is paced per loop turn. ---


async def test_a_batch_that_did_not_change_is_answered_with_the_same_object(
    gemini_conn: EmulatorServer, share_from_four: None
) -> None:
    """A quiet poll must leave nothing behind for the garbage collector (its full passes over a
    heap of 10,000 waits are the longest loop stalls, ``bench_trigger`` ``gc_pauses``): the list
    walk answers the Batch object it answered last time while the operation's JSON is the same,
    and a new one once the batch changed."""
    gemini_conn.control.configure(processing_seconds=3600)
    names = [_create() for _ in range(6)]
    poller = poller_module.poller_for("gemini_batch_default", trigger_module._poll_limit)
    poller.active = len(names)
    try:
        first = await asyncio.gather(*(poller.read(n, light=True) for n in names))
        second = await asyncio.gather(*(poller.read(n, light=True) for n in names))
        gemini_conn.control.advance_clock(3700)
        third = await asyncio.gather(*(poller.read(n, light=True) for n in names))
    finally:
        poller.active = 0
        await poller_module.release_poller(poller)
    assert poller.sent["list"] >= 3
    assert poller.sent["get"] == 0
    assert all(a is b for a, b in zip(first, second, strict=True)), "an unchanged batch was rebuilt"
    assert [b.state.short for b in third] == ["SUCCEEDED"] * 6
    assert all(a is not c for a, c in zip(first, third, strict=True))


class _TurnLog:
    """A trigger logger that records the loop turn of each line and costs ``cost`` seconds of CPU
    per line (a log line is the main cost of a trigger woken with news)."""

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.turn = 0
        self.lines: list[tuple[int, str]] = []

    def _line(self, msg: str, *args: Any) -> None:
        self.lines.append((self.turn, msg % args))
        until = time.perf_counter() + self.cost
        while time.perf_counter() < until:
            pass

    info = warning = _line

    async def count_turns(self) -> None:
        while True:
            self.turn += 1
            await asyncio.sleep(0)


_TURN_LOG = _TurnLog(cost=0.002)


class _TurnLoggedTrigger(GeminiBatchTrigger):
    @property
    def log(self) -> Any:  # type: ignore[override]
        return _TURN_LOG


async def test_triggers_woken_with_news_are_spread_over_loop_turns(gemini_conn: EmulatorServer) -> None:
    """Every batch ending at one instant must not run every trigger's end in one loop
    turn. 120 triggers share list pages of 100; each line they log costs 2 ms. At most
    WAKE_CHUNK / NEWS_WEIGHT = 16 triggers with news run in one turn (the old fixed chunk ran
    64: 128 ms), and the pacer shrinks the chunk when the turns cost more than its budget."""
    gemini_conn.control.configure(processing_seconds=3600, max_active_batches=200)
    names = [_create() for _ in range(120)]
    _TURN_LOG.lines.clear()
    counter = asyncio.ensure_future(_TURN_LOG.count_turns())
    triggers = [_TurnLoggedTrigger(batch_name=n, poll_interval=0.5, end_time=time.time() + 60) for n in names]
    tasks = [asyncio.ensure_future(_event(t)) for t in triggers]
    try:
        await asyncio.sleep(2.0)  # every trigger has seen its batch RUNNING (one line each)
        poller = triggers[0]._poller
        assert poller is not None
        await asyncio.to_thread(gemini_conn.control.advance_clock, 3700)
        events = await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    finally:
        counter.cancel()
    assert [e["status"] for e in events] == ["success"] * 120
    ends = [turn for turn, line in _TURN_LOG.lines if "is SUCCEEDED" in line]
    starts = [turn for turn, line in _TURN_LOG.lines if "is RUNNING" in line or "is PENDING" in line]
    assert len(ends) == 120
    paced = poller_module.WAKE_CHUNK // poller_module.NEWS_WEIGHT  # 16 triggers with news per turn
    # Every end comes from a shared list page, so the pacer alone bounds them.
    assert max(ends.count(t) for t in set(ends)) <= paced
    # First sightings: the triggers that started before the shared reads took over (fewer than
    # SHARED_LIST_MIN_WAITS waits) read with their own GETs, which are not paced; at most
    # MAX_CONCURRENT_POLLS of those answers can land in one turn beside a paced chunk (a fresh
    # clone's run once saw 18 in one turn).
    busiest_start = max(starts.count(t) for t in set(starts))
    assert busiest_start <= paced + trigger_module.MAX_CONCURRENT_POLLS, busiest_start
    assert poller._pacer.chunk < poller_module.WAKE_CHUNK, "2 ms per woken trigger never shrank the chunk"
