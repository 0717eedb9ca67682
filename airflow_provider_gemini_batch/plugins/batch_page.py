"""``GeminiBatchPlugin``: the batch page's sub-app and its tab on every task instance.

Registered through the ``airflow.plugins`` entry point (pyproject.toml), which Airflow 3 reads in
every process whatever its lazy provider discovery setting; the provider-info ``plugins`` key is
read only with lazy discovery off, and listing the plugin in both would register it twice (Airflow
then records "already registered" as a plugin import error), so provider info does not list it.

``external_views`` (Airflow 3.3.2 ``api_fastapi/core_api/datamodels/plugins.py``): destination
``task_instance`` shows the page as an iframe tab on every task instance; the UI replaces
``{DAG_ID}``, ``{RUN_ID}``, ``{TASK_ID}`` and ``{MAP_INDEX}`` in ``href`` (URL-encoded). A destination
outside ``nav|dag|dag_run|task|task_instance|base`` makes Airflow drop the whole plugin, so the
value is pinned by a test.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowPlugin

from airflow_provider_gemini_batch.plugins.app import URL_PREFIX, LazyApp
from airflow_provider_gemini_batch.plugins.console import CONSOLE_ROUTE

#: The iframe tab's URL template (ids substituted by the UI).
TAB_HREF = f"{URL_PREFIX}/ti/{{DAG_ID}}/{{TASK_ID}}/{{MAP_INDEX}}/{{RUN_ID}}"


class GeminiBatchPlugin(AirflowPlugin):
    """The "Gemini Batch" page: state, progress, timings, result counts of a task's batch."""

    name = "gemini_batch"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Gemini Batch pages"}]
    external_views = [
        {
            "name": "Gemini Batch",
            "href": TAB_HREF,
            "destination": "task_instance",
            "url_route": "gemini-batch",
        },
        # The console of every batch, as a page of Airflow's UI (menu entry, iframe).
        {
            "name": "Gemini batches",
            "href": f"{URL_PREFIX}{CONSOLE_ROUTE}",
            "destination": "nav",
            "url_route": "gemini-batches",
        },
    ]
