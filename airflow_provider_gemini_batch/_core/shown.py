"""Views of server answers with the connection's secrets taken out of every text they show.

A batch's or file's own text (a FAILED batch's ``error.message`` and ``details``, its display name,
model, state spelling, a file's ``error``) comes from the server and ends up in exception texts,
task log lines, XCom summaries and the batch page. A broken or hostile server may quote the key
there in any letter case; Airflow's secrets masker matches only the exact, upper- and lower-cased
forms, so the hooks pass every view they return through these functions, which use the provider's
case-insensitive :func:`~airflow_provider_gemini_batch._core.errors.redact`. Result bodies (inline
responses, ``metadata.output``) are data, not text shown to anyone, and are left as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from airflow_provider_gemini_batch._core.errors import redact, redact_all
from airflow_provider_gemini_batch._core.models import ApiStatus, Batch, FileInfo

_T = TypeVar("_T")


def _text(value: _T, secrets: tuple[str, ...]) -> _T:
    """``value`` redacted when it is a string (a hostile server may send any JSON type)."""
    return redact(value, secrets) if isinstance(value, str) else value  # type: ignore[return-value]


def _raw_with_error(raw: Mapping[str, Any], secrets: tuple[str, ...]) -> Mapping[str, Any]:
    """``raw`` with its ``error`` object redacted (other fields shared, not copied)."""
    if not isinstance(raw, Mapping) or "error" not in raw:
        return raw
    return {**raw, "error": redact_all(raw["error"], secrets)}


def shown_batch(batch: Batch, secrets: Iterable[str | None]) -> Batch:
    """``batch`` with every server-supplied text it shows redacted (name, display name, model,
    raw state, result file name, the error's message and details, ``raw["error"]``).

    Cost: a few short strings per call; the batch's result bodies are not walked.
    """
    keys = tuple(s for s in secrets if s)
    if not keys:
        return batch
    error = batch.error
    if error is not None:
        error = ApiStatus(
            code=error.code,
            message=redact(error.message, keys),
            details=tuple(redact_all(list(error.details), keys)),
        )
    return dataclasses.replace(
        batch,
        name=redact(batch.name, keys),
        display_name=_text(batch.display_name, keys),
        model=_text(batch.model, keys),
        state_raw=_text(batch.state_raw, keys),
        responses_file=_text(batch.responses_file, keys),
        error=error,
        raw=_raw_with_error(batch.raw, keys),
    )


def shown_file(info: FileInfo, secrets: Iterable[str | None]) -> FileInfo:
    """``info`` with its server-supplied texts redacted (name, display name, state and
    ``raw["error"]``, which a FAILED file's message is made of). Its URIs are left as they are:
    they are addresses to read from, never shown with a query string."""
    keys = tuple(s for s in secrets if s)
    if not keys:
        return info
    return dataclasses.replace(
        info,
        name=redact(info.name, keys),
        display_name=_text(info.display_name, keys),
        state=_text(info.state, keys),
        raw=_raw_with_error(info.raw, keys),
    )
