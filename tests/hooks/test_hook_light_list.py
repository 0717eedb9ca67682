"""``list_batches(light=True)``: the reattach lookup lists batches with a ``fields`` mask.

A list holding a huge inline batch is as large as that batch's full GET, which the service has
answered 503 (discuss.ai.google.dev thread 113603, emulator mode ``huge_inline_503``);
a service refusing the mask (emulator mode ``refuse_fields``) gets full lists.
"""

from __future__ import annotations

import pytest

from airflow_provider_gemini_batch.emulator import EmulatorServer
from airflow_provider_gemini_batch.exceptions import GeminiServerError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

MODEL = "gemini-2.5-flash"


def _huge_batch(hook: GeminiBatchHook, emulator: EmulatorServer) -> str:
    requests = [
        {"key": f"h{i}", "request": {"contents": [{"parts": [{"text": "a long question " * 20}]}]}}
        for i in range(60)
    ]
    batch = hook.create_batch(MODEL, requests=requests)
    emulator.control.advance_clock(5)
    assert hook.get_batch(batch.name, light=True).state.short == "SUCCEEDED"
    return batch.name


def test_light_list_works_where_the_full_list_gets_503(
    hook: GeminiBatchHook, fast_conn: EmulatorServer
) -> None:
    name = _huge_batch(hook, fast_conn)
    fast_conn.control.configure(modes=["huge_inline_503"], huge_output_bytes=20_000)
    fast_conn.control.clear_journal()

    assert [b.name for b in hook.list_batches(light=True)] == [name]
    (entry,) = fast_conn.control.journal()
    assert "fields=" in entry["query"]
    with pytest.raises(GeminiServerError):
        list(hook.list_batches())


def test_refused_mask_falls_back_to_full_lists_once(
    hook: GeminiBatchHook, fast_conn: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    name = hook.create_batch(
        MODEL, requests=[{"key": "k", "request": {"contents": [{"parts": [{"text": "q"}]}]}}]
    ).name
    fast_conn.control.set_modes("refuse_fields")
    fast_conn.control.clear_journal()

    assert [b.name for b in hook.list_batches(light=True)] == [name]
    assert [b.name for b in hook.list_batches(light=True)] == [name]
    queries = [e["query"] or "" for e in fast_conn.control.journal()]
    assert ["fields=" in q for q in queries] == [True, False, False]
    # The hook logs through structlog to stdout (as task logs are written).
    assert capsys.readouterr().out.count("refused the partial-response mask on the batch list") == 1
