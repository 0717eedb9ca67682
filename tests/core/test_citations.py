"""Citations a reader can follow: no pointer to a document outside the repository.

Comments, docstrings, messages and docs cite a public source (a REST reference or guide URL, an
SDK file, another project's public issue written ``owner/repo issue #N``) or the repository's own
docs, chiefly ``docs/real-service/wire-format.md``. Two kinds of pointer lead nowhere for a
reader of the repository, and this test refuses them:

* a section of the wire-format notes kept outside the repository ("spec §7.2", "spec section 4",
  a path under ``shared/spec/``);
* an item of the project's private tracker ("issue 9 kind 3", "Issue 13 part 2", "issue-10",
  "fault kind 4", an ``ISSUE9`` label). Other projects' issues are written with ``#`` and are
  not matched: ``python-genai issue #1909``, ``issues #8516, #11336``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What is scanned: the package, tests, benchmarks, scripts, example DAGs, docs and the top-level
#: guides. Generated output (``docs/_build``) and caches are skipped.
SCANNED = ("airflow_provider_gemini_batch", "tests", "benchmarks", "scripts", "dags_examples", "docs")
TOP_LEVEL = ("README.md", "CONTRIBUTING.md", "Makefile", "pyproject.toml")
SUFFIXES = {
    ".py",
    ".md",
    ".rst",
    ".txt",
    ".json",
    ".toml",
    ".cfg",
    ".ini",
    ".yaml",
    ".yml",
    ".html",
    ".js",
    ".sh",
}
SKIPPED_PARTS = {"_build", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


# The patterns are assembled from parts so that this file does not match itself.
_SPEC = "spec"
_ISSUE = "issue"
#: A section of the out-of-repository wire notes: "spec §7", "spec section 4", "spec sections 5-9",
#: "shared/spec/...".
OUT_OF_REPO_SPEC = re.compile(rf"(?i)(?<![a-z]){_SPEC}\s*(§|sections?\s+\d)|shared/{_SPEC}/")
#: An item of the private tracker: "issue 9", "Issues 10", "issue-10", "issue_9" (in a name),
#: "ISSUE9", "fault kind 4". Not "issue #1909" (another project's public issue).
PRIVATE_TRACKER = re.compile(rf"(?i)(?<![a-z]){_ISSUE}s?[ _-]?\d|\bfault\s+kinds?\s+\d")


def _scanned_files() -> list[Path]:
    files = [ROOT / name for name in TOP_LEVEL if (ROOT / name).is_file()]
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and not SKIPPED_PARTS.intersection(path.parts):
                files.append(path)
    return files


def _offending_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if OUT_OF_REPO_SPEC.search(line) or PRIVATE_TRACKER.search(line):
            found.append(f"{path.relative_to(ROOT).as_posix()}:{number}: {line.strip()[:120]}")
    return found


def test_no_citation_leads_outside_the_repository() -> None:
    """Every scanned file outside the allow-list is free of spec-section and tracker citations."""
    this_file = Path(__file__).resolve()
    offending: list[str] = []
    scanned = 0
    for path in _scanned_files():
        if path.resolve() == this_file:
            continue
        scanned += 1
        offending.extend(_offending_lines(path))
    assert scanned > 300, f"only {scanned} files scanned: is the layout as expected?"
    assert not offending, (
        "Cite a public source or docs/real-service/wire-format.md (a section name) instead of the "
        "out-of-repository wire notes or the private tracker; say why in words:\n" + "\n".join(offending)
    )


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("see spec §7.2 for the envelope", True),
        ("(spec section 4.4, from the files guide)", True),
        ("Operation rendering (spec sections 5-9).", True),
        ("Spec §3 also lists 403", True),
        ("read ``shared/spec/gemini-batch-api.md``", True),
        ("(issue 9, kind 3)", True),
        ('"""Issue 13 part 3: priority', True),
        ("The issue-10 benchmark scripts", True),
        ("def test_row_issue_9_quotes():", True),
        ("#: ISSUE9_SAFETY_LINE", True),
        ("(fault kind 4)", True),
        ("python-genai issue #1909", False),
        ("continuedev/continue issues #8516, #11336", False),
        ("RFC 9110 §14", False),
        ("{ref}`wire-errors` in docs/real-service/wire-format.md", False),
        ("the OpenLineage spec naming rules", False),
        ("tissue 9", False),
    ],
)
def test_patterns_tell_private_pointers_from_public_ones(text: str, flagged: bool) -> None:
    """The patterns catch both private forms and leave other projects' ``#N`` issues alone."""
    assert bool(OUT_OF_REPO_SPEC.search(text) or PRIVATE_TRACKER.search(text)) is flagged
