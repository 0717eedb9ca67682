"""One Airflow API app with its login in force, shared by every module that needs one.

Starting Airflow's API app costs seconds (more on a loaded machine), so the modules that test
logins, the provider's reference page and its connection-test route share one (package scope).
Modules that need every request to be an admin's start their own with ``airflow_api()``:
``all_admins`` is read per request from the environment, which ``airflow_api`` sets for its own
life and then restores, so this server is back to its login when they end (modules run one after
the other). Requests here authenticate with :func:`tests.plugins.airflow_api.bearer`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.plugins.airflow_api import airflow_api


@pytest.fixture(scope="package")
def login_api(airflow_db: str) -> Iterator[str]:
    with airflow_api(all_admins=False) as base_url:
        yield base_url
