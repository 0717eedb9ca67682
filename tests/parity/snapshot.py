"""Snapshot files of the parity suite: normalising answers, and comparing an answer to a snapshot.

A snapshot (``tests/parity/snapshots/<scenario>.json``) is::

    {"scenario": str, "source": {"kind": "recorded" | "public", ...},
     "exchanges": [{"request": {"method", "path", "body"},
                    "response": {"status": int, "headers": {name: value} | null,
                                 "kind": "json" | "jsonl" | "empty" | "text", "body": ...}}]}

Values that vary between runs are placeholders: ``<id>`` (the id part of ``batches/…`` and
``files/…`` names, and any id the run saw), ``<time>`` (RFC 3339 times), ``<token>`` (page
tokens, response ids, upload ids), ``{base}`` (the origin of a URL on the service). A placeholder
matches any value of its JSON type; the comparison is of status, field names and JSON types, plus
the gRPC ``error.status`` string (a status is part of the meaning). ``headers`` null means the
source did not show them (not compared).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"

#: Response headers that change what a client does (upload protocol, body type); others are noise.
HEADERS_THAT_MATTER = (
    "content-type",
    "x-goog-upload-status",
    "x-goog-upload-url",
    "x-goog-upload-control-url",
    "x-goog-upload-chunk-granularity",
    "x-goog-upload-size-received",
)
#: Fields whose value is an opaque token whatever it looks like.
TOKEN_FIELDS = frozenset({"nextPageToken", "responseId"})
#: Query parameters kept as they are in URLs (they are protocol, not identity).
PLAIN_QUERY = frozenset({"upload_protocol", "alt"})

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
_NAME = re.compile(r"\b(batches|files)/([A-Za-z0-9_-]+)(?![A-Za-z0-9_<-])")
_URL = re.compile(r"https?://[^\s\"']+")

PLACEHOLDER_VALUES = {"<id>": "parity0id", "<time>": "2026-01-01T00:00:00Z", "<token>": "paritytoken"}


def _name_placeholder(match: re.Match[str]) -> str:
    # Result files are ``files/batch-<batch id>``: keep the prefix, it is the service's rule.
    prefix = "batch-" if match.group(1) == "files" and match.group(2).startswith("batch-") else ""
    return f"{match.group(1)}/{prefix}<id>"


class SecretLeak(AssertionError):
    """A secret was found in what would be written to a snapshot."""


class Normaliser:
    """Replace run-specific values by placeholders.

    :param base_url: the origin the run talked to (its URLs become ``{base}``).
    :param literals: concrete values seen in the run (ids, upload ids) → their placeholder.
    :param secrets: values that must never be written (the API key); replaced, then asserted absent.
    """

    def __init__(
        self, base_url: str, literals: Mapping[str, str] | None = None, secrets: tuple[str, ...] = ()
    ) -> None:
        self.base = base_url.rstrip("/")
        self.literals = dict(literals or {})
        self.secrets = tuple(s for s in secrets if s)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "<key>")
        value = _URL.sub(lambda m: self.url(m.group(0)), value)
        value = _TIME.sub("<time>", value)
        # Longest first, so an id that contains another is replaced whole.
        for literal in sorted(self.literals, key=len, reverse=True):
            value = value.replace(literal, self.literals[literal])
        return _NAME.sub(_name_placeholder, value)

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        origin = "{base}" if url.startswith(self.base) or "googleapis.com" in parts.netloc else "<url>"
        query = [(k, v if k in PLAIN_QUERY else "<token>") for k, v in parse_qsl(parts.query)]
        path = _NAME.sub(_name_placeholder, parts.path)
        return origin + path + (f"?{urlencode(query, safe='<>')}" if query else "")

    def value(self, value: Any, field: str | None = None) -> Any:
        if isinstance(value, str):
            return "<token>" if field in TOKEN_FIELDS else self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        lowered = {k.lower(): v for k, v in headers.items()}
        out = {}
        for name in HEADERS_THAT_MATTER:
            if name in lowered:
                value = lowered[name]
                out[name] = value.split(";")[0].strip() if name == "content-type" else self.text(value)
        return out

    def check_clean(self, snapshot: Mapping[str, Any]) -> None:
        """:raises SecretLeak: a secret survived normalisation (the snapshot must not be written)."""
        dumped = json.dumps(snapshot)
        for secret in self.secrets:
            if secret in dumped:
                raise SecretLeak("a secret value is still in the snapshot; nothing was written")


def response_record(status: int, headers: Mapping[str, str], content: bytes) -> dict[str, Any]:
    """The un-normalised record of one answer: its body decoded as JSON, JSONL lines or text."""
    kind, body = decode_body(content)
    return {"status": status, "headers": dict(headers), "kind": kind, "body": body}


def decode_body(content: bytes) -> tuple[str, Any]:
    if not content.strip():
        return "empty", None
    text = content.decode("utf-8", errors="replace")
    try:
        return "json", json.loads(text)
    except ValueError:
        pass
    try:
        return "jsonl", [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return "text", text


def encode_body(kind: str, body: Any) -> bytes:
    """The bytes a stand-in serves for a recorded body (placeholders already materialised)."""
    if kind == "empty":
        return b""
    if kind == "jsonl":
        return b"".join(json.dumps(obj).encode() + b"\n" for obj in body)
    if kind == "text":
        return str(body).encode()
    return json.dumps(body).encode()


def materialise(value: Any, base_url: str) -> Any:
    """Placeholders → concrete values a client accepts (``<id>`` → ``parity0id`` …)."""
    if isinstance(value, str):
        for placeholder, concrete in PLACEHOLDER_VALUES.items():
            value = value.replace(placeholder, concrete)
        return value.replace("{base}", base_url).replace("<url>", base_url)
    if isinstance(value, Mapping):
        return {k: materialise(v, base_url) for k, v in value.items()}
    if isinstance(value, list):
        return [materialise(v, base_url) for v in value]
    return value


# -- comparing ------------------------------------------------------------------------------------


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _merged(items: list[Any]) -> Any:
    """One representative of a list's elements: objects merged key by key (first value wins)."""
    objects = [i for i in items if isinstance(i, Mapping)]
    if not objects:
        return items[0]
    merged: dict[str, Any] = {}
    for obj in objects:
        for key, value in obj.items():
            if key not in merged:
                merged[key] = value
            elif isinstance(value, Mapping) and isinstance(merged[key], Mapping):
                merged[key] = _merged([merged[key], value])
    return merged


def shape_differences(expected: Any, actual: Any, where: str = "body") -> list[str]:
    """Field names and JSON types that differ between a snapshot value and an actual one.

    List elements are compared as one merged element each (a list's length is not its shape).
    """
    if json_type(expected) != json_type(actual):
        return [f"{where}: {json_type(expected)} in the snapshot, {json_type(actual)} in the answer"]
    if isinstance(expected, Mapping):
        out = []
        for key in expected:
            if key not in actual:
                out.append(f"{where}.{key}: in the snapshot, missing from the answer")
            else:
                out.extend(shape_differences(expected[key], actual[key], f"{where}.{key}"))
        out.extend(
            f"{where}.{key}: in the answer, not in the snapshot" for key in actual if key not in expected
        )
        return out
    if isinstance(expected, list) and expected and actual:
        return shape_differences(_merged(expected), _merged(actual), f"{where}[]")
    return []


def response_differences(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    """Every difference between a snapshot response and an actual (un-normalised) response record."""
    out = []
    if expected["status"] != actual["status"]:
        out.append(f"status: {expected['status']} in the snapshot, {actual['status']} in the answer")
    if expected.get("headers") is not None:
        got = {k.lower(): v for k, v in actual["headers"].items()}
        for name, value in expected["headers"].items():
            if name not in got:
                out.append(f"header {name}: in the snapshot, missing from the answer")
            elif name == "content-type" and got[name].split(";")[0].strip() != value:
                out.append(f"header content-type: {value!r} in the snapshot, {got[name]!r} in the answer")
    if expected["kind"] != actual["kind"]:
        out.append(f"body: {expected['kind']} in the snapshot, {actual['kind']} in the answer")
        return out
    out.extend(shape_differences(expected["body"], actual["body"]))
    want, got_status = _grpc_status(expected["body"]), _grpc_status(actual["body"])
    if want is not None and got_status is not None and want != got_status:
        out.append(f"body.error.status: {want!r} in the snapshot, {got_status!r} in the answer")
    return out


def _grpc_status(body: Any) -> str | None:
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    error = body.get("error") if isinstance(body, Mapping) else None
    status = error.get("status") if isinstance(error, Mapping) else None
    return status if isinstance(status, str) else None


# -- files ----------------------------------------------------------------------------------------


def snapshot_path(scenario: str, directory: Path = SNAPSHOT_DIR) -> Path:
    return directory / f"{scenario}.json"


def write_snapshot(snapshot: Mapping[str, Any], directory: Path = SNAPSHOT_DIR) -> Path:
    path = snapshot_path(snapshot["scenario"], directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_snapshot(scenario: str, directory: Path = SNAPSHOT_DIR) -> dict[str, Any]:
    return json.loads(snapshot_path(scenario, directory).read_text(encoding="utf-8"))
