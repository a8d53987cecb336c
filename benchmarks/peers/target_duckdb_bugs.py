"""Reproduce the known target-duckdb 0.8.0 defects with tiny Singer inputs.

Run: ``.venv/bin/python -m benchmarks.peers.target_duckdb_bugs`` (creates the peer venv on first
use). Each case feeds a few hand-written messages to the real peer and prints what it stored or
how it failed, so docs/peers.md can say exactly what was seen rather than what was reported.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.peers.target_duckdb import query_peer_db, run_peer_target, target_config

Message = dict[str, Any]


def _schema(props: dict[str, Any], key: str = "id", stream: str = "t") -> Message:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": props},
        "key_properties": [key],
    }


def _record(rec: dict[str, Any], stream: str = "t") -> Message:
    return {"type": "RECORD", "stream": stream, "record": rec}


STR = {"type": ["null", "string"]}
TS = {"type": ["null", "string"], "format": "date-time"}
INT = {"type": ["null", "integer"]}


@dataclass(frozen=True)
class Case:
    """One defect: input messages, and the SQL whose answer shows it (None: look at the exit)."""

    name: str
    messages: list[Message]
    sql: str | None
    expected: str


CASES = [
    Case(
        "first row of an all-string batch dropped",
        [
            _schema({"id": STR, "name": STR}),
            *(_record({"id": f"u{i}", "name": f"n{i}"}) for i in range(3)),
        ],
        "SELECT id FROM mixpanel.t ORDER BY id",
        "u0, u1, u2",
    ),
    Case(
        "first row dropped when a date-time carries a zone (Z), int key",
        [
            _schema({"id": INT, "ts": TS}),
            *(_record({"id": i, "ts": "2024-06-09T23:08:40Z"}) for i in (1, 2, 3)),
        ],
        "SELECT id FROM mixpanel.t ORDER BY id",
        "1, 2, 3",
    ),
    Case(
        '"" stored as NULL',
        [_schema({"id": INT, "s": STR}), _record({"id": 1, "s": ""})],
        "SELECT s IS NULL, s FROM mixpanel.t",
        "s = '' (not NULL)",
    ),
    Case(
        "timestamp offset dropped",
        [
            _schema({"id": INT, "ts": TS}),
            *(_record({"id": i, "ts": "2024-06-09T23:08:40+02:00"}) for i in (1, 2, 3)),
        ],
        "SELECT id, CAST(ts AS VARCHAR), typeof(ts) FROM mixpanel.t ORDER BY id",
        "the instant 2024-06-09 21:08:40 UTC (or the +02:00 kept)",
    ),
    Case(
        "case twins collide (names lowercased)",
        [
            _schema({"id": INT, "Plan": STR, "plan": STR}),
            _record({"id": 1, "Plan": "A", "plan": "b"}),
        ],
        "SELECT * FROM mixpanel.t",
        "two columns Plan and plan",
    ),
    Case(
        "quote in a column name",
        [_schema({"id": INT, 'say "hi"': STR}), _record({"id": 1, 'say "hi"': "x"})],
        "SELECT * FROM mixpanel.t",
        'a column named say "hi"',
    ),
    Case(
        "BATCH message rejected",
        [
            _schema({"id": INT}),
            {
                "type": "BATCH",
                "stream": "t",
                "encoding": {"format": "jsonl", "compression": "none"},
                "manifest": [],
            },
        ],
        None,
        "BATCH accepted (or ignored)",
    ),
    Case(
        "duplicate key replaces the whole row",
        [
            _schema({"id": INT, "a": STR, "b": STR}),
            _record({"id": 1, "a": "x", "b": "y"}),
            _schema({"id": INT, "a": STR, "b": STR}),
            _record({"id": 1, "b": "z"}),
        ],
        "SELECT a, b FROM mixpanel.t",
        "a = x kept (a is absent from the update), or documented replace",
    ),
    Case(
        "anyOf property schema (what tap-mixpanel emits) crashes the load",
        [
            _schema({"id": INT, "p": {"anyOf": [STR, {"type": ["null", "boolean"]}]}}),
            _record({"id": 1, "p": "x"}),
        ],
        "SELECT * FROM mixpanel.t",
        "p loaded (as VARCHAR or JSON)",
    ),
    Case(
        "column renamed when its type changes",
        [
            _schema({"id": INT, "n": INT}),
            _record({"id": 1, "n": 5}),
            _schema({"id": INT, "n": STR}),
            _record({"id": 2, "n": "five"}),
        ],
        "SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY 1",
        "one column n",
    ),
]


def run_case(case: Case, work: Path) -> str:
    """Run one case in ``work`` and describe the outcome in one line."""
    db = work / "peer.duckdb"
    singer_input = work / "in.jsonl"
    singer_input.write_text("".join(json.dumps(m) + "\n" for m in case.messages))
    done = run_peer_target(singer_input, target_config(db), work / "config.json")
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if "Error" in ln or "Exception" in ln]
        last = errors[-1:] or done.stderr.splitlines()[-1:]
        return f"exit {done.returncode}: {last[0] if last else ''}"
    if case.sql is None:
        return "exit 0"
    return f"exit 0, {case.sql!r} -> {query_peer_db(db, case.sql)}"


def main(report: Callable[[str], None] = print) -> None:
    """Run every case in a fresh folder and report observed vs expected."""
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="peer-target-duckdb-") as tmp:
            report(
                f"## {case.name}\n  expected: {case.expected}\n  observed: "
                f"{run_case(case, Path(tmp))}"
            )


if __name__ == "__main__":
    main()
