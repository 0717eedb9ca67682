"""The standard Google ``fields`` partial-response parameter (system parameter of every REST method).

Syntax subset implemented (Google API "partial response" system parameter, listed in the
``generativelanguage`` discovery document's ``parameters``): a comma-separated list of paths;
``a/b`` selects ``b`` inside ``a``; ``a(b,c/d)`` selects several fields inside ``a``; a selection
applied to an array applies to each element. Unknown names select nothing, and a message of which
nothing was selected is left out. Example::

    name,done,error,metadata(state,batchStats,createTime,updateTime,endTime,output/responsesFile)
"""

from __future__ import annotations

from typing import Any

# name -> sub-selection; None means "the whole value".
Mask = dict[str, "Mask | None"]


class FieldsError(ValueError):
    """A ``fields`` value that does not parse (unbalanced parentheses, empty name)."""


def parse_fields(text: str) -> Mask:
    """Parse a ``fields`` value into a selection tree.

    :raises FieldsError: malformed value, e.g. ``"a(b"`` or ``"a,,b"``.
    """
    mask, position = _parse_list(text.replace(" ", ""), 0)
    if position != len(text.replace(" ", "")):
        raise FieldsError(f"Invalid field selection {text!r}: unexpected ')' at {position}.")
    return mask


def _parse_list(text: str, i: int) -> tuple[Mask, int]:
    mask: Mask = {}
    while True:
        start = i
        while i < len(text) and text[i] not in ",()":
            i += 1
        path = text[start:i]
        if not path or any(not part for part in path.split("/")):
            raise FieldsError(f"Invalid field selection {text!r}: empty field name at {start}.")
        sub: Mask | None = None
        if i < len(text) and text[i] == "(":
            sub, i = _parse_list(text, i + 1)
            if i >= len(text) or text[i] != ")":
                raise FieldsError(f"Invalid field selection {text!r}: missing ')'.")
            i += 1
        _merge(mask, path.split("/"), sub)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        return mask, i


def _merge(mask: Mask, parts: list[str], sub: Mask | None) -> None:
    head, rest = parts[0], parts[1:]
    if rest:
        sub = _nest(rest, sub)
    if head in mask:
        existing = mask[head]
        if existing is None or sub is None:
            mask[head] = None  # one selection asks for the whole value: keep it whole
            return
        for key, value in sub.items():
            _merge(existing, [key], value)
        return
    mask[head] = sub


def _nest(parts: list[str], sub: Mask | None) -> Mask:
    node: Mask = {parts[-1]: sub}
    for part in reversed(parts[:-1]):
        node = {part: node}
    return node


def apply_fields(data: Any, mask: Mask) -> Any:
    """``data`` reduced to the fields selected by ``mask`` (arrays: per element)."""
    if isinstance(data, list):
        return [apply_fields(item, mask) for item in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in mask:
            continue
        sub = mask[key]
        if sub is None:
            out[key] = value
            continue
        reduced = apply_fields(value, sub)
        if reduced == {} and isinstance(value, dict):
            continue  # nothing selected inside this message: proto3 JSON leaves it out
        out[key] = reduced
    return out
