"""1,000 concurrent GeminiBatchTrigger waits in one event loop against an emulator subprocess.

Prints, for the trigger as built (async hook, shared httpx client, per-loop poll limit):

* the longest event-loop stall seen by a watchdog coroutine (target < 50 ms),
* memory per waiting trigger, from tracemalloc (target < 100 KB),
* poll throughput (polls/s and poll rounds/s: one round = every trigger polled once),

and the same 1,000 waits with the common alternative design, where each poll is a sync
``requests`` call (our sync hook) pushed to ``asyncio.to_thread``, with the ratio of poll rounds
per second between the two.

Usage: ``python benchmarks/bench_trigger.py [--triggers 1000] [--seconds 15] [--poll-interval 0]``
(poll interval 0 polls again as soon as a poll returns: the capacity of each design).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _emulator import start_emulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

API_KEY = "bench-key"
BATCHES = 100  # the API's (and the emulator's) concurrent-batch limit; triggers share them
MODEL = "gemini-2.5-flash"


class Watchdog:
    """Measures the longest gap between two 5 ms ticks beyond the tick itself (the loop stall).

    ``longest`` is wall time. On a shared machine the OS also deschedules the process, which a
    wall-clock watchdog cannot tell from a blocked loop, so ``longest_cpu`` records the loop
    thread's own CPU time (``time.thread_time``) over the same gap: what the code on the loop cost.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            before, cpu_before = loop.time(), time.thread_time()
            await asyncio.sleep(0.005)
            wall = loop.time() - before - 0.005
            if wall > self.longest:
                self.longest = wall
            self.longest_cpu = max(self.longest_cpu, time.thread_time() - cpu_before)

    def stop(self) -> None:
        self._stop.set()


def count_polls(control: Any) -> int:
    return sum(1 for e in control.journal() if e["method"] == "GET" and "/batches/" in e["path"])


async def run_phase(
    n: int, make_wait: Callable[[int], Awaitable[Any]], *, watch: bool
) -> tuple[float, Watchdog]:
    """Run ``n`` waits to their deadline; returns (seconds, the watchdog with its stalls)."""
    dog = Watchdog()
    dog_task = asyncio.ensure_future(dog.run()) if watch else None
    started = time.perf_counter()
    await asyncio.gather(*(make_wait(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    dog.stop()
    if dog_task is not None:
        await dog_task
    return elapsed, dog


async def main_async(args: argparse.Namespace, base_url: str, names: list[str]) -> dict[str, Any]:
    from airflow_provider_gemini_batch.emulator.control import EmulatorControl
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchAsyncHook, GeminiBatchHook
    from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

    control = EmulatorControl(base_url)
    n = args.triggers
    out: dict[str, Any] = {"triggers": n, "batches": len(names), "poll_interval_s": args.poll_interval}

    # Warm the process once (imports behind the first connection lookup), as a running triggerer is.
    warm = GeminiBatchAsyncHook()
    await warm.get_batch(names[0])

    def trigger(i: int, seconds: float) -> GeminiBatchTrigger:
        return GeminiBatchTrigger(
            batch_name=names[i % len(names)],
            poll_interval=args.poll_interval,
            end_time=time.time() + seconds,
        )

    async def trigger_wait(t: GeminiBatchTrigger) -> dict[str, Any]:
        try:
            async for event in t.run():
                return dict(event.payload)
            raise RuntimeError("trigger ended without an event")
        finally:
            await t.cleanup()

    # Phase 1: memory per waiting trigger (tracemalloc slows everything, so it runs on its own).
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    triggers = [trigger(i, 3600) for i in range(n)]
    tasks = [asyncio.ensure_future(trigger_wait(t)) for t in triggers]
    await asyncio.sleep(max(3.0, 2 * args.poll_interval))  # every trigger has polled and is sleeping
    gc.collect()
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap.compare_to(base, "filename"))
    out["memory_per_waiting_trigger_kb"] = round(grown / n / 1024, 1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    del triggers, tasks, snap, base

    # Phase 2: the trigger as built, n waits for args.seconds each.
    control.clear_journal()
    gc.collect()
    gc.freeze()  # as in the test: measure the triggers' work, not a collector pass over the heap
    events: list[dict[str, Any]] = []

    async def async_wait(i: int) -> None:
        events.append(await trigger_wait(trigger(i, args.seconds)))

    elapsed, dog = await run_phase(n, async_wait, watch=True)
    polls = count_polls(control)
    out["async"] = {
        "seconds": round(elapsed, 2),
        "longest_loop_stall_ms": round(dog.longest * 1000, 1),
        "longest_loop_stall_cpu_ms": round(dog.longest_cpu * 1000, 1),
        "polls": polls,
        "polls_per_s": round(polls / elapsed, 1),
        "rounds_per_s": round(polls / n / elapsed, 3),
        "events": {s: sum(1 for e in events if e["status"] == s) for s in {e["status"] for e in events}},
    }

    # Phase 3: the alternative - same loop, same waits, each poll a sync call in asyncio.to_thread.
    control.clear_journal()
    sync_hook = GeminiBatchHook()
    sync_hook.get_batch(names[0])

    async def threaded_wait(i: int) -> None:
        name = names[i % len(names)]
        deadline = time.time() + args.seconds
        while True:
            batch = await asyncio.to_thread(sync_hook.get_batch, name)
            if batch.done or time.time() >= deadline:
                return
            await asyncio.sleep(min(args.poll_interval, max(0.0, deadline - time.time())))

    elapsed, dog = await run_phase(n, threaded_wait, watch=True)
    gc.unfreeze()
    polls = count_polls(control)
    out["to_thread"] = {
        "seconds": round(elapsed, 2),
        "longest_loop_stall_ms": round(dog.longest * 1000, 1),
        # thread_time counts only the loop thread: the pool threads' CPU is not in this figure.
        "longest_loop_stall_cpu_ms": round(dog.longest_cpu * 1000, 1),
        "polls": polls,
        "polls_per_s": round(polls / elapsed, 1),
        "rounds_per_s": round(polls / n / elapsed, 3),
    }
    out["rounds_per_s_ratio_async_over_to_thread"] = round(
        out["async"]["rounds_per_s"] / max(out["to_thread"]["rounds_per_s"], 1e-9), 2
    )
    await warm.aclose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each timed phase")
    # 0 = poll again as soon as the previous poll returned: measures each design's capacity.
    parser.add_argument("--poll-interval", type=float, default=0.0, help="seconds between polls")
    args = parser.parse_args()
    # One info line per trigger and state change is realistic but drowns the figures.
    logging.getLogger("airflow_provider_gemini_batch").setLevel(logging.WARNING)

    proc, base_url = start_emulator(api_key=API_KEY, processing_seconds=3600)
    try:
        os.environ["AIRFLOW_CONN_GEMINI_BATCH_DEFAULT"] = json.dumps(
            {"conn_type": "gemini_batch", "host": base_url, "password": API_KEY}
        )
        from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

        hook = GeminiBatchHook()
        request = {"contents": [{"parts": [{"text": "hello"}]}]}
        names = [hook.create_batch(MODEL, requests=[request]).name for _ in range(BATCHES)]
        result = asyncio.run(main_async(args, base_url, names))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
