"""Records per second of ``sync()`` into DuckDB against ``tap | target`` into DuckDB.

Both read the same fake Engage API, run as its own process at zero latency so that neither side
pays for the server's CPU, and each writes a fresh DuckDB file. The pipe is timed as a whole (two
processes start, stream and exit); ``sync()`` is timed around the call in this process.

The server builds its profiles on first use, so one untimed pass warms it before anything is
timed; then the two are timed in alternating rounds and the best round of each is kept, because
the shared machine this runs on is noisy. CPU seconds are reported too (this process for
``sync()``, the two child processes for the pipe; the server is excluded from both): on a 2-core
machine the pipe's two processes use both cores, so wall-clock ratios understate the work saved.

    python benchmarks/bench_library.py [profiles] [rounds]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import BIN, fake_server
from tap_mixpanel_engage import iter_profiles, sync


def time_sync(config: dict[str, Any], db: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds for one ``sync()`` into a fresh file, and the records written."""
    cpu, start = time.process_time(), time.perf_counter()
    result = sync(config, sink_config={"path": str(db)})
    elapsed = time.perf_counter() - start
    return elapsed, time.process_time() - cpu, result.records_written


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_pipe(config: dict[str, Any], db: Path, workdir: Path) -> tuple[float, float]:
    """Wall and CPU seconds for ``tap-mixpanel-engage | target-mixpanel-duckdb``."""
    tap_json, target_json = workdir / "tap.json", workdir / "target.json"
    tap_json.write_text(json.dumps(config))
    target_json.write_text(json.dumps({"path": str(db)}))
    cpu, start = _children_cpu(), time.perf_counter()
    with subprocess.Popen(
        [str(BIN / "tap-mixpanel-engage"), "--config", str(tap_json)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as tap:
        assert tap.stdout is not None
        with subprocess.Popen(
            [str(BIN / "target-mixpanel-duckdb"), "--config", str(target_json)],
            stdin=tap.stdout,
            stdout=subprocess.DEVNULL,
        ) as target:
            tap.stdout.close()
            target.wait()
        tap.wait()
    elapsed = time.perf_counter() - start
    if tap.returncode or target.returncode:
        raise RuntimeError(f"pipe failed: tap {tap.returncode}, target {target.returncode}")
    return elapsed, _children_cpu() - cpu


def bench_sync_vs_pipe(profiles: int = 100_000, rounds: int = 3) -> dict[str, float]:
    """Records/s of ``sync()`` and of the pipe against one fake API, and their ratio.

    Keys: ``sync_records_per_second``, ``pipe_records_per_second``, ``ratio`` (sync / pipe, wall
    clock), the best ``*_seconds`` and the matching ``*_cpu_seconds``, and ``cpu_ratio``.
    """
    sync_runs: list[tuple[float, float]] = []
    pipe_runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with fake_server(profiles) as api:
            config = api.tap_config()
            for _ in iter_profiles(config):  # warm the server's profile cache, untimed
                pass
            for n in range(rounds):
                elapsed, cpu, written = time_sync(config, workdir / f"sync{n}.duckdb")
                if written != profiles:
                    raise RuntimeError(f"sync() wrote {written} records, expected {profiles}")
                sync_runs.append((elapsed, cpu))
                pipe_runs.append(time_pipe(config, workdir / f"pipe{n}.duckdb", workdir))
    sync_seconds, sync_cpu = min(sync_runs)
    pipe_seconds, pipe_cpu = min(pipe_runs)
    return {
        "profiles": float(profiles),
        "sync_seconds": sync_seconds,
        "sync_cpu_seconds": sync_cpu,
        "sync_records_per_second": profiles / sync_seconds,
        "pipe_seconds": pipe_seconds,
        "pipe_cpu_seconds": pipe_cpu,
        "pipe_records_per_second": profiles / pipe_seconds,
        "ratio": pipe_seconds / sync_seconds,
        "cpu_ratio": pipe_cpu / sync_cpu,
    }


def main() -> None:
    """Print a small table."""
    profiles = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    r = bench_sync_vs_pipe(profiles, rounds)
    print(f"{profiles:,} profiles, fake API at zero latency, fresh DuckDB files, best of {rounds}")
    print(f"{'path':<30}{'wall s':>8}{'records/s':>11}{'CPU s':>8}")
    for label, key in (("sync() in process", "sync"), ("tap | target (2 processes)", "pipe")):
        print(
            f"{label:<30}{r[key + '_seconds']:>8.2f}{r[key + '_records_per_second']:>11,.0f}"
            f"{r[key + '_cpu_seconds']:>8.2f}"
        )
    print(f"sync() vs pipe: {r['ratio']:.2f}x records/s, {r['cpu_ratio']:.2f}x less CPU")


if __name__ == "__main__":
    main()
