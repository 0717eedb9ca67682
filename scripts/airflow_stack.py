"""Start and stop a real Airflow (``airflow standalone``) plus the Gemini Batch emulator.

Shared by ``make demo`` (scripts/demo.py) and the end-to-end test (tests/e2e/), so both exercise
the same setup: every process runs in its own process group with its output in a log file under
the stack directory, listens on a free loopback port, and is stopped by killing the whole group
(``airflow standalone`` spawns the scheduler, triggerer, dag-processor, API server and task
processes; killing only the parent would leave them running).

Nothing here imports Airflow: the stack is driven through its command line and REST API v2 only,
which is what an operator of a real deployment has too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "dags_examples"
_T = TypeVar("_T")


class StackError(RuntimeError):
    """A process of the stack did not start, or a wait on it ran out of time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], _T | None], *, timeout: float, interval: float = 0.5) -> _T:
    """Call ``probe`` every ``interval`` seconds until it returns something other than None.

    Args:
        what: description used in the error message.
        probe: returns None while the condition does not hold; exceptions count as "not yet".
        timeout: seconds before giving up.

    Raises:
        StackError: when ``timeout`` seconds passed without success (carries the last exception).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
            if result is not None:
                return result
        except Exception as exc:  # a server still starting answers with all sorts of errors
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise StackError(f"Timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """A child process in its own process group, its stdout and stderr going to ``log_path``."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    log_path: Path
    cwd: Path = REPO_ROOT
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            # start_new_session: the child leads a new process group we can kill as a whole,
            # and a Ctrl-C in the terminal reaches only us, so we decide the shutdown order.
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ensure_running(self) -> None:
        """Raise StackError with the log's tail if the process has exited."""
        if self.popen is not None and self.popen.poll() is not None:
            raise StackError(
                f"{self.name} exited with code {self.popen.returncode}; "
                f"last log lines:\n{tail(self.log_path)}"
            )

    def group_alive(self) -> bool:
        """True while any process of this child's process group still exists."""
        if self.popen is None:
            return False
        try:
            os.killpg(self.popen.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the process group, SIGKILL whatever is left after ``grace`` seconds.

        Waits until no process of the group remains, so ports and the SQLite file are released.
        """
        if self.popen is None:
            return
        pgid = self.popen.pid
        for sig, wait_seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                self.popen.poll()
                try:
                    os.killpg(pgid, 0)  # raises once the whole group is gone
                except ProcessLookupError:
                    self.popen.wait(timeout=1)
                    return
                time.sleep(0.2)
        self.popen.poll()


@dataclass
class EmulatorProcess:
    """``python -m airflow_provider_gemini_batch.emulator`` on a free port."""

    workdir: Path
    api_key: str = "emulator-key"
    processing_seconds: float = 10.0
    python: str = sys.executable
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = field(default=None, init=False)
    base_url: str = field(default="", init=False)

    def start(self, timeout: float = 30.0) -> str:
        """Start the emulator and wait for its ``... listening on http://...`` line; return the URL."""
        log_path = self.workdir / "logs" / "emulator.log"
        argv = [
            self.python,
            "-m",
            "airflow_provider_gemini_batch.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--processing-seconds",
            str(self.processing_seconds),
            "--api-key",
            self.api_key,
            "--data-dir",
            str(self.workdir / "emulator-data"),
        ]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.process = ManagedProcess("emulator", argv, env, log_path)
        self.process.start()

        def listening() -> str | None:
            assert self.process is not None
            self.process.ensure_running()
            for line in tail(log_path, 200).splitlines():
                if "listening on " in line:
                    return line.split("listening on ", 1)[1].strip()
            return None

        try:
            self.base_url = wait_for("the emulator to listen", listening, timeout=timeout, interval=0.1)
        except StackError as exc:
            raise StackError(f"{exc}\nEmulator log:\n{tail(log_path)}") from exc
        return self.base_url

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5.0)


@dataclass
class AirflowStandalone:
    """``airflow standalone`` with its own AIRFLOW_HOME, DAGs folder and API port.

    Args:
        home: the AIRFLOW_HOME (created; its SQLite database and logs live there).
        dags_folder: the DAGs folder the dag-processor parses.
        connections: conn_id -> Airflow connection JSON, exported as ``AIRFLOW_CONN_<ID>``.
        extra_env: more environment for every Airflow process (e.g. ``AIRFLOW__...`` settings).
    """

    home: Path
    dags_folder: Path = EXAMPLES_DIR
    connections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)
    airflow_bin: str = str(Path(sys.executable).with_name("airflow"))
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "standalone.log"

    @property
    def password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    def environment(self) -> dict[str, str]:
        """The environment every Airflow process of the stack runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.base_url,
                # Task processes report to the API server's execution API; default is port 8080.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                # Parse new/changed DAG files within seconds instead of minutes.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                # The connection form's Test button (off by default in Airflow). On 3.3.2 it fails
                # for a saved connection without a port; docs/connection.md has the REST workaround.
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "PYTHONUNBUFFERED": "1",
                # standalone starts its components as `airflow ...` found on PATH.
                "PATH": os.pathsep.join([str(Path(self.airflow_bin).parent), os.environ.get("PATH", "")]),
            }
        )
        for conn_id, conn in self.connections.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(dict(conn))
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        """Launch ``airflow standalone`` (returns at once; use :meth:`wait_ready`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            "airflow standalone", [self.airflow_bin, "standalone"], self.environment(), self.log_path
        )
        self.process.start()

    def wait_ready(self, timeout: float = 120.0) -> AirflowApi:
        """Wait for the API server and the admin password; return a logged-in API client.

        Raises:
            StackError: on timeout or when the standalone process exits.
        """

        def healthy() -> bool | None:
            assert self.process is not None
            self.process.ensure_running()
            response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
            return True if response.status_code == 200 else None

        try:
            wait_for("the Airflow API server", healthy, timeout=timeout)
        except StackError as exc:
            raise StackError(f"{exc}\n{self.diagnostics()}") from exc

        def password() -> str | None:
            if not self.password_file.exists():
                return None
            users: dict[str, str] = json.loads(self.password_file.read_text())
            return users.get("admin")

        secret = wait_for("the generated admin password", password, timeout=30)
        return AirflowApi.login(self.base_url, "admin", secret)

    def admin_password(self) -> str | None:
        """The generated admin password, once standalone has written it."""
        if not self.password_file.exists():
            return None
        users: dict[str, str] = json.loads(self.password_file.read_text())
        return users.get("admin")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=20.0)

    def diagnostics(self, lines: int = 60) -> str:
        """The tail of the standalone log and of every task log under AIRFLOW_HOME/logs."""
        parts = [f"== {self.log_path}", tail(self.log_path, lines)]
        logs = self.home / "logs"
        if logs.exists():
            for task_log in sorted(logs.rglob("*.log"))[-8:]:
                parts += [f"== {task_log}", tail(task_log, 25)]
        return "\n".join(parts)


@dataclass
class AirflowApi:
    """A minimal REST API v2 client holding a bearer token."""

    base_url: str
    token: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> AirflowApi:
        """``POST /auth/token`` with the simple auth manager's credentials.

        Raises:
            httpx.HTTPStatusError: when the credentials are refused.
        """
        response = httpx.post(
            f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        response.raise_for_status()
        return cls(base_url=base_url, token=str(response.json()["access_token"]))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request under ``/api/v2``; return the parsed JSON body.

        Raises:
            httpx.HTTPStatusError: for any non-2xx answer (the body is in the message).
        """
        headers = {"Authorization": f"Bearer {self.token}"}
        response = self.client.request(method, f"{self.base_url}/api/v2{path}", headers=headers, **kwargs)
        if response.is_error:
            raise httpx.HTTPStatusError(
                f"{method} {path} -> {response.status_code}: {response.text[:500]}",
                request=response.request,
                response=response,
            )
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; fail fast on an import error."""

        def parsed() -> dict[str, Any] | None:
            errors = self.request("GET", "/importErrors")
            for error in errors.get("import_errors", []):
                if dag_id in str(error.get("filename", "")):
                    raise StackError(f"Import error in {error['filename']}:\n{error.get('stack_trace')}")
            try:
                dag: dict[str, Any] = self.request("GET", f"/dags/{dag_id}")
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 404:
                    return None
                raise
            return dag

        return wait_for(f"DAG {dag_id} to be parsed", parsed, timeout=timeout, interval=1.0)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and create a run now; return its run id."""
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        body = {"logical_date": None, "conf": dict(conf or {})}
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        return result

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        result = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return list(result["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one (unmapped) task instance, from its history."""
        result = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return list(result["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        result = self.request(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        )
        value = result["value"]
        # The API returns the stored value; older versions returned it serialised as a string.
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value

    def close(self) -> None:
        self.client.close()


@dataclass
class StateTimeline:
    """Observed state transitions of task instances, timestamped by the observer (epoch seconds).

    The REST API shows a task instance's current state and its start/end dates but no history of
    the deferral, so we poll and record each change. The timing resolution is the poll interval.
    """

    changes: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def observe(self, task_instances: list[dict[str, Any]], now: float | None = None) -> list[str]:
        """Record states that changed; return human-readable lines describing the changes."""
        now = time.time() if now is None else now
        lines = []
        for ti in task_instances:
            mapped = ti.get("map_index", -1) not in (-1, None)
            label = f"{ti['task_id']}[{ti['map_index']}]" if mapped else str(ti["task_id"])
            state = ti.get("state") or "none"
            history = self.changes.setdefault(label, [])
            if not history or history[-1][1] != state:
                history.append((now, state))
                lines.append(f"{label}: {state}")
        return lines

    def seen(self, label: str, state: str) -> bool:
        return any(s == state for _, s in self.changes.get(label, []))

    def seconds_in(self, label: str, state: str, until: float | None = None) -> float:
        """Total observed seconds ``label`` spent in ``state`` (open interval closed at ``until``)."""
        history = self.changes.get(label, [])
        total = 0.0
        for (start, current), nxt in zip(history, [*history[1:], None], strict=True):
            if current != state:
                continue
            end = nxt[0] if nxt is not None else (until if until is not None else time.time())
            total += end - start
        return total


TERMINAL_RUN_STATES = frozenset({"success", "failed"})


def follow_run(
    api: AirflowApi,
    dag_id: str,
    run_id: str,
    *,
    timeout: float,
    on_change: Callable[[str], None] = lambda line: None,
    interval: float = 0.25,
    alive: Callable[[], None] = lambda: None,
) -> tuple[str, StateTimeline]:
    """Poll a run until it ends, reporting every task state change to ``on_change``.

    Args:
        interval: seconds between polls (also the timing resolution of the timeline).
        alive: called on every poll; raise from it to abort (e.g. a stack process exited).

    Returns:
        The run's final state and the observed timeline.

    Raises:
        StackError: if the run has not ended within ``timeout`` seconds.
    """
    timeline = StateTimeline()
    deadline = time.monotonic() + timeout
    while True:
        alive()
        for line in timeline.observe(api.task_instances(dag_id, run_id)):
            on_change(line)
        state = str(api.dag_run(dag_id, run_id)["state"])
        if state in TERMINAL_RUN_STATES:
            # One last look so the final task states are in the timeline.
            for line in timeline.observe(api.task_instances(dag_id, run_id)):
                on_change(line)
            return state, timeline
        if time.monotonic() > deadline:
            raise StackError(f"Run {run_id} of {dag_id} still {state} after {timeout:.0f} s")
        time.sleep(interval)


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _parse_when(value: str) -> float:
    """An API timestamp (``2026-11-24T02:24:29.850718Z``) as epoch seconds."""
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def worker_vs_deferred(api: AirflowApi, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """How long one task instance held a worker versus how long it waited deferred.

    Computed from the server-side audit log (``GET /api/v2/eventLogs``), where Airflow records a
    ``running`` event each time a worker starts (or resumes) the task, ``deferred`` when it hands
    the wait to the triggerer, and ``success``/``failed`` at the end. A deferred wait therefore
    reads ``running, deferred, running, success``:

    * ``worker_held_seconds``: sum of the intervals from each ``running`` to the next
      ``deferred``/end event (time spent executing on a worker);
    * ``deferred_seconds``: sum of the intervals from ``deferred`` to the next ``running`` (waiting
      in the triggerer, plus the scheduler's hand-back and queueing, which hold no worker);
    * ``events``: the raw ``(event, epoch seconds)`` sequence, for the record.

    Cross-checked with the try record of ``.../taskInstances/{task_id}/tries`` (``start_date``,
    ``end_date``) returned as ``start_to_end_seconds``.
    """
    listing = api.request(
        "GET",
        "/eventLogs",
        params={"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "limit": 100},
    )
    events = [
        (str(e["event"]), _parse_when(str(e["when"])))
        for e in listing["event_logs"]
        if e.get("task_id") == task_id and e.get("run_id") == run_id
    ]
    events.sort(key=lambda item: item[1])
    worker = deferred = 0.0
    opened: tuple[str, float] | None = None
    for event, when in events:
        if opened is not None:
            if opened[0] == "running" and event != "running":
                worker += when - opened[1]
            elif opened[0] == "deferred" and event == "running":
                deferred += when - opened[1]
        if event in ("running", "deferred"):
            opened = (event, when)
        elif event in ("success", "failed", "up_for_retry"):
            opened = None
    tries = api.tries(dag_id, run_id, task_id)
    last = tries[-1] if tries else {}
    span = None
    if last.get("start_date") and last.get("end_date"):
        span = _parse_when(last["end_date"]) - _parse_when(last["start_date"])
    return {
        "task_id": task_id,
        "worker_held_seconds": round(worker, 3),
        "deferred_seconds": round(deferred, 3),
        "start_to_end_seconds": None if span is None else round(span, 3),
        "deferrals": sum(1 for event, _ in events if event == "deferred"),
        "events": [[event, round(when, 3)] for event, when in events],
    }


@dataclass
class Stack:
    """A running emulator (unless the real API is used) and Airflow, with a logged-in client."""

    airflow: AirflowStandalone
    api: AirflowApi
    emulator: EmulatorProcess | None
    gemini_url: str

    def processes(self) -> list[ManagedProcess]:
        """The managed processes of the stack (Airflow first)."""
        found = [self.airflow.process]
        if self.emulator is not None:
            found.append(self.emulator.process)
        return [p for p in found if p is not None]

    def alive(self) -> None:
        """Raise StackError if a process of the stack has exited."""
        if self.emulator is not None and self.emulator.process is not None:
            self.emulator.process.ensure_running()
        if self.airflow.process is not None:
            self.airflow.process.ensure_running()


def gemini_connection(base_url: str | None, api_key: str) -> dict[str, Any]:
    """The ``gemini_batch_default`` connection: the emulator's URL, or the real API without host."""
    conn: dict[str, Any] = {"conn_type": "gemini_batch", "password": api_key}
    if base_url:
        conn["host"] = base_url
    return conn


@contextmanager
def running_stack(
    workdir: Path,
    *,
    processing_seconds: float = 15.0,
    real_api_key: str | None = None,
    dags_folder: Path = EXAMPLES_DIR,
    ready_timeout: float = 360.0,
    log: Callable[[str], None] = lambda line: None,
) -> Iterator[Stack]:
    """Start the emulator (skipped with ``real_api_key``) and ``airflow standalone``; stop both at exit.

    Everything lives under ``workdir``: ``airflow-home/`` (AIRFLOW_HOME, SQLite DB, logs),
    ``logs/emulator.log`` and ``emulator-data/``. Every process is stopped on exit, also when the
    body raises or on KeyboardInterrupt.

    Raises:
        StackError: when a process does not come up within ``ready_timeout`` seconds (the
            message carries the tail of its log).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    emulator: EmulatorProcess | None = None
    airflow: AirflowStandalone | None = None
    try:
        if real_api_key:
            gemini_url, key = "", real_api_key
        else:
            emulator = EmulatorProcess(workdir=workdir, processing_seconds=processing_seconds)
            key = emulator.api_key
        # The emulator needs its port before Airflow starts (the connection names it), but not
        # its readiness: pick the port now, let both boot at the same time.
        conn_url = "" if emulator is None else f"http://127.0.0.1:{emulator.port}"
        airflow = AirflowStandalone(
            home=workdir / "airflow-home",
            dags_folder=dags_folder,
            connections={"gemini_batch_default": gemini_connection(conn_url or None, key)},
        )
        log(f"Starting airflow standalone (AIRFLOW_HOME={airflow.home}, API port {airflow.port})")
        airflow.start()
        if emulator is not None:
            gemini_url = emulator.start()
            log(f"Gemini Batch emulator listening on {gemini_url}")
        api = airflow.wait_ready(timeout=ready_timeout)
        log(f"Airflow API server ready at {airflow.base_url}")
        yield Stack(airflow=airflow, api=api, emulator=emulator, gemini_url=gemini_url or "real API")
    finally:
        if airflow is not None:
            airflow.stop()
        if emulator is not None:
            emulator.stop()
