"""EmulatorControl: a small client for the ``/_emulator/...`` control plane."""

from __future__ import annotations

import os
from typing import Any

import httpx

from airflow_provider_gemini_batch.emulator.guard import CONTROL_TOKEN_ENV, CONTROL_TOKEN_HEADER


class EmulatorControl:
    """Drive a running emulator (in-process thread or subprocess) from tests or scripts.

    :param base_url: the emulator's base URL, e.g. ``http://127.0.0.1:8089``.
    :param timeout: seconds per control request (default 30).
    :param control_token: the emulator's control token, sent as ``X-Emulator-Control-Token``
        (default: env ``GEMINI_EMULATOR_CONTROL_TOKEN``; a loopback emulator started without one
        needs none).

    Every method raises :class:`httpx.HTTPStatusError` if the emulator rejects the call
    (e.g. an unknown fault key or a bad ``next_outcome``).
    """

    def __init__(self, base_url: str, timeout: float = 30.0, control_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        token = control_token if control_token is not None else os.environ.get(CONTROL_TOKEN_ENV)
        headers = {CONTROL_TOKEN_HEADER: token} if token else {}
        self._client = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout, headers=headers)

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._client.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def health(self) -> bool:
        """True when the emulator answers."""
        return bool(self._call("GET", "/health").get("ok"))

    def reset(self) -> None:
        """Forget all files, batches, faults and journal; clock offset back to 0; knobs to start values."""
        self._call("POST", "/reset")

    def inject_fault(
        self,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after: float | int | str | None = None,
        times: int = 1,
        delay: float = 0.0,
        drop_after_bytes: int | None = None,
        body: Any = None,
        lose_answer: bool = False,
    ) -> None:
        """Script a fault for the next ``times`` requests matching ``method`` and the regex ``path``.

        ``path`` is searched in the URL path plus ``?query``. Each hit waits ``delay`` seconds, then
        answers ``status`` in the Google error envelope (or ``body`` verbatim) with ``Retry-After:
        retry_after`` if given, or - with ``drop_after_bytes`` - reads and persists that many body
        bytes and closes the TCP connection without any response, or - with ``lose_answer`` -
        serves the request in full and then closes the connection before answering.
        """
        self._call(
            "POST",
            "/faults",
            {
                "method": method,
                "path": path,
                "status": status,
                "retry_after": retry_after,
                "times": times,
                "delay": delay,
                "drop_after_bytes": drop_after_bytes,
                "body": body,
                "lose_answer": lose_answer,
            },
        )

    def pending_faults(self) -> list[dict[str, Any]]:
        """Faults not yet consumed, oldest first."""
        return list(self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self._call("DELETE", "/faults")

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator clock forward by ``seconds``; returns the total offset (seconds)."""
        return float(self._call("POST", "/clock", {"seconds": seconds})["offset"])

    def now(self) -> float:
        """The emulator's current time, epoch seconds (wall clock plus offset)."""
        return float(self._call("GET", "/clock")["now"])

    def configure(
        self,
        processing_seconds: float | None = None,
        error_fraction: float | None = None,
        next_outcome: str | None = None,
        modes: list[str] | None = None,
        extra_api_keys: list[str] | None = None,
        file_processing_seconds: float | None = None,
        huge_output_bytes: int | None = None,
        state_names: dict[str, str] | None = None,
        latency_seconds: float | None = None,
        max_active_batches: int | None = None,
        running_slots: int | None = None,
        error_code: int | None = None,
    ) -> dict[str, Any]:
        """Change knobs; returns the current settings. Arguments left None are unchanged.

        ``next_outcome`` (SUCCEEDED/FAILED/CANCELLED/EXPIRED) applies to the next created batch only.
        ``modes`` *replaces* the set of named modes (see :meth:`set_modes`, docs/emulator.md);
        ``extra_api_keys`` are keys accepted besides the server's; ``file_processing_seconds``
        (default 2) and ``huge_output_bytes`` (default 1,000,000) tune the ``files_processing``
        and ``huge_inline_503`` modes; ``state_names`` maps short states to the wire spelling of
        batches created from now on, e.g. ``{"PENDING": "JOB_STATE_QUEUED"}``;
        ``latency_seconds`` delays every API answer (not the control plane) by that many seconds;
        ``max_active_batches`` (default 100) is the concurrent PENDING/RUNNING limit behind 429;
        ``running_slots`` (default 0: no queue) lets only that many batches run at once, admitting
        queued ones by priority; ``error_code`` is the gRPC code of errors ``error_fraction``
        injects (default 3; 4/8/13/14 are retryable).
        """
        body = {
            k: v
            for k, v in {
                "processing_seconds": processing_seconds,
                "error_fraction": error_fraction,
                "next_outcome": next_outcome,
                "modes": modes,
                "extra_api_keys": extra_api_keys,
                "file_processing_seconds": file_processing_seconds,
                "huge_output_bytes": huge_output_bytes,
                "state_names": state_names,
                "latency_seconds": latency_seconds,
                "max_active_batches": max_active_batches,
                "running_slots": running_slots,
                "error_code": error_code,
            }.items()
            if v is not None
        }
        return dict(self._call("POST", "/config", body))

    def set_modes(self, *names: str) -> list[str]:
        """Switch on exactly the named modes (none: back to the well-behaved service); returns them.

        :raises httpx.HTTPStatusError: an unknown mode name (400; the body lists the known ones).
        """
        return list(self.configure(modes=list(names))["modes"])

    def modes(self) -> dict[str, Any]:
        """``{"active": [...], "known": {name: {"does", "source"}}}``."""
        return dict(self._call("GET", "/modes"))

    def journal(self) -> list[dict[str, Any]]:
        """Every API request seen, oldest first (method, path, query, headers, body_size, json)."""
        return list(self._call("GET", "/journal")["entries"])

    def clear_journal(self) -> None:
        """Forget the journal."""
        self._call("DELETE", "/journal")

    # ---- Vertex AI and Cloud Storage (see emulator/cloud.py) --------------------------------------

    def vertex_jobs(self) -> list[dict[str, Any]]:
        """Every Vertex batch prediction job created since the last reset, oldest first, deleted
        ones included: ``{"name", "displayName", "state", "createTime", "labels", "deleted",
        "predictions"}`` (``predictions``: ``bucket/object`` of predictions.jsonl once written)."""
        return list(self._call("GET", "/vertex/jobs")["jobs"])

    def vertex_configure(
        self, next_outcome: str | None = None, accept_any_token: bool | None = None
    ) -> dict[str, Any]:
        """``next_outcome`` (SUCCEEDED, FAILED, CANCELLED, EXPIRED, PARTIALLY_SUCCEEDED) applies to
        the next created Vertex job only; ``accept_any_token`` lets any bearer token through."""
        body = {
            k: v
            for k, v in {"next_outcome": next_outcome, "accept_any_token": accept_any_token}.items()
            if v is not None
        }
        return dict(self._call("POST", "/vertex/config", body))

    def vertex_token(self) -> str:
        """A bearer token the Vertex routes accept, without a service-account key."""
        return str(self._call("POST", "/vertex/token")["access_token"])

    def load_bigquery_table(self, table: str, rows: bytes) -> None:
        """Make ``bq://<table>`` (``project.dataset.table``) readable by jobs: ``rows`` is JSONL."""
        response = self._client.put("/vertex/bigquery", params={"table": table}, content=rows)
        response.raise_for_status()

    def read_bigquery_table(self, table: str) -> bytes:
        """The rows (JSONL) a job with BigQuery output wrote to ``table``."""
        response = self._client.get("/vertex/bigquery", params={"table": table.removeprefix("bq://")})
        response.raise_for_status()
        return response.content
