"""Who created a batch or a file, recorded where the API lets us find it again.

Gemini batches and files carry no labels, only a free ``displayName`` (at most 512 characters).
To make creation idempotent across retries, cleared tasks and workers that died between the API
call and the XCom push, the operators append a short marker to the display name::

    "<user display name> [af:<tag>:<fingerprint>]"

* ``tag`` (16 hex chars) is derived from the task instance identity: dag id, task id, run id and
  map index. The try number is deliberately *not* part of it: a retry must find what the first
  try created.
* ``fingerprint`` (12 hex chars) is derived from the input (model, requests or input file content,
  options), so a reattach can tell "same work" from "the input changed since".

Everything here is pure: no I/O, no Airflow runtime.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

#: Upper bound the API puts on ``displayName`` (characters).
MAX_DISPLAY_NAME = 512
#: Length of the identity tag and the input fingerprint, in hex characters.
TAG_LENGTH = 16
FINGERPRINT_LENGTH = 12

T = TypeVar("T")

_MARKER_RE = re.compile(r"\[af:(?P<tag>[0-9a-f]{16}):(?P<fp>[0-9a-f]{12})\]\s*$")


@dataclass(frozen=True)
class TaskIdentity:
    """The identity of one task instance, stable across its tries.

    ``map_index`` is -1 for an unmapped task (Airflow's convention).
    """

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> TaskIdentity:
        """Read the identity from an Airflow task context (``context["ti"]``)."""
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=str(ti.dag_id),
            task_id=str(ti.task_id),
            run_id=str(ti.run_id),
            map_index=-1 if map_index is None else int(map_index),
        )

    @property
    def tag(self) -> str:
        """A short deterministic hex tag for this identity (``TAG_LENGTH`` chars)."""
        # NUL separators: no id can contain one, so ("a", "bc") and ("ab", "c") never collide.
        raw = "\x00".join((self.dag_id, self.task_id, self.run_id, str(self.map_index)))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:TAG_LENGTH]


def fingerprint(payload: Any) -> str:
    """A short hex fingerprint of a JSON-native payload (``FINGERPRINT_LENGTH`` chars).

    Keys are sorted so dict ordering never changes the fingerprint.

    :raises TypeError: if ``payload`` is not JSON-serialisable.
    """
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


@dataclass(frozen=True)
class Marker:
    """The identity tag and input fingerprint read back from a display name."""

    tag: str
    fingerprint: str


def tagged_display_name(base: str | None, identity: TaskIdentity, input_fingerprint: str) -> str:
    """Append the identity marker to ``base`` (or to a default name), within ``MAX_DISPLAY_NAME``.

    ``base`` defaults to ``"<dag_id>.<task_id>"``. A base that is too long is truncated, never the
    marker, so the name can always be recognised again.
    """
    return display_name_with_tag(
        base or f"{identity.dag_id}.{identity.task_id}", identity.tag, input_fingerprint
    )


def display_name_with_tag(base: str, tag: str, input_fingerprint: str) -> str:
    """Append ``[af:<tag>:<input_fingerprint>]`` to ``base``, within ``MAX_DISPLAY_NAME``.

    For callers that hold the tag itself rather than a :class:`TaskIdentity` (the common.ai
    adapter: its ``key16`` is this same digest of the task instance). ``base`` is truncated, never
    the marker.

    :raises ValueError: ``tag`` is not ``TAG_LENGTH`` hex chars or ``input_fingerprint`` not
        ``FINGERPRINT_LENGTH`` hex chars (the marker could not be parsed back).
    """
    marker = f"[af:{tag}:{input_fingerprint}]"
    if _MARKER_RE.fullmatch(marker) is None:
        raise ValueError(
            f"Identity marker {marker!r} needs a {TAG_LENGTH}-hex-char tag and a "
            f"{FINGERPRINT_LENGTH}-hex-char fingerprint."
        )
    text = base.strip()
    room = MAX_DISPLAY_NAME - len(marker) - 1
    return f"{text[:room]} {marker}"


def parse_marker(display_name: str | None) -> Marker | None:
    """Return the marker at the end of ``display_name``, or None when there is none."""
    if not display_name:
        return None
    match = _MARKER_RE.search(display_name)
    if match is None:
        return None
    return Marker(tag=match.group("tag"), fingerprint=match.group("fp"))


def find_tagged(
    items: Iterable[T], tag: str, *, limit: int, display_name: Callable[[T], str | None]
) -> list[T]:
    """Scan at most ``limit`` items and return those whose display-name marker carries ``tag``.

    Bounded on purpose: a project with thousands of old batches must not turn every task start
    into an unbounded listing. The caller picks among the matches (usually the newest).
    """
    found: list[T] = []
    for seen, item in enumerate(items, start=1):
        marker = parse_marker(display_name(item))
        if marker is not None and marker.tag == tag:
            found.append(item)
        if seen >= limit:
            break
    return found
