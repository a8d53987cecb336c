"""Real pipelines into a real PostgreSQL: ``tap | target-mixpanel-duckdb`` with ``sink: postgres``.

Every pipeline is two processes joined by a shell pipe (``set -o pipefail``), reading a fake
Engage API on loopback. Rows are compared with what the API serves: the exact id set, and for a
sample every column against the record the tap makes of that profile.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tap_mixpanel_engage.engage.dates import to_mixpanel
from tap_mixpanel_engage.engage.records import shape_profile
from tap_mixpanel_engage.fake_api import FakeEngageAPI, make_profile
from tests.helpers import run_tap, tap_config
from tests.postgres import Database

BIN = Path(sys.executable).parent
PIPE = 'set -o pipefail; "$1" --config "$2" "${@:6}" | "$3" --config "$4" > "$5"'
"""tap --config TAP [--state STATE] | target --config TARGET > STATE_LINES; arguments $1..$6."""
pytestmark = pytest.mark.slow


def start_pipe(
    workdir: Path,
    tap_cfg: dict[str, Any],
    target_cfg: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> subprocess.Popen[str]:
    """Start ``tap | target`` in bash; the target's STATE lines go to ``workdir/state.jsonl``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tap.json").write_text(json.dumps(tap_cfg))
    (workdir / "target.json").write_text(json.dumps(target_cfg))
    args: list[str | Path] = [
        BIN / "tap-mixpanel-engage",
        workdir / "tap.json",
        BIN / "target-mixpanel-duckdb",
        workdir / "target.json",
        workdir / "state.jsonl",
    ]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", workdir / "state.json"]
    return subprocess.Popen(
        ["bash", "-c", PIPE, "pipe", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_pipe(
    workdir: Path,
    tap_cfg: dict[str, Any],
    target_cfg: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> None:
    """Run ``tap | target`` to the end; fail with its stderr on a non-zero exit."""
    pipe = start_pipe(workdir, tap_cfg, target_cfg, state)
    _, stderr = pipe.communicate(timeout=600)
    assert pipe.returncode == 0, stderr[-3000:]


def as_loaded(column: str, value: Any) -> Any:
    """What the sink stores for a record value: date-times as aware datetimes."""
    if value is not None and column in {"created", "last_seen"}:
        return dt.datetime.fromisoformat(value)
    return value


def assert_rows_match_the_source(db: Database, schema: str, api: FakeEngageAPI, step: int) -> None:
    """Every ``step``-th profile: each column equals the tap's record of it."""
    records = [
        shape_profile(make_profile(index, api.settings.seed))
        for index in range(0, api.settings.profiles, step)
    ]
    query = sql.SQL("SELECT * FROM {}.engage WHERE distinct_id = ANY(%s)").format(
        sql.Identifier(schema)
    )
    with db.connect() as conn:
        cursor = conn.execute(query, ([r["distinct_id"] for r in records],))
        names = [d.name for d in cursor.description or ()]
        loaded = {row[0]: dict(zip(names, row, strict=True)) for row in cursor}
    assert len(loaded) == len(records)
    for record in records:
        row = loaded[record["distinct_id"]]
        assert row.pop("_sdc_deleted_at") is None  # a full sync's rows, none marked deleted
        assert isinstance(row.pop("_sdc_table_version"), int)
        assert row == {c: as_loaded(c, v) for c, v in record.items()}, record["distinct_id"]


def test_100k_profiles_load_exactly_and_a_rerun_upserts_without_duplicates(
    tmp_path: Path, pg_db: Database, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    api = fake_api(profiles=100_000)
    target = {"sink": "postgres", "dsn": pg_db.dsn}
    run_pipe(tmp_path / "first", tap_config(api), target)
    ids = pg_db.ids()
    assert len(ids) == 100_000
    assert set(ids) == api.expected_ids()
    assert_rows_match_the_source(pg_db, "mixpanel", api, step=37)
    last_state = json.loads((tmp_path / "first" / "state.jsonl").read_text().splitlines()[-1])
    bookmark = last_state["bookmarks"]["engage"]["replication_key_value"]
    ((latest,),) = pg_db.query("SELECT max(last_seen) FROM mixpanel.engage")
    assert dt.datetime.fromisoformat(bookmark) == latest

    run_pipe(tmp_path / "again", tap_config(api), target)  # a full resync of the same profiles
    assert pg_db.ids() == ids
    assert_rows_match_the_source(pg_db, "mixpanel", api, step=101)


def test_three_projects_at_once_into_one_database_each_table_exact(
    tmp_path: Path, pg_db: Database, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    apis = [fake_api(profiles=6000, seed=seed, project_id=1000 + seed) for seed in (1, 2, 3)]
    pipes = [
        start_pipe(
            tmp_path / str(api.settings.project_id),
            tap_config(api, page_size=500),
            {
                "sink": "postgres",
                "dsn": pg_db.dsn,
                "schema": f"mixpanel_{api.settings.project_id}",
                "batch_size_rows": 1000,
            },
        )
        for api in apis
    ]
    results = [pipe.communicate(timeout=600) for pipe in pipes]
    assert [pipe.returncode for pipe in pipes] == [0, 0, 0], [err[-2000:] for _, err in results]
    for api in apis:
        schema = f"mixpanel_{api.settings.project_id}"
        ids = pg_db.ids(schema=schema)
        assert len(ids) == 6000
        assert set(ids) == api.expected_ids()
        assert_rows_match_the_source(pg_db, schema, api, step=59)
    assert len(set().union(*(api.expected_ids() for api in apis))) == 18_000  # three projects


def test_sync_writes_through_the_postgres_sink_with_raw_properties(
    pg_db: Database, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    from tap_mixpanel_engage import sync

    api = fake_api(profiles=3000)
    commits: list[Any] = []
    sink_config = {"dsn": pg_db.dsn, "schema": "library"}
    result = sync(
        tap_config(api, page_size=500),
        sink="postgres",
        sink_config=sink_config,
        batch_size_rows=1000,
        on_commit=commits.append,
    )
    assert result.records_written == 3000
    assert len(commits) == 4  # three batches, then the final state (bookmark promoted)
    assert commits[-1] == result.state
    assert set(pg_db.ids(schema="library")) == api.expected_ids()
    assert_rows_match_the_source(pg_db, "library", api, step=7)
    again = sync(tap_config(api), sink="postgres", sink_config=sink_config, state=result.state)
    bookmark = result.state["bookmarks"]["engage"]["replication_key_value"]
    resent = api.expected_ids(f'properties["$last_seen"] >= "{to_mixpanel(bookmark)}"')
    assert 0 < again.records_written == len(resent) < 3000  # only those seen at the bookmark
    assert set(pg_db.ids(schema="library")) == api.expected_ids()
    assert len(pg_db.ids(schema="library")) == 3000


def test_a_pipeline_killed_mid_load_keeps_whole_batches_and_resumes_exactly(
    tmp_path: Path, pg_db: Database, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    """The target gets the tap's real output through a pipe we hold, so the kill lands mid-load
    for certain: three commits are confirmed, three more batches are in flight, SIGKILL. Then
    the real pipe resumes from the last STATE the target printed."""
    api = fake_api(profiles=10_000)
    config = tap_config(api, page_size=500)
    tapped = run_tap(tmp_path, config)
    assert tapped.returncode == 0, tapped.stderr[-2000:]
    chunks: list[bytes] = []  # the tap's lines, cut after each STATE (one page each)
    covered: dict[str, int] = {}  # STATE value (as JSON) -> records before it
    ids: list[str] = []
    lines: list[str] = []
    for line, message in zip(tapped.stdout.splitlines(), tapped.messages, strict=True):
        lines.append(line)
        if message["type"] == "RECORD":
            ids.append(message["record"]["distinct_id"])
        elif message["type"] == "STATE":
            covered[json.dumps(message["value"], sort_keys=True)] = len(ids)
            chunks.append(("\n".join(lines) + "\n").encode())
            lines = []
    target_cfg = {"sink": "postgres", "dsn": pg_db.dsn, "batch_size_rows": 1000}
    (tmp_path / "target.json").write_text(json.dumps(target_cfg))
    target = subprocess.Popen(
        [BIN / "target-mixpanel-duckdb", "--config", tmp_path / "target.json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert target.stdin is not None and target.stdout is not None
    printed: list[dict[str, Any]] = []  # the STATE values the target printed, in order

    def records_before(state: dict[str, Any]) -> int:
        return covered[json.dumps(state, sort_keys=True)]

    try:
        target.stdin.write(b"".join(chunks[:6]))  # 3000 records: three batches of 1000
        target.stdin.flush()
        while not printed or records_before(printed[-1]) < 3000:
            printed.append(json.loads(target.stdout.readline()))  # each follows its commit
        target.stdin.write(b"".join(chunks[6:12]))  # three more batches, in flight
        target.stdin.flush()
    finally:
        target.kill()
        target.wait()
        rest = target.stdout.read().splitlines()
        printed += [json.loads(line) for line in rest if line.startswith(b"{")]
        target.stdin.close()
        target.stdout.close()
    loaded = set(pg_db.ids())
    # Whole batches only, in order, and at least everything the last printed STATE covers.
    assert len(loaded) % 1000 == 0
    assert records_before(printed[-1]) <= len(loaded) <= 6000
    assert loaded == set(ids[: len(loaded)])

    run_pipe(tmp_path / "rerun", config, target_cfg, state=printed[-1])
    assert pg_db.ids() == sorted(api.expected_ids())
