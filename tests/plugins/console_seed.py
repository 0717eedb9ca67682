"""History for the console tests: several DAGs' batches in the metadata DB, two teams, a viewer.

* DAGs ``a`` and ``b`` run for real with ``dag.test()`` against the emulator (create, wait,
  results with a price table), so their XComs are what the operators write;
* DAG ``c`` has a planted run whose batch name and display name carry markup;
* DAG ``stuck`` has a planted batch that a scripted stand-in's ``batches.list`` answers as PENDING
  since 30 hours (what users report: python-genai #1482);
* DAG ``a`` belongs to team ``a``'s bundle, ``b``, ``c`` and ``stuck`` to team ``b``'s, and every
  other DAG that recorded a batch before (earlier tests share the DB) to a third team's: Airflow's
  simple auth manager lets a viewer of team ``a`` read only DAG ``a``, and a viewer of teams ``a``
  and ``b`` exactly the seeded DAGs (``_is_authorized``: a resource of a team the user is not in is
  refused, whatever the role).

Tokens are issued by Airflow's auth manager itself (``generate_jwt``, what ``POST /auth/token``
returns after checking the password).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.operators.gemini_batch import (
    GeminiBatchResultsOperator,
    GeminiCreateBatchOperator,
)
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.hostile.server import HostileServer, Rule, reply
from tests.plugins.airflow_api import planted_run

PRICES = {"gemini-2.5-flash": {"input": 0.15, "output": 1.25}}
PLANTED_NAME = 'batches/<b id="planted">x</b>'
PLANTED_DISPLAY = "<script>alert(1)</script><meta http-equiv=refresh content=0;url=https://evil.example/>"
STUCK_NAME = "batches/stuck-since-yesterday"


def _requests(n: int) -> list[dict[str, Any]]:
    return [
        {"key": f"r{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"say {i}"}]}]}}
        for i in range(n)
    ]


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stuck_list_answer() -> dict[str, Any]:
    """A ``batches.list`` page holding one batch PENDING since 30 hours (REST reference shape)."""
    created = datetime.now(timezone.utc) - timedelta(hours=30)
    metadata = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "name": STUCK_NAME,
        "model": "models/gemini-2.5-flash",
        "displayName": "nightly-stuck",
        "state": "BATCH_STATE_PENDING",
        "batchStats": {"requestCount": "40", "pendingRequestCount": "40"},
        "createTime": _rfc3339(created),
        "updateTime": _rfc3339(created),
    }
    return {"operations": [{"name": STUCK_NAME, "metadata": metadata}]}


@dataclass
class Seeded:
    """What was seeded: the DAG ids by role, team names, and the stand-in for the stuck batch.

    ``team_others`` holds the DAGs of earlier tests; a DAG made after seeding has no team.
    """

    a: str
    b: str
    c: str
    stuck: str
    team_a: str
    team_b: str
    team_others: str
    standin: HostileServer
    results: dict[str, Any] = field(default_factory=dict)


def _teams(teams: tuple[str, ...], owners: dict[str, str], others: str) -> None:
    """``teams``, a bundle each, ``owners`` (dag id -> team) moved into their team's bundle, and
    every other DAG that recorded a batch into team ``others``'s."""
    from airflow import settings
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.team import Team, dag_bundle_team_association_table
    from airflow.models.xcom import XComModel
    from sqlalchemy import select, update

    session = settings.Session()
    try:
        for team in teams:
            session.add(Team(name=team))
            session.add(DagBundleModel(name=f"bundle_{team}"))
        session.flush()
        for team in teams:
            session.execute(
                dag_bundle_team_association_table.insert().values(
                    dag_bundle_name=f"bundle_{team}", team_name=team
                )
            )
        for dag_id, team in owners.items():
            session.execute(
                update(DagModel).where(DagModel.dag_id == dag_id).values(bundle_name=f"bundle_{team}")
            )
        # Every other DAG that recorded a batch (earlier tests of the session share the DB) goes to
        # a team of its own: team a's viewer has exactly one DAG with batches, and a viewer of
        # teams a and b sees the seeded DAGs only (the picture of several DAGs shows them).
        recorded = select(XComModel.dag_id).where(XComModel.key == "batch_name").distinct()
        rest = [d for d in session.scalars(recorded) if d not in owners]
        if rest:
            session.execute(
                update(DagModel).where(DagModel.dag_id.in_(rest)).values(bundle_name=f"bundle_{others}")
            )
        session.commit()
    finally:
        session.close()


def _pipeline(prefix: str, conn_id: str, n: int, out: Path) -> DAG:
    with DAG(unique_dag_id(prefix), start_date=datetime(2026, 1, 1), schedule=None) as dag:
        create = GeminiCreateBatchOperator(
            task_id="create_batch",
            model="gemini-2.5-flash",
            requests=_requests(n),
            display_name=f"{prefix}-nightly",
            gemini_conn_id=conn_id,
            wait_for_completion=True,
            poll_interval=0.2,
        )
        GeminiBatchResultsOperator(
            task_id="fetch_results",
            batch_name=create.output,
            destination=str(out / f"{dag.dag_id}.jsonl"),
            gemini_conn_id=conn_id,
            price_table=PRICES,
        )
    return dag


@contextmanager
def seeded_history(emulator: EmulatorServer, out: Path) -> Iterator[Seeded]:
    """Seed the history (see the module docstring); the connections live while the block runs."""
    tag = uuid.uuid4().hex[:6]
    emu_conn, stuck_conn = f"console_emu_{tag}", f"console_stuck_{tag}"
    saved = {
        k: os.environ.get(k)
        for k in (f"AIRFLOW_CONN_{emu_conn.upper()}", f"AIRFLOW_CONN_{stuck_conn.upper()}")
    }
    standin = HostileServer([Rule("GET", r"/v1beta/batches", reply(200, stuck_list_answer()))], name="stuck")
    standin.__enter__()
    os.environ[f"AIRFLOW_CONN_{emu_conn.upper()}"] = json.dumps(
        {"conn_type": "gemini_batch", "host": emulator.base_url, "password": emulator.api_key}
    )
    os.environ[f"AIRFLOW_CONN_{stuck_conn.upper()}"] = json.dumps(
        {"conn_type": "gemini_batch", "host": standin.base_url, "password": "stuck-key-0123456789"}
    )
    try:
        results = {}
        dag_a = _pipeline("console_a", emu_conn, 3, out)
        results["a"] = run_dag(dag_a)
        dag_b = _pipeline("console_b", emu_conn, 5, out)
        results["b"] = run_dag(dag_b)
        with DAG(unique_dag_id("console_c"), start_date=datetime(2026, 1, 1), schedule=None) as dag_c:
            GeminiCreateBatchOperator(
                task_id="create_batch",
                model="gemini-2.5-flash",
                input_path="/in.jsonl",
                gemini_conn_id=emu_conn,
            )
        summary = {
            "batch_name": PLANTED_NAME,
            "state": "SUCCEEDED",
            "display_name": PLANTED_DISPLAY,
            "stats": {"request_count": 2, "successful_request_count": 2},
        }
        planted_run(
            dag_c,
            {("create_batch", "batch_name"): PLANTED_NAME, ("create_batch", "batch_summary"): summary},
        )
        with DAG(unique_dag_id("console_stuck"), start_date=datetime(2026, 1, 1), schedule=None) as dag_s:
            GeminiCreateBatchOperator(
                task_id="create_batch",
                model="gemini-2.5-flash",
                input_path="/in.jsonl",
                gemini_conn_id=stuck_conn,
            )
        planted_run(dag_s, {("create_batch", "batch_name"): STUCK_NAME})
        team_a, team_b, team_others = f"team_a_{tag}", f"team_b_{tag}", f"team_others_{tag}"
        _teams(
            (team_a, team_b, team_others),
            {dag_a.dag_id: team_a, dag_b.dag_id: team_b, dag_c.dag_id: team_b, dag_s.dag_id: team_b},
            team_others,
        )
        yield Seeded(
            dag_a.dag_id,
            dag_b.dag_id,
            dag_c.dag_id,
            dag_s.dag_id,
            team_a,
            team_b,
            team_others,
            standin,
            results,
        )
    finally:
        standin.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def token(username: str, role: str, teams: list[str] | None = None) -> str:
    """A JWT for a simple-auth-manager user, signed by the running API app's auth manager."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(
        get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role, teams=teams))
    )
