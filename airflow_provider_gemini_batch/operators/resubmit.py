"""Resubmit the rows that failed retryably, and merge the attempts into one file per key.

A round is: :class:`GeminiBuildResubmissionOperator` (the follow-up input) → the usual create and
results tasks on it → :class:`GeminiMergeResubmissionOperator` (one row per key, the latest
attempt winning). Rounds are laid out in the DAG (``for round_number in range(1, max_rounds + 1)``),
which is the bound; a round with nothing to resubmit is skipped, and its merge passes the previous
file through. See ``docs/large-batches.md`` and ``dags_examples/example_gemini_batch_resubmit.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowSkipException, BaseOperator

from airflow_provider_gemini_batch._core import resubmit
from airflow_provider_gemini_batch._core.cost import sum_costs
from airflow_provider_gemini_batch._core.manifest import BadCounter, ResultsTally
from airflow_provider_gemini_batch._core.urls import public_url
from airflow_provider_gemini_batch.exceptions import GeminiInputFileError, GeminiInvalidInputError
from airflow_provider_gemini_batch.operators._files import copy_into, iter_lines, write_lines
from airflow_provider_gemini_batch.operators._landed import default_root, landed_file

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def _destination_of(manifest: Any, what: str) -> str:
    if not isinstance(manifest, Mapping) or not manifest.get("destination"):
        raise GeminiInvalidInputError(
            f"{what} must be a results (or merge) manifest with a 'destination'; got {manifest!r:.200}."
        )
    return str(manifest["destination"])


class GeminiBuildResubmissionOperator(BaseOperator):
    """Write the follow-up input: the input lines whose rows failed retryably, keys preserved.

    :param results: the landed result file to read, as a path/URI or as the manifest of a results
        or merge task (its ``destination``) (templated).
    :param input_path: the original JSONL input (templated; local or object storage).
    :param destination: where to write the follow-up JSONL (templated).
    :param round_number: this round (1 = the first resubmission). Default 1.
    :param max_rounds: rounds allowed; a round past it is skipped. Default 3.
    :param display_name: display name of the follow-up batch. Default ``"<task id> round <n>"``.
    :param results_root: the directory (or URI prefix) ``results`` must lie under (templated);
        default the directory of ``destination`` (see :class:`GeminiMergeResubmissionOperator`).
    :returns: ``{"input_path", "display_name", "round", "resubmitted", "missing": [keys]}`` for
        ``GeminiCreateBatchOperator(input_path=..., display_name=...)``.
    :raises AirflowSkipException: nothing failed retryably, or the round is past ``max_rounds``
        (downstream create/results are skipped; the merge passes the file through).
    :raises GeminiInputFileError: a result row that is not JSON, or a retryable row without key.
    """

    template_fields: Sequence[str] = ("results", "input_path", "destination", "display_name", "results_root")
    template_ext: Sequence[str] = ()
    ui_color = "#f6d7d7"

    def __init__(
        self,
        *,
        results: Any,
        input_path: str,
        destination: str,
        round_number: int = 1,
        max_rounds: int = 3,
        display_name: str | None = None,
        results_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.results_root = results_root
        self.results = results
        self.input_path = input_path
        self.destination = destination
        self.round_number = round_number
        self.max_rounds = max_rounds
        self.display_name = display_name

    def execute(self, context: Context) -> dict[str, Any]:
        if int(self.round_number) > int(self.max_rounds):
            raise AirflowSkipException(f"Round {self.round_number} is past max_rounds={self.max_rounds}.")
        named = self.results if isinstance(self.results, str) else _destination_of(self.results, "results")
        root = self.results_root or default_root(self.destination)
        source = landed_file(named, root=root, what="results", owner=self.task_id)
        input_path = str(self.input_path)
        # Two passes over the input: which lines to send (in bounded memory, _core/keyjoin.py),
        # then those lines written.
        marks = resubmit.select_follow_up(
            iter_lines(input_path), resubmit.retryable_keys(iter_lines(source), path=source), path=input_path
        )
        if not marks.wanted:
            raise AirflowSkipException(
                f"No row of {public_url(source)} failed in a retryable way; nothing to resubmit."
            )
        report = resubmit.FollowUp()
        lines = resubmit.follow_up_lines(iter_lines(input_path), marks, path=input_path, report=report)
        write_lines(str(self.destination), lines)
        if report.missing:
            self.log.warning(
                "%d retryable keys of %s are not in %s (first: %s); they cannot be resubmitted.",
                report.missing_count,
                source,
                self.input_path,
                ", ".join(report.missing),
            )
        self.log.info(
            "Round %s: %d of %d retryable rows resubmitted from %s -> %s.",
            self.round_number,
            report.selected,
            report.wanted,
            self.input_path,
            self.destination,
        )
        if not report.selected:
            raise AirflowSkipException("None of the retryable keys is in the input; nothing to resubmit.")
        return {
            "input_path": str(self.destination),
            "display_name": self.display_name or f"{self.task_id} round {self.round_number}",
            "round": int(self.round_number),
            "resubmitted": report.selected,
            "missing": report.missing,
        }


class GeminiMergeResubmissionOperator(BaseOperator):
    """Merge a follow-up batch's rows into the earlier result: one row per key, latest attempt wins.

    Runs when the round was skipped too (default ``trigger_rule="none_failed"``): then the earlier
    file is copied to ``destination`` unchanged, so the last merge always holds the final file.

    :param previous: manifest of the first results task or of the previous merge (templated).
    :param followup: manifest of this round's results task; None when the round was skipped.
    :param resubmission: this round's build output; None when skipped (templated).
    :param destination: where to write the merged JSONL (templated; local or object storage).
    :param results_root: the directory (or URI prefix) the result files named by ``previous`` and
        ``followup`` must lie under to be read (templated). Default: the directory of
        ``destination``. Manifests are XComs anyone who may write one can plant, so a file outside
        it, not a regular file, or not a landed result file is refused (``operators/_landed.py``).
    :returns: ``{"destination", "rounds" (rounds run so far), "resubmitted" (rows sent again, all
        rounds), "still_failed", "still_retryable", "counts" (of the final file, as a results
        manifest), "usage" (billed, all attempts), "cost"? (all attempts), "history": [{"round",
        "batch_name", "resubmitted", "recovered", "still_failed"}]}``.
    """

    template_fields: Sequence[str] = ("previous", "followup", "resubmission", "destination", "results_root")
    template_ext: Sequence[str] = ()
    ui_color = "#f6d7d7"

    def __init__(
        self,
        *,
        previous: Any,
        destination: str,
        followup: Any = None,
        resubmission: Any = None,
        results_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "none_failed")
        super().__init__(**kwargs)
        self.results_root = results_root
        self.previous = previous
        self.followup = followup
        self.resubmission = resubmission
        self.destination = destination

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_gemini_batch.storage import atomic_destination

        root = self.results_root or default_root(self.destination)
        earlier = landed_file(
            _destination_of(self.previous, "previous"), root=root, what="previous", owner=self.task_id
        )
        previous: Mapping[str, Any] = self.previous
        history = list(previous.get("history") or [])
        usage = dict(previous.get("usage") or {})
        costs = [previous.get("cost")]
        resubmitted = int(previous.get("resubmitted") or 0)
        rounds = int(previous.get("rounds") or 0)
        dest = str(self.destination)
        if self.followup is None:
            self.log.info(
                "No follow-up this round; %s is copied to %s unchanged.",
                public_url(str(earlier)),
                public_url(str(dest)),
            )
            with atomic_destination(dest) as out:
                copy_into(earlier, out)
        else:
            later = landed_file(
                _destination_of(self.followup, "followup"), root=root, what="followup", owner=self.task_id
            )
            # The rows of the earlier file answered again, as a bitmap of positions (bounded
            # memory however many rows were resubmitted, _core/keyjoin.py); then both streamed.
            replaced = resubmit.replaced_rows(
                iter_lines(earlier), iter_lines(later), earlier_path=earlier, later_path=later
            )
            write_lines(dest, resubmit.merged_lines(iter_lines(earlier), iter_lines(later), replaced))
            for key, value in (self.followup.get("usage") or {}).items():
                usage[key] = usage.get(key, 0) + int(value)
            costs.append(self.followup.get("cost"))
            sent = int((self.resubmission or {}).get("resubmitted") or replaced.wanted)
            resubmitted += sent
            rounds += 1
            fc = self.followup.get("counts") or {}
            history.append(
                {
                    "round": (self.resubmission or {}).get("round", rounds),
                    "batch_name": self.followup.get("batch_name"),
                    "resubmitted": sent,
                    "recovered": int(fc.get("succeeded", 0)),
                    "still_failed": int(fc.get("failed", 0)),
                }
            )
        tally = ResultsTally()
        for n, line in enumerate(iter_lines(dest)):
            try:
                tally.add(resubmit.landed_result(line, path=dest, index=n))
            except BadCounter as exc:
                # A row of an earlier landed file was edited by hand or does not come from a
                # results task: name the merged file's line, not a bare ValueError.
                raise GeminiInputFileError(
                    f"{exc.detail}. The row was copied from the earlier result files; fix or remove "
                    "it there (a landed row is written by a results task and never edited), then run "
                    "this task again.",
                    path=dest,
                    line_number=n + 1,
                ) from None
        manifest: dict[str, Any] = {
            "destination": dest,
            "rounds": rounds,
            "resubmitted": resubmitted,
            "still_failed": tally.failed,
            "still_retryable": tally.retryable,
            "counts": tally.counts(),
            "usage": dict(sorted(usage.items())),
        }
        cost = sum_costs(costs)
        if cost is not None:
            manifest["cost"] = cost
        manifest["history"] = history
        self.log.info(
            "After %d rounds: %d rows resubmitted in all; %d of %d rows still failed (%d retryable) in %s.",
            rounds,
            resubmitted,
            tally.failed,
            tally.total,
            tally.retryable,
            public_url(dest),
        )
        return manifest
