"""A DAG parameter for where a run writes, confined to a root the deployment chooses.

Anyone who may trigger a DAG can pass any ``conf``; a free-string ``results_dir`` lets them make the
worker write wherever it can (``/etc/...``, ``../../..``, another team's bucket). The example DAGs
therefore declare it with :func:`results_dir_param`: the value must be :func:`results_root` itself
or a path under it, with no ``..`` segment, no ``//`` and no control character. Airflow validates
``conf`` against the parameter's JSON schema when a run is created (REST API, UI, ``dag.test``),
so a refused value never reaches a task.

The root comes from the environment of the process that parses the DAG (the deployment, not a
triggering user): ``GEMINI_BATCH_RESULTS_ROOT`` (a local directory or an object-storage URI such as
``gs://bucket/prefix``), else ``$AIRFLOW_HOME/gemini_batch_results``.
"""

from __future__ import annotations

import os
import re
from typing import Any

#: Environment variable naming the root under which the example DAGs may write.
RESULTS_ROOT_ENV = "GEMINI_BATCH_RESULTS_ROOT"


def results_root() -> str:
    """The root runs may write under (see module docstring), without a trailing slash."""
    root = os.environ.get(RESULTS_ROOT_ENV) or os.path.join(
        os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "gemini_batch_results"
    )
    return root.rstrip("/") or "/"


def _escape(text: str) -> str:
    """``text`` as a literal in a regex both Python and ECMAScript (a browser form) read alike."""
    return re.sub(r"([.^$*+?()\[\]{}|\\/])", r"\\\1", text)


def results_dir_pattern(root: str) -> str:
    """A regex (JSON-schema ``pattern``) for ``root`` or a path under it: segments of printable
    characters, none empty, ``.`` or ``..``, no backslash; no control character anywhere (the
    leading look-ahead also stops ``$`` from accepting a trailing newline)."""
    segment = r"(?!\.\.?(?:/|$))[^/\\\x00-\x1f\x7f]+"
    return rf"^(?![\s\S]*[\x00-\x1f\x7f]){_escape(root.rstrip('/'))}(?:/{segment})*/?$"


def results_dir_param(description: str, root: str | None = None) -> Any:
    """A string ``Param`` defaulting to ``root`` (default :func:`results_root`) that only accepts
    ``root`` or a path under it (:func:`results_dir_pattern`)."""
    from airflow.sdk import Param

    base = root or results_root()
    return Param(
        base,
        type="string",
        pattern=results_dir_pattern(base),
        description=f"{description} Must be {base} or a path under it (set {RESULTS_ROOT_ENV} to change).",
    )
