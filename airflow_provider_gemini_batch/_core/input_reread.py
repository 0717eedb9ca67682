"""Reading an input's keys again, to name a key repeated beyond the window of recent keys.

:class:`~._core.input_check.InputValidator` remembers old keys only as digests; when one repeats,
it reads the input again through these to find the key itself and both of its lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from airflow_provider_gemini_batch._core.input_rules import BOM


class _KeyOnly(msgspec.Struct, gc=False):
    key: Any = None


_decode_key = msgspec.json.Decoder(_KeyOnly).decode


def numbered_keys(lines: Iterable[bytes | str]) -> Iterator[tuple[int, str]]:
    """``(line number, key)`` of every keyed line of an input that passed every other check.

    Line numbers count every line, blank ones too, as :class:`InputValidator` does.
    """
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            # A byte order mark before the first line is accepted (see InputValidator.feed_line).
            raw = raw.removeprefix(BOM) if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
        if not raw.strip():
            continue
        key = _decode_key(raw).key
        if isinstance(key, str):
            yield number, key


def file_lines(opener: Any) -> Callable[[], Iterator[bytes]]:
    """A ``reread`` for :class:`InputValidator`: the lines of ``opener.open("rb")`` (a ``Path``,
    an ``ObjectStoragePath``), the file opened anew at each call and closed when read."""

    def lines() -> Iterator[bytes]:
        with opener.open("rb") as handle:
            yield from handle

    return lines
