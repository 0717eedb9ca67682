"""Run the parity scenarios against a server and record its answers as snapshots.

``make parity-real`` (``python -m tests.parity.record``) runs every scenario against the real
Gemini API and rewrites ``tests/parity/snapshots/``. It needs ``GEMINI_API_KEY``;
``GEMINI_API_URL`` (default ``https://generativelanguage.googleapis.com``) may point it elsewhere;
``GEMINI_PARITY_MODEL`` / ``GEMINI_PARITY_EMBED_MODEL`` pick the models (defaults below);
``GEMINI_PARITY_TIMEOUT`` is how long a scenario waits for its batch to end (seconds, default 3600).
Arguments name scenarios to record (default: all).

Cost: :data:`EXPECTED_COST`. The key is sent only in the ``x-goog-api-key`` header to the
configured origin (the upload session URL the service returns is on that origin too; a redirect
is recorded, never followed), is never printed, and a snapshot that still holds it after
normalisation is not written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.parity.scenarios import SCENARIOS, Scenario
from tests.parity.snapshot import SNAPSHOT_DIR, Normaliser, response_record, write_snapshot

DEFAULT_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-2.5-flash-lite"
DEFAULT_EMBED_MODEL = "gemini-embedding-001"
API_VERSION = "v1beta"
EXPECTED_COST = (
    "well under US$0.01: 6 generateContent requests of a few tokens each (16 output tokens at most) "
    "on gemini-2.5-flash-lite and 2 one-word embeddings, all at the batch price (half the "
    "interactive one); uploads, reads, lists, cancels, deletes and refused creates are free"
)


class ScenarioFailed(RuntimeError):
    """A step could not run (a saved value was missing, or a poll never ended)."""


def _fill(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, concrete in variables.items():
            value = value.replace("{" + name + "}", concrete)
        return value
    if isinstance(value, Mapping):
        return {k: _fill(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, variables) for v in value]
    return value


def _reached(body: Any, until: str) -> bool:
    """``"done"``: that field is true; ``"state=ACTIVE"``: that field has that value."""
    path, _, wanted = until.partition("=")
    found = _dotted(body, path)
    return found == wanted if wanted else bool(found)


def _dotted(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body.get(part) if isinstance(body, Mapping) else None
    return body


def run_scenario(
    scenario: Scenario,
    base_url: str,
    api_key: str,
    *,
    model: str = DEFAULT_MODEL,
    embed_model: str = DEFAULT_EMBED_MODEL,
    poll_interval: float = 10.0,
    timeout: float = 3600.0,
    session: requests.Session | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Run one scenario; return its exchanges (un-normalised) and the values it saved.

    Each exchange is ``{"request": {"method", "url", "body"}, "response": response_record}``.

    :param poll_interval: seconds between reads of a polling step.
    :param timeout: seconds a polling step may wait at most.
    :raises ScenarioFailed: a value to save was absent, a poll did not end, or a URL left the origin.
    """
    base_url = base_url.rstrip("/")
    origin = urlsplit(base_url).netloc
    http = session or requests.Session()
    variables = {"api": API_VERSION, "model": model, "embed_model": embed_model}
    exchanges: list[dict[str, Any]] = []
    for number, step in enumerate(scenario.steps, 1):
        path = _fill(step.path, variables)
        if "{" in path:
            raise ScenarioFailed(
                f"{scenario.name} step {number}: {path!r} needs a value no earlier answer gave"
            )
        url = path if path.startswith("http") else base_url + path
        if urlsplit(url).netloc != origin:
            raise ScenarioFailed(f"{scenario.name} step {number}: {url!r} is not on {origin}; not sent")
        headers = {"x-goog-api-key": api_key, **_fill(dict(step.headers), variables)}
        body = step.body if isinstance(step.body, bytes) else _fill(step.body, variables)
        deadline = time.monotonic() + timeout
        while True:
            response = http.request(
                step.method,
                url,
                params=dict(step.query) or None,
                headers=headers,
                data=body if isinstance(body, bytes) else None,
                json=None if isinstance(body, bytes) else body,
                timeout=60,
                # requests keeps custom headers on a redirect: followed, the key could leave the origin.
                allow_redirects=False,
            )
            record = response_record(response.status_code, response.headers, response.content)
            if step.until is None or _reached(record["body"], step.until) or response.status_code != 200:
                break
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"{scenario.name} step {number}: not {step.until} after {timeout:.0f} s")
            time.sleep(poll_interval)
        exchanges.append({"request": {"method": step.method, "url": url, "body": body}, "response": record})
        if not 200 <= response.status_code < 300:
            continue
        for name, where in step.save.items():
            source, _, field = where.partition(":")
            found = response.headers.get(field) if source == "header" else _dotted(record["body"], field)
            if not isinstance(found, str):
                raise ScenarioFailed(
                    f"{scenario.name} step {number} ({step.method} {step.path}): answered "
                    f"{response.status_code} without {where}; later steps need it"
                )
            variables[name] = found
    return exchanges, variables


def to_snapshot(
    scenario: Scenario,
    exchanges: Iterable[Mapping[str, Any]],
    normaliser: Normaliser,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    """Normalise recorded exchanges into a snapshot.

    :raises SecretLeak: a secret is still in it (nothing should then be written).
    """
    out = []
    for exchange in exchanges:
        request, response = exchange["request"], exchange["response"]
        body = request["body"]
        out.append(
            {
                "request": {
                    "method": request["method"],
                    "path": normaliser.url(request["url"]).replace("{base}", "", 1),
                    "body": body.decode("utf-8") if isinstance(body, bytes) else normaliser.value(body),
                },
                "response": {
                    "status": response["status"],
                    "headers": normaliser.headers(response["headers"]),
                    "kind": response["kind"],
                    "body": normaliser.value(response["body"]),
                },
            }
        )
    snapshot = {
        "scenario": scenario.name,
        "summary": scenario.summary,
        "source": dict(source),
        "exchanges": out,
    }
    normaliser.check_clean(snapshot)
    return snapshot


def literals_of(variables: Mapping[str, str]) -> dict[str, str]:
    """Ids the run saw (``files/abc`` → ``abc``) → ``<id>``, for free text such as error messages."""
    out = {}
    for value in variables.values():
        prefix, _, ident = value.partition("/")
        if prefix in ("files", "batches") and ident:
            out[ident.removeprefix("batch-")] = "<id>"
    return out


def record_all(
    base_url: str,
    api_key: str,
    *,
    directory: Path = SNAPSHOT_DIR,
    names: Iterable[str] | None = None,
    log: Callable[[str], None] = print,
    **options: Any,
) -> list[Path]:
    """Run the named scenarios (default all) and write one snapshot each; return the files written."""
    written = []
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    for name in names or SCENARIOS:
        scenario = SCENARIOS[name]
        log(f"{name}: {scenario.summary}")
        exchanges, variables = run_scenario(scenario, base_url, api_key, **options)
        normaliser = Normaliser(base_url, literals_of(variables), secrets=(api_key,))
        source = {
            "kind": "recorded",
            "date": today,
            "api_version": API_VERSION,
            "model": options.get("model", DEFAULT_MODEL),
        }
        written.append(write_snapshot(to_snapshot(scenario, exchanges, normaliser, source), directory))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=SNAPSHOT_DIR, help="snapshot directory")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    api_key = os.environ.get("GEMINI_API_KEY", "")
    if not api_key:
        print(
            "parity-real needs GEMINI_API_KEY (a Gemini API key; the run is billed: "
            f"{EXPECTED_COST}). Nothing was sent.",
            file=sys.stderr,
        )
        return 2
    base_url = os.environ.get("GEMINI_API_URL") or DEFAULT_URL
    print(f"Recording parity snapshots from {base_url}. Expected cost: {EXPECTED_COST}.")
    options = {
        "model": os.environ.get("GEMINI_PARITY_MODEL") or DEFAULT_MODEL,
        "embed_model": os.environ.get("GEMINI_PARITY_EMBED_MODEL") or DEFAULT_EMBED_MODEL,
        "timeout": float(os.environ.get("GEMINI_PARITY_TIMEOUT") or 3600),
    }
    failed = []
    for name in args.scenarios or SCENARIOS:
        # One scenario failing (a batch still running at the timeout) keeps the others' snapshots.
        try:
            record_all(base_url, api_key, directory=args.out, names=[name], **options)
        except (ScenarioFailed, requests.RequestException) as exc:
            failed.append(name)
            print(f"{name}: not recorded: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"Snapshots under {args.out}; review `git diff`, then run `make parity`.")
    if failed:
        print(f"Not recorded (the old snapshot is kept): {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
