"""Run the file example once with ``dag.test()`` in this process (a child of the lineage test).

Started as ``python -m tests.lineage.run_file_example <results_dir>`` with OpenLineage configured
by environment (``AIRFLOW__OPENLINEAGE__TRANSPORT``): Airflow reads that configuration and loads
the OpenLineage listener when the process starts, so the test's own process (configured without
it) cannot switch it on afterwards.
"""

from __future__ import annotations

import sys

from tests.examples.test_example_dags import run_example


def main(results_dir: str) -> int:
    state, states, _ = run_example("example_gemini_batch_file", {"results_dir": results_dir})
    print(state, states)  # read by the parent test, not a task log
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
