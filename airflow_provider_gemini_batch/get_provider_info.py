"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Kept import-light: Airflow calls it while discovering providers, so it imports only the plain
dictionaries that describe the connection form.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_gemini_batch import __version__
from airflow_provider_gemini_batch.connection_fields import CONN_FIELDS, UI_FIELD_BEHAVIOUR

_PKG = "airflow_provider_gemini_batch"


def get_provider_info() -> dict[str, Any]:
    """Describe this provider (hooks, operators, sensors, triggers, connection type, extra links)."""
    return {
        "package-name": "airflow-provider-gemini-batch",
        "name": "Google Gemini Batch",
        "description": (
            "Run Google Gemini Batch API jobs (upload, create, deferrable wait, results) as DAG tasks."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Google Gemini Batch API",
                "external-doc-url": "https://ai.google.dev/gemini-api/docs/batch-api",
                "tags": ["gcp", "ai"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Google Gemini Batch API",
                "python-modules": [f"{_PKG}.hooks.gemini_batch"],
            }
        ],
        "operators": [
            {
                "integration-name": "Google Gemini Batch API",
                # gemini_batch re-exports every operator of the modules after it.
                "python-modules": [
                    f"{_PKG}.operators.gemini_batch",
                    f"{_PKG}.operators.upload",
                    f"{_PKG}.operators.create",
                    f"{_PKG}.operators.results",
                    f"{_PKG}.operators.cleanup",
                    f"{_PKG}.operators.shards",
                    f"{_PKG}.operators.resubmit",
                    f"{_PKG}.operators.priority",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Google Gemini Batch API",
                "python-modules": [f"{_PKG}.sensors.gemini_batch"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Google Gemini Batch API",
                "python-modules": [f"{_PKG}.triggers.gemini_batch"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "gemini_batch",
                "hook-class-name": f"{_PKG}.hooks.gemini_batch.GeminiBatchHook",
                "hook-name": "Google Gemini Batch",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
        "extra-links": [f"{_PKG}.links.gemini_batch.GeminiBatchLink"],
    }
