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
# The example DAGs write only under this root (airflow_provider_gemini_batch/params.py); tests pass
# their tmp_path, which lies under the system temporary directory. Child processes (the e2e stack,
# the lineage run) inherit it.
os.environ.setdefault("GEMINI_BATCH_RESULTS_ROOT", tempfile.gettempdir())

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.airflow_env",
    "tests.hostile.fixtures",
]
