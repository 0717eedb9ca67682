"""Land every result of a finished batch and return a small manifest: :class:`GeminiBatchResultsOperator`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core.cost import check_price_table, estimate_cost
from airflow_provider_gemini_batch._core.jsonl import with_position_key
from airflow_provider_gemini_batch._core.landing import land_result_blocks, row_line
from airflow_provider_gemini_batch._core.manifest import ResultsTally, build_manifest, row_warnings
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.rows import SUCCEEDED
from airflow_provider_gemini_batch._core.states import FAILURE_STATES, PARTIAL_STATES
from airflow_provider_gemini_batch._core.waiting import describe_failure
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiInvalidInputError,
    GeminiResultsThresholdError,
)
from airflow_provider_gemini_batch.operators._assets import destination_asset
from airflow_provider_gemini_batch.operators._common import DEFAULT_CONN_ID, GeminiOperatorBase

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class GeminiBatchResultsOperator(GeminiOperatorBase):
    """Stream every result of a finished batch to ``destination`` as JSONL; return a small manifest.

    Rows are ``{"key", "status": "succeeded"|"failed", "outcome", "reason"?, "retryable"?,
    "key_inferred"?, "response"|"error"}``, written in blocks of 4 MiB (each body copied from the
    result line, not re-encoded: ``_core/landing.py``) into a temporary sibling of ``destination``
    and published only when complete (a cut-off download never leaves a file that looks complete).
    Memory stays flat whatever the size.

    A response is not proof of success: each row is classified (``_core/rows.py``) as
    ``succeeded`` (a usable answer), ``error`` (the row carried ``error`` or ``status``; ``retryable``
    for codes 429/500/503/504 and their gRPC equivalents), ``blocked`` (``promptFeedback.blockReason``),
    ``stopped`` (finishReason SAFETY, RECITATION ...), ``max_tokens`` or ``no_output`` (no visible,
    non-thought output). Only ``succeeded`` rows have ``status: "succeeded"``.

    Keys are the only safe join. Rows repeating a key are all written, counted in
    ``counts.duplicate_keys`` and logged. The landed count is checked against the batch's
    ``batchStats.requestCount`` (``expected_requests``; a warning when they differ). Rows without a
    key get their request's identity ``request-<position>`` (marked ``key_inferred``) only when the
    counts match; that rewrites the destination once more (a second read of the results).

    Batches that ended CANCELLED, EXPIRED or FAILED: whatever results the API still offers are
    landed (they were billed); when it offers none, the manifest says so in ``note`` and nothing is
    written. Such a batch then fails the task (after landing) unless
    ``fail_on_unsuccessful_batch=False``; the manifest is pushed under XCom key ``manifest`` first.
    Downstream of a wait (sensor, or create with ``wait_for_completion``), which fails for such a
    batch, this task runs only with ``trigger_rule="all_done"`` (the default ``all_success`` marks
    it ``upstream_failed``).

    :param batch_name: ``batches/...`` (templated), usually the create task's XCom.
    :param destination: local path or object-storage URI (``gs://``, ``s3://`` ...) (templated)
        naming a file: a path ending in ``/`` or an existing directory raises
        ``GeminiInvalidInputError`` before any request; a relative local path is resolved against
        the worker's current directory (logged) and recorded absolute in the manifest.
        Declared as an Asset outlet when it is a literal (not templated) value.
    :param max_failed_ratio: largest tolerated ``failed / total`` (0.0 to 1.0), where ``failed``
        counts every row without a usable answer (any outcome but ``succeeded``). Default 0.0.
    :param fail_on_unsuccessful_batch: raise for a batch that did not SUCCEED. Default True.
    :param price_table: prices per million tokens the user pays for batch requests, per model
        (``{"gemini-2.5-flash": {"input": 0.15, "output": 1.25, "thinking": 1.25}}``; see
        ``_core/cost.py``). When given, the manifest carries ``cost`` (an estimate from the summed
        usage). Default None: no cost. Checked before any request.
    :param currency: the currency of ``price_table``, copied into ``cost``. Default ``"USD"``.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: ``{"batch_name", "state", "destination", "expected_requests", "counts": {"total",
        "succeeded", "failed", "by_outcome": {outcome: n}, "retryable", "duplicate_keys",
        "keyless"}, "usage": {<summed usageMetadata counters and embedding tokenCount>}}``
        (+ ``"note"`` when there was nothing to land, ``"warnings"`` about counts and keys).
    :raises GeminiResultsThresholdError: failed ratio above ``max_failed_ratio`` (after writing;
        without retries: a retry would land the same rows).
    :raises GeminiBatchFailedError: the batch ended badly (after landing what exists; without
        retries).
    :raises GeminiBatchError: the batch is still in flight.
    """

    template_fields: Sequence[str] = ("batch_name", "destination")
    template_ext: Sequence[str] = ()
    ui_color = "#ceead6"

    def __init__(
        self,
        *,
        batch_name: str,
        destination: str,
        max_failed_ratio: float = 0.0,
        fail_on_unsuccessful_batch: bool = True,
        price_table: dict[str, dict[str, float]] | None = None,
        currency: str = "USD",
        gemini_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        if "outlets" not in kwargs:
            asset = destination_asset(destination)
            if asset is not None:
                kwargs["outlets"] = [asset]
        super().__init__(gemini_conn_id=gemini_conn_id, **kwargs)
        self.batch_name = batch_name
        self.destination = destination
        self.max_failed_ratio = max_failed_ratio
        self.fail_on_unsuccessful_batch = fail_on_unsuccessful_batch
        self.price_table = price_table
        self.currency = currency

    def execute(self, context: Context) -> dict[str, Any]:
        if not 0.0 <= float(self.max_failed_ratio) <= 1.0:
            raise GeminiInvalidInputError(
                f"max_failed_ratio must be within 0.0..1.0, got {self.max_failed_ratio}."
            )
        prices = check_price_table(self.price_table) if self.price_table is not None else None
        target = self._resolve_destination()
        batch = self.hook.get_batch(str(self.batch_name))
        if not batch.done:
            raise GeminiBatchError(
                f"Batch {batch.name} is still {batch.state.short} ({batch.stats.describe()}); "
                "wait for it (GeminiBatchSensor) before fetching results."
            )
        expected = batch.stats.request_count or None
        tally = ResultsTally()
        destination: str | None = target
        note: str | None = None
        if batch.has_results:
            tally = self._land(batch, expected, target)
        else:
            destination = None
            note = (
                f"The API offers no results for {batch.name} (state {batch.state.short}); "
                "nothing was written."
            )
            self.log.warning("%s", note)
        warnings = (
            row_warnings(tally, expected_requests=expected, batch_name=batch.name) if tally.total else []
        )
        for warning in warnings:
            self.log.warning("%s", warning)
        manifest = build_manifest(
            batch_name=batch.name,
            state=batch.state.short,
            destination=destination,
            tally=tally,
            expected_requests=expected,
            note=note,
            warnings=warnings,
            cost=estimate_cost(tally.usage, batch.model, prices, currency=self.currency) if prices else None,
        )
        outcomes = ", ".join(f"{n} {o}" for o, n in tally.by_outcome.items() if n and o != SUCCEEDED)
        if destination is None:
            self.log.info(
                "Landed no results of %s (expected %s): the API offers none; no file was written.",
                batch.name,
                expected if expected is not None else "?",
            )
        else:
            self.log.info(
                "Landed %d results of %s (expected %s) in %s: %d succeeded, %d without a usable "
                "answer%s; %d retryable.",
                tally.total,
                batch.name,
                expected if expected is not None else "?",
                destination,
                tally.succeeded,
                tally.failed,
                f" ({outcomes})" if outcomes else "",
                tally.retryable,
            )
        if batch.state in PARTIAL_STATES:
            self.log.warning(
                "%s ended PARTIALLY_SUCCEEDED: some results may be missing (%d landed, %d expected).",
                batch.name,
                tally.total,
                batch.stats.request_count,
            )
        if batch.state in FAILURE_STATES and self.fail_on_unsuccessful_batch:
            context["ti"].xcom_push(key="manifest", value=manifest)
            landed = (
                f"Its {tally.total} offered results were landed in {destination} before this task failed"
                if destination is not None
                else "The API offers no results for it; nothing was written"
            )
            raise GeminiBatchFailedError(
                f"{describe_failure(batch, landing_hint=False)} {landed} (manifest under XCom key "
                "'manifest'); set fail_on_unsuccessful_batch=False to let this task succeed.",
                batch_name=batch.name,
                state=batch.state.short,
                summary=batch.summary(),
            )
        if tally.exceeds(float(self.max_failed_ratio)):
            context["ti"].xcom_push(key="manifest", value=manifest)
            raise GeminiResultsThresholdError(
                f"{tally.failed} of {tally.total} requests of {batch.name} gave no usable answer "
                f"({tally.failed_ratio:.1%} > max_failed_ratio {float(self.max_failed_ratio):.1%}; "
                f"by outcome: {outcomes}; {tally.retryable} retryable). "
                f"All rows, failed ones included, were written to {destination}; inspect the rows "
                "with status 'failed' (their 'outcome' and 'reason' say why), resubmit the retryable "
                "ones, fix the others, or raise max_failed_ratio."
            )
        return manifest

    def _resolve_destination(self) -> str:
        """``destination`` checked before any request; a relative local path made absolute.

        A relative path would land under the worker's current directory, which an Airflow user
        does not choose (it differs between ``airflow standalone``, Celery and Kubernetes
        workers): it is resolved once here, logged, and recorded absolute in the manifest, so the
        reader of the manifest finds the file.

        :raises GeminiInvalidInputError: the destination names a directory (ends in ``/`` or is
            an existing directory): the file's name is missing.
        """
        from airflow_provider_gemini_batch.storage import check_destination, is_local

        text = str(self.destination)
        path = check_destination(text)
        if is_local(path) and not path.is_absolute():
            absolute = str(path.absolute())
            self.log.warning(
                "The destination %s is relative; it resolves to %s (under this worker's current "
                "directory). Give an absolute path or a URI to choose where results land.",
                text,
                absolute,
            )
            return absolute
        return text

    def _land(self, batch: Batch, expected: int | None, destination: str) -> ResultsTally:
        """Write every row; if every row had no key and the landed count equals ``expected``,
        write them all again with keys inferred from their position (bounded memory: the
        results are streamed twice rather than held). When other rows carry keys, a key-less row
        is left without one: the keyed rows show the order is not the requests' order to rely on."""
        tally = self._land_once(batch, destination, infer_keys=False)
        if tally.keyless and tally.keyless == tally.total and expected and tally.total == expected:
            self.log.info(
                "%d of %d results of %s carry no key and the count matches the batch's %d requests; "
                "writing them again keyed by their request's position (request-<n>).",
                tally.keyless,
                tally.total,
                batch.name,
                expected,
            )
            tally = self._land_once(batch, destination, infer_keys=True)
        return tally

    def _land_once(self, batch: Batch, destination: str, *, infer_keys: bool) -> ResultsTally:
        from airflow_provider_gemini_batch.storage import BackgroundWriter, atomic_destination

        tally = ResultsTally()
        logged = 0

        def on_duplicate(index: int, key: str) -> None:
            # Only the first few duplicates are named, so a pathological file cannot flood the log.
            nonlocal logged
            if logged < _DUPLICATES_LOGGED:
                logged += 1
                self.log.warning(
                    "Result row %d of %s repeats key %r; both rows were written.", index + 1, batch.name, key
                )

        pending: list[bytes] = []
        buffered = 0
        # The writer thread is closed (every block written) before the destination is published.
        with atomic_destination(destination) as handle, BackgroundWriter(handle, depth=4) as out:
            # Rows are spliced from the lines' own bytes (no re-encoding of the bodies). A result
            # file's rows come a downloaded block at a time (about 1 MiB): such a block is written
            # as it is (bytes.join of one bytes object returns it, no copy); the small rows of
            # inline results are gathered up to _WRITE_BLOCK first. Memory: about depth blocks.
            for rows_bytes in self._iter_row_blocks(batch, tally, infer_keys, on_duplicate):
                pending.append(rows_bytes)
                buffered += len(rows_bytes)
                if buffered >= _WRITE_BLOCK:
                    out.write(b"".join(pending))
                    pending.clear()
                    buffered = 0
            if pending:
                out.write(b"".join(pending))
        return tally

    def _iter_row_blocks(
        self, batch: Batch, tally: ResultsTally, infer_keys: bool, on_duplicate: Callable[[int, str], None]
    ) -> Iterator[bytes]:
        """The landed rows of ``batch`` as byte blocks, each row counted in ``tally``."""
        if batch.responses_file:
            # A result file: a block of lines at a time (_core/landing.land_result_blocks).
            yield from land_result_blocks(
                self.hook.iter_file_blocks(batch.responses_file),
                tally,
                infer_keys=infer_keys,
                on_duplicate=on_duplicate,
            )
            return
        for result, response, error in self.hook.iter_raw_results(batch):
            if infer_keys:
                result = with_position_key(result)
            yield row_line(result, response=response, error=error)
            if tally.add(result):
                on_duplicate(result.index, result.key or "")

    # -- OpenLineage (called by apache-airflow-providers-openlineage when installed) --------------

    def get_openlineage_facets_on_start(self) -> Any:
        """The batch (``batches/…``) as input and ``destination`` as output."""
        from airflow_provider_gemini_batch.operators import _lineage

        return _lineage.operator_lineage(
            [_lineage.gemini_dataset(_lineage.base_url_of(self), self.batch_name)],
            [_lineage.path_dataset(self.destination)],
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """As on start: the batch as input and ``destination`` as output (the rendered values)."""
        return self.get_openlineage_facets_on_start()


_DUPLICATES_LOGGED = 5
#: Bytes of rows gathered before one write to the destination (512 KiB). Gathering a result file's
#: ~1 MiB row blocks into 4 MiB writes, as before, copied every byte once more: landing a 64 MB
#: result file from memory took 4.56 / 5.49 s/GB of CPU (min / median of 10 alternating rounds)
#: that way against 4.14 / 4.90 with the blocks written as they come.
_WRITE_BLOCK = 512 * 1024
