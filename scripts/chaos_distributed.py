"""Chaos on the real distributed stack: Celery workers and a triggerer SIGKILLed mid-work.

Usage::

    .venv/bin/python scripts/chaos_distributed.py [--runs 6] [--parts 3] [--quick]

Runs ``tests/distributed/dags/gemini_chaos.py`` (5 batches a run: file, inline and ``parts`` mapped
file batches; ``--quick`` = 6 runs = 30 batches) on scripts/distributed_stack.py while:

* the emulator injects transient faults (429 + Retry-After, 500/503 bursts, a lost create answer,
  a dropped download, throttled idempotency scans) on top of the batches' normal processing;
* the emulator holds one upload chunk, one create and one result download for ``HOLD`` seconds,
  and the script SIGKILLs the Celery worker (its whole process group: the machine dying) running
  the task in that held call - mid-upload, mid-create, mid-landing - then restarts it; the
  scheduler fails the orphaned task after ``[scheduler] task_instance_heartbeat_timeout`` and its
  retry must reattach, not create a second batch;
* the inline create of one run waits for its batch in the worker (``wait_for_completion``, not
  deferred): once its batch exists, the emulator holds that batch's next poll and the script kills
  the worker there - after the create answer, so the batch name is in Airflow's task state store
  (Airflow 3.3+) and the retry must reattach through it (one GET, no listing);
* once waits are deferred, it SIGKILLs the triggerer holding the most of them, restarts it later,
  and times how long each of its waits took to poll again (first request for that batch in the
  emulator's journal after the kill) and to be reassigned in the metadata DB.

Counted at the end from the emulator's own listing and journal and the landed files: duplicate
batches (same task-instance tag twice), lost or partial result files (a landed file lacking a key
of its input, or not valid JSONL), runs ending in a state other than ``success``. Exit 1 if any
is not 0. And, from the task logs, how each retried create task found its batch: recorded in the
task state store, found by its display-name marker, or none found (it created one). ``--json
PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_stack import StackError
from distributed_stack import DistributedStack, distributed_stack

from airflow_provider_gemini_batch._core.identity import TaskIdentity

REPO_ROOT = Path(__file__).resolve().parent.parent
DAGS = REPO_ROOT / "tests" / "distributed" / "dags"
DAG_ID = "gemini_chaos"
#: Seconds the emulator holds the call a worker is killed in (long enough to observe and kill).
HOLD = 15.0
ROWS = 6
#: The triggerer is killed once it holds this many waits ...
KILL_AT_WAITS = 3
#: ... or, LATE_AFTER seconds after the first deferred wait was seen, as soon as it holds one:
#: with the inline create waiting in its worker, fewer waits overlap, and a CI run once ended
#: with no triggerer ever holding three at one 1.5 s look (the kill never happened; the test
#: failed). A batch takes 30 s in the emulator, so waits are still held after 20 s.
LATE_KILL_AT_WAITS = 1
LATE_AFTER = 20.0
_MARKER = re.compile(r"\[af:([0-9a-f]{16}):[0-9a-f]{12}\]\s*$")
#: The create tasks (a mapped one inside the ``part`` group).
CREATE_TASKS = ("file_create", "inline_create", "part.create")
#: The create task that waits in the worker; the "after-create" kill happens in its wait.
WORKER_WAIT_TASK = "inline_create"
#: What the create operator logs for each way a try finds its batch (operators/create.py).
FOUND_BY = {
    "task state store": "), recorded in the task state store by an earlier try",
    "display-name marker": "found by its display-name marker",
}
#: Connection extras: generous timeout (2 shared cores), quick backoff.
CONN_EXTRA = {"timeout": 20.0, "max_retries": 6, "retry_initial_delay": 0.2, "retry_max_delay": 2.0}

#: Transient faults (kind, spec); each is consumed by the first matching request.
TRANSIENT: list[tuple[str, dict[str, Any]]] = [
    (
        "429+Retry-After on upload start",
        {"method": "POST", "path": r"^/upload/v1beta/files$", "status": 429, "retry_after": 1},
    ),
    (
        "503 burst on upload start",
        {"method": "POST", "path": r"^/upload/v1beta/files$", "status": 503, "times": 2},
    ),
    (
        "429+Retry-After on create",
        {"method": "POST", "path": r":batchGenerateContent$", "status": 429, "retry_after": 1},
    ),
    ("503 on create", {"method": "POST", "path": r":batchGenerateContent$", "status": 503}),
    ("lost create answer", {"method": "POST", "path": r":batchGenerateContent$", "lose_answer": True}),
    (
        "503 burst on idempotency scans",
        {"method": "GET", "path": r"^/v1beta/(files|batches)(\?|$)", "status": 503, "times": 2},
    ),
    (
        "500 burst on polls",
        {"method": "GET", "path": r"^/v1beta/batches/[^/?:]+$", "status": 500, "times": 3},
    ),
    (
        "429+Retry-After on polls",
        {"method": "GET", "path": r"^/v1beta/batches/[^/?:]+$", "status": 429, "retry_after": 2, "times": 2},
    ),
    ("502 on download", {"method": "GET", "path": r":download", "status": 502}),
    ("dropped download", {"method": "GET", "path": r":download", "drop_after_bytes": 0}),
]
#: The held calls a worker is killed in: (label, task ids it happens in, fault spec).
HELD: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
    ("mid-upload", ("file_upload", "part.upload"), {"method": "POST", "path": r"upload_id=", "delay": HOLD}),
    (
        "mid-create",
        ("file_create", "inline_create", "part.create"),
        {"method": "POST", "path": r":batchGenerateContent$", "delay": HOLD},
    ),
    ("mid-landing", ("file_results", "part.results"), {"method": "GET", "path": r":download", "delay": HOLD}),
]


@dataclass
class Figures:
    runs: int = 0
    batches_expected: int = 0
    run_states: dict[str, str] = field(default_factory=dict)
    faults_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    faults_unserved: collections.Counter[str] = field(default_factory=collections.Counter)
    kills: list[dict[str, Any]] = field(default_factory=list)
    create_calls: int = 0
    batches_created: int = 0
    duplicate_batches: int = 0
    lost_or_partial_files: int = 0
    wrong_run_states: int = 0
    task_retries: int = 0
    #: Retried create task instances by how their last try found the batch (``FOUND_BY`` keys, or
    #: "created" when it found none and created it).
    retried_creates: collections.Counter[str] = field(default_factory=collections.Counter)
    #: Create tasks on a killed worker, by whether their batch existed at the kill ("after answer"
    #: or "before answer"): how each one's last try found the batch.
    killed_creates_found_by: dict[str, list[str]] = field(default_factory=dict)
    resume_seconds: list[float] = field(default_factory=list)
    reassign_seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: What the stack's teardown left behind (process groups alive, data dirs present).
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stack_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        bad = self.duplicate_batches or self.lost_or_partial_files or self.wrong_run_states
        return not bad and len(self.kills) >= 4 and not self.leftovers

    def lines(self) -> list[str]:
        def spread(values: list[float]) -> str:
            if not values:
                return "n/a"
            mid = statistics.median(values)
            return f"min {min(values):.1f} / median {mid:.1f} / max {max(values):.1f} s (n={len(values)})"

        states = dict(collections.Counter(self.run_states.values()))
        out = [
            f"{self.runs} runs, {self.batches_expected} batches, in {self.seconds:.0f} s "
            f"(stack up in {self.stack_seconds:.0f} s); run states {states}",
            f"faults injected {sum(self.faults_injected.values())}, served "
            f"{sum((self.faults_injected - self.faults_unserved).values())}:",
        ]
        out += [
            f"  {k:<34} {v} (unserved {self.faults_unserved[k]})"
            for k, v in sorted(self.faults_injected.items())
        ]
        out.append(f"kills: {len(self.kills)}")
        out += [f"  {k['what']:<12} {k['component']:<12} {k.get('task', '')}" for k in self.kills]
        out += [
            f"task retries (Airflow): {self.task_retries}",
            "retried create tasks by how their last try found the batch: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.retried_creates.items())) or "none"),
            "  ... create tasks killed after their create answer: "
            + (", ".join(self.killed_creates_found_by.get("after answer", [])) or "n/a"),
            "  ... create tasks killed before their create answer: "
            + (", ".join(self.killed_creates_found_by.get("before answer", [])) or "n/a"),
            f"create calls in the journal: {self.create_calls}; "
            f"batches in the emulator: {self.batches_created}",
            f"duplicate batches: {self.duplicate_batches}",
            f"lost or partial result files: {self.lost_or_partial_files}",
            f"runs ending in the wrong state: {self.wrong_run_states}",
            f"killed triggerer's waits polling again after: {spread(self.resume_seconds)}",
            f"  ... reassigned to the other triggerer after: {spread(self.reassign_seconds)}",
        ]
        out += [f"  problem: {p}" for p in self.problems[:30]]
        return out


class Chaos:
    def __init__(self, stack: DistributedStack, results_dir: Path, figures: Figures) -> None:
        assert stack.api is not None
        self.stack, self.api, self.results_dir, self.fig = stack, stack.api, results_dir, figures
        self.emu = httpx.Client(base_url=stack.emulator.base_url, timeout=30)
        self.key = stack.emulator.api_key
        self.pending_holds = list(HELD)
        self.triggerer_killed = False
        #: When the first deferred wait was seen (monotonic seconds; None: none yet).
        self.first_wait_seen: float | None = None
        self.restart_at: dict[str, float] = {}
        #: The after-create kill: None until a held poll is armed, then (run id, batch, fault path).
        self.after_create: tuple[str, str, str] | None = None
        self.after_create_done = False
        #: (run id, task id, map index) of create tasks on a killed worker -> "after answer" or
        #: "before answer" (whether their batch existed at the kill).
        self.killed_creates: dict[tuple[str, str, int], str] = {}

    # -- emulator ---------------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.emu.request(method, f"/_emulator/{path}", json=body)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def pending_faults(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "faults")["faults"])

    def journal(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "journal")["entries"])

    # -- the run ---------------------------------------------------------------------------------
    def start(self, runs: int, parts: int) -> list[str]:
        self.api.wait_for_dag(DAG_ID, timeout=180)
        self.api.request("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
        for kind, spec in TRANSIENT:
            self.control("POST", "faults", spec)
            self.fig.faults_injected[kind] += int(spec.get("times", 1))
        # The first held call of each kind is the one a worker dies in.
        self.control("POST", "faults", self.pending_holds[0][2])
        run_ids = []
        for i in range(runs):
            body = {
                "logical_date": None,
                "dag_run_id": f"chaos_{i:02d}",
                "conf": {"results_dir": str(self.results_dir), "parts": parts},
            }
            run_ids.append(str(self.api.request("POST", f"/dags/{DAG_ID}/dagRuns", json=body)["dag_run_id"]))
        self.fig.runs, self.fig.batches_expected = runs, runs * (2 + parts)
        return run_ids

    def running_tis(self, task_ids: tuple[str, ...]) -> list[dict[str, Any]]:
        found = self.api.request(
            "GET", f"/dags/{DAG_ID}/dagRuns/~/taskInstances", params={"state": "running", "limit": 500}
        )
        return [ti for ti in found["task_instances"] if ti["task_id"] in task_ids]

    def step_worker_kills(self) -> None:
        """When the current held call is in flight, kill the worker running its task."""
        if not self.pending_holds:
            return
        label, task_ids, spec = self.pending_holds[0]
        if any(f["path"] == spec["path"] and f["delay"] == HOLD for f in self.pending_faults()):
            return  # not consumed yet
        time.sleep(1.0)  # let the task be reported running
        candidates = [ti for ti in self.running_tis(task_ids) if ti.get("pid")]
        if label == "mid-create":
            # Only the creates still waiting for their answer: a create task waiting for its
            # batch in the worker (WORKER_WAIT_TASK) is running too, but past its create call.
            batches = self.tagged_batches()
            candidates = [
                ti
                for ti in candidates
                if TaskIdentity(DAG_ID, ti["task_id"], ti["dag_run_id"], int(ti["map_index"])).tag
                not in batches
            ]
        workers = collections.Counter(self.stack.pgid_of(int(ti["pid"])) for ti in candidates)
        workers.pop(None, None)
        if not workers:
            self.fig.problems.append(f"{label}: no running {task_ids} task found on a worker; not killed")
        else:
            worker = workers.most_common(1)[0][0]
            assert worker is not None
            self.kill_worker(worker, label)
        self.pending_holds.pop(0)
        if self.pending_holds:
            self.control("POST", "faults", self.pending_holds[0][2])

    def tagged_batches(self) -> dict[str, dict[str, Any]]:
        """The emulator's batches by task-instance tag (the latest one of each tag)."""
        found: dict[str, dict[str, Any]] = {}
        listing = self.emu.get(
            "/v1beta/batches", params={"pageSize": 1000}, headers={"x-goog-api-key": self.key}
        ).json()
        for op in listing.get("operations", []):
            match = _MARKER.search((op.get("metadata") or {}).get("displayName") or "")
            if match:
                found[match.group(1)] = op
        return found

    def kill_worker(self, worker: str, label: str) -> None:
        """SIGKILL ``worker`` and restart it; first note each create task running there and
        whether its batch already existed (the create had been answered) or not."""
        running = [
            ti
            for ti in self.running_tis(
                (*CREATE_TASKS, "file_upload", "part.upload", "file_results", "part.results")
            )
            if ti.get("pid")
        ]
        victims = [ti for ti in running if self.stack.pgid_of(int(ti["pid"])) == worker]
        batches = self.tagged_batches()
        for ti in victims:
            if ti["task_id"] not in CREATE_TASKS:
                continue
            key = (str(ti["dag_run_id"]), str(ti["task_id"]), int(ti["map_index"]))
            tag = TaskIdentity(DAG_ID, key[1], key[0], key[2]).tag
            self.killed_creates[key] = "after answer" if tag in batches else "before answer"
        tasks = [f"{ti['dag_run_id']}/{ti['task_id']}[{ti['map_index']}]" for ti in victims]
        self.stack.kill(worker)
        self.fig.kills.append(
            {"what": label, "component": worker, "task": ", ".join(tasks), "at": time.time()}
        )
        print(f"killed {worker} {label}: {tasks}", flush=True)
        self.stack.start_component(worker)

    def step_after_create_kill(self) -> None:
        """Kill a worker while its create task waits for the batch it created (after the answer).

        First: find a running ``WORKER_WAIT_TASK`` whose batch exists (by its task-instance tag)
        and hold that batch's next GET. Then, once the hold is consumed (the task is polling, so
        past its create and its task-state-store record), kill the worker running the task. If
        another kill already took that task down after its answer, that kill counts; if the task
        ended meanwhile, another run's is tried.
        """
        if self.after_create_done:
            return
        if any(how == "after answer" for how in self.killed_creates.values()):
            self.after_create_done = True  # another kill already hit a create after its answer
            return
        if self.after_create is None:
            running = {ti["dag_run_id"]: ti for ti in self.running_tis((WORKER_WAIT_TASK,)) if ti.get("pid")}
            batches = self.tagged_batches()
            for run_id in running:
                op = batches.get(TaskIdentity(DAG_ID, WORKER_WAIT_TASK, run_id).tag)
                if op is not None and not op.get("done"):
                    path = f"^/v1beta/{re.escape(op['name'])}(\\?|$)"
                    self.control("POST", "faults", {"method": "GET", "path": path, "delay": HOLD})
                    self.after_create = (run_id, op["name"], path)
                    return
            return
        run_id, _batch, path = self.after_create
        if any(f["path"] == path for f in self.pending_faults()):
            return  # not polled yet
        time.sleep(1.0)
        tis = [
            ti for ti in self.running_tis((WORKER_WAIT_TASK,)) if ti["dag_run_id"] == run_id and ti.get("pid")
        ]
        worker = self.stack.pgid_of(int(tis[0]["pid"])) if tis else None
        if worker is None:
            print(
                f"after-create: {run_id}/{WORKER_WAIT_TASK} no longer running; trying another run", flush=True
            )
            self.after_create = None
            return
        self.after_create_done = True
        self.kill_worker(worker, "after-create")

    def step_triggerer_kill(self) -> None:
        if self.triggerer_killed:
            return
        rows = self.stack.postgres.sql(
            "SELECT t.triggerer_id, t.id, ti.run_id, ti.task_id, ti.map_index FROM trigger t "
            # Only waits still deferred: a trigger that already fired has moved its task on, and
            # the next request for its batch would come from a worker, not a triggerer.
            "JOIN task_instance ti ON ti.trigger_id = t.id "
            "WHERE t.triggerer_id IS NOT NULL AND ti.state = 'deferred'"
        )
        by_job = collections.defaultdict(list)
        for job, trigger_id, run_id, task_id, map_index in rows:
            by_job[int(job)].append((int(trigger_id), run_id, task_id, int(map_index)))
        # Waits start staggered (scheduling lag on shared cores): strike once one triggerer holds
        # a few; the other one need not hold any.
        now = time.monotonic()
        if rows and self.first_wait_seen is None:
            self.first_wait_seen = now
        late = self.first_wait_seen is not None and now - self.first_wait_seen > LATE_AFTER
        needed = LATE_KILL_AT_WAITS if late else KILL_AT_WAITS
        if not by_job or max(len(v) for v in by_job.values()) < needed:
            return
        jobs = sorted(j for j, alive in self.stack.triggerer_job_ids().items() if alive)
        victim_job = max(by_job, key=lambda j: len(by_job[j]))
        # Triggerer 1 started first, so it has the lower of the two live job ids.
        name = "triggerer-1" if victim_job == jobs[0] else "triggerer-2"
        waits = by_job[victim_job]
        batches = {}
        for trigger_id, run_id, task_id, map_index in waits:
            create_task = (
                task_id.rsplit(".", 1)[0] + ".create"
                if "." in task_id
                else task_id.replace("_wait", "_create")
            )
            xcom = self.api.request(
                "GET",
                f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{create_task}/xcomEntries/return_value",
                params={"map_index": map_index},
            )
            batches[trigger_id] = str(xcom["value"]).strip('"')
        killed_at = self.stack.kill(name)
        self.triggerer_killed = True
        self.fig.kills.append(
            {"what": "mid-wait", "component": name, "task": f"{len(waits)} waits", "at": killed_at}
        )
        print(f"killed {name} holding {len(waits)} waits", flush=True)
        self.measure_resume(victim_job, killed_at, batches)
        self.stack.start_component(name)

    def measure_resume(self, victim_job: int, killed_at: float, batches: dict[int, str]) -> None:
        """Wait until every wait of the dead triggerer polled again (or ended); record the delays."""
        reassigned: dict[int, float] = {}
        resumed: dict[int, float] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(resumed) < len(batches):
            rows = self.stack.postgres.sql("SELECT id, triggerer_id FROM trigger")
            now = time.time()
            current = {int(r[0]): r[1] for r in rows}
            for trigger_id in batches:
                owner = current.get(trigger_id)
                if trigger_id not in reassigned and owner is not None and int(owner) != victim_job:
                    reassigned[trigger_id] = now - killed_at
            journal = self.journal()
            for trigger_id, batch in batches.items():
                if trigger_id in resumed:
                    continue
                for entry in journal:
                    if (
                        entry.get("at", 0) > killed_at
                        and entry["method"] == "GET"
                        and entry["path"] == f"/v1beta/{batch}"
                    ):
                        resumed[trigger_id] = float(entry["at"]) - killed_at
                        break
            # The worker kills go on meanwhile (a held call must not run out unobserved).
            self.step_worker_kills()
            self.step_after_create_kill()
            time.sleep(0.5)
        self.fig.reassign_seconds += [round(v, 1) for v in reassigned.values()]
        # A wait whose batch ended before the kill never polls again, nor needs to.
        self.fig.resume_seconds += [round(v, 1) for v in resumed.values()]
        missing = set(batches) - set(resumed)
        if missing:
            self.fig.problems.append(f"{len(missing)} waits of the killed triggerer never polled again")

    def run_states(self) -> dict[str, str]:
        """Every chaos run's state, in one request (the API server shares 2 cores with the rest)."""
        listing = self.api.request("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})
        return {str(r["dag_run_id"]): str(r["state"]) for r in listing["dag_runs"]}

    def follow(self, run_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while True:
            self.stack.alive()
            try:
                self.step_worker_kills()
                self.step_after_create_kill()
                self.step_triggerer_kill()
                states = self.run_states()
            except httpx.TimeoutException as exc:
                # A loaded API server answers slowly; the observer waits, the run goes on.
                print(f"observer: {exc!r}, retrying", flush=True)
                time.sleep(2)
                continue
            ended = all(states.get(r) in ("success", "failed") for r in run_ids)
            if ended:
                if self.pending_holds:
                    self.fig.problems.append(
                        f"runs ended before the kills {[h[0] for h in self.pending_holds]}"
                    )
                self.fig.run_states = states
                return
            if time.monotonic() > deadline:
                self.fig.run_states = states
                self.fig.problems.append(f"timed out with states {states}")
                return
            time.sleep(1.5)

    # -- counting --------------------------------------------------------------------------------
    def count(self, run_ids: list[str], parts: int) -> None:
        fig = self.fig
        for kind_spec in self.pending_faults():
            for kind, spec in TRANSIENT:
                if (
                    spec["path"] == kind_spec["path"]
                    and spec.get("status") == kind_spec.get("status")
                    and bool(spec.get("lose_answer")) == bool(kind_spec.get("lose_answer"))
                    and spec.get("drop_after_bytes") == kind_spec.get("drop_after_bytes")
                ):
                    fig.faults_unserved[kind] += int(kind_spec["times"])
                    break
        journal = self.journal()
        fig.create_calls = sum(
            1 for e in journal if e["method"] == "POST" and e["path"].endswith(":batchGenerateContent")
        )
        tags: collections.Counter[str] = collections.Counter()
        token = ""
        while True:
            page = self.emu.get(
                "/v1beta/batches",
                params={"pageSize": 1000, **({"pageToken": token} if token else {})},
                headers={"x-goog-api-key": self.key},
            ).json()
            for op in page.get("operations", []):
                fig.batches_created += 1
                match = _MARKER.search((op.get("metadata") or {}).get("displayName") or "")
                tags[match.group(1) if match else op["name"]] += 1
            token = page.get("nextPageToken", "")
            if not token:
                break
        fig.duplicate_batches = sum(n - 1 for n in tags.values())
        if not self.killed_creates_any_after_answer():
            fig.problems.append("no create task was killed after its create answer")
        if fig.batches_created - fig.duplicate_batches != fig.batches_expected:
            fig.problems.append(f"{fig.batches_created} batches for {fig.batches_expected} expected")
        for run_id in run_ids:
            if fig.run_states.get(run_id) != "success":
                fig.wrong_run_states += 1
                fig.problems.append(f"run {run_id} ended {fig.run_states.get(run_id)}")
            for ti in self.api.task_instances(DAG_ID, run_id):
                fig.task_retries += max(0, int(ti.get("try_number") or 1) - 1)
                if ti["task_id"] in CREATE_TASKS and int(ti.get("try_number") or 1) > 1:
                    how = self.found_by(
                        run_id, ti["task_id"], int(ti.get("map_index", -1)), int(ti["try_number"])
                    )
                    fig.retried_creates[how] += 1
                    key = (run_id, str(ti["task_id"]), int(ti.get("map_index", -1)))
                    if key in self.killed_creates:
                        fig.killed_creates_found_by.setdefault(self.killed_creates[key], []).append(how)
            out = self.results_dir / run_id / "out"
            for name in ["file", "inline", *(f"part-{i}" for i in range(parts))]:
                path = out / f"{name}.jsonl"
                expected = {f"{name}-{n}" for n in range(ROWS)}
                try:
                    keys = [json.loads(line)["key"] for line in path.read_text().splitlines() if line.strip()]
                except (OSError, ValueError, KeyError) as exc:
                    fig.lost_or_partial_files += 1
                    fig.problems.append(f"{path}: {exc!r}")
                    continue
                if sorted(keys) != sorted(expected):
                    fig.lost_or_partial_files += 1
                    fig.problems.append(f"{path}: keys {sorted(keys)[:3]}... != {len(expected)} expected")

    def killed_creates_any_after_answer(self) -> bool:
        return "after answer" in self.killed_creates.values()

    def found_by(self, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
        """How try ``try_number`` of a create task found its batch, from its log file on disk."""
        folder = self.stack.workdir / "airflow-home" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        folder = folder / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        try:
            text = (folder / f"attempt={try_number}.log").read_text(errors="replace")
        except OSError as exc:
            self.fig.problems.append(f"no log of {run_id}/{task_id}[{map_index}] try {try_number}: {exc!r}")
            return "log missing"
        for how, phrase in FOUND_BY.items():
            if phrase in text:
                return how
        return "created"


def run(runs: int, parts: int, workdir: Path) -> Figures:
    fig = Figures()
    started = time.monotonic()
    results = workdir / "results"
    with distributed_stack(
        workdir,
        dags_folder=DAGS,
        processing_seconds=30.0,
        conn_extra=CONN_EXTRA,
        log=lambda line: print(line, flush=True),
    ) as stack:
        fig.stack_seconds = time.monotonic() - started
        chaos = Chaos(stack, results, fig)
        try:
            run_ids = chaos.start(runs, parts)
            chaos.follow(run_ids, timeout=900)
            chaos.count(run_ids, parts)
        except (StackError, httpx.HTTPError) as exc:
            fig.problems.append(f"aborted: {exc!r}"[:3000])
            fig.wrong_run_states = max(fig.wrong_run_states, 1)
            print(stack.diagnostics(), flush=True)
    fig.seconds = time.monotonic() - started
    fig.leftovers = stack.leftovers()
    if fig.leftovers:
        fig.problems.append(f"teardown left {fig.leftovers}")
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="DAG runs (5 batches each with --parts 3)")
    parser.add_argument("--parts", type=int, default=3, help="mapped batches per run")
    parser.add_argument("--quick", action="store_true", help="6 runs x 5 batches = 30 batches (CI)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    runs = 6 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="gemini-chaos-distributed-") as tmp:
        fig = run(runs, args.parts, args.workdir or Path(tmp))
    print("\n".join(fig.lines()), flush=True)
    if args.json:
        data = {k: v for k, v in vars(fig).items()}
        args.json.write_text(json.dumps(data, indent=2, default=str))
    return 0 if fig.ok else 1


if __name__ == "__main__":
    sys.exit(main())
