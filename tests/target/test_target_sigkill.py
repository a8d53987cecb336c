"""SIGKILL mid-load: the file opens, holds only committed batches, and a rerun completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

TARGET = Path(sys.executable).parent / "target-mixpanel-duckdb"
CHUNK = 500  # records per STATE, and batch_size_rows: every STATE closes one batch
CHUNKS = 10

SCHEMA = {
    "type": "SCHEMA",
    "stream": "engage",
    "schema": {
        "properties": {
            "distinct_id": {"type": "string"},
            "properties": {"type": ["null", "object"]},
            "last_seen": {"type": ["null", "string"], "format": "date-time"},
        }
    },
    "key_properties": ["distinct_id"],
}


def chunk_ids(chunk: int) -> list[str]:
    return [f"u{chunk * CHUNK + i:06d}" for i in range(CHUNK)]


def chunk_lines(chunk: int) -> bytes:
    """One chunk of records followed by the STATE a tap would emit after them."""
    lines = []
    for distinct_id in chunk_ids(chunk):
        props: dict[str, Any] = {f"p{j}": f"value {j} for {distinct_id}" for j in range(20)}
        props["chunk"] = chunk
        record = {"distinct_id": distinct_id, "properties": props,
                  "last_seen": "2024-06-09T23:08:40Z"}  # fmt: skip
        lines.append(json.dumps({"type": "RECORD", "stream": "engage", "record": record}))
    lines.append(json.dumps({"type": "STATE", "value": {"chunks_done": chunk + 1}}))
    return ("\n".join(lines) + "\n").encode()


def start_target(config_path: Path) -> subprocess.Popen[bytes]:
    target = subprocess.Popen(
        [TARGET, "--config", str(config_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert target.stdin is not None
    target.stdin.write((json.dumps(SCHEMA) + "\n").encode())
    return target


def loaded_ids(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT distinct_id FROM mixpanel.engage ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_sigkill_keeps_committed_batches_and_rerun_from_last_state_completes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "out.duckdb"
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"path": str(db), "batch_size_rows": CHUNK}))
    target = start_target(config)
    assert target.stdin is not None and target.stdout is not None
    states: list[int] = []
    try:
        for chunk in range(3):  # wait for each STATE: these batches are surely committed
            target.stdin.write(chunk_lines(chunk))
            target.stdin.flush()
            states.append(json.loads(target.stdout.readline())["chunks_done"])
        assert states == [1, 2, 3]
        for chunk in range(3, 6):  # these may or may not be committed when the kill lands
            target.stdin.write(chunk_lines(chunk))
            target.stdin.flush()
    finally:
        os.kill(target.pid, signal.SIGKILL)
        target.wait()
        late = target.stdout.read().splitlines()
        target.stdin.close()
        target.stdout.close()
        assert target.stderr is not None
        target.stderr.close()
    assert target.returncode == -signal.SIGKILL
    states += [json.loads(line)["chunks_done"] for line in late if line.endswith(b"}")]
    last_state = states[-1]

    ids = loaded_ids(db)
    committed_chunks = len(ids) // CHUNK
    assert 3 <= last_state <= committed_chunks <= 6
    assert ids == sorted(i for c in range(committed_chunks) for i in chunk_ids(c))

    rerun = subprocess.run(
        [TARGET, "--config", str(config)],
        input=json.dumps(SCHEMA).encode()
        + b"\n"
        + b"".join(chunk_lines(c) for c in range(last_state, CHUNKS)),
        capture_output=True,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[-1] == b'{"chunks_done":10}'
    assert loaded_ids(db) == sorted(i for c in range(CHUNKS) for i in chunk_ids(c))
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT properties FROM mixpanel.engage WHERE distinct_id = 'u000007'"
        ).fetchone()
    assert row is not None
    assert json.loads(row[0])["p3"] == "value 3 for u000007"
