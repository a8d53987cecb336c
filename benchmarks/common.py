"""Shared benchmark plumbing: the fake API in its own process, and timed child processes.

The fake API always runs as a separate process so its CPU and memory never count toward the
process being measured.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent
_EXPORT_DONE = re.compile(r"export done: (\d+) records in (\d+) pages in ([\d.]+)s")


@dataclass(frozen=True)
class FakeServer:
    """A running fake Engage API."""

    url: str
    username: str = "svc-user"
    secret: str = "svc-secret"
    api_secret: str = "legacy-secret"
    project_id: int = 1234

    def stats(self) -> dict[str, Any]:
        """The fake's counters (queries answered, pages served...)."""
        with urllib.request.urlopen(f"{self.url}/_fake/stats", timeout=10) as answer:
            stats: dict[str, Any] = json.loads(answer.read())
        return stats

    def tap_config(self, **overrides: Any) -> dict[str, Any]:
        """Service-account settings for the tap."""
        return {
            "project_id": self.project_id,
            "username": self.username,
            "secret": self.secret,
            "api_url": self.url,
            **overrides,
        }


@contextmanager
def fake_server(profiles: int, latency: float = 0.0, *extra: str) -> Iterator[FakeServer]:
    """Start ``python -m tap_mixpanel_engage.fake_api`` and stop it afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "url"
        command = [
            sys.executable,
            "-m",
            "tap_mixpanel_engage.fake_api",
            "--port",
            "0",
            "--profiles",
            str(profiles),
            "--latency",
            str(latency),
            "--ready-file",
            str(ready),
            "--warm",
            *extra,
        ]
        with subprocess.Popen(command, stdout=subprocess.DEVNULL) as proc:
            try:
                deadline = time.monotonic() + 60
                while not ready.exists() or not ready.read_text().strip():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the fake Engage API did not start")
                    time.sleep(0.05)
                yield FakeServer(url=ready.read_text().strip())
            finally:
                proc.terminate()
                proc.wait(timeout=30)


@dataclass(frozen=True)
class Timed:
    """A finished child process: wall time, peak memory and what it printed on stderr."""

    wall: float
    peak_rss_mb: float
    returncode: int
    stderr: str

    @property
    def export_seconds(self) -> float | None:
        """The tap's own export time (first query to last record), from its log."""
        match = _EXPORT_DONE.search(self.stderr)
        return float(match.group(3)) if match else None


_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    out.write(f"{wall} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""
"""Runs a command as its own child and reports that child's wall time and peak RSS.

A child forked by the benchmark process starts with the benchmark's own high-water mark of
memory, and Linux keeps that mark across ``exec``: a benchmark holding 400 MB would report every
tap it starts at 400 MB. Forked from this small launcher instead, the tap's peak is its own."""


def timed(
    command: Sequence[str],
    *,
    stdin: IO[Any] | int | None = None,
    stdout: IO[Any] | int | None = subprocess.DEVNULL,
) -> Timed:
    """Run ``command`` to the end: its own wall time and peak RSS, through :data:`_LAUNCHER`."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as err:
        report = Path(tmp) / "usage"
        launcher = [sys.executable, "-c", _LAUNCHER, str(report), *command]
        proc = subprocess.run(launcher, stdin=stdin, stdout=stdout, stderr=err, check=False)
        wall, maxrss = report.read_text().split()
        err.seek(0)
        return Timed(float(wall), int(maxrss) / 1024, proc.returncode, err.read())


def write_json(directory: Path, name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON into ``directory/name`` and return the path."""
    path = directory / name
    path.write_text(json.dumps(data))
    return path


def tap_command(config_path: Path) -> list[str]:
    """The tap's command line."""
    return [str(BIN / "tap-mixpanel-engage"), "--config", str(config_path)]
