"""The postgres sink's registration and settings: dsn, schema, PG* variables, no password shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tap_mixpanel_engage_sink_postgres as postgres_plugin
from tap_mixpanel_engage_sink_postgres import PostgresError, PostgresSink

from tap_mixpanel_engage.sinks.contract import SinkConfigError
from tap_mixpanel_engage.sinks.registry import installed_sinks, make_plugin_manager
from tests.postgres import Database

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"
PASSWORD = "hunter2-Sekr3t"
SCHEMA = {"properties": {"id": {"type": "string"}, "s": {"type": ["null", "string"]}}}


def run_target(
    tmp_path: Path, config: dict[str, Any], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """target-mixpanel-duckdb as a real process with ``config``."""
    path = tmp_path / "target.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [str(TARGET), "--config", str(path)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_plugin_registers_through_its_entry_point() -> None:
    assert installed_sinks()["postgres"] is PostgresSink
    assert make_plugin_manager().get_plugin("postgres") is postgres_plugin


def test_list_sinks_and_about_show_the_sink_and_its_settings(tmp_path: Path) -> None:
    listed = subprocess.run([str(TARGET), "--list-sinks"], capture_output=True, text=True)
    assert f"postgres\t{PostgresSink.description}" in listed.stdout.splitlines()
    about = subprocess.run([str(TARGET), "--about"], capture_output=True, text=True, check=True)
    settings = json.loads(about.stdout)["sinks"]["postgres"]["settings"]
    assert [(s["name"], s["default"]) for s in settings] == [("dsn", ""), ("schema", "mixpanel")]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"dsn": 5}, "^dsn: must be a libpq connection string or URI$"),
        ({"dsn": f"password={PASSWORD} oops"}, "^dsn: not a valid libpq connection string"),
        ({"dsn": f"postgresql://u:{PASSWORD}@/db?bogus=1"}, "^dsn: not a valid libpq"),
        ({"schema": ""}, "^schema: must be a non-empty string$"),
        ({"schema": 3}, "^schema: must be a non-empty string$"),
        ({"schema": "s" * 64}, r"^schema: 's{64}' is not a PostgreSQL name \(at most 63 bytes"),
    ],
)
def test_bad_settings_name_the_setting(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SinkConfigError, match=message) as caught:
        PostgresSink(config)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=/nonexistent user=loader password={PASSWORD}",
        f"host=/nonexistent user=loader password='{PASSWORD} x'",
        f"postgresql://loader:{PASSWORD}@/warehouse?host=/nonexistent",
        "postgresql://loader:hunter2%2FSekr3t@/warehouse?host=/nonexistent",
    ],
)
def test_an_unreachable_server_names_dsn_and_never_the_password(tmp_path: Path, dsn: str) -> None:
    done = run_target(tmp_path, {"sink": "postgres", "dsn": dsn})
    assert done.returncode == 3
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("target-mixpanel-duckdb: error: dsn: cannot connect to PostgreSQL")
    assert "/nonexistent" in lines[0]
    for secret in ("hunter2", "Sekr3t"):
        assert secret not in done.stderr


def test_pg_environment_variables_fill_in_an_empty_dsn(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGHOST", str(pg_db.server.socket_dir))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGDATABASE", pg_db.name)
    sink = PostgresSink({"schema": "from_env"})
    sink.open_stream("t", SCHEMA, ["id"])
    sink.write_batch("t", [{"id": "a"}])
    sink.commit()
    sink.close()
    assert pg_db.query("SELECT id FROM from_env.t") == [("a",)]


def test_the_password_is_not_in_the_sink_its_config_or_a_later_error(pg_db: Database) -> None:
    dsn = f"{pg_db.dsn} password={PASSWORD}"  # the test server trusts local users: not asked
    sink = PostgresSink({"dsn": dsn, "sink": "postgres"})
    assert PASSWORD not in repr(sink)
    assert PASSWORD not in repr(sink.config)
    assert sink.config == {"dsn": "***", "sink": "postgres"}
    sink.open_stream("t", SCHEMA, ["id"])
    with pg_db.connect() as admin:  # the server ends the sink's session under it
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (pg_db.name,),
        )
    with pytest.raises(PostgresError) as caught:
        sink.write_batch("t", [{"id": "a"}])
    assert str(caught.value).startswith("stream 't': ")
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None
    sink.close()


def test_the_application_name_marks_the_sessions_and_a_dsn_can_override_it(
    pg_db: Database,
) -> None:
    names = (
        "SELECT application_name FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid() ORDER BY 1"
    )
    ours = PostgresSink({"dsn": pg_db.dsn})
    theirs = PostgresSink({"dsn": f"{pg_db.dsn} application_name=nightly-sync"})
    try:
        assert pg_db.query(names, (pg_db.name,)) == [
            ("nightly-sync",),
            ("target-mixpanel-duckdb (postgres sink)",),
        ]
    finally:
        ours.close()
        theirs.close()


def test_a_bad_record_through_the_target_is_one_line_without_the_password(
    tmp_path: Path, pg_db: Database
) -> None:
    messages = [
        {"type": "SCHEMA", "stream": "t", "schema": SCHEMA, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "t", "record": {"id": "good"}},
        {"type": "STATE", "value": {"n": 1}},
        {"type": "RECORD", "stream": "t", "record": {"id": "bad", "s": "a\u0000b"}},
        {"type": "STATE", "value": {"n": 2}},
    ]
    config = {"sink": "postgres", "dsn": f"{pg_db.dsn} password={PASSWORD}", "batch_size_rows": 1}
    done = run_target(tmp_path, config, "".join(json.dumps(m) + "\n" for m in messages))
    assert done.returncode == 1
    assert done.stdout.splitlines() == ['{"n":1}']
    assert done.stderr.splitlines() == [
        "target-mixpanel-duckdb: error: records up to line 4: UnstorableRecord: stream 't', "
        "record id='bad': property 's' (column 's', text): PostgreSQL cannot store the "
        "character U+0000 (NUL, JSON \\u0000) in text or jsonb; remove it at the source or map "
        "the stream to drop it"
    ]
    assert pg_db.query("SELECT id FROM mixpanel.t") == [("good",)]


def test_psycopg_is_the_driver_and_uses_its_c_implementation() -> None:
    assert psycopg.pq.__impl__ in {"binary", "c"}
