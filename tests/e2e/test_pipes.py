"""The tap's output loads through a real shell pipe, into our target and into PyPI target-duckdb.

A pipe is how Singer is run outside Meltano: both processes stream concurrently, the tap blocks
when the target is slow, and ``set -o pipefail`` surfaces either side's failure. The public
target-duckdb 0.8.0 (what Meltano users have) runs in its own venv from the peer harness (built on
first use, ~15 s). Its defects on our data are asserted exactly, as docs/demo.md describes them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benchmarks.peers.target_duckdb import query_peer_db, target_config, target_executable
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import tap_config

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow

PIPE = 'set -o pipefail; "$1" --config "$2" | tee "$3" | "$4" --config "$5" > "$6"'
"""tap --config TAP | tee TAP_OUTPUT | target --config TARGET > TARGET_STATE; args are $1..$6."""


def _pipe(tmp_path: Path, tap_cfg: dict[str, Any], target: Path, target_cfg: dict[str, Any]) -> str:
    """Run the pipe in bash; return its stderr. The tap's output is kept in ``tap.jsonl``."""
    (tmp_path / "tap.json").write_text(json.dumps(tap_cfg))
    (tmp_path / "target.json").write_text(json.dumps(target_cfg))
    args = [
        BIN / "tap-mixpanel-engage",
        tmp_path / "tap.json",
        tmp_path / "tap.jsonl",
        target,
        tmp_path / "target.json",
        tmp_path / "state.jsonl",
    ]
    done = subprocess.run(
        ["bash", "-c", PIPE, "pipe", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _tap_records(tmp_path: Path) -> list[dict[str, Any]]:
    """The RECORD payloads the tap wrote into the pipe, in order."""
    messages = (json.loads(line) for line in (tmp_path / "tap.jsonl").read_text().splitlines())
    return [m["record"] for m in messages if m["type"] == "RECORD"]


def test_shell_pipe_into_our_target_loads_the_exact_id_set(
    tmp_path: Path, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    api = fake_api(profiles=2500)
    db = tmp_path / "warehouse.duckdb"
    target = BIN / "target-mixpanel-duckdb"
    # 5 pages of 500 and commits of 1000: batches that straddle pages, and a short last one.
    _pipe(
        tmp_path, tap_config(api, page_size=500), target, {"path": str(db), "batch_size_rows": 1000}
    )

    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [row[0] for row in con.execute("SELECT distinct_id FROM mixpanel.engage").fetchall()]
        ((latest,),) = con.execute("SELECT max(last_seen) FROM mixpanel.engage").fetchall()
    finally:
        con.close()
    assert len(ids) == 2500
    assert set(ids) == api.expected_ids()
    assert api.stats.snapshot()["requests"] == 5
    # The target echoes the tap's final STATE after the last commit: resuming from it is safe.
    last_state = json.loads((tmp_path / "state.jsonl").read_text().splitlines()[-1])
    bookmark = last_state["bookmarks"]["engage"]["replication_key_value"]
    assert datetime.fromisoformat(bookmark) == latest


def _as_loaded_by_peer(column: str, value: Any) -> Any:
    """What target-duckdb 0.8.0 should store for our value, JSON-decoded as query_peer_db returns.

    Date-times land in a TIMESTAMP column as UTC wall time (our values all end in ``Z``) and
    ``properties`` in a JSON column; everything else is a VARCHAR.
    """
    if value is None:
        return None
    if column in {"created", "last_seen"}:
        return str(datetime.fromisoformat(value).replace(tzinfo=None))
    if column == "properties":
        return json.dumps(value, sort_keys=True)
    return value


def test_shell_pipe_into_pypi_target_duckdb_loses_the_first_row_of_each_batch(
    tmp_path: Path, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    """target-duckdb 0.8.0 COPYs each batch from a headerless CSV with header auto-detection.

    DuckDB's sniffer takes the first row for a header when it has a value it cannot read as the
    column's type, and ``…Z`` date-times are such values; every record of ours has a ``Z``
    ``last_seen`` here. So exactly the first row of each batch is dropped (and ``""`` becomes
    NULL); every other value arrives intact.
    """
    api = fake_api(profiles=2500)
    db = tmp_path / "peer.duckdb"
    _pipe(tmp_path, tap_config(api), target_executable(), target_config(db, batch_size_rows=1000))

    records = _tap_records(tmp_path)
    assert len(records) == 2500
    assert all(r["last_seen"] is not None for r in records)
    first_of_each_batch = {records[i]["distinct_id"] for i in (0, 1000, 2000)}
    columns = list(records[0])
    assert columns[0] == "distinct_id"
    select = ", ".join(f'"{c}"' for c in columns)
    rows = query_peer_db(db, f"SELECT {select} FROM mixpanel.engage")
    loaded = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    for row in loaded.values():
        row["properties"] = json.dumps(json.loads(row["properties"]), sort_keys=True)
    assert len(rows) == 2497
    assert loaded.keys() == {r["distinct_id"] for r in records} - first_of_each_batch

    differences = {
        (r["distinct_id"], column, r[column], loaded[r["distinct_id"]][column])
        for r in records
        if r["distinct_id"] in loaded
        for column in columns
        if _as_loaded_by_peer(column, r[column]) != loaded[r["distinct_id"]][column]
    }
    empty_strings = {
        (r["distinct_id"], column, "", None)
        for r in records
        if r["distinct_id"] in loaded
        for column in columns
        if r[column] == ""
    }
    assert empty_strings  # the fake's messy profiles include "" emails and phones
    assert differences == empty_strings


def test_every_property_value_survives_the_pipe_exactly(
    tmp_path: Path, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    # Drift, unicode, empty strings, case twins, quotes and nested values, as the API sent them.
    from tap_mixpanel_engage.fake_api import make_profile

    api = fake_api(profiles=1200)
    db = tmp_path / "warehouse.duckdb"
    _pipe(tmp_path, tap_config(api), BIN / "target-mixpanel-duckdb", {"path": str(db)})
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT distinct_id, properties, email, created FROM mixpanel.engage"
        ).fetchall()
    finally:
        con.close()
    loaded = {row[0]: row[1:] for row in rows}
    kinds: set[str] = set()
    for index in range(0, 1200, 7):
        source = make_profile(index, api.settings.seed)
        properties, email, created = loaded[source["$distinct_id"]]
        assert json.loads(properties) == source["$properties"]
        raw_email = source["$properties"].get("$email")
        assert email == (raw_email if isinstance(raw_email, str) else None)
        raw_created = source["$properties"].get("$created")
        if isinstance(raw_created, str) and len(raw_created) == 19:
            assert created == datetime.fromisoformat(raw_created + "+00:00")
        for value in source["$properties"].values():
            kinds.add(type(value).__name__)
            if value == "":
                kinds.add("empty string")
    # the sample covered the messy cases it claims to
    assert {"str", "int", "float", "bool", "list", "dict", "empty string"} <= kinds


def test_pypi_target_duckdb_ignores_activate_version_so_deleted_profiles_stay(
    tmp_path: Path, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    """target-duckdb 0.8.0 logs ACTIVATE_VERSION and does nothing with it (nor with RECORD
    ``version``): a full sync adds and updates rows there, never removes them."""
    api = fake_api(profiles=2500)
    db = tmp_path / "peer.duckdb"
    config = target_config(db, batch_size_rows=1000)
    _pipe(tmp_path, tap_config(api), target_executable(), config)
    first_run = _tap_records(tmp_path)
    lost = {first_run[i]["distinct_id"] for i in (0, 1000, 2000)}
    gone = set(api.delete(10))

    _pipe(tmp_path, tap_config(api), target_executable(), config)  # a full sync again

    messages = [json.loads(line) for line in (tmp_path / "tap.jsonl").read_text().splitlines()]
    assert [m["type"] for m in messages].count("ACTIVATE_VERSION") == 1
    ids = {row[0] for row in query_peer_db(db, "SELECT distinct_id FROM mixpanel.engage")}
    assert gone - lost <= ids  # deleted in Mixpanel, still in the peer's table
    assert len(gone - lost) >= 8
