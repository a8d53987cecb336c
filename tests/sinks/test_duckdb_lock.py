"""A DuckDB file another pipeline is writing: a one-line settings error naming the ways out."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_mixpanel_engage.sinks.contract import SinkConfigError
from tap_mixpanel_engage.sinks.duckdb_sink import DuckDBSink

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"
HOLDER = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); input()"
"""Another process with the file open for writing, until its stdin closes."""


@pytest.fixture
def held_file(tmp_path: Path) -> Iterator[Path]:
    """A DuckDB file held open by another process for the duration of the test."""
    path = tmp_path / "shared.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline() == "open\n"  # it holds the lock from here on
        yield path
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
        holder.stdout.close()


def test_a_locked_file_names_the_other_process_and_the_ways_out(held_file: Path) -> None:
    with pytest.raises(SinkConfigError) as caught:
        DuckDBSink({"path": str(held_file)})
    message = str(caught.value)
    assert message.startswith(f"path: cannot open DuckDB file {str(held_file)!r}: ")
    assert "Could not set lock" in message
    assert message.endswith(
        "; another pipeline holds it: use one file per pipeline, or sink 'postgres'"
    )


def test_the_target_exits_3_with_one_line_when_its_file_is_locked(
    held_file: Path, tmp_path: Path
) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"path": str(held_file)}))
    done = subprocess.run(
        [str(TARGET), "--config", str(config)], input="", capture_output=True, text=True
    )
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert line.startswith("target-mixpanel-duckdb: error: path: cannot open DuckDB file")
    assert line.endswith("use one file per pipeline, or sink 'postgres'")


def test_other_open_failures_keep_their_message_without_the_hint(tmp_path: Path) -> None:
    with pytest.raises(SinkConfigError, match="cannot open DuckDB file") as caught:
        DuckDBSink({"path": str(tmp_path / "missing-dir" / "x.duckdb")})
    assert "postgres" not in str(caught.value)
