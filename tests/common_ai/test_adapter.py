"""The Gemini adapter's parts common.ai calls one by one, against the emulator (no Airflow run).

Each test drives the adapter through common.ai's own types (``build_output_spec``, ``BatchRequest``)
so a contract drift in common.ai shows here first.
"""

from __future__ import annotations

import datetime

import pytest

pytest.importorskip("airflow.providers.common.ai.batch", reason="needs the common-ai extra")

from airflow.providers.common.ai.batch import dispatch
from airflow.providers.common.ai.batch.output_schema import build_output_spec
from airflow.providers.common.ai.exceptions import LLMBatchModelMismatchError
from pydantic import BaseModel

from airflow_provider_gemini_batch.common_ai.adapter import GeminiBatchAdapter
from airflow_provider_gemini_batch.emulator import EmulatorServer

KEY16 = "0123456789abcdef"
FINGERPRINT = "fedcba9876543210" * 4


class Answer(BaseModel):
    text: str
    score: float


@pytest.fixture
def adapter(emulator: EmulatorServer) -> GeminiBatchAdapter:
    emulator.control.configure(processing_seconds=0)
    return GeminiBatchAdapter(api_key=emulator.api_key, base_url=emulator.base_url)


def _wait_done(adapter: GeminiBatchAdapter, batch_id: str) -> str:
    state = adapter.get_batch(batch_id)
    return state.status


def test_entry_point_maps_the_google_prefix_to_this_adapter() -> None:
    """common.ai's dispatch finds the adapter through the installed entry point, for both
    connection types it can take credentials from."""
    assert dispatch.get_adapter_class("gemini_batch", "google:gemini-2.5-flash") is GeminiBatchAdapter
    assert dispatch.get_adapter_class("pydanticai", "google:gemini-2.5-flash") is GeminiBatchAdapter


def test_a_second_model_is_rejected_before_any_call(adapter: GeminiBatchAdapter) -> None:
    spec = build_output_spec(str)
    with pytest.raises(LLMBatchModelMismatchError, match="one model"):
        adapter.validate_requests(
            [{"prompt": "a"}, {"prompt": "b", "model": "google:gemini-2.5-pro"}],
            model="gemini-2.5-flash",
            output_spec=spec,
            idempotency_key=KEY16,
        )
    with pytest.raises(LLMBatchModelMismatchError, match="'google:<model>'"):
        adapter.validate_requests(
            [{"prompt": "a", "model": "openai:gpt-5"}],
            model="gemini-2.5-flash",
            output_spec=spec,
            idempotency_key=KEY16,
        )


def test_large_input_goes_through_an_uploaded_file(emulator: EmulatorServer) -> None:
    """Over the inline limit the requests are uploaded as JSONL and the batch reads the file."""
    emulator.control.configure(processing_seconds=0)

    class SmallInline(GeminiBatchAdapter):
        inline_limit_bytes = 10

    adapter = SmallInline(api_key=emulator.api_key, base_url=emulator.base_url)
    spec = build_output_spec(Answer)
    submitted = adapter.submit(
        [{"prompt": f"q{i}"} for i in range(3)],
        model="gemini-2.5-flash",
        idempotency_key=KEY16,
        input_fingerprint=FINGERPRINT,
        output_spec=spec,
    )
    assert submitted.provider_input_ref is not None
    assert submitted.provider_input_ref.startswith("files/")
    assert _wait_done(adapter, submitted.batch_id) == "completed"
    items = sorted(adapter.iter_results(submitted.batch_id), key=lambda r: r.index)
    assert [r.index for r in items] == [0, 1, 2]
    assert [r.custom_id for r in items] == [f"{KEY16}-{i}" for i in range(3)]
    extracted = adapter.extract_output(items[0], spec)
    assert extracted.kind == "json_text"
    Answer.model_validate_json(extracted.text or "")


def test_orphaned_batch_is_found_by_its_marker(adapter: GeminiBatchAdapter) -> None:
    """A create whose answer was lost is found again by key and fingerprint; another input or a
    batch older than the intent record is not."""
    not_before = datetime.datetime.now(datetime.timezone.utc).isoformat()
    spec = build_output_spec(str)
    submitted = adapter.submit(
        [{"prompt": "hello"}],
        model="gemini-2.5-flash",
        idempotency_key=KEY16,
        input_fingerprint=FINGERPRINT,
        output_spec=spec,
    )
    assert adapter.find_orphaned_batch(KEY16, FINGERPRINT, not_before) == submitted.batch_id
    assert adapter.find_orphaned_batch(KEY16, "0" * 64, not_before) is None
    assert adapter.find_orphaned_batch("f" * 16, FINGERPRINT, not_before) is None
    later = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat()
    assert adapter.find_orphaned_batch(KEY16, FINGERPRINT, later) is None


def test_row_errors_are_errored_and_cancel_is_reported(emulator: EmulatorServer) -> None:
    """A per-row ``error`` becomes common.ai's ``errored`` item with the Status code; a cancelled
    batch reads back ``cancelled``."""
    emulator.control.configure(processing_seconds=0, error_fraction=1.0)
    adapter = GeminiBatchAdapter(api_key=emulator.api_key, base_url=emulator.base_url)
    spec = build_output_spec(str)
    done = adapter.submit(
        [{"prompt": "a"}, {"prompt": "b"}],
        model="gemini-2.5-flash",
        idempotency_key=KEY16,
        input_fingerprint=FINGERPRINT,
        output_spec=spec,
    )
    assert _wait_done(adapter, done.batch_id) == "completed"
    items = list(adapter.iter_results(done.batch_id))
    assert {r.provider_status for r in items} == {"errored"}
    assert all(r.error and r.error["stage"] == "provider" and r.error["message"] for r in items)

    emulator.control.configure(processing_seconds=3600, error_fraction=0.0)
    running = adapter.submit(
        [{"prompt": "c"}],
        model="gemini-2.5-flash",
        idempotency_key=KEY16,
        input_fingerprint=FINGERPRINT,
        output_spec=spec,
    )
    assert adapter.get_batch(running.batch_id).status == "in_progress"
    adapter.cancel_batch(running.batch_id)
    assert adapter.get_batch(running.batch_id).status == "cancelled"
    adapter.close()


def test_a_model_without_batch_support_is_refused_before_the_upload(emulator: EmulatorServer) -> None:
    """cookbook #1077: such a model is refused only at create; the adapter asks the Models API first."""
    from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

    class SmallInline(GeminiBatchAdapter):
        inline_limit_bytes = 10

    adapter = SmallInline(api_key=emulator.api_key, base_url=emulator.base_url)
    with pytest.raises(GeminiInvalidInputError) as info:
        adapter.submit(
            [{"prompt": "q"}],
            model="gemini-2.0-flash-live-001",
            idempotency_key=KEY16,
            input_fingerprint=FINGERPRINT,
            output_spec=build_output_spec(Answer),
        )
    assert "does not support batchGenerateContent" in str(info.value)
    assert not [e for e in emulator.control.journal() if e["path"].startswith("/upload/")]
