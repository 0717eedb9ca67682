"""Operator extra link from a task to the batch it created or waited for.

Google AI Studio has no documented page for a single Gemini API batch job (batches are an
API-only resource), so the link targets the REST resource itself:
``<api host>/<api_version>/batches/<id>`` (the connection's ``api_version``, default
``v1beta``). Opening it in a browser signed in with an API key extension,
or with ``curl -H "x-goog-api-key: ..."``, shows the job's state, stats and output. The URL never
contains the key: it is built from the connection's host and the batch name only.

The URL is computed on the worker (where the connection is readable) and stored in XCom under
:attr:`GeminiBatchLink.xcom_key`; the API server only reads that XCom to render the button.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

#: Host used when the connection has none (the public endpoint).
DEFAULT_API_ROOT = "https://generativelanguage.googleapis.com"
#: Version used when ``api_root`` carries none.
API_VERSION = "v1beta"


def batch_url(batch_name: str, api_root: str | None = None) -> str:
    """The REST URL of ``batch_name`` (``batches/...``) under ``api_root`` (no key, no query).

    ``api_root`` is the host (with optional prefix), ideally ending in the API version the
    connection uses (``.../v1``); a root without a version gets :data:`API_VERSION`.
    """
    root = (api_root or DEFAULT_API_ROOT).rstrip("/")
    # A connection host may already carry the version path; do not repeat it.
    if root.endswith(("/v1beta", "/v1", "/v1alpha")):
        return f"{root}/{batch_name}"
    return f"{root}/{API_VERSION}/{batch_name}"


class GeminiBatchLink(BaseOperatorLink):
    """ "Gemini Batch" button on the create operator and the sensor."""

    name = "Gemini Batch"

    @property
    def xcom_key(self) -> str:
        return "gemini_batch_link"

    @classmethod
    def persist(cls, context: Mapping[str, Any], batch_name: str, api_root: str | None) -> str:
        """Store the batch URL for this task instance; returns the URL."""
        url = batch_url(batch_name, api_root)
        context["ti"].xcom_push(key=cls().xcom_key, value=url)
        return url

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The stored URL, or an empty string (no button) before a batch exists."""
        value = XCom.get_value(key=self.xcom_key, ti_key=ti_key)
        return value if isinstance(value, str) else ""
