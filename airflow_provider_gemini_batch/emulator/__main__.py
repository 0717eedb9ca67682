"""Command line: ``python -m airflow_provider_gemini_batch.emulator [--host H] [--port P] ...``.

Prints ``Gemini Batch emulator listening on http://H:P`` once ready, then serves until SIGINT or
SIGTERM. Faults may come from ``--fault JSON`` (repeatable) and from the ``GEMINI_EMULATOR_FAULTS``
environment variable (one JSON object or a list), which is how ``make demo`` scripts failures.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_gemini_batch.emulator.faults import Fault, faults_from_json
from airflow_provider_gemini_batch.emulator.guard import CONTROL_TOKEN_ENV
from airflow_provider_gemini_batch.emulator.modes import MODES
from airflow_provider_gemini_batch.emulator.server import EmulatorServer

FAULTS_ENV = "GEMINI_EMULATOR_FAULTS"


def _positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_gemini_batch.emulator",
        description="Local emulator of the Gemini Batch API and Files API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port; 0 = a free one (default 8089)")
    parser.add_argument(
        "--processing-seconds",
        type=float,
        default=5.0,
        help="seconds from create to the final state of a batch (default 5)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("GEMINI_EMULATOR_API_KEY"),
        help="the only API key accepted (default: env GEMINI_EMULATOR_API_KEY; unset = any key)",
    )
    parser.add_argument(
        "--control-token",
        default=os.environ.get(CONTROL_TOKEN_ENV),
        help="token the /_emulator control routes require in X-Emulator-Control-Token (default: env "
        "GEMINI_EMULATOR_CONTROL_TOKEN; unset = none on a loopback host, a random printed one otherwise)",
    )
    parser.add_argument(
        "--max-concurrent-batches",
        type=_positive_int,
        default=None,
        metavar="N",
        help="batches allowed PENDING or RUNNING at once; the next create is answered 429 "
        "RESOURCE_EXHAUSTED like the service's (default 100, its documented limit)",
    )
    parser.add_argument("--data-dir", default=None, help="where file bytes are stored (default: a temp dir)")
    parser.add_argument(
        "--mode",
        action="append",
        default=[],
        choices=sorted(MODES),
        help="a named mode to switch on at start (repeatable); see docs/emulator.md",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='a fault to queue at start, e.g. \'{"method":"GET","path":"batches/","status":503,"times":2}\'',
    )
    return parser.parse_args(argv)


def collect_faults(cli: Sequence[str], env: str | None) -> list[Fault]:
    """Faults from ``--fault`` values and the env var. Raises ValueError on malformed JSON/keys."""
    faults: list[Fault] = []
    for text in [*(cli or []), *([env] if env else [])]:
        faults.extend(faults_from_json(text))
    return faults


def non_loopback_warning(host: str, has_api_key: bool) -> str:
    """The warning printed when the emulator listens beyond loopback."""
    return (
        f"WARNING: the emulator listens on {host}, not only on loopback: anyone who can reach this port "
        "can use its API"
        + ("" if has_api_key else " with any key (pass --api-key to require one)")
        + ". Use a dummy API key, never a real one. The /_emulator control routes require the control "
        "token (X-Emulator-Control-Token)."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until interrupted. Returns the process exit code."""
    args = parse_args(argv)
    try:
        faults = collect_faults(args.fault, os.environ.get(FAULTS_ENV))
    except ValueError as exc:
        print(f"invalid fault: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server = EmulatorServer(
        api_key=args.api_key,
        processing_seconds=args.processing_seconds,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        faults=faults,
        control_token=args.control_token,
    )
    server.state.configure(modes=args.mode, max_active_batches=args.max_concurrent_batches)
    # Start values survive a control-plane reset.
    server.state.initial.modes = list(server.state.settings.modes)
    server.state.initial.max_active_batches = server.state.settings.max_active_batches
    if not server.bound_to_loopback:
        print(non_loopback_warning(args.host, args.api_key is not None), file=sys.stderr, flush=True)
    with server:
        print(f"Gemini Batch emulator listening on {server.base_url}", flush=True)
        if server.control_token and not args.control_token:
            print(f"Control token (X-Emulator-Control-Token): {server.control_token}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
