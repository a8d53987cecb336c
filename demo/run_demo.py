"""``make demo``: Meltano syncs Mixpanel from a local fake Engage API into DuckDB, three times.

Run 1 is a full sync (no stored state) of every stream: user profiles, the fake's two group
keys, its cohorts and their members. Then some profiles are touched on the fake API and run 2
shows the incremental sync Meltano drives from the state it stored: one query for the user
profiles instead of one per page, and only the touched profiles (plus those seen exactly at the
bookmark, since the tap filters with ``>=``) written. Then some profiles are deleted and run 3,
a full refresh, removes exactly them. The fake API runs as a separate process and is always
stopped.

    .venv/bin/python -m demo.run_demo [--profiles 20000] [--latency 0.3] [--touch 50]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from demo.meltano_project import (
    REPO,
    STATE_ID,
    MeltanoResult,
    ensure_meltano,
    meltano_env,
    plugin_python,
    query_db,
    run_meltano,
    stored_state,
)

OUT = REPO / "demo-out"
SYS_DIR = REPO / ".meltano"
TABLE = "mixpanel.engage"
TABLES = ("engage", "group_profiles", "cohorts", "cohort_members")
GROUPS = [
    {"data_group_id": "-1405123841946871899", "group_key": "company_id"},
    {"data_group_id": "7282917330102931517", "group_key": "team_id"},
]
"""The fake API's default group keys."""
READY_TIMEOUT = 60.0
DELETE = 25


class DemoError(Exception):
    """A step failed; the message says which and where its log is."""


@contextmanager
def fake_api_process(args: Sequence[str], ready_file: Path, log: Path) -> Iterator[str]:
    """Start ``python -m tap_mixpanel_engage.fake_api ARGS`` and yield its URL; stop it after.

    Readiness is the ``--ready-file`` the server writes once its socket is bound (polled with a
    deadline). On exit the server gets SIGTERM, then SIGKILL if it has not stopped in 10 s.
    """
    ready_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "tap_mixpanel_engage.fake_api", *args]
    command += ["--ready-file", str(ready_file)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready_file.exists():
            if proc.poll() is not None:
                raise DemoError(f"the fake API exited with {proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise DemoError(f"the fake API was not ready after {READY_TIMEOUT:.0f}s; see {log}")
            time.sleep(0.05)
        yield ready_file.read_text().strip()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def admin(url: str, path: str, *, post: bool = False) -> Any:
    """Call one of the fake API's ``/_fake/`` endpoints and decode its JSON answer."""
    request = urllib.request.Request(url + path, method="POST" if post else "GET", data=None)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def checked(result: MeltanoResult, what: str) -> MeltanoResult:
    """Return ``result`` if the command succeeded; else raise with the end of its log."""
    if result.returncode != 0:
        raise DemoError(
            f"{what} failed (exit {result.returncode}); log {result.log}:\n{result.tail()}"
        )
    return result


def snapshot(python: Path, db: Path) -> dict[str, tuple[str, str]]:
    """Every row's ``last_seen`` and ``_sdc_batched_at`` by distinct_id."""
    rows = query_db(python, db, f"SELECT distinct_id, last_seen, _sdc_batched_at FROM {TABLE}")
    return {str(row[0]): (str(row[1]), str(row[2])) for row in rows}


def bookmark(state: Any) -> str | None:
    """The ``engage`` replication bookmark in a Singer state, if any."""
    if not isinstance(state, dict):
        return None
    value = state.get("bookmarks", {}).get("engage", {}).get("replication_key_value")
    return str(value) if value is not None else None


def demo(profiles: int, latency: float, jitter: float, touch: int) -> None:
    """Run the whole demo, printing what happened; raise :class:`DemoError` on a failed check."""
    OUT.mkdir(exist_ok=True)
    # Not mixpanel.duckdb: the catalog would then share the schema's name, which our target
    # cannot yet handle (DuckDB: "Ambiguous reference to catalog or schema", see docs/demo.md).
    db = OUT / "warehouse.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    meltano = ensure_meltano()
    fake_args = ["--port", "0", "--profiles", str(profiles), "--max-concurrent", "5"]
    fake_args += ["--latency", str(latency), "--jitter", str(jitter)]
    print(f"fake Engage API: {profiles:,} profiles, {latency}s ± {jitter:.0%} per query")
    with fake_api_process(fake_args, OUT / "fake-api.url", OUT / "fake-api.log") as url:
        print(f"  listening on {url}")
        env = meltano_env(
            api_url=url,
            db_path=db,
            sys_dir=SYS_DIR,
            extra={
                "TARGET_DUCKDB_ADD_METADATA_COLUMNS": "true",
                "TAP_MIXPANEL_ENGAGE_GROUPS": json.dumps(GROUPS),
                "TAP_MIXPANEL_ENGAGE__SELECT": json.dumps([f"{t}.*" for t in TABLES]),
            },
        )

        def step(args: list[str], log: str) -> MeltanoResult:
            return checked(run_meltano(meltano, args, env, OUT / log), f"meltano {args[0]}")

        install = step(["install"], "meltano-install.log")
        print(f"meltano install: {install.seconds:.1f}s (log {install.log.relative_to(REPO)})")
        step(["state", "clear", "--force", STATE_ID], "meltano-state-clear.log")
        python = plugin_python(SYS_DIR, "loaders", "target-duckdb")

        run1 = step(["run", "tap-mixpanel-engage", "target-duckdb"], "meltano-run-1.log")
        stats1 = admin(url, "/_fake/stats")
        counts = {
            t: query_db(python, db, f"SELECT count(*) FROM mixpanel.{t}")[0][0] for t in TABLES
        }
        rows = counts["engage"]
        state1 = stored_state(meltano, env)
        print(
            f"\nrun 1 (full sync, every stream): {run1.seconds:.1f}s wall, "
            f"{stats1['requests']} queries, {stats1['profiles_served']:,} profiles served"
        )
        print(f"  in {db}: " + ", ".join(f"mixpanel.{t} {n:,} rows" for t, n in counts.items()))
        if rows != profiles:
            raise DemoError(f"{rows} user profiles landed but the fake has {profiles}")
        sample = query_db(
            python,
            db,
            f"SELECT distinct_id, email, name, country_code, last_seen FROM {TABLE} "
            "ORDER BY distinct_id LIMIT 3",
        )
        for row in sample:
            print("   ", " | ".join("NULL" if v is None else str(v) for v in row))
        print(f"  state stored by Meltano under {STATE_ID}: last_seen >= {bookmark(state1)}")

        before = snapshot(python, db)
        touched = set(admin(url, f"/_fake/touch?count={touch}", post=True))
        print(f"\ntouched {len(touched)} profiles on the fake API ($last_seen moved forward)")

        run2 = step(["run", "tap-mixpanel-engage", "target-duckdb"], "meltano-run-2.log")
        stats2 = admin(url, "/_fake/stats")
        after = snapshot(python, db)
        queries = stats2["requests"] - stats1["requests"]
        served = stats2["profiles_served"] - stats1["profiles_served"]
        written = {
            i for i, (_, batched) in after.items() if before.get(i, (None, None))[1] != batched
        }
        changed = {i for i, (seen, _) in after.items() if before.get(i, (None, None))[0] != seen}
        new = after.keys() - before.keys()
        print(
            f"run 2 (incremental from stored state): {run2.seconds:.1f}s wall, {queries} "
            f"{'query' if queries == 1 else 'queries'} (run 1: {stats1['requests']}), "
            f"{served:,} profiles served (cohorts and their members are full syncs every run)"
        )
        print(
            f"  rows written {len(written)}, last_seen changed {len(changed)}, new rows "
            f"{len(new)}, rows now {len(after):,}"
        )
        print(
            f"  the {len(written - touched)} other written row(s) were seen exactly at the "
            "bookmark (the tap asks for last_seen >= bookmark)"
        )
        print(f"  new bookmark: last_seen >= {bookmark(stored_state(meltano, env))}")
        if changed != touched or not touched <= written or new:
            raise DemoError("run 2 did not update exactly the touched profiles")
        if queries >= stats1["requests"]:
            raise DemoError("run 2 sent as many queries as run 1")

        gone = set(admin(url, f"/_fake/delete?count={DELETE}", post=True))
        print(f"\ndeleted {len(gone)} profiles on the fake API")
        run3 = step(
            ["run", "--full-refresh", "tap-mixpanel-engage", "target-duckdb"], "meltano-run-3.log"
        )
        left = set(snapshot(python, db))
        print(
            f"run 3 (--full-refresh: a full sync): {run3.seconds:.1f}s wall, rows now "
            f"{len(left):,}, deleted profiles still there: {len(gone & left)}"
        )
        if gone & left or len(left) != profiles - len(gone):
            raise DemoError("run 3 did not remove exactly the deleted profiles")
    print("\nfake API stopped. Logs and the DuckDB file are in demo-out/.")


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry: exit 0 when every check passed, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per query")
    parser.add_argument("--jitter", type=float, default=0.3, help="fraction, 0.3 = ±30%%")
    parser.add_argument("--touch", type=int, default=50, help="profiles changed before run 2")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        demo(args.profiles, args.latency, args.jitter, args.touch)
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    print(f"demo done in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
