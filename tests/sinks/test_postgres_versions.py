"""ACTIVATE_VERSION in the postgres sink, on a real server, through the contract and the driver.

The target does not send activations yet (the entities issue wires them); the contract
(``Sink.activate_version``) and the driver (``SinkDriver.submit(activations=...)``) already do.
"""

from __future__ import annotations

import datetime
from typing import Any

from tap_mixpanel_engage_sink_postgres import PostgresSink

from tap_mixpanel_engage.sinks.contract import DELETED_AT_PROPERTY, VERSION_PROPERTY
from tap_mixpanel_engage.sinks.driver import Activation, SinkDriver
from tests.postgres import Database

VERSIONED: dict[str, Any] = {
    "properties": {
        "id": {"type": "string"},
        VERSION_PROPERTY: {"type": ["null", "integer"]},
        DELETED_AT_PROPERTY: {"type": ["null", "string"], "format": "date-time"},
    }
}
PLAIN: dict[str, Any] = {"properties": {"id": {"type": "string"}}}


def rows(version: int | None, *ids: str) -> list[dict[str, Any]]:
    return [{"id": i, VERSION_PROPERTY: version} for i in ids]


def seeded(pg_db: Database) -> PostgresSink:
    """A sink whose table holds ``old`` (no version), ``v1a``, ``v1b`` (version 1)."""
    sink = PostgresSink({"dsn": pg_db.dsn})
    sink.open_stream("t", VERSIONED, ["id"])
    sink.write_batch("t", [{"id": "old"}, *rows(1, "v1a", "v1b")])
    sink.commit()
    return sink


def table(pg_db: Database) -> list[tuple[Any, ...]]:
    return pg_db.query(
        f'SELECT id, "{VERSION_PROPERTY}", "{DELETED_AT_PROPERTY}" FROM mixpanel.t ORDER BY id'
    )


def test_hard_delete_removes_rows_of_older_and_of_no_version_with_the_commit(
    pg_db: Database,
) -> None:
    sink = seeded(pg_db)
    sink.write_batch("t", rows(2, "v1a", "new"))
    sink.activate_version("t", 2, hard_delete=True)
    assert [r[0] for r in table(pg_db)] == ["old", "v1a", "v1b"]  # staged, not yet visible
    sink.commit()
    sink.close()
    assert table(pg_db) == [("new", 2, None), ("v1a", 2, None)]


def test_soft_delete_marks_old_rows_once_with_the_time_of_the_commit(pg_db: Database) -> None:
    sink = seeded(pg_db)
    sink.write_batch("t", rows(2, "v1a"))
    sink.activate_version("t", 2, hard_delete=False)
    (before,) = pg_db.query("SELECT clock_timestamp()")[0]
    sink.commit()
    (after,) = pg_db.query("SELECT clock_timestamp()")[0]
    first = {row[0]: row[2] for row in table(pg_db)}
    assert first["v1a"] is None
    assert before <= first["old"] == first["v1b"] <= after
    sink.write_batch("t", rows(3, "v3"))
    sink.activate_version("t", 3, hard_delete=False)
    sink.commit()
    sink.close()
    second = {row[0]: row[2] for row in table(pg_db)}
    assert second["old"] == first["old"]  # already marked: keeps its time
    assert second["v1a"] is not None and second["v1a"] > first["old"]
    assert second["v3"] is None


def test_close_without_commit_discards_a_staged_activation(pg_db: Database) -> None:
    sink = seeded(pg_db)
    sink.activate_version("t", 9, hard_delete=True)
    sink.close()
    assert [r[0] for r in table(pg_db)] == ["old", "v1a", "v1b"]


def test_a_table_without_the_version_columns_gets_them(pg_db: Database) -> None:
    sink = PostgresSink({"dsn": pg_db.dsn})
    sink.open_stream("t", PLAIN, ["id"])
    sink.write_batch("t", [{"id": "a"}])
    sink.commit()
    sink.activate_version("t", 5, hard_delete=False)
    sink.commit()
    sink.close()
    assert pg_db.columns("t") == [
        ("id", "text", "singer property: id"),
        (VERSION_PROPERTY, "bigint", f"singer property: {VERSION_PROPERTY}"),
        (
            DELETED_AT_PROPERTY,
            "timestamp with time zone",
            f"singer property: {DELETED_AT_PROPERTY}",
        ),
    ]
    ((row_id, version, deleted_at),) = table(pg_db)
    assert (row_id, version) == ("a", None)
    assert isinstance(deleted_at, datetime.datetime)


def test_through_the_driver_the_state_follows_the_commit_holding_rows_and_activation(
    pg_db: Database,
) -> None:
    sink = seeded(pg_db)
    seen: list[tuple[Any, list[str]]] = []

    def on_commit(state: Any) -> None:
        seen.append((state, [r[0] for r in table(pg_db)]))

    driver = SinkDriver(sink, on_commit)
    driver.submit(
        [("t", rows(7, "v7"))], {"version": 7}, "test", [Activation("t", 7, hard_delete=True)]
    )
    driver.drain()
    driver.close()
    assert seen == [({"version": 7}, ["v7"])]
