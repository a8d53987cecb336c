"""Deletions through real pipes: tap | target-mixpanel-duckdb into a real DuckDB file.

A full sync leaves the destination equal to the fake (profiles, group profiles, cohorts and
members that are gone are removed), an incremental sync removes nothing, and a sync killed
half-way removes nothing until the run that resumes it completes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import ALL_STREAMS as ALL
from tests.helpers import catalog_selecting, expected_keys, groups_of, table_keys, tap_config

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow
StartAPI = Callable[..., FakeEngageAPI]
PIPE = 'set -o pipefail; "$1" --config "$2" --catalog "$3" $4 | "$5" --config "$6" > "$7"'


def pipe(
    tmp_path: Path, config: dict[str, Any], streams: tuple[str, ...], state: Any = None
) -> list[dict[str, Any]]:
    """``tap | target`` in bash with ``streams`` selected; the STATEs the target printed."""
    (tmp_path / "tap.json").write_text(json.dumps(config))
    (tmp_path / "target.json").write_text(json.dumps({"path": str(tmp_path / "w.duckdb")}))
    state_args = ""
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        state_args = f"--state {tmp_path / 'state.json'}"
    catalog = catalog_selecting(tmp_path, config, *streams)
    tap, target = BIN / "tap-mixpanel-engage", BIN / "target-mixpanel-duckdb"
    args = [tap, tmp_path / "tap.json", catalog, state_args,
            target, tmp_path / "target.json", tmp_path / "out.jsonl"]  # fmt: skip
    done = subprocess.run(["bash", "-c", PIPE, "pipe", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]


def table(tmp_path: Path, stream: str) -> set[Any]:
    return table_keys(tmp_path / "w.duckdb", stream)


def delete_some_of_everything(api: FakeEngageAPI) -> None:
    cohort, doomed = api.cohort_ids()[:2]
    api.delete(13)
    api.leave_cohort(cohort, 8)
    api.delete(5, data_group_id=api.settings.groups[1][0])
    api.delete_cohort(doomed)


def test_a_full_sync_removes_exactly_the_rows_that_are_gone(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2500, cohorts=3, cohort_ghosts=2)
    config = tap_config(api, page_size=500, groups=groups_of(api))
    pipe(tmp_path, config, ALL)
    before = {s: table(tmp_path, s) for s in ALL}
    assert before == expected_keys(api)
    delete_some_of_everything(api)
    after_deletions = expected_keys(api)
    assert all(after_deletions[s] < before[s] for s in ALL)

    pipe(tmp_path, config, ALL)  # no state: a full sync of every stream

    assert {s: table(tmp_path, s) for s in ALL} == after_deletions


def test_an_incremental_sync_removes_nothing(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=2500, cohorts=3)
    config = tap_config(api, page_size=500, groups=groups_of(api))
    incremental = ("engage", "group_profiles")
    states = pipe(tmp_path, config, incremental)
    before = {s: table(tmp_path, s) for s in incremental}
    delete_some_of_everything(api)
    touched = set(api.touch(6))

    pipe(tmp_path, config, incremental, state=states[-1])

    assert {s: table(tmp_path, s) for s in incremental} == before
    assert touched <= before["engage"]


def test_a_sync_killed_half_way_removes_nothing_until_its_resume_completes(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=8000, latency=0.05)
    config = tap_config(api, page_size=500, max_workers=2)
    pipe(tmp_path, config, ("engage",))
    gone = set(api.delete(20))
    catalog = catalog_selecting(tmp_path, config, "engage")
    tap_cmd = [str(BIN / "tap-mixpanel-engage"), "--config", str(tmp_path / "tap.json"),
               "--catalog", str(catalog)]  # fmt: skip
    target_cmd = [str(BIN / "target-mixpanel-duckdb"), "--config", str(tmp_path / "target.json")]
    with (
        subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as tap,
        subprocess.Popen(target_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as target,
    ):
        assert tap.stdout is not None and target.stdin is not None
        for line in tap.stdout:
            target.stdin.write(line)  # the pipe, one line at a time, until the kill
            message = json.loads(line)
            engage = message.get("value", {}).get("bookmarks", {}).get("engage", {})
            if message["type"] == "STATE" and engage.get("engage_position", {}).get("page") == 6:
                os.kill(tap.pid, signal.SIGKILL)
                break
        printed, _ = target.communicate(timeout=60)  # end of input: the target commits
    assert target.returncode == 0
    assert gone <= table(tmp_path, "engage")  # the full sync did not finish: nothing removed
    last_state = json.loads(printed.splitlines()[-1])

    pipe(tmp_path, config, ("engage",), state=last_state)

    assert table(tmp_path, "engage") == api.expected_ids()
