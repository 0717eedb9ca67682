"""Land every result of a finished batch and return a small manifest: :class:`GeminiBatchResultsOperator`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_gemini_batch._core.cost import check_price_table, estimate_batch_cost
from airflow_provider_gemini_batch._core.jsonl import with_position_key
from airflow_provider_gemini_batch._core.landing import land_result_blocks, row_line
from airflow_provider_gemini_batch._core.manifest import (
    BadCounter,
    ResultsTally,
    build_manifest,
    row_warnings,
)
from airflow_provider_gemini_batch._core.models import Batch
from airflow_provider_gemini_batch._core.result_lines import DEFAULT_MAX_LINE_BYTES
from airflow_provider_gemini_batch._core.rows import SUCCEEDED
from airflow_provider_gemini_batch._core.states import FAILURE_STATES, PARTIAL_STATES, RESULT_STATES
from airflow_provider_gemini_batch._core.urls import public_url
from airflow_provider_gemini_batch.exceptions import (
    GeminiBatchError,
    GeminiBatchFailedError,
    GeminiInvalidInputError,
    GeminiResultsThresholdError,
)
from airflow_provider_gemini_batch.messages.waiting import describe_failure
from airflow_provider_gemini_batch.operators._assets import destination_asset
from airflow_provider_gemini_batch.operators._budget import find_estimate
from airflow_provider_gemini_batch.operators._common import (
    DEFAULT_CONN_ID,
    GeminiOperatorBase,
    require_batch_name,
)
from airflow_provider_gemini_batch.operators._vertex import refuse_bigquery_output

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
    ``batchStats.requestCount`` (``expected_requests``): requests no landed row answers are
    failures, counted in ``counts.missing`` (and ``by_outcome.missing``), part of ``failed`` and of
    the ratio ``max_failed_ratio`` bounds, and warned about. Rows without a key get their request's
    identity ``request-<position>`` (marked ``key_inferred``) only when the counts match; that
    rewrites the destination once more (a second read of the results). A non-string key lands as
    its compact JSON text (``7`` -> ``"7"``).

    Hostile or broken result files end the task with ``GeminiInvalidInputError`` naming the line
    (and the field) before anything is published: a line longer than ``max_result_line_bytes``, a
    line that is not JSON or nests deeper than about 1,000 levels, a usage counter that is not a
    count. The destination is a local file of mode ``file_mode`` (0o600 by default); temporaries
    that killed earlier attempts left next to it are removed when it is published.

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
        counts every request without a usable answer (a row of any outcome but ``succeeded``, or
        a missing row) and ``total`` the landed rows plus the missing ones. Default 0.0.
    :param max_result_line_bytes: the longest result line landed, in bytes (default 64 MiB,
        :data:`~airflow_provider_gemini_batch._core.result_lines.DEFAULT_MAX_LINE_BYTES`; memory
        per line is up to about four times this). A longer line fails the task, naming it.
    :param input_path: the input JSONL the batch was created from (local path or URI; templated),
        optional. When rows are missing, its keys are read line by line and the first 20 keys
        without a row are named in the manifest (``missing_keys``) and the warning. Default None:
        missing rows are counted, not named.
    :param file_mode: POSIX permission bits of the landed local file (default ``0o600``: owner
        only; ``0o640`` shares it with the group; None: ``0o666`` minus the umask).
    :param fail_on_unsuccessful_batch: raise for a batch that did not SUCCEED. Default True.
    :param price_table: prices per million tokens the user pays for batch requests, per model
        (``{"gemini-2.5-flash": {"input": 0.15, "output": 1.25, "thinking": 1.25}}``; see
        ``_core/cost.py``). When given, the manifest carries ``cost`` (an estimate from the summed
        usage). Default None: no cost. Checked before any request.
    :param currency: the currency of ``price_table``, copied into ``cost``. Default ``"USD"``.
    :param gemini_conn_id: connection id. Default ``gemini_batch_default``.
    :returns: ``{"batch_name", "state", "destination", "expected_requests", "counts": {"total",
        "landed", "missing", "succeeded", "failed", "by_outcome": {outcome: n, "missing": n},
        "retryable", "duplicate_keys", "keyless"}, "usage": {<summed usageMetadata counters and
        embedding tokenCount>}}``
        (+ ``"note"`` when there was nothing to land, ``"warnings"`` about counts and keys, and
        ``"cost_estimate"``, the estimate an upstream create task given a ``price_table`` made
        before creating this batch: see ``_core/estimate.py``; and ``"attempts"``, every batch an
        upstream create task tried when one stayed PENDING past its ``pending_timeout``:
        ``[{"batch_name", "created", "pending_seconds", "reason", "ended", "action"}, ...]``).
    :raises GeminiResultsThresholdError: failed ratio above ``max_failed_ratio`` (after writing;
        without retries: a retry would land the same rows).
    :raises GeminiBatchFailedError: the batch ended badly (after landing what exists; without
        retries).
    :raises GeminiBatchError: the batch is still in flight.
    :raises GeminiNoBatchError: no batch name (the create task did not run or failed before
        creating one, with ``trigger_rule="all_done"``); without retries.
    """

    template_fields: Sequence[str] = ("batch_name", "destination", "input_path")
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
        max_result_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        file_mode: int | None = 0o600,
        input_path: str | None = None,
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
        self.max_result_line_bytes = max_result_line_bytes
        self.file_mode = file_mode
        self.input_path = input_path

    def execute(self, context: Context) -> dict[str, Any]:
        if not 0.0 <= float(self.max_failed_ratio) <= 1.0:
            raise GeminiInvalidInputError(
                f"max_failed_ratio must be within 0.0..1.0, got {self.max_failed_ratio}."
            )
        if not isinstance(self.max_result_line_bytes, int) or self.max_result_line_bytes < 1024:
            raise GeminiInvalidInputError(
                f"max_result_line_bytes must be a number of bytes of at least 1024, got "
                f"{self.max_result_line_bytes!r}; the default is {DEFAULT_MAX_LINE_BYTES:,} (64 MiB)."
            )
        if self.file_mode is not None and not (
            isinstance(self.file_mode, int) and 0 <= self.file_mode <= 0o777
        ):
            raise GeminiInvalidInputError(
                f"file_mode must be permission bits such as 0o600 or 0o640, or None; got {self.file_mode!r}."
            )
        prices = check_price_table(self.price_table) if self.price_table is not None else None
        name = require_batch_name(
            self.batch_name, task_id=self.task_id, upstream=self.upstream_task_ids, what="read results from"
        )
        target = self._resolve_destination()
        batch = self.hook.get_batch(name)
        if not batch.done:
            raise GeminiBatchError(
                f"Batch {batch.name} is still {batch.state.short} ({batch.stats.describe()}); "
                "wait for it (GeminiBatchSensor) before fetching results."
            )
        refuse_bigquery_output(batch)
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
        if batch.has_results:
            tally.account_for(_rows_expected(batch))
        warnings = (
            row_warnings(tally, expected_requests=expected, batch_name=batch.name) if tally.total else []
        )
        named = self._name_missing(tally, warnings) if tally.missing and self.input_path else None
        for warning in warnings:
            self.log.warning("%s", warning)
        manifest = build_manifest(
            batch_name=batch.name,
            state=batch.state.short,
            # Kept as given: downstream tasks (merge, combine) read the file through it, and in
            # Airflow's object-store URIs the userinfo names the connection to read with.
            destination=destination,
            tally=tally,
            expected_requests=expected,
            note=note,
            warnings=warnings,
            cost=self._cost(tally, batch.model, prices),
            missing_keys=named,
        )
        self._add_attempts(context, manifest, batch.name)
        estimate = find_estimate(self, context, batch.name)
        if estimate is not None:
            # Beside the actual ``cost``: what the create task estimated (and budgeted) up front.
            manifest["cost_estimate"] = estimate
        by_outcome = manifest["counts"]["by_outcome"]  # with the missing rows
        outcomes = ", ".join(f"{n} {o}" for o, n in by_outcome.items() if n and o != SUCCEEDED)
        if destination is None:
            self.log.info(
                "Landed no results of %s (expected %s): the API offers none; no file was written.",
                batch.name,
                expected if expected is not None else "?",
            )
        else:
            self.log.info(
                "Landed %d results of %s (expected %s) in %s: %d succeeded, %d without a usable "
                "answer%s; %d retryable; %d missing.",
                tally.total,
                batch.name,
                expected if expected is not None else "?",
                public_url(destination),
                tally.succeeded,
                tally.failed,
                f" ({outcomes})" if outcomes else "",
                tally.retryable,
                tally.missing,
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
                f"Its {tally.total} offered results were landed in {public_url(destination)} before this "
                "task failed"
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
                f"{tally.failed} of {tally.requests} results of {batch.name} ({tally.total} rows landed, "
                f"{tally.missing} missing) gave no usable answer "
                f"({tally.failed_ratio:.1%} > max_failed_ratio {float(self.max_failed_ratio):.1%}; "
                f"by outcome: {outcomes}; {tally.retryable} retryable). "
                f"All rows, failed ones included, were written to {public_url(str(destination))}; "
                "inspect the rows with status 'failed' (their 'outcome' and 'reason' say why), resubmit "
                "the retryable ones and the missing ones (requests whose key has no row), fix the others, "
                "or raise max_failed_ratio."
            )
        return manifest

    def _add_attempts(self, context: Context, manifest: dict[str, Any], batch_name: str) -> None:
        """Every batch the upstream create task tried for this input (when one stayed PENDING past
        its ``pending_timeout``): ``manifest["attempts"]`` and a warning saying so."""
        from airflow_provider_gemini_batch.operators._pending import attempts_warning, find_attempts

        attempts = find_attempts(self, context, batch_name)
        if not attempts:
            return
        manifest["attempts"] = attempts
        warning = attempts_warning(attempts, batch_name)
        if warning:
            self.log.warning("%s", warning)
            manifest.setdefault("warnings", []).append(warning)

    def _cost(
        self, tally: ResultsTally, model: str | None, prices: dict[str, dict[str, float]] | None
    ) -> dict[str, Any] | None:
        """The manifest's ``cost``: each row at the price of the model that answered it (``_core/cost``)."""
        if not prices:
            return None
        return estimate_batch_cost(
            tally.usage_by_model, model, prices, currency=self.currency, rows_unlisted=tally.models_unlisted
        )

    def _name_missing(self, tally: ResultsTally, warnings: list[str]) -> list[str] | None:
        """The first keys of ``input_path`` without a landed row (a sentence added to
        ``warnings``), or None when they cannot be named (more keys landed than the tally
        remembers, or the file cannot be read: said in ``warnings`` too)."""
        from airflow_provider_gemini_batch._core.missing import NAMED_AT_MOST, missing_keys
        from airflow_provider_gemini_batch.storage import resolve_path

        if tally.keys_unchecked:
            warnings.append(
                f"The {tally.missing} missing rows cannot be named: more than {tally.key_limit} distinct "
                "keys were landed, past what this task remembers. Compare the keys of the input with "
                "the landed rows' keys."
            )
            return None
        try:
            with resolve_path(str(self.input_path)).open("rb") as lines:
                named, count = missing_keys(lines, lambda key: bool(tally.landed_key(key)))
        except OSError as exc:
            warnings.append(f"The missing rows cannot be named: {self.input_path} cannot be read ({exc}).")
            return None
        if not named:
            warnings.append(
                f"Every key of {self.input_path} has a row, so the {tally.missing} missing rows cannot "
                "be named by key: is it the input of this batch?"
            )
            return None
        more = f" and {count - len(named)} more" if count > NAMED_AT_MOST else ""
        warnings.append(f"Requests of {self.input_path} without a result row: {', '.join(named)}{more}.")
        return named

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
        with (
            atomic_destination(destination, mode=self.file_mode) as handle,
            BackgroundWriter(handle, depth=4) as out,
        ):
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
                max_line_bytes=self.max_result_line_bytes,
            )
            return
        # Inline results came whole in the batch's answer (bounded by the answer's own size cap),
        # so only the row-level checks apply here.
        for result, response, error in self.hook.iter_raw_results(batch):
            if infer_keys:
                result = with_position_key(result)
            try:
                yield row_line(result, response=response, error=error)
            except RecursionError:
                raise GeminiInvalidInputError(
                    f"Inline response {result.index + 1} of {batch.name} is nested deeper than about "
                    "1,000 levels (no Gemini answer is); check that the connection's host is the Gemini API."
                ) from None
            try:
                duplicate = tally.add(result)
            except BadCounter as exc:
                raise GeminiInvalidInputError(
                    f"Inline response {result.index + 1} of {batch.name}: {exc}"
                ) from None
            if duplicate:
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


def _rows_expected(batch: Batch) -> int | None:
    """How many result rows ``batch`` owes: every request (``batchStats.requestCount``) when it
    ended SUCCEEDED or PARTIALLY_SUCCEEDED; when it was cancelled, expired or failed, only the
    requests its stats say were answered (successful + failed: the pending ones never ran and
    have no row). None when the batch reports no count."""
    stats = batch.stats
    if batch.state in RESULT_STATES:
        return stats.request_count or None
    return (stats.successful_request_count + stats.failed_request_count) or None


_DUPLICATES_LOGGED = 5
#: Bytes of rows gathered before one write to the destination (512 KiB). Gathering a result file's
#: ~1 MiB row blocks into 4 MiB writes, as before, copied every byte once more: landing a 64 MB
#: result file from memory took 4.56 / 5.49 s/GB of CPU (min / median of 10 alternating rounds)
#: that way against 4.14 / 4.90 with the blocks written as they come.
_WRITE_BLOCK = 512 * 1024
