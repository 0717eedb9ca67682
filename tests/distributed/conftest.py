"""The distributed-stack tests run only when asked: ``pytest -m distributed`` (make test-distributed).

They need Debian's PostgreSQL and Redis (scripts/install_distributed.sh) and the ``distributed``
extra, and take minutes; the normal suite (``make test``) skips them.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "distributed" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(
        reason="distributed stack: run with `make test-distributed` (pytest -m distributed)"
    )
    for item in items:
        if item.get_closest_marker("distributed"):
            item.add_marker(skip)
