"""What an error answer means and the next step to tell the user (pure).

Reads an HTTP status, the ``google.rpc.Status`` string, ``ErrorInfo.reason`` and the message
together: a 403 that is the Files API's "gone" answer, a refused key, a quota of zero, a model
that cannot batch. :func:`~._core.errors.error_from_response` puts the hint in its exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_gemini_batch.exceptions import GeminiApiError

_HINTS = {
    404: "Check the name; files expire 48 hours after upload and deleted batches are gone.",
    429: (
        "A rate limit or quota was hit; a read, or a create told when to retry, was retried with "
        "backoff up to the connection's retry limits. A create refused without that is read as the "
        "project's limit of concurrent batches (100): GeminiCreateBatchOperator waits for a free slot "
        "(docs/capacity.md)."
    ),
}
#: A quota of zero: no retry lifts it (:func:`is_quota_zero`).
QUOTA_ZERO_HINT = (
    "There is no quota for this model on this project's tier (limit 0), so it was not retried: "
    "enable billing for the project, or use a model the tier includes."
)
_MODEL_HINT = (
    "This model cannot run batches (its supportedGenerationMethods lack the batch method); pick "
    "a model whose Models API entry lists batchGenerateContent (or asyncBatchEmbedContent for "
    "embeddings)."
)
#: Batch output files cannot be deleted by name through the Files API.
BATCH_OUTPUT_FILE_HINT = (
    "Batch output files (files/batch-<batch id>) have ids longer than the 40 characters the Files "
    "API accepts, so they cannot be deleted by name, and some service versions refuse reading their "
    "metadata too (python-genai #1613, #1759); land them with the results operator (the download "
    "works) and leave their removal to the service."
)
#: A 404 on a batch has more than one cause: a batch is visible only to the API key / project that created it,
#: and reading it with another key answers 404 like a deleted batch (a user's report; the 404 body:
#: Wei-Shaw/sub2api issue #612). The REST error model also lists 403 for another project's resources; that
#: case keeps the generic 403 hint, which already points at the key's project.
_BATCH_404_HINT = (
    "Check the name; a batch is visible only to the API key (Google Cloud project) that created it, "
    "so check that this connection uses the same key or project as the task that created the batch "
    "(its connection id is in that task's XCom under 'gemini_conn_id'); deleted batches are gone."
)


#: ``ErrorInfo.reason`` of a refused API key. [LIVE] the service answers HTTP 400
#: INVALID_ARGUMENT with this reason both for a key that is not valid ("API key not valid. Please
#: pass a valid API key.", continuedev/continue issue #8516) and for an expired one ("API key
#: expired. Please renew the API key.", continuedev/continue issue #11336).
AUTH_REASONS = frozenset({"API_KEY_INVALID"})
#: Google status strings of a refused caller: 401 UNAUTHENTICATED, and 403 PERMISSION_DENIED
#: ([LIVE] "Method doesn't allow unregistered callers" when no key is sent,
#: PublicAffairs/openai-gemini issue #92; "The caller does not have permission",
#: google-gemini/gemini-cli issue #14519).
_AUTH_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


#: The Files API's answer for a file that is gone (expired 48 hours after upload, deleted) or not
#: this project's: HTTP 403 PERMISSION_DENIED "You do not have permission to access the File <id>
#: or it may not exist." [OBS: googleapis/python-genai #1218 (files.get), google-gemini/
#: deprecated-generative-ai-python #692 (a chat on an uploaded file), google-gemini/
#: deprecated-generative-ai-js #236 (getFile)]. A status is not a meaning: this 403 is about the
#: file, not the key, so it is read as "not found" (#1218's cause was an unpaid bill, which the
#: hint names too).
_FILE_GONE = re.compile(r"access the File\s+(?:files/)?(?P<id>\S*)\s+or it may not exist", re.IGNORECASE)
#: The answer for a model that cannot run batches: 404 NOT_FOUND "… is not supported for
#: batchGenerateContent" [OBS: google-gemini/cookbook #1077]; the interactive API's form is
#: "models/x is not found for API version v1beta, or is not supported for generateContent".
_MODEL_CANNOT_BATCH = re.compile(r"not supported for (?:batchGenerateContent|asyncBatchEmbedContent)", re.I)
#: The Files API refuses ids longer than 40 characters, which every batch output file
#: (``files/batch-<36-character batch id>``) has: 400 INVALID_ARGUMENT "* DeleteFileRequest.name:
#: File ID (name excluding 'files/') cannot be more than 40 characters." [OBS: googleapis/
#: python-genai #1613 (get and delete refused), #1759 (only the delete on google-genai 1.53)].
_FILE_ID_TOO_LONG = re.compile(r"File ID .{0,40}cannot be more than 40 characters", re.IGNORECASE | re.DOTALL)
#: ``QuotaFailure`` quota ids of a free tier, and the message form of a quota of zero ("Quota
#: exceeded for metric: …, limit: 0, model: …") [OBS: google-gemini/gemini-cli #22486, #8437].
_LIMIT_ZERO = re.compile(r"\blimit:\s*0\b")


def is_file_gone(http_status: int, message: str | None) -> bool:
    """Whether an answer is the Files API's "… or it may not exist" for a file that is gone.

    HTTP 403 (or 404) whose message is the Files API's text (see :data:`_FILE_GONE`), whatever
    resource the call was about (a create on an expired input file names the file too).
    """
    return http_status in (403, 404) and bool(message and _FILE_GONE.search(message))


def is_auth_failure(
    http_status: int, status: str | None, reason: str | None, message: str | None = None
) -> bool:
    """Whether an error answer says the connection's key or credentials were refused.

    True for HTTP 401/403, a status UNAUTHENTICATED/PERMISSION_DENIED, or an ``ErrorInfo.reason``
    in :data:`AUTH_REASONS` (a bad or expired key comes as HTTP 400, see there); false for the
    Files API's 403 about a file that may not exist (:func:`is_file_gone`) unless an auth
    ``reason`` says otherwise.
    """
    if reason in AUTH_REASONS:
        return True
    if is_file_gone(http_status, message):
        return False
    return http_status in (401, 403) or status in _AUTH_STATUSES


def is_quota_zero(http_status: int, message: str | None, details: Iterable[Any]) -> bool:
    """Whether a 429 says the project has no quota at all for the model (``limit: 0``).

    A ``QuotaFailure`` violation with ``quotaValue`` "0", or the message's "limit: 0": a free
    tier without access to the model, or a model not enabled for the project. Waiting does not
    lift it, whatever ``RetryInfo`` says [OBS: google-gemini/gemini-cli #22486].
    """
    if http_status != 429:
        return False
    if message and _LIMIT_ZERO.search(message):
        return True
    for item in details:
        if not isinstance(item, Mapping) or not str(item.get("@type", "")).endswith("QuotaFailure"):
            continue
        violations = item.get("violations")
        for violation in violations if isinstance(violations, list) else []:
            if isinstance(violation, Mapping) and str(violation.get("quotaValue", "")).strip() == "0":
                return True
    return False


def may_be_mask_refusal(exc: GeminiApiError) -> bool:
    """Whether a failed light read (one with the ``fields`` mask) may be the mask being refused.

    The live answer to a refused mask is not known (the emulator's ``refuse_fields`` mode answers
    400 INVALID_ARGUMENT, its own choice), so any 400 INVALID_ARGUMENT (or 400 without a status)
    counts, except an auth failure (:func:`is_auth_failure`): a bad key also answers 400
    INVALID_ARGUMENT, and reading again without the mask would only repeat the refusal.
    """
    return (
        exc.http_status == 400
        and exc.status in (None, "INVALID_ARGUMENT", "BAD_REQUEST")
        and not is_auth_failure(exc.http_status, exc.status, exc.reason, exc.api_message)
    )


def _auth_hint(http_status: int, reason: str | None, conn_id: str | None) -> str:
    """The next step for an auth failure, naming the Airflow connection (never its key)."""
    conn = f"Airflow connection {conn_id!r}" if conn_id else "the Airflow connection"
    if reason in AUTH_REASONS:
        return (
            f"The API key of {conn} was refused (not valid, or expired); fix the connection's "
            "password (the API key)."
        )
    if http_status == 403:
        return (
            f"The request of {conn} was denied: check that the connection's password holds an API "
            "key (without one no credentials are sent) and that its key or Google credentials may "
            "use the Gemini API and this resource's project."
        )
    return (
        f"The credentials of {conn} were refused; fix the connection's password (the API key) or "
        "its Google credentials."
    )


def hint_for(
    status_code: int,
    resource: str | None,
    *,
    status: str | None = None,
    reason: str | None = None,
    conn_id: str | None = None,
    message: str | None = None,
) -> str | None:
    """The next step to suggest for an error on ``resource``, read from its status, ``reason``
    and ``message`` together (a 403 may mean a gone file, a 404 a model that cannot batch).

    An auth failure (:func:`is_auth_failure`) names the Airflow connection ``conn_id`` whose key
    or credentials were refused.
    """
    if is_file_gone(status_code, message) and reason not in AUTH_REASONS:
        return _file_gone_hint(message or "", resource)
    if is_auth_failure(status_code, status, reason, message):
        return _auth_hint(status_code, reason, conn_id)
    if message and _MODEL_CANNOT_BATCH.search(message):
        return _MODEL_HINT
    if message and _FILE_ID_TOO_LONG.search(message):
        return BATCH_OUTPUT_FILE_HINT
    if status_code == 404 and resource and resource.startswith("batches/"):
        return _BATCH_404_HINT
    return _HINTS.get(status_code)


def _file_gone_hint(message: str, resource: str | None) -> str:
    """The next step after the Files API's "… or it may not exist" (:func:`is_file_gone`)."""
    match = _FILE_GONE.search(message)
    file_id = match.group("id") if match else ""
    name = f"files/{file_id}" if file_id else "The file"
    text = (
        f"{name} is gone or not visible to this project: uploaded files expire 48 hours after "
        "upload and deleted files are gone (the Files API answers 403, not 404, for both); it may "
        "also belong to another API key's project, or the project may be blocked (e.g. an unpaid "
        "bill)."
    )
    if resource and not resource.startswith("files/"):
        text += " Upload the input file again and create the batch from the new file."
    return text


#: Query parameters whose values authorise a request by themselves: ``key`` (an API key, a standard
#: system parameter) and ``upload_id`` (a resumable-upload session URL needs no other credential:
#: docs/real-service/wire-format.md, Authentication).
#: Transport errors of requests/urllib3 quote the URL they failed on, so these are scrubbed from
