"""The backend seam: a connection picks its backend; the Developer backend builds the API's requests.

Pure request building (no I/O), so it is checked directly; the hooks' behaviour over a real socket
is covered by ``tests/hooks`` (every batch call there goes through the Developer backend).
"""

from __future__ import annotations

import dataclasses

import pytest

from airflow_provider_gemini_batch._core import routes
from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch._core.states import BatchState
from airflow_provider_gemini_batch.backends import BACKENDS, DeveloperBackend, backend_for
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError, GeminiInvalidInputError


def _settings(**extra: object) -> ConnectionSettings:
    return ConnectionSettings.from_connection(
        conn_id="c", conn_type="gemini_batch", host="http://127.0.0.1:1", password="k-123", extra=extra
    )


def test_a_connection_without_a_backend_uses_the_developer_api() -> None:
    backend = backend_for(_settings())
    assert isinstance(backend, DeveloperBackend)
    assert BACKENDS["developer"] is DeveloperBackend


def test_an_unknown_backend_is_refused_naming_the_connection() -> None:
    @dataclasses.dataclass(frozen=True)
    class Other:
        conn_id: str = "c"
        backend: str = "mainframe"

    with pytest.raises(GeminiConnectionConfigError, match=r"'c'.*'mainframe'"):
        backend_for(Other())  # type: ignore[arg-type]


def test_developer_requests_are_the_routes_of_the_developer_api() -> None:
    backend = backend_for(_settings())
    assert backend.get_batch("batches/b1") == routes.get_batch("v1beta", "batches/b1")
    assert backend.get_batch("batches/b1", light=True).params == {"fields": routes.POLL_FIELDS}
    assert backend.list_batches("tok", 7, light=True) == routes.list_batches(
        "v1beta", "tok", 7, fields=routes.LIST_FIELDS
    )
    assert backend.cancel_batch("batches/b1").path == "/v1beta/batches/b1:cancel"
    assert backend.delete_batch("batches/b1") == routes.delete_batch("v1beta", "batches/b1")
    create = backend.create_batch("gemini-2.5-flash", input_file="files/f1", embeddings=True)
    assert create.path == "/v1beta/models/gemini-2.5-flash:asyncBatchEmbedContent"
    assert create.idempotent is False
    assert backend.list_key == "operations"
    assert backend.static_auth_headers() == {"x-goog-api-key": "k-123"}


def test_developer_refuses_an_output_uri_before_anything_is_sent() -> None:
    with pytest.raises(GeminiInvalidInputError, match="output_uri"):
        backend_for(_settings()).create_batch(
            "gemini-2.5-flash", input_file="files/f", output_uri="gs://b/p/"
        )


def test_developer_reads_both_answer_shapes_to_the_shared_states() -> None:
    backend = backend_for(_settings())
    op = backend.batch_from_answer({"name": "batches/b", "metadata": {"state": "BATCH_STATE_RUNNING"}})
    bare = backend.batch_from_bare({"state": "JOB_STATE_SUCCEEDED"}, "batches/b")
    assert (op.name, op.state) == ("batches/b", BatchState.RUNNING)
    assert (bare.name, bare.state) == ("batches/b", BatchState.SUCCEEDED)
    assert backend.parse_state("JOB_STATE_EXPIRED") is BatchState.EXPIRED
