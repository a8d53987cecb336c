"""Tap benchmarks: parallel speedup, records per second, peak memory, and the public peer.

Every figure comes from real processes against the fake API running in its own process.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common import fake_server, tap_command, timed, write_json


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    figure: str
    value: str
    goal: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        """Markdown table cells."""
        verdict = "" if self.met is None else ("yes" if self.met else "NO")
        return [cell.replace("|", "\\|") for cell in (self.figure, self.value, self.goal, verdict)]


def _run_tap(url_config: dict[str, object], out: Path | None = None) -> tuple[float, float, float]:
    """Run the tap once; return (wall seconds, export seconds, peak RSS MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = write_json(Path(tmp), "tap.json", dict(url_config))
        with (out or Path("/dev/null")).open("w") as sink:
            result = timed(tap_command(config), stdout=sink)
    if result.returncode != 0:
        raise RuntimeError(f"tap failed ({result.returncode}): {result.stderr[-2000:]}")
    export = result.export_seconds
    return result.wall, export if export is not None else result.wall, result.peak_rss_mb


def speedup(pages: int = 20, latency: float = 1.0, workers: int = 5) -> list[Row]:
    """Speedup of ``workers`` over one worker for ``pages`` pages at ``latency`` s per query."""
    ideal = pages / (1 + math.ceil((pages - 1) / workers))
    with fake_server(pages * 1000, latency) as api:
        _, one, _ = _run_tap(api.tap_config(max_workers=1, page_size=1000))
        _, many, _ = _run_tap(api.tap_config(max_workers=workers, page_size=1000))
    ratio = one / many
    return [
        Row(
            f"export time, {pages} pages at {latency:g} s/query: 1 worker vs {workers}",
            f"{one:.2f} s vs {many:.2f} s",
        ),
        Row(
            f"speedup of {workers} workers over 1 (ideal {ideal:.2f}x)",
            f"{ratio:.2f}x = {ratio / ideal:.0%} of ideal",
            ">= 95% of ideal",
            ratio / ideal >= 0.95,
        ),
    ]


def throughput(profiles: int = 100_000) -> list[Row]:
    """Records per second at zero latency, output to /dev/null (whole process, start to end)."""
    with fake_server(profiles) as api:
        wall, export, _ = _run_tap(api.tap_config())
    return [
        Row(
            f"tap records/s, {profiles:,} profiles, zero latency, to /dev/null (whole process)",
            f"{profiles / wall:,.0f}/s ({wall:.2f} s; export phase {profiles / export:,.0f}/s)",
            ">= 15,000/s",
            profiles / wall >= 15_000,
        )
    ]


def memory(sizes: tuple[int, ...] = (50_000, 200_000, 400_000)) -> list[Row]:
    """Peak resident memory of the tap process for each export size, default settings.

    The window holds at most 48 MB of pages, so memory grows with the export only until the
    window is full: flat is judged on the two largest sizes (a small export never fills it).
    """
    peaks = []
    for size in sizes:
        with fake_server(size) as api:
            _, _, peak = _run_tap(api.tap_config())
        peaks.append(peak)
    flat = abs(peaks[-1] - peaks[-2]) < 30
    return [
        Row(
            "tap peak memory at " + " / ".join(f"{s:,}" for s in sizes) + " profiles",
            " / ".join(f"{p:.0f} MB" for p in peaks),
            "< 150 MB; flat once the window is full (the two largest)",
            flat and max(peaks) < 150,
        )
    ]


PEER_REPEATS = 3
"""Runs of this tap per point of the peer comparison; the median is reported."""


@dataclass(frozen=True)
class PeerPoint:
    """Export wall times for one number of profiles at the peer comparison latency."""

    profiles: int
    parallel: float
    sequential: float
    peer: float


def peer_curve(
    sizes: tuple[int, ...], latency: float = 0.3, repeats: int = PEER_REPEATS
) -> list[PeerPoint]:
    """Whole-process wall time of this tap (5 and 1 workers) and tap-mixpanel 1.8.0 per size.

    This tap's times are the median of ``repeats`` runs (a run takes seconds, and one slow start
    on a shared machine moves a ratio by a tenth); the peer runs once, taking half a minute.
    """
    from benchmarks.peers.tap_mixpanel import run_peer_tap

    def median_wall(config: dict[str, object]) -> float:
        return statistics.median(_run_tap(config)[0] for _ in range(repeats))

    points = []
    for size in sizes:
        with fake_server(size, latency) as api:
            parallel = median_wall(api.tap_config())
            sequential = median_wall(api.tap_config(max_workers=1, page_size=1_000))
            peer = run_peer_tap(api.url, api.api_secret, None)
            if peer.exit_code != 0 or peer.records != size:
                raise RuntimeError(
                    f"peer run failed: exit {peer.exit_code}, {peer.records} of {size} records; "
                    f"{peer.stderr_tail}"
                )
        points.append(PeerPoint(size, parallel, sequential, peer.wall_seconds))
    return points


def peer_rows(points: list[PeerPoint], latency: float = 0.3) -> list[Row]:
    """Table rows for the largest size of :func:`peer_curve`."""
    last = points[-1]
    ratio = last.peer / last.parallel
    return [
        Row(
            f"{last.profiles:,} profiles at {latency:g} s/query: this tap vs singer-io "
            "tap-mixpanel 1.8.0 (wall)",
            f"{last.parallel:.2f} s vs {last.peer:.2f} s = {ratio:.1f}x faster "
            f"(this tap: median of {PEER_REPEATS} runs)",
            ">= 17x",
            ratio >= 17,
        ),
        Row(
            f"{last.profiles:,} profiles at {latency:g} s/query: this tap vs itself one query "
            "at a time, 1,000 per page (wall)",
            f"{last.parallel:.2f} s vs {last.sequential:.2f} s = "
            f"{last.sequential / last.parallel:.1f}x",
        ),
    ]


def chart(points: list[PeerPoint], path: Path, latency: float = 0.3) -> None:
    """Plot export time against number of profiles, with matplotlib from its own venv."""
    from benchmarks.peers.venvs import ensure_peer_venv, venv_python

    plot_python = venv_python(ensure_peer_venv("plot", "matplotlib>=3.8"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{**asdict(point), "latency": latency} for point in points]
        data = write_json(Path(tmp), "points.json", {"points": rows})
        script = Path(__file__).with_name("plot_export_time.py")
        subprocess.run([str(plot_python), str(script), str(data), str(path)], check=True)


def pipe_command(tap_config: Path, target: list[str]) -> str:
    """A shell pipeline from the tap into ``target``."""
    return " ".join([*tap_command(tap_config), "|", *target])


def run_shell(command: str) -> float:
    """Run a shell pipeline; return its wall time (raises when any part fails)."""
    result = timed(["bash", "-o", "pipefail", "-c", command])
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command, stderr=result.stderr)
    return result.wall
