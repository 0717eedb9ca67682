"""OpenLineage datasets of the upload, create and results operators.

Airflow's OpenLineage provider (``apache-airflow-providers-openlineage``, the ``openlineage`` extra)
calls an operator's ``get_openlineage_facets_on_start`` / ``_on_complete`` and emits what they
return. Everything here imports that provider lazily, inside the functions the operators call
from those two methods, so the operators need nothing when it is not installed (the methods are
then never called).

Dataset names follow the OpenLineage naming conventions (openlineage.io/docs/spec/naming):

* a local file: namespace ``file``, name the absolute path (as common.io's ``file`` asset
  converter does, so the results' outlet asset and this dataset are the same dataset);
* an object-store URI ``<scheme>://<bucket>/<key>``: namespace ``<scheme>://<bucket>``, name
  ``<key>``;
* a Gemini file or batch: namespace ``gemini://<API host>`` (``generativelanguage.googleapis.com``,
  or the emulator's host:port), name the resource name (``files/…``, ``batches/…``). Gemini has
  no convention of its own; the scheme names the service and the host tells the real API from an
  emulator.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_gemini_batch._core.settings import DEFAULT_HOST
from airflow_provider_gemini_batch._core.urls import public_netloc

GEMINI_SCHEME = "gemini"


def gemini_namespace(base_url: str | None) -> str:
    """``gemini://<host[:port]>`` of an API base URL (the real service's host when None).

    Userinfo in the connection's host (``https://user:pass@gateway/...``) is dropped: lineage is
    published to whoever reads the lineage backend.
    """
    netloc = public_netloc(base_url or DEFAULT_HOST) or public_netloc(DEFAULT_HOST)
    return f"{GEMINI_SCHEME}://{netloc}"


def path_dataset(path: Any) -> Any | None:
    """The dataset of a local path, ``file://`` URI or object-store URI; None for an empty or
    still-templated value."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    text = str(path or "").strip()
    if not text or "{{" in text or "{%" in text:
        return None
    parts = urlsplit(text)
    if parts.scheme and "://" in text and parts.scheme != "file":
        # Without userinfo (``s3://KEY:SECRET@bucket/...``): the namespace is published.
        namespace = f"{parts.scheme}://{public_netloc(text)}"
        return Dataset(namespace=namespace, name=parts.path.lstrip("/") or "/")
    local = parts.path if parts.scheme == "file" else text
    return Dataset(namespace="file", name=os.path.abspath(local))


def gemini_dataset(base_url: str | None, name: Any) -> Any | None:
    """The dataset of a Gemini resource (``files/…`` or ``batches/…``); None without a name."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    text = str(name or "").strip()
    if not text:
        return None
    return Dataset(namespace=gemini_namespace(base_url), name=text)


def operator_lineage(inputs: Iterable[Any | None], outputs: Iterable[Any | None]) -> Any:
    """An ``OperatorLineage`` of the given datasets (None entries dropped)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[d for d in inputs if d is not None], outputs=[d for d in outputs if d is not None]
    )


def base_url_of(operator: Any) -> str | None:
    """The API base URL of ``operator``'s connection, or None (the real service) when it cannot be
    read: lineage must never fail a task."""
    try:
        return str(operator.hook.settings.base_url)
    except Exception:
        return None


def created_by_task(operator: Any, task_instance: Any, kind: str) -> str | None:
    """The newest ``files/…`` (``kind="files"``) or ``batches/…`` (``kind="batches"``) whose
    display-name marker carries this task instance's tag, or None.

    OpenLineage calls ``_on_complete`` in a forked process (``[openlineage] execute_in_thread``
    off, the default), where pulling this task's XCom blocks on the task's supervisor channel
    (seen with ``dag.test()``: the child is killed after ``execution_timeout``). The marker the
    operators write for idempotency (``_core/identity.py``) finds the same resource through the
    API instead; a fresh hook, so the fork shares no HTTP connection with the task. Bounded by
    the operator's ``reattach_scan_limit``; never raises (lineage must not fail a task).
    """
    from airflow_provider_gemini_batch._core.identity import TaskIdentity, find_tagged
    from airflow_provider_gemini_batch.operators._common import make_hook

    try:
        map_index = getattr(task_instance, "map_index", -1)
        identity = TaskIdentity(
            dag_id=str(task_instance.dag_id),
            task_id=str(task_instance.task_id),
            run_id=str(task_instance.run_id),
            map_index=-1 if map_index is None else int(map_index),
        )
        hook = make_hook(operator.gemini_conn_id)
        items = hook.list_files() if kind == "files" else hook.list_batches(light=True)
        limit = int(getattr(operator, "reattach_scan_limit", 500))
        found: list[Any] = find_tagged(
            items, identity.tag, limit=limit, display_name=lambda item: item.display_name
        )
    except Exception:
        return None
    if not found:
        return None
    newest = max(found, key=lambda item: (item.create_time is not None, item.create_time or 0))
    return str(newest.name)
