"""Backends: what differs per batch service behind one ``gemini_batch`` connection.

:func:`backend_for` picks the backend a connection names (its ``backend`` extra, default
``"developer"``); :data:`BACKENDS` maps each spelling to its class. See ``backends/base.py`` for
what a backend holds and how to add one.
"""

from __future__ import annotations

from airflow_provider_gemini_batch._core.settings import ConnectionSettings
from airflow_provider_gemini_batch.backends.base import Backend
from airflow_provider_gemini_batch.backends.developer import DeveloperBackend
from airflow_provider_gemini_batch.backends.vertex import VertexBackend
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError

__all__ = ["BACKENDS", "Backend", "DeveloperBackend", "VertexBackend", "backend_for"]

#: The backend class of each ``backend`` spelling a connection may use.
BACKENDS: dict[str, type[Backend]] = {
    DeveloperBackend.name: DeveloperBackend,
    VertexBackend.name: VertexBackend,
}
#: The backend of a connection that names none.
DEFAULT_BACKEND = DeveloperBackend.name


def backend_for(settings: ConnectionSettings) -> Backend:
    """The backend for ``settings`` (its ``backend`` attribute when it has one, else the default).

    :raises GeminiConnectionConfigError: the connection names a backend this release lacks.
    """
    spelling = str(getattr(settings, "backend", None) or DEFAULT_BACKEND)
    cls = BACKENDS.get(spelling)
    if cls is None:
        raise GeminiConnectionConfigError(
            f"Connection {settings.conn_id!r}: backend {spelling!r} is not one of {sorted(BACKENDS)}."
        )
    return cls(settings)
