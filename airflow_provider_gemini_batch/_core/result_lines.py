"""Result lines cut from a byte stream, each at most a bounded size; errors that name a line.

A result file is one JSON object per line. A broken or hostile server can send a line of any
length, or one that never ends; buffering it whole (as the line splitters did) grows the worker
without limit, and a 300 MB line cost 601 MB. Here a line may grow to ``max_line`` bytes and
no further: past that, reading stops with an error naming the line. Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

#: The longest result line landed by default, in bytes (64 MiB). A line is one answer: a text
#: answer is bounded by the model's maximum output tokens (65,536 for the Gemini 2.5 models, REST
#: reference ``GenerationConfig.maxOutputTokens`` / the models page), a few MB of JSON even with
#: every character escaped, and the largest answers are images, about 8 MB of base64 per 2K image
#: (ai.google.dev batch-mode docs, "Image generation"), so 64 MiB holds about eight of them. A line
#: is held whole while it is parsed (its pieces and their join, and for a row that is not a plain
#: success its decoded body and the landed row: up to about four times its size, measured 242 MiB
#: for a 60 MiB line), so the cap also bounds what one line may cost in memory; a result file
#: whose line grows past it (a broken or hostile server, a line that never ends) is refused with
#: the line's number instead of growing the worker without limit.
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024


class LineTooLong(Exception):
    """Raised by :func:`line_regions` when a line outgrows the cap (its caller names the line)."""


def line_too_long(number: int, limit: int) -> GeminiInvalidInputError:
    """The error for result line ``number`` (1-based) longer than ``limit`` bytes."""
    return GeminiInvalidInputError(
        f"Result line {number} is longer than {limit:,} bytes (the limit on one result line); "
        "landing stopped there and nothing was published. A Gemini answer is far smaller (see "
        "docs/results.md, 'Limits'): check that the connection's host is the Gemini API. If the "
        "answers really are that large (many large images per request), raise "
        "max_result_line_bytes (GeminiBatchResultsOperator) or max_line_bytes (the hook's "
        "iter_results)."
    )


def line_regions(blocks: Iterable[bytes], max_line: int) -> Iterator[tuple[bytes, int, int]]:
    """``(buffer, start, end)``: runs of whole lines of the stream, each line ending with ``\\n``.

    A run is a slice of a block (no copy); a line cut by block boundaries comes as a run of its
    own, joined once from its pieces (appending to one bytes object would copy a long line again
    for every block), and so does a last line without ``\\n`` (one is added). Memory: one block
    plus one partial line of at most ``max_line`` bytes.

    :raises LineTooLong: the partial line outgrew ``max_line`` bytes (the caller, which counts
        lines, names it).
    """
    tail: list[bytes] = []
    held = 0
    for block in blocks:
        if not block:
            continue
        start = 0
        if tail:
            newline = block.find(b"\n")
            if newline < 0:
                held += len(block)
                if held > max_line:
                    raise LineTooLong
                tail.append(block)
                continue
            if held + newline > max_line:
                raise LineTooLong
            start = newline + 1
            tail.append(block[:start])
            joined, tail = b"".join(tail), []
            yield joined, 0, len(joined)
        end = block.rfind(b"\n", start) + 1
        if end > start:
            yield block, start, end
        rest = max(start, end)
        if rest < len(block):
            held = len(block) - rest
            if held > max_line:
                raise LineTooLong
            tail.append(block[rest:])
    if tail:
        tail.append(b"\n")
        last = b"".join(tail)
        yield last, 0, len(last)


def split_lines(chunks: Iterable[bytes], max_line: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[bytes]:
    """Re-split a stream of byte chunks into lines (without ``\\n``), skipping blank lines.

    Holds at most one chunk plus one partial line of at most ``max_line`` bytes.

    :raises GeminiInvalidInputError: a line longer than ``max_line`` bytes, named by its 1-based
        number among the non-blank lines.
    """
    number = 0
    try:
        for block, start, end in line_regions(chunks, max_line):
            for line in block[start : end - 1].split(b"\n"):
                if line.strip():
                    number += 1
                    if len(line) > max_line:
                        raise line_too_long(number, max_line)
                    yield line
    except LineTooLong:
        raise line_too_long(number + 1, max_line) from None


# A string (escapes included), or a bracket: what decides how deep a JSON value nests. A string
# followed by ":" is a member's name.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"(\s*:)?|[{}\[\]]')
#: Nesting Python's JSON decoders (msgspec, json) refuse with a RecursionError, about 1,000.
DEPTH_HINT = "nested deeper than about 1,000 levels"


def deep_member(line: bytes | memoryview, depth: int = 900) -> str | None:
    """The name of the top-level member of the JSON object ``line`` whose value nests deeper than
    ``depth`` levels, or None when none does (or the line is not an object).

    For error messages only (after a decoder raised ``RecursionError``): a scan at the speed of
    the regular expression engine, one Python step per string or bracket.
    """
    level = 0
    member: str | None = None
    for match in _TOKENS.finditer(bytes(line)):
        first = match.group()[0]
        if first == 0x22:  # '"'
            if level == 1 and match.group(1) is not None:
                member = match.group()[: match.start(1) - match.start()][1:-1].decode("utf-8", "replace")
        elif first in b"{[":
            level += 1
            if level > depth:
                return member
        else:
            level -= 1
    return None


def too_deep(number: int, line: bytes | memoryview) -> GeminiInvalidInputError:
    """The error for result line ``number`` (1-based) that a decoder found nested too deeply."""
    member = deep_member(line)
    where = f"its field {member!r} is" if member else "a value is"
    return GeminiInvalidInputError(
        f"Result line {number} cannot be read: {where} {DEPTH_HINT} (no Gemini answer is); the "
        "result file is corrupt or not from the Gemini API. Nothing was published: check that the "
        "connection's host is the Gemini API."
    )
