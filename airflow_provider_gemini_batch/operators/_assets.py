"""The Asset a results destination is declared as (an outlet), where one can be named up front."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_gemini_batch._core.urls import public_url


def destination_uri(destination: str) -> str | None:
    """A canonical URI for ``destination``, or None when it cannot be known before run time.

    Templated values (``{{ ... }}``) are only known once rendered, too late for a static outlet.
    A local path becomes an absolute ``file://`` URI; ``scheme://`` URIs are kept as they are,
    without userinfo (``s3://KEY:SECRET@bucket/...``: asset URIs are shown to every UI user).
    """
    text = str(destination).strip()
    if not text or "{{" in text or "{%" in text:
        return None
    if urlsplit(text).scheme and "://" in text:
        return public_url(text)
    return "file://" + os.path.abspath(text)


def destination_asset(destination: str) -> Any | None:
    """An ``Asset`` for ``destination`` (see :func:`destination_uri`), or None."""
    uri = destination_uri(destination)
    if uri is None:
        return None
    from airflow.providers.common.compat.sdk import Asset

    try:
        return Asset(uri=uri)
    except (ValueError, TypeError):
        # A scheme Airflow's URI normalisation rejects: land the results anyway, without lineage.
        return None
