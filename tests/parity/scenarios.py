"""The parity scenarios: small scripts of HTTP calls, run against the real API or the emulator.

A step's ``path``, header values and string body values may name variables in braces: ``{api}``
(the API version), ``{model}`` / ``{embed_model}`` (models the run uses), and whatever an
earlier step saved (``save={"file": "body:file.name"}`` takes a dotted path in the JSON answer;
``"header:x-goog-upload-url"`` a response header). ``until`` makes a step a poll: it is repeated
until that dotted path of the answer is true (``"done"``) or has a value (``"state=ACTIVE"``), and
only its last answer is recorded.

Inputs are tiny on purpose: a run against the real API is billed (see ``record.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.real_service.captures import COOKBOOK_EMBEDDINGS_INPUT
from tests.real_service.captures_faults import NO_BATCH_MODEL
from tests.real_service.captures_input import INSPECT_3257_LINE

#: Two one-line prompts with short answers (``maxOutputTokens`` keeps the billed output tiny).
TEXT_INPUT = b"".join(
    json.dumps(
        {
            "key": key,
            "request": {
                "contents": [{"role": "user", "parts": [{"text": text}]}],
                "generationConfig": {"maxOutputTokens": 16},
            },
        }
    ).encode()
    + b"\n"
    for key, text in (("request_1", "Say hi."), ("request_2", "Name one colour."))
)
#: The cookbook's 202-byte embeddings input (its real upload answer is a public capture).
EMBED_INPUT = COOKBOOK_EMBEDDINGS_INPUT
#: A line written with the SDK's flat ``thinking_config`` (UKGovernmentBEIS/inspect_ai #3257).
BAD_FIELD_INPUT = (
    json.dumps(INSPECT_3257_LINE) + "\n" + json.dumps(dict(INSPECT_3257_LINE, key="2")) + "\n"
).encode()

#: A batch id of the live form (36 lowercase alphanumerics) that no project has. Its output file
#: name (``files/batch-`` + the id) is longer than the 40 characters the Files API accepts.
ABSENT_BATCH = "parity0absent0batch0000000000000000"
#: A file id of the live form (12 characters) that no project has.
ABSENT_FILE = "paritymissin"

INLINE_REQUESTS = [
    {
        "request": {
            "contents": [{"parts": [{"text": "Say hi."}]}],
            "generationConfig": {"maxOutputTokens": 16},
        },
        "metadata": {"key": "request_1"},
    }
]


@dataclass(frozen=True)
class Step:
    """One HTTP call of a scenario (see the module docstring for templates)."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    save: Mapping[str, str] = field(default_factory=dict)
    until: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    steps: tuple[Step, ...]


def upload_steps(content: bytes) -> tuple[Step, ...]:
    """The resumable upload as the SDK does it for a one-chunk file (start, then finalize), then
    reading the file until it is ACTIVE: a batch created on a PROCESSING file is refused
    (Embassy-of-the-Free-Mind/sourcelibrary-v2 pull request #2186), and the operators wait too.

    No display name: the public capture of this answer (the cookbook's upload) was made without one.
    """
    return (
        Step(
            "POST",
            "/upload/{api}/files",
            body={"file": {"mimeType": "jsonl"}},
            headers={
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(content)),
                "X-Goog-Upload-Header-Content-Type": "jsonl",
            },
            save={"upload_url": "header:x-goog-upload-url"},
        ),
        Step(
            "POST",
            "{upload_url}",
            body=content,
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
            save={"file": "body:file.name"},
        ),
        Step("GET", "/{api}/{file}", until="state=ACTIVE"),
    )


def _create(body: Mapping[str, Any], verb: str = "batchGenerateContent", model: str = "{model}") -> Step:
    return Step("POST", f"/{{api}}/models/{model}:{verb}", body={"batch": body}, save={"batch": "body:name"})


def _poll() -> Step:
    return Step("GET", "/{api}/{batch}", until="done")


def _file_batch(content: bytes, **create: str) -> tuple[Step, ...]:
    """Upload ``content``, create a batch from the file, wait until done, download the results."""
    return (
        *upload_steps(content),
        _create({"inputConfig": {"fileName": "{file}"}}, **create),
        Step("GET", "/{api}/{batch}", until="done", save={"results": "body:response.responsesFile"}),
        Step("GET", "/{api}/{results}:download", query={"alt": "media"}),
    )


_INLINE = {"inputConfig": {"requests": {"requests": INLINE_REQUESTS}}}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "upload_file",
            "upload a tiny JSONL and read the file back",
            upload_steps(EMBED_INPUT),
        ),
        Scenario(
            "create_from_file",
            "create a generateContent batch from an uploaded file, wait, download its results",
            _file_batch(TEXT_INPUT),
        ),
        Scenario(
            "embeddings_from_file",
            "create an embeddings batch from an uploaded file, wait, download its results",
            _file_batch(EMBED_INPUT, verb="asyncBatchEmbedContent", model="{embed_model}"),
        ),
        Scenario(
            "create_inline",
            "create two inline batches, wait for the second, list one batch (a page with a next token)",
            (
                _create(_INLINE),
                _create(_INLINE),
                _poll(),
                Step("GET", "/{api}/batches", query={"pageSize": "1"}),
            ),
        ),
        Scenario(
            "cancel_batch",
            "create an inline batch, cancel it, read it",
            (_create(_INLINE), Step("POST", "/{api}/{batch}:cancel"), Step("GET", "/{api}/{batch}")),
        ),
        Scenario(
            "delete_batch",
            "create an inline batch, cancel and delete it, read it",
            (
                _create(_INLINE),
                Step("POST", "/{api}/{batch}:cancel"),
                Step("DELETE", "/{api}/{batch}"),
                Step("GET", "/{api}/{batch}"),
            ),
        ),
        Scenario(
            "unknown_batch",
            "read a batch that does not exist",
            (Step("GET", f"/{{api}}/batches/{ABSENT_BATCH}"),),
        ),
        Scenario(
            "missing_file", "read a file that does not exist", (Step("GET", f"/{{api}}/files/{ABSENT_FILE}"),)
        ),
        Scenario(
            "delete_missing_file",
            "delete a file that does not exist",
            (Step("DELETE", f"/{{api}}/files/{ABSENT_FILE}"),),
        ),
        Scenario(
            "delete_batch_output_file",
            "delete a batch output file by name (its id is over 40 characters: refused)",
            (Step("DELETE", f"/{{api}}/files/batch-{ABSENT_BATCH}"),),
        ),
        Scenario(
            "model_without_batch",
            "create an inline batch on a model without batch support (refused: nothing is billed)",
            (_create(_INLINE, model=NO_BATCH_MODEL),),
        ),
        Scenario(
            "deleted_file",
            "upload a tiny JSONL, delete it, read it",
            (*upload_steps(EMBED_INPUT), Step("DELETE", "/{api}/{file}"), Step("GET", "/{api}/{file}")),
        ),
        Scenario(
            "bad_request_field",
            "create from a file whose lines carry a field the service does not know",
            (
                *upload_steps(BAD_FIELD_INPUT),
                _create({"inputConfig": {"fileName": "{file}"}}),
            ),
        ),
    )
}
