"""The ``gemini_batch`` connection form, declared once.

Airflow >= 3.2 reads ``conn-fields`` / ``ui-field-behaviour`` from the provider info; 3.1 asks the
hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour``. Both are generated from the
dictionaries below, so the two can never disagree. Kept free of heavy imports: the providers
manager imports it during discovery.
"""

from __future__ import annotations

from typing import Any

DEFAULT_HOST = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 5
DEFAULT_SCOPES = (
    "https://www.googleapis.com/auth/generative-language.retriever",
    "https://www.googleapis.com/auth/cloud-platform",
)

#: Extra fields of the connection (stored in ``Connection.extra`` under these names).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "api_version": {
        "label": "API version",
        "schema": {
            "type": ["string", "null"],
            "default": DEFAULT_API_VERSION,
            "enum": ["v1beta", "v1", "v1alpha"],
        },
        "description": "REST API version in every path. Batch endpoints are documented under v1beta.",
    },
    "timeout": {
        "label": "Request timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": DEFAULT_TIMEOUT_SECONDS},
        "description": (
            "Seconds one API request may take in all, answer included (each upload chunk's answer "
            "too); a download must instead keep delivering at least 1 KiB/s over each such span."
        ),
    },
    "max_retries": {
        "label": "Max retries",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES},
        "description": "Retries after 408/429/5xx answers and connection errors, with exponential backoff.",
    },
    "retry_deadline": {
        "label": "Retry deadline (seconds)",
        "schema": {"type": ["number", "null"], "default": 300},
        "description": "Total time in seconds one call may spend retrying before it gives up.",
    },
    "retry_initial_delay": {
        "label": "First retry delay (seconds)",
        "schema": {"type": ["number", "null"], "default": 1.0},
        "description": "First backoff wait in seconds; doubled on each retry, with jitter.",
    },
    "retry_max_delay": {
        "label": "Longest retry delay (seconds)",
        "schema": {"type": ["number", "null"], "default": 60.0},
        "description": "Cap of one backoff wait in seconds, also of the server's Retry-After honoured.",
    },
    "upload_chunk_size": {
        "label": "Upload chunk size (bytes)",
        "schema": {"type": ["integer", "null"], "default": 8 * 1024 * 1024},
        "description": "Bytes per resumable-upload chunk; keep the service's 8 MiB granularity.",
    },
    "key_path": {
        "label": "Service account key file path",
        "schema": {"type": ["string", "null"]},
        "description": "Path to a service-account JSON key, used instead of an API key.",
    },
    "keyfile_dict": {
        "label": "Service account key JSON",
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "The service-account JSON key itself, used instead of an API key.",
    },
    "use_adc": {
        "label": "Use Application Default Credentials",
        "schema": {"type": ["boolean", "null"], "default": False},
        "description": "Authenticate with Google Application Default Credentials instead of an API key.",
    },
    "scopes": {
        "label": "OAuth scopes",
        "schema": {"type": ["string", "null"], "default": ",".join(DEFAULT_SCOPES)},
        "description": "Comma-separated OAuth scopes for service-account or ADC credentials.",
    },
    "quota_project_id": {
        "label": "Quota project",
        "schema": {"type": ["string", "null"]},
        "description": "Sent as x-goog-user-project with end-user credentials.",
    },
}

#: Standard fields hidden or relabelled in the form.
#:
#: Port stays visible although the Base URL can carry it: Airflow 3.3's connection list tests a
#: stored connection by sending ``port: Number(port)``, which is 0 for a connection saved without
#: one, and its ``/connections/test`` API refuses a port that differs from the stored one (400 "The
#: host or port to test differs from the stored connection"). A connection saved with its port
#: (443 for Google) passes that check; the hook appends the port to a Base URL that has none.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "extra"],
    "relabeling": {"password": "API key", "host": "Base URL"},
    "placeholders": {
        "host": DEFAULT_HOST,
        "password": "Gemini API key (leave empty to use Google credentials)",
        "port": "443 (or the emulator's port); needed by the Test button of Airflow 3.3",
    },
}
