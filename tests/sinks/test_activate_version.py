"""activate_version in every sink of this project: older versions go with the commit, not before.

The same scenarios run against the duckdb sink (a real DuckDB file) and the jsonl and parquet
plugins (real files); each is read back through its own format.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from tap_mixpanel_engage_sink_jsonl import JsonlSink
from tap_mixpanel_engage_sink_parquet import ParquetSink

from tap_mixpanel_engage.sinks import (
    DELETED_AT_PROPERTY,
    VERSION_PROPERTY,
    Sink,
    with_version_properties,
)
from tap_mixpanel_engage.sinks.duckdb_sink import DuckDBSink

SCHEMA = with_version_properties(
    {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": ["integer", "null"]}}}
)
Rows = dict[str, tuple[int | None, Any]]
"""id -> (version, deleted_at) of every committed row."""


def _duckdb_rows(path: Path) -> Rows:
    # Another connection of the same process (the sink holds the file): it sees commits only.
    with duckdb.connect(str(path / "out.duckdb")) as con:
        found = con.execute(
            f"SELECT id, {VERSION_PROPERTY}, {DELETED_AT_PROPERTY} FROM mixpanel.s"
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in found}


def _jsonl_rows(path: Path) -> Rows:
    lines = (path / "s.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return {r["id"]: (r.get(VERSION_PROPERTY), r.get(DELETED_AT_PROPERTY)) for r in rows}


def _parquet_rows(path: Path) -> Rows:
    table = pq.read_table(path / "s.parquet").to_pylist()
    return {r["id"]: (r[VERSION_PROPERTY], r[DELETED_AT_PROPERTY]) for r in table}


SINKS: dict[str, tuple[Callable[[Path], Sink], Callable[[Path], Rows]]] = {
    "duckdb": (lambda p: DuckDBSink({"path": str(p / "out.duckdb")}), _duckdb_rows),
    "jsonl": (lambda p: JsonlSink({"path": str(p)}), _jsonl_rows),
    "parquet": (lambda p: ParquetSink({"path": str(p)}), _parquet_rows),
}


def records(version: int | None, *ids: str) -> list[dict[str, Any]]:
    return [{"id": i, "n": n, VERSION_PROPERTY: version} for n, i in enumerate(ids)]


@pytest.fixture(params=sorted(SINKS))
def sink_and_rows(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Sink, Callable[[], Rows]]]:
    make, read = SINKS[request.param]
    sink = make(tmp_path)
    sink.open_stream("s", SCHEMA, ["id"])
    yield sink, lambda: read(tmp_path)
    sink.close()


def test_older_versions_are_deleted_by_the_commit_that_follows_the_last_batch(
    sink_and_rows: tuple[Sink, Callable[[], Rows]],
) -> None:
    sink, rows = sink_and_rows
    sink.write_batch("s", records(None, "old"))  # an incremental row: no version
    sink.write_batch("s", records(10, "a", "b", "c"))
    sink.commit()
    sink.write_batch("s", records(20, "a", "b"))
    sink.activate_version("s", 20, hard_delete=True)
    assert rows() == {"old": (None, None), "a": (10, None), "b": (10, None), "c": (10, None)}
    sink.commit()
    assert rows() == {"a": (20, None), "b": (20, None)}


def test_without_hard_delete_older_rows_stay_marked_and_keep_their_first_mark(
    sink_and_rows: tuple[Sink, Callable[[], Rows]],
) -> None:
    sink, rows = sink_and_rows
    before = dt.datetime.now(dt.UTC)
    sink.write_batch("s", records(10, "a", "b", "c"))
    sink.commit()
    sink.write_batch("s", records(20, "a", "b"))
    sink.activate_version("s", 20, hard_delete=False)
    sink.commit()
    first = rows()
    marked = _as_time(first["c"][1])
    assert before <= marked <= dt.datetime.now(dt.UTC)
    assert first == {"a": (20, None), "b": (20, None), "c": (10, first["c"][1])}
    sink.activate_version("s", 30, hard_delete=False)  # alone in its commit
    sink.commit()
    second = rows()
    assert second["c"] == first["c"]
    assert {i: v for i, (v, _) in second.items()} == {"a": 20, "b": 20, "c": 10}
    assert all(_as_time(d) >= marked for _, d in second.values())
    sink.write_batch("s", records(40, "c"))  # back in the source: no longer deleted
    sink.commit()
    assert rows()["c"] == (40, None)


def test_an_activation_never_committed_deletes_nothing(
    sink_and_rows: tuple[Sink, Callable[[], Rows]],
) -> None:
    sink, rows = sink_and_rows
    sink.write_batch("s", records(10, "a", "b"))
    sink.commit()
    sink.write_batch("s", records(20, "a"))
    sink.activate_version("s", 20, hard_delete=True)
    sink.close()  # a crash before the commit: nothing staged lands
    assert rows() == {"a": (10, None), "b": (10, None)}


def test_the_duckdb_sink_refuses_a_schema_without_the_version_columns(tmp_path: Path) -> None:
    sink = DuckDBSink({"path": str(tmp_path / "x.duckdb")})
    try:
        sink.open_stream("s", {"properties": {"id": {"type": "string"}}}, ["id"])
        with pytest.raises(ValueError, match="_sdc_table_version and _sdc_deleted_at"):
            sink.activate_version("s", 1, hard_delete=True)
    finally:
        sink.close()


def _as_time(value: Any) -> dt.datetime:
    """A deletion mark as an aware datetime, whichever way the sink stores it."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value))
