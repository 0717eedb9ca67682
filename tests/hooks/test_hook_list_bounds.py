"""List walks are bounded in pages, not only in items.

Against the hostile stand-in's endless pages (each empty, each naming a new ``nextPageToken``):
before the fix ``list_batches``/``list_files`` asked forever, and with them the create operator's
reattach lookup and the OpenLineage lookup (whose item limit never trips when pages are empty).
Here each endless rule answers at most 300 times (then the stand-in answers 599), so the old code
ends in an error after 300 requests instead of hanging the suite; the fix stops after 20 pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from airflow_provider_gemini_batch._core.identity import TaskIdentity
from airflow_provider_gemini_batch.exceptions import GeminiApiError
from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
from airflow_provider_gemini_batch.operators._idempotency import find_reattachable_batch
from airflow_provider_gemini_batch.operators._lineage import created_by_task
from tests.hostile.server import HostileServer, Rule, endless_pages, repeated_page

#: What the fix allows: ``GeminiBatchHook.max_empty_pages`` pages in a row without an item
#: (a literal, so this module also loads against code without the bound).
EMPTY_PAGES = 20
ENDLESS_CAP = 300


def _endless(hostile_server: Callable[..., HostileServer]) -> HostileServer:
    return hostile_server(
        [
            Rule("GET", r"/v1beta/batches", endless_pages("operations"), times=ENDLESS_CAP),
            Rule("GET", r"/v1beta/files", endless_pages("files"), times=ENDLESS_CAP),
        ]
    )


@pytest.mark.parametrize("listing", ["list_batches", "list_files"])
def test_endless_empty_pages_end_in_an_error(
    listing: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    server = _endless(hostile_server)
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    with pytest.raises(GeminiApiError) as caught:
        list(getattr(hook, listing)())
    assert "the list never ends" in str(caught.value)
    assert len(server.requests) == EMPTY_PAGES


def test_a_repeated_page_token_ends_in_an_error_without_quoting_it(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    server = hostile_server(
        [Rule("GET", r"/v1beta/batches", repeated_page(token="token-with-a-secret"), times=ENDLESS_CAP)]
    )
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    with pytest.raises(GeminiApiError) as caught:
        list(hook.list_batches())
    assert "named a page token it had named before" in str(caught.value)
    assert "token-with-a-secret" not in str(caught.value)
    assert len(server.requests) == 2


def test_reattach_lookup_ends_on_endless_pages(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """The create operator's lookup fails (it must not create a second billable batch after a
    lookup that could not finish) instead of asking for ever."""
    server = _endless(hostile_server)
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    identity = TaskIdentity(dag_id="d", task_id="t", run_id="r", map_index=-1)
    with pytest.raises(GeminiApiError):
        find_reattachable_batch(
            hook, identity, "f" * 16, on_input_change="fail", limit=500, log=logging.getLogger("t")
        )
    assert len(server.requests) == EMPTY_PAGES


@pytest.mark.parametrize("kind", ["files", "batches"])
def test_lineage_lookup_ends_on_endless_pages(
    kind: str, hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    server = _endless(hostile_server)
    operator = SimpleNamespace(gemini_conn_id=hostile_conn(server), reattach_scan_limit=500)
    task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    assert created_by_task(operator, task_instance, kind) is None  # lineage never fails a task
    assert len(server.requests) == EMPTY_PAGES


def test_the_bound_is_the_hooks_setting() -> None:
    assert GeminiBatchHook.max_empty_pages == EMPTY_PAGES


def test_pages_with_items_are_read_to_the_end(
    hostile_server: Callable[..., HostileServer], hostile_conn: Callable[..., str]
) -> None:
    """Empty pages are counted in a row only: a long list with items keeps being read."""
    pages = [
        {"files": [{"name": f"files/f{n}"}] if n % 5 == 0 else [], "nextPageToken": f"t{n}"}
        for n in range(60)
    ]
    pages[-1].pop("nextPageToken")
    answers = iter(pages)
    from tests.hostile.server import reply

    server = hostile_server([Rule("GET", r"/v1beta/files", reply(200, lambda _: next(answers)))])
    hook = GeminiBatchHook(gemini_conn_id=hostile_conn(server))
    assert [f.name for f in hook.list_files()] == [f"files/f{n}" for n in range(0, 60, 5)]
