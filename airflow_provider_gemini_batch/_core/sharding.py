"""Plan the split of one large JSONL input into shards, one line at a time (pure, no I/O).

A shard closes before the line that would take it over any limit the user sets: a request count,
a size in bytes (at most the Files API's 2 GB per input file, ``routes.MAX_UPLOAD_BYTES``) or an
estimate of enqueued tokens. The enqueued-token quota is per model and tier across all active
batches (ai.google.dev/gemini-api/docs/rate-limits: e.g. Tier 1 Gemini 2.5 Flash 3,000,000), so a shard that
alone exceeds it is refused (expected ``429 RESOURCE_EXHAUSTED``, [UNVERIFIED]).

The estimate is rough on purpose: the characters of every ``text`` part of the request divided by
``chars_per_token`` (default 4, the docs' rule of thumb "a token is about 4 characters" on
ai.google.dev/gemini-api/docs/tokens), at least 1 per request. Images, files and the output are
not counted; set a margin in the limit.

Keys stay unique across shards: every line is written with a key (``{"key", "request"}``); a
bare request line or a wrapped line without a key gets ``request-<0-based line position in the
whole input>``, the identity the results operator gives key-less rows (``rows.position_key``),
so a shard's results join back to the original input. A key seen twice is refused (the error names
both lines). Keys are remembered in bounded memory (``_core/keyset.py``): a repeat among the most
recent quarter-million keys is refused as its line is placed; one further apart is found by
:meth:`ShardPlanner.finish` once every line was placed, which reads the input again to name it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.keyset import WINDOW_KEYS, KeySet, find_repeat
from airflow_provider_gemini_batch._core.routes import MAX_UPLOAD_BYTES
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError

#: Characters per token of the rough estimate (docs: "about 4 characters" per token).
DEFAULT_CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class ShardLimits:
    """Upper bounds per shard; None means "no bound of this kind".

    :param max_requests: requests (lines) per shard.
    :param max_bytes: bytes per shard file (default and ceiling: 2 GiB, the Files API limit).
    :param max_tokens: estimated input tokens per shard (see the module docstring).
    :param chars_per_token: characters per token of the estimate. Default 4.
    :raises GeminiInvalidInputError: a bound below 1, or ``max_bytes`` over 2 GiB.
    """

    max_requests: int | None = None
    max_bytes: int = MAX_UPLOAD_BYTES
    max_tokens: int | None = None
    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_bytes", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise GeminiInvalidInputError(f"{name} must be a positive integer or None, got {value!r}.")
        if self.max_bytes > MAX_UPLOAD_BYTES:
            raise GeminiInvalidInputError(
                f"max_bytes is {self.max_bytes}; the Files API accepts input files of at most "
                f"{MAX_UPLOAD_BYTES} bytes (2 GB). Lower it."
            )
        if not self.chars_per_token > 0:
            raise GeminiInvalidInputError(f"chars_per_token must be > 0, got {self.chars_per_token!r}.")


@dataclass
class Shard:
    """Figures of one shard: ``index`` (0-based), ``requests``, ``bytes`` written, ``estimated_tokens``
    and the 1-based input lines it starts and ends with."""

    index: int
    requests: int = 0
    bytes: int = 0
    estimated_tokens: int = 0
    first_line: int = 0
    last_line: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "shard": self.index,
            "requests": self.requests,
            "bytes": self.bytes,
            "estimated_tokens": self.estimated_tokens,
            "first_line": self.first_line,
            "last_line": self.last_line,
        }


def _text_chars(obj: Any) -> int:
    """Characters of every ``text`` string inside ``obj`` (parts of contents, system instruction)."""
    if isinstance(obj, Mapping):
        total = 0
        for key, value in obj.items():
            if key == "text" and isinstance(value, str):
                total += len(value)
            else:
                total += _text_chars(value)
        return total
    if isinstance(obj, list):
        return sum(_text_chars(item) for item in obj)
    return 0


def estimate_tokens(request: Any, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> int:
    """Rough input tokens of one request: text characters / ``chars_per_token``, at least 1."""
    return max(1, math.ceil(_text_chars(request) / chars_per_token))


def keyed_line(obj: Any, position: int) -> tuple[str, dict[str, Any]]:
    """``(key, {"key", "request"})`` for one parsed input line at 0-based ``position``.

    A wrapped line keeps its key (and its other fields); a bare request or a keyless wrapped line
    gets ``request-<position>``.
    """
    if isinstance(obj, dict) and "request" in obj:
        key = obj.get("key")
        out = dict(obj)
        if key is None or key == "":
            key = rows.position_key(position)
        out["key"] = str(key)
        return str(key), out
    key = rows.position_key(position)
    return key, {"key": key, "request": obj}


@dataclass
class ShardPlanner:
    """Feed input lines in order with :meth:`add`; it says where each line goes.

    :param limits: the bounds per shard.
    :param source: the input's name, for error messages.
    :param window: keys checked at once (see ``_core/keyset.py``); older ones by :meth:`finish`.
    :param digest: the keys' digest (default Python's ``hash``; tests force collisions with it).

    Call :meth:`finish` after the last line (with a way to read the input again), then
    :meth:`close` (or use it as a context manager): the spilled digests live in a temp file.
    """

    limits: ShardLimits
    source: str = "input"
    shards: list[Shard] = field(default_factory=list)
    window: int = WINDOW_KEYS
    digest: Callable[[str], int] | None = None
    _keys: KeySet = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._keys = KeySet(window=self.window, digest=self.digest)

    def __enter__(self) -> ShardPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Delete the spilled digests (idempotent)."""
        self._keys.close()

    def finish(self, reread: Callable[[], Iterable[bytes]]) -> None:
        """Refuse a key repeated further apart than the window, after the last line was placed.

        :param reread: the input's non-blank lines again, in order (called only when some digest
            repeated).
        :raises GeminiInputFileError: a repeated key, naming it and both lines.
        """
        try:
            repeat = find_repeat(self._keys, lambda: input_keys(reread(), source=self.source))
        finally:
            self.close()
        if repeat is not None:
            raise self._repeated(repeat.key, repeat.first, repeat.line)

    def _repeated(self, key: str, earlier: int, line_no: int) -> GeminiInputFileError:
        return GeminiInputFileError(
            f"key {key!r} repeats the key of line {earlier}; keys must be unique across the whole "
            "input so every result joins back to one request. Give the lines distinct keys.",
            path=self.source,
            line_number=line_no,
            key=key,
        )

    def add(self, line: bytes, line_no: int, position: int) -> tuple[int, bytes]:
        """Place one non-blank input line.

        :param line: the raw line (without the newline).
        :param line_no: its 1-based line number in the input (for messages).
        :param position: its 0-based request position in the whole input.
        :returns: ``(shard index, the bytes to write, newline included)``.
        :raises GeminiInputFileError: the line is not a JSON object, or its key repeats an earlier one.
        """
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise GeminiInputFileError(
                f"not valid JSON ({exc}).", path=self.source, line_number=line_no
            ) from None
        if not isinstance(obj, dict):
            raise GeminiInputFileError("not a JSON object.", path=self.source, line_number=line_no)
        key, keyed = keyed_line(obj, position)
        earlier = self._keys.add(key, line_no)
        if earlier is not None:
            raise self._repeated(key, earlier, line_no)
        data = json.dumps(keyed, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        tokens = estimate_tokens(keyed.get("request"), self.limits.chars_per_token)
        shard = self._shard_for(len(data), tokens, line_no)
        shard.requests += 1
        shard.bytes += len(data)
        shard.estimated_tokens += tokens
        shard.last_line = line_no
        return shard.index, data

    def _shard_for(self, size: int, tokens: int, line_no: int) -> Shard:
        limits = self.limits
        if size > limits.max_bytes:
            raise GeminiInputFileError(
                f"this one request is {size} bytes, over the shard size limit of {limits.max_bytes} bytes.",
                path=self.source,
                line_number=line_no,
            )
        current = self.shards[-1] if self.shards else None
        if current is not None and current.requests and not self._fits(current, size, tokens):
            current = None
        if current is None:
            current = Shard(index=len(self.shards), first_line=line_no)
            self.shards.append(current)
        return current

    def _fits(self, shard: Shard, size: int, tokens: int) -> bool:
        limits = self.limits
        if limits.max_requests is not None and shard.requests + 1 > limits.max_requests:
            return False
        if shard.bytes + size > limits.max_bytes:
            return False
        return limits.max_tokens is None or shard.estimated_tokens + tokens <= limits.max_tokens


def input_keys(lines: Iterable[bytes], *, source: str = "input") -> Iterator[tuple[int, str]]:
    """``(1-based line number, key)`` of each non-blank input line, keys as :func:`keyed_line` gives
    them (a bare or key-less line: ``request-<position>``), numbered as the split operator numbers."""
    for position, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise GeminiInputFileError(
                f"not valid JSON ({exc}).", path=source, line_number=position + 1
            ) from None
        yield position + 1, keyed_line(obj, position)[0]
