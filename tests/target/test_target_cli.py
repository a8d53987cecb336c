"""The target CLI through real pipes: loading, metadata, BATCH files, STATE order, --about."""

from __future__ import annotations

import datetime
import gzip
import io
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pytest

from tap_mixpanel_engage.sinks.contract import Record, Sink
from tap_mixpanel_engage.sinks.driver import SinkError
from tap_mixpanel_engage.sinks.hookspecs import RegisterSink, hookimpl
from tap_mixpanel_engage.sinks.registry import make_plugin_manager
from tap_mixpanel_engage.target.loader import load

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"
UTC = datetime.UTC

ENGAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "distinct_id": {"type": "string"},
        "properties": {"type": ["null", "object"]},
        "email": {"type": ["null", "string"]},
        "created": {"type": ["null", "string"], "format": "date-time"},
    },
}


def schema_message(schema: dict[str, Any] = ENGAGE_SCHEMA) -> dict[str, Any]:
    return {"type": "SCHEMA", "stream": "engage", "schema": schema,
            "key_properties": ["distinct_id"]}  # fmt: skip


def record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "distinct_id": f"u{i}",
        "properties": {"$city": "Zürich", "n": i + 0.5, "s": str(i), "empty": ""},
        "email": f"u{i}@example.com",
        "created": "2024-01-01T10:00:00+02:00",
        **extra,
    }


def record_message(i: int, **extra: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": "engage", "record": record(i, **extra),
            "time_extracted": "2024-06-01T00:00:00Z"}  # fmt: skip


def state(n: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": {"engage": {"n": n}}}}


def encode(messages: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(m) + "\n" for m in messages).encode()


def run_target(
    tmp_path: Path, messages: Sequence[Mapping[str, Any]], **config: Any
) -> subprocess.CompletedProcess[str]:
    config_path = tmp_path / "target.json"
    config_path.write_text(json.dumps({"path": str(tmp_path / "out.duckdb"), **config}))
    return subprocess.run(
        [TARGET, "--config", str(config_path)],
        input=encode(messages).decode(),
        capture_output=True,
        text=True,
        check=False,
    )


def rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def test_pipe_loads_records_and_prints_states_after_commits(tmp_path: Path) -> None:
    messages = [schema_message(), *(record_message(i) for i in range(5)), state(5),
                record_message(1, email="changed@example.com"), state(6)]  # fmt: skip
    done = run_target(tmp_path, messages, batch_size_rows=2)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"bookmarks": {"engage": {"n": 5}}},
        {"bookmarks": {"engage": {"n": 6}}},
    ]
    got = rows(tmp_path, "SELECT distinct_id, email, properties, created FROM mixpanel.engage")
    by_id = {r[0]: r for r in got}
    assert sorted(by_id) == ["u0", "u1", "u2", "u3", "u4"]
    assert by_id["u1"][1] == "changed@example.com"
    assert json.loads(by_id["u3"][2]) == {"$city": "Zürich", "n": 3.5, "s": "3", "empty": ""}
    assert '"n":3.5' in by_id["u3"][2]
    assert by_id["u0"][3] == datetime.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def test_input_file_option_reads_messages_from_a_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(encode([schema_message(), record_message(1), state(1)]))
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"filepath": str(tmp_path / "out.duckdb")}))
    done = subprocess.run(
        [TARGET, "--config", str(config), "--input", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"bookmarks":{"engage":{"n":1}}}\n'
    assert rows(tmp_path, "SELECT distinct_id FROM mixpanel.engage") == [("u1",)]


def test_metadata_columns_are_added_to_schema_and_records(tmp_path: Path) -> None:
    done = run_target(tmp_path, [schema_message(), record_message(1)], add_metadata_columns=True)
    assert done.returncode == 0, done.stderr
    ((extracted, received, batched),) = rows(
        tmp_path,
        "SELECT _sdc_extracted_at, _sdc_received_at, _sdc_batched_at FROM mixpanel.engage",
    )
    assert extracted == datetime.datetime(2024, 6, 1, tzinfo=UTC)
    assert received <= batched <= datetime.datetime.now(UTC)
    types = rows(
        tmp_path,
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'engage' "
        "AND column_name LIKE '\\_sdc\\_%' ESCAPE '\\' ORDER BY column_index",
    )
    # The three metadata columns, then the two every stream gets for table versions.
    assert types == [
        ("_sdc_extracted_at", "TIMESTAMP WITH TIME ZONE"),
        ("_sdc_received_at", "TIMESTAMP WITH TIME ZONE"),
        ("_sdc_batched_at", "TIMESTAMP WITH TIME ZONE"),
        ("_sdc_table_version", "BIGINT"),
        ("_sdc_deleted_at", "TIMESTAMP WITH TIME ZONE"),
    ]


def test_batch_message_loads_jsonl_and_gzip_files(tmp_path: Path) -> None:
    plain = tmp_path / "part-1.jsonl"
    plain.write_bytes(encode([record(1), record(2)]))
    zipped = tmp_path / "part-2.json.gz"
    zipped.write_bytes(gzip.compress(encode([record(3), record(2, email="last@x")])))
    batch = {
        "type": "BATCH",
        "stream": "engage",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [plain.as_uri(), zipped.as_uri()],
    }
    done = run_target(tmp_path, [schema_message(), batch, state(3)])
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"bookmarks":{"engage":{"n":3}}}\n'
    assert rows(tmp_path, "SELECT distinct_id, email FROM mixpanel.engage ORDER BY 1") == [
        ("u1", "u1@example.com"),
        ("u2", "last@x"),
        ("u3", "u3@example.com"),
    ]


def test_later_schema_with_new_column_widens_the_table(tmp_path: Path) -> None:
    wider = {"properties": {**ENGAGE_SCHEMA["properties"], "plan": {"type": "string"}}}
    messages = [schema_message(), record_message(1), schema_message(wider),
                record_message(2, plan="pro")]  # fmt: skip
    done = run_target(tmp_path, messages)
    assert done.returncode == 0, done.stderr
    assert rows(tmp_path, "SELECT distinct_id, plan FROM mixpanel.engage ORDER BY 1") == [
        ("u1", None),
        ("u2", "pro"),
    ]


def test_about_json_describes_target_and_sink_settings() -> None:
    done = subprocess.run([TARGET, "--about"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    about = json.loads(done.stdout)
    assert about["name"] == "target-mixpanel-duckdb"
    assert [s["name"] for s in about["settings"]] == [
        "sink",
        "add_metadata_columns",
        "batch_size_rows",
        "batch_wait_limit_seconds",
        "hard_delete",
    ]
    assert [s["name"] for s in about["sinks"]["duckdb"]["settings"]] == [
        "path",
        "default_target_schema",
    ]


def test_about_markdown_has_a_settings_table() -> None:
    done = subprocess.run(
        [TARGET, "--about", "--format", "markdown"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "# `target-mixpanel-duckdb`"
    assert "| `batch_size_rows` | integer | `10000` | " in done.stdout
    assert "## Sink `duckdb`" in lines


class Recorder(Sink):
    """Records every call, and STATE lines written after them, in one list."""

    name: ClassVar[str] = "recorder"
    events: ClassVar[list[tuple[Any, ...]]] = []
    fail_on_write: ClassVar[int | None] = None

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        self.events.append(("open", stream, tuple(key_properties)))

    def write_batch(self, stream: str, records: Sequence[Record]) -> None:
        writes = sum(1 for e in self.events if e[0] == "write")
        if writes == self.fail_on_write:
            raise RuntimeError("disk full")
        self.events.append(("write", stream, [r["distinct_id"] for r in records]))

    def commit(self) -> None:
        self.events.append(("commit",))

    def close(self) -> None:
        self.events.append(("close",))


class StateOut:
    def write(self, data: bytes) -> int:
        Recorder.events.append(("state", json.loads(data)))
        return len(data)

    def flush(self) -> None:
        pass


class RegistersRecorder:
    @hookimpl
    def register_sinks(self, register: RegisterSink) -> None:
        register(Recorder)


@pytest.fixture
def recorder() -> type[Recorder]:
    Recorder.events = []
    Recorder.fail_on_write = None
    return Recorder


def run_recorder(messages: Sequence[Mapping[str, Any]]) -> None:
    pm = make_plugin_manager()
    pm.register(RegistersRecorder(), name="recorder")
    config = {"sink": "recorder", "batch_size_rows": 2}
    load(config, io.BytesIO(encode(messages)), StateOut(), pm)


def test_state_is_written_only_after_the_commit_covering_it(recorder: type[Recorder]) -> None:
    messages = [schema_message(), record_message(1), record_message(2), state(2),
                record_message(3), state(3), record_message(4), record_message(5),
                state(5)]  # fmt: skip
    run_recorder(messages)
    assert recorder.events == [
        ("open", "engage", ("distinct_id",)),
        ("write", "engage", ["u1", "u2"]),
        ("commit",),
        ("state", {"bookmarks": {"engage": {"n": 2}}}),
        ("write", "engage", ["u3", "u4"]),
        ("commit",),
        ("state", {"bookmarks": {"engage": {"n": 3}}}),
        ("write", "engage", ["u5"]),
        ("commit",),
        ("state", {"bookmarks": {"engage": {"n": 5}}}),
        ("close",),
    ]


def test_failed_commit_prints_no_later_state_and_closes(recorder: type[Recorder]) -> None:
    recorder.fail_on_write = 1
    messages = [schema_message(), record_message(1), record_message(2), state(2),
                record_message(3), record_message(4), state(4), record_message(5)]  # fmt: skip
    with pytest.raises(SinkError) as caught:
        run_recorder(messages)
    assert str(caught.value) == "records up to line 6: RuntimeError: disk full"
    assert recorder.events == [
        ("open", "engage", ("distinct_id",)),
        ("write", "engage", ["u1", "u2"]),
        ("commit",),
        ("state", {"bookmarks": {"engage": {"n": 2}}}),
        ("close",),
    ]
