"""The postgres sink against MeltanoLabs target-postgres 0.8.1, into one throwaway server.

Both loaders read the same recorded tap output from a file (the tap's real stdout for the fake
API's profiles), so the comparison is loader against loader; each writes into its own fresh
database on the same server, and every row is checked: a fast loader that loses rows is not a
result. The whole ``tap | target`` pipe into PostgreSQL is measured too.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.bench_tap import Row, pipe_command, run_shell
from benchmarks.common import BIN, Timed, fake_server, tap_command, timed, write_json
from scripts.pg_server import PostgresServer

GOAL = 4.0
"""The postgres sink must load at least this many times as many rows per second as the peer."""


def _loaded_ids(server: PostgresServer, database: str) -> list[str]:
    """Every ``distinct_id`` in ``mixpanel.engage`` (duplicates kept), or none if no table."""
    with psycopg.connect(server.dsn(database)) as conn:
        try:
            return [row[0] for row in conn.execute("SELECT distinct_id FROM mixpanel.engage")]
        except psycopg.errors.UndefinedTable:
            return []


def _create(server: PostgresServer, *databases: str) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        for name in databases:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _load(command: list[str], recorded: Path) -> Timed:
    """Run a loader with the recorded tap output on stdin."""
    with recorded.open("rb") as stdin:
        return timed(command, stdin=stdin)


def _exact(loaded: list[str], expected: set[str]) -> bool:
    return len(loaded) == len(expected) and set(loaded) == expected


def postgres_sinks(profiles: int = 100_000) -> list[Row]:
    """Rows/s of both loaders on the same records, and of our whole pipe, zero latency."""
    from benchmarks.peers.target_postgres import target_config, target_executable

    peer = target_executable()
    ours = str(BIN / "target-mixpanel-duckdb")
    with (
        tempfile.TemporaryDirectory() as tmp,
        PostgresServer() as server,
        fake_server(profiles) as api,
    ):
        work = Path(tmp)
        tap = write_json(work, "tap.json", api.tap_config())
        recorded = work / "tap.jsonl"
        with recorded.open("w") as out:
            tapped = timed(tap_command(tap), stdout=out)
        if tapped.returncode != 0:
            raise RuntimeError(f"tap failed: {tapped.stderr[-2000:]}")
        expected = {
            message["record"]["distinct_id"]
            for message in map(json.loads, recorded.read_text().splitlines())
            if message["type"] == "RECORD"
        }
        _create(server, "ours", "peer", "pipe")
        ours_cfg = write_json(work, "ours.json", {"sink": "postgres", "dsn": server.dsn("ours")})
        mine = _load([ours, "--config", str(ours_cfg)], recorded)
        peer_cfg = write_json(work, "peer.json", target_config(server.socket_dir, "peer"))
        theirs = _load([str(peer), "--config", str(peer_cfg)], recorded)
        pipe_cfg = write_json(work, "pipe.json", {"sink": "postgres", "dsn": server.dsn("pipe")})
        try:
            pipe: float | None = run_shell(pipe_command(tap, [ours, "--config", str(pipe_cfg)]))
        except subprocess.CalledProcessError:
            pipe = None
        exact = {name: _exact(_loaded_ids(server, name), expected) for name in ("ours", "peer")}
        pipe_exact = _exact(_loaded_ids(server, "pipe"), expected)
    n = len(expected)

    def rate(run: Timed, name: str) -> tuple[float, str]:
        if run.returncode != 0:
            return 0.0, f"failed ({run.returncode}): {run.stderr.strip()[-120:]}"
        rows = "exact rows" if exact[name] else "ROWS DIFFER"
        return n / run.wall, f"{n / run.wall:,.0f}/s ({run.wall:.2f} s), {n:,} records, {rows}"

    mine_rate, mine_text = rate(mine, "ours")
    peer_rate, peer_text = rate(theirs, "peer")
    ratio = mine_rate / peer_rate if peer_rate else 0.0
    both = exact["ours"] and exact["peer"] and mine.returncode == theirs.returncode == 0
    pipe_text = (
        f"{n / pipe:,.0f}/s ({pipe:.2f} s), {'exact rows' if pipe_exact else 'ROWS DIFFER'}"
        if pipe is not None
        else "failed"
    )
    return [
        Row(f"target-mixpanel-duckdb, sink: postgres, {n:,} recorded tap records", mine_text),
        Row("target-postgres 0.8.1 (MeltanoLabs; use_copy, upsert), same records", peer_text),
        Row(
            "postgres sink vs target-postgres 0.8.1, rows/s loading the same records",
            f"{ratio:.1f}x",
            f">= {GOAL:g}x, exact rows both",
            ratio >= GOAL and both,
        ),
        Row(
            f"tap | target-mixpanel-duckdb, sink: postgres, {n:,} profiles, zero latency",
            pipe_text,
            ">= 10,000/s, every row",
            pipe is not None and pipe_exact and n / pipe >= 10_000,
        ),
    ]


if __name__ == "__main__":
    for row in postgres_sinks():
        print(" | ".join(row.cells()))
