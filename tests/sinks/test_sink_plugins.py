"""The jsonl and parquet sink plugins: registration, settings, atomic commits, upserts, values.

Both plugins are installed in editable mode (``pip install -e plugins/sink-jsonl -e
plugins/sink-parquet``), so registration goes through the real entry points.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import pluggy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tap_mixpanel_engage_sink_jsonl as jsonl_plugin
import tap_mixpanel_engage_sink_parquet as parquet_plugin
from tap_mixpanel_engage_sink_jsonl import JsonlSink
from tap_mixpanel_engage_sink_parquet import ParquetSink
from tap_mixpanel_engage_sink_parquet.columns import arrow_type

from tap_mixpanel_engage.engage.records import engage_schema
from tap_mixpanel_engage.sinks import hookspecs
from tap_mixpanel_engage.sinks.contract import Sink, SinkConfigError
from tap_mixpanel_engage.sinks.registry import installed_sinks

ROOT = Path(__file__).resolve().parents[2]
SINKS = [JsonlSink, ParquetSink]
UTC = dt.UTC

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "visits": {"type": ["integer", "null"]},
        "score": {"type": ["number", "null"]},
        "paid": {"type": ["boolean", "null"]},
        "created": {"type": ["string", "null"], "format": "date-time"},
        "properties": {"type": ["object", "null"]},
        "tags": {"type": ["array", "null"]},
        "drift": {"type": ["string", "number", "null"]},
        "Plan": {"type": ["string", "null"]},
        "plan": {"type": ["string", "null"]},
    },
}


def read_rows(sink: type[Sink], directory: Path, stream: str = "engage") -> list[dict[str, Any]]:
    """The committed rows of ``stream`` as the sink's own file format gives them back."""
    if sink is JsonlSink:
        lines = (directory / f"{stream}.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines]
    rows: list[dict[str, Any]] = pq.read_table(directory / f"{stream}.parquet").to_pylist()
    return rows


def ids_and(sink: type[Sink], directory: Path, column: str) -> list[tuple[str, Any]]:
    """``(id, column)`` for every committed row, sorted by id."""
    return sorted((row["id"], row.get(column)) for row in read_rows(sink, directory))


def open_sink(sink: type[Sink], directory: Path, keys: tuple[str, ...] = ("id",)) -> Sink:
    """A sink writing to ``directory`` with the ``engage`` stream open."""
    instance = sink({"path": str(directory)})
    instance.open_stream("engage", SCHEMA, keys)
    return instance


def test_both_plugins_register_through_their_entry_points() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    pm.check_pending()
    found: list[type[Sink]] = []
    pm.hook.register_sinks(register=found.append)
    by_name = {cls.name: cls for cls in found}
    assert by_name["jsonl"] is JsonlSink
    assert by_name["parquet"] is ParquetSink
    assert pm.get_plugin("jsonl") is jsonl_plugin
    assert pm.get_plugin("parquet") is parquet_plugin


def test_installed_sinks_lists_both_plugins_next_to_duckdb() -> None:
    sinks = installed_sinks()
    assert (sinks["jsonl"], sinks["parquet"]) == (JsonlSink, ParquetSink)
    assert sinks["duckdb"].name == "duckdb"


def test_list_sinks_shows_both_plugins(tmp_path: Path) -> None:
    done = run_target(["--list-sinks"], "", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"jsonl\t{JsonlSink.description}" in lines
    assert f"parquet\t{ParquetSink.description}" in lines


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("config", [{}, {"path": ""}, {"path": "  "}, {"path": None}])
def test_missing_path_is_a_config_error_naming_path(
    sink: type[Sink], config: Mapping[str, Any]
) -> None:
    with pytest.raises(SinkConfigError, match="'path'"):
        sink(config)


@pytest.mark.parametrize("sink", SINKS)
def test_a_path_that_cannot_be_a_directory_is_a_config_error(
    sink: type[Sink], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for path in (blocker, blocker / "below"):
        with pytest.raises(SinkConfigError, match=r"'path'.*not a writable directory"):
            sink({"path": str(path)})


@pytest.mark.parametrize("sink", SINKS)
def test_a_missing_output_directory_is_created(sink: type[Sink], tmp_path: Path) -> None:
    sink({"path": str(tmp_path / "new" / "dir")}).close()
    assert (tmp_path / "new" / "dir").is_dir()


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("stream", ["../escape", "a/b", ".hidden", ""])
def test_stream_names_that_are_not_plain_file_names_are_refused(
    sink: type[Sink], stream: str, tmp_path: Path
) -> None:
    instance = sink({"path": str(tmp_path)})
    with pytest.raises(ValueError, match="cannot be used as a file name"):
        instance.open_stream(stream, SCHEMA, ["id"])
    instance.close()


@pytest.mark.parametrize("sink", SINKS)
def test_write_batch_before_open_stream_is_an_error(sink: type[Sink], tmp_path: Path) -> None:
    instance = sink({"path": str(tmp_path)})
    with pytest.raises(RuntimeError, match="before open_stream"):
        instance.write_batch("engage", [{"id": "a"}])
    instance.close()


@pytest.mark.parametrize("sink", SINKS)
def test_nothing_is_visible_before_commit(sink: type[Sink], tmp_path: Path) -> None:
    instance = open_sink(sink, tmp_path)
    instance.write_batch("engage", [{"id": "a", "name": "Ada"}])
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    instance.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"engage.{sink.name}"]
    assert ids_and(sink, tmp_path, "name") == [("a", "Ada")]
    instance.close()


@pytest.mark.parametrize("sink", SINKS)
def test_close_discards_rows_staged_after_the_last_commit(sink: type[Sink], tmp_path: Path) -> None:
    instance = open_sink(sink, tmp_path)
    instance.write_batch("engage", [{"id": "a", "name": "v1"}])
    instance.commit()
    instance.write_batch("engage", [{"id": "a", "name": "v2"}, {"id": "b", "name": "v2"}])
    instance.close()
    assert ids_and(sink, tmp_path, "name") == [("a", "v1")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"engage.{sink.name}"]


@pytest.mark.parametrize("sink", SINKS)
def test_a_crash_before_commit_leaves_the_previous_commit_intact(
    sink: type[Sink], tmp_path: Path
) -> None:
    """A real process dies (no close, no finally) with a second batch staged."""
    script = textwrap.dedent(
        f"""
        import os
        from {sink.__module__} import {sink.__name__} as Sink
        sink = Sink({{"path": {str(tmp_path)!r}}})
        sink.open_stream("engage", {{"properties": {{"id": {{"type": "string"}}}}}}, ["id"])
        sink.write_batch("engage", [{{"id": "committed"}}])
        sink.commit()
        sink.write_batch("engage", [{{"id": "staged"}}])
        os._exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert [row["id"] for row in read_rows(sink, tmp_path)] == ["committed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"engage.{sink.name}"]


@pytest.mark.parametrize("sink", SINKS)
@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_commit_keeps_the_previous_file_and_leaves_no_temp_file(
    sink: type[Sink], failing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = open_sink(sink, tmp_path)
    instance.write_batch("engage", [{"id": "a", "name": "v1"}])
    instance.commit()
    before = (tmp_path / f"engage.{sink.name}").read_bytes()

    def broken(*args: object) -> None:
        raise OSError(f"disk on fire during {failing}")

    module = sys.modules[sink.__module__]
    instance.write_batch("engage", [{"id": "a", "name": "v2"}])
    with monkeypatch.context() as patch:
        patch.setattr(module.os, failing, broken)
        with pytest.raises(OSError, match="disk on fire"):
            instance.commit()
    assert (tmp_path / f"engage.{sink.name}").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"engage.{sink.name}"]
    # The staged rows survived the failed commit, so a retry commits them.
    instance.commit()
    instance.close()
    assert ids_and(sink, tmp_path, "name") == [("a", "v2")]


@pytest.mark.parametrize("sink", SINKS)
def test_a_later_record_with_the_same_key_replaces_the_earlier_one(
    sink: type[Sink], tmp_path: Path
) -> None:
    instance = open_sink(sink, tmp_path)
    instance.write_batch(
        "engage",
        [{"id": "a", "name": "a1"}, {"id": "b", "name": "b1"}, {"id": "a", "name": "a2"}],
    )
    instance.commit()
    instance.write_batch("engage", [{"id": "c", "name": "c1"}, {"id": "b", "name": "b2"}])
    instance.commit()
    instance.close()
    assert ids_and(sink, tmp_path, "name") == [("a", "a2"), ("b", "b2"), ("c", "c1")]


def test_jsonl_keeps_an_updated_row_on_its_line(tmp_path: Path) -> None:
    instance = open_sink(JsonlSink, tmp_path)
    instance.write_batch("engage", [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    instance.commit()
    instance.write_batch("engage", [{"id": "b", "name": "new"}, {"id": "d"}])
    instance.commit()
    instance.close()
    assert (tmp_path / "engage.jsonl").read_text(encoding="utf-8") == (
        '{"id":"a"}\n{"id":"b","name":"new"}\n{"id":"c"}\n{"id":"d"}\n'
    )


def test_jsonl_copies_unchanged_lines_of_an_existing_file_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "engage.jsonl").write_text(
        '{"id": "a",   "name": "spaced"}\n{"id":"b"}\n', encoding="utf-8"
    )
    instance = open_sink(JsonlSink, tmp_path)
    instance.write_batch("engage", [{"id": "b", "name": "é"}, {"id": "c"}])
    instance.commit()
    instance.close()
    assert (tmp_path / "engage.jsonl").read_text(encoding="utf-8") == (
        '{"id": "a",   "name": "spaced"}\n{"id":"b","name":"é"}\n{"id":"c"}\n'
    )


def test_jsonl_refuses_nan_because_it_is_not_json(tmp_path: Path) -> None:
    instance = open_sink(JsonlSink, tmp_path)
    with pytest.raises(ValueError, match="not JSON compliant"):
        instance.write_batch("engage", [{"id": "a", "score": float("nan")}])
    instance.close()


def test_parquet_moves_an_updated_row_to_the_end(tmp_path: Path) -> None:
    instance = open_sink(ParquetSink, tmp_path)
    instance.write_batch("engage", [{"id": "a"}, {"id": "b"}, {"id": "c"}])
    instance.commit()
    instance.write_batch("engage", [{"id": "b", "name": "new"}, {"id": "d"}])
    instance.commit()
    instance.close()
    rows = read_rows(ParquetSink, tmp_path)
    assert [(r["id"], r["name"]) for r in rows] == [
        ("a", None),
        ("c", None),
        ("b", "new"),
        ("d", None),
    ]


@pytest.mark.parametrize("sink", SINKS)
def test_a_new_run_upserts_into_the_file_of_the_previous_run(
    sink: type[Sink], tmp_path: Path
) -> None:
    first = open_sink(sink, tmp_path)
    first.write_batch("engage", [{"id": "a", "name": "a1"}, {"id": "b", "name": "b1"}])
    first.commit()
    first.close()
    second = open_sink(sink, tmp_path)
    second.write_batch("engage", [{"id": "b", "name": "b2"}, {"id": "c", "name": "c2"}])
    second.commit()
    second.close()
    assert ids_and(sink, tmp_path, "name") == [("a", "a1"), ("b", "b2"), ("c", "c2")]


@pytest.mark.parametrize("sink", SINKS)
def test_a_composite_key_replaces_only_the_row_matching_every_part(
    sink: type[Sink], tmp_path: Path
) -> None:
    instance = open_sink(sink, tmp_path, keys=("id", "visits"))
    instance.write_batch(
        "engage",
        [
            {"id": "a", "visits": 1, "name": "a1"},
            {"id": "a", "visits": 2, "name": "a2"},
            {"id": "b", "visits": 1, "name": "b1"},
        ],
    )
    instance.commit()
    instance.write_batch("engage", [{"id": "a", "visits": 2, "name": "a2-new"}])
    instance.commit()
    instance.close()
    rows = sorted((r["id"], r["visits"], r["name"]) for r in read_rows(sink, tmp_path))
    assert rows == [("a", 1, "a1"), ("a", 2, "a2-new"), ("b", 1, "b1")]


@pytest.mark.parametrize("sink", SINKS)
def test_a_stream_without_key_properties_keeps_every_record(
    sink: type[Sink], tmp_path: Path
) -> None:
    instance = open_sink(sink, tmp_path, keys=())
    instance.write_batch("engage", [{"id": "a"}, {"id": "a"}])
    instance.commit()
    instance.write_batch("engage", [{"id": "a"}])
    instance.commit()
    instance.close()
    assert [r["id"] for r in read_rows(sink, tmp_path)] == ["a", "a", "a"]


MESSY: list[dict[str, Any]] = [
    {
        "id": "ünï-😀",
        "name": "",
        "visits": 0,
        "score": -0.5,
        "paid": False,
        "created": "2024-02-29T23:59:59.123456+02:00",
        "properties": {"Plan": "Pro", "plan": "", "nested": {"城市": ["東京", None, 1.5]}},
        "tags": ["a", "", {"k": "v"}],
        "drift": "5",
        "Plan": "Pro",
        "plan": "",
    },
    {
        "id": "plain",
        "name": "שלום e\u0301",
        "visits": 2**40,
        "score": 3,
        "paid": True,
        "created": "2024-01-01T00:00:00Z",
        "properties": {},
        "tags": [],
        "drift": 5,
        "Plan": None,
        "plan": "free",
    },
    {"id": "sparse"},
]


def write_messy(sink: type[Sink], directory: Path) -> None:
    """Commit the MESSY records in one batch."""
    instance = open_sink(sink, directory)
    instance.write_batch("engage", MESSY)
    instance.commit()
    instance.close()


def test_jsonl_round_trips_messy_values_exactly(tmp_path: Path) -> None:
    write_messy(JsonlSink, tmp_path)
    assert read_rows(JsonlSink, tmp_path) == MESSY
    assert "😀" in (tmp_path / "engage.jsonl").read_text(encoding="utf-8")


def test_parquet_columns_are_typed_from_the_json_schema(tmp_path: Path) -> None:
    write_messy(ParquetSink, tmp_path)
    schema = pq.read_schema(tmp_path / "engage.parquet")
    json_text = pa.json_(pa.string())
    assert [(f.name, f.type) for f in schema] == [
        ("id", pa.string()),
        ("name", pa.string()),
        ("visits", pa.int64()),
        ("score", pa.float64()),
        ("paid", pa.bool_()),
        ("created", pa.timestamp("us", tz="UTC")),
        ("properties", json_text),
        ("tags", json_text),
        ("drift", json_text),
        ("Plan", pa.string()),
        ("plan", pa.string()),
    ]


def test_parquet_round_trips_messy_values(tmp_path: Path) -> None:
    write_messy(ParquetSink, tmp_path)
    rows = {row["id"]: row for row in read_rows(ParquetSink, tmp_path)}
    first, second, sparse = rows["ünï-😀"], rows["plain"], rows["sparse"]
    assert first["name"] == ""
    assert first["plan"] == ""
    assert first["Plan"] == "Pro"
    assert first["created"] == dt.datetime(2024, 2, 29, 21, 59, 59, 123456, tzinfo=UTC)
    assert json.loads(first["properties"]) == MESSY[0]["properties"]
    assert json.loads(first["tags"]) == ["a", "", {"k": "v"}]
    assert (first["drift"], second["drift"]) == ('"5"', "5")
    assert (second["name"], second["visits"], second["score"]) == ("שלום e\u0301", 2**40, 3.0)
    assert (second["Plan"], second["plan"], second["paid"]) == (None, "free", True)
    assert second["properties"] == "{}"
    assert all(value is None for key, value in sparse.items() if key != "id")


def test_duckdb_reads_the_parquet_file_and_can_cast_json_text(tmp_path: Path) -> None:
    write_messy(ParquetSink, tmp_path)
    con = duckdb.connect()
    try:
        described = con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
            [str(tmp_path / "engage.parquet")],
        ).fetchall()
        row = con.execute(
            """
            SELECT properties->>'$.nested.城市[0]', epoch_us(created), drift::JSON, "Plan", plan_1
            FROM read_parquet(?) WHERE id = 'ünï-😀'
            """,
            [str(tmp_path / "engage.parquet")],
        ).fetchone()
    finally:
        con.close()
    types = dict(described)
    assert (types["created"], types["properties"], types["visits"]) == (
        "TIMESTAMP WITH TIME ZONE",
        "JSON",
        "BIGINT",
    )
    # DuckDB names are case-insensitive, so it reads the twin ``plan`` as ``plan_1``.
    assert (types["Plan"], types["plan_1"]) == ("VARCHAR", "VARCHAR")
    created = dt.datetime(2024, 2, 29, 21, 59, 59, 123456, tzinfo=UTC)
    epoch_us = (created - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
    assert row == ("東京", epoch_us, '"5"', "Pro", "")


def test_parquet_widens_columns_when_a_later_schema_changes(tmp_path: Path) -> None:
    narrow = {
        "properties": {
            "id": {"type": "string"},
            "n": {"type": "integer"},
            "s": {"type": "string"},
        }
    }
    wide = {
        "properties": {
            "id": {"type": "string"},
            "n": {"type": "number"},
            "s": {"type": ["string", "integer"]},
            "added": {"type": "boolean"},
        }
    }
    instance = ParquetSink({"path": str(tmp_path)})
    instance.open_stream("engage", narrow, ["id"])
    instance.write_batch("engage", [{"id": "old", "n": 1, "s": "text"}])
    instance.commit()
    instance.open_stream("engage", wide, ["id"])
    instance.write_batch("engage", [{"id": "new", "n": 1.5, "s": 7, "added": True}])
    instance.commit()
    instance.close()
    table = pq.read_table(tmp_path / "engage.parquet")
    assert [(f.name, f.type) for f in table.schema] == [
        ("id", pa.string()),
        ("n", pa.float64()),
        ("s", pa.json_(pa.string())),
        ("added", pa.bool_()),
    ]
    assert table.to_pylist() == [
        {"id": "old", "n": 1.0, "s": '"text"', "added": None},
        {"id": "new", "n": 1.5, "s": "7", "added": True},
    ]


def test_parquet_keeps_fields_missing_from_the_schema_as_json_text(tmp_path: Path) -> None:
    instance = ParquetSink({"path": str(tmp_path)})
    instance.open_stream("engage", {"properties": {"id": {"type": "string"}}}, ["id"])
    instance.write_batch("engage", [{"id": "a", "surprise": {"x": [1]}}])
    instance.commit()
    instance.close()
    assert read_rows(ParquetSink, tmp_path) == [{"id": "a", "surprise": '{"x":[1]}'}]


def test_parquet_refuses_a_value_its_column_cannot_hold(tmp_path: Path) -> None:
    instance = open_sink(ParquetSink, tmp_path)
    instance.write_batch("engage", [{"id": "a", "created": "last tuesday"}])
    with pytest.raises(ValueError, match=r"engage\.created: cannot store 'last tuesday'"):
        instance.commit()
    instance.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": ["string", "null"], "format": "date-time"}, pa.timestamp("us", tz="UTC")),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, "timestamp"),
        ({"type": ["integer", "number", "null"]}, pa.float64()),
        ({"type": "integer"}, pa.int64()),
        ({"type": ["null", "boolean"]}, pa.bool_()),
        ({"type": "string", "format": "email"}, pa.string()),
        ({"type": ["string", "integer"]}, "json"),
        ({"type": "object"}, "json"),
        ({"type": "array", "items": {"type": "string"}}, "json"),
        ({}, "json"),
    ],
)
def test_parquet_column_types_follow_the_json_schema(prop: dict[str, Any], expected: Any) -> None:
    aliases = {"timestamp": pa.timestamp("us", tz="UTC"), "json": pa.json_(pa.string())}
    assert arrow_type(prop) == aliases.get(expected, expected)


# --- The same Singer messages through target-mixpanel-duckdb with each sink -------------------


def engage_messages() -> list[dict[str, Any]]:
    """A realistic ``engage`` run: SCHEMA, messy RECORDs with repeated keys, periodic STATE.

    40 records over 25 distinct ids, so ids 0..14 are sent twice and the later record must win.
    """
    names = ["Zoë 😀", "", None, 'O\'Brien "Bob"', "line\nbreak", "שלום"]
    emails = ["", None, "ünï@例え.jp"]
    offsets = [":30:00Z", ":30:00.123456+05:30", ":30:59.5-08:00"]
    messages: list[dict[str, Any]] = [
        {
            "type": "SCHEMA",
            "stream": "engage",
            "schema": engage_schema(),
            "key_properties": ["distinct_id"],
        }
    ]
    for i in range(40):
        properties: dict[str, Any] | None = {
            "Plan": "Pro" if i % 3 else "",
            "plan": i if i % 2 else str(i),
            "$email": emails[i % 3] or f"u{i}@example.com",
            "nested": {"list": [1, "two", None, {"k": ""}], "城市": "東京"},
            "score": i * 1.5,
            "empty": "",
        }
        record: dict[str, Any] = {
            "distinct_id": f"user-{i % 25}",
            "properties": None if i == 7 else properties,
            "email": emails[i % 3] if i % 4 else f"u{i}@example.com",
            "name": names[i % len(names)],
            "created": None
            if i % 5 == 0
            else f"2024-0{1 + i % 9}-1{i % 10}T0{i % 10}{offsets[i % 3]}",
            "last_seen": f"2024-10-{1 + i % 28:02d}T12:00:00Z",
        }
        messages.append({"type": "RECORD", "stream": "engage", "record": record})
        if i % 9 == 8:
            messages.append({"type": "STATE", "value": {"bookmarks": {"engage": {"page": i}}}})
    messages.append({"type": "STATE", "value": {"bookmarks": {"engage": {"page": "done"}}}})
    return messages


def target_command() -> list[str]:
    """The installed console script, else its entry function (project not pip-installed)."""
    script = Path(sys.executable).parent / "target-mixpanel-duckdb"
    if script.exists():
        return [str(script)]
    call = "import sys; from tap_mixpanel_engage.target.cli import main; sys.exit(main())"
    return [sys.executable, "-c", call]


def run_target(args: list[str], stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run target-mixpanel-duckdb as a real process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*target_command(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def normalise(
    row: Mapping[str, Any], schema: Mapping[str, Any], json_as_text: bool
) -> dict[str, Any]:
    """One row in a sink-independent form: date-times as aware UTC, JSON as Python values."""
    out: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        value = row.get(name)
        types = set(prop.get("type", [])) - {"null"}
        if value is None:
            out[name] = None
        elif prop.get("format") == "date-time":
            parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
            out[name] = parsed.astimezone(UTC)
        elif json_as_text and (len(types) != 1 or types & {"object", "array"}):
            out[name] = json.loads(value)
        else:
            out[name] = value
    return out


def read_duckdb(path: Path) -> list[dict[str, Any]]:
    """Every row of ``mixpanel.engage`` as a dict of column name to value."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute("SELECT * FROM mixpanel.engage")
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_the_jsonl_parquet_and_duckdb_sinks_store_the_same_rows(tmp_path: Path) -> None:
    messages = engage_messages()
    schema = messages[0]["schema"]
    stdin = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
    configs: dict[str, dict[str, object]] = {
        "jsonl": {"sink": "jsonl", "path": str(tmp_path / "jsonl")},
        "parquet": {"sink": "parquet", "path": str(tmp_path / "parquet")},
        "duckdb": {"sink": "duckdb", "path": str(tmp_path / "profiles.duckdb")},
    }
    for config in configs.values():
        config["batch_size_rows"] = 7  # several commits; repeated keys cross batch boundaries
    for name, config in configs.items():
        config_file = tmp_path / f"{name}.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        done = run_target(["--config", str(config_file)], stdin, tmp_path)
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert json.loads(done.stdout.splitlines()[-1]) == messages[-1]["value"], name

    latest: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            latest[message["record"]["distinct_id"]] = message["record"]
    expected = {k: normalise(r, schema, json_as_text=False) for k, r in latest.items()}
    assert len(expected) == 25

    stored = {
        "jsonl": (read_rows(JsonlSink, tmp_path / "jsonl"), False),
        "parquet": (read_rows(ParquetSink, tmp_path / "parquet"), True),
        "duckdb": (read_duckdb(tmp_path / "profiles.duckdb"), True),
    }
    for name, (rows, json_as_text) in stored.items():
        by_id = {r["distinct_id"]: normalise(r, schema, json_as_text) for r in rows}
        assert len(rows) == 25, name
        assert sorted(by_id) == sorted(expected), name
        for key, want in expected.items():
            assert by_id[key] == want, (name, key)
