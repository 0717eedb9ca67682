"""Test-session setup shared by every test.

Airflow reads its configuration at import time, so the environment is fixed here, before any
test module imports Airflow: a private AIRFLOW_HOME with a SQLite database, no example DAGs.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="gemini-batch-tests-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_HOME, "dags"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{os.path.join(_HOME, 'airflow.db')}")

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.airflow_env",
    "tests.hostile.fixtures",
]
