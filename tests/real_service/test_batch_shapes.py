"""Real batch Operation shapes replayed through the scripted stand-in, against the real wait code.

Each test names its source (see ``captures_batches``). The trigger is driven with
``await anext(trigger.run())``; the sync wait with ``poll_until_done``; both over a real socket.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiInvalidInputError,
    GeminiNotFoundError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.operators._wait import poll_until_done
from airflow_provider_gemini_batch.triggers.gemini_batch import GeminiBatchTrigger
from tests.real_service import captures
from tests.real_service import captures_batches as cb
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import CONN_ID, connect

GET_BATCH = r"/v1beta/batches/[^/:]+"
CANCEL = r"/v1beta/batches/[^/:]+:cancel"


def _light(r: Any) -> bool:
    return "fields" in r.query


def _full(r: Any) -> bool:
    return "fields" not in r.query


def _trigger(**kwargs: Any) -> GeminiBatchTrigger:
    params: dict[str, Any] = {
        "batch_name": cb.BATCH_NAME,
        "gemini_conn_id": CONN_ID,
        "poll_interval": 0.05,
        "end_time": time.time() + 20,
        "max_consecutive_errors": 1,
    }
    params.update(kwargs)
    return GeminiBatchTrigger(**params)


async def _event(trigger: GeminiBatchTrigger) -> dict[str, Any]:
    try:
        return (await anext(trigger.run())).payload
    finally:
        await trigger.cleanup()


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def _add(self, msg: str, *args: Any) -> None:
        self.lines.append(msg % args if args else msg)

    info = warning = _add


# -- success needs an output reference; output read from response, then metadata.output -----------


async def test_bare_succeeded_is_reread_until_the_output_appears(monkeypatch: pytest.MonkeyPatch) -> None:
    """USER_REPORT_BARE then LIVE_CAPTURE: the bare answer must not end the wait with 0 results."""
    script = [
        Reply("GET", GET_BATCH, body=cb.BARE_SUCCEEDED, times=1),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "success"
    assert event["summary"]["responses_file"] == cb.RESULT_FILE
    # The re-read after the bare answer is a full read (no fields mask).
    gets = server.calls("GET", GET_BATCH)
    assert len(gets) == 2
    assert _full(gets[1])


async def test_bare_succeeded_fails_clearly_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """USER_REPORT_BARE forever: an error event naming the missing output, never a 0-result success."""
    with ScriptedServer([Reply("GET", GET_BATCH, body=cb.BARE_SUCCEEDED)]) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger(output_grace_period=0.2))
    assert event["status"] == "no_output"
    assert event["batch_name"] == cb.BATCH_NAME
    assert "names no output" in event["message"]


def test_sync_wait_rereads_a_bare_success(monkeypatch: pytest.MonkeyPatch) -> None:
    """USER_REPORT_BARE then LIVE_CAPTURE through the operators' synchronous wait."""
    script = [
        Reply("GET", GET_BATCH, body=cb.BARE_SUCCEEDED, times=1),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED),
    ]
    with ScriptedServer(script) as server:
        hook = connect(monkeypatch, server)
        batch = poll_until_done(hook, cb.BATCH_NAME, 0.01, time.time() + 10, _Log())
    assert batch.responses_file == cb.RESULT_FILE


@pytest.mark.parametrize(
    ("capture", "count"),
    [(cb.BARE_LIST_INLINE, 1), (cb.EMBED_INLINE, 1), (cb.LIVE_FILE_BATCH_SUCCEEDED, 0)],
    ids=["bare-list", "embed-container", "live-file"],
)
def test_output_is_found_in_every_nesting(capture: dict[str, Any], count: int) -> None:
    """BARE_LIST, SDK_EMBED and LIVE_CAPTURE: each names its output (file or inline items)."""
    batch = Batch.from_operation(capture)
    assert batch.has_results
    assert batch.inlined_response_count == count
    assert len(batch.inline_items) == count


def test_response_is_read_before_metadata_output() -> None:
    """LIVE_CAPTURE with the mirror disagreeing: the top-level ``response`` is read first."""
    op = cb.live_in_state("BATCH_STATE_SUCCEEDED", done=True, output=True)
    op["metadata"]["output"] = {"responsesFile": "files/batch-stale"}
    assert Batch.from_operation(op).responses_file == cb.RESULT_FILE


def test_bare_list_inline_results_are_landable(monkeypatch: pytest.MonkeyPatch) -> None:
    """BARE_LIST: ``iter_results`` yields the inline item instead of nothing."""
    with ScriptedServer([Reply("GET", r"/v1beta/batches/job-1", body=cb.BARE_LIST_INLINE)]) as server:
        hook = connect(monkeypatch, server)
        results = list(hook.iter_results("batches/job-1"))
    assert [r.key for r in results] == ["k1"]


# -- states evolve --------------------------------------------------------------------------------


async def test_sdk_spellings_queued_cancelling_are_waited_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """SDK_JOBSTATE: QUEUED and CANCELLING are in flight; the wait ends on the real end state."""
    script = [
        Reply("GET", GET_BATCH, body=cb.live_in_state("JOB_STATE_QUEUED"), times=1),
        Reply("GET", GET_BATCH, body=cb.live_in_state("JOB_STATE_CANCELLING"), times=1),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "success", event["message"]


async def test_partially_succeeded_succeeds_with_a_warning_and_keeps_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SDK_JOBSTATE: PARTIALLY_SUCCEEDED has results; success that says so, never silently."""
    op = cb.live_in_state("JOB_STATE_PARTIALLY_SUCCEEDED", done=True, output=True)
    with ScriptedServer([Reply("GET", GET_BATCH, body=op)]) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "success"
    assert event["summary"]["state"] == "PARTIALLY_SUCCEEDED"
    assert event["summary"]["responses_file"] == cb.RESULT_FILE
    assert "some results may be missing" in event["message"]


async def test_unknown_state_waits_then_fails_clearly_once_done(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown spelling: keep waiting while not done; done → failure, never success."""
    script = [
        Reply("GET", GET_BATCH, body=cb.live_in_state("BATCH_STATE_HIBERNATING"), times=2),
        Reply("GET", GET_BATCH, body=cb.live_in_state("BATCH_STATE_HIBERNATING", done=True, output=True)),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "failure"
    assert "BATCH_STATE_HIBERNATING" in event["message"]
    assert len(server.calls("GET", GET_BATCH)) == 3


# -- a cancel is a request, not an outcome --------------------------------------------------------


async def test_cancel_on_timeout_reports_the_success_the_batch_really_ended_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SDK_JOBSTATE (CANCELLING may end SUCCEEDED): after the timeout's cancel the batch is
    re-read and its real end state, with its output reference, is reported."""
    script = [
        Reply("GET", GET_BATCH, body=cb.live_in_state("BATCH_STATE_RUNNING"), times=1),
        Reply("POST", CANCEL, body={}),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger(end_time=time.time() - 1, cancel_on_timeout=True))
    assert len(server.calls("POST", CANCEL)) == 1
    assert event["status"] == "success"
    assert event["summary"]["responses_file"] == cb.RESULT_FILE
    assert "ended SUCCEEDED" in event["message"]


def test_cancel_then_settle_keeps_the_output_of_a_cancelled_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel answered ``{}`` (REST reference ``batches.cancel``), then CANCELLING, then CANCELLED with its
    output."""
    from airflow_provider_gemini_batch.operators._wait import cancel_and_settle

    cancelled = cb.live_in_state("BATCH_STATE_CANCELLED", done=True, output=True)
    script = [
        Reply("POST", CANCEL, body={}),
        Reply("GET", GET_BATCH, body=cb.live_in_state("JOB_STATE_CANCELLING"), times=1),
        Reply("GET", GET_BATCH, body=cancelled),
    ]
    log = _Log()
    with ScriptedServer(script) as server:
        hook = connect(monkeypatch, server)
        monkeypatch.setattr("airflow_provider_gemini_batch.operators._wait.CANCEL_SETTLE_INTERVAL", 0.01)
        settled = cancel_and_settle(hook, cb.BATCH_NAME, log, settle_timeout=5)
    assert settled is not None
    assert settled.state.short == "CANCELLED"
    assert settled.responses_file == cb.RESULT_FILE
    assert any("ended CANCELLED" in line and cb.RESULT_FILE in line for line in log.lines)


# -- files may be PROCESSING after upload ---------------------------------------------------------


def test_processing_file_is_waited_for_until_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """FILES_PROCESSING with the cookbook's file resource: PROCESSING, then ACTIVE."""
    processing = cb.file_in_state(captures.COOKBOOK_EMBEDDINGS_FILE, "PROCESSING")
    script = [
        Reply("GET", r"/v1beta/files/[a-z0-9]+", body=processing, times=1),
        Reply("GET", r"/v1beta/files/[a-z0-9]+", body=captures.COOKBOOK_EMBEDDINGS_FILE),
    ]
    with ScriptedServer(script) as server:
        hook = connect(monkeypatch, server)
        info = hook.wait_for_file_active("files/t5snrshrqff1", interval=0.01)
    assert info.state == "ACTIVE"
    assert len(server.calls("GET", r"/v1beta/files/[a-z0-9]+")) == 2


def test_failed_file_fails_clearly_with_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """FILES_PROCESSING: a FAILED file stops the create, naming the file and its error."""
    failed = cb.file_in_state(
        captures.COOKBOOK_EMBEDDINGS_FILE, "FAILED", {"code": 3, "message": "Unsupported file."}
    )
    with ScriptedServer([Reply("GET", r"/v1beta/files/[a-z0-9]+", body=failed)]) as server:
        hook = connect(monkeypatch, server)
        with pytest.raises(GeminiInvalidInputError) as info:
            hook.wait_for_file_active("files/t5snrshrqff1", interval=0.01)
    assert "files/t5snrshrqff1" in str(info.value)
    assert "Unsupported file." in str(info.value)


# -- 404 has more than one cause ------------------------------------------------------------------


def test_batch_404_says_batches_are_visible_only_to_their_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """REST_404 on a batch: the message names the key/project cause and the XCom key."""
    with ScriptedServer([Reply("GET", GET_BATCH, status=404, body=cb.NOT_FOUND_BODY)]) as server:
        hook = connect(monkeypatch, server)
        with pytest.raises(GeminiNotFoundError) as info:
            hook.get_batch(cb.BATCH_NAME)
    text = str(info.value)
    assert "Requested entity was not found." in text
    assert "visible only to the API key" in text
    assert "gemini_conn_id" in text


async def test_trigger_404_names_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """REST_404 while waiting: the error event names the connection the batch was read with."""
    with ScriptedServer([Reply("GET", GET_BATCH, status=404, body=cb.NOT_FOUND_BODY)]) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "error"
    assert repr(CONN_ID) in event["message"]
    assert "visible only to the API key" in event["message"]


# -- polls should be light ------------------------------------------------------------------------


async def test_trigger_polls_with_a_fields_mask_without_inline_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """discuss.ai.google.dev thread 113603 (full GETs answered 503): polls ask only for what the
    wait needs."""
    script = [
        Reply("GET", GET_BATCH, body=cb.live_in_state("BATCH_STATE_RUNNING"), times=1, when=_light),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED, when=_light),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "success"
    fields = server.calls("GET", GET_BATCH)[0].query["fields"][0]
    assert "metadata(" in fields
    assert "responsesFile" in fields
    assert "inlinedResponses/inlinedResponses/metadata" in fields  # keys only, never the bodies
    assert not server.unmatched


async def test_refused_mask_falls_back_once_to_full_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service refusing ``fields`` (400 INVALID_ARGUMENT): one fallback, then full reads only."""
    script = [
        Reply("GET", GET_BATCH, status=400, body=cb.INVALID_ARGUMENT_BODY, when=_light),
        Reply("GET", GET_BATCH, body=cb.live_in_state("BATCH_STATE_RUNNING"), times=1, when=_full),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED, when=_full),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        event = await _event(_trigger())
    assert event["status"] == "success"
    gets = server.calls("GET", GET_BATCH)
    assert [_light(r) for r in gets] == [True, False, False]


def test_sync_hook_falls_back_once_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same refusal through the sync hook (sensor poke, operators' wait)."""
    script = [
        Reply("GET", GET_BATCH, status=400, body=cb.INVALID_ARGUMENT_BODY, when=_light),
        Reply("GET", GET_BATCH, body=cb.LIVE_FILE_BATCH_SUCCEEDED, when=_full),
    ]
    with ScriptedServer(script) as server:
        hook: GeminiBatchHook = connect(monkeypatch, server)
        first = hook.get_batch(cb.BATCH_NAME, light=True)
        second = hook.get_batch(cb.BATCH_NAME, light=True)
    assert first.responses_file == second.responses_file == cb.RESULT_FILE
    assert [_light(r) for r in server.calls("GET", GET_BATCH)] == [True, False, False]


def test_errors_never_include_a_bare_success_as_success() -> None:
    """USER_REPORT_BARE read once by the pure decision with no grace left: never a plain success."""
    from airflow_provider_gemini_batch._core.waiting import WaitTracker, raise_for_step

    bare = Batch.from_operation(cb.BARE_SUCCEEDED)
    step = WaitTracker("batches/x", output_grace=0.0).observe(bare, 0.0)
    with pytest.raises(GeminiBatchError):
        raise_for_step(step, bare)
