"""Whoever may trigger an example DAG cannot choose where its worker writes.

``results_dir`` is confined to the results root (``airflow_provider_gemini_batch/params.py``):
a trigger whose ``conf`` names ``/etc``, ``../..`` or a path that climbs out of the root is refused
when the run is created, through Airflow's REST API (its own API app on a real socket) and
through ``dag.test()``, before any task runs; a path under the root is accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_gemini_batch.params import results_root
from tests.examples.test_example_dags import EXAMPLE_IDS, _available, load_example
from tests.fixtures.airflow_env import serialize_dag
from tests.plugins.airflow_api import airflow_api

ESCAPES = ["/etc", "../..", "../../etc", "{root}/../../etc", "{root}/a/../../..", "/etc\n", "relative/dir"]


@pytest.fixture(scope="module")
def api(airflow_db: str) -> Iterator[str]:
    with airflow_api() as base_url:
        yield base_url


@pytest.mark.parametrize("dag_id", [d for d in EXAMPLE_IDS if _available(d)])
def test_trigger_conf_cannot_send_results_outside_the_root(api: str, dag_id: str) -> None:
    dag = load_example(dag_id).dag
    serialize_dag(dag)
    root = results_root()
    url = f"{api}/api/v2/dags/{dag_id}/dagRuns"
    for escape in ESCAPES:
        value = escape.format(root=root)
        answer = httpx.post(url, json={"logical_date": None, "conf": {"results_dir": value}}, timeout=30)
        assert answer.status_code == 400, (value, answer.status_code, answer.text[:300])
    inside = os.path.join(root, "team-a", "run")
    answer = httpx.post(url, json={"logical_date": None, "conf": {"results_dir": inside}}, timeout=30)
    assert answer.status_code == 200, answer.text[:300]


def test_dag_test_refuses_an_escaping_results_dir_before_any_task(airflow_db: str) -> None:
    from airflow.exceptions import ParamValidationError

    dag = load_example("example_gemini_batch_file").dag
    serialize_dag(dag)
    with pytest.raises(ParamValidationError, match="results_dir"):
        dag.test(run_conf={"results_dir": "/etc"})
