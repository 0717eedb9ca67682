"""Throughput of JSONL input validation (``_core.jsonl.validate_input_lines``), in lines per second.

Validation runs on every line of input files of up to 2 GB before anything is sent, so its cost per
line matters. This builds ``--lines`` typical request lines in memory (a system instruction, a
three-turn conversation and a generationConfig; about 600 bytes each with the default
``--prompt-chars``) and times one validation pass over them (CPU time), best of ``--repeat``
runs. No I/O and no emulator: it measures the pure check.

    .venv/bin/python benchmarks/bench_validation.py [--lines 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time

from airflow_provider_gemini_batch._core.jsonl import validate_input_lines


def make_lines(count: int, prompt_chars: int = 150) -> list[bytes]:
    lines = []
    for i in range(count):
        request = {
            "systemInstruction": {"parts": [{"text": "Answer in one short paragraph."}]},
            "contents": [
                {"role": "user", "parts": [{"text": f"Describe product {i}. " + "x" * prompt_chars}]},
                {"role": "model", "parts": [{"text": "A sturdy, well made item."}]},
                {"role": "user", "parts": [{"text": "Shorter, please."}]},
            ],
            "generationConfig": {"temperature": 0.4, "maxOutputTokens": 128},
        }
        lines.append((json.dumps({"key": f"k{i}", "request": request}) + "\n").encode())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--prompt-chars", type=int, default=150, help="filler characters per prompt")
    args = parser.parse_args()
    lines = make_lines(args.lines, args.prompt_chars)
    size_mb = sum(len(line) for line in lines) / 1e6
    best = float("inf")
    for _ in range(args.repeat):
        # CPU time of this process: the figure is about the check, not about other load on the host.
        started = time.process_time()
        summary = validate_input_lines(lines, path="bench.jsonl")
        best = min(best, time.process_time() - started)
    assert summary.count == args.lines
    print(
        f"validate_input_lines: {args.lines} lines ({size_mb:.0f} MB) in {best:.2f} s: "
        f"{args.lines / best:,.0f} lines/s, {size_mb / best:.1f} MB/s"
    )


if __name__ == "__main__":
    main()
