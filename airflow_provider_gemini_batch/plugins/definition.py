"""The connection a task instance's batch is read with: the task's own definition, never XCom.

XComs are data anyone allowed to write one on the DAG can plant (a task of the DAG, or a REST
user with the ``user`` role). Reading a batch with a connection id taken from XCom would let them
make the API server read with another team's key and show the answer to a viewer who may not see
that team's DAG. The connection therefore comes from the serialized DAG, as the DAG file defines
the task: the provider's operators and sensor add ``gemini_conn_id`` to their serialized fields
(``operators/_common.py``), so the dag processor writes it next to the task.
"""

from __future__ import annotations

from typing import Any

#: The module prefix of this provider's operators and sensor (``_task_module`` of a serialized task).
PROVIDER_MODULE = "airflow_provider_gemini_batch."


def _is_provider_task(task: Any) -> bool:
    module = getattr(task, "_task_module", None) or getattr(task, "task_module", None) or ""
    return str(module).startswith(PROVIDER_MODULE)


def conn_id_of_task(task: Any) -> str | None:
    """The ``gemini_conn_id`` a serialized task was defined with, or None.

    None when the task is not one of the provider's (a custom task that pushed a batch name), when
    a mapped task takes its connection from its expansion (chosen at run time), or when the DAG was
    serialized before the field was recorded (it is written on the next parse). A mapped task
    without ``gemini_conn_id`` among its partial arguments uses the operators' default.
    """
    from airflow_provider_gemini_batch.operators._common import DEFAULT_CONN_ID

    if not _is_provider_task(task):
        return None
    partial = getattr(task, "partial_kwargs", None)
    if isinstance(partial, dict):  # a mapped task
        expanded = getattr(getattr(task, "expand_input", None), "value", None)
        if isinstance(expanded, dict) and "gemini_conn_id" in expanded:
            return None
        value = partial.get("gemini_conn_id", DEFAULT_CONN_ID)
    else:
        value = getattr(task, "gemini_conn_id", None)
    return value if isinstance(value, str) and value and "{{" not in value else None


def defined_conn_id(dag_id: str, task_id: str) -> str | None:
    """The connection id of ``task_id`` in the latest serialized version of ``dag_id``, or None."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = SerializedDagModel.get(dag_id, session=session)
        dag = model.dag if model is not None else None
    if dag is None or not dag.has_task(task_id):
        return None
    return conn_id_of_task(dag.get_task(task_id))
