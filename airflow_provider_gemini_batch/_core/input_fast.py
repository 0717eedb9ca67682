"""The fast path of the input check: the common, valid line accepted by ``msgspec``'s typed decoder.

A typed decode checks the shapes in C (unknown fields, objects, lists, strings) and skips the
values it need not look at (``msgspec.Raw``: no string is built for a prompt's text). It only
ever accepts what the rules of :mod:`~._core.input_rules` accept: anything it refuses, or any
doubt left after it (both spellings of a field, an empty list or key), goes to the slow path,
which then names the problem (or accepts the line: the fast path may refuse more, never less).
``gc=False``: these short-lived structs never form cycles; untracked, the hundreds of thousands
decoded per file do not drive the garbage collector (measured: ~15% of the validation time).

The names here serve :class:`~._core.input_check.InputValidator`, whose hot loops use them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from airflow_provider_gemini_batch._core import request_fields, request_types

_Raw = msgspec.Raw
UNSET = msgspec.UNSET
# The request types live in ``_core/request_types.py`` (field lists from the REST reference).
_Generate = request_types.Generate
_Embed = request_types.Embed
_GenerateLine = request_types.GenerateLine
_EmbedLine = request_types.EmbedLine
parts_have_data = request_types.parts_have_data
EMPTY_OBJECT = request_types.EMPTY_OBJECT.search
#: A line's ``request`` member as bytes: counted to find a line with two of them (JSON keeps the
#: last, the decoders too). Inside a JSON string the quotes are escaped, so only keys and string
#: values equal to ``request`` match; a count other than one sends the line to the slow path.
REQUEST_MEMBER = b'"request"'


FAST_DECODERS: dict[str, Callable[[bytes | str], _GenerateLine | _EmbedLine]] = {
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
OPEN, CLOSE = ord("{"), ord("}")
# msgspec raises UnicodeDecodeError for bad UTF-8 inside a string it decodes.
FAST_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)
#: (camel, snake) twins of each request type: given both, the slow path names the problem.
_TWINS = {
    request_fields.GENERATE: tuple(
        (c, s) for s, c in request_fields.GENERATE_FIELDS.items() if s != c and c not in ("contents",)
    ),
    request_fields.EMBED: tuple((c, s) for s, c in request_fields.EMBED_FIELDS.items() if s != c),
}


#: Region decoders (:meth:`InputValidator._accept_region`): many lines in one call, camel-only.
REGION_DECODERS: dict[str, Callable[[Any], list[Any]]] = {
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
    return value is not UNSET


def one_spelling(request: _Generate | _Embed, kind: str) -> bool:
    """True unless ``request`` gives a field in both spellings (the slow path then names it)."""
    return not any(_is_set(getattr(request, s)) and _is_set(getattr(request, c)) for c, s in _TWINS[kind])


def snake_given(request: _Generate | _Embed) -> bool:
    """True when some snake_case field is on the request (rare: then the twins are compared).

    One expression of attribute tests, no call per field: it runs once per line.
    """
    if type(request) is _Generate:
        return bool(
            request.tool_config
            or request.safety_settings
            or request.cached_content
            or request.service_tier
            or request.system_instruction is not UNSET
            or request.generation_config is not UNSET
        )
    return bool(request.task_type or request.output_dimensionality)  # type: ignore[union-attr]


def fast_line(raw: bytes | str, kind: str) -> str | bool | None:
    """Check a line of a known ``kind`` with the typed decoder.

    :returns: the line's key (a non-empty string) or None (a line without key) when the line is
        surely valid; False when the slow path must decide.
    """
    try:
        line: _GenerateLine | _EmbedLine = FAST_DECODERS[kind](raw)
    except FAST_ERRORS:
        return False
    # An empty ``contents`` or key never gets here: the decoder refuses them (min_length=1).
    if snake_given(line.request) and not one_spelling(line.request, kind):
        return False
    if isinstance(raw, bytes):
        if raw.count(REQUEST_MEMBER) != 1:
            return False
        if EMPTY_OBJECT(raw) is not None and not parts_have_data(line.request):
            return False
    elif raw.count('"request"') != 1 or not parts_have_data(line.request):
        return False
    key = line.key
    return None if key is UNSET else key
