"""The DuckDB sink on real files: types, names, upserts, schema evolution, transactions."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest

from tap_mixpanel_engage.sinks.contract import SinkConfigError
from tap_mixpanel_engage.sinks.duckdb_columns import column_type, widen
from tap_mixpanel_engage.sinks.duckdb_sink import DuckDBSink

UTC = datetime.UTC

ENGAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "distinct_id": {"type": "string"},
        "properties": {"type": ["null", "object"]},
        "email": {"type": ["null", "string"]},
        "created": {"type": ["null", "string"], "format": "date-time"},
        "last_seen": {"type": ["null", "string"], "format": "date-time"},
    },
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "out.duckdb"


@pytest.fixture
def sink(db_path: Path) -> Iterator[DuckDBSink]:
    s = DuckDBSink({"path": str(db_path)})
    yield s
    s.close()


def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db_path)) as con:  # same config as the open sink: shared instance
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def columns(db_path: Path, table: str = "t") -> list[tuple[str, str, str | None]]:
    return query(
        db_path,
        "SELECT column_name, data_type, comment FROM duckdb_columns() "
        f"WHERE schema_name = 'mixpanel' AND table_name = '{table}' ORDER BY column_index",
    )


def load(sink: DuckDBSink, schema: dict[str, Any], keys: list[str], *batches: list[Any]) -> None:
    sink.open_stream("t", schema, keys)
    for records in batches:
        sink.write_batch("t", records)
        sink.commit()


def props(**types: Any) -> dict[str, Any]:
    return {"properties": {name: t for name, t in types.items()}}


@pytest.mark.parametrize(
    ("prop_schema", "expected"),
    [
        ({"type": "string", "format": "date-time"}, "TIMESTAMPTZ"),
        ({"type": ["null", "string"], "format": "date-time"}, "TIMESTAMPTZ"),
        ({"type": "integer"}, "BIGINT"),
        ({"type": ["null", "number"]}, "DOUBLE"),
        ({"type": ["integer", "number"]}, "DOUBLE"),
        ({"type": "boolean"}, "BOOLEAN"),
        ({"type": ["string", "null"]}, "VARCHAR"),
        ({"type": "object"}, "JSON"),
        ({"type": ["null", "array"]}, "JSON"),
        ({"type": ["string", "number"]}, "JSON"),
        ({}, "JSON"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "JSON"),
    ],
)
def test_column_type_maps_json_schema_types(prop_schema: dict[str, Any], expected: str) -> None:
    assert column_type(prop_schema) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("BIGINT", "BIGINT", "BIGINT"),
        ("BIGINT", "DOUBLE", "DOUBLE"),
        ("DOUBLE", "BIGINT", "DOUBLE"),
        ("DOUBLE", "VARCHAR", "VARCHAR"),
        ("TIMESTAMPTZ", "VARCHAR", "VARCHAR"),
        ("VARCHAR", "JSON", "JSON"),
        ("BOOLEAN", "BIGINT", "JSON"),
        ("JSON", "BIGINT", "JSON"),
    ],
)
def test_widen_never_narrows(old: str, new: str, expected: str) -> None:
    assert widen(old, new) == expected


def test_types_offsets_and_empty_strings_are_kept(sink: DuckDBSink, db_path: Path) -> None:
    schema = props(
        id={"type": "integer"},
        ts={"type": ["null", "string"], "format": "date-time"},
        s={"type": ["null", "string"]},
        n={"type": ["null", "number"]},
        b={"type": ["null", "boolean"]},
        o={"type": ["null", "object"]},
        a={"type": ["null", "array"]},
        m={"type": ["null", "string", "number"]},
    )
    rows = [
        {"id": 1, "ts": "2024-01-01T10:00:00+02:00", "s": "", "n": 12.5, "b": True,
         "o": {}, "a": [], "m": "12"},
        {"id": 2, "ts": "2024-06-09T23:08:40", "s": None, "n": 3, "b": False,
         "o": None, "a": [1, "1"], "m": 12},
        {"id": 3, "ts": "2024-06-09T23:08:40.123456Z"},
    ]  # fmt: skip
    load(sink, schema, ["id"], rows)
    assert [(c[0], c[1]) for c in columns(db_path)] == [
        ("id", "BIGINT"),
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("s", "VARCHAR"),
        ("n", "DOUBLE"),
        ("b", "BOOLEAN"),
        ("o", "JSON"),
        ("a", "JSON"),
        ("m", "JSON"),
    ]
    got = query(db_path, 'SELECT * FROM mixpanel."t" ORDER BY id')
    assert got == [
        (1, datetime.datetime(2024, 1, 1, 8, 0, tzinfo=UTC), "", 12.5, True, "{}", "[]", '"12"'),
        (2, datetime.datetime(2024, 6, 9, 23, 8, 40, tzinfo=UTC), None, 3.0, False, None,
         '[1,"1"]', "12"),
        (3, datetime.datetime(2024, 6, 9, 23, 8, 40, 123456, tzinfo=UTC), None, None, None,
         None, None, None),
    ]  # fmt: skip


def test_json_column_round_trips_values_exactly(sink: DuckDBSink, db_path: Path) -> None:
    nested = {
        "unicode": "é☃東京\u0000",
        "empty": "",
        "float": 12.5,
        "tiny": 0.1,
        "big": 12345678901234567890,
        "neg_zero": -0.0,
        "number_as_string": "12.5",
        "nested": {"a": [1, "1", None, True, {"b": {}}]},
        "Plan": "upper",
        "plan": "lower",
    }
    load(sink, ENGAGE_SCHEMA, ["distinct_id"], [{"distinct_id": "x", "properties": nested}])
    ((text,),) = query(db_path, "SELECT properties FROM mixpanel.t")
    assert json.loads(text) == nested
    assert text == json.dumps(nested, ensure_ascii=False, separators=(",", ":"))


def test_json_text_is_stored_like_the_value_it_holds(sink: DuckDBSink, db_path: Path) -> None:
    """``sync()`` hands this sink ``properties`` as the API's JSON text (msgspec.Raw), spaces
    and escapes as sent; it must land exactly as the decoded value does."""
    value = {
        "name": "Mar\u00eda \u2615",
        "n": 1.5,
        "big": 12345678901234567890,
        "f": 1e-07,
        "nested": {"a": [1, 2.5, None, True]},
        "s": 'a"b\\c\n\u0001',
        "e": "\U0001f600",
    }
    text = json.dumps(value)  # ", " and ": " separators, \u escapes: the API's style
    assert DuckDBSink.accepts_raw_json
    load(
        sink,
        ENGAGE_SCHEMA,
        ["distinct_id"],
        [{"distinct_id": "raw", "properties": msgspec.Raw(text.encode())}],
        [{"distinct_id": "decoded", "properties": value}],
    )
    (raw, decoded) = query(db_path, "SELECT properties FROM mixpanel.t ORDER BY distinct_id DESC")
    assert raw == decoded
    assert json.loads(raw[0]) == value


def test_json_columns_are_stored_with_zstd(db_path: Path) -> None:
    """Free-form JSON loads faster and takes less room with zstd than with the dictionary and
    FSST encodings DuckDB tries by default; columns added later get it too."""
    wider = {"properties": {**ENGAGE_SCHEMA["properties"], "extra": {"type": "array"}}}
    rows = [
        {"distinct_id": f"id{i}", "properties": {"i": i, "plan": "pro"}, "extra": [i]}
        for i in range(5000)
    ]
    sink = DuckDBSink({"path": str(db_path)})
    try:
        load(sink, ENGAGE_SCHEMA, ["distinct_id"], [])
        load(sink, wider, ["distinct_id"], rows)
    finally:
        sink.close()
    with duckdb.connect(str(db_path)) as con:
        con.execute("CHECKPOINT")
        used = con.execute(
            "SELECT DISTINCT column_name, compression FROM pragma_storage_info('mixpanel.t') "
            "WHERE column_name IN ('properties', 'extra', 'email') AND segment_type <> 'VALIDITY'"
        ).fetchall()
    by_column = {name: {c for n, c in used if n == name} for name, _ in used}
    assert by_column["properties"] == by_column["extra"] == {"ZSTD"}
    assert "ZSTD" not in by_column["email"]  # other columns keep DuckDB's own choice


def test_case_twins_and_odd_names_get_their_own_columns(sink: DuckDBSink, db_path: Path) -> None:
    schema = props(
        **{
            "id": {"type": "string"},
            "Plan": {"type": "string"},
            "plan": {"type": "string"},
            "PLAN": {"type": "string"},
            'say "hi"': {"type": "string"},
            "with space.and.dots": {"type": "string"},
            "it's": {"type": "string"},
        }
    )
    row = {"id": "1", "Plan": "A", "plan": "b", "PLAN": "C", 'say "hi"': "q",
           "with space.and.dots": "d", "it's": "s"}  # fmt: skip
    load(sink, schema, ["id"], [row])
    assert [(c[0], c[2]) for c in columns(db_path)] == [
        ("id", "singer property: id"),
        ("Plan", "singer property: Plan"),
        ("plan__2", "singer property: plan"),
        ("PLAN__3", "singer property: PLAN"),
        ('say "hi"', 'singer property: say "hi"'),
        ("with space.and.dots", "singer property: with space.and.dots"),
        ("it's", "singer property: it's"),
    ]
    assert query(db_path, "SELECT * FROM mixpanel.t") == [("1", "A", "b", "C", "q", "d", "s")]


def test_odd_names_without_case_twins_load_under_their_own_names(
    sink: DuckDBSink, db_path: Path
) -> None:
    names = ["id", 'say "hi"', "with space.and.dots", "it's", "émoji 🎉", "$distinct_id"]
    schema = props(**{name: {"type": "string"} for name in names})
    load(sink, schema, ["id"], [{name: f"v-{name}" for name in names}])
    assert [c[0] for c in columns(db_path)] == names
    assert query(db_path, "SELECT * FROM mixpanel.t") == [tuple(f"v-{n}" for n in names)]


def test_case_twin_mapping_survives_a_restart(db_path: Path) -> None:
    first = props(id={"type": "string"}, Plan={"type": "string"})
    second = props(id={"type": "string"}, plan={"type": "string"}, Plan={"type": "string"})
    s1 = DuckDBSink({"path": str(db_path)})
    try:
        load(s1, first, ["id"], [{"id": "1", "Plan": "A"}])
    finally:
        s1.close()
    s2 = DuckDBSink({"path": str(db_path)})
    try:
        load(s2, second, ["id"], [{"id": "2", "plan": "b", "Plan": "B"}])
    finally:
        s2.close()
    assert [c[0] for c in columns(db_path)] == ["id", "Plan", "plan__2"]
    assert query(db_path, "SELECT * FROM mixpanel.t ORDER BY id") == [
        ("1", "A", None),
        ("2", "B", "b"),
    ]


def test_later_record_with_same_key_replaces_the_row(sink: DuckDBSink, db_path: Path) -> None:
    load(
        sink,
        ENGAGE_SCHEMA,
        ["distinct_id"],
        [{"distinct_id": "a", "email": "old@x"}, {"distinct_id": "b", "email": "b@x"}],
        [{"distinct_id": "a", "email": "new@x", "properties": {"k": 1}}],
    )
    assert query(db_path, "SELECT distinct_id, email, properties FROM mixpanel.t ORDER BY 1") == [
        ("a", "new@x", '{"k":1}'),
        ("b", "b@x", None),
    ]


def test_duplicates_within_one_batch_last_wins(sink: DuckDBSink, db_path: Path) -> None:
    batch = [
        {"distinct_id": "a", "email": "1"},
        {"distinct_id": "b", "email": "2"},
        {"distinct_id": "a", "email": "3"},
        {"distinct_id": "a", "email": "4"},
    ]
    load(sink, ENGAGE_SCHEMA, ["distinct_id"], batch)
    assert query(db_path, "SELECT distinct_id, email FROM mixpanel.t ORDER BY 1") == [
        ("a", "4"),
        ("b", "2"),
    ]


def test_two_batches_in_one_transaction_last_wins(sink: DuckDBSink, db_path: Path) -> None:
    sink.open_stream("t", ENGAGE_SCHEMA, ["distinct_id"])
    sink.write_batch("t", [{"distinct_id": "a", "email": "1"}])
    sink.write_batch("t", [{"distinct_id": "a", "email": "2"}])
    sink.commit()
    assert query(db_path, "SELECT distinct_id, email FROM mixpanel.t") == [("a", "2")]


def test_composite_key_upserts(sink: DuckDBSink, db_path: Path) -> None:
    schema = props(a={"type": "string"}, b={"type": "integer"}, v={"type": "string"})
    load(
        sink,
        schema,
        ["a", "b"],
        [{"a": "x", "b": 1, "v": "1"}, {"a": "x", "b": 2, "v": "2"}, {"a": "x", "b": 1, "v": "3"}],
    )
    assert query(db_path, "SELECT * FROM mixpanel.t ORDER BY b") == [("x", 1, "3"), ("x", 2, "2")]


def test_stream_without_key_appends(sink: DuckDBSink, db_path: Path) -> None:
    schema = props(v={"type": "string"})
    load(sink, schema, [], [{"v": "a"}, {"v": "a"}], [{"v": "a"}])
    assert query(db_path, "SELECT count(*) FROM mixpanel.t") == [(3,)]


def test_new_column_is_added_and_old_rows_keep_their_data(sink: DuckDBSink, db_path: Path) -> None:
    v1 = props(id={"type": "string"}, a={"type": "string"})
    v2 = props(id={"type": "string"}, a={"type": "string"}, b={"type": ["null", "integer"]})
    load(sink, v1, ["id"], [{"id": "1", "a": "x"}])
    load(sink, v2, ["id"], [{"id": "2", "a": "y", "b": 7}])
    assert query(db_path, "SELECT * FROM mixpanel.t ORDER BY id") == [
        ("1", "x", None),
        ("2", "y", 7),
    ]


def test_widened_types_keep_data_and_column_names(sink: DuckDBSink, db_path: Path) -> None:
    def schema(n: Any, ts: Any) -> dict[str, Any]:
        return props(id={"type": "string"}, n=n, ts=ts)

    date_time = {"type": "string", "format": "date-time"}
    load(sink, schema({"type": "integer"}, date_time), ["id"],
         [{"id": "1", "n": 1, "ts": "2024-01-01T10:00:00+02:00"}])  # fmt: skip
    load(sink, schema({"type": "number"}, date_time), ["id"], [{"id": "2", "n": 2.5}])
    assert [c[1] for c in columns(db_path)][1] == "DOUBLE"
    load(sink, schema({"type": "string"}, {"type": "string"}), ["id"],
         [{"id": "3", "n": "three", "ts": "not a date"}])  # fmt: skip
    assert [(c[0], c[1]) for c in columns(db_path)] == [
        ("id", "VARCHAR"),
        ("n", "VARCHAR"),
        ("ts", "VARCHAR"),
    ]
    load(sink, schema({"type": ["string", "integer"]}, {"type": "string"}), ["id"],
         [{"id": "4", "n": 4}])  # fmt: skip
    assert [c[1] for c in columns(db_path)][1] == "JSON"
    assert query(db_path, "SELECT id, n, ts FROM mixpanel.t ORDER BY id") == [
        ("1", '"1.0"', "2024-01-01T08:00:00.000000Z"),
        ("2", '"2.5"', None),
        ("3", '"three"', "not a date"),
        ("4", "4", None),
    ]


def test_uncommitted_batch_is_discarded_on_close(db_path: Path) -> None:
    sink = DuckDBSink({"path": str(db_path)})
    try:
        load(sink, ENGAGE_SCHEMA, ["distinct_id"], [{"distinct_id": "a"}])
        sink.write_batch("t", [{"distinct_id": "b"}])
    finally:
        sink.close()
    assert query(db_path, "SELECT distinct_id FROM mixpanel.t") == [("a",)]


def test_open_stream_inside_a_pending_transaction_keeps_staged_rows(
    sink: DuckDBSink, db_path: Path
) -> None:
    wider = {"properties": {**ENGAGE_SCHEMA["properties"], "extra": {"type": "string"}}}
    sink.open_stream("t", ENGAGE_SCHEMA, ["distinct_id"])
    sink.write_batch("t", [{"distinct_id": "a"}])
    sink.open_stream("t", wider, ["distinct_id"])
    sink.write_batch("t", [{"distinct_id": "b", "extra": "e"}])
    sink.commit()
    assert query(db_path, "SELECT distinct_id, extra FROM mixpanel.t ORDER BY 1") == [
        ("a", None),
        ("b", "e"),
    ]


def test_custom_schema_and_filepath_alias(tmp_path: Path) -> None:
    path = tmp_path / "alias.duckdb"
    sink = DuckDBSink({"filepath": str(path), "default_target_schema": "Raw Data"})
    try:
        load(sink, ENGAGE_SCHEMA, ["distinct_id"], [{"distinct_id": "a"}])
    finally:
        sink.close()
    assert query(path, 'SELECT distinct_id FROM "Raw Data".t') == [("a",)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "path: required, the DuckDB file to write (alias: filepath)"),
        ({"path": ""}, "path: required, the DuckDB file to write (alias: filepath)"),
        ({"path": "x.duckdb", "default_target_schema": ""}, "default_target_schema: must be"),
    ],
)
def test_bad_settings_name_the_setting(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SinkConfigError) as caught:
        DuckDBSink(config)
    assert str(caught.value).startswith(message)


def test_unwritable_path_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "x.duckdb"
    with pytest.raises(SinkConfigError) as caught:
        DuckDBSink({"path": str(path)})
    assert str(caught.value).startswith(f"path: cannot open DuckDB file {str(path)!r}: ")


def test_a_file_named_like_the_schema_still_loads(tmp_path: Path) -> None:
    # DuckDB names the catalog after the file: mixpanel.duckdb has a catalog "mixpanel" too.
    path = tmp_path / "mixpanel.duckdb"
    sink = DuckDBSink({"path": str(path)})
    try:
        sink.open_stream("engage", {"properties": {"id": {"type": "string"}}}, ["id"])
        sink.write_batch("engage", [{"id": "a"}, {"id": "b"}])
        sink.commit()
    finally:
        sink.close()
    con = duckdb.connect(str(path))
    try:
        assert con.execute("SELECT id FROM mixpanel.mixpanel.engage ORDER BY id").fetchall() == [
            ("a",),
            ("b",),
        ]
    finally:
        con.close()
