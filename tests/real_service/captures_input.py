"""Input the real service rejected or ignored, rebuilt from users' public reports.

Sources
-------
INSPECT_3257
    UKGovernmentBEIS/inspect_ai issue #3257 (2026-02-18): a file batch of generateContent lines
    whose ``request`` carried the SDK's flat ``thinking_config`` was refused at create with HTTP 400
    ``Error on line 1: invalid JSON, near column 1032: no such field: 'thinking_config'`` followed
    by one ``Error on line N`` per line. The fix (PR #3273) moved generation settings under
    ``generationConfig``; the PR notes other flat fields had been accepted silently.
COOKBOOK_846
    google-gemini/cookbook issue #846 (2025-07-10): ``generation_config`` with a ``thinking_config``
    written beside ``request`` on the JSONL line; the user reports the setting had no effect.
GENAI_1103
    googleapis/python-genai issue #1103 (comment 2025-08-04): a JSONL line with snake_case
    ``thinking_config`` *inside* ``generationConfig`` "parses the request correctly".

Lines are rebuilt with the reported field names and nesting; the prompt texts are placeholders.
The error body uses the google.rpc envelope of every 400 (docs/real-service/wire-format.md, Errors); its
message is the report's,
completed for the two lines of this rebuilt file in the report's own pattern.
"""

from __future__ import annotations

from typing import Any

_CONTENTS = [{"role": "user", "parts": [{"text": "placeholder prompt"}]}]

#: INSPECT_3257: a line as the integration wrote it before the fix (flat SDK config fields).
INSPECT_3257_LINE: dict[str, Any] = {
    "key": "1",
    "request": {
        "contents": _CONTENTS,
        "temperature": 0.0,
        "thinking_config": {"thinking_budget": 0},
    },
}

#: INSPECT_3257: the create-time rejection (HTTP 400) of a file holding two such lines.
INSPECT_3257_CREATE_ERROR: dict[str, Any] = {
    "error": {
        "code": 400,
        "message": (
            "Error on line 1: invalid JSON, near column 1032: no such field: 'thinking_config'\n"
            "Error on line 2: invalid JSON, near column 1032: no such field: 'thinking_config'"
        ),
        "status": "INVALID_ARGUMENT",
    }
}

#: COOKBOOK_846: the setting beside ``request`` instead of inside it.
COOKBOOK_846_LINE: dict[str, Any] = {
    "key": "request-0",
    "request": {"contents": [{"parts": [{"text": "placeholder prompt"}]}]},
    "generation_config": {"temperature": 1, "thinking_config": {"thinking_budget": 0}},
}

#: GENAI_1103: the same setting where the service reads it (snake_case inside generationConfig).
GENAI_1103_LINE: dict[str, Any] = {
    "key": "request-1",
    "request": {
        "contents": _CONTENTS,
        "generationConfig": {
            "temperature": 1.0,
            "topP": 0.95,
            "maxOutputTokens": 8000,
            "thinking_config": {"include_thoughts": False, "thinking_budget": 0},
        },
    },
}
