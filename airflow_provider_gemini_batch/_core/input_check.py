"""Streaming check of JSONL input: lines or raw byte chunks in, one :class:`InputSummary` out.

:class:`InputValidator` holds the state of one pass over an input (keys seen, the batch kind, a
pending blank line, the partial line at the end of the last chunk), so the same checks run
whether the caller hands it lines (``feed_line``) or the chunks it is about to upload
(``feed_chunk``): a line cut by a chunk boundary is checked when the chunk that ends it arrives,
and :meth:`InputValidator.finish` checks the last line and the whole-file rules. That is what
lets the hook read each byte of the file once: validate, hash and send the same chunk.

Keys are remembered in bounded memory (:class:`~._core.keyset.KeySet`): exactly for the most
recent quarter-million, as sorted 64-bit digests in a temporary file before that. A key repeated
within the window is refused at once; one repeated across it is found by :meth:`InputValidator.finish`,
which then reads the input again (the ``reread`` the caller gave) to name the key and both lines,
comparing the keys themselves, so a collision of digests never refuses a valid input. For the
upload that means before the last chunk is sent, so the file is never finalized.

The work is split by job: this module reads (lines, chunks, regions of lines) and keeps the
counts; :mod:`~._core.input_fast` accepts the common valid line with typed decoders;
:mod:`~._core.input_rules` applies every rule to any other line and words the refusal;
:mod:`~._core.input_reread` reads the keys again to name a repeat.

Lines are parsed with ``msgspec`` (a dependency of Airflow's task SDK and core, about three times
the stdlib ``json`` on JSONL). It is strict JSON: ``NaN``/``Infinity`` and lone UTF-16 surrogates,
which the stdlib accepts, are refused here as invalid JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_gemini_batch._core import request_fields
from airflow_provider_gemini_batch._core.input_fast import (
    CLOSE,
    EMPTY_OBJECT,
    FAST_DECODERS,
    FAST_ERRORS,
    OPEN,
    REGION_DECODERS,
    REQUEST_MEMBER,
    UNSET,
    fast_line,
    one_spelling,
    parts_have_data,
    snake_given,
)
from airflow_provider_gemini_batch._core.input_reread import numbered_keys
from airflow_provider_gemini_batch._core.input_rules import BOM, LineRules, without_bom
from airflow_provider_gemini_batch._core.keyset import WINDOW_KEYS, KeySet, find_repeat
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

#: About the most bytes of whole lines checked in one call by :meth:`InputValidator._accept_region`
#: (a longer line is taken alone). Measured (128 MB of 2.5 kB lines fed in 8 MiB chunks): 256 KiB
#: regions ~1.2 s/GB; one region per chunk 2.9-3.7 s/GB (the newline walk had pushed the chunk
#: out of the CPU cache before the decode).
REGION = 1 << 18
#: The most lines checked in one call. The decoded lines live until their keys are checked, and
#: each holds lists the garbage collector tracks: 1,400 short lines at once (256 KiB of 185-byte
#: lines) set off ~700 collections per 64 MB, some of them full ones; 64 lines (~400 lists) stay
#: under the collector's threshold of 700.
REGION_LINES = 64


@dataclass(frozen=True)
class InputSummary:
    """What validation learnt about an input.

    :param count: request lines.
    :param keyed: whether the lines carry keys.
    :param kind: ``"GenerateContentRequest"`` or ``"EmbedContentRequest"``.
    :param echoed_fields: line-level fields other than ``key``/``request`` the service does not
        read (it echoes them on the result line), each with the first line it appeared on; callers
        warn about them.
    """

    count: int
    keyed: bool
    kind: str = request_fields.GENERATE
    echoed_fields: Mapping[str, int] = field(default_factory=dict)


def kind_for(embeddings: bool | None) -> str | None:
    """The request kind for the ``embeddings`` flag (None: decided by the first line)."""
    if embeddings is None:
        return None
    return request_fields.EMBED if embeddings else request_fields.GENERATE


class InputValidator(LineRules):
    """One pass of JSONL input validation; see :func:`~._core.jsonl.validate_input_lines` for the rules.

    :param path: the file's name for messages.
    :param embeddings: True/False when the batch kind is known; None: the first line decides.
    :param reread: gives the same input's lines again from the start (bytes or str, newline kept
        or not), for :meth:`finish` to name a key repeated beyond the window of recent keys;
        called only when a digest repeated. None: every key is kept exactly in memory (for
        lines that cannot be read again).
    :param window: recent keys kept exactly (default :data:`~._core.keyset.WINDOW_KEYS`).
    :param digest: the keys' digest (default Python's ``hash``; tests force collisions with it).

    Feed either whole lines (:meth:`feed_line`) or consecutive byte chunks of the file
    (:meth:`feed_chunk`), never both; then call :meth:`finish`. Memory: the window of recent
    keys (about 33 MB at most; every key when ``reread`` is None) plus, with chunks, one partial
    line; disk: 8 bytes per key beyond the window, in a temporary file deleted by :meth:`finish`.
    """

    __slots__ = ("_regions", "_reread", "_tail", "summary")

    def __init__(
        self,
        path: str,
        *,
        embeddings: bool | None = None,
        reread: Callable[[], Iterable[bytes | str]] | None = None,
        window: int = WINDOW_KEYS,
        digest: Callable[[str], int] | None = None,
    ) -> None:
        super().__init__(
            path, kind_for(embeddings), KeySet(window=window if reread is not None else None, digest=digest)
        )
        self._reread = reread
        #: Whether :meth:`_accept_region` is still worth trying (see there).
        self._regions = True
        #: The unfinished last line, as the pieces it came in (joined once its newline arrives:
        #: appending to one bytes object would copy it again for every slice of a long line).
        self._tail: list[bytes] = []
        #: The result of :meth:`finish`, once it passed.
        self.summary: InputSummary | None = None

    def feed_chunk(self, chunk: bytes, start: int = 0, stop: int | None = None) -> None:
        """Check every line that ``chunk[start:stop]`` completes; keep its last, unfinished line.

        The region lets a caller hand over an upload chunk in slices without copying them (the
        upload hashes and checks it a slice at a time, so its sending thread gets the GIL back
        often). Lines are found with ``bytes.find`` and decoded from ``memoryview`` slices: no
        line is copied unless the slow path must look at it.

        Common lines (valid, of the known kind) are accepted up to 64 at a time by one typed
        ``decode_lines`` call (:meth:`_accept_region`). Once it doubts some lines it stops for
        this input, and lines go through one tight loop of the per-line typed decoder
        (:func:`fast_line` without a call per line); any line that one is not sure of goes
        through :meth:`feed_line`, which applies every rule and names the problem.

        :raises GeminiInputFileError: as :meth:`feed_line`.
        """
        stop = len(chunk) if stop is None else stop
        if self.number == 0 and not self._tail and chunk.startswith(BOM, start, stop):
            start += len(BOM)  # a byte order mark before the first line (see feed_line)
        if stop <= start:
            return
        self._keys.spill_if_full()
        find = chunk.find
        pos = start
        if self._tail:
            newline = find(b"\n", pos, stop)
            if newline < 0:
                self._tail.append(chunk[pos:stop])
                return
            self._tail.append(chunk[pos:newline])
            joined, self._tail = b"".join(self._tail), []
            pos = newline + 1
            self.feed_line(joined)
        while self._kind is None:
            # The first line decides the kind: check lines the slow way until one did, then fast.
            newline = find(b"\n", pos, stop)
            if newline < 0:
                self._tail = [chunk[pos:stop]] if pos < stop else []
                return
            self._check_line(chunk[pos:newline])
            pos = newline + 1
        while self._regions and self._pending_blank is None:
            # Whole lines a region at a time; on any doubt the loop below checks them one by one.
            end = self._accept_region(chunk, pos, stop)
            if end == pos:
                break
            pos = end
        view = memoryview(chunk)
        count_member = chunk.count
        empty_object = EMPTY_OBJECT
        kind = self._kind
        decode: Callable[[Any], Any] = FAST_DECODERS[kind]  # union-free attribute access
        seen = self._seen
        keyed = self.keyed
        number = self.number
        count = self.count
        while True:
            # Inlined fast_line + _fast: this loop runs once per line of files up to 2 GB, so the
            # counters live in locals (written back before the slow path runs and at the end).
            newline = find(b"\n", pos, stop)
            if newline < 0:
                break
            number += 1
            if self._pending_blank is None:
                try:
                    line = decode(view[pos:newline])
                except FAST_ERRORS:
                    line = None
                if line is not None:
                    request = line.request
                    # An empty ``contents``/``key`` is refused by the decoder (min_length=1); a
                    # snake_case field (rare) makes the twins be compared; a second "request"
                    # member or an empty Part goes to the slow path.
                    if (
                        (snake_given(request) and not one_spelling(request, kind))
                        or count_member(REQUEST_MEMBER, pos, newline) != 1
                        or (empty_object(chunk, pos, newline) is not None and not parts_have_data(request))
                    ):
                        line = None
                if line is not None:
                    key = line.key
                    if key is UNSET:
                        if keyed is None:
                            self.keyed = keyed = False
                        if not keyed:
                            count += 1
                            pos = newline + 1
                            continue
                    elif key not in seen:
                        if keyed is None:
                            self.keyed = keyed = True
                        if keyed:
                            seen[key] = number
                            count += 1
                            pos = newline + 1
                            continue
            self.number, self.count = number - 1, count
            self._check_line(chunk[pos:newline])
            number, count, keyed = self.number, self.count, self.keyed
            pos = newline + 1
        self.number, self.count = number, count
        if pos < stop:
            self._tail = [chunk[pos:stop]]

    def _accept_region(self, chunk: bytes, start: int, stop: int) -> int:
        """Accept the next whole lines of ``chunk[start:stop]`` (``start`` begins a line) at once.

        One C call (``msgspec``'s ``decode_lines`` with the camel-only typed decoder) checks up to
        :data:`REGION_LINES` lines of at most about :data:`REGION` bytes, and their keys are checked
        as lists, so the common line costs no per-line call into the decoder or the rules.

        ``decode_lines`` reads values separated by ANY whitespace: it skips blank lines, takes
        ``{..} {..}`` on one line and a value spread over lines. So the lines are taken only when
        each starts with ``{`` and ends with ``}`` right before its newline: JSON strings hold no
        raw newline (the decoder refuses control characters in strings) and no value goes on with
        ``{`` after a ``}``, so each newline then ends one top-level value and no line is blank;
        with exactly as many values as lines, each line holds exactly one value, the bytes the
        per-line check would decode. (Counting ``}\n{`` with ``bytes.count`` was measured slower
        than the typed decode itself; the ``bytes.find`` walk below costs ~0.1 s/GB on 2.5 kB lines.)

        Anything else (a blank line, CRLF, a value the camel-only type refuses, a snake_case field,
        a duplicate or missing key, keyed and keyless lines mixed) is a refusal that changes
        nothing: the per-line loop then checks those lines and names the problem exactly as
        before. After one refusal the region path is not tried again for this input: a file whose
        lines the per-line path accepts but this one refuses (echoed fields, snake_case) would
        otherwise be decoded twice.

        :returns: the offset after the lines accepted; ``start`` when none were (no whole line
            left, or a refusal).
        """
        self._keys.spill_if_full()
        find = chunk.find
        limit = start + REGION
        lines = 0
        pos = start
        while lines < REGION_LINES:
            newline = find(b"\n", pos, stop)
            if newline < 0 or (lines and newline >= limit):
                break
            if chunk[pos] != OPEN or chunk[newline - 1] != CLOSE:  # a blank line fails here too
                self._regions = False
                return start
            lines += 1
            pos = newline + 1
        if not lines:
            return start
        try:
            values = REGION_DECODERS[self._kind](memoryview(chunk)[start:pos])  # type: ignore[index]
        except FAST_ERRORS:
            self._regions = False
            return start
        if (
            len(values) != lines
            or chunk.count(REQUEST_MEMBER, start, pos) != lines
            or (
                EMPTY_OBJECT(chunk, start, pos) is not None
                and not all(parts_have_data(value.request) for value in values)
            )
        ):
            self._regions = False
            return start
        keys = [value.key for value in values]
        unset = keys.count(UNSET)
        keyed = self.keyed
        number = self.number
        if unset == lines and keyed is not True:
            self.keyed = False
        elif unset == 0 and keyed is not False:
            seen = self._seen
            if not seen.keys().isdisjoint(keys):
                self._regions = False
                return start
            before = len(seen)
            seen.update(zip(keys, range(number + 1, number + lines + 1), strict=True))
            if len(seen) != before + lines:
                # A key twice among these lines: every key of them was new, so dropping them all
                # puts ``seen`` back as it was for the per-line loop.
                for key in keys:
                    seen.pop(key, None)
                self._regions = False
                return start
            self.keyed = True
        else:
            self._regions = False
            return start
        self.number = number + lines
        self.count += lines
        return pos

    def feed_line(self, raw: bytes | str) -> None:
        """Check the next line (with or without its ``\\n``).

        :raises GeminiInputFileError: the line breaks a rule (file, line, key and field named).
        """
        if self.number == 0:
            raw = without_bom(raw)
        self.number += 1
        number = self.number
        if not raw.strip():
            self._pending_blank = self._pending_blank or number
            return
        if self._pending_blank is None and self._kind is not None and self._fast(raw, number):
            return
        self._check(raw, number)

    def _check_line(self, raw: bytes | str) -> None:
        """:meth:`feed_line` without the fast path (the caller's typed decode refused the line)."""
        self.number += 1
        number = self.number
        if not raw.strip():
            self._pending_blank = self._pending_blank or number
            return
        self._check(raw, number)

    def finish(self) -> InputSummary:
        """Check the last line (if the input did not end with a newline) and the whole-file rules.

        :raises GeminiInputFileError: as :meth:`feed_line`, or an input without any request.
        """
        if self._tail:
            tail, self._tail = b"".join(self._tail), []
            self.feed_line(tail)
        if self.count == 0:
            raise GeminiInputFileError("the file holds no requests.", path=self.path)
        self._check_spilled_keys()
        self.summary = InputSummary(
            count=self.count,
            keyed=bool(self.keyed),
            kind=self._kind or request_fields.GENERATE,
            echoed_fields=self._echoed,
        )
        return self.summary

    def _check_spilled_keys(self) -> None:
        """Refuse a key repeated beyond the window (then read the input again to name it)."""
        keys = self._keys
        try:
            if keys.spilled and self._reread is not None:
                reread = self._reread
                repeat = find_repeat(keys, lambda: numbered_keys(reread()))
                if repeat is not None:
                    raise GeminiInputFileError(
                        f"duplicate key {repeat.key!r} (first used on line {repeat.first}).",
                        path=self.path,
                        line_number=repeat.line,
                    )
        finally:
            keys.close()
            keys.window.clear()

    def _fast(self, raw: bytes | str, number: int) -> bool:
        """Accept a surely valid line by the typed decode (see :func:`fast_line`); False: not sure."""
        key = fast_line(raw, self._kind)  # type: ignore[arg-type]
        if key is False:
            return False
        has_key = key is not None
        if self.keyed is None:
            self.keyed = has_key
        elif self.keyed != has_key:
            return False
        if has_key:
            if key in self._seen:
                return False
            self._seen[key] = number  # type: ignore[index]
            self._keys.spill_if_full()
        self.count += 1
        return True

    # -- the rules -------------------------------------------------------------------------------
