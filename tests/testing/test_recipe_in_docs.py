"""docs/testing-your-dags.md works as written: its files, copied verbatim into a fresh project
directory, pass with a plain ``pytest`` run in a subprocess (the plugin found through its
``pytest11`` entry point, a fresh temporary AIRFLOW_HOME, the emulator, ``dag.test()``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-your-dags.md"
#: A file of the recipe: a line **`path`** followed by a fenced block.
_FILE_BLOCK = re.compile(r"^\*\*`(?P<path>[^`]+)`\*\*\n\n```[a-z]*\n(?P<body>.*?)^```", re.M | re.S)


def recipe_files() -> dict[str, str]:
    """``{relative path: content}`` of every file the page shows."""
    return {m["path"]: m["body"] for m in _FILE_BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def test_the_page_shows_the_three_files() -> None:
    assert sorted(recipe_files()) == ["dags/my_batch.py", "pyproject.toml", "tests/test_my_batch.py"]


def test_recipe_passes_as_written(tmp_path: Path) -> None:
    for relative, content in recipe_files().items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    # A user's shell: no Airflow settings of this test session leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env["HOME"] = str(tmp_path / "home")  # the recipe must not need (or touch) ~/airflow
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_my_batch.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "2 passed" in done.stdout
    assert not (tmp_path / "home" / "airflow").exists()
