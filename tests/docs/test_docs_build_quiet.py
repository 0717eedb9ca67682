"""``make docs`` prints only Sphinx's warnings, not Airflow's INFO lines.

The docs build imports Airflow (autodoc) after a pygments style package of the theme called
``logging.basicConfig``; Airflow's import-time INFO lines ("Reading the config from ...",
"Configured default timezone UTC") then reached the terminal. This runs docs/conf.py as Sphinx
does, then the imports the build makes, in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import importlib.util, runpy, sys
runpy.run_path(sys.argv[1])
if importlib.util.find_spec("a11y_pygments") is not None:
    import a11y_pygments  # noqa: F401  (what the theme imports during the build)
import logging
logging.basicConfig()  # a root handler, as that package installs
import airflow.configuration, airflow.settings  # noqa: E401,F401
import airflow_provider_gemini_batch.operators.gemini_batch  # noqa: F401  (autodoc)
"""


def test_docs_configuration_keeps_airflow_quiet(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "docs" / "conf.py")],
        cwd=ROOT / "docs",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "INFO" not in output, output[-3000:]
