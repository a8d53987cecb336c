"""The target applies RECORD versions and ACTIVATE_VERSION through real pipes into DuckDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.target.test_target_cli import record_message, rows, run_target, schema_message, state


def versioned(i: int, version: int | None) -> dict[str, Any]:
    message = record_message(i)
    if version is not None:
        message["version"] = version
    return message


def activate(version: Any, stream: str = "engage") -> dict[str, Any]:
    return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}


def versions(tmp_path: Path) -> list[tuple[Any, ...]]:
    return rows(
        tmp_path,
        "SELECT distinct_id, _sdc_table_version, _sdc_deleted_at IS NOT NULL "
        "FROM mixpanel.engage ORDER BY 1",
    )


def full_sync(tmp_path: Path, version: int, ids: range, **config: Any) -> list[dict[str, Any]]:
    """One full sync of ``ids``: records, STATEs between them, the activation, a last STATE."""
    messages: list[dict[str, Any]] = [schema_message()]
    for i in ids:
        messages += [versioned(i, version), state(i)]
    messages += [activate(version), state(1000 + version)]
    done = run_target(tmp_path, messages, batch_size_rows=2, **config)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_full_sync_removes_the_rows_of_older_versions_and_keeps_its_own(tmp_path: Path) -> None:
    full_sync(tmp_path, 10, range(5))
    assert versions(tmp_path) == [(f"u{i}", 10, False) for i in range(5)]
    printed = full_sync(tmp_path, 20, range(3))
    assert versions(tmp_path) == [(f"u{i}", 20, False) for i in range(3)]
    # Every STATE came out, in order, the last one after the commit holding the activation.
    assert printed == [s["value"] for s in (*(state(i) for i in range(3)), state(1020))]


def test_without_hard_delete_the_rows_that_are_gone_are_marked(tmp_path: Path) -> None:
    full_sync(tmp_path, 10, range(4), hard_delete=False)
    full_sync(tmp_path, 20, range(2), hard_delete=False)
    assert versions(tmp_path) == [("u0", 20, False), ("u1", 20, False),
                                  ("u2", 10, True), ("u3", 10, True)]  # fmt: skip


def test_records_without_an_activation_delete_nothing(tmp_path: Path) -> None:
    full_sync(tmp_path, 10, range(3))
    incremental = [schema_message(), versioned(0, None), versioned(7, None), state(7)]
    interrupted = [schema_message(), versioned(1, 20), state(8)]  # a full sync that stopped
    for messages in (incremental, interrupted):
        done = run_target(tmp_path, messages)
        assert done.returncode == 0, done.stderr
    assert versions(tmp_path) == [("u0", None, False), ("u1", 20, False), ("u2", 10, False),
                                  ("u7", None, False)]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (activate("7"), "line 2: ACTIVATE_VERSION 'version' must be a whole number, got '7'"),
        (activate(True), "line 2: ACTIVATE_VERSION 'version' must be a whole number, got True"),
        (activate(7, "other"), "line 2: ACTIVATE_VERSION for stream 'other' before its SCHEMA"),
        ({**record_message(1), "version": 1.5}, "line 2: RECORD 'version' must be a whole number"),
    ],
)
def test_a_bad_version_is_bad_input_naming_the_line(
    tmp_path: Path, message: dict[str, Any], error: str
) -> None:
    done = run_target(tmp_path, [schema_message(), message])
    assert done.returncode == 1
    assert error in done.stderr
    assert "Traceback" not in done.stderr


def test_hard_delete_must_be_a_boolean(tmp_path: Path) -> None:
    done = run_target(tmp_path, [schema_message()], hard_delete="no")
    assert done.returncode == 3
    assert "hard_delete: must be true or false" in done.stderr
