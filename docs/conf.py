"""Sphinx configuration for the airflow-provider-gemini-batch documentation.

Built by ``make docs`` with ``-W`` (warnings are errors). The API reference is generated at build
time from the package tree (see ``_write_api_pages``), so a new public module is documented the
moment it exists and a module that is not written yet cannot break the build.
"""

from __future__ import annotations

import atexit
import logging
import os
import pkgutil
import shutil
import sys
import tempfile
from pathlib import Path

from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# autodoc imports Airflow; keep it from creating ~/airflow or reading a user's configuration.
if "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="gemini-batch-docs-airflow-")
    atexit.register(shutil.rmtree, _home, True)
    os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Airflow logs its configuration steps at INFO on import ("Reading the config from ...",
# "Configured default timezone"), before its own logging setup, and a pygments style package of
# the theme installs a root handler (logging.basicConfig) that prints them: a docs build should
# print only Sphinx's own warnings.
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
logging.getLogger("airflow").setLevel(logging.WARNING)

import airflow_provider_gemini_batch  # noqa: E402  (needs sys.path and AIRFLOW_HOME set first)

project = "airflow-provider-gemini-batch"
author = "airflow-provider-gemini-batch developers"
copyright = "2026, airflow-provider-gemini-batch developers"
release = airflow_provider_gemini_batch.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Cross-references into Airflow, requests, httpx... would need intersphinx (network at build time).
nitpicky = False

html_theme = "furo"
html_title = f"{project} {release}"

PACKAGE = "airflow_provider_gemini_batch"
API_DIR = DOCS / "api" / "generated"


def public_modules() -> list[str]:
    """Every importable public module of the package, sorted.

    A module is public when no component of its dotted path starts with an underscore, except
    ``_core``, whose models, states and exceptions users meet in manifests, events and errors.
    """
    found: list[str] = [PACKAGE]
    pkg_path = [str(ROOT / PACKAGE)]
    for info in pkgutil.walk_packages(pkg_path, prefix=f"{PACKAGE}."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") and p != "_core" for p in parts):
            continue
        if parts and parts[-1] == "__main__":
            continue
        found.append(info.name)
    return sorted(found)


def _write_api_pages(app: Sphinx) -> None:
    """(Re)write one MyST page per public module under ``api/generated`` (ignored by git)."""
    API_DIR.mkdir(parents=True, exist_ok=True)
    wanted = {f"{name}.md" for name in public_modules()}
    for stale in API_DIR.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    for name in public_modules():
        page = API_DIR / f"{name}.md"
        text = f"# `{name}`\n\n```{{automodule}} {name}\n```\n"
        # Rewriting an unchanged file would make Sphinx rebuild every page each time.
        if not page.exists() or page.read_text() != text:
            page.write_text(text)


def setup(app: Sphinx) -> None:
    """Generate the API pages before Sphinx reads the sources."""
    app.connect("builder-inited", _write_api_pages)
