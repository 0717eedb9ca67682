"""A batch's own error text never carries the key into a worker-side wait's exception or log.

The trigger redacts what it reports; on a worker (a create operator with ``deferrable=False``
waiting for completion, a sensor poking) the batch's own texts reach the task's exception and log
directly. The hostile stand-in (``tests/hostile``) answers a FAILED batch whose ``error.message``,
``error.details`` and display name quote the received key in *mixed* case: Airflow's secrets masker
matches only the exact, upper- and lower-cased forms, so only the provider's case-insensitive
redaction keeps it out. Every text is searched case-insensitively.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_gemini_batch.operators.gemini_batch import GeminiCreateBatchOperator
from airflow_provider_gemini_batch.sensors.gemini_batch import GeminiBatchSensor
from tests.fixtures.airflow_env import run_dag, unique_dag_id
from tests.hostile.fixtures import HOSTILE_KEY
from tests.hostile.server import HostileServer, Recorded, Rule, reply
from tests.operators._failures import recording_failures
from tests.operators._support import MODEL, inline_requests

pytestmark = pytest.mark.usefixtures("airflow_db")


def _mixed_case(text: str) -> str:
    return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(text))


def _failed_batch_echoing_key(request: Recorded) -> dict[str, Any]:
    """A FAILED batch whose texts quote the received key in mixed case."""
    echoed = _mixed_case(request.headers.get("x-goog-api-key", ""))
    return {
        "name": "batches/echo",
        "metadata": {
            "name": "batches/echo",
            "state": "BATCH_STATE_FAILED",
            "displayName": f"made with {echoed}",
            "batchStats": {"requestCount": "1", "failedRequestCount": "1"},
        },
        "done": True,
        "error": {
            "code": 3,
            "message": f"The key {echoed} cannot run batches",
            "details": [{"@type": "type.googleapis.com/google.rpc.DebugInfo", "detail": echoed}],
        },
    }


def _server(hostile_server: Callable[..., HostileServer]) -> HostileServer:
    model = {
        "name": f"models/{MODEL}",
        "supportedGenerationMethods": ["generateContent", "batchGenerateContent"],
    }
    pending = {"name": "batches/echo", "metadata": {"name": "batches/echo", "state": "BATCH_STATE_PENDING"}}
    return hostile_server(
        [
            Rule("GET", r"/v1beta/models/.*", reply(200, model)),
            Rule("GET", r"/v1beta/batches", reply(200, {"operations": []})),
            Rule("POST", r".*:batchGenerateContent", reply(200, pending)),
            Rule("GET", r"/v1beta/batches/.*", reply(200, _failed_batch_echoing_key)),
        ]
    )


def _assert_no_key(*texts: str) -> None:
    for text in texts:
        assert HOSTILE_KEY.lower() not in text.lower(), f"the key (in some letter case) leaked: {text}"


@pytest.mark.parametrize("waiter", ["create", "sensor"])
def test_failed_batch_text_quoting_the_key_is_redacted_in_worker_waits(
    hostile_server: Callable[..., HostileServer],
    hostile_conn: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    waiter: str,
) -> None:
    from airflow.sdk import DAG

    server = _server(hostile_server)
    conn_id = hostile_conn(server)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_gemini_batch")
    caplog.set_level(logging.INFO)
    capsys.readouterr()
    with DAG(
        unique_dag_id(f"worker_wait_{waiter}"), start_date=datetime.datetime(2026, 1, 1), schedule=None
    ) as dag:
        if waiter == "create":
            GeminiCreateBatchOperator(
                task_id="wait",
                model=MODEL,
                requests=inline_requests(1),
                wait_for_completion=True,
                deferrable=False,
                poll_interval=0.1,
                gemini_conn_id=conn_id,
                retries=0,
            )
        else:
            GeminiBatchSensor(
                task_id="wait",
                batch_name="batches/echo",
                deferrable=False,
                mode="poke",
                poke_interval=0.1,
                gemini_conn_id=conn_id,
                retries=0,
            )
    with recording_failures() as failures:
        result = run_dag(dag)
    out = capsys.readouterr()
    assert result.task_states["wait"] == "failed", (result.task_states, server.unmatched)
    failure = failures.last("wait")
    assert failure is not None
    assert failure[0] == "GeminiBatchFailedError", failure
    assert "cannot run batches" in failure[1], failure  # the server's text is shown, redacted
    assert server.headers_seen("x-goog-api-key"), "the stand-in did receive the key"
    _assert_no_key(failure[1], caplog.text, out.out, out.err, repr(result.xcoms))
