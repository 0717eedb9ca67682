"""Which requests have no result row: their keys, read from the input file the batch was made from.

The results operator counts missing rows from ``batchStats`` (``ResultsTally.account_for``); naming
them needs the input's keys. Given the input JSONL, its lines are read one at a time and each key
is looked up among the keys landed (the tally's bounded key memory): no key list is built, only
the first few missing keys are kept for the manifest. Pure: the caller opens the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

#: Missing keys named in the manifest at most (the count covers all of them).
NAMED_AT_MOST = 20


class _KeyOnly(msgspec.Struct):
    key: Any = None


_decode_key = msgspec.json.Decoder(_KeyOnly).decode


def missing_keys(
    lines: Iterable[bytes], landed: Callable[[str], bool], *, at_most: int = NAMED_AT_MOST
) -> tuple[list[str], int]:
    """The first ``at_most`` keys of the input ``lines`` that ``landed`` says have no row, in input
    order, and how many such keys there are in all.

    :param lines: the input JSONL's lines (as the create operator sent them: every line keyed).
    :param landed: True when a row with that key was landed.
    :returns: ``(first missing keys, number of missing keys)``; lines without a string key (an
        input without keys, blank lines) are skipped.
    """
    named: list[str] = []
    count = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            key = _decode_key(line).key
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            continue  # the create operator refused such a file; nothing to name from it
        if type(key) is not str or landed(key):
            continue
        count += 1
        if len(named) < at_most:
            named.append(key)
    return named, count
