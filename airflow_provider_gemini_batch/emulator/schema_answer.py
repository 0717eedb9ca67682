"""Structured output of the fake model: deterministic JSON valid against the request's schema.

The real model honours ``generationConfig.responseMimeType: "application/json"`` together with
``responseSchema`` (the OpenAPI 3.0 subset of the REST reference ``Schema`` type: ``type`` in
upper case ``OBJECT``/``ARRAY``/``STRING``/``INTEGER``/``NUMBER``/``BOOLEAN``, ``properties``,
``required``, ``items``, ``enum``, ``nullable``, ``minItems``, ``propertyOrdering``, ``anyOf``) or
``responseJsonSchema`` (JSON Schema: lower-case types, type lists, ``$ref``/``$defs``, ``const``,
``oneOf``) - REST reference GenerationConfig. Both spellings of each field are read
(``response_schema`` ...). The instance depends only on the schema and the prompt, so tests can
compute it: strings echo the field name and a prompt digest (or take the ``format``'s shape),
within ``minLength``/``maxLength``; numbers come from the digest, inside ``minimum``/``maximum``;
enums pick one value by the digest; arrays hold ``max(1, minItems)`` items (at most ``maxItems``);
objects every property. Schemas from pydantic's ``model_json_schema()`` (``$defs``, ``anyOf``
with ``null`` for optional fields, ``Field(ge=0, le=1)`` as ``minimum``/``maximum``) are valid
input: the answers validate against the model that wrote the schema.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from typing import Any

from airflow_provider_gemini_batch.emulator.wire import field

JSON_MIME = "application/json"
_MAX_DEPTH = 8


def structured_answer(generation_config: Any, prompt: str) -> str | None:
    """The JSON answer text for a JSON-mode request, or None when the request did not ask for JSON."""
    mime = field(generation_config, "responseMimeType")
    if not isinstance(mime, str) or mime.split(";")[0].strip().lower() != JSON_MIME:
        return None
    schema = field(generation_config, "responseJsonSchema")
    if schema is None:
        schema = field(generation_config, "responseSchema")
    if not isinstance(schema, dict):
        return json.dumps({"answer": prompt})
    seed = hashlib.sha256(prompt.encode("utf-8")).digest()
    return json.dumps(instance(schema, seed, root=schema))


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # JSON Schema type list, e.g. ["string", "null"]: first non-null
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    if "enum" in schema:
        return "string"
    return None


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/X``, ``#/definitions/X``; pydantic writes the former)."""
    seen = 0
    while isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#") and seen < _MAX_DEPTH:
        node: Any = root
        for part in schema["$ref"][1:].lstrip("/").split("/"):
            if part:
                node = (
                    node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
                )
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **siblings} if isinstance(node, dict) else siblings
        seen += 1
    return schema


def _is_null(option: Any) -> bool:
    return isinstance(option, dict) and str(option.get("type", "")).lower() == "null"


def _merge_all_of(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` folded into one schema (pydantic wraps a described ``$ref`` so)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        if isinstance(part, dict):
            resolved = _resolve(part, root)
            for key, value in resolved.items():
                if key == "properties" and isinstance(merged.get("properties"), dict):
                    merged["properties"] = {**merged["properties"], **value}
                elif key == "required" and isinstance(merged.get("required"), list):
                    merged["required"] = list(dict.fromkeys([*merged["required"], *value]))
                else:
                    merged.setdefault(key, value)
    return merged


def _number(schema: dict[str, Any], key: str) -> float | None:
    value = field(schema, key)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float | None, float | None]:
    """The closed range ``[low, high]`` a number must lie in (exclusive bounds in both the draft-4
    boolean and the later numeric form), either end None when open."""
    low, high = _number(schema, "minimum"), _number(schema, "maximum")
    ex_low, ex_high = field(schema, "exclusiveMinimum"), field(schema, "exclusiveMaximum")
    step = 1.0 if integer else 1e-6
    if ex_low is True and low is not None:
        low += step
    elif isinstance(ex_low, (int, float)) and not isinstance(ex_low, bool):
        low = max(low, ex_low + step) if low is not None else ex_low + step
    if ex_high is True and high is not None:
        high -= step
    elif isinstance(ex_high, (int, float)) and not isinstance(ex_high, bool):
        high = min(high, ex_high - step) if high is not None else ex_high - step
    if integer:
        low = None if low is None else float(math.ceil(low))
        high = None if high is None else float(math.floor(high))
    return low, high


def _pick_number(schema: dict[str, Any], number: int, integer: bool) -> int | float:
    """A number in the schema's range (``minimum``/``maximum``, exclusive bounds, ``multipleOf``)."""
    low, high = _bounds(schema, integer)
    if low is not None and high is not None and high < low:
        high = low
    fraction = (number % 10001) / 10000
    if low is not None and high is not None:
        value = low + (high - low) * fraction
    elif low is not None:
        value = low + (number % 100 if integer else (number % 10000) / 100)
    elif high is not None:
        value = high - (number % 100 if integer else (number % 10000) / 100)
    else:
        value = number % 100 if integer else (number % 10000) / 100
    multiple = _number(schema, "multipleOf")
    if multiple and multiple > 0:
        value = math.floor(value / multiple) * multiple
        if low is not None and value < low:
            value += multiple
    if integer:
        return round(value)
    value = round(value, 6)
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00",
    "duration": "P1D",
}


def _pick_string(schema: dict[str, Any], name: str, seed: bytes, number: int) -> str:
    """A string for the schema's ``format`` and within ``minLength``/``maxLength``."""
    digest = hashlib.sha256(seed + name.encode("utf-8")).hexdigest()
    fmt = schema.get("format")
    if fmt in _FORMATS:
        text = _FORMATS[fmt]
    elif fmt == "email":
        text = f"user{digest[:8]}@example.com"
    elif fmt == "uuid":
        text = str(uuid.UUID(digest[:32]))
    elif fmt in ("uri", "url", "uri-reference"):
        text = f"https://example.com/{digest[:8]}"
    elif fmt == "ipv4":
        text = f"192.0.2.{number % 250 + 1}"
    else:
        text = f"emulated {name} {seed.hex()[:8]}"
    low = _number(schema, "minLength")
    high = _number(schema, "maxLength")
    if high is not None and len(text) > high:
        text = text[: int(high)] if fmt is None else digest[: int(high)]
    if low is not None and len(text) < low:
        text += "x" * (int(low) - len(text))
    return text


def instance(
    schema: dict[str, Any], seed: bytes, root: dict[str, Any], name: str = "value", depth: int = 0
) -> Any:
    """A value valid against ``schema`` chosen by ``seed`` (see the module docstring).

    Honoured: ``type`` (both cases, type lists), ``enum``, ``const``, ``minimum``/``maximum``
    (and exclusive bounds, ``multipleOf``), ``minLength``/``maxLength``, ``format`` (date-time,
    date, time, duration, email, uuid, uri, ipv4), ``minItems``/``maxItems``, ``properties``
    (every one, in ``propertyOrdering``, so ``required`` holds), ``nullable`` and ``anyOf``/``oneOf``
    (a non-null option: a value is more useful than ``null``), ``allOf``, ``$ref``/``$defs``.
    ``pattern`` is not generated for.
    """
    if depth > _MAX_DEPTH:
        return None
    schema = _merge_all_of(_resolve(schema, root), root)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if isinstance(o, dict) and not _is_null(o)] or [options[0]]
            base = {k: v for k, v in schema.items() if k != key}
            return instance({**base, **_resolve(usable[0], root)}, seed, root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    number = int.from_bytes(hashlib.sha256(seed + name.encode("utf-8")).digest()[:4], "big")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        values = [v for v in enum if v is not None] or enum
        return values[number % len(values)]
    kind = _type_of(schema)
    if kind == "object":
        properties = field(schema, "properties") or {}
        order = field(schema, "propertyOrdering") or list(properties)
        order = [p for p in order if p in properties] + [p for p in properties if p not in order]
        return {
            p: instance(properties[p], seed, root, p, depth + 1)
            for p in order
            if isinstance(properties[p], dict)
        }
    if kind == "array":
        raw_items = schema.get("items")
        items: dict[str, Any] = raw_items if isinstance(raw_items, dict) else {"type": "STRING"}
        count = max(1, int(_number(schema, "minItems") or 0))
        most = _number(schema, "maxItems")
        if most is not None:
            count = min(count, int(most))
        return [instance(items, seed, root, f"{name}[{i}]", depth + 1) for i in range(count)]
    if kind in ("integer", "number"):
        return _pick_number(schema, number, kind == "integer")
    if kind == "boolean":
        return number % 2 == 0
    if kind == "null":
        return None
    return _pick_string(schema, name, seed, number)
