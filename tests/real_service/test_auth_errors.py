"""A refused key or caller is reported at once, as such, naming the Airflow connection.

Sources: ``captures_auth`` (continuedev/continue issues #8516 and #11336: HTTP 400
INVALID_ARGUMENT with ``ErrorInfo.reason`` API_KEY_INVALID for an invalid and an expired key;
PublicAffairs/openai-gemini issue #92: 403 PERMISSION_DENIED for an unregistered caller).

A bad key answers 400 INVALID_ARGUMENT like a refused ``fields`` mask would, so a light read
(with the mask) must not take it for one: no "refused the partial-response mask" warning, no
second request without the mask. The message names the connection id, never the key.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_gemini_batch.exceptions import GeminiClientError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.real_service import captures_auth as ca
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import CONN_ID, connect

KEY = "real-shapes-key"  # the password connect() sets
MASK_WARNING = "refused the partial-response mask"

REFUSALS = [
    pytest.param(400, ca.API_KEY_INVALID_BODY, "The API key of Airflow connection", id="invalid-key"),
    pytest.param(400, ca.API_KEY_EXPIRED_BODY, "The API key of Airflow connection", id="expired-key"),
    pytest.param(403, ca.UNREGISTERED_CALLER_BODY, "The request of Airflow connection", id="no-caller"),
]


def _assert_reported(exc: GeminiClientError, status: int, phrase: str) -> None:
    text = str(exc)
    assert exc.http_status == status
    assert f"{phrase} {CONN_ID!r}" in text
    assert "fix the connection's password" in text or "connection's password holds an API key" in text
    assert KEY not in text


@pytest.mark.parametrize(("status", "body", "phrase"), REFUSALS)
def test_sync_light_list_raises_a_refused_key_at_once(
    status: int, body: Any, phrase: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ScriptedServer([Reply("GET", r"/v1beta/batches(/abc)?", status=status, body=body)]) as server:
        hook = connect(monkeypatch, server)
        with pytest.raises(GeminiClientError) as info:
            list(hook.list_batches(light=True))
        with pytest.raises(GeminiClientError):
            hook.get_batch("batches/abc", light=True)
        sent = server.requests
    _assert_reported(info.value, status, phrase)
    assert ["fields" in r.query for r in sent] == [True, True]  # no unmasked second read
    assert MASK_WARNING not in capsys.readouterr().out
    assert not hook._fields_refused


@pytest.mark.parametrize(("status", "body", "phrase"), REFUSALS)
async def test_async_light_reads_raise_a_refused_key_at_once(
    status: int, body: Any, phrase: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The triggerer's path: light GET and light list pages of the async hook."""
    script = [
        Reply("GET", r"/v1beta/batches", status=status, body=body),
        Reply("GET", r"/v1beta/batches/abc", status=status, body=body),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        hook = GeminiBatchAsyncHook(gemini_conn_id=CONN_ID, retry=False)
        try:
            with pytest.raises(GeminiClientError) as info:
                await hook.get_batch("batches/abc", light=True)
            with pytest.raises(GeminiClientError):
                await hook.list_operations_page(None)
            with pytest.raises(GeminiClientError):
                await hook.list_batches_page(None)
        finally:
            await hook.aclose()
        sent = server.requests
    _assert_reported(info.value, status, phrase)
    assert ["fields" in r.query for r in sent] == [True, True, True]
    assert MASK_WARNING not in capsys.readouterr().out


def test_a_plain_invalid_argument_on_the_mask_still_falls_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other side: a 400 INVALID_ARGUMENT without an auth reason may be the mask refused."""
    from tests.real_service import captures_batches as cb

    script = [
        Reply(
            "GET",
            r"/v1beta/batches",
            status=400,
            body=cb.INVALID_ARGUMENT_BODY,
            when=lambda r: "fields" in r.query,
        ),
        Reply("GET", r"/v1beta/batches", body={"operations": []}),
    ]
    with ScriptedServer(script) as server:
        hook: GeminiBatchHook = connect(monkeypatch, server)
        assert list(hook.list_batches(light=True)) == []
        sent = server.requests
    assert ["fields" in r.query for r in sent] == [True, False]
    assert capsys.readouterr().out.count(MASK_WARNING) == 1
