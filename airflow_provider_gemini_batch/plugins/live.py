"""One read of a batch through the sync hook, for the page (never raises, never leaks secrets).

The API server reads the connection like any Airflow component does (secrets backend, environment,
metadata DB) and asks the API once: a page that hangs through a five-minute retry budget helps
nobody, and the page refreshes itself anyway. What goes wrong becomes a fixed sentence chosen by
the exception's *type*: the exception's text is never shown, because an error from a transport
library may quote a URL or header (the hook redacts what it knows, but a page is no place to rely
on that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.retry import RetryPolicy


@dataclass(frozen=True)
class LiveRead:
    """The batch as the API describes it now, or why it could not be read."""

    batch: Batch | None = None
    problem: str | None = None


def read_batch(conn_id: str, batch_name: str) -> LiveRead:
    """``GET`` ``batch_name`` once through ``GeminiBatchHook(conn_id)``; never raises."""
    from airflow_provider_gemini_batch.exceptions import (
        GeminiApiError,
        GeminiConnectionConfigError,
        GeminiNotFoundError,
        GeminiTransportError,
    )
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    hook = GeminiBatchHook(gemini_conn_id=conn_id)
    try:
        hook.policy = RetryPolicy(max_retries=0)  # one attempt: the page refreshes, it does not wait
        return LiveRead(batch=hook.get_batch(batch_name, light=True))
    except GeminiNotFoundError:
        return LiveRead(
            problem="The Gemini API no longer knows this batch (deleted, expired from the API, "
            "or created with another key). What the tasks recorded is shown below."
        )
    except GeminiConnectionConfigError:
        return LiveRead(
            problem=f"The Airflow connection {conn_id!r} is missing or incomplete on the API server, "
            "so the batch could not be read live."
        )
    except GeminiApiError as exc:
        # The status code and Google status word are safe to show; the message is not shown.
        word = f" {exc.status}" if exc.status and re.fullmatch(r"[A-Z_]{1,40}", exc.status) else ""
        return LiveRead(
            problem=f"The Gemini API answered HTTP {int(exc.http_status)}{word} for this batch; "
            "the task log says more."
        )
    except GeminiTransportError:
        return LiveRead(problem="The Gemini API could not be reached from the API server; retrying.")
    except Exception as exc:  # the page must render whatever happens; the type only, never the text
        return LiveRead(problem=f"The batch could not be read ({type(exc).__name__}).")
