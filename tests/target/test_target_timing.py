"""The target on slow input: records held commit after the wait limit; signals commit first."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import duckdb
import pytest

from tests.target.test_target_cli import record_message, schema_message, state

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"


def _start(tmp_path: Path, **config: Any) -> subprocess.Popen[bytes]:
    path = tmp_path / "target.json"
    path.write_text(json.dumps({"path": str(tmp_path / "out.duckdb"), **config}))
    return subprocess.Popen(
        [TARGET, "--config", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _send(target: subprocess.Popen[bytes], *messages: dict[str, Any]) -> None:
    assert target.stdin is not None
    target.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    target.stdin.flush()


def _read_line(stream: IO[bytes] | None, timeout: float) -> bytes:
    """One line of ``stream``, or b"" if none arrives within ``timeout`` seconds."""
    assert stream is not None
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else b""


def _ids(tmp_path: Path) -> list[str]:
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT distinct_id FROM mixpanel.engage ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_records_held_are_committed_after_the_wait_limit_while_the_input_stays_open(
    tmp_path: Path,
) -> None:
    target = _start(tmp_path, batch_size_rows=10_000, batch_wait_limit_seconds=0.2)
    try:
        _send(target, schema_message(), record_message(1), record_message(2), state(2))
        # The batch is far from full and the pipe stays open: the commit comes from the limit.
        line = _read_line(target.stdout, timeout=60)
        assert json.loads(line) == state(2)["value"]
        assert target.poll() is None
    finally:
        assert target.stdin is not None and target.stdout is not None
        target.stdin.close()
        target.wait(timeout=60)
        target.stdout.close()
        if target.stderr is not None:
            target.stderr.close()
    assert target.returncode == 0
    assert _ids(tmp_path) == ["u1", "u2"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_commits_what_was_received_prints_its_state_and_exits_non_zero(
    tmp_path: Path, signum: int
) -> None:
    target = _start(tmp_path, batch_size_rows=10_000, batch_wait_limit_seconds=0.5)
    _send(target, schema_message(), record_message(1), record_message(2), state(2))
    first = _read_line(target.stdout, timeout=60)  # the target is loading: its handlers are set
    _send(target, record_message(3))
    target.send_signal(signum)
    _send(target, state(3))  # a tap stopped by the same Ctrl-C writes its last STATE, then ends
    assert target.stdin is not None and target.stdout is not None and target.stderr is not None
    target.stdin.close()
    out, err = target.stdout.read(), target.stderr.read()
    target.wait(timeout=60)
    target.stdout.close()
    target.stderr.close()
    assert target.returncode == 128 + signum
    assert [json.loads(line) for line in [first, *out.splitlines()]] == [
        state(2)["value"],
        state(3)["value"],
    ]
    assert b"every record received is committed" in err
    assert b"Traceback" not in err
    assert _ids(tmp_path) == ["u1", "u2", "u3"]


def test_a_bad_wait_limit_is_a_settings_error(tmp_path: Path) -> None:
    target = _start(tmp_path, batch_wait_limit_seconds=0)
    _, err = target.communicate(b"", timeout=60)
    assert target.returncode == 3
    assert b"batch_wait_limit_seconds: must be a positive number" in err
