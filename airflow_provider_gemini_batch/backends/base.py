"""The backend seam: what differs between the services a ``gemini_batch`` connection can reach.

The hooks own the transport (sessions, deadlines, retries, redirect refusal, bounded reads), the
credentials' token mechanics and the error mapping; the operators own row outcomes, landing, the
manifest, idempotency and the wait. What differs per service is small and lives in one
:class:`Backend` subclass each, as pure request building and answer reading (no I/O):

======================  ===========================================  ==============================
                        Developer API (``backends/developer.py``)     e.g. Vertex AI batch prediction
======================  ===========================================  ==============================
create                  ``POST models/{m}:batchGenerateContent``     ``POST .../batchPredictionJobs``
get / cancel / delete   ``batches/{id}``, ``:cancel``                 ``.../batchPredictionJobs/{id}``
list                    ``GET batches`` → ``operations``              → ``batchPredictionJobs``
answer shape            an Operation wrapping the batch              the bare job resource
state spelling          ``BATCH_STATE_*``                            ``JOB_STATE_*``
auth                    ``x-goog-api-key`` or a Google bearer token  a Google bearer token only
inputs / outputs        the Files API (``files/…``)                  Cloud Storage / BigQuery URIs
======================  ===========================================  ==============================

Every method returns a :class:`~airflow_provider_gemini_batch._core.routes.ApiRequest` (method,
path relative to the connection's base URL, query, headers, JSON body, the resource named in
errors, whether it may be retried blindly) or reads an answer's JSON object into the shared
:class:`~airflow_provider_gemini_batch._core.models.Batch` view (whose ``state`` is the shared
:class:`~airflow_provider_gemini_batch._core.states.BatchState`). The sync hook and the async hook
send those requests with their own transport, so a backend is written once for both.

The Files API calls (upload, download, get/list/delete a file) are the Developer API's own and
stay in ``_core.routes``; a backend whose inputs live elsewhere stages them with its own module.

To add a backend: subclass :class:`Backend`, implement the abstract methods, and register the
class under its connection spelling in :data:`airflow_provider_gemini_batch.backends.BACKENDS`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.routes import ApiRequest
from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError


class Backend(abc.ABC):
    """Request building and answer reading for one batch service (pure: no I/O).

    :param settings: the parsed connection (API version, and whatever the backend reads from it,
        e.g. a project and a location).

    Class attributes:

    * :attr:`name`: the connection's ``backend`` spelling (``"developer"``).
    * :attr:`list_key`: the key of the items in a list answer (``"operations"``).
    """

    #: The connection's spelling of this backend (its ``backend`` extra).
    name: ClassVar[str]
    #: The JSON key holding the items of one list page.
    list_key: ClassVar[str]

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    # -- authentication --------------------------------------------------------------------------

    @abc.abstractmethod
    def static_auth_headers(self) -> dict[str, str] | None:
        """Headers that authenticate without a token exchange (an API key), or None: the hook
        then sends ``Authorization: Bearer <token>`` from the connection's Google credentials
        (service-account key, ADC), which it refreshes itself (that refresh is I/O)."""

    # -- connection test -------------------------------------------------------------------------

    @abc.abstractmethod
    def probe(self) -> ApiRequest:
        """The cheapest authenticated read, sent once by the connection test (URL and credentials)."""

    @abc.abstractmethod
    def connected_message(self, where: str) -> str:
        """The connection test's success text; ``where`` is the base URL without userinfo."""

    # -- batches ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_batch(
        self,
        model: str,
        *,
        requests: Sequence[Mapping[str, Any]] | None = None,
        input_file: str | None = None,
        display_name: str | None = None,
        priority: int | None = None,
        webhook_config: Mapping[str, Any] | None = None,
        embeddings: bool = False,
        output_uri: str | None = None,
    ) -> ApiRequest:
        """The create request (``idempotent=False``: the hook never repeats it blindly).

        :param input_file: where the input is (``files/…`` on the Developer API; a backend with
            other storage takes its own URIs here).
        :param output_uri: where results go, for a backend that writes them to the caller's
            storage; None where the service keeps them itself.
        :raises GeminiInvalidInputError: bad arguments for this backend (before anything is sent).
        """

    @abc.abstractmethod
    def get_batch(self, name: str, *, light: bool = False) -> ApiRequest:
        """Read one batch. ``light``: ask only for what a wait needs (a partial-response mask),
        where the service has one; a backend without one ignores it."""

    @abc.abstractmethod
    def list_batches(
        self, page_token: str | None = None, page_size: int = 100, *, light: bool = False
    ) -> ApiRequest:
        """One page of the batch list; the items are under :attr:`list_key`, the next page's
        token under ``nextPageToken`` (the AIP-158 pagination both services use)."""

    @abc.abstractmethod
    def cancel_batch(self, name: str) -> ApiRequest:
        """Ask the service to cancel (asynchronous; harmless to repeat)."""

    @abc.abstractmethod
    def delete_batch(self, name: str) -> ApiRequest:
        """Delete the batch resource (this does not stop a running batch on either service)."""

    def update_batch_priority(self, name: str, priority: int, *, embeddings: bool = False) -> ApiRequest:
        """Change a queued batch's priority. The default refuses: not every service has it.

        :raises GeminiInvalidInputError: this backend cannot change a batch's priority.
        """
        raise GeminiInvalidInputError(
            f"The {self.name} backend cannot change a batch's priority; set it when creating the batch."
        )

    # -- answers ---------------------------------------------------------------------------------

    def parse_state(self, raw: str | None) -> BatchState:
        """The shared state of a wire spelling (never raises; unknown → ``UNKNOWN``).

        The default accepts both ``BATCH_STATE_*`` and ``JOB_STATE_*`` spellings.
        """
        return BatchState.parse_lenient(raw)

    @abc.abstractmethod
    def batch_from_answer(self, obj: Mapping[str, Any]) -> Batch:
        """The :class:`Batch` view of a create/get/list-item answer (never raises for an unknown
        state; texts are redacted by the hook afterwards)."""

    def batch_from_bare(self, obj: Mapping[str, Any], name: str | None) -> Batch:
        """The :class:`Batch` view of an answer that is the bare batch resource (the priority
        update's); by default the same as :meth:`batch_from_answer`."""
        return self.batch_from_answer(obj)
