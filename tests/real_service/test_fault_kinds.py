"""A status is not a meaning: each fault kind the real service was seen to answer, read right.

Sources: ``captures_faults`` (python-genai #1218, deprecated-generative-ai-python #692,
deprecated-generative-ai-js #236: the Files API's 403 for a gone file; cookbook #1077: a model
without batch support; python-genai #1613/#1759: batch output files refused by name;
gemini-cli #22486: a quota of zero). The hook talks to a scripted stand-in over a real socket.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_gemini_batch._core import retry as retry_mod
from airflow_provider_gemini_batch._core.model_check import VERDICTS
from airflow_provider_gemini_batch.exceptions import (
    GeminiClientError,
    GeminiInvalidInputError,
    GeminiNotFoundError,
    GeminiRateLimitError,
)
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from tests.real_service import captures_faults as cf
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import CONN_ID

AUTH_HINT = "The request of Airflow connection"
FILE_PATH = rf"/v1beta/files/{cf.FILE_ID}"


def _hook(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer, **extra: object) -> GeminiBatchHook:
    settings = {"api_version": "v1beta", "max_retries": 0, **extra}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "gemini_batch",
                "host": server.base_url,
                "password": "fault-kinds-key",
                "extra": json.dumps(settings),
            }
        ),
    )
    return GeminiBatchHook(gemini_conn_id=CONN_ID)


# -- 1. the Files API's 403 for a gone file ------------------------------------------------------


def test_gone_file_403_is_not_found_with_the_file_hint_not_the_key_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = [
        Reply("GET", FILE_PATH, status=403, body=cf.FILE_GONE_BODY),
        Reply("DELETE", FILE_PATH, status=403, body=cf.FILE_GONE_BODY),
    ]
    with ScriptedServer(script) as server:
        hook = _hook(monkeypatch, server)
        with pytest.raises(GeminiNotFoundError) as got:
            hook.get_file(f"files/{cf.FILE_ID}")
        with pytest.raises(GeminiNotFoundError) as deleted:
            hook.delete_file(f"files/{cf.FILE_ID}")
    for exc in (got.value, deleted.value):
        text = str(exc)
        assert exc.http_status == 403
        assert AUTH_HINT not in text
        assert f"files/{cf.FILE_ID} is gone" in text
        assert "48 hours" in text


def test_create_on_a_gone_input_file_says_upload_again(monkeypatch: pytest.MonkeyPatch) -> None:
    script = [Reply("POST", r"/v1beta/models/gemini-2\.5-flash:batchGenerateContent", 403, cf.FILE_GONE_BODY)]
    with ScriptedServer(script) as server:
        hook = _hook(monkeypatch, server)
        with pytest.raises(GeminiNotFoundError) as info:
            hook.create_batch("gemini-2.5-flash", input_file=f"files/{cf.FILE_ID}")
    assert "Upload the input file again" in str(info.value)
    assert AUTH_HINT not in str(info.value)


def test_a_403_about_credentials_keeps_the_key_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.real_service import captures_auth as ca

    with ScriptedServer([Reply("GET", FILE_PATH, status=403, body=ca.UNREGISTERED_CALLER_BODY)]) as server:
        hook = _hook(monkeypatch, server)
        with pytest.raises(GeminiClientError) as info:
            hook.get_file(f"files/{cf.FILE_ID}")
    assert not isinstance(info.value, GeminiNotFoundError)
    assert AUTH_HINT in str(info.value)


# -- 2. a model without batch support ---------------------------------------------------------------


def test_create_refused_for_the_model_gets_the_model_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    path = rf"/v1beta/models/{cf.NO_BATCH_MODEL}:batchGenerateContent"
    with ScriptedServer([Reply("POST", path, 404, cf.MODEL_CANNOT_BATCH_BODY)]) as server:
        hook = _hook(monkeypatch, server)
        with pytest.raises(GeminiNotFoundError) as info:
            hook.create_batch(cf.NO_BATCH_MODEL, requests=[{"contents": [{"parts": [{"text": "hi"}]}]}])
    text = str(info.value)
    assert "cannot run batches" in text
    assert "expire" not in text


def test_model_check_reads_supported_methods_once_and_lists_capable_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    VERDICTS.clear()
    text_model = {
        "name": "models/gemini-2.5-flash",
        "supportedGenerationMethods": ["generateContent", "countTokens", "batchGenerateContent"],
    }
    live = {"name": f"models/{cf.NO_BATCH_MODEL}", "supportedGenerationMethods": ["bidiGenerateContent"]}
    script = [
        Reply("GET", r"/v1beta/models/gemini-2\.5-flash", body=text_model),
        Reply("GET", rf"/v1beta/models/{cf.NO_BATCH_MODEL}", body=live),
        Reply("GET", r"/v1beta/models", body={"models": [live, text_model], "nextPageToken": "p2"}, times=1),
        Reply("GET", r"/v1beta/models", body={"models": []}, times=1),
    ]
    with ScriptedServer(script) as server:
        hook = _hook(monkeypatch, server)
        hook.check_model_can_batch("gemini-2.5-flash")
        hook.check_model_can_batch("gemini-2.5-flash")  # remembered: no second request
        with pytest.raises(GeminiInvalidInputError) as info:
            hook.check_model_can_batch(cf.NO_BATCH_MODEL)
        sent = [(r.method, r.path) for r in server.requests]
    assert sent.count(("GET", "/v1beta/models/gemini-2.5-flash")) == 1
    assert sent.count(("GET", "/v1beta/models")) == 2  # both pages of the list
    text = str(info.value)
    assert f"models/{cf.NO_BATCH_MODEL} does not support batchGenerateContent" in text
    assert "models/gemini-2.5-flash" in text
    assert "nothing was uploaded" in text


# -- 3. batch output files cannot be addressed by name -----------------------------------------------


def test_batch_output_file_refused_by_name_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    path = r"/v1beta/files/batch-[a-z0-9]+"
    script = [Reply("DELETE", path, 400, cf.file_id_too_long_body("DeleteFileRequest"))]
    with ScriptedServer(script) as server:
        hook = _hook(monkeypatch, server)
        with pytest.raises(GeminiClientError) as info:
            hook.delete_file(cf.BATCH_OUTPUT_FILE)
    assert "Batch output files" in str(info.value)
    assert "cannot be deleted by name" in str(info.value)


# -- 4. a quota of zero ----------------------------------------------------------------------------


def test_quota_of_zero_ends_at_once_without_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(retry_mod, "sleep", slept.append)
    path = r"/v1beta/models/gemini-2\.5-pro:batchGenerateContent"
    with ScriptedServer([Reply("POST", path, 429, cf.QUOTA_ZERO_BODY)]) as server:
        hook = _hook(monkeypatch, server, max_retries=5)
        with pytest.raises(GeminiRateLimitError) as info:
            hook.create_batch("gemini-2.5-pro", requests=[{"contents": [{"parts": [{"text": "hi"}]}]}])
        sent = len(server.requests)
    assert sent == 1
    assert slept == []
    assert "no quota for this model on this project's tier" in str(info.value)
    assert "retried with backoff" not in str(info.value)


def test_a_quota_with_a_value_is_still_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(retry_mod, "sleep", slept.append)
    path = r"/v1beta/models/gemini-2\.5-flash:batchGenerateContent"
    with ScriptedServer([Reply("POST", path, 429, cf.RATE_LIMIT_BODY)]) as server:
        hook = _hook(monkeypatch, server, max_retries=2)
        with pytest.raises(GeminiRateLimitError):
            hook.create_batch("gemini-2.5-flash", requests=[{"contents": [{"parts": [{"text": "hi"}]}]}])
        sent = len(server.requests)
    assert sent == 3
    assert len(slept) == 2


def test_model_check_refuses_a_model_the_models_api_does_not_know(monkeypatch: pytest.MonkeyPatch) -> None:
    VERDICTS.clear()
    unknown = {
        "error": {
            "code": 404,
            "message": "models/gemini-9-nope is not found for API version v1beta.",
            "status": "NOT_FOUND",
        }
    }
    script = [
        Reply("GET", r"/v1beta/models/gemini-9-nope", 404, unknown),
        Reply("GET", r"/v1beta/models", body={"models": []}),
    ]
    with ScriptedServer(script) as server:
        hook = _hook(monkeypatch, server)
        with pytest.raises(GeminiInvalidInputError) as info:
            hook.check_model_can_batch("gemini-9-nope")
    assert "models/gemini-9-nope is not a model of the Models API" in str(info.value)


def test_model_check_without_a_models_route_lets_the_create_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gateway that does not route the Models API answers a bare 404: no verdict, no failure."""
    VERDICTS.clear()
    with ScriptedServer([Reply("GET", r"/v1beta/models/.*", 404, b"Not Found")]) as server:
        hook = _hook(monkeypatch, server)
        hook.check_model_can_batch("gemini-2.5-flash")
        assert [r.path for r in server.requests] == ["/v1beta/models/gemini-2.5-flash"]
