"""Check one batch request's fields against the REST request type, before anything is sent.

Pure and cheap (it runs once per line of input files of up to 2 GB): set lookups on the top-level
keys, one pass over ``contents``; no regular expressions, no copies.

Field lists (both proto-JSON spellings accepted, lowerCamelCase and snake_case):

* ``GenerateContentRequest`` (generateContent batches), REST reference
  https://ai.google.dev/api/generate-content (request body of ``models.generateContent``):
  ``model, contents, tools, toolConfig, safetySettings, systemInstruction, generationConfig,
  cachedContent``. The ``google-genai`` SDK also puts ``labels``, ``serviceTier`` and ``store``
  at the top level of each inlined request (google-genai 3.4.0 ``batches.py`` ``_InlinedRequest_to_mldev``),
  so those pass too.
* ``EmbedContentRequest`` (embedding batches), REST reference https://ai.google.dev/api/embeddings:
  ``model, content, taskType, title, outputDimensionality``.
* ``Content`` (``contents[i]``, ``systemInstruction``, ``content``): ``parts`` (a list of Part
  objects) and ``role`` (a string), REST reference https://ai.google.dev/api/caching#Content.

Why check at all: the service rejects a whole batch at create for one unknown field, e.g.
``Error on line 1: invalid JSON, near column 1032: no such field: 'thinking_config'``
(UKGovernmentBEIS/inspect_ai issue #3257, fixed by PR #3273: the file line must be the raw REST
request, with generation settings under ``generationConfig``), and it has been seen to ignore other
misplaced settings without a word (PR #3273: flat fields "happened to work" since the API is
lenient; google-gemini/cookbook issue #846: ``generation_config`` put beside ``request`` on the
line had no effect). Snake_case inside ``generationConfig`` is read (python-genai issue #1103).

Line-level fields other than ``key`` and ``request`` are not read by the service; it echoes them
on the result line (go-genai issue #513). A line field that is a request or generation
setting (the cookbook #846 mistake) is an error here; any other one is reported for a warning.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Kinds of request, as the batch's create call decides them.
GENERATE = "GenerateContentRequest"
EMBED = "EmbedContentRequest"


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def _spellings(*camel: str) -> dict[str, str]:
    """Map every accepted spelling (camel and snake) to its lowerCamelCase name."""
    out: dict[str, str] = {}
    for name in camel:
        out[name] = name
        out[_snake(name)] = name
    return out


#: REST reference GenerateContentRequest, plus the SDK's top-level extras (see module docstring).
GENERATE_FIELDS: dict[str, str] = _spellings(
    "model",
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
    "labels",
    "serviceTier",
    "store",
)
#: REST reference EmbedContentRequest.
EMBED_FIELDS: dict[str, str] = _spellings("model", "content", "taskType", "title", "outputDimensionality")
#: REST reference Content.
CONTENT_FIELDS: frozenset[str] = frozenset(("parts", "role"))

#: REST reference GenerationConfig (https://ai.google.dev/api/generate-content#generationconfig):
#: a request-level field with one of these names belongs under ``generationConfig``.
_GENERATION_CONFIG: dict[str, str] = _spellings(
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
)

#: Every field of GenerationConfig (both spellings), as the input check accepts them.
GENERATION_CONFIG_FIELDS: dict[str, str] = _GENERATION_CONFIG
#: GenerationConfig fields whose JSON type is checked (the others are objects/enums read as given).
GENERATION_TYPES: dict[str, Any] = {
    "temperature": float,
    "topP": float,
    "topK": int,
    "candidateCount": int,
    "maxOutputTokens": int,
    "seed": int,
    "presencePenalty": float,
    "frequencyPenalty": float,
    "responseLogprobs": bool,
    "logprobs": int,
    "enableEnhancedCivicAnswers": bool,
    "stopSequences": list[str],
    "responseMimeType": str,
    "responseModalities": list[str],
}
#: REST reference ThinkingConfig (https://ai.google.dev/api/generate-content#ThinkingConfig).
THINKING_FIELDS: dict[str, str] = _spellings("includeThoughts", "thinkingBudget", "thinkingLevel")
THINKING_TYPES: dict[str, Any] = {"includeThoughts": bool, "thinkingBudget": int}
#: REST reference Part (https://ai.google.dev/api/caching#Part): the data fields and metadata.
PART_FIELDS: dict[str, str] = _spellings(
    "text",
    "inlineData",
    "functionCall",
    "functionResponse",
    "fileData",
    "executableCode",
    "codeExecutionResult",
    "thought",
    "thoughtSignature",
    "partMetadata",
    "videoMetadata",
    "mediaResolution",
)
#: REST reference Tool (https://ai.google.dev/api/caching#Tool).
TOOL_FIELDS: dict[str, str] = _spellings(
    "functionDeclarations",
    "googleSearchRetrieval",
    "codeExecution",
    "googleSearch",
    "computerUse",
    "urlContext",
    "fileSearch",
    "googleMaps",
    "mcpServers",
)
#: Roles a Content of ``contents`` may have (REST Content.role: "user" or "model"; "function"
#: is the older role of a function response, still sent by some clients).
CONTENT_ROLES: frozenset[str] = frozenset(("user", "model", "function"))

#: Names that are settings of some request: on a JSONL line beside ``request`` they do nothing.
_REQUEST_SETTINGS: frozenset[str] = (
    frozenset(GENERATE_FIELDS) | frozenset(EMBED_FIELDS) | frozenset(_GENERATION_CONFIG) | {"config"}
)

#: The fields of a JSONL input line the service reads.
LINE_FIELDS: frozenset[str] = frozenset(("key", "request"))

_CONTENT_EXAMPLE = '{"role": "user", "parts": [{"text": "..."}]}'


@dataclass(frozen=True)
class FieldProblem:
    """One problem: ``field`` is a dotted path inside the request (``contents[0].parts``)."""

    field: str
    message: str


def _is_object(value: Any) -> bool:
    # JSON objects are dicts: the exact-type test is many times faster than the ABC check, and
    # this runs for every part of every line of a 2 GB file.
    return type(value) is dict or isinstance(value, Mapping)


def kind_of(request: Mapping[str, Any]) -> str:
    """:data:`EMBED` for a request with ``content`` and no ``contents``, else :data:`GENERATE`."""
    if "content" in request and "contents" not in request:
        return EMBED
    return GENERATE


def _field_list(fields: Mapping[str, str]) -> str:
    return ", ".join(dict.fromkeys(fields.values()))


def _unknown(name: str, kind: str) -> FieldProblem:
    fields = GENERATE_FIELDS if kind == GENERATE else EMBED_FIELDS
    if kind == GENERATE and name in _GENERATION_CONFIG:
        camel = _GENERATION_CONFIG[name]
        hint = f"{name} belongs under generationConfig.{camel}, not at the top of the request"
    elif name == "config":
        hint = (
            "config is the SDK's GenerateContentConfig, not a REST field: put generation settings under "
            "generationConfig, and systemInstruction, tools, toolConfig, safetySettings and cachedContent "
            "at the top of the request"
        )
    elif name == "key":
        hint = 'a bare request cannot carry its key; write {"key": "...", "request": {...}}'
    elif name == "metadata":
        hint = 'metadata goes beside the request: {"request": {...}, "metadata": {...}}'
    elif kind == EMBED and name in ("contents", "generationConfig", "generation_config"):
        hint = (
            f"{name} is a generateContent field; an EmbedContentRequest takes one content object "
            "(a Content) and taskType, title, outputDimensionality. For a generateContent batch do not "
            "set embeddings=True"
        )
    elif kind == GENERATE and name in EMBED_FIELDS:
        hint = (
            f"{name} is an EmbedContentRequest field; a GenerateContentRequest takes contents (a list of "
            "Content). For an embedding batch set embeddings=True"
        )
    else:
        hint = f"{name} is not a field of {kind}; its fields are {_field_list(fields)}"
    return FieldProblem(
        name, f'{hint}. The service rejects unknown fields at create ("no such field") or ignores them.'
    )


def _check_content(value: Any, where: str, *, system: bool = False) -> FieldProblem | None:
    """A Content object: ``{"parts": [Part, ...], "role"?: str}``; the problem spelled out, or None.

    ``system``: the content is a ``systemInstruction`` (its role is not read by the service).
    """
    if not _is_object(value):
        return FieldProblem(
            where, f"{where} must be a Content object like {_CONTENT_EXAMPLE}, got {type(value).__name__}."
        )
    for name in value:
        if name not in CONTENT_FIELDS:
            extra = ' (text goes inside parts: {"parts": [{"text": "..."}]})' if name == "text" else ""
            return FieldProblem(
                f"{where}.{name}",
                f"{where}.{name} is not a field of Content; its fields are parts, role{extra}.",
            )
    parts = value.get("parts")
    if not isinstance(parts, (list, tuple)):
        got = "nothing" if parts is None else type(parts).__name__
        return FieldProblem(
            f"{where}.parts",
            f'{where}.parts must be a list of Part objects like [{{"text": "..."}}], got {got}.',
        )
    for index, part in enumerate(parts):
        problem = _check_part(part, f"{where}.parts[{index}]")
        if problem is not None:
            return problem
    role = value.get("role")
    if role is not None and not isinstance(role, str):
        return FieldProblem(f"{where}.role", f'{where}.role must be a string ("user" or "model").')
    if role is not None and system is False and role not in CONTENT_ROLES:
        if role == "system":
            fix = (
                'the system prompt goes in request.systemInstruction ({"parts": [{"text": "..."}]}), '
                "not in contents"
            )
        else:
            fix = 'use "user" for the prompt and "model" for earlier answers'
        return FieldProblem(f"{where}.role", f"{where}.role {role!r} is not a role of Content; {fix}.")
    return None


def _check_part(part: Any, where: str) -> FieldProblem | None:
    """A Part: an object with known fields and at least one of them set."""
    if not _is_object(part):
        return FieldProblem(
            where, f'{where} must be a Part object like {{"text": "..."}}, got {type(part).__name__}.'
        )
    for name in part:
        if name not in PART_FIELDS:
            return FieldProblem(
                f"{where}.{name}",
                f"{where}.{name} is not a field of Part{_did_you_mean(name, PART_FIELDS)}; its fields are "
                f"{_field_list(PART_FIELDS)}.",
            )
    if not part:
        return FieldProblem(
            where, f'{where} is an empty Part; give it a text ({{"text": "..."}}), inlineData or fileData.'
        )
    return None


def _did_you_mean(name: str, fields: Mapping[str, str]) -> str:
    """``" (did you mean X?)"`` for a near miss of one of ``fields``; empty otherwise."""
    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.75)
    return f" (did you mean {fields[close[0]]}?)" if close else ""


def check_request(request: Mapping[str, Any], kind: str) -> FieldProblem | None:
    """The first problem of ``request`` as a ``kind`` (:data:`GENERATE` or :data:`EMBED`), or None.

    Checks: every top-level field is a field of the type (either spelling, not both); the required
    ``contents`` (a non-empty list of Content) or ``content`` (one Content) is there;
    ``systemInstruction`` is a Content object (not a string); ``generationConfig`` is an object.
    """
    fields = GENERATE_FIELDS if kind == GENERATE else EMBED_FIELDS
    for given in request:
        canonical = fields.get(given)
        if canonical is None:
            return _unknown(given, kind)
        # Only a snake_case key differs from its canonical name; seen from that side, a field
        # given in both spellings is found without building anything per request.
        if canonical is not given and canonical != given and canonical in request:
            return FieldProblem(
                given, f"{canonical} is given twice (as {canonical} and {given}); keep one spelling."
            )
    if kind == EMBED:
        if "content" not in request:
            return FieldProblem(
                "content",
                'content is missing; an EmbedContentRequest needs content: {"parts": [{"text": "..."}]}.',
            )
        return _check_content(request["content"], "content")
    contents = request.get("contents")
    if contents is None:
        return FieldProblem(
            "contents", f"contents is missing; a GenerateContentRequest needs contents: [{_CONTENT_EXAMPLE}]."
        )
    if type(contents) is not list and not isinstance(contents, (list, tuple)):
        return FieldProblem(
            "contents",
            f"contents must be a list of Content objects like [{_CONTENT_EXAMPLE}], "
            f"got {type(contents).__name__} (a plain string is the SDK's shorthand, not the REST field).",
        )
    if not contents:
        return FieldProblem(
            "contents", f"contents is empty; give at least one Content like {_CONTENT_EXAMPLE}."
        )
    for index, item in enumerate(contents):
        problem = _check_content(item, f"contents[{index}]")
        if problem is not None:
            return problem
    name = "systemInstruction" if "systemInstruction" in request else "system_instruction"
    value = request.get(name)
    if value is not None:
        if isinstance(value, str):
            return FieldProblem(
                name,
                f'{name} must be a Content object like {{"parts": [{{"text": "..."}}]}}, not a string '
                "(a plain string is the SDK's shorthand, not the REST field).",
            )
        problem = _check_content(value, name, system=True)
        if problem is not None:
            return problem
    name = "generationConfig" if "generationConfig" in request else "generation_config"
    value = request.get(name)
    if value is not None:
        if not _is_object(value):
            return FieldProblem(name, f'{name} must be an object like {{"temperature": 0.2}}.')
        problem = _check_generation_config(value, name)
        if problem is not None:
            return problem
    return _check_tools(request) or _check_safety_settings(request)


def _check_generation_config(config: Mapping[str, Any], where: str) -> FieldProblem | None:
    """Every field of ``generationConfig`` known, in its place, and of its JSON type."""
    for name, value in config.items():
        camel = GENERATION_CONFIG_FIELDS.get(name)
        if camel is None:
            return _unknown_config_field(name, where)
        expected = GENERATION_TYPES.get(camel)
        if expected is not None and value is not None and not _fits(value, expected):
            return _wrong_type(f"{where}.{name}", value, expected)
        if camel == "thinkingConfig" and value is not None:
            inner = f"{where}.{name}"
            if not _is_object(value):
                return FieldProblem(inner, f'{inner} must be an object like {{"thinkingBudget": 1024}}.')
            for field_name, field_value in value.items():
                field_camel = THINKING_FIELDS.get(field_name)
                if field_camel is None:
                    return FieldProblem(
                        f"{inner}.{field_name}",
                        f"{inner}.{field_name} is not a field of ThinkingConfig"
                        f"{_did_you_mean(field_name, THINKING_FIELDS)}; its fields are "
                        f"{_field_list(THINKING_FIELDS)}.",
                    )
                want = THINKING_TYPES.get(field_camel)
                if want is not None and field_value is not None and not _fits(field_value, want):
                    return _wrong_type(f"{inner}.{field_name}", field_value, want)
    return None


def _unknown_config_field(name: str, where: str) -> FieldProblem:
    """What to do with a field ``generationConfig`` does not have."""
    path = f"{where}.{name}"
    if name in GENERATE_FIELDS and GENERATE_FIELDS[name] != "model":
        camel = GENERATE_FIELDS[name]
        fix = f"{camel} is a field of the request, not of generationConfig: move it to request.{camel}"
        if camel == "cachedContent":
            fix += ' ("cachedContents/...")'
    elif name in THINKING_FIELDS:
        camel = THINKING_FIELDS[name]
        fix = f"{name} belongs under {where}.thinkingConfig.{camel}"
    else:
        fix = (
            f"{name} is not a field of GenerationConfig{_did_you_mean(name, GENERATION_CONFIG_FIELDS)}; "
            f"its fields are {_field_list(GENERATION_CONFIG_FIELDS)}"
        )
    return FieldProblem(path, f"{fix}. The service refuses unknown fields at create or ignores them.")


_TYPE_NAMES = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}


def _fits(value: Any, expected: Any) -> bool:
    """Whether a JSON value is of the proto-JSON type ``expected`` (float, int, bool, str or
    list[str]). Proto3 JSON also accepts numbers written as strings ("0.5", "100"), so those fit."""
    if expected is bool:
        return type(value) is bool
    if expected is str:
        return type(value) is str
    if expected is float or expected is int:
        if type(value) is bool:
            return False
        if isinstance(value, (int, float)):
            return expected is float or float(value).is_integer()
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return False
            return expected is float or number.is_integer()
        return False
    return isinstance(value, list) and all(type(item) is str for item in value)


def _wrong_type(path: str, value: Any, expected: Any) -> FieldProblem:
    want = _TYPE_NAMES.get(expected, "a list of strings")
    return FieldProblem(path, f"{path} must be {want}, got {json.dumps(value)[:60]}.")


def _check_tools(request: Mapping[str, Any]) -> FieldProblem | None:
    """``tools``: a list of Tool objects, each naming known kinds of tool."""
    name = "tools"
    if "tools" not in request:
        return None
    tools = request["tools"]
    example = '[{"googleSearch": {}}]'
    if not isinstance(tools, list):
        return FieldProblem(
            name, f"tools must be a list of Tool objects like {example}, got {type(tools).__name__}."
        )
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not _is_object(tool):
            return FieldProblem(where, f"{where} must be a Tool object like {example[1:-1]}.")
        for field_name in tool:
            if field_name in TOOL_FIELDS:
                continue
            if field_name in ("cachedContent", "cached_content"):
                fix = 'a cache is not a tool: put its name at request.cachedContent ("cachedContents/...")'
            else:
                fix = (
                    f"{field_name} is not a field of Tool{_did_you_mean(field_name, TOOL_FIELDS)}; its "
                    f"fields are {_field_list(TOOL_FIELDS)}"
                )
            return FieldProblem(f"{where}.{field_name}", f"{fix}.")
    return None


def _check_safety_settings(request: Mapping[str, Any]) -> FieldProblem | None:
    """``safetySettings``: a list of SafetySetting objects."""
    name = "safetySettings" if "safetySettings" in request else "safety_settings"
    value = request.get(name)
    if value is None:
        return None
    example = '[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]'
    if not isinstance(value, list):
        return FieldProblem(name, f"{name} must be a list of SafetySetting objects like {example}.")
    for index, item in enumerate(value):
        if not _is_object(item):
            return FieldProblem(
                f"{name}[{index}]", f"{name}[{index}] must be an object like {example[1:-1]}."
            )
    return None


def check_line_field(name: str) -> FieldProblem | None:
    """A JSONL line field other than ``key``/``request``: an error if it is a request setting.

    A setting beside ``request`` is not read by the service (google-gemini/cookbook issue #846);
    other names return None: they are echoed on the result line (go-genai issue #513)
    and the caller may warn about them.
    """
    if name in _REQUEST_SETTINGS:
        where = "request.generationConfig" if name in _GENERATION_CONFIG else "request"
        return FieldProblem(
            name,
            f'{name} is beside "request" on the line, where the service does not read it; move it into '
            f"{where}.",
        )
    return None
