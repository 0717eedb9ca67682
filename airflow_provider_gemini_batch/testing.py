"""A pytest plugin for testing your own DAGs against the local Gemini Batch emulator.

Installed with the provider and loaded by pytest through the ``pytest11`` entry point (disable it
with ``-p no:gemini_batch``). It imports neither Airflow nor the emulator until a fixture is used,
so it costs nothing in test sessions that do not use it. See ``docs/testing-your-dags.md``.

Fixtures:

* ``gemini_emulator`` (function): the session's emulator after a reset (no files, batches,
  faults; batches finish ``EMULATOR_PROCESSING_SECONDS`` after creation). ``.base_url``,
  ``.api_key`` and ``.control`` (journal, faults, outcomes) as in ``docs/emulator.md``.
* ``gemini_batch_conn`` (function): ``gemini_emulator`` plus the Airflow connection
  ``gemini_batch_default`` pointing at it (``AIRFLOW_CONN_GEMINI_BATCH_DEFAULT``, removed after
  the test); returns the emulator.
* ``gemini_airflow_db`` (session): ``airflow db migrate`` once for the session's
  ``AIRFLOW_HOME``; returns that path. ``dag.test()`` needs the metadata database.

Helper: ``dag_from_file(path, dag_id=None)`` imports a DAG file and returns its DAG.

ini options (``pytest.ini`` / ``[tool.pytest.ini_options]``):

* ``gemini_batch_isolated_airflow = true``: before any conftest or test module imports Airflow
  (Airflow reads its configuration at import), point ``AIRFLOW_HOME`` at a fresh temporary
  directory with its own SQLite database and no example DAGs, so tests never touch your
  ``~/airflow``.
* ``gemini_batch_dags_folder`` (default ``dags``, relative to the rootdir): the folder set as
  ``[core] dags_folder`` in isolated mode. ``dag.test()`` in Airflow 3 reads the DAG from the
  DAG folder (it parses that folder and runs the DAG as written to the database), so the DAG you
  test must live there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.emulator import EmulatorServer

#: What users call: the fixtures (pytest finds them, and the ``pytest_*`` hooks, by name) and
#: the DAG loader.
__all__ = [
    "dag_from_file",
    "gemini_airflow_db",
    "gemini_batch_conn",
    "gemini_emulator",
    "gemini_emulator_server",
]

#: The API key the emulator requires (any text; a real key is never needed).
EMULATOR_API_KEY = "emulator-test-key"
#: Seconds from create to the end of a batch in the emulator (fast tests).
EMULATOR_PROCESSING_SECONDS = 0.2
#: The connection the provider's operators use by default.
CONN_ENV_VAR = "AIRFLOW_CONN_GEMINI_BATCH_DEFAULT"

_ISOLATED_INI = "gemini_batch_isolated_airflow"
_DAGS_INI = "gemini_batch_dags_folder"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _ISOLATED_INI,
        "Run Airflow from a fresh temporary AIRFLOW_HOME with its own SQLite database.",
        type="bool",
        default=False,
    )
    parser.addini(_DAGS_INI, "DAG folder (relative to the rootdir) in isolated mode.", default="dags")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """Set Airflow's environment before any conftest imports Airflow (isolated mode only)."""
    if not early_config.getini(_ISOLATED_INI):
        return
    home = tempfile.mkdtemp(prefix="gemini-batch-airflow-home-")
    dags = Path(str(early_config.getini(_DAGS_INI)))
    if not dags.is_absolute():
        dags = Path(str(early_config.rootpath)) / dags
    os.environ["AIRFLOW_HOME"] = home
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{os.path.join(home, 'airflow.db')}"


@pytest.fixture(scope="session")
def gemini_airflow_db() -> str:
    """Create (or upgrade) the metadata database of this session's AIRFLOW_HOME, once.

    :returns: the AIRFLOW_HOME in use.
    :raises RuntimeError: ``airflow db migrate`` failed (its output is in the message).
    """
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))


@pytest.fixture(scope="session")
def gemini_emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One emulator (uvicorn in a thread, on a free loopback port) for the whole session."""
    from airflow_provider_gemini_batch.emulator import EmulatorServer

    with EmulatorServer(
        api_key=EMULATOR_API_KEY,
        processing_seconds=EMULATOR_PROCESSING_SECONDS,
        data_dir=tmp_path_factory.mktemp("gemini-emulator"),
    ) as server:
        yield server


@pytest.fixture
def gemini_emulator(gemini_emulator_server: EmulatorServer) -> EmulatorServer:
    """The session's emulator with fresh state (no files, batches, faults or journal)."""
    gemini_emulator_server.control.reset()
    return gemini_emulator_server


@pytest.fixture
def gemini_batch_conn(gemini_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """Point the ``gemini_batch_default`` connection at the emulator; returns the emulator."""
    conn: dict[str, Any] = {
        "conn_type": "gemini_batch",
        "host": gemini_emulator.base_url,
        "password": gemini_emulator.api_key,
    }
    monkeypatch.setenv(CONN_ENV_VAR, json.dumps(conn))
    return gemini_emulator


def dag_from_file(path: str | os.PathLike[str], dag_id: str | None = None) -> Any:
    """Import a DAG file as the DAG processor would and return its DAG.

    :param path: the DAG file (it must lie in the DAG folder for ``dag.test()`` to run it).
    :param dag_id: which DAG, when the file defines several. Default: the only one.
    :raises LookupError: no DAG (with that id) in the file, or several and no ``dag_id``.
    """
    import importlib.util

    from airflow.sdk import DAG

    file = Path(path)
    spec = importlib.util.spec_from_file_location(f"_gemini_batch_dag_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise LookupError(f"{file} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    dags = {d.dag_id: d for d in vars(module).values() if isinstance(d, DAG)}
    if dag_id is not None:
        if dag_id not in dags:
            raise LookupError(f"{file} defines no DAG {dag_id!r} (it defines {sorted(dags)}).")
        return dags[dag_id]
    if len(dags) != 1:
        raise LookupError(f"{file} defines {len(dags)} DAGs {sorted(dags)}; pass dag_id=.")
    return next(iter(dags.values()))
