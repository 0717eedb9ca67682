"""Chaos run: many batches end to end under random faults; counts duplicates, lost results, wrong fails.

Usage::

    .venv/bin/python benchmarks/chaos_run.py [--batches 200] [--seed S]

Each batch goes upload -> create -> wait -> results, mixing JSONL-file and inline inputs, against an
emulator (its own process, as in production the API is remote) with randomly injected faults:
429 + Retry-After, 500/502/503 bursts, slow answers (some beyond the client timeout), dropped
upload chunks, dropped downloads, lost create answers (the batch is created, the connection dies
before its answer), batches ending FAILED / EXPIRED / CANCELLED, per-request error fractions, and
"worker killed after create" (the create step run again for the same task-instance
identity, as Airflow does after a lost worker).

Execution vehicle, and why it is faithful: every step calls the operators' real ``execute()`` /
``execute_complete()`` (upload, create, sensor in deferrable mode, results) and the wait runs the
very :class:`GeminiBatchTrigger` the sensor defers to, on an asyncio loop as the triggerer would -
so the idempotency lookups, the retry policy, the deferral payload and the results landing are the
production code paths. What Airflow itself contributes is modelled, not imported: the task context
is a small stand-in carrying the task-instance identity (dag, task, run, map index) and recording
XCom pushes, and task retries are a loop (``TASK_RETRIES`` per task, like ``retries=2``). A
``dag.test()`` per batch would cost ~1 s of scheduler bookkeeping each and test Airflow rather than
the provider; the suite already runs the example DAGs through ``dag.test()`` under faults.

Faults are injected right before the step they target, with path regexes naming that batch's own
resources where the API allows it, and the run is sequential, so each fault lands on the batch it
was drawn for. Figures printed at the end:

* batches run, faults injected by kind (and how many the emulator actually served);
* duplicate batches created - batches in the emulator's own listing sharing a task-instance tag,
  beyond the first (must be 0), next to create calls seen in the journal;
* results lost - for a SUCCEEDED batch, input keys missing from the landed rows; for a batch that
  offers partial results, offered rows (read from the emulator with a plain HTTP client, not the
  hook) missing from the landed rows (must be 0);
* tasks failed wrongly - a task that failed although its batch succeeded and every fault was
  transient within the retry budget, or one that succeeded although its batch did not (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL = "gemini-2.5-flash"
#: Airflow-level retries per task (on top of the hook's own retries).
TASK_RETRIES = 2
#: Connection extras: a short timeout so "slow" faults can exceed it; quick backoff.
CONN_EXTRAS = {
    "timeout": 2.0,
    "max_retries": 6,
    "retry_initial_delay": 0.05,
    "retry_max_delay": 0.5,
    "retry_deadline": 60,
}
OUTCOMES = ("SUCCEEDED",) * 7 + ("FAILED", "EXPIRED", "CANCELLED")
_MARKER = re.compile(r"\[af:([0-9a-f]{16}):[0-9a-f]{12}\]\s*$")


@dataclass
class Report:
    """The figures of one chaos run."""

    seed: int
    batches: int = 0
    by_input: collections.Counter[str] = field(default_factory=collections.Counter)
    by_outcome: collections.Counter[str] = field(default_factory=collections.Counter)
    faults_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    faults_unserved: collections.Counter[str] = field(default_factory=collections.Counter)
    task_retries: int = 0
    create_calls: int = 0
    duplicate_batches: int = 0
    results_lost: int = 0
    tasks_failed_wrongly: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        served = self.faults_injected - self.faults_unserved
        out = [
            f"seed {self.seed}: {self.batches} batches in {self.seconds:.0f} s "
            f"(inputs {dict(self.by_input)}, outcomes {dict(self.by_outcome)})",
            f"faults injected: {sum(self.faults_injected.values())} (served {sum(served.values())}) by kind:",
        ]
        for kind in sorted(self.faults_injected):
            out.append(f"  {kind:<28} {self.faults_injected[kind]:>5} injected, {served[kind]:>5} served")
        out += [
            f"task retries (Airflow-level): {self.task_retries}",
            f"create calls in the journal: {self.create_calls} for {self.batches} identities",
            f"duplicate batches created: {self.duplicate_batches}",
            f"results lost: {self.results_lost}",
            f"tasks failed wrongly: {self.tasks_failed_wrongly}",
        ]
        out += [f"  problem: {p}" for p in self.problems[:20]]
        return out

    @property
    def ok(self) -> bool:
        return self.duplicate_batches == 0 and self.results_lost == 0 and self.tasks_failed_wrongly == 0


class _TI:
    """Stand-in for the task instance in the context: identity fields and recorded XCom pushes."""

    def __init__(self, dag_id: str, task_id: str, run_id: str) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = dag_id, task_id, run_id, -1
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _context(run_id: str, task_id: str) -> dict[str, Any]:
    return {"ti": _TI("chaos", task_id, run_id)}


class Emulator:
    """The emulator in a child process, plus a plain HTTP client for its control plane and API."""

    def __init__(self, data_dir: str, api_key: str) -> None:
        import httpx

        self.api_key = api_key
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "airflow_provider_gemini_batch.emulator", "--port", "0"),
                *("--processing-seconds", "0.3", "--api-key", api_key, "--data-dir", data_dir),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        match = re.search(r"(http://\S+)", self.proc.stdout.readline())
        if not match:
            self.proc.kill()
            raise RuntimeError("the emulator did not start")
        self.base_url = match.group(1)
        self.http = httpx.Client(base_url=self.base_url, timeout=30)

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"/_emulator/{path}", json=body)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def fault(self, **spec: Any) -> None:
        self.control("POST", "faults", {k: v for k, v in spec.items() if v is not None})

    def api(self, path: str, **params: Any) -> Any:
        answer = self.http.get(f"/v1beta/{path}", params=params, headers={"x-goog-api-key": self.api_key})
        answer.raise_for_status()
        return answer

    def offered_keys(self, batch_name: str) -> list[str | None]:
        """The result rows the API offers for a batch, read without the hook (key or None each)."""
        op = self.api(batch_name).json()
        output = (op.get("metadata") or {}).get("output") or {}
        if output.get("responsesFile"):
            text = self.api(f"{output['responsesFile']}:download", alt="media").text
            return [json.loads(line).get("key") for line in text.splitlines() if line.strip()]
        inlined = (output.get("inlinedResponses") or {}).get("inlinedResponses") or []
        return [(item.get("metadata") or {}).get("key") for item in inlined]

    def all_batches(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.api("batches", pageSize=1000, **({"pageToken": token} if token else {})).json()
            items += page.get("operations", [])
            token = page.get("nextPageToken", "")
            if not token:
                return items


def _requests(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"key": f"{prefix}-{j}", "request": {"contents": [{"parts": [{"text": f"chaos {prefix} {j}"}]}]}}
        for j in range(n)
    ]


class Chaos:
    """Runs the batches; one instance per run."""

    def __init__(self, emu: Emulator, workdir: Path, seed: int) -> None:
        self.emu = emu
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.report = Report(seed=seed)

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def inject(self, kind: str, **spec: Any) -> None:
        self.emu.fault(**spec)
        self.report.faults_injected[kind] += int(spec.get("times", 1))

    def inject_transient(self, label: str, method: str, path: str, *, slow_ok: bool = True) -> None:
        """Draw 0..n transient faults for one call site (all within the hook's retry budget)."""
        if self.maybe(0.15):
            self.inject("429+Retry-After", method=method, path=path, status=429, retry_after=1)
        if self.maybe(0.15):
            status = self.rng.choice((500, 502, 503))
            self.inject(
                f"{status} burst", method=method, path=path, status=status, times=self.rng.randint(1, 3)
            )
        if slow_ok and self.maybe(0.08):
            self.inject("slow answer (< timeout)", method=method, path=path, delay=0.5)
        if slow_ok and label == "poll" and self.maybe(0.05):
            self.inject("slow answer (> timeout)", method=method, path=path, delay=2.5)

    def task(self, name: str, step: Any) -> tuple[bool, Any, BaseException | None]:
        """Run ``step`` with Airflow-style task retries; (succeeded, value, last error)."""
        error: BaseException | None = None
        for attempt in range(1 + TASK_RETRIES):
            if attempt:
                self.report.task_retries += 1
            try:
                return True, step(), None
            except Exception as exc:  # a task fails on any exception; Airflow retries it
                error = exc
                if type(exc).__name__ == "GeminiBatchFailedError":
                    break  # deterministic: the batch ended badly, a retry would say the same
        return False, None, error

    def one(self, i: int) -> None:
        from airflow_provider_gemini_batch.operators.gemini_batch import (
            GeminiBatchResultsOperator,
            GeminiCreateBatchOperator,
            GeminiUploadFileOperator,
        )
        from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor

        rep = self.report
        run_id = f"chaos__{rep.seed}__{i:05d}"
        kind = "file" if self.maybe(0.6) else "inline"
        outcome = self.rng.choice(OUTCOMES)
        n = self.rng.randint(2, 12)
        rows = _requests(f"b{i}", n)
        rep.batches += 1
        rep.by_input[kind] += 1
        rep.by_outcome[outcome] += 1
        error_fraction = 0.25 if self.maybe(0.15) else 0.0
        if error_fraction:
            rep.faults_injected["per-request errors (batch)"] += 1
        if outcome != "SUCCEEDED":
            rep.faults_injected[f"batch ends {outcome}"] += 1
        # Throttling of the idempotency scans (list files / list batches).
        if self.maybe(0.1):
            self.inject("503 burst", method="GET", path=r"^/v1beta/(files|batches)(\?|$)", status=503)

        input_file: str | None = None
        if kind == "file":
            path = self.workdir / f"in-{i:05d}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            self.inject_transient("upload start", "POST", r"^/upload/v1beta/files$")
            if self.maybe(0.25):
                size = path.stat().st_size
                self.inject(
                    "dropped upload chunk", method="POST", path=r"upload_id=", drop_after_bytes=size // 2
                )
            ok, input_file, err = self.task(
                "upload",
                lambda: GeminiUploadFileOperator(task_id="upload", path=str(path)).execute(
                    _context(run_id, "upload")
                ),
            )
            if not ok:
                self._wrong(i, f"upload failed: {err!r}")
                return

        self.emu.control("POST", "config", {"next_outcome": outcome, "error_fraction": error_fraction})
        create_path = r":batchGenerateContent$"
        if self.maybe(0.15):
            self.inject("429+Retry-After", method="POST", path=create_path, status=429, retry_after=1)
        if self.maybe(0.12):
            # Not retried in the hook (it may hide a created batch): the task retry reattaches or creates.
            self.inject("503 burst", method="POST", path=create_path, status=503)
        if self.maybe(0.08):
            self.inject("slow answer (< timeout)", method="POST", path=create_path, delay=0.5)
        if self.maybe(0.10):
            # The batch is created but its answer never arrives: the operator must find it, not resubmit.
            self.inject("lost create answer", method="POST", path=create_path, lose_answer=True)

        def create() -> str:
            op = GeminiCreateBatchOperator(
                task_id="create",
                model=MODEL,
                requests=rows if kind == "inline" else None,
                input_file=input_file,
            )
            return str(op.execute(_context(run_id, "create")))

        ok, batch_name, err = self.task("create", create)
        self.emu.control("POST", "config", {"error_fraction": 0.0})
        if not ok:
            self._wrong(i, f"create failed: {err!r}")
            return
        if self.maybe(0.15):
            rep.faults_injected["worker killed after create"] += 1
            ok, again, err = self.task("create", create)
            if not ok or again != batch_name:
                self._wrong(i, f"create re-run after a lost worker gave {again!r} / {err!r}")
                return

        bid = re.escape(batch_name)
        self.inject_transient("poll", "GET", rf"^/v1beta/{bid}$")
        sensor = GeminiBatchSensor(task_id="wait", batch_name=batch_name, poll_interval=0.1, deferrable=True)
        ok, _summary, err = self.task("wait", lambda: self._deferred_wait(sensor, run_id))
        if ok != (outcome == "SUCCEEDED"):
            self._wrong(i, f"wait {'succeeded' if ok else 'failed'} for a {outcome} batch: {err!r}")

        result_file = f"files/batch-{batch_name.split('/', 1)[1]}"
        if kind == "file" and outcome in ("SUCCEEDED", "CANCELLED"):
            if self.maybe(0.25):
                self.inject(
                    "dropped download",
                    method="GET",
                    path=re.escape(result_file) + ":download",
                    drop_after_bytes=0,
                )
            self.inject_transient("download", "GET", re.escape(result_file) + ":download")
        destination = self.workdir / "out" / f"{i:05d}.jsonl"
        ok, _manifest, err = self.task(
            "results",
            lambda: GeminiBatchResultsOperator(
                task_id="results", batch_name=batch_name, destination=str(destination), max_failed_ratio=1.0
            ).execute(_context(run_id, "results")),
        )
        if ok != (outcome == "SUCCEEDED"):
            self._wrong(i, f"results {'succeeded' if ok else 'failed'} for a {outcome} batch: {err!r}")
        if not ok and type(err).__name__ != "GeminiBatchFailedError":
            self._wrong(i, f"results failed with {err!r}")
        landed = []
        if destination.exists():
            landed = [json.loads(line)["key"] for line in destination.read_text().splitlines() if line]
        expected = [r["key"] for r in rows] if outcome == "SUCCEEDED" else self.emu.offered_keys(batch_name)
        lost = collections.Counter(expected) - collections.Counter(landed)
        if lost:
            rep.results_lost += sum(lost.values())
            rep.problems.append(f"batch {i}: lost {sorted(map(str, lost))[:5]}")
        self._collect_unserved()

    def _deferred_wait(self, sensor: Any, run_id: str) -> Any:
        from airflow.sdk.exceptions import TaskDeferred

        context = _context(run_id, "wait")
        try:
            sensor.execute(context)
        except TaskDeferred as deferred:
            # What the triggerer does: rebuild the trigger from its serialized kwargs and run it.
            _classpath, kwargs = deferred.trigger.serialize()
            trigger = type(deferred.trigger)(**kwargs)
            event = asyncio.run(self._first_event(trigger))
            return sensor.execute_complete(context, event)
        raise RuntimeError("the deferrable sensor did not defer")

    @staticmethod
    async def _first_event(trigger: Any) -> Any:
        try:
            return (await anext(trigger.run())).payload
        finally:
            await trigger.cleanup()

    def _collect_unserved(self) -> None:
        pending = self.emu.control("GET", "faults") or []
        for fault in pending if isinstance(pending, list) else pending.get("faults", []):
            if fault.get("lose_answer"):
                kind = "lost create answer"
            elif fault.get("drop_after_bytes") is not None:
                kind = "dropped download" if "download" in str(fault.get("path")) else "dropped upload chunk"
            elif fault.get("status") == 429:
                kind = "429+Retry-After"
            elif fault.get("status"):
                kind = f"{fault['status']} burst"
            else:
                kind = "slow answer (> timeout)" if fault.get("delay", 0) > 2 else "slow answer (< timeout)"
            self.report.faults_unserved[kind] += int(fault.get("times", fault.get("remaining", 1)))
        self.emu.control("DELETE", "faults")

    def _wrong(self, i: int, what: str) -> None:
        self.report.tasks_failed_wrongly += 1
        self.report.problems.append(f"batch {i}: {what}")
        self._collect_unserved()

    def finish(self) -> None:
        journal = self.emu.control("GET", "journal") or []
        entries = journal if isinstance(journal, list) else journal.get("entries", [])
        self.report.create_calls = sum(
            1 for e in entries if e["method"] == "POST" and e["path"].endswith(":batchGenerateContent")
        )
        tags = collections.Counter()
        for op in self.emu.all_batches():
            match = _MARKER.search((op.get("metadata") or {}).get("displayName") or "")
            if match:
                tags[match.group(1)] += 1
        self.report.duplicate_batches = sum(count - 1 for count in tags.values())
        if len(tags) != self.report.batches:
            self.report.problems.append(f"{len(tags)} tagged batches for {self.report.batches} identities")


def run_chaos(batches: int, seed: int, workdir: str | None = None) -> Report:
    """Run ``batches`` batches under faults drawn from ``seed``; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="gemini-chaos-") as tmp:
        root = Path(workdir or tmp)
        os.environ.setdefault("AIRFLOW_HOME", str(root / "airflow-home"))
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        api_key = f"chaos-key-{seed}"
        emu = Emulator(str(root / "emulator-data"), api_key)
        os.environ["AIRFLOW_CONN_GEMINI_BATCH_DEFAULT"] = json.dumps(
            {"conn_type": "gemini_batch", "host": emu.base_url, "password": api_key, "extra": CONN_EXTRAS}
        )
        started = time.monotonic()
        try:
            chaos = Chaos(emu, root, seed)
            for i in range(batches):
                chaos.one(i)
            chaos.finish()
        finally:
            emu.close()
        chaos.report.seconds = time.monotonic() - started
        return chaos.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches to run (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: drawn, printed)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    print(f"chaos run: --batches {args.batches} --seed {seed}", flush=True)
    import logging

    logging.basicConfig(level=logging.ERROR)
    report = run_chaos(args.batches, seed)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
