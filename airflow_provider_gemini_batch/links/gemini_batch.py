"""Operator extra link from a task to the page of the batch it created or waited for.

The **Gemini Batch** button opens the provider's batch page inside Airflow
(:mod:`airflow_provider_gemini_batch.plugins`): state, progress, timings and result counts, for
anyone logged in who may read the DAG. Google AI Studio has no page for a single Gemini API batch
job (batches are an API-only resource) and the REST resource needs the API key, which a browser
does not send (a bare JSON 403), so the button no longer targets it; its URL is still recorded,
under :data:`API_URL_XCOM_KEY`, and shown on the page.

Airflow 3 computes links on the worker: after the task, the task runner calls :meth:`get_link` and
stores the result under :attr:`GeminiBatchLink.xcom_key`, which the API server reads to render the
button (Airflow 3.3.2 ``sdk/execution_time/task_runner.py`` ``finalize``). :meth:`persist` therefore
stores the page URL under that key as soon as the batch exists, so the button is there while the
task still waits. Neither URL contains the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

from airflow_provider_gemini_batch._core.urls import public_url

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Host used when the connection has none (the public endpoint).
DEFAULT_API_ROOT = "https://generativelanguage.googleapis.com"
#: Version used when ``api_root`` carries none.
API_VERSION = "v1beta"
#: XCom key of the batch's REST URL (no key in it), read by the batch page.
API_URL_XCOM_KEY = "gemini_batch_api_url"
#: Where the provider's plugin mounts its pages on the API server (plugins/app.py mounts it here).
PAGE_PREFIX = "/gemini-batch"


def batch_url(batch_name: str, api_root: str | None = None) -> str:
    """The REST URL of ``batch_name`` (``batches/...``) under ``api_root`` (no key, no query).

    ``api_root`` is the host (with optional prefix), ideally ending in the API version the
    connection uses (``.../v1``); a root without a version gets :data:`API_VERSION`. Userinfo in
    the root (``https://user:pass@gateway``) is dropped: the URL is published in XCom.
    """
    root = public_url(api_root or DEFAULT_API_ROOT).rstrip("/")
    # A connection host may already carry the version path; do not repeat it.
    if root.endswith(("/v1beta", "/v1", "/v1alpha")):
        return f"{root}/{batch_name}"
    return f"{root}/{API_VERSION}/{batch_name}"


def page_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The batch page of one task instance, as a path of the API server (ids URL-quoted).

    ``run_id`` comes last: a run id may contain ``/``, which the route takes as a ``:path``.
    """
    return (
        f"{PAGE_PREFIX}/ti/{quote(dag_id, safe='')}/{quote(task_id, safe='')}/{int(map_index)}/"
        f"{quote(run_id, safe='')}"
    )


def page_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """:func:`page_path` under ``[api] base_url`` when configured (else a root-relative path)."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{page_path(dag_id, run_id, task_id, map_index)}"


class GeminiBatchLink(BaseOperatorLink):
    """ "Gemini Batch" button on the create operator and the sensor: opens the batch page."""

    name = "Gemini Batch"

    @property
    def xcom_key(self) -> str:
        return "gemini_batch_link"

    @classmethod
    def persist(cls, context: Mapping[str, Any], batch_name: str, api_root: str | None) -> str:
        """Record this task instance's batch: its REST URL and the page URL; returns the page URL."""
        ti = context["ti"]
        ti.xcom_push(key=API_URL_XCOM_KEY, value=batch_url(batch_name, api_root))
        map_index = getattr(ti, "map_index", -1)
        url = page_url(ti.dag_id, ti.run_id, ti.task_id, -1 if map_index is None else int(map_index))
        ti.xcom_push(key=cls().xcom_key, value=url)
        return url

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The stored page URL, or an empty string (no button) before a batch exists.

        Read with ``XCom.get_all`` (the execution API's ``.../slice`` route), not
        ``XCom.get_value``: the single-value route answers 404 for a missing key and the task
        SDK's client logs that at error level ("XCom not found", ``airflow/sdk/api/client.py``
        ``XComOperations.get``, Airflow 3.1.8 and 3.3.2), and the task runner asks for this link
        after every try, a create that failed before its batch existed included. The slice
        route returns an empty list quietly. It holds the values of every map index of the
        task, so the one ending with this task instance's page path is taken.
        """
        values = XCom.get_all(
            key=self.xcom_key, dag_id=ti_key.dag_id, task_id=ti_key.task_id, run_id=ti_key.run_id
        )
        map_index = -1 if ti_key.map_index is None else int(ti_key.map_index)
        own = page_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, map_index)
        for value in values or ():
            if isinstance(value, str) and value.endswith(own):
                return value
        return ""
