"""Streaming check of JSONL input: lines or raw byte chunks in, one :class:`InputSummary` out.

:class:`InputValidator` holds the state of one pass over an input (keys seen, the batch kind, a
pending blank line, the partial line at the end of the last chunk), so the same checks run
whether the caller hands it lines (``feed_line``) or the chunks it is about to upload
(``feed_chunk``): a line cut by a chunk boundary is checked when the chunk that ends it arrives,
and :meth:`InputValidator.finish` checks the last line and the whole-file rules. That is what
lets the hook read each byte of the file once: validate, hash and send the same chunk.

Lines are parsed with ``msgspec`` (a dependency of Airflow's task SDK and core, about three times
the stdlib ``json`` on JSONL). It is strict JSON: ``NaN``/``Infinity`` and lone UTF-16 surrogates,
which the stdlib accepts, are refused here as invalid JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from airflow_provider_gemini_batch._core import request_fields, request_types
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError

_decode = msgspec.json.Decoder().decode
#: A UTF-8 byte order mark: some editors (Windows Notepad, Excel's "CSV UTF-8") start a file
#: with it. It is not JSON; the check skips it before the first line.
_BOM = b"\xef\xbb\xbf"


def _without_bom(raw: bytes | str) -> bytes | str:
    """``raw`` without a leading byte order mark (bytes or str)."""
    if isinstance(raw, bytes):
        return raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    return raw[1:] if raw.startswith("\ufeff") else raw


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


class InputValidator:
    """One pass of JSONL input validation; see :func:`~._core.jsonl.validate_input_lines` for the rules.

    :param path: the file's name for messages.
    :param embeddings: True/False when the batch kind is known; None: the first line decides.

    Feed either whole lines (:meth:`feed_line`) or consecutive byte chunks of the file
    (:meth:`feed_chunk`), never both; then call :meth:`finish`. Memory: the keys seen (for the
    duplicate check) plus, with chunks, one partial line.
    """

    __slots__ = (
        "_echoed",
        "_kind",
        "_kind_line",
        "_pending_blank",
        "_regions",
        "_seen",
        "_tail",
        "count",
        "keyed",
        "number",
        "path",
        "summary",
    )

    def __init__(self, path: str, *, embeddings: bool | None = None) -> None:
        self.path = path
        self.count = 0
        self.number = 0  # lines seen so far (1-based number of the last one)
        self.keyed: bool | None = None
        self._seen: dict[str, int] = {}
        self._echoed: dict[str, int] = {}
        self._kind = kind_for(embeddings)
        self._kind_line = 0
        self._pending_blank: int | None = None
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
        if self.number == 0 and not self._tail and chunk.startswith(_BOM, start, stop):
            start += len(_BOM)  # a byte order mark before the first line (see feed_line)
        if stop <= start:
            return
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
        empty_object = _EMPTY_OBJECT
        kind = self._kind
        decode: Callable[[Any], Any] = _FAST_DECODERS[kind]  # union-free attribute access
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
                except _FAST_ERRORS:
                    line = None
                if line is not None:
                    request = line.request
                    # An empty ``contents``/``key`` is refused by the decoder (min_length=1); a
                    # snake_case field (rare) makes the twins be compared; a second "request"
                    # member or an empty Part goes to the slow path.
                    if (
                        (_snake_given(request) and not _one_spelling(request, kind))
                        or count_member(_REQUEST_MEMBER, pos, newline) != 1
                        or (empty_object(chunk, pos, newline) is not None and not _parts_have_data(request))
                    ):
                        line = None
                if line is not None:
                    key = line.key
                    if key is _UNSET:
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
        find = chunk.find
        limit = start + REGION
        lines = 0
        pos = start
        while lines < REGION_LINES:
            newline = find(b"\n", pos, stop)
            if newline < 0 or (lines and newline >= limit):
                break
            if chunk[pos] != _OPEN or chunk[newline - 1] != _CLOSE:  # a blank line fails here too
                self._regions = False
                return start
            lines += 1
            pos = newline + 1
        if not lines:
            return start
        try:
            values = _REGION_DECODERS[self._kind](memoryview(chunk)[start:pos])  # type: ignore[index]
        except _FAST_ERRORS:
            self._regions = False
            return start
        if (
            len(values) != lines
            or chunk.count(_REQUEST_MEMBER, start, pos) != lines
            or (
                _EMPTY_OBJECT(chunk, start, pos) is not None
                and not all(_parts_have_data(value.request) for value in values)
            )
        ):
            self._regions = False
            return start
        keys = [value.key for value in values]
        unset = keys.count(_UNSET)
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
            raw = _without_bom(raw)
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

    def _check(self, raw: bytes | str, number: int) -> None:
        """Every rule, on a line that is not blank; names the problem."""
        try:
            obj = _decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            if self._unicode_blank(raw):
                self._pending_blank = self._pending_blank or number
                return
            self._blank_before(number)
            raise GeminiInputFileError(
                f"not valid JSON ({exc}).", path=self.path, line_number=number
            ) from None
        self._blank_before(number)
        self._check_object(obj, number)
        self._check_members(raw, number)
        self.count += 1

    def _check_members(self, raw: bytes | str, number: int) -> None:
        """Refuse a line whose object has two ``request`` members (a JSON decoder keeps the last;
        which one the service reads is not documented). Only lines holding ``"request"`` more than
        once are parsed again to look."""
        member = _REQUEST_MEMBER if isinstance(raw, bytes) else '"request"'
        if raw.count(member) <= 1:  # type: ignore[arg-type]
            return
        names: list[str] = []

        def keep_top(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            names[:] = [name for name, _ in pairs]  # the outermost object is built last
            return dict(pairs)

        json.loads(raw, object_pairs_hook=keep_top)
        if names.count("request") > 1:
            raise GeminiInputFileError(
                'the line has two "request" members; a JSON reader keeps only one of them. Write one '
                'request per line: {"key": "...", "request": {...}}.',
                path=self.path,
                line_number=number,
                field="request",
            )

    def finish(self) -> InputSummary:
        """Check the last line (if the input did not end with a newline) and the whole-file rules.

        :raises GeminiInputFileError: as :meth:`feed_line`, or an input without any request.
        """
        if self._tail:
            tail, self._tail = b"".join(self._tail), []
            self.feed_line(tail)
        if self.count == 0:
            raise GeminiInputFileError("the file holds no requests.", path=self.path)
        self.summary = InputSummary(
            count=self.count,
            keyed=bool(self.keyed),
            kind=self._kind or request_fields.GENERATE,
            echoed_fields=self._echoed,
        )
        return self.summary

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
        self.count += 1
        return True

    # -- the rules -------------------------------------------------------------------------------

    def _unicode_blank(self, raw: bytes | str) -> bool:
        """True for a line of Unicode-only whitespace (blank to ``str.strip``, not to JSON).

        :raises GeminiInputFileError: the line is not UTF-8 at all.
        """
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise GeminiInputFileError(
                    f"not UTF-8 text ({exc.reason}).", path=self.path, line_number=self.number
                ) from None
        return not raw.strip()

    def _blank_before(self, number: int) -> None:
        if self._pending_blank is not None:
            raise GeminiInputFileError(
                "empty line; every line must hold one request.",
                path=self.path,
                line_number=self._pending_blank,
            )

    def _check_object(self, obj: object, number: int) -> None:
        path = self.path
        if type(obj) is not dict:
            raise GeminiInputFileError("a line must be a JSON object.", path=path, line_number=number)
        key = obj.get("key")
        shown_key = key if isinstance(key, str) else None
        if "request" not in obj:
            raise GeminiInputFileError(
                'the line has no "request"; write each line as {"key": "...", "request": {...}}.',
                path=path,
                line_number=number,
                key=shown_key,
            )
        request = obj["request"]
        if type(request) is not dict:
            raise GeminiInputFileError(
                '"request" must be a JSON object.', path=path, line_number=number, key=shown_key
            )
        has_key = "key" in obj
        if self.keyed is None:
            self.keyed = has_key
        elif self.keyed != has_key:
            raise GeminiInputFileError(
                'some lines have a "key" and others not; give every line a key (or none).',
                path=path,
                line_number=number,
            )
        if has_key:
            if not isinstance(key, str) or not key:
                raise GeminiInputFileError('"key" must be a non-empty string.', path=path, line_number=number)
            seen = self._seen
            if key in seen:
                raise GeminiInputFileError(
                    f"duplicate key {key!r} (first used on line {seen[key]}).", path=path, line_number=number
                )
            seen[key] = number
        if len(obj) > 1 + has_key:
            for name in obj:
                if name in request_fields.LINE_FIELDS:
                    continue
                line_problem = request_fields.check_line_field(name)
                if line_problem is not None:
                    raise GeminiInputFileError(
                        line_problem.message, path=path, line_number=number, key=shown_key, field=name
                    )
                self._echoed.setdefault(name, number)
        kind = self._kind
        if kind is None:
            kind = self._kind = request_fields.kind_of(request)
            self._kind_line = number
        elif self._kind_line and request_fields.kind_of(request) != kind:
            raise GeminiInputFileError(
                f"this request is not a {kind} like the one on line {self._kind_line}; one batch holds one "
                "kind of request (generateContent or embeddings).",
                path=path,
                line_number=number,
                key=shown_key,
            )
        problem = request_fields.check_request(request, kind)
        if problem is not None:
            raise GeminiInputFileError(
                problem.message,
                path=path,
                line_number=number,
                key=shown_key,
                field=f"request.{problem.field}",
            )


# -- the fast path: the common, valid line checked by msgspec's typed decoder --------------------
#
# A typed decode checks the shapes in C (unknown fields, objects, lists, strings) and skips the
# values it need not look at (``msgspec.Raw``: no string is built for a prompt's text). It only
# ever accepts what the rules above accept: anything it refuses, or any doubt left after it
# (both spellings of a field, an empty list or key), goes to the slow path, which then names the
# problem (or accepts the line: the fast path may refuse more, never less).
# ``gc=False``: these short-lived structs never form cycles; untracked, the hundreds of thousands
# decoded per file do not drive the garbage collector (measured: ~15% of the validation time).

_Raw = msgspec.Raw
_UNSET = msgspec.UNSET
# The request types live in ``_core/request_types.py`` (field lists from the REST reference).
_Generate = request_types.Generate
_Embed = request_types.Embed
_GenerateLine = request_types.GenerateLine
_EmbedLine = request_types.EmbedLine
_parts_have_data = request_types.parts_have_data
_EMPTY_OBJECT = request_types.EMPTY_OBJECT.search
#: A line's ``request`` member as bytes: counted to find a line with two of them (JSON keeps the
#: last, the decoders too). Inside a JSON string the quotes are escaped, so only keys and string
#: values equal to ``request`` match; a count other than one sends the line to the slow path.
_REQUEST_MEMBER = b'"request"'


_FAST_DECODERS: dict[str, Callable[[bytes | str], _GenerateLine | _EmbedLine]] = {
    request_fields.GENERATE: msgspec.json.Decoder(_GenerateLine).decode,
    request_fields.EMBED: msgspec.json.Decoder(_EmbedLine).decode,
}


def _camel_only(line: type[msgspec.Struct], request: type[msgspec.Struct], kind: str) -> type[msgspec.Struct]:
    """``line`` whose request type drops the snake_case twins (``_TWINS``), so a snake field is an
    unknown field the decoder refuses (the region path needs no per-line twin check)."""
    snake = {s for _c, s in _TWINS[kind]}
    fields = [
        (f.name, f.type, f.default) if f.required is False else (f.name, f.type)
        for f in msgspec.structs.fields(request)
        if f.name not in snake
    ]
    camel = msgspec.defstruct(f"{request.__name__}Camel", fields, forbid_unknown_fields=True, gc=False)
    line_fields = [
        (f.name, camel, msgspec.NODEFAULT) if f.name == "request" else (f.name, f.type, f.default)
        for f in msgspec.structs.fields(line)
    ]
    return msgspec.defstruct(f"{line.__name__}Camel", line_fields, forbid_unknown_fields=True, gc=False)


#: ``{`` and ``}`` as ``bytes`` items.
_OPEN, _CLOSE = ord("{"), ord("}")
# msgspec raises UnicodeDecodeError for bad UTF-8 inside a string it decodes.
_FAST_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)
#: (camel, snake) twins of each request type: given both, the slow path names the problem.
_TWINS = {
    request_fields.GENERATE: tuple(
        (c, s) for s, c in request_fields.GENERATE_FIELDS.items() if s != c and c not in ("contents",)
    ),
    request_fields.EMBED: tuple((c, s) for s, c in request_fields.EMBED_FIELDS.items() if s != c),
}


#: Region decoders (:meth:`InputValidator._accept_region`): many lines in one call, camel-only.
_REGION_DECODERS: dict[str, Callable[[Any], list[Any]]] = {
    request_fields.GENERATE: msgspec.json.Decoder(
        _camel_only(_GenerateLine, _Generate, request_fields.GENERATE)
    ).decode_lines,
    request_fields.EMBED: msgspec.json.Decoder(
        _camel_only(_EmbedLine, _Embed, request_fields.EMBED)
    ).decode_lines,
}


def _is_set(value: object) -> bool:
    """True when the field was on the line (a Raw field left empty, or UNSET, was not)."""
    if type(value) is _Raw:
        return bool(len(value))
    return value is not _UNSET


def _one_spelling(request: _Generate | _Embed, kind: str) -> bool:
    """True unless ``request`` gives a field in both spellings (the slow path then names it)."""
    return not any(_is_set(getattr(request, s)) and _is_set(getattr(request, c)) for c, s in _TWINS[kind])


def _snake_given(request: _Generate | _Embed) -> bool:
    """True when some snake_case field is on the request (rare: then the twins are compared).

    One expression of attribute tests, no call per field: it runs once per line.
    """
    if type(request) is _Generate:
        return bool(
            request.tool_config
            or request.safety_settings
            or request.cached_content
            or request.service_tier
            or request.system_instruction is not _UNSET
            or request.generation_config is not _UNSET
        )
    return bool(request.task_type or request.output_dimensionality)  # type: ignore[union-attr]


def fast_line(raw: bytes | str, kind: str) -> str | bool | None:
    """Check a line of a known ``kind`` with the typed decoder.

    :returns: the line's key (a non-empty string) or None (a line without key) when the line is
        surely valid; False when the slow path must decide.
    """
    try:
        line: _GenerateLine | _EmbedLine = _FAST_DECODERS[kind](raw)
    except _FAST_ERRORS:
        return False
    # An empty ``contents`` or key never gets here: the decoder refuses them (min_length=1).
    if _snake_given(line.request) and not _one_spelling(line.request, kind):
        return False
    if isinstance(raw, bytes):
        if raw.count(_REQUEST_MEMBER) != 1:
            return False
        if _EMPTY_OBJECT(raw) is not None and not _parts_have_data(line.request):
            return False
    elif raw.count('"request"') != 1 or not _parts_have_data(line.request):
        return False
    key = line.key
    return None if key is _UNSET else key
