"""Shared test helpers: tap settings for a fake API, and running the real tap as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_mixpanel_engage.fake_api import FakeEngageAPI

BIN = Path(sys.executable).parent


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
