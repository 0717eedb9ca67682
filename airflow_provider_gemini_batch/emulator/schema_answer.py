"""Structured output of the fake model: deterministic JSON valid against the request's schema.

The real model honours ``generationConfig.responseMimeType: "application/json"`` together with
``responseSchema`` (the OpenAPI 3.0 subset of the REST reference ``Schema`` type: ``type`` in
upper case ``OBJECT``/``ARRAY``/``STRING``/``INTEGER``/``NUMBER``/``BOOLEAN``, ``properties``,
``required``, ``items``, ``enum``, ``nullable``, ``minItems``, ``propertyOrdering``, ``anyOf``) or
``responseJsonSchema`` (JSON Schema: lower-case types, type lists, ``$ref``/``$defs``, ``const``,
``oneOf``) - REST reference GenerationConfig. Both spellings of each field are read
(``response_schema`` ...). The instance depends only on the schema and the prompt, so tests can
compute it: strings echo the field name and a prompt digest, numbers come from the digest, enums
pick one value by the digest, arrays hold ``max(1, minItems)`` items, objects every property.
"""

from __future__ import annotations

import hashlib
import json
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
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def instance(
    schema: dict[str, Any], seed: bytes, root: dict[str, Any], name: str = "value", depth: int = 0
) -> Any:
    """A value valid against ``schema`` chosen by ``seed`` (see the module docstring)."""
    schema = _resolve(schema, root)
    if depth > _MAX_DEPTH:
        return None
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options and isinstance(options[0], dict):
            return instance(options[0], seed, root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    number = int.from_bytes(hashlib.sha256(seed + name.encode("utf-8")).digest()[:4], "big")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[number % len(enum)]
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
        count = max(1, int(field(schema, "minItems") or 0))
        return [instance(items, seed, root, f"{name}[{i}]", depth + 1) for i in range(count)]
    if kind == "integer":
        low = int(field(schema, "minimum") or 0)
        return low + number % 100
    if kind == "number":
        floor = float(field(schema, "minimum") or 0)
        return floor + (number % 10000) / 100
    if kind == "boolean":
        return number % 2 == 0
    if kind == "null":
        return None
    if schema.get("format") == "date-time":
        return "2025-01-01T00:00:00Z"
    return f"emulated {name} {seed.hex()[:8]}"
