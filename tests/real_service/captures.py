"""Payloads the real Gemini service was seen to send, rebuilt from public sources.

Each constant names its source. Where the source shows an SDK object (``File(...)``,
``BatchJob(...)``) rather than raw JSON, the wire JSON is rebuilt by the SDK's documented mapping
(python-genai ``_BatchJob_from_mldev``: snake_case attribute ↔ lowerCamelCase field, ``JOB_STATE_X`` ↔
``BATCH_STATE_X``,
datetimes as RFC 3339, int64 as strings); the values themselves are the source's.

Sources
-------
COOKBOOK
    google-gemini/cookbook ``quickstarts/Batch_mode.ipynb``, saved cell outputs (the mirror's
    commit f1e7e3de6004e6ca604b174684ecf89d628ac6c4). Cells run 2025-07-01 (file/inline text
    batches, ``batches.list``) and 2025-09-10 (embeddings file batch).
LIVE_CAPTURE
    Live answers published in third-party code: the headers of an upload ``start`` answer from a
    raw HTTP recording of google-genai 1.21.1 against the live Files API (2025-06-24), and a
    finished Operation with ``v1main`` in ``@type`` (IF-Solucoes/lupa ``tests/test_gemini.py``,
    see ``captures_batches``). Both are described in docs/real-service/wire-format.md.
"""

from __future__ import annotations

from typing import Any

#: COOKBOOK cell 40: the 202-byte embeddings input, two lines each ending in ``\n``.
COOKBOOK_EMBEDDINGS_INPUT = (
    b'{"key": "request_1", "request": {"output_dimensionality": 3, "content": {"parts": [{"text": "1"}]}}}\n'
    b'{"key": "request_2", "request": {"output_dimensionality": 4, "content": {"parts": [{"text": "2"}]}}}\n'
)
COOKBOOK_EMBEDDINGS_INPUT_SHA256 = "597b96e5c7d2b0d01acdc80dd0bcd653da099bb26d8106b12d870edadf2837fc"

#: COOKBOOK cell 42: the File the service returned for that upload (``mime_type="jsonl"``).
#: ``sha256Hash`` is base64 of the *hex* digest string, not of the raw digest.
COOKBOOK_EMBEDDINGS_FILE: dict[str, Any] = {
    "name": "files/t5snrshrqff1",
    "mimeType": "jsonl",
    "sizeBytes": "202",
    "createTime": "2025-09-10T13:37:39.328452Z",
    "updateTime": "2025-09-10T13:37:39.328452Z",
    "expirationTime": "2025-09-12T13:37:39.053649Z",
    "sha256Hash": "NTk3Yjk2ZTVjN2QyYjBkMDFhY2RjODBkZDBiY2Q2NTNkYTA5OWJiMjZkODEwNmIxMmQ4NzBlZGFkZjI4MzdmYw==",
    "uri": "https://generativelanguage.googleapis.com/v1beta/files/t5snrshrqff1",
    "state": "ACTIVE",
    "source": "UPLOADED",
}

#: LIVE_CAPTURE: the headers of the answer to an upload ``start`` (the body is empty). The
#: session URL is absolute on the real service; ``{base}`` is replaced by the stand-in's URL.
_SESSION_URL = "{base}/upload/v1beta/files?upload_id=ABgVH8-real-looking&upload_protocol=resumable"
UPLOAD_START_HEADERS: dict[str, str] = {
    "X-Goog-Upload-Status": "active",
    "X-Goog-Upload-URL": _SESSION_URL,
    "X-Goog-Upload-Control-URL": _SESSION_URL,
    "X-Goog-Upload-Chunk-Granularity": "8388608",
}

#: COOKBOOK cell 44: the embeddings batch as created (PENDING), on the wire.
COOKBOOK_EMBEDDINGS_BATCH_CREATED: dict[str, Any] = {
    "name": "batches/2icf9ky95pieco1jwucta7drijo5k8hjllzj",
    "metadata": {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch",
        "model": "models/gemini-embedding-001",
        "name": "batches/2icf9ky95pieco1jwucta7drijo5k8hjllzj",
        "createTime": "2025-09-10T14:42:07.160573Z",
        "updateTime": "2025-09-10T14:42:07.160573Z",
        "state": "BATCH_STATE_PENDING",
    },
}
