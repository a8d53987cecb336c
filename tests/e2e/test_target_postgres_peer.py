"""The tap's output loads exactly into MeltanoLabs target-postgres 0.8.1 through a shell pipe.

Teams already running that loader can keep it: 20,000 profiles arrive, each once, and for a
sample every column equals the tap's record. It stores date-times as ``timestamp without time
zone`` (UTC wall time; every value of ours is UTC) and adds its ``_sdc_*`` columns. Its venv is
built on first use under ``.bench/`` (about 15 s), the benchmark shares it.
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

from benchmarks.peers.target_postgres import target_config, target_executable
from tap_mixpanel_engage.engage.records import shape_profile
from tap_mixpanel_engage.fake_api import FakeEngageAPI, make_profile
from tests.helpers import tap_config
from tests.postgres import Database

BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.peers, pytest.mark.slow]


def as_loaded_by_peer(column: str, value: Any) -> Any:
    """What target-postgres stores for our value: date-times as naive UTC."""
    if value is not None and column in {"created", "last_seen"}:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC).replace(tzinfo=None)
    return value


def test_20k_profiles_load_exactly_into_target_postgres_0_8_1(
    tmp_path: Path, pg_db: Database, fake_api: Callable[..., FakeEngageAPI]
) -> None:
    api = fake_api(profiles=20_000)
    (tmp_path / "tap.json").write_text(json.dumps(tap_config(api)))
    config = target_config(pg_db.server.socket_dir, pg_db.name)
    (tmp_path / "peer.json").write_text(json.dumps(config))
    command = (
        f'set -o pipefail; "{BIN / "tap-mixpanel-engage"}" --config "{tmp_path / "tap.json"}" '
        f'| "{target_executable()}" --config "{tmp_path / "peer.json"}" > /dev/null'
    )
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ids = pg_db.ids()
    assert len(ids) == 20_000
    assert set(ids) == api.expected_ids()

    records = [shape_profile(make_profile(i, api.settings.seed)) for i in range(0, 20_000, 41)]
    columns = list(records[0])
    with pg_db.connect() as conn:
        query = sql.SQL("SELECT {} FROM mixpanel.engage WHERE distinct_id = ANY(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        cursor = conn.execute(query, ([r["distinct_id"] for r in records],))
        loaded = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor}
    assert len(loaded) == len(records)
    for record in records:
        expected = {c: as_loaded_by_peer(c, v) for c, v in record.items()}
        assert loaded[record["distinct_id"]] == expected, record["distinct_id"]
