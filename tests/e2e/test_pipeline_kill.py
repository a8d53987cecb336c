"""``tap | target`` killed with SIGKILL mid-export and rerun from the last STATE the target printed.

The target commits every second whatever the batch size, so a kill costs about the pages in
flight: the rerun fetches at most 10 pages again at 0.5 s per query, and the table is exact.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import BIN, tap_config

PAGES = 40


def _pipeline(tmp_path: Path, api: FakeEngageAPI, state: dict[str, Any] | None) -> list[str]:
    tap, target = tmp_path / "tap.json", tmp_path / "target.json"
    tap.write_text(json.dumps(tap_config(api, page_size=1000)))
    target.write_text(json.dumps({"path": str(tmp_path / "out.duckdb")}))
    tap_command = [str(BIN / "tap-mixpanel-engage"), "--config", str(tap)]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        tap_command += ["--state", str(tmp_path / "state.json")]
    target_command = [str(BIN / "target-mixpanel-duckdb"), "--config", str(target)]
    return ["bash", "-c", f"{shlex.join(tap_command)} | {shlex.join(target_command)}"]


@pytest.mark.slow
def test_a_killed_pipeline_reruns_from_its_last_state_refetching_few_pages(
    fake_api: Callable[..., FakeEngageAPI], tmp_path: Path
) -> None:
    api = fake_api(profiles=PAGES * 1000, latency=0.5)
    states: list[dict[str, Any]] = []
    with subprocess.Popen(
        _pipeline(tmp_path, api, None),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as first:
        assert first.stdout is not None
        for line in first.stdout:
            states.append(json.loads(line))
            if len(states) == 3:
                os.killpg(first.pid, signal.SIGKILL)
                break
        first.wait(timeout=60)
    position = states[-1]["bookmarks"]["engage"]["engage_position"]
    assert position["page"] < PAGES - 1  # killed mid-export
    deadline = time.monotonic() + 60
    while api.stats.snapshot()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)  # queries the killed tap sent still get their answers: they count
    served = dict(api.stats.pages_served)

    rerun = subprocess.run(
        _pipeline(tmp_path, api, states[-1]), capture_output=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as con:
        ids = {r[0] for r in con.execute("SELECT distinct_id FROM mixpanel.engage").fetchall()}
    assert ids == api.expected_ids()
    twice = [page for page, count in api.stats.pages_served.items() if count > served.get(page, 0)]
    refetched = [page for page in twice if served.get(page, 0) > 0]
    assert all(page > position["page"] for page in refetched)
    assert len(refetched) <= 10, refetched
