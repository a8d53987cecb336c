"""``python -m tap_mixpanel_engage.fake_api``: starts, serves the same bytes each run, stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

AUTH = ("svc-user", "svc-secret")
BANNER = "fake Engage API listening on http://127.0.0.1:"


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tap_mixpanel_engage.fake_api", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()  # blocks until the server is listening
    assert line.startswith(BANNER), line
    return proc, line.removeprefix("fake Engage API listening on ")


def _stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def _page(url: str, **params: object) -> requests.Response:
    data = {"project_id": 1234, **params}
    return requests.post(f"{url}/api/query/engage", data=data, auth=AUTH, timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_a_signal_then_exits_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    ready = tmp_path / "ready"
    proc, url = _start("--profiles", "1234", "--seed", "3", "--ready-file", str(ready))
    try:
        assert ready.read_text().strip() == url
        body = _page(url, page_size=100).json()
        assert (body["total"], len(body["results"])) == (1234, 100)
        stats = requests.get(f"{url}/_fake/stats", timeout=10).json()
        assert stats["pages_served"] == {"0": 1}
    finally:
        code, out, err = _stop(proc, sig)
    assert (code, out, err) == (0, "", "")


def test_two_servers_with_the_same_seed_serve_the_same_bytes() -> None:
    results = []
    for _ in range(2):
        proc, url = _start("--profiles", "500", "--seed", "77")
        try:
            first = _page(url, page_size=200).json()
            second = _page(url, page_size=200, session_id=first["session_id"], page=1).json()
            results.append(json.dumps([first["results"], second["results"]]))
        finally:
            assert _stop(proc, signal.SIGTERM)[0] == 0
    assert results[0] == results[1]


def test_cli_rejects_bad_settings_without_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tap_mixpanel_engage.fake_api", "--fault-kinds", "boom"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: fault_kinds must be")


def test_cli_serves_the_group_keys_and_cohorts_it_is_given() -> None:
    proc, url = _start("--profiles", "300", "--group=-7=40", "--cohorts", "2")
    try:
        group = _page(url, data_group_id="-7").json()
        assert group["total"] == 40
        listed = requests.post(f"{url}/api/query/cohorts/list", params={"project_id": 1234},
                               auth=AUTH, timeout=10).json()  # fmt: skip
        assert len(listed) == 2
    finally:
        assert _stop(proc, signal.SIGTERM)[0] == 0


def test_cli_rejects_a_malformed_group() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tap_mixpanel_engage.fake_api", "--group", "abc"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr == "error: --group must be DATA_GROUP_ID=PROFILES\n"
