"""Validation and normalisation of resource names (models, batches, files).

Names end up in URL paths, so anything that could change the path or the query (``..``, ``?``,
``&``, ``#``, ``%``, extra ``/``) is refused here, before a request is built.
"""

from __future__ import annotations

import re

from airflow_provider_gemini_batch.exceptions import GeminiInvalidInputError

# Model ids look like "gemini-2.5-flash" or "text-embedding-004"; tuned models like "my-model-abc12".
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
# Batch and file ids are lowercase alphanumerics with dashes on the real service; accept a little
# more (upper case, underscore) so an emulator or a future id format is not rejected needlessly.
_RESOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_MODEL_PREFIXES = ("models/", "tunedModels/")


def normalize_model(model: str) -> str:
    """Return the full model resource name (``models/<id>`` or ``tunedModels/<id>``).

    A bare id gets the ``models/`` prefix, as the google-genai SDK does.

    :raises GeminiInvalidInputError: for an empty name, or one containing ``..``, ``?``, ``&``,
        ``#``, ``%``, whitespace or a ``/`` other than the prefix.
    """
    if not isinstance(model, str) or not model.strip():
        raise GeminiInvalidInputError("The model name is empty; pass e.g. 'gemini-2.5-flash'.")
    prefix = next((p for p in _MODEL_PREFIXES if model.startswith(p)), "models/")
    ident = model.removeprefix(prefix) if model.startswith(prefix) else model
    if ".." in ident or not _MODEL_ID.fullmatch(ident):
        raise GeminiInvalidInputError(
            f"Invalid model name {model!r}: use an id such as 'gemini-2.5-flash' or "
            "'models/gemini-2.5-flash' (no '/', '..', '?', '&', '#', '%' or spaces)."
        )
    return prefix + ident


def normalize_batch_name(name: str) -> str:
    """Return ``batches/<id>`` unchanged after checking its form.

    Bare ids are refused (as the SDK does) so a file name or a typo is never sent as a batch.

    :raises GeminiInvalidInputError: if ``name`` is not ``batches/<id>``.
    """
    return _normalize(name, "batches/", "batch", "batches/123abc")


def normalize_file_name(name: str) -> str:
    """Return ``files/<id>``. A file ``uri`` (``https://…/files/<id>``) is reduced to its name.

    :raises GeminiInvalidInputError: if ``name`` is not a file name or file URI.
    """
    if isinstance(name, str) and name.startswith(("https://", "http://")) and "/files/" in name:
        name = "files/" + name.rsplit("/files/", 1)[1].split("?", 1)[0].split(":", 1)[0]
    return _normalize(name, "files/", "file", "files/abc123")


def _normalize(name: str, prefix: str, kind: str, example: str) -> str:
    if not isinstance(name, str) or not name.startswith(prefix):
        raise GeminiInvalidInputError(f"Invalid {kind} name {name!r}: expected the form {example!r}.")
    ident = name[len(prefix) :]
    if not _RESOURCE_ID.fullmatch(ident):
        raise GeminiInvalidInputError(
            f"Invalid {kind} name {name!r}: the id after {prefix!r} must be letters, digits, '-' or '_' "
            f"(e.g. {example!r})."
        )
    return name


#: The Files API accepts file ids of at most 40 characters; batch output files
#: (``files/batch-<36-character batch id>``) are longer, so they cannot be deleted by name (400
#: INVALID_ARGUMENT "File ID (name excluding 'files/') cannot be more than 40 characters";
#: googleapis/python-genai #1613, #1759; #1613 saw reads refused too). Downloading them works.
MAX_FILE_ID_CHARS = 40


def is_unaddressable_file(name: str) -> bool:
    """Whether the Files API refuses to delete ``files/<id>`` by name because the id is over 40
    characters (every batch output file, ``files/batch-…``)."""
    return isinstance(name, str) and len(name.removeprefix("files/")) > MAX_FILE_ID_CHARS
