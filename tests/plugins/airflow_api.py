"""Airflow's own API server app (with this provider's plugin) on a real socket, for page tests.

:func:`airflow_api` runs ``airflow.api_fastapi.app.create_app("core")`` - the app ``airflow
api-server`` serves, plugins mounted by Airflow's plugins manager - under uvicorn in a thread on a
free port, with the simple auth manager's ``all_admins`` mode (every request is an admin: these
tests are about what the page shows and reads, authorisation is tested in the browser test).
:func:`planted_run` writes a DAG to the metadata DB as the dag processor would, creates one run of
it and stores XComs the way a REST user with the ``user`` role or any task of the DAG can.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.fixtures.airflow_env import serialize_dag, unique_dag_id

ALL_ADMINS = "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def airflow_api(*, all_admins: bool = True) -> Iterator[str]:
    """Airflow's API server app on ``http://127.0.0.1:<port>`` (yielded), stopped on exit.

    :param all_admins: every request is an admin (default); False leaves the simple auth
        manager's login in force (a request without a token is refused). Set for the life of the
        server only (read per request).
    """
    previous = os.environ.get(ALL_ADMINS)
    os.environ[ALL_ADMINS] = str(all_admins)
    try:
        from airflow.api_fastapi.app import create_app

        port = _free_port()
        config = uvicorn.Config(create_app("core"), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="airflow-api-under-test", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("Airflow's API app did not start")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        if previous is None:
            os.environ.pop(ALL_ADMINS, None)
        else:
            os.environ[ALL_ADMINS] = previous


def bearer(role: str) -> dict[str, str]:
    """An ``Authorization`` header for a simple-auth-manager user with ``role`` (``admin``,
    ``op``, ``user``, ``viewer``), minted by the auth manager of this process, which the API app
    under test shares."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"test-{role}", role=role))
    return {"Authorization": f"Bearer {token}"}


def planted_run(dag: Any, xcoms: Mapping[tuple[str, str] | tuple[str, str, int], Any]) -> str:
    """Serialize ``dag``, create one manual run and store ``xcoms``.

    :param xcoms: ``(task_id, key) -> value`` or ``(task_id, key, map_index) -> value``.

    Returns the run id.
    """
    from airflow import settings
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.xcom import XComModel
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from pendulum import now

    serialize_dag(dag)
    run_id = f"manual__planted_{unique_dag_id('r')}"
    session = settings.Session()
    try:
        model = SerializedDagModel.get(dag.dag_id, session=session)
        assert model is not None
        model.dag.create_dagrun(
            run_id=run_id,
            run_after=now("UTC"),
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            session=session,
        )
        session.commit()
        for where, value in xcoms.items():
            task_id, key, map_index = (*where, -1)[:3]
            XComModel.set(
                str(key),
                value,
                dag_id=dag.dag_id,
                task_id=str(task_id),
                run_id=run_id,
                map_index=int(map_index),
                session=session,
            )
        session.commit()
    finally:
        session.close()
    return run_id
