"""Parity snapshots: ask the real service once, replay its answers everywhere else.

A *scenario* is one cheap request whose answer matters (mostly error cases: none creates a
billable batch). A *snapshot* is the answer, normalised so it can live in the repository: the
status, the Google error status and code, and the body with ids, times, URLs and digits of
resource names replaced by placeholders; the key is never sent anywhere but the configured
origin and never written. Each snapshot names its source: ``recorded`` (date, API version, the
origin host) or ``public`` (rebuilt from a capture in ``captures_faults.py``, with the reports
it came from).

Commands (``make parity-real`` runs ``record``)::

    GEMINI_API_KEY=... python -m tests.real_service.parity record [--base-url URL] [--out DIR]
    python -m tests.real_service.parity public [--out DIR]     # rebuild the public snapshots

``GEMINI_API_URL`` (or ``--base-url``) points the recording elsewhere (a proxy, a stand-in).
Cost: every scenario is a read or a refused create: nothing is billed (see
docs/real-service/parity.md).

``tests/real_service/test_parity.py`` (``make parity``) replays every snapshot against the
emulator (same status, error status and body shape) and the hook (the typed error it raises),
and exercises ``record`` against a stand-in.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SNAPSHOTS = Path(__file__).with_name("snapshots")
API = "v1beta"
DEFAULT_URL = "https://generativelanguage.googleapis.com"
#: A batch id of the live form (36 lowercase alphanumerics) that no project has.
ABSENT_BATCH = "parity0absent0batch0000000000000000"
ABSENT_FILE = "parityabsent"


@dataclass(frozen=True)
class Scenario:
    """One request: ``method`` ``path`` (relative to the base URL) with an optional JSON body."""

    name: str
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    what: str = ""


TINY_REQUEST = {"contents": [{"parts": [{"text": "parity"}]}]}
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("missing_file", "GET", f"/{API}/files/{ABSENT_FILE}", what="get a file that does not exist"),
    Scenario(
        "delete_missing_file",
        "DELETE",
        f"/{API}/files/{ABSENT_FILE}",
        what="delete a file that does not exist",
    ),
    Scenario(
        "delete_batch_output_file",
        "DELETE",
        f"/{API}/files/batch-{ABSENT_BATCH}",
        what="delete a batch output file by name (id over 40 characters)",
    ),
    Scenario(
        "unknown_batch", "GET", f"/{API}/batches/{ABSENT_BATCH}", what="get a batch that does not exist"
    ),
    Scenario(
        "model_without_batch",
        "POST",
        f"/{API}/models/gemini-2.0-flash-live-001:batchGenerateContent",
        {
            "batch": {
                "displayName": "parity",
                "inputConfig": {"requests": {"requests": [{"request": TINY_REQUEST}]}},
            }
        },
        what="create a batch on a model without batch support (refused: nothing is billed)",
    ),
)
BY_NAME = {s.name: s for s in SCENARIOS}

_PLACEHOLDERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"https?://[^\s\"']+"), "<url>"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z"), "<time>"),
    (re.compile(r"\b(files|batches|cachedContents|operations)/[A-Za-z0-9_-]+"), r"\1/<id>"),
    (re.compile(r"(the File) [A-Za-z0-9_.-]+"), r"\1 <id>"),
    (re.compile(r"\bproject[_ ]?(?:number)?[:=]?\s*\d+"), "project <number>"),
)


def normalise_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with secrets removed and ids, times, URLs and project numbers as placeholders."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text


def normalise(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """A JSON body with every string normalised (:func:`normalise_text`)."""
    if isinstance(value, dict):
        return {k: normalise(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, secrets) for v in value]
    if isinstance(value, str):
        return normalise_text(value, secrets)
    return value


def shape(value: Any) -> Any:
    """The field names and JSON types of a body (values that vary are not compared)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def answer(status: int, body: Any) -> dict[str, Any]:
    """The comparable part of an answer: status, Google error status and code, body shape."""
    error = body.get("error") if isinstance(body, dict) else None
    return {
        "status": status,
        "error_status": error.get("status") if isinstance(error, dict) else None,
        "error_code": error.get("code") if isinstance(error, dict) else None,
        "shape": shape(body),
    }


def differences(snapshot: Mapping[str, Any], status: int, body: Any) -> list[str]:
    """Each way an answer differs from ``snapshot``, naming the scenario and the request."""
    scenario = BY_NAME[snapshot["scenario"]]
    where = f"{snapshot['scenario']} ({scenario.method} {scenario.path})"
    want, got = answer(snapshot["status"], snapshot["body"]), answer(status, body)
    out = []
    for item in ("status", "error_status", "error_code"):
        if want[item] != got[item]:
            out.append(f"{where}: {item} {got[item]!r}, the service answered {want[item]!r}")
    if want["shape"] != got["shape"] and not out:
        out.append(f"{where}: body shape {got['shape']!r}, the service answered {want['shape']!r}")
    return out


def send(client: httpx.Client, scenario: Scenario) -> tuple[int, Any]:
    """Send ``scenario`` once; the answer's status and JSON body (None if not JSON)."""
    response = client.request(scenario.method, scenario.path, json=scenario.body)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def record(
    base_url: str, api_key: str, out: Path, *, now: Callable[[], datetime.datetime] | None = None
) -> list[Path]:
    """Run every scenario against ``base_url`` with ``api_key`` and write one snapshot each.

    The key goes in the ``x-goog-api-key`` header to ``base_url`` only (no redirects followed)
    and is scrubbed from what is written.
    """
    out.mkdir(parents=True, exist_ok=True)
    stamp = (now or (lambda: datetime.datetime.now(datetime.timezone.utc)))().isoformat(timespec="seconds")
    written = []
    headers = {"x-goog-api-key": api_key}
    with httpx.Client(base_url=base_url, headers=headers, follow_redirects=False, timeout=60) as client:
        for scenario in SCENARIOS:
            status, body = send(client, scenario)
            snapshot = {
                "scenario": scenario.name,
                "request": {"method": scenario.method, "path": scenario.path},
                "status": status,
                "body": normalise(body, (api_key,)),
                "source": {
                    "kind": "recorded",
                    "date": stamp,
                    "api_version": API,
                    "origin": httpx.URL(base_url).host,
                },
            }
            path = out / f"{scenario.name}.recorded.json"
            path.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            written.append(path)
    return written


def public_snapshots() -> list[dict[str, Any]]:
    """The snapshots rebuilt from public captures (``captures_faults.py``), with their sources."""
    from tests.real_service import captures_batches as cb
    from tests.real_service import captures_faults as cf

    def snap(name: str, status: int, body: Any, reports: list[str]) -> dict[str, Any]:
        scenario = BY_NAME[name]
        return {
            "scenario": name,
            "request": {"method": scenario.method, "path": scenario.path},
            "status": status,
            "body": normalise(body),
            "source": {"kind": "public", "reports": reports},
        }

    gone = ["googleapis/python-genai#1218", "google-gemini/deprecated-generative-ai-js#236"]
    return [
        snap("missing_file", 403, cf.FILE_GONE_BODY, gone),
        snap(
            "delete_missing_file",
            403,
            cf.FILE_GONE_BODY,
            [*gone, "google-gemini/deprecated-generative-ai-python#692"],
        ),
        snap(
            "delete_batch_output_file",
            400,
            cf.file_id_too_long_body("DeleteFileRequest"),
            ["googleapis/python-genai#1613", "googleapis/python-genai#1759"],
        ),
        snap("unknown_batch", 404, cb.NOT_FOUND_BODY, ["Wei-Shaw/sub2api#612"]),
        snap("model_without_batch", 404, cf.MODEL_CANNOT_BATCH_BODY, ["google-gemini/cookbook#1077"]),
    ]


def write_public(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for snapshot in public_snapshots():
        path = out / f"{snapshot['scenario']}.public.json"
        path.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def load(directory: Path = SNAPSHOTS) -> list[dict[str, Any]]:
    """Every snapshot; a recorded one replaces the public one of its scenario."""
    chosen: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        if snapshot["source"]["kind"] == "recorded" or snapshot["scenario"] not in chosen:
            chosen[snapshot["scenario"]] = snapshot
    return [chosen[name] for name in sorted(chosen)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.real_service.parity")
    parser.add_argument("command", choices=("record", "public"))
    parser.add_argument("--base-url", default=os.environ.get("GEMINI_API_URL", DEFAULT_URL))
    parser.add_argument("--out", type=Path, default=SNAPSHOTS)
    args = parser.parse_args(argv)
    if args.command == "public":
        for path in write_public(args.out):
            print(path)
        return 0
    key = os.environ.get("GEMINI_API_KEY")
    if not key:
        print("GEMINI_API_KEY is not set; nothing recorded.", file=sys.stderr)
        return 2
    for path in record(args.base_url, key, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
