"""GeminiBatchTrigger waits at scale in one event loop against an emulator subprocess.

``--scenario scale`` (default): N triggers (1,000 or 10,000) started as the
triggerer starts them (one task per loop turn), each on its own batch, against an API answering
in ``--latency`` seconds (emulator knob ``latency_seconds``), logging on at INFO into a file as a
triggerer writes its log. All batches end at one instant (the emulator clock jumps past their
processing time). Prints the longest loop stall, memory per waiting trigger (tracemalloc, its own
phase), HTTP requests/s, the time from the batches' end to each event in poll intervals
(p50/p99/max) and each figure's ratio to its goal (stall < 50 ms, < 10 KB per trigger, end
noticed within 1.5 intervals; a ratio <= 1 meets the goal). ``--provider-src DIR`` runs another
checkout's provider code (e.g. main's, for the "before" figures) against this emulator.

The longest stall is also given as loop-thread CPU time (the machine is shared: the OS may
deschedule the process mid-gap) and without the gaps that contained a full (generation 2)
collection of the cyclic garbage collector, whose pauses are listed per generation
(``gc_pauses``, from ``gc.callbacks``) with the objects it tracks (``gc_tracked_objects``): a full
pass walks every tracked object of the process, so with 10,000 waits it is the longest stall,
and it is the interpreter's, not a line of ours. ``--gc-freeze`` runs ``gc.freeze()`` on the
warmed-up process before the triggers start (what a deployment can do at triggerer start), to
measure how much of that pause is the process's own objects.

    python benchmarks/bench_trigger.py --triggers 1000 --poll-interval 10
    python benchmarks/bench_trigger.py --triggers 10000 --poll-interval 30

``--scenario capacity`` (the earlier benchmark): for the trigger as built (async hook, shared
httpx client, per-loop poll limit):

* the longest event-loop stall seen by a watchdog coroutine (target < 50 ms),
* memory per waiting trigger, from tracemalloc (target < 100 KB),
* poll throughput (polls/s and poll rounds/s: one round = every trigger polled once),

and the same 1,000 waits with the common alternative design, where each poll is a sync
``requests`` call (our sync hook) pushed to ``asyncio.to_thread``, with the ratio of poll rounds
per second between the two.

Usage: ``python benchmarks/bench_trigger.py --scenario capacity [--triggers 1000] [--seconds 15]
[--poll-interval 0]`` (poll interval 0 polls again as soon as a poll returns: each design's capacity).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import os
import pstats
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from _emulator import start_emulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

API_KEY = "bench-key"
BATCHES = 100  # the API's (and the emulator's) concurrent-batch limit; triggers share them
MODEL = "gemini-2.5-flash"
PROCESSING_SECONDS = 3600.0  # scale: batches run until the bench jumps the emulator clock past this


class Watchdog:
    """Measures the longest gap between two 5 ms ticks beyond the tick itself (the loop stall).

    ``longest`` is wall time. On a shared machine the OS also deschedules the process, which a
    wall-clock watchdog cannot tell from a blocked loop, so ``longest_cpu`` records the loop
    thread's own CPU time (``time.thread_time``) over the same gap: what the code on the loop cost.
    """

    def __init__(self, gc_pauses: GcPauses | None = None) -> None:
        self.longest = 0.0
        self.longest_cpu = 0.0
        #: the longest stall whose gap saw no full (generation 2) collection, when gc_pauses is given:
        #: what the code on the loop costs apart from the collector's passes over the whole heap.
        self.longest_without_full_gc = 0.0
        self._gc = gc_pauses
        self._stop = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            before, cpu_before = loop.time(), time.thread_time()
            full_before = self._gc.count[2] if self._gc is not None else 0
            await asyncio.sleep(0.005)
            wall = loop.time() - before - 0.005
            if wall > self.longest:
                self.longest = wall
            self.longest_cpu = max(self.longest_cpu, time.thread_time() - cpu_before)
            if self._gc is not None and self._gc.count[2] == full_before:
                self.longest_without_full_gc = max(self.longest_without_full_gc, wall)

    def stop(self) -> None:
        self._stop.set()


class GcPauses:
    """The longest pause of Python's cyclic garbage collector per generation, and collection counts.

    A collection runs inside whatever loop turn allocated the object that crossed the threshold,
    so a full (generation 2) pass over a heap of 10,000 waiting triggers shows up as a loop stall
    that no profile line names. Recorded with ``gc.callbacks`` (start/stop of each collection).
    """

    def __init__(self) -> None:
        self.longest_ms = {0: 0.0, 1: 0.0, 2: 0.0}
        self.count = {0: 0, 1: 0, 2: 0}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        gen = info["generation"]
        self.count[gen] += 1
        self.longest_ms[gen] = max(self.longest_ms[gen], (time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def report(self) -> dict[str, Any]:
        return {
            f"gen{g}": {"collections": self.count[g], "longest_ms": round(self.longest_ms[g], 1)}
            for g in (0, 1, 2)
        }


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


GOAL_STALL_MS = 50.0
GOAL_KB_PER_TRIGGER = 10.0
GOAL_NOTICE_INTERVALS = 1.5


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def start_like_the_triggerer(make: Callable[[int], Awaitable[Any]], n: int) -> list[asyncio.Task[Any]]:
    """Create and start ``n`` triggers as Airflow 3.3's ``TriggerRunner.create_triggers`` does.

    Read in ``airflow/jobs/triggerer_job_runner.py`` (3.3.2): per trigger it yields the loop
    (``sleep(0)``), loads the class, yields again, builds the trigger from its kwargs *in that loop
    turn*, and starts ``run_trigger`` as a task. ``make(i)`` builds trigger ``i`` and returns the
    coroutine to run, so the construction cost lands on the loop one trigger per turn, as there.
    """
    tasks = []
    for i in range(n):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        tasks.append(asyncio.ensure_future(make(i)))
    return tasks


async def triggerer_housekeeping(tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    """The runner's main loop besides the triggers: once a second, ``cleanup_finished_triggers``.

    Airflow 3.3.2 walks every trigger task each second and yields the loop after each one
    (``await asyncio.sleep(0)`` per trigger), so 10,000 triggers cost the loop 10,000 turns/s.
    """
    while not stop.is_set():
        for task in list(tasks):
            task.done()
            await asyncio.sleep(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


def write_profile(profiler: cProfile.Profile, path: str) -> None:
    """The 40 functions with the most own time on the loop, as text in ``path``."""
    with open(path, "w") as out_file:
        pstats.Stats(profiler, stream=out_file).sort_stats("tottime").print_stats(40)


async def scale_async(args: argparse.Namespace, base_url: str, names: list[str]) -> dict[str, Any]:
    from airflow_provider_gemini_batch.emulator.control import EmulatorControl
    from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger

    control = EmulatorControl(base_url)
    n, interval = args.triggers, args.poll_interval
    out: dict[str, Any] = {"triggers": n, "batches": len(names), "poll_interval_s": interval}

    def trigger(i: int) -> GeminiBatchTrigger:
        return GeminiBatchTrigger(
            batch_name=names[i % len(names)], poll_interval=interval, end_time=time.time() + 3600
        )

    log = structlog.get_logger(logger_name="airflow.jobs.triggerer_job_runner")

    async def run_one(t: GeminiBatchTrigger, done: dict[int, float], i: int) -> dict[str, Any]:
        # What TriggerRunner.run_trigger (Airflow 3.3.2) does around a trigger's run(): a line when
        # it starts, an awaited line per event (structlog's ainfo: a thread-pool hop), the event
        # queued, cleanup(), and an awaited "trigger completed" line.
        name = f"bench/run/wait/{i}/1 (ID {i})"
        log.info("trigger %s starting", name)
        try:
            async for event in t.run():
                done[i] = time.time()
                await log.ainfo("Trigger fired event", name=name, result=event)
                return dict(event.payload)
            raise RuntimeError("trigger ended without an event")
        finally:
            await t.cleanup()
            await log.ainfo("trigger completed", name=name)

    # Phase 1: memory per waiting trigger, on its own (tracemalloc slows everything).
    first_round = args.latency * (n / 100 + n / 40 / 8) + 5  # list pages, or GETs at 40/s
    gc.collect()
    tracked_before = len(gc.get_objects())
    tracemalloc.start()
    base = tracemalloc.take_snapshot()
    tasks = await start_like_the_triggerer(lambda i: run_one(trigger(i), {}, i), n)
    await asyncio.sleep(min(first_round, 1.2 * interval))
    gc.collect()
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in snap.compare_to(base, "filename"))
    out["memory_per_waiting_trigger_kb"] = round(grown / n / 1024, 2)
    # A full collection walks every object the collector tracks: the process's own (Airflow's
    # imports) plus the waiting triggers'. Its pause grows with both (see GcPauses).
    tracked_after = len(gc.get_objects())
    out["gc_tracked_objects"] = {
        "process": tracked_before,
        "per_waiting_trigger": round((tracked_after - tracked_before) / n, 1),
    }
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    del tasks, snap, base
    await asyncio.to_thread(control.clear_journal)

    # Phase 2: start n waits together, end every batch at one instant, time each event.
    gc.collect()
    if args.gc_freeze:
        # What a deployment can do at triggerer start (e.g. in airflow_local_settings.py): move the
        # process's own objects out of the collector's full passes. Off by default (the triggerer
        # as shipped does not); the figures say which was used.
        gc.freeze()
    out["gc_freeze_at_start"] = bool(args.gc_freeze)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()  # the loop thread only: where its CPU time goes (slows it ~2x)
    gc_pauses = GcPauses().__enter__()
    dog = Watchdog(gc_pauses)
    dog_task = asyncio.ensure_future(dog.run())
    done: dict[int, float] = {}
    started = time.perf_counter()
    housekeeping_stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    housekeeping = asyncio.ensure_future(triggerer_housekeeping(tasks, housekeeping_stop))
    tasks.extend(await start_like_the_triggerer(lambda i: run_one(trigger(i), done, i), n))
    await asyncio.sleep(args.end_after)
    stall_waiting_ms = dog.longest * 1000
    await asyncio.to_thread(control.advance_clock, PROCESSING_SECONDS + 60)
    ended = time.time()
    finished, _ = await asyncio.wait(tasks, timeout=args.give_up_intervals * interval + 5)
    elapsed = time.perf_counter() - started
    dog.stop()
    await dog_task
    gc_pauses.__exit__()
    housekeeping_stop.set()
    await housekeeping
    if profiler is not None:
        profiler.disable()
        await asyncio.to_thread(write_profile, profiler, args.profile)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    journal = await asyncio.to_thread(control.journal)
    requests = sum(1 for e in journal if "/batches" in e["path"])
    late = [(done[i] - ended) / interval for i in done]
    late += [float("inf")] * (n - len(done))  # never noticed within the run
    statuses = [t.result()["status"] for t in finished if not t.cancelled() and t.exception() is None]
    out["run"] = {
        "seconds": round(elapsed, 1),
        "longest_loop_stall_ms": round(dog.longest * 1000, 1),
        "longest_loop_stall_while_waiting_ms": round(stall_waiting_ms, 1),
        "longest_loop_stall_cpu_ms": round(dog.longest_cpu * 1000, 1),
        "longest_loop_stall_without_full_gc_ms": round(dog.longest_without_full_gc * 1000, 1),
        "gc_pauses": gc_pauses.report(),
        "http_requests": requests,
        "http_requests_per_s": round(requests / elapsed, 1),
        "events": {s: statuses.count(s) for s in set(statuses)},
        "not_noticed_in_run": n - len(done),
        "end_to_event_intervals": {
            "p50": round(_quantile(late, 0.5), 3),
            "p99": round(_quantile(late, 0.99), 3),
            "max": round(max(late), 3),
        },
    }
    out["ratio_to_goal"] = {
        "loop_stall": round(dog.longest * 1000 / GOAL_STALL_MS, 2),
        "memory_per_trigger": round(out["memory_per_waiting_trigger_kb"] / GOAL_KB_PER_TRIGGER, 2),
        "end_noticed_max": round(max(late) / GOAL_NOTICE_INTERVALS, 2),
    }
    control.close()
    return out


def scale(args: argparse.Namespace) -> dict[str, Any]:
    """Set up the emulator (latency, n batches), log at INFO to a file, run :func:`scale_async`."""
    # Airflow's own logging setup (structlog, INFO) stays as the triggerer has it; its output
    # (stdout and stderr) goes to the log file so the lines are written, and counted, as in a triggerer.
    log_path = Path(args.log_file)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    logging.getLogger("airflow_provider_gemini_batch").setLevel(logging.INFO)
    batches = args.batches or args.triggers
    proc, base_url = start_emulator(api_key=API_KEY, processing_seconds=PROCESSING_SECONDS)
    try:
        os.environ["AIRFLOW_CONN_GEMINI_BATCH_DEFAULT"] = json.dumps(
            {"conn_type": "gemini_batch", "host": base_url, "password": API_KEY}
        )
        # Raw control-plane calls: --provider-src may name code older than these knobs.
        import httpx

        knobs = f"{base_url}/_emulator/config"
        httpx.post(knobs, json={"max_active_batches": batches + 10}).raise_for_status()
        names = create_batches(base_url, batches)
        httpx.post(knobs, json={"latency_seconds": args.latency}).raise_for_status()
        result = asyncio.run(scale_async(args, base_url, names))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(log_fd)
    result["latency_s"] = args.latency
    result["log_lines"] = sum(1 for _ in log_path.open())
    result["provider_src"] = args.provider_src or "this checkout"
    return result


def create_batches(base_url: str, count: int) -> list[str]:
    """``count`` one-request inline batches, created over 8 connections (latency 0 at this point)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    body = {
        "batch": {
            "displayName": "bench",
            "inputConfig": {
                "requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}}]}
            },
        }
    }

    def make(_: int) -> str:
        with httpx.Client(base_url=base_url, headers={"x-goog-api-key": API_KEY}, timeout=60) as client:
            return [
                client.post(f"/v1beta/models/{MODEL}:batchGenerateContent", json=body).json()["name"]
                for _ in range(count // 8 + 1)
            ]

    with ThreadPoolExecutor(8) as pool:
        names = [name for chunk in pool.map(make, range(8)) for name in chunk]
    return names[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("scale", "capacity"), default="scale")
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="capacity: length of each timed phase")
    # capacity: 0 = poll again as soon as the previous poll returned (each design's capacity).
    parser.add_argument("--poll-interval", type=float, default=None, help="seconds between polls")
    parser.add_argument("--batches", type=int, default=0, help="scale: distinct batches (default: one each)")
    parser.add_argument("--latency", type=float, default=0.2, help="scale: API answer latency, seconds")
    parser.add_argument("--end-after", type=float, default=None, help="scale: seconds before batches end")
    parser.add_argument("--give-up-intervals", type=float, default=3.0, help="scale: wait after the end")
    parser.add_argument("--log-file", default="/tmp/bench_trigger.log", help="scale: the INFO log")
    parser.add_argument("--profile", default=None, help="scale: write a cProfile of the loop to this file")
    parser.add_argument("--provider-src", default=None, help="import the provider from this directory")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="scale: gc.freeze() before the triggers start"
    )
    args = parser.parse_args()
    if args.provider_src:
        sys.path.insert(0, str(Path(args.provider_src).resolve()))
    if args.scenario == "scale":
        args.poll_interval = 10.0 if args.poll_interval is None else args.poll_interval
        args.end_after = 1.5 * args.poll_interval if args.end_after is None else args.end_after
        print(json.dumps(scale(args), indent=2))
        return
    args.poll_interval = args.poll_interval or 0.0
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
