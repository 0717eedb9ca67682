"""Opaque page tokens and paging by creation sequence (the Developer API's ``files`` and ``batches`` lists).

A record's sequence number is its creation order; a token holds the last sequence served, so a
page is a binary search, not a sort and a filter per page (with 10,000 batches the sort made each
100-item page cost ~90 ms of emulator CPU, so a walk of every page cost the emulator 9 s and
dominated a 10,000-trigger benchmark).
"""

from __future__ import annotations

import base64
import bisect
from typing import Any

from airflow_provider_gemini_batch.emulator.wire import ApiError


def encode_token(seq: int, direction: str = "after") -> str:
    """Opaque page token for "items after (or before) sequence number ``seq``"."""
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode("ascii").rstrip("=")


def decode_token(token: str, direction: str = "after") -> int:
    """Inverse of :func:`encode_token`; raises 400 INVALID_ARGUMENT for a token we did not issue."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        prefix, _, number = raw.partition(":")
        if prefix != direction:
            raise ValueError(raw)
        return int(number)
    except ValueError:
        raise ApiError(400, "Invalid page token.") from None


def page_sorted(
    keys: list[int], items: list[Any], page_size: int, token: str | None, newest_first: bool
) -> tuple[list[Any], str | None]:
    """One page of ``items`` (ascending sequence order, ``keys`` their sequence numbers) after
    ``token``, oldest first or ``newest_first``, and the next page's token (None on the last).

    :raises ApiError: 400 for a token this emulator did not issue (or issued for the other order).
    """
    direction = "before" if newest_first else "after"
    if newest_first:
        end = bisect.bisect_left(keys, decode_token(token, direction)) if token else len(keys)
        start = max(0, end - page_size)
        page = items[start:end][::-1]
        more = start > 0
        last = start
    else:
        start = bisect.bisect_right(keys, decode_token(token, direction)) if token else 0
        page = items[start : start + page_size]
        more = start + page_size < len(keys)
        last = start + len(page) - 1
    return page, (encode_token(keys[last], direction) if more and page else None)
