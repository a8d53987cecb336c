"""Pipeline benchmarks: ``tap | target`` through a real shell pipe, ours against the PyPI peer.

Both pipelines read the same fake API in one run. Rows loaded are counted too: PyPI
target-duckdb 0.8.0 is known to drop rows (docs/peers.md), and a fast loader that loses rows is
not a result.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import duckdb

from benchmarks.bench_tap import Row, pipe_command, run_shell
from benchmarks.common import BIN, fake_server, write_json

REPEATS = 3
"""Runs of our pipeline; the shared VM's noise moves a single run by a third."""


def _count_ours(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute('SELECT count(*) FROM mixpanel."engage"').fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def pipelines(profiles: int = 100_000) -> list[Row]:
    """Records/s of tap | target-mixpanel-duckdb and tap | target-duckdb 0.8.0, zero latency."""
    from benchmarks.peers.target_duckdb import query_peer_db, target_config, target_executable

    peer_target = target_executable()
    with tempfile.TemporaryDirectory() as tmp, fake_server(profiles) as api:
        work = Path(tmp)
        tap = write_json(work, "tap.json", api.tap_config())
        walls, counts = [], []
        for run in range(REPEATS):  # a fresh file each run; the median is reported
            ours_db = work / f"ours-{run}.duckdb"
            ours_cfg = write_json(work, "target.json", {"path": str(ours_db)})
            target = [str(BIN / "target-mixpanel-duckdb"), "--config", str(ours_cfg)]
            walls.append(run_shell(pipe_command(tap, target)))
            counts.append(_count_ours(ours_db))
        ours, ours_rows = statistics.median(walls), min(counts)
        peer_db = work / "peer.duckdb"
        peer_cfg = write_json(work, "peer.json", target_config(peer_db))
        try:
            peer: float | None = run_shell(
                pipe_command(tap, [str(peer_target), "--config", str(peer_cfg)])
            )
            counted = query_peer_db(peer_db, 'SELECT count(*) FROM mixpanel."engage"')
            peer_rows = int(counted[0][0])
        except Exception as exc:  # the peer failing is a result to report, not a crash
            peer, peer_rows = None, 0
            failure = str(exc)[:120]
    peer_text = (
        f"{profiles / peer:,.0f}/s, {peer_rows:,} rows"
        if peer is not None
        else f"failed: {failure}"
    )
    return [
        Row(
            f"tap | target-mixpanel-duckdb, {profiles:,} profiles, zero latency",
            f"{profiles / ours:,.0f}/s (median of {REPEATS}: "
            + ", ".join(f"{w:.2f}" for w in walls)
            + f" s), {ours_rows:,} rows (fewest of the runs)",
            ">= 35,000/s, every row",
            profiles / ours >= 35_000 and ours_rows == profiles,
        ),
        Row("tap | target-duckdb 0.8.0 (PyPI), same data, same run", peer_text),
    ]
