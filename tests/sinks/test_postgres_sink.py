"""The postgres sink on a real server: types, names, upserts, schema changes, transactions."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from tap_mixpanel_engage_sink_postgres import PostgresSink, UnstorableRecord
from tap_mixpanel_engage_sink_postgres.columns import allocate, column_type, widen

from scripts.pg_server import PostgresServer
from tests.postgres import Database, drop_database

UTC = datetime.UTC


@pytest.fixture
def sink(pg_db: Database) -> Iterator[PostgresSink]:
    s = PostgresSink({"dsn": pg_db.dsn})
    yield s
    s.close()


def props(**types: Any) -> dict[str, Any]:
    return {"properties": dict(types)}


def load(sink: PostgresSink, schema: dict[str, Any], keys: list[str], *batches: list[Any]) -> None:
    sink.open_stream("t", schema, keys)
    for records in batches:
        sink.write_batch("t", records)
        sink.commit()


STRING = {"type": ["null", "string"]}
KEYED = props(id={"type": "string"}, v=STRING)


@pytest.mark.parametrize(
    ("prop_schema", "expected"),
    [
        ({"type": "string", "format": "date-time"}, "timestamp with time zone"),
        ({"type": ["null", "string"], "format": "date-time"}, "timestamp with time zone"),
        ({"type": "integer"}, "bigint"),
        ({"type": ["null", "number"]}, "double precision"),
        ({"type": ["integer", "number"]}, "double precision"),
        ({"type": "boolean"}, "boolean"),
        ({"type": ["string", "null"]}, "text"),
        ({"type": "object"}, "jsonb"),
        ({"type": ["null", "array"]}, "jsonb"),
        ({"type": ["string", "number"]}, "jsonb"),
        ({}, "jsonb"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "jsonb"),
    ],
)
def test_column_types_follow_the_duckdb_sink(prop_schema: dict[str, Any], expected: str) -> None:
    assert column_type(prop_schema) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("bigint", "double precision", "double precision"),
        ("double precision", "bigint", "double precision"),
        ("double precision", "text", "text"),
        ("timestamp with time zone", "text", "text"),
        ("text", "jsonb", "jsonb"),
        ("boolean", "bigint", "jsonb"),
        ("jsonb", "bigint", "jsonb"),
    ],
)
def test_widen_never_narrows(old: str, new: str, expected: str) -> None:
    assert widen(old, new) == expected


def test_types_offsets_and_empty_strings_are_kept(sink: PostgresSink, pg_db: Database) -> None:
    schema = props(
        id={"type": "integer"},
        ts={"type": ["null", "string"], "format": "date-time"},
        s=STRING,
        n={"type": ["null", "number"]},
        b={"type": ["null", "boolean"]},
        o={"type": ["null", "object"]},
        a={"type": ["null", "array"]},
        m={"type": ["null", "string", "number"]},
    )
    rows = [
        {"id": 1, "ts": "2024-01-01T10:00:00+02:00", "s": "", "n": 12.5, "b": True,
         "o": {}, "a": [], "m": "12"},
        {"id": 2.0, "ts": "2024-06-09T23:08:40", "s": None, "n": 3, "b": False,
         "o": None, "a": [1, "1"], "m": 12},
        {"id": 3, "ts": "2024-06-09T23:08:40.123456Z"},
    ]  # fmt: skip
    load(sink, schema, ["id"], rows)
    assert [(name, type_) for name, type_, _ in pg_db.columns("t")] == [
        ("id", "bigint"),
        ("ts", "timestamp with time zone"),
        ("s", "text"),
        ("n", "double precision"),
        ("b", "boolean"),
        ("o", "jsonb"),
        ("a", "jsonb"),
        ("m", "jsonb"),
    ]
    assert pg_db.query('SELECT * FROM mixpanel."t" ORDER BY id') == [
        (1, datetime.datetime(2024, 1, 1, 8, 0, tzinfo=UTC), "", 12.5, True, {}, [], "12"),
        (2, datetime.datetime(2024, 6, 9, 23, 8, 40, tzinfo=UTC), None, 3.0, False, None,
         [1, "1"], 12),
        (3, datetime.datetime(2024, 6, 9, 23, 8, 40, 123456, tzinfo=UTC), None, None, None,
         None, None, None),
    ]  # fmt: skip


def test_jsonb_round_trips_values_exactly(sink: PostgresSink, pg_db: Database) -> None:
    nested = {
        "unicode": "é☃東京😀",
        "empty": "",
        "quote": 'it\'s "quoted" \\ back',
        "Plan": "Pro",
        "plan": "free",
        "list": [1, 2.5, None, True, {"deep": [[]]}],
        "big": 2**53 + 1,
        "neg": -0.001,
    }
    load(
        sink, props(id={"type": "string"}, o={"type": "object"}), ["id"], [{"id": "a", "o": nested}]
    )
    assert pg_db.query('SELECT o FROM mixpanel."t"') == [(nested,)]


def test_case_twins_get_their_own_columns_named_as_in_duckdb(
    sink: PostgresSink, pg_db: Database
) -> None:
    schema = props(id={"type": "string"}, Plan=STRING, plan=STRING, PLAN=STRING, **{"": STRING})
    load(sink, schema, ["id"], [{"id": "a", "Plan": "P", "plan": "p", "PLAN": "PP", "": "e"}])
    assert pg_db.columns("t") == [
        ("id", "text", "singer property: id"),
        ("Plan", "text", "singer property: Plan"),
        ("plan__2", "text", "singer property: plan"),
        ("PLAN__3", "text", "singer property: PLAN"),
        ("_empty", "text", "singer property: "),
    ]
    assert pg_db.query('SELECT "Plan", plan__2, "PLAN__3", _empty FROM mixpanel.t') == [
        ("P", "p", "PP", "e")
    ]


def test_names_past_63_bytes_are_cut_and_kept_apart() -> None:
    long_a, long_b = "é" * 40 + "a", "é" * 40 + "b"  # 81 bytes each, same first 63
    columns = allocate([], {long_a: "text", long_b: "text"})
    assert [len(c.name.encode()) <= 63 for c in columns] == [True, True]
    assert columns[0].name == "é" * 31
    assert columns[1].name == "é" * 30 + "__2"
    assert [c.prop for c in columns] == [long_a, long_b]


def test_long_names_load_and_the_mapping_survives_a_restart(pg_db: Database) -> None:
    long_a, long_b = "x" * 70 + "a", "x" * 70 + "b"
    schema = props(id={"type": "string"}, **{long_a: STRING, long_b: STRING})
    first = PostgresSink({"dsn": pg_db.dsn})
    load(first, schema, ["id"], [{"id": "1", long_a: "A", long_b: "B"}])
    first.close()
    second = PostgresSink({"dsn": pg_db.dsn})
    wider = props(**schema["properties"], new=STRING)
    load(second, wider, ["id"], [{"id": "2", long_a: "A2", long_b: "B2", "new": "n"}])
    second.close()
    names = [name for name, _, _ in pg_db.columns("t")]
    assert names == ["id", "x" * 63, "x" * 60 + "__2", "new"]
    assert pg_db.query("SELECT * FROM mixpanel.t ORDER BY id") == [
        ("1", "A", "B", None),
        ("2", "A2", "B2", "n"),
    ]


def test_a_later_record_with_the_same_key_replaces_the_row(
    sink: PostgresSink, pg_db: Database
) -> None:
    load(
        sink, KEYED, ["id"], [{"id": "a", "v": "1"}, {"id": "b", "v": "1"}], [{"id": "a", "v": "2"}]
    )
    assert pg_db.query("SELECT * FROM mixpanel.t ORDER BY id") == [("a", "2"), ("b", "1")]


def test_duplicates_within_one_batch_last_wins(sink: PostgresSink, pg_db: Database) -> None:
    batch = [{"id": "a", "v": "1"}, {"id": "b", "v": "1"}, {"id": "a", "v": "2"}, {"id": "a"}]
    load(sink, KEYED, ["id"], batch)
    assert pg_db.query("SELECT * FROM mixpanel.t ORDER BY id") == [("a", None), ("b", "1")]


def test_equal_instants_written_differently_are_one_key(
    sink: PostgresSink, pg_db: Database
) -> None:
    schema = props(at={"type": "string", "format": "date-time"}, v=STRING)
    batch = [
        {"at": "2024-01-01T00:00:00Z", "v": "1"},
        {"at": "2024-01-01T01:00:00+01:00", "v": "2"},
    ]
    load(sink, schema, ["at"], batch)
    assert pg_db.query("SELECT v FROM mixpanel.t") == [("2",)]


def test_two_batches_in_one_transaction_last_wins(sink: PostgresSink, pg_db: Database) -> None:
    sink.open_stream("t", KEYED, ["id"])
    sink.write_batch("t", [{"id": "a", "v": "1"}])
    sink.write_batch("t", [{"id": "a", "v": "2"}, {"id": "b", "v": "2"}])
    sink.commit()
    assert pg_db.query("SELECT * FROM mixpanel.t ORDER BY id") == [("a", "2"), ("b", "2")]


def test_composite_keys_and_keyless_and_all_key_streams(
    sink: PostgresSink, pg_db: Database
) -> None:
    two = props(id={"type": "string"}, n={"type": "integer"}, v=STRING)
    sink.open_stream("two", two, ["id", "n"])
    sink.open_stream("none", KEYED, [])
    sink.open_stream("all", props(id={"type": "string"}), ["id"])
    sink.write_batch("two", [{"id": "a", "n": 1, "v": "x"}, {"id": "a", "n": 2, "v": "y"}])
    sink.write_batch("none", [{"id": "a"}, {"id": "a"}])
    sink.write_batch("all", [{"id": "a"}, {"id": "a"}])
    sink.commit()
    sink.write_batch("two", [{"id": "a", "n": 2, "v": "z"}])
    sink.write_batch("none", [{"id": "a"}])
    sink.write_batch("all", [{"id": "a"}, {"id": "b"}])
    sink.commit()
    assert pg_db.query("SELECT * FROM mixpanel.two ORDER BY n") == [("a", 1, "x"), ("a", 2, "z")]
    assert pg_db.query("SELECT count(*) FROM mixpanel.none") == [(3,)]
    assert pg_db.query("SELECT id FROM mixpanel.all ORDER BY 1") == [("a",), ("b",)]


def test_new_columns_are_added_and_types_widen_keeping_data(pg_db: Database) -> None:
    narrow = props(
        id={"type": "string"},
        n={"type": "integer"},
        t={"type": "string", "format": "date-time"},
        s=STRING,
        b={"type": "boolean"},
    )
    wide = props(
        id={"type": "string"},
        n={"type": "number"},
        t={"type": "string"},
        s={"type": "object"},
        b={"type": "integer"},
        added={"type": "boolean"},
    )
    sink = PostgresSink({"dsn": pg_db.dsn})
    old = {"id": "old", "n": 1, "t": "2024-01-01T08:00:00Z", "s": "text", "b": True}
    load(sink, narrow, ["id"], [old])
    sink.close()
    sink = PostgresSink({"dsn": pg_db.dsn})
    load(
        sink,
        wide,
        ["id"],
        [{"id": "new", "n": 1.5, "t": "soon", "s": {"k": 1}, "b": 7, "added": True}],
    )
    sink.close()
    assert [(n, t) for n, t, _ in pg_db.columns("t")] == [
        ("id", "text"),
        ("n", "double precision"),
        ("t", "text"),
        ("s", "jsonb"),
        ("b", "jsonb"),
        ("added", "boolean"),
    ]
    assert pg_db.query("SELECT * FROM mixpanel.t ORDER BY id") == [
        ("new", 1.5, "soon", {"k": 1}, 7, True),
        ("old", 1.0, "2024-01-01T08:00:00.000000Z", "text", True, None),
    ]


def test_a_key_column_cannot_change_type(pg_db: Database) -> None:
    sink = PostgresSink({"dsn": pg_db.dsn})
    load(sink, props(id={"type": "integer"}), ["id"], [{"id": 1}])
    with pytest.raises(ValueError, match="key column 'id' cannot change type"):
        sink.open_stream("t", props(id={"type": "string"}), ["id"])
    sink.close()


def test_a_table_without_a_key_for_the_stream_is_refused(pg_db: Database) -> None:
    with pg_db.connect() as conn:
        conn.execute("CREATE SCHEMA mixpanel")
        conn.execute("CREATE TABLE mixpanel.t (id text, v text)")
    sink = PostgresSink({"dsn": pg_db.dsn})
    with pytest.raises(ValueError, match=r"no primary key or unique index on \['id'\]"):
        sink.open_stream("t", KEYED, ["id"])
    sink.close()


def test_nothing_is_visible_before_commit_and_close_discards_it(pg_db: Database) -> None:
    sink = PostgresSink({"dsn": pg_db.dsn})
    load(sink, KEYED, ["id"], [{"id": "a", "v": "1"}])
    sink.write_batch("t", [{"id": "a", "v": "2"}, {"id": "b", "v": "2"}])
    assert pg_db.query("SELECT * FROM mixpanel.t") == [("a", "1")]
    sink.close()
    assert pg_db.query("SELECT * FROM mixpanel.t") == [("a", "1")]


def test_a_process_that_dies_before_commit_leaves_the_previous_commit(pg_db: Database) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from tap_mixpanel_engage_sink_postgres import PostgresSink
        sink = PostgresSink({{"dsn": {pg_db.dsn!r}}})
        sink.open_stream("t", {{"properties": {{"id": {{"type": "string"}}}}}}, ["id"])
        sink.write_batch("t", [{{"id": "committed"}}])
        sink.commit()
        sink.write_batch("t", [{{"id": "staged"}}])
        os._exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert pg_db.query("SELECT id FROM mixpanel.t") == [("committed",)]


NUL = r"PostgreSQL cannot store the character U\+0000 \(NUL, JSON \\u0000\)"
TIMESTAMPTZ = "timestamp with time zone"


@pytest.mark.parametrize(
    ("record", "column", "message"),
    [
        ({"id": "k1", "o": {"a": ["x\u0000y"]}}, "'o', jsonb", NUL),
        ({"id": "k1", "o": {"key\u0000": 1}}, "'o', jsonb", NUL),
        ({"id": "k1", "s": "nul\u0000"}, "'s', text", NUL),
        ({"id": "k1", "n": 2**63}, "'n', bigint", "cannot be stored: int too big"),
        ({"id": "k1", "n": 1.5}, "'n', bigint", "cannot be stored: 1.5 is not an integer"),
        ({"id": "k1", "t": "tuesday"}, f"'t', {TIMESTAMPTZ}", "cannot be stored: Invalid"),
    ],
)
def test_a_value_postgres_cannot_store_names_the_record_and_keeps_earlier_commits(
    pg_db: Database, record: dict[str, Any], column: str, message: str
) -> None:
    schema = props(
        id={"type": "string"},
        o={"type": "object"},
        s=STRING,
        n={"type": "integer"},
        t={"type": "string", "format": "date-time"},
    )
    sink = PostgresSink({"dsn": pg_db.dsn})
    load(sink, schema, ["id"], [{"id": "k0", "s": "fine"}])
    prop = column.split(",")[0]
    named = rf"^stream 't', record id='k1': property {prop} \(column {column}\): {message}"
    with pytest.raises(UnstorableRecord, match=named):
        sink.write_batch("t", [{"id": "ok"}, record, {"id": "after"}])
    sink.close()
    assert pg_db.query("SELECT id, s FROM mixpanel.t") == [("k0", "fine")]


def test_a_keyless_record_is_named_by_its_place_in_the_batch(sink: PostgresSink) -> None:
    sink.open_stream("t", KEYED, [])
    with pytest.raises(UnstorableRecord, match=r"^stream 't', record 2 of the batch: property 'v'"):
        sink.write_batch("t", [{"id": "a"}, {"id": "b", "v": "\u0000"}])


def test_write_batch_before_open_stream_is_an_error(sink: PostgresSink) -> None:
    with pytest.raises(RuntimeError, match="before open_stream"):
        sink.write_batch("t", [{"id": "a"}])


def test_a_column_of_a_type_the_sink_does_not_make_is_left_alone_and_cast_to(
    pg_db: Database,
) -> None:
    schema = props(id={"type": "string"}, n={"type": "number"}, code=STRING)
    sink = PostgresSink({"dsn": pg_db.dsn})
    load(sink, schema, ["id"], [{"id": "a", "n": 1.25, "code": "x"}])
    sink.close()
    with pg_db.connect() as conn:  # a DBA's choice of types
        conn.execute("ALTER TABLE mixpanel.t ALTER n TYPE numeric(10, 2)")
        conn.execute("ALTER TABLE mixpanel.t ALTER code TYPE varchar(8)")
    sink = PostgresSink({"dsn": pg_db.dsn})
    load(sink, schema, ["id"], [{"id": "b", "n": 2.5, "code": "yy"}])
    sink.close()
    assert [(n, t) for n, t, _ in pg_db.columns("t")] == [
        ("id", "text"),
        ("n", "numeric(10,2)"),
        ("code", "character varying(8)"),
    ]
    assert pg_db.query("SELECT id, n::text, code FROM mixpanel.t ORDER BY id") == [
        ("a", "1.25", "x"),
        ("b", "2.50", "yy"),
    ]


def test_a_latin1_database_keeps_what_it_can_encode_and_names_what_it_cannot(
    pg_server: PostgresServer,
) -> None:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE latin1 ENCODING 'LATIN1' TEMPLATE template0 LOCALE 'C'")
    database = Database(pg_server, "latin1")
    try:
        schema = props(id={"type": "string"}, s=STRING, o={"type": "object"})
        sink = PostgresSink({"dsn": database.dsn})
        load(sink, schema, ["id"], [{"id": "a", "s": "café", "o": {"ville": "Zürich"}}])
        with pytest.raises(UnstorableRecord, match=r"record id='b': property 's' .*LATIN1"):
            sink.write_batch("t", [{"id": "b", "s": "5 €"}])
        sink.close()
        assert database.query("SELECT * FROM mixpanel.t") == [("a", "café", {"ville": "Zürich"})]
    finally:
        drop_database(database)
