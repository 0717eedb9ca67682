"""A ``batches.list`` page read lightly: one scan finds each operation's name, the rest waits.

Why: a triggerer with 10,000 waits on one connection reads ~100 list pages of 100 operations per
walk (``triggers/_poller.py``). Building a full :class:`~._core.models.Batch` for every operation
of every page was the largest own-time item on the shared loop (``bench_trigger --profile``), yet
most operations on a page are batches no trigger is waiting for at that moment. :func:`scan_list_page`
decodes the page once with a typed ``msgspec`` decoder that keeps each operation as its raw JSON
text (:class:`msgspec.Raw`, a slice of the page) and reads only its name; the caller decodes the
operations it needs (:func:`decode_operation`) and builds models only for those.

Wire facts (each with its source):

* the page is ``{"operations": [Operation, ...], "nextPageToken": "T2", "unreachable": []}``:
  the key is ``operations``, not ``batches``, and the token is empty or absent on the last page
  (REST reference ``ListOperationsResponse``; the pager of python-genai, ``pagers.py``, stops on an
  empty or absent ``nextPageToken``);
* an operation names its batch in top-level ``name`` and again in ``metadata.name`` ([LIVE]
  IF-Solucoes/lupa ``tests/test_gemini.py``, ``tests/real_service/captures_batches.py`` LIVE_CAPTURE; cookbook
  ``Batch_mode.ipynb`` cell 44 output); :meth:`Batch.from_operation` reads ``name`` first, then
  ``metadata.name``, and so does this scan;
* proto-JSON accepts field names in lowerCamelCase or snake_case (docs/real-service/wire-format.md,
  Conventions; ``_core/models.py`` reads both spellings), so ``next_page_token`` is read too;
* a field of an unexpected JSON type (an operation that is not an object, a non-string name) is
  tolerated as :meth:`Batch.from_operation` tolerates it: the operation is kept with its name
  read leniently, or skipped when it is not an object (the hook skipped those before).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


class _Page(msgspec.Struct):
    operations: list[msgspec.Raw] | None = None
    nextPageToken: str | None = None  # the wire's spelling
    next_page_token: str | None = None


class _MetaName(msgspec.Struct):
    name: str | None = None


class _Named(msgspec.Struct):
    name: str | None = None
    metadata: _MetaName | None = None


_scan_page = msgspec.json.Decoder(_Page).decode
_scan_name = msgspec.json.Decoder(_Named).decode
_decode_any = msgspec.json.Decoder().decode


class ListPageError(ValueError):
    """The page is not a JSON object with an ``operations`` list (the hook reports it as a bad answer)."""


@dataclass(frozen=True)
class ListPage:
    """One scanned page.

    ``items`` is ``[(batch name, raw operation JSON), ...]`` in the order listed (newest first);
    ``next_page_token`` is None on the last page.
    """

    items: list[tuple[str, msgspec.Raw]]
    next_page_token: str | None


def _lenient_name(raw: msgspec.Raw) -> str | None:
    """The name as :meth:`Batch.from_operation` reads it, for an operation the typed scan refused."""
    op = _decode_any(raw)
    if not isinstance(op, dict):
        return None
    meta = op.get("metadata")
    meta_name = meta.get("name") if isinstance(meta, dict) else None
    return str(op.get("name") or meta_name or "")


def scan_list_page(content: bytes) -> ListPage:
    """Scan a ``batches.list`` answer body (see the module docstring for the wire facts).

    An empty body is an empty last page (the API's Empty, as :func:`~._core.errors.json_object_body`
    reads it).

    :raises ListPageError: the body is not JSON, not an object, or ``operations`` is not a list.
    """
    if not content.strip():
        return ListPage([], None)
    try:
        page = _scan_page(content)
    except msgspec.DecodeError as exc:
        raise ListPageError(f"the list page is not a JSON object with an operations list: {exc}") from None
    items: list[tuple[str, msgspec.Raw]] = []
    for raw in page.operations or ():
        try:
            named = _scan_name(raw)
            name = named.name or (named.metadata.name if named.metadata is not None else None) or ""
        except msgspec.ValidationError:
            lenient = _lenient_name(raw)
            if lenient is None:
                continue  # not an object: nothing to read (the full parse skipped these too)
            name = lenient
        items.append((name, raw))
    return ListPage(items, page.nextPageToken or page.next_page_token or None)


def decode_operation(raw: msgspec.Raw) -> dict[str, Any]:
    """The operation's JSON object (as ``json.loads`` would give it) for :meth:`Batch.from_operation`."""
    op = _decode_any(raw)
    if not isinstance(op, dict):  # scan_list_page keeps objects only
        raise ListPageError("a listed operation is not a JSON object")
    return op
