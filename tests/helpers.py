"""Shared test helpers: tap settings for a fake API, and running the real tap as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI

BIN = Path(sys.executable).parent
ALL_STREAMS = ("engage", "group_profiles", "cohorts", "cohort_members")
TABLE_KEYS = {
    "engage": "distinct_id",
    "group_profiles": "data_group_id, distinct_id",
    "cohorts": "id",
    "cohort_members": "cohort_id, distinct_id",
}
"""Each stream's key columns, as SQL."""


@dataclass
class TapRun:
    """What one tap process did."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]]

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD"]

    @property
    def ids(self) -> list[str]:
        return [r["distinct_id"] for r in self.records]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]


def tap_config(api: FakeEngageAPI, **overrides: Any) -> dict[str, Any]:
    """Service-account settings that reach ``api``."""
    s = api.settings
    return {
        "project_id": s.project_id,
        "username": s.username,
        "secret": s.secret,
        "api_url": api.url,
        **overrides,
    }


def run_tap(
    tmp_path: Path,
    config: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 300,
) -> TapRun:
    """Run ``tap-mixpanel-engage`` for real and parse what it printed."""
    config_path = tmp_path / "tap.json"
    config_path.write_text(json.dumps(config))
    command = [str(BIN / "tap-mixpanel-engage"), "--config", str(config_path), *args]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return TapRun(proc.returncode, proc.stdout, proc.stderr, messages)


class StepClock:
    """A clock for one thread: ``sleep`` moves time forward at once and records the wait."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float, cancelled: threading.Event) -> bool:
        self.sleeps.append(seconds)
        self.time += max(seconds, 0.0)
        return cancelled.is_set()


def records_of(run: TapRun, stream: str) -> list[dict[str, Any]]:
    """The RECORD payloads of one stream, in order."""
    return [m["record"] for m in run.messages if m["type"] == "RECORD" and m["stream"] == stream]


def catalog_selecting(tmp_path: Path, config: dict[str, Any], *streams: str) -> Path:
    """A catalog file from the tap's discovery with exactly ``streams`` selected."""
    from tap_mixpanel_engage.tap.tap import TapMixpanelEngage

    catalog: dict[str, Any] = TapMixpanelEngage(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def groups_of(api: FakeEngageAPI) -> list[dict[str, str]]:
    """The ``groups`` setting naming every group key the fake serves."""
    return [
        {"data_group_id": group_id, "group_key": f"key{n}"}
        for n, (group_id, _) in enumerate(api.settings.groups)
    ]


def table_keys(db: Path, stream: str, where: str = "true") -> set[Any]:
    """The key of every row of ``stream`` in the DuckDB file ``db`` (a tuple for composite keys)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"SELECT {TABLE_KEYS[stream]} FROM mixpanel.{stream} WHERE {where}")
        return {row[0] if len(row) == 1 else row for row in rows.fetchall()}


def expected_keys(api: FakeEngageAPI) -> dict[str, set[Any]]:
    """The keys each stream's table should hold after a full sync of ``api``."""
    return {
        "engage": api.expected_ids(),
        "group_profiles": {
            (g, d) for g, _ in api.settings.groups for d in api.expected_ids(data_group_id=g)
        },
        "cohorts": set(api.cohort_ids()),
        "cohort_members": api.expected_members(),
    }


def count_budget_draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the id of the hourly budget every query draws on (a list that fills as they go)."""
    from tap_mixpanel_engage.engage.pacing import HourlyBudget

    drawn: list[int] = []
    acquire = HourlyBudget.acquire

    def counted(self: HourlyBudget, *args: Any, **kwargs: Any) -> tuple[float, float]:
        drawn.append(id(self))
        return acquire(self, *args, **kwargs)

    monkeypatch.setattr(HourlyBudget, "acquire", counted)
    return drawn


def run_until_killed(
    tmp_path: Path,
    config: dict[str, Any],
    catalog: Path | None,
    stop: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the tap and SIGKILL it at the first STATE ``stop`` accepts: the messages and that
    STATE."""
    (tmp_path / "tap.json").write_text(json.dumps(config))
    command = [str(BIN / "tap-mixpanel-engage"), "--config", str(tmp_path / "tap.json")]
    messages: list[dict[str, Any]] = []
    with subprocess.Popen(
        [*command, *(["--catalog", str(catalog)] if catalog is not None else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            messages.append(json.loads(line))
            if messages[-1]["type"] == "STATE" and stop(messages[-1]["value"]):
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(timeout=30)
    assert messages[-1]["type"] == "STATE", "the tap finished before the kill"
    return messages, messages[-1]["value"]
