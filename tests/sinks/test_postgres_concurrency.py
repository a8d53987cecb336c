"""Several postgres sinks on one database at once: upserts of one key and DDL never collide.

Each test makes the collision certain instead of likely: one writer holds what the other needs,
the test waits until the server reports the other one blocked on it, then lets go.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tap_mixpanel_engage_sink_postgres import PostgresSink
from tap_mixpanel_engage_sink_postgres.catalog import LOCK_NAMESPACE

from tests.postgres import Database

STRING = {"type": ["null", "string"]}
SCHEMA: dict[str, Any] = {"properties": {"id": {"type": "string"}, "v": STRING}}


def batch(keys: range, value: str) -> list[dict[str, Any]]:
    return [{"id": f"k{i:03d}", "v": value} for i in keys]


def test_two_writers_upserting_the_same_new_keys_both_succeed_without_duplicates(
    pg_db: Database,
) -> None:
    first, second = PostgresSink({"dsn": pg_db.dsn}), PostgresSink({"dsn": pg_db.dsn})
    try:
        first.open_stream("t", SCHEMA, ["id"])
        second.open_stream("t", SCHEMA, ["id"])
        first.write_batch("t", batch(range(0, 100), "first"))  # inserted, not committed

        def second_writer() -> None:
            second.write_batch("t", batch(range(50, 150), "second"))
            second.commit()

        with ThreadPoolExecutor(1) as pool:
            done = pool.submit(second_writer)
            # The second writer must wait for the first one's uncommitted rows k050..k099: an
            # anti-join would not see them and insert them again, failing on the primary key.
            pg_db.wait_for_waiters(1, "transactionid")
            first.commit()
            done.result()
    finally:
        first.close()
        second.close()
    rows = dict(pg_db.query("SELECT id, v FROM mixpanel.t"))
    assert len(rows) == 150
    assert {k for k, v in rows.items() if v == "first"} == {f"k{i:03d}" for i in range(50)}
    assert {k for k, v in rows.items() if v == "second"} == {f"k{i:03d}" for i in range(50, 150)}


def test_writers_opening_one_new_table_together_take_turns_and_both_columns_exist(
    pg_db: Database,
) -> None:
    wanted: list[dict[str, Any]] = [
        {"properties": {"id": {"type": "string"}, "a": STRING}},
        {"properties": {"id": {"type": "string"}, "b": {"type": "integer"}}},
    ]
    sinks = [PostgresSink({"dsn": pg_db.dsn, "schema": "shared"}) for _ in wanted]
    try:
        with pg_db.connect() as holder, ThreadPoolExecutor(2) as pool:
            # Hold the schema's DDL lock so both writers are inside open_stream at once.
            holder.execute("SELECT pg_advisory_lock(%s, hashtext('shared'))", (LOCK_NAMESPACE,))
            opened = [
                pool.submit(sink.open_stream, "t", schema, ["id"])
                for sink, schema in zip(sinks, wanted, strict=True)
            ]
            pg_db.wait_for_waiters(2, "advisory")
            holder.execute("SELECT pg_advisory_unlock(%s, hashtext('shared'))", (LOCK_NAMESPACE,))
            for future in opened:
                future.result()
        sinks[0].write_batch("t", [{"id": "x", "a": "from a"}])
        sinks[0].commit()
        sinks[1].write_batch("t", [{"id": "x", "b": 2}, {"id": "y", "b": 3}])
        sinks[1].commit()
    finally:
        for sink in sinks:
            sink.close()
    names = sorted(name for name, _, _ in pg_db.columns("t", schema="shared"))
    assert names == ["a", "b", "id"]
    # The second writer's schema has no "a": its upsert leaves that column as it was.
    assert pg_db.query("SELECT id, a, b FROM shared.t ORDER BY id") == [
        ("x", "from a", 2),
        ("y", None, 3),
    ]
