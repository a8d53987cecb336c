"""Bad input and bad settings: one clear line, non-zero exit, no traceback, earlier batches kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"
PROG = "target-mixpanel-duckdb: error: "
SECRET = "hunter2-do-not-print"

SCHEMA = json.dumps(
    {
        "type": "SCHEMA",
        "stream": "engage",
        "schema": {
            "properties": {
                "distinct_id": {"type": "string"},
                "n": {"type": ["null", "number"]},
                "seen": {"type": ["null", "string"], "format": "date-time"},
            }
        },
        "key_properties": ["distinct_id"],
    }
)


def record(i: int, **fields: Any) -> str:
    return json.dumps(
        {"type": "RECORD", "stream": "engage", "record": {"distinct_id": f"u{i}", **fields}}
    )


# Lines 1-7: two full batches (batch_size_rows=2) and a STATE, then one buffered record.
GOOD = [SCHEMA, record(1), record(2), '{"type":"STATE","value":{"n":2}}', record(3), record(4),
        record(5)]  # fmt: skip


def run(tmp_path: Path, lines: list[str], **config: Any) -> subprocess.CompletedProcess[str]:
    settings = {"path": str(tmp_path / "out.duckdb"), "batch_size_rows": 2, "password": SECRET}
    config_path = tmp_path / "target.json"
    config_path.write_text(json.dumps({**settings, **config}))
    return subprocess.run(
        [TARGET, "--config", str(config_path)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )


def committed_ids(tmp_path: Path) -> list[str]:
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as con:
        found = con.execute("SELECT distinct_id FROM mixpanel.engage ORDER BY 1").fetchall()
    return [r[0] for r in found]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"type": "RECORD", "stream": "engage", "record": {', "line 8: malformed JSON: "),
        ("[1, 2]", "line 8: a Singer message must be a JSON object"),
        (
            '{"type":"RECORD","stream":"other","record":{}}',
            "line 8: RECORD for stream 'other' before its SCHEMA",
        ),
        ('{"type":"FOO"}', "line 8: unknown message type 'FOO'"),
        (
            record(6, n="12"),
            "line 8: stream 'engage': property 'n': expected null or number, got string",
        ),
        (
            record(6, n=True),
            "line 8: stream 'engage': property 'n': expected null or number, got boolean",
        ),
        (
            record(6, seen="yesterday"),
            "line 8: stream 'engage': property 'seen': 'yesterday' is not an RFC 3339 date-time",
        ),
        (
            json.dumps({"type": "RECORD", "stream": "engage", "record": {"n": 1}}),
            "line 8: stream 'engage': key property 'distinct_id' is missing or null",
        ),
        (
            json.dumps({"type": "RECORD", "stream": "engage", "record": "u6"}),
            "line 8: stream 'engage': record is a JSON string, not an object",
        ),
        ('{"type":"STATE"}', "line 8: STATE without 'value'"),
        (
            '{"type":"SCHEMA","stream":"engage","schema":{"properties":{}},'
            '"key_properties":["id"]}',
            "line 8: stream 'engage': key properties ['id'] are not in the schema",
        ),
    ],
)
def test_bad_line_fails_after_committing_earlier_batches(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    done = run(tmp_path, [*GOOD, bad_line, record(7)])
    assert done.returncode == 1
    assert done.stderr.startswith(PROG + message)
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert done.stdout == '{"n":2}\n'
    assert committed_ids(tmp_path) == ["u1", "u2", "u3", "u4"]


def test_record_before_any_schema_fails_on_line_one(tmp_path: Path) -> None:
    done = run(tmp_path, [record(1)])
    assert done.returncode == 1
    assert done.stderr == PROG + "line 1: RECORD for stream 'engage' before its SCHEMA\n"


def test_bad_record_in_a_batch_file_names_the_file_and_line(tmp_path: Path) -> None:
    part = tmp_path / "part.jsonl"
    part.write_text('{"distinct_id": "b1"}\n{"distinct_id": "b2", "n": "x"}\n')
    batch = json.dumps({"type": "BATCH", "stream": "engage",
                        "encoding": {"format": "jsonl"}, "manifest": [part.as_uri()]})  # fmt: skip
    done = run(tmp_path, [*GOOD, batch])
    assert done.returncode == 1
    assert done.stderr == (
        f"{PROG}line 8 (BATCH file {part.as_uri()} line 2): stream 'engage': "
        "property 'n': expected null or number, got string\n"
    )
    # u5 (line 7) and b1 filled the third batch, which was committed before b2 was read.
    assert committed_ids(tmp_path) == ["b1", "u1", "u2", "u3", "u4", "u5"]


def test_missing_batch_file_is_reported(tmp_path: Path) -> None:
    uri = (tmp_path / "gone.jsonl").as_uri()
    batch = json.dumps({"type": "BATCH", "stream": "engage",
                        "encoding": {"format": "jsonl"}, "manifest": [uri]})  # fmt: skip
    done = run(tmp_path, [SCHEMA, batch])
    assert done.returncode == 1
    assert done.stderr.startswith(f"{PROG}line 2: cannot read BATCH file {uri}: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sink": "nope"}, "sink: unknown sink 'nope'; installed sinks: "),
        ({"batch_size_rows": 0}, "batch_size_rows: must be a positive integer"),
        ({"add_metadata_columns": "yes"}, "add_metadata_columns: must be true or false"),
        ({"path": None}, "path: required, the DuckDB file to write (alias: filepath)"),
        ({"default_target_schema": 5}, "default_target_schema: must be a non-empty string"),
    ],
)
def test_bad_setting_is_named_with_exit_code_2(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    done = run(tmp_path, GOOD, **config)
    assert done.returncode == 3
    assert done.stderr.startswith(PROG + message)
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stderr
    assert done.stdout == ""


def test_unknown_sink_lists_installed_sinks(tmp_path: Path) -> None:
    listed = subprocess.run([TARGET, "--list-sinks"], capture_output=True, text=True, check=True)
    names = ", ".join(line.split("\t")[0] for line in listed.stdout.splitlines())
    done = run(tmp_path, GOOD, sink="nope")
    assert done.stderr == f"{PROG}sink: unknown sink 'nope'; installed sinks: {names}\n"


def test_unwritable_path_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "out.duckdb"
    done = run(tmp_path, GOOD, path=str(path))
    assert done.returncode == 3
    assert done.stderr.startswith(f"{PROG}path: cannot open DuckDB file {str(path)!r}: ")
    assert "Traceback" not in done.stderr


def test_unreadable_config_names_the_option(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    done = subprocess.run(
        [TARGET, "--config", str(missing)], input="", capture_output=True, text=True, check=False
    )
    assert done.returncode == 3
    assert done.stderr == f"{PROG}--config file not found: {missing}\n"
