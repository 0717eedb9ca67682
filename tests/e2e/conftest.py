"""One ``airflow standalone`` + emulator for every end-to-end test of the session (~15 s to start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.airflow_stack import Stack, running_stack

#: Long enough for the trigger to poll several times (the example polls every 5 s) and for the
#: browser test to see the batch running.
PROCESSING_SECONDS = 12.0


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("e2e-stack")
    with running_stack(workdir, processing_seconds=PROCESSING_SECONDS, log=print) as running:
        yield running
    # Stopping the stack leaves nothing behind: no process of any group it started survives
    # (airflow standalone's scheduler, triggerer, dag-processor, API server and task processes).
    survivors = [p.name for p in running.processes() if p.group_alive()]
    assert survivors == [], f"processes still running after the stack stopped: {survivors}"
