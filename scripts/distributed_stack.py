"""Start and stop Airflow's distributed stack: PostgreSQL, Redis, Celery workers, two triggerers.

What runs (each in its own process group, its output in ``<workdir>/logs/<name>.log``, on free
loopback ports):

* a throwaway PostgreSQL cluster (Debian's ``postgresql`` package: ``initdb`` + ``postgres`` in a
  temp dir) as the metadata database, and ``redis-server`` as the Celery broker; both run as a
  non-root user (``postgres`` / ``redis``) when we are root, since PostgreSQL refuses root;
* ``airflow db migrate`` once, then an API server, a scheduler, a DAG processor, **two
  triggerers** and **two Celery workers** (``airflow celery worker``), plus the Gemini emulator.

Everything is torn down by :func:`distributed_stack` on exit, also on errors and Ctrl-C: every
process group ever started (restarted components included) is SIGTERMed then SIGKILLed, and the
data directories are removed. :meth:`DistributedStack.leftovers` lists whatever survived, so a test
can assert nothing did.

Settings shortened for tests (documented in docs/scaling.md):

* ``[triggerer] triggerer_health_check_threshold`` (default 30 s): how long after its last
  heartbeat a triggerer counts as dead and its triggers are taken over by another one
  (``Trigger.assign_unassigned`` in airflow/models/trigger.py); ``[triggerer] job_heartbeat_sec``
  (default 5 s) is how often a live one heartbeats.
* ``[scheduler] task_instance_heartbeat_timeout`` (default 300 s): how long a task whose worker
  died stays ``running`` before the scheduler fails it into its retry.
* ``[scheduler] task_queued_timeout`` (default 600 s): how long a task whose Celery message
  was taken by a worker that died before starting it stays ``queued`` before it is queued again.
* ``[triggerer] queues_enabled = True``: a deferred task's trigger carries the task's ``queue``;
  a triggerer started with ``--queues`` runs only those (Airflow 3.2+).

Nothing here imports Airflow; the stack is driven through its command line and REST API v2.

Usage: ``python scripts/distributed_stack.py [--keep-running]`` starts it, prints where
everything is, and tears it down (after Enter with ``--keep-running``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_stack import (
    AirflowApi,
    EmulatorProcess,
    ManagedProcess,
    StackError,
    free_port,
    gemini_connection,
    tail,
    wait_for,
)

#: The Celery/trigger queue the chaos DAG pins its Gemini waits to (docs/scaling.md).
GEMINI_QUEUE = "gemini"
#: Queues every worker and triggerer of the test stack consumes (``[operators] default_queue``
#: is ``default``; with ``queues_enabled`` every trigger carries its task's queue).
QUEUES = f"default,{GEMINI_QUEUE}"


def _as_user(name: str) -> list[str]:
    """argv prefix running a command as ``name`` when we are root (``runuser``), else nothing."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", name, "--"]


def _service_user(*candidates: str) -> str:
    """The first existing system user of ``candidates`` (only used when running as root)."""
    for name in candidates:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise StackError(f"none of the users {candidates} exists; run scripts/install_distributed.sh")


def _chown(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def postgres_bindir() -> Path:
    """Directory of Debian's PostgreSQL server binaries (newest major), or of ``initdb`` on PATH.

    Raises:
        StackError: when PostgreSQL is not installed (``make test-distributed`` installs it).
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise StackError("PostgreSQL is not installed: run scripts/install_distributed.sh")


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster under ``root`` (trust auth, loopback only, no fsync)."""

    root: Path
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"

    def start(self, timeout: float = 60.0) -> None:
        bindir = postgres_bindir()
        user = _service_user("postgres")
        data, sockets = self.root / "pgdata", self.root / "pgsocket"
        for path in (data, sockets):
            path.mkdir(parents=True)
            _chown(path, user)
        prefix = _as_user(user)
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "airflow",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        argv = [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(self.port)]
        argv += ["-k", str(sockets), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400"]
        # Durability is pointless for a throwaway cluster and costs seconds on every commit burst.
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.process = ManagedProcess("postgres", argv, dict(os.environ), self.log_dir / "postgres.log")
        self.process.start()

        def ready() -> bool | None:
            assert self.process is not None
            self.process.ensure_running()
            done = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            return True if done.returncode == 0 else None

        wait_for("PostgreSQL", ready, timeout=timeout, interval=0.2)
        self.sql("CREATE DATABASE airflow", database="postgres")

    def sql(self, statement: str, database: str = "airflow") -> list[tuple[Any, ...]]:
        """Run one SQL statement (autocommit) and return its rows (empty for non-queries)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname=database)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()


@dataclass
class Redis:
    """``redis-server`` on a free loopback port, no persistence."""

    root: Path
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: ManagedProcess | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not installed: run scripts/install_distributed.sh")
        user = _service_user("redis", "postgres")
        data = self.root / "redis"
        data.mkdir(parents=True)
        _chown(data, user)
        argv = [*_as_user(user), binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(data), "--daemonize", "no"]
        self.process = ManagedProcess("redis", argv, dict(os.environ), self.log_dir / "redis.log")
        self.process.start()

        def ready() -> bool | None:
            assert self.process is not None
            self.process.ensure_running()
            return True if "Ready to accept connections" in tail(self.process.log_path, 50) else None

        wait_for("Redis", ready, timeout=timeout, interval=0.2)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _processes_with_env(key: str, value: str) -> list[int]:
    """Pids of processes whose environment has ``key=value`` (root, or our own processes)."""
    needle = f"{key}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _fernet_key() -> str:
    """A Fernet key (32 random bytes, urlsafe base64) shared by every Airflow process."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass
class DistributedStack:
    """The running stack; components by name (``triggerer-1``, ``worker-2``, ...)."""

    workdir: Path
    data_root: Path
    postgres: Postgres
    redis: Redis
    emulator: EmulatorProcess
    env: dict[str, str]
    api_port: int
    components: dict[str, ManagedProcess] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)
    #: Every process group started, restarted components included (for teardown and leftovers).
    started_pgids: list[int] = field(default_factory=list)
    api: AirflowApi | None = None
    #: Per-component environment on top of ``env`` (each its own log-server port: the defaults
    #: 8793/8794 would collide between the two workers/triggerers on one machine).
    component_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_component(self, name: str) -> ManagedProcess:
        """(Re)start the component ``name`` with its argv; its log is appended to."""
        log_path = self.workdir / "logs" / f"{name}.log"
        if log_path.exists():
            log_path.rename(log_path.with_suffix(f".{int(time.time() * 1000)}.log"))
        env = {**self.env, **self.component_env.get(name, {})}
        process = ManagedProcess(name, self.argv[name], env, log_path)
        process.start()
        assert process.popen is not None
        self.started_pgids.append(process.popen.pid)
        self.components[name] = process
        return process

    def kill(self, name: str) -> float:
        """SIGKILL ``name`` as a dying machine would; return the epoch time.

        Kills the component's process group **and** the groups of its descendants: Airflow's task
        supervisor puts each task process in a group of its own (``os.setpgid`` in
        airflow/sdk/execution_time/supervisor.py), so killing the worker's group alone would leave
        the task running on as an orphan, finishing the very call it should die in.
        """
        process = self.components[name]
        assert process.popen is not None
        groups = {process.popen.pid} | {_pgid(pid) for pid in _descendants(process.popen.pid)}
        when = time.time()
        for pgid in groups - {None}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        process.popen.wait(timeout=10)
        wait_for(
            f"{name}'s process group to vanish", lambda: None if process.group_alive() else True, timeout=10
        )
        return when

    def pgid_of(self, pid: int) -> str | None:
        """The component whose process group, or process tree, holds ``pid`` (a task), or None."""
        leaders = {p.popen.pid: name for name, p in self.components.items() if p.popen is not None}
        for _ in range(16):  # walk up the parents: a task process may lead its own group
            try:
                if os.getpgid(pid) in leaders:
                    return leaders[os.getpgid(pid)]
                stat = Path(f"/proc/{pid}/stat").read_text()
            except (ProcessLookupError, OSError):
                return None
            pid = int(stat.rsplit(")", 1)[1].split()[1])
            if pid <= 1:
                return None
        return None

    def alive(self) -> None:
        """Raise StackError if a component exited (killed ones are restarted by the caller)."""
        for process in self.components.values():
            process.ensure_running()

    def triggerer_job_ids(self) -> dict[int, bool]:
        """TriggererJob ids from the metadata DB -> still running (no end date)."""
        rows = self.postgres.sql("SELECT id, end_date IS NULL FROM job WHERE job_type = 'TriggererJob'")
        return {int(r[0]): bool(r[1]) for r in rows}

    def leftovers(self) -> list[str]:
        """What survived teardown: process groups started, any process running with this stack's
        AIRFLOW_HOME (task processes lead groups of their own), and data directories."""
        found = []
        for pgid in self.started_pgids:
            try:
                os.killpg(pgid, 0)
                found.append(f"process group {pgid} alive")
            except ProcessLookupError:
                pass
            except PermissionError:
                found.append(f"process group {pgid} alive (other user)")
        found += [
            f"process {pid} alive" for pid in _processes_with_env("AIRFLOW_HOME", self.env["AIRFLOW_HOME"])
        ]
        if self.data_root.exists():
            found.append(f"data dir {self.data_root} present")
        return found

    def diagnostics(self, lines: int = 30) -> str:
        parts = []
        for log in sorted((self.workdir / "logs").glob("*.log")):
            parts += [f"== {log}", tail(log, lines)]
        return "\n".join(parts)


def _airflow_env(
    home: Path,
    dags_folder: Path,
    pg: Postgres,
    redis: Redis,
    api_port: int,
    connections: Mapping[str, Mapping[str, Any]],
    extra_env: Mapping[str, str],
) -> dict[str, str]:
    base_url = f"http://127.0.0.1:{api_port}"
    airflow_bin = Path(sys.executable).with_name("airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url,
            "AIRFLOW__CELERY__BROKER_URL": redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg.url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "3",
            # Every process must sign and check the same tokens (standalone writes these once).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "2",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Trigger queues (Airflow 3.2+): a trigger carries its task's queue.
            "AIRFLOW__TRIGGERER__QUEUES_ENABLED": "True",
            # Shortened for the test: a dead triggerer's triggers move after 8 s, not 30 s.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
            # Shortened for the test: a task on a dead worker is failed (into its retry) after 20 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # Shortened for the test: a task whose Celery message died with its worker before the
            # task started stays `queued` (never heartbeats; Redis redelivers an unacked message
            # only after the 24 h visibility timeout) until this, 600 s by default; then the
            # scheduler queues it again.
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
            # ... which then must exceed a healthy task's time in the Celery queue: the scheduler
            # queues no more tasks than the workers have slots (2 x 3).
            "AIRFLOW__CORE__PARALLELISM": "6",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
            "PYTHONUNBUFFERED": "1",
            "PATH": os.pathsep.join([str(airflow_bin.parent), os.environ.get("PATH", "")]),
        }
    )
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(dict(conn))
    env.update(extra_env)
    return env


def _component_argv(api_port: int) -> dict[str, list[str]]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    argv = {
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port)],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
    }
    for i in (1, 2):
        argv[f"triggerer-{i}"] = [airflow, "triggerer", "--queues", QUEUES]
        argv[f"worker-{i}"] = [
            *(airflow, "celery", "worker", "--queues", QUEUES),
            *("--celery-hostname", f"worker{i}@%h", "--concurrency", "3"),
            "--without-mingle",
            "--without-gossip",
        ]
    return argv


def _login(base_url: str, home: Path, timeout: float) -> AirflowApi:
    password_file = home / "simple_auth_manager_passwords.json.generated"

    def password() -> str | None:
        if not password_file.exists():
            return None
        return str(json.loads(password_file.read_text()).get("admin") or "") or None

    def healthy() -> bool | None:
        return True if httpx.get(f"{base_url}/api/v2/monitor/health", timeout=5).status_code == 200 else None

    wait_for("the Airflow API server", healthy, timeout=timeout)
    api = AirflowApi.login(base_url, "admin", wait_for("the admin password", password, timeout=30))
    # Generous: the API server also serves every task's execution API calls on shared cores.
    api.client = httpx.Client(timeout=120)
    return api


@contextmanager
def distributed_stack(
    workdir: Path,
    *,
    dags_folder: Path,
    processing_seconds: float = 15.0,
    conn_extra: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = 240.0,
    log: Callable[[str], None] = lambda line: None,
) -> Iterator[DistributedStack]:
    """Start the whole stack; stop every process group and remove the data dirs on exit.

    Args:
        workdir: AIRFLOW_HOME (``airflow-home/``), logs (``logs/``) and emulator data live here.
        dags_folder: the DAGs folder the DAG processor parses.
        processing_seconds: how long an emulated batch runs.
        conn_extra: the ``gemini_batch_default`` connection's extras (timeouts, retry settings).

    Raises:
        StackError: when a component does not come up (with every log's tail).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    # PostgreSQL and Redis run as other users: their data go to a fresh /tmp dir they can reach.
    data_root = Path(tempfile.mkdtemp(prefix="gemini-distributed-"))
    data_root.chmod(0o711)
    logs = workdir / "logs"
    pg, redis = Postgres(data_root, logs), Redis(data_root, logs)
    emulator = EmulatorProcess(workdir=workdir, processing_seconds=processing_seconds)
    api_port = free_port()
    conn = gemini_connection(f"http://127.0.0.1:{emulator.port}", emulator.api_key)
    if conn_extra:
        conn["extra"] = dict(conn_extra)
    home = workdir / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    env = _airflow_env(
        home, dags_folder, pg, redis, api_port, {"gemini_batch_default": conn}, extra_env or {}
    )
    stack = DistributedStack(workdir, data_root, pg, redis, emulator, env, api_port)
    stack.argv = _component_argv(api_port)
    for i in (1, 2):
        stack.component_env[f"worker-{i}"] = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        stack.component_env[f"triggerer-{i}"] = {
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())
        }
    # The scheduler runs no tasks, but serves logs on the worker port too.
    stack.component_env["scheduler"] = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
    try:
        started = time.monotonic()
        pg.start()
        redis.start()
        for process in (pg.process, redis.process):
            assert process is not None
            assert process.popen is not None
            stack.started_pgids.append(process.popen.pid)
        log(f"PostgreSQL on port {pg.port}, Redis on port {redis.port} ({time.monotonic() - started:.0f} s)")
        emulator.start()
        assert emulator.process is not None
        assert emulator.process.popen is not None
        stack.started_pgids.append(emulator.process.popen.pid)
        log(f"Gemini emulator on {emulator.base_url}")
        migrate = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise StackError(
                f"airflow db migrate failed:\n{migrate.stdout[-3000:]}\n{migrate.stderr[-3000:]}"
            )
        log(f"airflow db migrate done ({time.monotonic() - started:.0f} s)")
        # Triggerer 1 first, so its job id is the lower one (tests tell the two apart that way).
        for name in ("api-server", "scheduler", "dag-processor", "triggerer-1"):
            stack.start_component(name)
        wait_for("triggerer-1's job row", lambda: stack.triggerer_job_ids() or None, timeout=ready_timeout)
        for name in ("triggerer-2", "worker-1", "worker-2"):
            stack.start_component(name)
        try:
            stack.api = _login(stack.base_url, home, ready_timeout)
        except StackError as exc:
            raise StackError(f"{exc}\n{stack.diagnostics()}") from exc
        log(f"Airflow API server ready at {stack.base_url} ({time.monotonic() - started:.0f} s)")
        yield stack
    finally:
        teardown(stack)


def teardown(stack: DistributedStack) -> None:
    """Stop every component (Airflow first, then emulator, Redis, PostgreSQL); remove data dirs."""
    if stack.api is not None:
        stack.api.close()
    # Task processes lead process groups of their own: note them before their parents go.
    task_groups = {
        _pgid(pid)
        for process in stack.components.values()
        if process.popen is not None
        for pid in _descendants(process.popen.pid)
    }
    for process in reversed(list(stack.components.values())):
        process.stop(grace=10.0)
    stack.emulator.stop()
    for service in (stack.redis, stack.postgres):
        if service.process is not None:
            service.process.stop(grace=10.0)
    # Anything that escaped a stop above (a task's own group, a group whose leader died, ...).
    home = stack.env.get("AIRFLOW_HOME", "")
    stray = {_pgid(pid) for pid in _processes_with_env("AIRFLOW_HOME", home)} if home else set()
    for pgid in (set(stack.started_pgids) | task_groups | stray) - {None}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    if home:
        # Not raising here (a finally block): whatever is left shows in leftovers().
        with contextlib.suppress(StackError):
            wait_for(
                "the stack's processes to exit",
                lambda: None if _processes_with_env("AIRFLOW_HOME", home) else True,
                timeout=15,
            )
    shutil.rmtree(stack.data_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp dir, removed at exit")
    parser.add_argument("--keep-running", action="store_true", help="wait for Enter before tearing down")
    args = parser.parse_args(argv)
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="gemini-distributed-work-")
    workdir = args.workdir or Path(tmp.name)  # type: ignore[union-attr]
    dags = Path(__file__).resolve().parent.parent / "dags_examples"
    try:
        with distributed_stack(workdir, dags_folder=dags, log=lambda line: print(line, flush=True)) as stack:
            print(f"components: {', '.join(stack.components)}; logs in {workdir / 'logs'}", flush=True)
            if args.keep_running:
                input("Press Enter to tear the stack down ")
        leftovers = stack.leftovers()
        print("teardown: nothing left" if not leftovers else f"teardown left: {leftovers}")
        return 1 if leftovers else 0
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
