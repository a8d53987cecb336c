"""No gap in incremental syncs after a resume: the bookmark is capped at the first run's start.

A profile seen while a killed export was under way may sit on a page that run had already
emitted; the resumed run does not fetch it again. So the bookmark that the completed export
leaves must not pass the moment the *first* run started, whatever run finishes it: the signpost
travels in STATE with the export's position. The fake's profiles are stamped before mid-2025;
a signpost before some of them makes the cap visible.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tap_mixpanel_engage import sync
from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import BIN, run_tap, tap_config

EARLIER = "2025-03-01T00:00:00.000000Z"
"""A first run's start before the newest profiles' ``$last_seen`` (the fake's end 2025-06-30)."""


def _moment(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _first_run_state(api: FakeEngageAPI, tmp_path: Path) -> dict[str, Any]:
    """Run the tap until two pages are checkpointed, kill it, return its last STATE."""
    config = tmp_path / "first.json"
    config.write_text(json.dumps(tap_config(api, page_size=1000, max_workers=1)))
    before = datetime.now(UTC)
    last: dict[str, Any] = {}
    with subprocess.Popen(
        [str(BIN / "tap-mixpanel-engage"), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as tap:
        assert tap.stdout is not None
        for line in tap.stdout:
            message = json.loads(line)
            position = message.get("value", {}).get("bookmarks", {}).get("engage", {})
            if message["type"] == "STATE" and position.get("engage_position", {}).get("page") == 1:
                last = message["value"]
                os.kill(tap.pid, signal.SIGKILL)
                break
        tap.wait(timeout=30)
    signpost = last["bookmarks"]["engage"]["engage_position"]["signpost"]
    assert before <= _moment(signpost) <= datetime.now(UTC)  # fixed before page 0 went out
    return last


def _with_signpost(state: dict[str, Any], signpost: str) -> dict[str, Any]:
    state = copy.deepcopy(state)
    state["bookmarks"]["engage"]["engage_position"]["signpost"] = signpost
    return state


def test_a_resumed_tap_caps_its_bookmark_at_the_first_runs_start(
    fake_api: Callable[..., FakeEngageAPI], tmp_path: Path
) -> None:
    api = fake_api(profiles=5000, latency=0.05)
    state = _with_signpost(_first_run_state(api, tmp_path), EARLIER)
    resumed = run_tap(tmp_path, tap_config(api, page_size=1000, max_workers=1), state=state)
    assert resumed.returncode == 0, resumed.stderr
    newest = max(_moment(r["last_seen"]) for r in resumed.records if r["last_seen"])
    assert newest > _moment(EARLIER)  # without the cap the bookmark would move past it
    final = resumed.states[-1]["bookmarks"]["engage"]
    assert _moment(final["replication_key_value"]) == _moment(EARLIER)
    assert "engage_position" not in final


class _Stop(Exception):
    pass


def test_a_resumed_sync_caps_its_bookmark_at_the_first_runs_start(
    fake_api: Callable[..., FakeEngageAPI],
) -> None:
    api = fake_api(profiles=5000)
    saved: list[dict[str, Any]] = []

    def stop_at_page_3(progress: PageProgress) -> None:
        if progress.page == 3:
            raise _Stop

    config = tap_config(api, page_size=1000)
    with tempfile.TemporaryDirectory() as tmp:
        sink = {"path": str(Path(tmp) / "p.duckdb")}
        with pytest.raises(_Stop):
            sync(
                config,
                sink_config=sink,
                batch_size_rows=1000,
                on_page=stop_at_page_3,
                on_commit=lambda state: saved.append(dict(state)),
            )
        state = _with_signpost(saved[-1], EARLIER)
        result = sync(config, sink_config=sink, state=state)
    bookmark = result.state["bookmarks"]["engage"]["replication_key_value"]
    assert _moment(bookmark) == _moment(EARLIER)
