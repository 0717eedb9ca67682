"""How long the console takes to load with 10,000 batches in the history (issue: operate at scale).

Seeds a fresh SQLite Airflow metadata DB (``airflow db migrate`` in a temporary AIRFLOW_HOME) with
the history of ``--batches`` batches (default 10,000) spread over ``--dags`` DAGs (default 20) and
60 days: per batch one DAG run, the create and results task instances and the XComs the
operators write (``batch_name``, ``gemini_conn_id``, ``gemini_batch_api_url``, the create task's
``return_value``, the results task's manifest with usage and cost), plus a downstream task's
``return_value`` that the console must skip; 3 % of the batches landed with failed rows. Then
serves Airflow's own API app (``create_app("core")``, the plugin mounted) on a real socket and
times console loads as an admin over HTTP: the first page (totals computed), the same again
(totals cached), and filtered loads. Live list reads are off (``console_live_state = False``):
this measures the metadata reads. Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python benchmarks/console_load.py [--batches 10000] [--dags 20]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

HOME = Path(tempfile.mkdtemp(prefix="console-bench-"))
os.environ["AIRFLOW_HOME"] = str(HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(HOME / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{HOME / 'airflow.db'}"
os.environ["AIRFLOW__GEMINI_BATCH__CONSOLE_LIVE_STATE"] = "False"
os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"

PRICES = {"gemini-2.5-flash": {"input": 0.15, "output": 1.25}}


def migrate() -> None:
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


def dags(count: int) -> list[str]:
    """Serialize ``count`` create -> results DAGs as the dag processor would; their ids."""
    from airflow.sdk import DAG

    from airflow_provider_gemini_batch.operators.gemini_batch import (
        GeminiBatchResultsOperator,
        GeminiCreateBatchOperator,
    )
    from tests.fixtures.airflow_env import serialize_dag

    ids = []
    for i in range(count):
        with DAG(f"bench_pipeline_{i:02d}", start_date=datetime(2026, 1, 1), schedule=None) as dag:
            create = GeminiCreateBatchOperator(
                task_id="create_batch", model="gemini-2.5-flash", input_path="/in.jsonl"
            )
            GeminiBatchResultsOperator(
                task_id="fetch_results",
                batch_name=create.output,
                destination="/out.jsonl",
                price_table=PRICES,
            )
        serialize_dag(dag)
        ids.append(dag.dag_id)
    return ids


def manifest(name: str, requests: int, failed: int) -> dict[str, object]:
    prompt, output = requests * 120, requests * 80
    return {
        "batch_name": name,
        "state": "SUCCEEDED",
        "destination": f"/results/{name.split('/')[1]}.jsonl",
        "expected_requests": requests,
        "counts": {
            "total": requests,
            "landed": requests,
            "missing": 0,
            "succeeded": requests - failed,
            "failed": failed,
            "by_outcome": {"succeeded": requests - failed, "error": failed, "missing": 0},
            "retryable": failed,
            "duplicate_keys": 0,
            "keyless": 0,
        },
        "usage": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "cost": {
            "currency": "USD",
            "model": "gemini-2.5-flash",
            "total": round(prompt * 0.15e-6 + output * 1.25e-6, 6),
            "basis": "user price table, per million tokens (batch prices as given)",
        },
    }


def seed(dag_ids: list[str], batches: int) -> None:
    """Insert the runs, task instances and XComs with SQLAlchemy Core (what runs would leave)."""
    from airflow import settings
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rng = random.Random(25)
    now = datetime.now(timezone.utc)
    session = settings.Session()
    versions = {dag_id: v for dag_id, v in session.execute(select(DagVersion.dag_id, DagVersion.id))}
    runs, tis, xcoms = [], [], []
    for i in range(batches):
        dag_id = dag_ids[i % len(dag_ids)]
        when = now - timedelta(days=60) + timedelta(seconds=i * 60 * 86400 / batches)
        run_id = f"scheduled__{when.isoformat()}"
        runs.append(
            {
                "id": i + 1,
                "dag_id": dag_id,
                "run_id": run_id,
                "run_type": "scheduled",
                "run_after": when,
                "logical_date": when,
                "state": "success",
                "clear_number": 0,
            }
        )
        for task in ("create_batch", "fetch_results", "use_results"):
            tis.append(
                {
                    "id": uuid.uuid4(),
                    "task_id": task,
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "map_index": -1,
                    "pool": "default_pool",
                    "pool_slots": 1,
                    "state": "success",
                    "try_number": 1,
                    "dag_version_id": versions[dag_id],
                }
            )
        name = f"batches/bench{i:06d}"
        requests = rng.choice((10, 100, 1000, 5000))
        failed = rng.randint(1, 20) if rng.random() < 0.03 else 0
        rows = [
            ("create_batch", "batch_name", name),
            ("create_batch", "gemini_conn_id", "gemini_batch_default"),
            (
                "create_batch",
                "gemini_batch_api_url",
                f"https://generativelanguage.googleapis.com/v1beta/{name}",
            ),
            ("create_batch", "return_value", name),
            ("fetch_results", "return_value", manifest(name, requests, failed)),
            ("use_results", "return_value", {"report": "x" * 2000}),
        ]
        for offset, (task, key, value) in enumerate(rows):
            xcoms.append(
                {
                    "dag_run_id": i + 1,
                    "task_id": task,
                    "map_index": -1,
                    "key": key,
                    "dag_id": dag_id,
                    "run_id": run_id,
                    "value": value,
                    "timestamp": when + timedelta(seconds=offset),
                }
            )
    for table, rows_ in (
        (DagRun.__table__, runs),
        (TaskInstance.__table__, tis),
        (XComModel.__table__, xcoms),
    ):
        for start in range(0, len(rows_), 5000):
            session.execute(table.insert(), rows_[start : start + 5000])
    session.commit()
    session.close()


def serve() -> tuple[str, object]:
    import socket

    import uvicorn
    from airflow.api_fastapi.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app("core"), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10_000)
    parser.add_argument("--dags", type=int, default=20)
    args = parser.parse_args()
    started = time.monotonic()
    migrate()
    dag_ids = dags(args.dags)
    seed(dag_ids, args.batches)
    print(
        f"seeded {args.batches:,} batches over {args.dags} DAGs in {time.monotonic() - started:.1f} s "
        f"({HOME / 'airflow.db'}, {os.path.getsize(HOME / 'airflow.db') / 2**20:.0f} MiB)"
    )

    import httpx
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    base, server = serve()
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    headers = {"Authorization": f"Bearer {token}"}
    today = datetime.now(timezone.utc).date()
    cases = [
        ("first page, all DAGs (totals started, waited 1 s at most)", {}),
        ("TOTALS", {}),
        ("first page, totals ready", {}),
        ("one DAG (500 batches; totals of the filter added up)", {"dag_id": dag_ids[3]}),
        ("one DAG again", {"dag_id": dag_ids[3]}),
        ("last 7 days", {"since": (today - timedelta(days=7)).isoformat()}),
        ("state=SUCCEEDED (every row matches)", {"state": "SUCCEEDED"}),
        ("with warnings (3 % match: examines batches to fill a page)", {"state": "WARNINGS"}),
        ("state=FAILED (no match: examines 1,000, offers the next)", {"state": "FAILED"}),
    ]
    with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
        for label, params in cases:
            if label == "TOTALS":
                t0 = time.perf_counter()
                while "Per DAG" not in client.get("/gemini-batch/console").text:
                    time.sleep(0.2)
                print(
                    f"{'totals of 10,000 batches ready after':60s} "
                    f"{(time.perf_counter() - t0 + 1) * 1000:8.0f} ms"
                    " (from the first load)"
                )
                continue
            t0 = time.perf_counter()
            answer = client.get("/gemini-batch/console", params=params)
            took = time.perf_counter() - t0
            rows = answer.text.count("/gemini-batch/ti/")
            totals = "totals" if "Per DAG" in answer.text else "totals pending"
            print(f"{label:60s} {took * 1000:8.0f} ms  HTTP {answer.status_code}, {rows} rows, {totals}")
        older = re.findall(r'<a href="\?([^"]+)">Older batches', answer.text)
        if older:
            t0 = time.perf_counter()
            client.get("/gemini-batch/console?" + older[0].replace("&amp;", "&"))
            print(f"{'next 1,000 of that filter (keyset)':60s} {(time.perf_counter() - t0) * 1000:8.0f} ms")
        newest = re.findall(r'<a href="\?([^"]+)">Older batches', client.get("/gemini-batch/console").text)
        t0 = time.perf_counter()
        page2 = client.get("/gemini-batch/console?" + newest[0].replace("&amp;", "&"))
        took = (time.perf_counter() - t0) * 1000
        rows = page2.text.count("/gemini-batch/ti/")
        print(f"{'page 2 of all DAGs (keyset)':60s} {took:8.0f} ms  {rows} rows")
    server.should_exit = True  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
