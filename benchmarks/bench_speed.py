"""Upload of a JSONL input and landing of a result file, beside Google's SDK.

Both clients talk to the same emulator (a separate process, ``_emulator.start_emulator``) on
loopback. Each measurement runs in a fresh subprocess that records its own peak RSS growth
(``ru_maxrss`` after imports and a warm-up call, then after the work), so the figures are not
polluted by earlier runs. Every measurement is repeated ``--repeat`` times (the machine is shared):
the best MB/s is reported with the spread (min..max) and the largest RSS growth.

* upload: ``GeminiBatchHook.upload_file(path)`` (validation on: every line checked) against
  ``client.files.upload(file=path)`` (no validation). Goal: ours >= 1.0x the SDK, < 100 MB RSS.
* landing: ``GeminiBatchResultsOperator`` writing the rows of a result file (download, parse,
  classify, write) against ``client.files.download`` + ``json.loads`` per line (the whole file in
  memory, nothing written: "SDK"), and against the same plus the downloaded bytes written to a
  file in one call ("SDK+w": the least an SDK user does to land the rows too; no fsync, which
  ours does before publishing). Goal: ours >= 2.0x the SDK, < 100 MB RSS. ``--land-kind embeddings``
  lands an embeddings batch's result file instead (the emulator's 3,072-value vectors, about
  35 kB per row) with the same two clients.

    .venv/bin/python benchmarks/bench_speed.py [--upload-mb 512] [--results-mb 256] [--repeat 3]
        [--land-kind text|embeddings]

Each line also gives CPU seconds per GB moved, of the measuring client (``time.process_time``
over the work) and of the emulator (``/proc/<pid>/stat`` over the run), least of the runs: on a
shared machine they are steadier than MB/s. ``BENCH_PROFILE=/tmp/p`` writes a cProfile of each
worker's work to ``/tmp/p.<kind>`` (``upload-ours``, ``land-sdk`` ...).

To measure another checkout's code with the same script: ``PYTHONPATH=<checkout> .venv/bin/python
benchmarks/bench_speed.py`` (the package is imported from ``PYTHONPATH`` first; the script prints
where it came from).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

MB = 1_000_000
API_KEY = "bench-key"
CONN_ID = "gemini_bench"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def write_input(path: Path, size: int) -> int:
    """About ``size`` bytes of typical request lines (~1.3 kB: system instruction, two turns, config)."""
    filler = "lorem ipsum dolor sit amet " * 40
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        i = 0
        while written < size:
            request = {
                "systemInstruction": {"parts": [{"text": "Answer in one short paragraph."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": f"Describe item {i}. {filler}"}]},
                    {"role": "model", "parts": [{"text": "A sturdy, well made item."}]},
                    {"role": "user", "parts": [{"text": f"Shorter, please. {filler}"}]},
                ],
                "generationConfig": {"temperature": 0.4, "maxOutputTokens": 128},
            }
            line = json.dumps({"key": f"k{i}", "request": request}) + "\n"
            fh.write(line)
            written += len(line)
            i += 1
    return written


# -- the measured work, each run in its own subprocess ------------------------------------------


def _work_upload_ours(path: str) -> int:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    hook = GeminiBatchHook(gemini_conn_id=CONN_ID)
    hook.test_connection()  # warm-up: connection read, session, imports
    yield_baseline()
    return int(hook.upload_file(path).size_bytes or 0)


def _sdk_client(base_url: str) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url, api_version="v1beta")
    )


def _work_upload_sdk(path: str) -> int:
    client = _sdk_client(os.environ["BENCH_BASE_URL"])
    next(iter(client.files.list()), None)  # warm-up
    yield_baseline()
    uploaded = client.files.upload(file=path, config={"mime_type": "application/jsonl"})
    return int(uploaded.size_bytes or 0)


def _work_land_ours(batch_name: str) -> int:
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook
    from airflow_provider_gemini_batch.operators.gemini_batch import GeminiBatchResultsOperator

    destination = os.environ["BENCH_DESTINATION"]
    op = GeminiBatchResultsOperator(
        task_id="land", batch_name=batch_name, destination=destination, gemini_conn_id=CONN_ID
    )
    batch = GeminiBatchHook(gemini_conn_id=CONN_ID).get_batch(batch_name)
    op.hook.get_batch(batch_name)  # warm-up
    yield_baseline()
    tally = op._land_once(batch, destination, infer_keys=False)
    assert tally.total > 0
    return int((batch.responses_file and Path(destination).stat().st_size) or 0)


def _work_land_sdk(file_name: str) -> int:
    client = _sdk_client(os.environ["BENCH_BASE_URL"])
    next(iter(client.files.list()), None)  # warm-up
    yield_baseline()
    data = client.files.download(file=file_name)
    _SDK_DOWNLOADED.append(data)
    rows = 0
    for line in data.splitlines():
        json.loads(line)
        rows += 1
    assert rows > 0
    return len(data)


def _work_land_sdk_write(file_name: str) -> int:
    moved = _work_land_sdk(file_name)
    data = _SDK_DOWNLOADED.pop()
    Path(os.environ["BENCH_DESTINATION"]).write_bytes(data)
    return moved


_MARK: dict[str, float] = {}
#: The SDK's downloaded bytes, for ``land-sdk-write`` to write after the parse.
_SDK_DOWNLOADED: list[bytes] = []


def yield_baseline() -> None:
    """Called by each work function after its warm-up: RSS and time are measured from here."""
    _MARK["rss_mb"] = peak_rss_mb()
    _MARK["cpu"] = time.process_time()
    _MARK["started"] = time.perf_counter()
    if os.environ.get("BENCH_PROFILE"):  # BENCH_PROFILE=/tmp/p: cProfile the work into /tmp/p.<kind>
        import cProfile

        _MARK["profiler"] = cProfile.Profile()  # type: ignore[assignment]
        _MARK["profiler"].enable()  # type: ignore[attr-defined]


WORK = {
    "upload-ours": _work_upload_ours,
    "upload-sdk": _work_upload_sdk,
    "land-ours": _work_land_ours,
    "land-sdk": _work_land_sdk,
    "land-sdk-write": _work_land_sdk_write,
}


def worker(kind: str, arg: str) -> None:
    moved = WORK[kind](arg)
    seconds = time.perf_counter() - _MARK["started"]
    cpu = time.process_time() - _MARK["cpu"]
    if "profiler" in _MARK:
        _MARK["profiler"].disable()  # type: ignore[attr-defined]
        _MARK["profiler"].dump_stats(f"{os.environ['BENCH_PROFILE']}.{kind}")  # type: ignore[attr-defined]
    print(
        json.dumps(
            {"bytes": moved, "seconds": seconds, "cpu_s": cpu, "rss_mb": peak_rss_mb() - _MARK["rss_mb"]}
        )
    )


# -- the driver -----------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SERVER_PID: list[int] = []


def run_worker(kind: str, arg: str, env: dict[str, str]) -> dict[str, float]:
    """One measurement in a fresh subprocess; adds the emulator's CPU seconds over the run."""
    server_before = process_cpu_s(_SERVER_PID[0]) if _SERVER_PID else 0.0
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", kind, arg],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    result = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    result["server_cpu_s"] = process_cpu_s(_SERVER_PID[0]) - server_before if _SERVER_PID else 0.0
    return result


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    rates = [r["bytes"] / MB / r["seconds"] for r in runs]
    # CPU seconds per GB moved: steadier than wall time on a shared machine (least of the runs).
    cpu = min(r["cpu_s"] / r["bytes"] * 1000 * MB for r in runs)
    server = min(r["server_cpu_s"] / r["bytes"] * 1000 * MB for r in runs)
    return {
        "best": max(rates),
        "low": min(rates),
        "rss": max(r["rss_mb"] for r in runs),
        "cpu": cpu,
        "server": server,
    }


def line(label: str, s: dict[str, float]) -> str:
    spread = f"{s['low']:.1f}..{s['best']:.1f}"
    return (
        f"  {label:<6} best {s['best']:7.1f} MB/s (spread {spread}), peak RSS +{s['rss']:.0f} MB, "
        f"CPU {s['cpu']:.2f} s/GB client + {s['server']:.2f} s/GB emulator"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--upload-mb", type=int, default=512)
    parser.add_argument("--results-mb", type=int, default=256, help="approximate result file size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("upload", "land"), default=None)
    parser.add_argument(
        "--land-kind", choices=("text", "embeddings"), default="text", help="the result file to land"
    )
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    from _emulator import start_emulator

    import airflow_provider_gemini_batch

    print(f"code under test: {Path(airflow_provider_gemini_batch.__file__).parent}")
    work = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    server, base_url = start_emulator(api_key=API_KEY, processing_seconds=0, data_dir=str(work / "emulator"))
    _SERVER_PID.append(server.pid)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "BENCH_BASE_URL": base_url,
        "BENCH_DESTINATION": str(work / "landed.jsonl"),
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(
            {"conn_type": "gemini_batch", "host": base_url, "password": API_KEY, "extra": {"timeout": 300}}
        ),
    }
    os.environ.update(env)
    try:
        if args.only in (None, "upload"):
            source = work / "input.jsonl"
            size = write_input(source, args.upload_mb * MB)
            ours, sdk = [], []
            for _ in range(args.repeat):  # interleaved, so both sides see the same load
                ours.append(run_worker("upload-ours", str(source), env))
                sdk.append(run_worker("upload-sdk", str(source), env))
            o, s = summarise(ours), summarise(sdk)
            print(f"upload {size / MB:.0f} MB JSONL (ours validates, the SDK does not), {args.repeat} runs:")
            print(line("ours", o))
            print(line("SDK", s))
            print(f"  ratio {o['best'] / s['best']:.2f}x SDK (goal >= 1.0x), +{o['rss']:.0f} MB (goal < 100)")
            source.unlink()
        if args.only in (None, "land"):
            embeddings = args.land_kind == "embeddings"
            batch_name, file_name = make_result_file(work, args.results_mb, embeddings=embeddings)
            ours, sdk, sdk_write = [], [], []
            for _ in range(args.repeat):
                ours.append(run_worker("land-ours", batch_name, env))
                sdk.append(run_worker("land-sdk", file_name, env))
                sdk_write.append(run_worker("land-sdk-write", file_name, env))
            o, s, w = summarise(ours), summarise(sdk), summarise(sdk_write)
            print(
                f"land a {sdk[0]['bytes'] / MB:.0f} MB result file ({args.land_kind}), {args.repeat} runs "
                "(result file MB/s):"
            )
            print(line("ours", o))
            print(line("SDK", s))
            print(line("SDK+w", w))
            print(
                f"  ratio {o['best'] / s['best']:.2f}x SDK, {o['best'] / w['best']:.2f}x SDK+w "
                f"(goal >= 2.0x), +{o['rss']:.0f} MB (goal < 100)"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def make_result_file(work: Path, target_mb: int, *, embeddings: bool = False) -> tuple[str, str]:
    """A finished batch whose result file is about ``target_mb``; returns (batch, file) names."""
    from airflow_provider_gemini_batch.hooks.gemini_batch import GeminiBatchHook

    hook = GeminiBatchHook(gemini_conn_id=CONN_ID)
    source = work / "results-input.jsonl"
    if embeddings:
        write_embed_input(source, target_mb * MB // EMBED_ROW_BYTES)
    else:
        # The emulator's fake model answers each line with a response about the size of its prompt.
        write_input(source, target_mb * MB)
    info = hook.upload_file(source, validate=False)
    source.unlink()
    if embeddings:
        batch = hook.create_embeddings_batch("gemini-embedding-001", input_file=info.name)
    else:
        batch = hook.create_batch("gemini-2.5-flash", input_file=info.name)
    while not (batch := hook.get_batch(batch.name)).done:
        time.sleep(0.5)
    assert batch.responses_file, batch.summary()
    return batch.name, batch.responses_file


#: About the bytes of one embedding result row from the emulator (3,072 values, ~11 characters each).
EMBED_ROW_BYTES = 35_000


def write_embed_input(path: Path, count: int) -> None:
    """``count`` EmbedContentRequest lines, each answered with a 3,072-value vector by the emulator."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(count):
            request = {"content": {"parts": [{"text": f"Item {i}: a sturdy, well made item."}]}}
            fh.write(json.dumps({"key": f"e{i}", "request": request}) + "\n")


if __name__ == "__main__":
    main()
