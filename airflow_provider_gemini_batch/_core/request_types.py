"""The request types as ``msgspec`` structs: the fast path of the input check (pure).

A typed decode checks shapes in C: unknown fields (``forbid_unknown_fields``), objects, lists,
strings, numbers, the roles a Content may have. It only ever accepts what the rules of
``_core/request_fields.py`` accept; anything it refuses goes to those rules, which name the
problem (or accept the line: the fast path may refuse more, never less). Values the check need
not read are ``msgspec.Raw`` (no string is built for a prompt's text). ``gc=False``: these
short-lived structs never form cycles; untracked, the hundreds of thousands decoded per file do
not drive the garbage collector.

Field lists: the REST reference of the Gemini API, https://ai.google.dev/api (pages
``generate-content`` for GenerateContentRequest, GenerationConfig, ThinkingConfig,
SafetySetting; ``caching#Content`` and ``caching#Part`` for Content and Part; ``caching#Tool``
for Tool; ``embeddings`` for EmbedContentRequest), as read on 2026-12-07 (the ``v1beta``
revision), in both proto-JSON spellings (lowerCamelCase and snake_case).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from airflow_provider_gemini_batch._core import request_fields as rf

_Raw = msgspec.Raw
_UNSET = msgspec.UNSET
_T = TypeVar("_T")
#: A string or list the decoder itself refuses when empty (no check per line in Python).
NonEmpty = Annotated[_T, msgspec.Meta(min_length=1)]


class _Object(msgspec.Struct, gc=False):
    """Any JSON object, its fields skipped unread (a safety setting, a tool config)."""


def _raw_struct(name: str, fields: dict[str, str]) -> type[msgspec.Struct]:
    """A struct accepting exactly ``fields`` (every spelling), each an unread ``Raw`` or UNSET when
    absent (an UNSET default costs less per decoded object than a ``Raw()`` default: measured)."""
    return msgspec.defstruct(
        name,
        [(spelling, _Raw | msgspec.UnsetType, _UNSET) for spelling in fields],
        forbid_unknown_fields=True,
        gc=False,
    )


#: Part: every field a Part may carry, values unread (which one is set is checked in Python).
Part = _raw_struct("Part", rf.PART_FIELDS)
#: Tool: a tool is an object naming one kind of tool.
Tool = _raw_struct("Tool", rf.TOOL_FIELDS)


class Content(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    parts: list[Part]  # type: ignore[valid-type]
    role: Literal["user", "model", "function"] | None = None


class SystemContent(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """``systemInstruction``: a Content whose role the service does not read."""

    parts: list[Part]  # type: ignore[valid-type]
    role: str | None = None


def _field(name: str, kind: Any) -> tuple[str, Any, Any]:
    """A struct field: of type ``kind`` (absent allowed), or an unread ``Raw`` when ``kind`` is None."""
    if kind is None:
        return (name, _Raw, _Raw())
    return (name, kind | msgspec.UnsetType, _UNSET)


def _config_struct() -> tuple[type[msgspec.Struct], type[msgspec.Struct]]:
    """GenerationConfig and its ThinkingConfig: typed where the type is checked, Raw elsewhere."""
    thinking = msgspec.defstruct(
        "ThinkingConfig",
        [
            (s, rf.THINKING_TYPES[c] | msgspec.UnsetType, _UNSET)
            if c in rf.THINKING_TYPES
            else (s, _Raw, _Raw())
            for s, c in rf.THINKING_FIELDS.items()
        ],
        forbid_unknown_fields=True,
        gc=False,
    )
    fields = [
        _field(spelling, thinking if camel == "thinkingConfig" else rf.GENERATION_TYPES.get(camel))
        for spelling, camel in rf.GENERATION_CONFIG_FIELDS.items()
    ]
    config = msgspec.defstruct("GenerationConfig", fields, forbid_unknown_fields=True, gc=False)
    return config, thinking


GenerationConfig, ThinkingConfig = _config_struct()


class Generate(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    contents: NonEmpty[list[Content]]
    model: _Raw = _Raw()
    tools: list[Tool] | msgspec.UnsetType = _UNSET  # type: ignore[valid-type]
    toolConfig: _Raw = _Raw()
    tool_config: _Raw = _Raw()
    safetySettings: list[_Object] | msgspec.UnsetType = _UNSET
    safety_settings: list[_Object] | msgspec.UnsetType = _UNSET
    # UNSET (absent) differs from None (null): a null field still counts as given.
    systemInstruction: SystemContent | msgspec.UnsetType | None = _UNSET
    system_instruction: SystemContent | msgspec.UnsetType | None = _UNSET
    generationConfig: GenerationConfig | msgspec.UnsetType | None = _UNSET  # type: ignore[valid-type]
    generation_config: GenerationConfig | msgspec.UnsetType | None = _UNSET  # type: ignore[valid-type]
    cachedContent: _Raw = _Raw()
    cached_content: _Raw = _Raw()
    labels: _Raw = _Raw()
    serviceTier: _Raw = _Raw()
    service_tier: _Raw = _Raw()
    store: _Raw = _Raw()


class Embed(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    content: Content
    model: _Raw = _Raw()
    taskType: _Raw = _Raw()
    task_type: _Raw = _Raw()
    title: _Raw = _Raw()
    outputDimensionality: _Raw = _Raw()
    output_dimensionality: _Raw = _Raw()


class GenerateLine(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    request: Generate
    key: NonEmpty[str] | msgspec.UnsetType = _UNSET


class EmbedLine(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    request: Embed
    key: NonEmpty[str] | msgspec.UnsetType = _UNSET


#: An empty JSON object, ``{}`` with any whitespace inside. A line or region without one cannot hold
#: an empty Part, so the per-Part walk of :func:`parts_have_data` is skipped for it.
EMPTY_OBJECT = re.compile(rb"\{[ \t\r\n]*\}")


def parts_have_data(request: Any) -> bool:
    """True when every Part of the request's contents (and system instruction) carries a field:
    a Part ``{}`` holds nothing the service can read, and it refuses it. ``request`` is a decoded
    Generate or Embed (or their camel-only variants). Callers first look for an empty object in
    the line's bytes (:data:`EMPTY_OBJECT`) and call this only when there is one."""
    contents = getattr(request, "contents", None)
    if contents is None:
        contents = [request.content]
    for content in contents:
        for part in content.parts:
            if not _any_set(part):
                return False
    for name in ("systemInstruction", "system_instruction"):
        system = getattr(request, name, None)
        if system is not None and system is not _UNSET:
            for part in system.parts:
                if not _any_set(part):
                    return False
    return True


def _any_set(part: Any) -> bool:
    return part.text is not _UNSET or any(
        getattr(part, name) is not _UNSET for name in part.__struct_fields__
    )
