"""The light ``batches.list`` scan (``_core/list_page.py``) against real Operation captures.

Sources: see ``captures_list`` (the REST list envelope around LIVE_CAPTURE, cookbook cell 44,
SDK_EMBED, BARE_LIST and USER_REPORT_BARE operations). The scan must find the same names, and give
the same batches, as the full parse (``Batch.from_operation`` of ``json.loads``) it replaces.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_gemini_batch._core.list_page import (
    ListPageError,
    decode_operation,
    scan_list_page,
)
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.gemini_batch_async import GeminiBatchAsyncHook
from tests.real_service import captures_batches as cb
from tests.real_service.captures_list import PAGE_OPERATIONS, list_page, page_bytes
from tests.real_service.standin import Reply, ScriptedServer
from tests.real_service.test_upload_hash import CONN_ID, connect

LIST = r"/v1beta/batches"
COOKBOOK_EMBEDDINGS = "batches/2icf9ky95pieco1jwucta7drijo5k8hjllzj"  # cookbook cell 44 output


@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "indented"])
def test_scan_finds_every_name_and_the_same_batches_as_the_full_parse(indent: int | None) -> None:
    body = page_bytes(list_page(PAGE_OPERATIONS), indent=indent)
    full = [Batch.from_operation(op) for op in json.loads(body)["operations"]]

    page = scan_list_page(body)

    assert page.next_page_token == "T2"
    assert [name for name, _ in page.items] == [b.name for b in full]
    assert page.items[0][0] == cb.BATCH_NAME
    assert page.items[1][0] == COOKBOOK_EMBEDDINGS
    assert page.items[-1][0] == ""  # USER_REPORT_BARE names nothing; the full parse says "" too
    light = [Batch.from_operation(decode_operation(raw)) for _, raw in page.items]
    assert light == full  # dataclass equality: every parsed field (raw is excluded)
    assert [b.raw for b in light] == [b.raw for b in full]


def test_name_only_in_metadata_is_found() -> None:
    """``Batch.from_operation`` falls back to ``metadata.name`` (LIVE_CAPTURE carries both)."""
    op: dict[str, Any] = json.loads(json.dumps(cb.LIVE_FILE_BATCH_SUCCEEDED))
    del op["name"]
    page = scan_list_page(page_bytes(list_page([op])))
    assert [name for name, _ in page.items] == [cb.BATCH_NAME]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"nextPageToken": ""}, None),  # empty on the last page (python-genai pagers.py)
        ({}, None),  # absent on the last page
        ({"next_page_token": "T3"}, "T3"),  # snake_case spelling (proto-JSON)
    ],
)
def test_last_page_and_token_spellings(extra: dict[str, Any], expected: str | None) -> None:
    page = scan_list_page(page_bytes(list_page(PAGE_OPERATIONS[:1], token=None, **extra)))
    assert page.next_page_token == expected
    assert len(page.items) == 1


def test_odd_items_are_read_as_leniently_as_the_full_parse() -> None:
    """A non-object item is skipped and a non-string name is read as ``str()``, as the full parse did."""
    odd: dict[str, Any] = {"name": 12345, "metadata": {"state": "BATCH_STATE_RUNNING"}}
    body = json.dumps({"operations": [odd, "not an operation", None, cb.BARE_SUCCEEDED]}).encode()
    page = scan_list_page(body)
    assert [name for name, _ in page.items] == ["12345", ""]
    assert Batch.from_operation(decode_operation(page.items[0][1])).name == "12345"


def test_empty_body_is_an_empty_last_page() -> None:
    page = scan_list_page(b"  ")
    assert page.items == []
    assert page.next_page_token is None


@pytest.mark.parametrize(
    "body",
    [b"<html>502</html>", b"[]", b'{"operations": {"a": 1}}', b'{"nextPageToken": 7}'],
    ids=["not-json", "array", "operations-not-a-list", "token-not-a-string"],
)
def test_a_body_that_is_not_a_list_page_is_refused(body: bytes) -> None:
    with pytest.raises(ListPageError, match="not a JSON object with an operations list"):
        scan_list_page(body)


async def test_hook_reads_a_list_page_lightly_over_a_real_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """The async hook asks with the poll's ``fields`` mask and returns the scanned page; a body
    that is not a page is a :class:`GeminiApiError` naming the call."""
    script = [
        Reply("GET", LIST, body=list_page(PAGE_OPERATIONS, token="next-1"), times=1),
        Reply("GET", LIST, body=b"<html>502 Bad Gateway</html>", times=1),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        hook = GeminiBatchAsyncHook(gemini_conn_id=CONN_ID, retry=False)
        try:
            page = await hook.list_operations_page(None, page_size=6)
            with pytest.raises(GeminiApiError, match="Listing batches"):
                await hook.list_operations_page("next-1", page_size=6)
        finally:
            await hook.aclose()
        sent = server.requests
    assert page.next_page_token == "next-1"
    assert [name for name, _ in page.items][:2] == [cb.BATCH_NAME, COOKBOOK_EMBEDDINGS]
    assert sent[0].query["pageSize"] == ["6"]
    assert "fields" in sent[0].query
    assert sent[1].query["pageToken"] == ["next-1"]


async def test_hook_reads_full_pages_once_the_mask_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 400 on the masked list (``INVALID_ARGUMENT_BODY``, the google.rpc.Status envelope) switches to full
    pages, once, as the light GET does."""
    script = [
        Reply("GET", LIST, status=400, body=cb.INVALID_ARGUMENT_BODY, when=lambda r: "fields" in r.query),
        Reply("GET", LIST, body=list_page(PAGE_OPERATIONS, token=None)),
    ]
    with ScriptedServer(script) as server:
        connect(monkeypatch, server)
        hook = GeminiBatchAsyncHook(gemini_conn_id=CONN_ID, retry=False)
        try:
            first = await hook.list_operations_page(None)
            second = await hook.list_operations_page(None)
        finally:
            await hook.aclose()
        sent = server.requests
    assert len(first.items) == len(second.items) == len(PAGE_OPERATIONS)
    assert first.next_page_token is None
    assert ["fields" in r.query for r in sent] == [True, False, False]
