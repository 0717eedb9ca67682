"""Error answers of the real service whose status does not say what happened, rebuilt from users'
public reports (the reports quote the bodies; ids are placeholders).

Sources
-------
PYTHON_GENAI_1218
    googleapis/python-genai issue #1218 (2025-08-06): ``files.get`` of an uploaded file answered
    ``403 Forbidden`` "You do not have permission to access the File xxxx or it may not exist."
    (the cause there: an unpaid bill on the project).
GENERATIVE_AI_PYTHON_692
    google-gemini/deprecated-generative-ai-python issue #692 (2025-02-25): the same 403 text for a
    file used in a chat; the maintainer points at the 2-day file TTL.
GENERATIVE_AI_JS_236
    google-gemini/deprecated-generative-ai-js issue #236 (2024-08-22): ``getFile`` of a name that
    was never uploaded: ``[403 Forbidden] You do not have permission to access the File <id> or it
    may not exist.``
COOKBOOK_1077
    google-gemini/cookbook issue #1077: a batch create with a model that cannot batch answered 404
    NOT_FOUND "… is not supported for batchGenerateContent" (the body below takes the wording of
    the interactive API's same answer, "models/x is not found for API version v1beta, or is not
    supported for generateContent. Call ListModels …", wwardaww/gnome-gemini-ai issue #21).
PYTHON_GENAI_1613
    googleapis/python-genai issue #1613 (2025-11-03) and #1759 (2026-09-11): ``files/batch-<id>``
    (a batch's output) read or deleted by name: 400 INVALID_ARGUMENT "* GetFileRequest.name: File
    ID (name excluding 'files/') cannot be more than 40 characters.\\n" (#1759: on google-genai
    1.53 only the delete is still refused, as ``DeleteFileRequest.name``).
GEMINI_CLI_22486
    google-gemini/gemini-cli issue #22486: a free tier without the model: 429 RESOURCE_EXHAUSTED
    "Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests,
    limit: 0, model: …" and "Please retry in …s"; the ``QuotaFailure`` shape with free-tier quota
    ids from google-gemini/gemini-cli issue #8437; the 51 s ``RetryInfo`` is an illustrative value
    matching the message's "Please retry in 51.28s" (google-gemini/api-examples issue #98 reports
    the same ``limit: 0`` answer).
"""

from __future__ import annotations

from typing import Any

_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_"

FILE_ID = "t5snrshrqff1"
#: PYTHON_GENAI_1218 / GENERATIVE_AI_PYTHON_692 / GENERATIVE_AI_JS_236.
FILE_GONE_BODY: dict[str, Any] = {
    "error": {
        "code": 403,
        "message": f"You do not have permission to access the File {FILE_ID} or it may not exist.",
        "status": "PERMISSION_DENIED",
    }
}

#: COOKBOOK_1077.
NO_BATCH_MODEL = "gemini-2.0-flash-live-001"
MODEL_CANNOT_BATCH_BODY: dict[str, Any] = {
    "error": {
        "code": 404,
        "message": (
            f"models/{NO_BATCH_MODEL} is not found for API version v1beta, or is not supported for "
            "batchGenerateContent. Call ListModels to see the list of available models and their "
            "supported methods."
        ),
        "status": "NOT_FOUND",
    }
}

#: PYTHON_GENAI_1613: a batch output file's name (``batch-`` + a 36-character batch id).
BATCH_OUTPUT_FILE = "files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge"


def file_id_too_long_body(request: str = "GetFileRequest") -> dict[str, Any]:
    """PYTHON_GENAI_1613 (``GetFileRequest``) / #1759 (``DeleteFileRequest``)."""
    return {
        "error": {
            "code": 400,
            "message": (
                f"* {request}.name: File ID (name excluding 'files/') cannot be more than 40 characters.\n"
            ),
            "status": "INVALID_ARGUMENT",
        }
    }


#: GEMINI_CLI_22486 with a 51 s RetryInfo.
QUOTA_ZERO_BODY: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": (
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
            f"* Quota exceeded for metric: {_METRIC}requests, "
            "limit: 0, model: gemini-2.5-pro\nPlease retry in 51.283146s."
        ),
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{_METRIC}requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "51s"},
        ],
    }
}

#: A 429 that waiting does lift (a per-minute free-tier quota with a value): for contrast.
RATE_LIMIT_BODY: dict[str, Any] = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{_METRIC}input_token_count",
                        "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
                        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                        "quotaValue": "250000",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
        ],
    }
}
