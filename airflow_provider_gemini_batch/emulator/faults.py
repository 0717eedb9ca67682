"""Scripted faults: the next N matching requests get a delay, an error, or a dropped connection."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """One scripted fault.

    :param method: HTTP method to match (case-insensitive); None matches any.
    :param path: regex searched in the URL path plus ``?query``; None matches any.
    :param status: HTTP status answered (Google error envelope) after the delay; None = no error.
    :param retry_after: value of the ``Retry-After`` header (seconds) sent with ``status``.
    :param times: how many matching requests it applies to (default 1).
    :param delay: seconds to wait before answering (default 0).
    :param drop_after_bytes: read and persist this many body bytes, then close the TCP
        connection without any HTTP response.
    :param body: JSON body to answer with ``status`` instead of the generated envelope.
    :param lose_answer: serve the request in full (a create really creates), then close the TCP
        connection before the answer is written: the "lost answer" a client cannot tell from a
        request that never arrived.
    """

    method: str | None = None
    path: str | None = None
    status: int | None = None
    retry_after: float | int | str | None = None
    times: int = 1
    delay: float = 0.0
    drop_after_bytes: int | None = None
    body: Any = None
    lose_answer: bool = False
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.times < 1:
            raise ValueError("times must be >= 1")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.drop_after_bytes is not None and self.drop_after_bytes < 0:
            raise ValueError("drop_after_bytes must be >= 0")
        self._regex = re.compile(self.path) if self.path else None

    def matches(self, method: str, target: str) -> bool:
        """Whether a request ``method`` to ``target`` (path plus ``?query``) is hit by this fault."""
        if self.method and self.method.upper() != method.upper():
            return False
        return self._regex is None or self._regex.search(target) is not None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view (control plane)."""
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "retry_after": self.retry_after,
            "times": self.times,
            "delay": self.delay,
            "drop_after_bytes": self.drop_after_bytes,
            "body": self.body,
            "lose_answer": self.lose_answer,
        }


FAULT_KEYS = (
    "method",
    "path",
    "status",
    "retry_after",
    "times",
    "delay",
    "drop_after_bytes",
    "body",
    "lose_answer",
)


def fault_from_dict(data: dict[str, Any]) -> Fault:
    """Build a :class:`Fault` from its JSON form. Raises ValueError on unknown keys or bad values."""
    unknown = set(data) - set(FAULT_KEYS)
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")
    return Fault(**{k: data[k] for k in FAULT_KEYS if data.get(k) is not None})


def faults_from_json(text: str) -> list[Fault]:
    """Parse one fault object or a list of them (``--fault`` / ``GEMINI_EMULATOR_FAULTS``)."""
    data = json.loads(text)
    items = data if isinstance(data, list) else [data]
    return [fault_from_dict(item) for item in items]


class FaultBook:
    """Pending faults, consumed oldest-first by matching requests."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue ``fault``."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults still queued (oldest first)."""
        return list(self._faults)

    def take(self, method: str, target: str) -> Fault | None:
        """Consume one use of the oldest fault matching this request; None when none matches."""
        for fault in self._faults:
            if fault.matches(method, target):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None
