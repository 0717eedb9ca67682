"""The connection test of the sync hook (Airflow's Test button and ``airflow connections test``).

Airflow calls ``test_connection()`` and shows its ``(ok, message)`` to a person; it must never
raise (Airflow 3 hook contract). The probe is the backend's cheapest authenticated read
(``backends/``: one file listed on the Developer API); the wording here turns what went wrong
into something the person at the form can act on, with secrets and URL userinfo taken out.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow_provider_gemini_batch._core.errors import redact
from airflow_provider_gemini_batch._core.urls import public_url, scrub_userinfo
from airflow_provider_gemini_batch.exceptions import GeminiConnectionConfigError

if TYPE_CHECKING:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook


def is_ui_test_id(conn_id: str) -> bool:
    """Whether ``conn_id`` looks like the id Airflow's UI tests a connection form under.

    Airflow (``api_fastapi/core_api/routes/public/connections.py``, ``test_connection``; checked
    on 3.3.2) names the form ``get_random_string()`` (8 ASCII letters and digits) and exports it
    as ``AIRFLOW_CONN_<ID upper-cased>`` for the duration of the test. The id mixes upper- and
    lower-case letters (drawn from all 62 letters and digits, one of 8 characters misses either
    case with odds of about 1 in 40), which ids people write almost never do: ``gemini01`` or
    ``GEMINI01`` defined by an environment variable keep their name in messages. A generated id
    without both cases is then named as it is, which is only less tidy.
    """
    return (
        len(conn_id) == 8
        and conn_id.isascii()
        and conn_id.isalnum()
        and any(c.isupper() for c in conn_id)
        and any(c.islower() for c in conn_id)
        and f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ
    )


def test_connection(hook: GeminiBatchHook) -> tuple[bool, str]:
    """Send the backend's probe once. Returns ``(ok, message)``; never raises."""
    try:
        backend = hook.backend
        hook._send_once(backend.probe()).close()
        return True, backend.connected_message(public_url(hook.settings.base_url))
    except Exception as exc:
        message = redact(str(exc) or type(exc).__name__, hook._secrets())
        cached = hook.__dict__.get("settings")
        message = scrub_userinfo(message, cached.base_url if cached is not None else None)
        return False, failure_message(hook, message, exc)


def failure_message(hook: GeminiBatchHook, message: str, exc: BaseException) -> str:
    """The test's failure text for a person: the connection id named, unless it is the UI's
    generated one (:func:`is_ui_test_id`); a hint for a host without a scheme.

    Airflow's UI tests a form under a generated connection id, which means nothing to the
    reader, so "connection '<id>'" becomes "this connection" there. A host without
    ``http://``/``https://`` is taken as ``https://`` (``_core.settings``); against a
    plain-HTTP server (the local emulator) that fails with a bare SSL error, so the message
    says what was assumed and how to write it.
    """
    conn_id = hook.gemini_conn_id
    if is_ui_test_id(conn_id):
        quoted = repr(conn_id)
        for old, new in (
            (f"The Airflow connection {quoted}", "This connection"),
            (f"Airflow connection {quoted}", "this connection"),
            (f"Connection {quoted}", "This connection"),
            (f"connection {quoted}", "this connection"),
            (quoted, "this connection"),
        ):
            message = message.replace(old, new)
    if isinstance(exc, GeminiConnectionConfigError):
        return message
    try:
        host = (hook.get_connection(conn_id).host or "").strip()
    except Exception:  # the message above is all we have
        return message
    if host and "://" not in host:
        message += (
            f" The host {host!r} has no scheme, so https://{host} was used; if the server speaks "
            f"plain HTTP (e.g. the local emulator), write the host as http://{host}."
        )
    return message
