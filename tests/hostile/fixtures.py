"""Fixtures around :mod:`tests.hostile.server`.

* ``hostile_server``: a factory ``hostile_server(rules=(), name="hostile") -> HostileServer``;
  every server it starts is closed at the end of the test.
* ``elsewhere``: a second origin (another port) that records every request and answers anything
  with a plausible created batch; redirect tests assert ``elsewhere.headers_seen(...) == []``.
* ``hostile_conn``: ``hostile_conn(server, key=HOSTILE_KEY, conn_id=HOSTILE_CONN_ID, **extra)``
  points an Airflow connection (environment variable) at ``server`` and returns the conn id.

Loaded for the whole suite by ``tests/conftest.py`` (``pytest_plugins``), so any test can use them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.hostile.server import PLAUSIBLE_BATCH, HostileServer, Rule, reply

HOSTILE_CONN_ID = "gemini_hostile"
HOSTILE_KEY = "hostile-test-key-0123456789"
#: One attempt per call, so a test sees the first answer's handling, not the retry policy.
NO_RETRY = {"max_retries": 0, "retry_initial_delay": 0.01, "retry_max_delay": 0.05}


def connection_json(server: HostileServer, key: str = HOSTILE_KEY, **extra: Any) -> str:
    """The ``AIRFLOW_CONN_...`` value of a ``gemini_batch`` connection to ``server``."""
    return json.dumps(
        {"conn_type": "gemini_batch", "host": server.base_url, "password": key, "extra": json.dumps(extra)}
    )


@pytest.fixture
def hostile_server() -> Iterator[Callable[..., HostileServer]]:
    started: list[HostileServer] = []

    def start(rules: Sequence[Rule] = (), name: str = "hostile") -> HostileServer:
        server = HostileServer(rules, name=name).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def elsewhere(hostile_server: Callable[..., HostileServer]) -> HostileServer:
    """Another origin that records everything and answers like a created batch."""
    return hostile_server([Rule(None, r".*", reply(200, PLAUSIBLE_BATCH))], name="elsewhere")


@pytest.fixture
def hostile_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    def connect(
        server: HostileServer, key: str = HOSTILE_KEY, conn_id: str = HOSTILE_CONN_ID, **extra: Any
    ) -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(server, key, **{**NO_RETRY, **extra})
        )
        return conn_id

    return connect
