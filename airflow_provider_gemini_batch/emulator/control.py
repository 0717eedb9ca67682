"""EmulatorControl: a small client for the ``/_emulator/...`` control plane."""

from __future__ import annotations

from typing import Any

import httpx


class EmulatorControl:
    """Drive a running emulator (in-process thread or subprocess) from tests or scripts.

    :param base_url: the emulator's base URL, e.g. ``http://127.0.0.1:8089``.
    :param timeout: seconds per control request (default 30).

    Every method raises :class:`httpx.HTTPStatusError` if the emulator rejects the call
    (e.g. an unknown fault key or a bad ``next_outcome``).
    """

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout)

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
    ) -> dict[str, Any]:
        """Change knobs for batches created from now on; returns the current settings.

        ``next_outcome`` (SUCCEEDED/FAILED/CANCELLED/EXPIRED) applies to the next created batch only.
        """
        body = {
            k: v
            for k, v in {
                "processing_seconds": processing_seconds,
                "error_fraction": error_fraction,
                "next_outcome": next_outcome,
            }.items()
            if v is not None
        }
        return dict(self._call("POST", "/config", body))

    def journal(self) -> list[dict[str, Any]]:
        """Every API request seen, oldest first (method, path, query, headers, body_size, json)."""
        return list(self._call("GET", "/journal")["entries"])

    def clear_journal(self) -> None:
        """Forget the journal."""
        self._call("DELETE", "/journal")
