"""``batches.list`` pages built from real Operation captures, for the light page scan.

No capture of a whole list page is public; the envelope is the REST reference's (``ListOperationsResponse``:
``{"operations": [...], "nextPageToken": "T2", "unreachable": []}``, key ``operations``, token
empty or absent on the last page) and each operation in it is a capture named in
``captures_batches`` / ``captures``:

* LIVE_CAPTURE ``LIVE_FILE_BATCH_SUCCEEDED`` (live service, IF-Solucoes/lupa) and the same batch RUNNING;
* cookbook ``Batch_mode.ipynb`` cell 44 output ``COOKBOOK_EMBEDDINGS_BATCH_CREATED`` (PENDING);
* SDK_EMBED ``EMBED_INLINE`` and BARE_LIST ``BARE_LIST_INLINE`` (inline results);
* USER_REPORT_BARE ``BARE_SUCCEEDED``: an operation without any name.

The order is newest first as the cookbook's cell 34 ``batches.list(page_size=10)`` printed it
(``captures_emulator.COOKBOOK_LIST_CREATE_TIMES``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.real_service import captures
from tests.real_service import captures_batches as cb

#: The operations of one page, newest first.
PAGE_OPERATIONS: list[dict[str, Any]] = [
    cb.live_in_state("BATCH_STATE_RUNNING"),
    captures.COOKBOOK_EMBEDDINGS_BATCH_CREATED,
    cb.LIVE_FILE_BATCH_SUCCEEDED,
    cb.EMBED_INLINE,
    cb.BARE_LIST_INLINE,
    cb.BARE_SUCCEEDED,
]


def list_page(operations: list[dict[str, Any]], token: str | None = "T2", **extra: Any) -> dict[str, Any]:
    """A page in the REST list envelope (``nextPageToken`` left out when ``token`` is None)."""
    page: dict[str, Any] = {"operations": operations, "unreachable": []}
    if token is not None:
        page["nextPageToken"] = token
    page.update(extra)
    return page


def page_bytes(page: dict[str, Any], *, indent: int | None = None) -> bytes:
    return json.dumps(page, indent=indent).encode()
