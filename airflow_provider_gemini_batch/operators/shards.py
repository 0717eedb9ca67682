"""Split a large input into shards for dynamic task mapping, and merge the shards' results.

:class:`GeminiSplitInputOperator` streams one JSONL input into shard files (``_core/sharding.py``
decides where each line goes) and returns one ``{"input_path", "display_name"}`` per shard, ready
for ``GeminiCreateBatchOperator.partial(...).expand_kwargs(split.output)``. Each mapped create is
its own task instance (the map index is part of its identity), so a retried shard reattaches to
its batch like any create. :class:`GeminiMergeShardsOperator` takes the mapped results tasks'
manifests and returns one manifest with per-shard figures, optionally concatenating the shards'
result files into one. Memory stays flat: lines and blocks are streamed, never whole files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_gemini_batch._core import rows
from airflow_provider_gemini_batch._core.cost import sum_costs
from airflow_provider_gemini_batch._core.routes import MAX_UPLOAD_BYTES
from airflow_provider_gemini_batch._core.sharding import DEFAULT_CHARS_PER_TOKEN, ShardLimits, ShardPlanner
from airflow_provider_gemini_batch._core.urls import public_url
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError
from airflow_provider_gemini_batch.operators._files import child, copy_into, iter_lines
from airflow_provider_gemini_batch.operators._landed import default_root, landed_file

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: XCom key of the split's per-shard figures.
SHARDS_XCOM_KEY = "shards"


class GeminiSplitInputOperator(BaseOperator):
    """Split one JSONL input into shard files; return create kwargs for each shard.

    Limits per shard (a shard closes before the line that would break one): ``max_requests``,
    ``max_bytes`` (default and ceiling 2 GiB, the Files API limit) and ``max_tokens`` (estimated
    enqueued input tokens; the quota is per model and tier across active batches:
    ai.google.dev/gemini-api/docs/rate-limits).
    Every written line carries a key; key-less lines get ``request-<position in the whole
    input>``; a repeated key fails the task before any file is written past it (naming both lines).

    :param source: the input JSONL: local path, ``file://`` or object-storage URI (templated).
    :param destination: the directory (or prefix URI) for ``shard-00000.jsonl`` ... (templated).
    :param max_requests: requests per shard, or None (templated). At least one limit below 2 GiB or a
        request/token bound should be set, else the whole input is one shard.
    :param max_bytes: bytes per shard file. Default 2 GiB.
    :param max_tokens: estimated input tokens per shard, or None (templated).
    :param chars_per_token: characters per token of the estimate. Default 4.
    :param display_name: base of the shards' display names (``"<name> shard 3"``). Default the
        task id.
    :returns: ``[{"input_path": "<destination>/shard-00000.jsonl", "display_name": "..."}, ...]``;
        the figures ``[{"shard", "input_path", "requests", "bytes", "estimated_tokens",
        "first_line", "last_line"}]`` go to XCom key ``shards``.
    :raises GeminiInvalidInputError: bad limits; :raises GeminiInputFileError: unreadable source,
        a line that is not a JSON object, a repeated key, one request over ``max_bytes``.
    """

    template_fields: Sequence[str] = ("source", "destination", "display_name", "max_requests", "max_tokens")
    template_ext: Sequence[str] = ()
    ui_color = "#fce8b2"

    def __init__(
        self,
        *,
        source: str,
        destination: str,
        max_requests: int | None = None,
        max_bytes: int = MAX_UPLOAD_BYTES,
        max_tokens: int | None = None,
        chars_per_token: float = DEFAULT_CHARS_PER_TOKEN,
        display_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.destination = destination
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.max_tokens = max_tokens
        self.chars_per_token = chars_per_token
        self.display_name = display_name

    def execute(self, context: Context) -> list[dict[str, str]]:
        from airflow_provider_gemini_batch.storage import atomic_destination

        limits = ShardLimits(
            max_requests=_count(self.max_requests, "max_requests"),
            max_bytes=int(self.max_bytes),
            max_tokens=_count(self.max_tokens, "max_tokens"),
            chars_per_token=float(self.chars_per_token),
        )
        planner = ShardPlanner(limits, source=str(self.source))
        paths: list[str] = []
        try:
            with contextlib.ExitStack() as stack:
                out = None
                position = 0
                line_no = 0
                for line_no, line in _numbered(iter_lines(str(self.source))):
                    index, data = planner.add(line, line_no, position)
                    position += 1
                    if index == len(paths):
                        stack.close()  # publishes the previous shard
                        paths.append(child(self.destination, f"shard-{index:05d}.jsonl"))
                        out = stack.enter_context(atomic_destination(paths[-1]))
                    assert out is not None
                    out.write(data)
            # Keys repeated further apart than the planner's window are found once every line was
            # placed (reading the input again only if some digest repeated).
            planner.finish(lambda: iter_lines(str(self.source)))
        except GeminiInputFileError:
            _remove(paths)
            raise
        finally:
            planner.close()  # the digests spilled to a temp file
        if not paths:
            raise GeminiInvalidInputError(f"{self.source} holds no requests; nothing to split.")
        base = self.display_name or self.task_id
        figures = [{**s.to_json(), "input_path": p} for s, p in zip(planner.shards, paths, strict=True)]
        for figure in figures:
            self.log.info(
                "Shard %(shard)d: %(requests)d requests, %(bytes)d bytes, ~%(estimated_tokens)d tokens "
                "(input lines %(first_line)d-%(last_line)d) -> %(input_path)s",
                figure,
            )
        self.log.info(
            "Split %s into %d shards (%d requests).", public_url(str(self.source)), len(paths), position
        )
        context["ti"].xcom_push(key=SHARDS_XCOM_KEY, value=figures)
        return [
            {"input_path": p, "display_name": f"{base} shard {i + 1} of {len(paths)}"}
            for i, p in enumerate(paths)
        ]


def _remove(paths: list[str]) -> None:
    """Delete the shards this split published (best effort) before it fails: no half split stays."""
    from airflow_provider_gemini_batch.storage import resolve_path

    for path in paths:
        with contextlib.suppress(OSError):
            resolve_path(path).unlink()


def _count(value: Any, name: str) -> int | None:
    """A templated bound as an int (a rendered template is a string), or None."""
    if value is None or value == "" or value == "None":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise GeminiInvalidInputError(f"{name} must be a positive integer or None, got {value!r}.")


def _numbered(lines: Iterable[bytes]) -> Iterable[tuple[int, bytes]]:
    # Lines are counted as read (blank lines are skipped by iter_lines, so numbers are positions
    # among non-blank lines, which is also what the results operator's position keys count).
    return enumerate(lines, start=1)


def _sum_into(total: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, Mapping):
            _sum_into(total.setdefault(key, {}), value)
        elif isinstance(value, int) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value


class GeminiMergeShardsOperator(BaseOperator):
    """One manifest (and optionally one result file) from the manifests of mapped results tasks.

    :param manifests: the results tasks' manifests in shard order, usually ``results.output`` of a
        mapped :class:`GeminiBatchResultsOperator` (templated).
    :param destination: where to write all shards' rows as one JSONL (templated; local or
        object storage), streamed shard after shard; None (default) writes nothing.
    :param results_root: the directory (or URI prefix) the shards' result files must lie under to
        be read (templated). Default: the directory of ``destination``. Manifests are XComs anyone
        who may write one can plant, so a file outside it, not a regular file, or not a landed
        result file is refused (``operators/_landed.py``).
    :returns: ``{"shards", "states": {state: n}, "destination", "expected_requests", "counts"
        (summed, as a results manifest), "usage" (summed), "cost"? (summed when the shards carry
        one), "per_shard": [{"shard", "batch_name", "state", "destination", "expected_requests",
        "counts": {"total", "succeeded", "failed", "retryable"}, "cost"?}], "warnings"?}``.
    :raises GeminiInvalidInputError: no manifests, or one that is not a results manifest, or one
        naming a file the merge may not read (see ``results_root``), before anything is written.
    """

    template_fields: Sequence[str] = ("manifests", "destination", "results_root")
    template_ext: Sequence[str] = ()
    ui_color = "#fce8b2"

    def __init__(
        self,
        *,
        manifests: Any,
        destination: str | None = None,
        results_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.manifests = manifests
        self.destination = destination
        self.results_root = results_root

    def execute(self, context: Context) -> dict[str, Any]:
        manifests = [m for m in (self.manifests or []) if m is not None]
        if not manifests:
            raise GeminiInvalidInputError("No shard manifests to merge (did the results tasks run?).")
        for i, manifest in enumerate(manifests):
            if not isinstance(manifest, Mapping) or "counts" not in manifest:
                raise GeminiInvalidInputError(
                    f"Shard {i}'s manifest is not a results manifest (no 'counts'): pass the mapped "
                    f"results task's output; got {type(manifest).__name__}."
                )
        counts: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        states: dict[str, int] = {}
        warnings: list[str] = []
        per_shard = []
        expected = 0
        for i, m in enumerate(manifests):
            _sum_into(counts, m["counts"])
            _sum_into(usage, m.get("usage") or {})
            states[str(m.get("state"))] = states.get(str(m.get("state")), 0) + 1
            expected += int(m.get("expected_requests") or 0)
            warnings.extend(f"shard {i}: {w}" for w in m.get("warnings") or [])
            c = m["counts"]
            entry: dict[str, Any] = {
                "shard": i,
                "batch_name": m.get("batch_name"),
                "state": m.get("state"),
                "destination": m.get("destination"),
                "expected_requests": m.get("expected_requests"),
                "counts": {k: c.get(k, 0) for k in ("total", "succeeded", "failed", "retryable")},
            }
            if m.get("cost") is not None:
                entry["cost"] = m["cost"].get("total")
            per_shard.append(entry)
        if self.destination:
            self._concatenate(manifests)
        merged: dict[str, Any] = {
            "shards": len(manifests),
            "states": states,
            "destination": str(self.destination) if self.destination else None,
            "expected_requests": expected,
            "counts": {
                **counts,
                "by_outcome": {o: counts.get("by_outcome", {}).get(o, 0) for o in rows.OUTCOMES},
            },
            "usage": dict(sorted(usage.items())),
        }
        cost = sum_costs([m.get("cost") for m in manifests])
        if cost is not None:
            merged["cost"] = cost
        merged["per_shard"] = per_shard
        if warnings:
            merged["warnings"] = warnings
        self.log.info(
            "Merged %d shards: %d results (%d succeeded, %d failed, %d retryable) of %d requests%s.",
            len(manifests),
            counts.get("total", 0),
            counts.get("succeeded", 0),
            counts.get("failed", 0),
            counts.get("retryable", 0),
            expected,
            f" into {self.destination}" if self.destination else "",
        )
        return merged

    def _concatenate(self, manifests: list[Mapping[str, Any]]) -> None:
        from airflow_provider_gemini_batch.storage import atomic_destination

        root = self.results_root or default_root(self.destination)
        # Every source is checked before the output is opened: a refused one writes nothing.
        sources = [
            landed_file(m["destination"], root=root, what=f"Shard {i}'s manifest", owner=self.task_id)
            if m.get("destination")
            else None
            for i, m in enumerate(manifests)
        ]
        with atomic_destination(str(self.destination)) as out:
            for i, (m, source) in enumerate(zip(manifests, sources, strict=True)):
                if source is not None:
                    copy_into(source, out)
                else:
                    self.log.warning(
                        "Shard %d (%s) landed no file; nothing to merge.", i, m.get("batch_name")
                    )
