"""Mode ``strict_request_fields``: the create-time check the live service makes of each request.

Source [LIVE]: UKGovernmentBEIS/inspect_ai issue #3257 quotes the service's answer to a batch whose
lines carried ``thinking_config`` at the top of the request: HTTP 400 with the message
``Error on line 1: invalid JSON, near column 1032: no such field: 'thinking_config'`` followed by
``\\nError on line 2: ...`` - one line per offending input line, joined with newlines.

Known top-level fields (both spellings accepted) are those of the request types in the REST
reference: ``GenerateContentRequest`` and ``EmbedContentRequest``, plus ``labels``, ``serviceTier``
and ``store``, which google-genai 3.4.0 places at the top of each inlined request (python-genai
``batches.py`` ``_InlinedRequest_to_mldev``;
python-genai ``batches.py``): a strict emulator that refused what the official SDK sends would
agree with nobody. Whether the live service applies them is not known.
"""

from __future__ import annotations

import json
import re
from typing import Any

_GENERATE_FIELDS = (
    "model",
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
    # Sent by the SDK at the top of inlined requests (python-genai ``_InlinedRequest_to_mldev``).
    "labels",
    "serviceTier",
    "store",
)
_EMBED_FIELDS = ("model", "content", "taskType", "title", "outputDimensionality")


def _both_spellings(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names) | {re.sub(r"(?<!^)([A-Z])", r"_\1", n).lower() for n in names}


KNOWN_FIELDS = {"generate": _both_spellings(_GENERATE_FIELDS), "embed": _both_spellings(_EMBED_FIELDS)}


def _request_of(item: Any) -> Any:
    """The request object of a file line or inline item (``{"key"/"metadata", "request"}`` or bare)."""
    if isinstance(item, dict) and isinstance(item.get("request"), dict):
        return item["request"]
    return item


def unknown_field_errors(kind: str, lines: list[str]) -> list[str]:
    """``Error on line N: ...`` for every line whose request has a top-level field its type lacks.

    :param kind: ``"generate"`` or ``"embed"``.
    :param lines: the JSON text of each input line (file lines, or inline items serialised),
        numbered from 1; blank and non-JSON lines are left to the per-row checks.
    """
    known = KNOWN_FIELDS[kind]
    errors: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        request = _request_of(item)
        if not isinstance(request, dict):
            continue
        for name in request:
            if name not in known:
                column = line.find(f'"{name}"') + 1
                errors.append(
                    f"Error on line {number}: invalid JSON, near column {column}: no such field: '{name}'"
                )
                break
    return errors
