"""Named modes: behaviours the real service was seen to show, switched on through the control plane.

Each mode reproduces one observed (or reported) behaviour of the live Gemini Batch API so a client
can be tested against it. The default emulator is the well-behaved service; a mode makes it behave
like the reports below. Modes apply to requests served from the moment they are set (batch-shaping
modes are captured when a batch is created), and ``reset()`` clears them.

Every entry names its source; docs/emulator.md lists them with how to use each one.
"""

from __future__ import annotations

#: name -> (what it does, where the behaviour was seen)
MODES: dict[str, tuple[str, str]] = {
    "shuffle_inline": (
        "inline responses come back in a deterministic shuffled order (join on metadata.key)",
        "python-genai issue #1909 (inlinedResponses not in request order, 10K+ requests)",
    ),
    "inline_without_metadata": (
        "inline responses carry no `metadata` even when the request had one",
        "python-genai issue #2008; js-genai issue #1191 ('the backend just hasn't implemented it')",
    ),
    "per_key_visibility": (
        "a batch or file is visible only to the API key that created it: 404 for any other key",
        "a user's report, no public capture (a batch is visible only to the key/project that "
        "created it); the 404 body: Wei-Shaw/sub2api issue #612",
    ),
    "cancel_still_succeeds": (
        "`:cancel` answers 200 {} but the batch still ends SUCCEEDED with every result",
        "a user's report, no public capture (a cancelled batch has been seen to end SUCCEEDED); "
        "python-genai JobState.JOB_STATE_CANCELLING",
    ),
    "strict_request_fields": (
        "create refuses requests with fields the request type lacks: 400 joining "
        "`Error on line N: invalid JSON, near column C: no such field: 'F'` lines",
        "UKGovernmentBEIS/inspect_ai issue #3257 (400 for `thinking_config` in a batch line)",
    ),
    "files_processing": (
        "an uploaded file is PROCESSING for `file_processing_seconds` (emulator clock); a create "
        "referencing it meanwhile gets 400 FAILED_PRECONDITION",
        "Embassy-of-the-Free-Mind/sourcelibrary-v2 PR #2186 (400 FAILED_PRECONDITION for a "
        "still-PROCESSING JSONL); REST reference File.state",
    ),
    "succeeded_without_output": (
        "a batch ends SUCCEEDED with neither `metadata.output` nor `response`",
        'a user\'s report, no public capture (`{"done":true,"metadata":{"state":"BATCH_STATE_SUCCEEDED"}}`)',
    ),
    "row_status": (
        "per-row errors in result files are written as `status` instead of `error`",
        "batch-api guide ('each line is either a GenerateContentResponse or a status object'); "
        "the `status` line form from a user's report",
    ),
    "refuse_fields": (
        "any request carrying the `fields` partial-response parameter gets 400 INVALID_ARGUMENT",
        "a proxy or gateway refusing `fields` (our assumption); emulator choice of status",
    ),
    "huge_inline_503": (
        "a GET whose answer is larger than `huge_output_bytes` gets 503 UNAVAILABLE (a light poll "
        "with `fields` still works)",
        "discuss.ai.google.dev thread 113603 (503/504 on every GET of a large inline batch)",
    ),
}


def check_modes(names: object) -> list[str]:
    """Validate a list of mode names; returns them sorted and de-duplicated.

    :raises ValueError: not a list of strings, or an unknown name (the message lists the known ones).
    """
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(isinstance(n, str) for n in names):
        raise ValueError("modes must be a list of mode names")
    unknown = sorted(set(names) - set(MODES))
    if unknown:
        raise ValueError(f"unknown modes {unknown}; known modes: {sorted(MODES)}")
    return sorted(set(names))
