"""User errors end promptly, with a clear message, a non-zero exit, no traceback, no secret."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import BIN, TapRun, run_tap, tap_config

StartAPI = Callable[..., FakeEngageAPI]
SECRET = "svc-secret-do-not-print"


def _assert_clean_failure(run: TapRun, fragment: str, code: int | None = None) -> None:
    assert run.returncode != 0
    if code is not None:
        assert run.returncode == code
    assert fragment in run.stderr
    assert "Traceback" not in run.stderr
    assert SECRET not in run.stderr + run.stdout
    assert "123456789" not in run.stderr + run.stdout


@pytest.mark.parametrize(
    ("overrides", "fragment", "code"),
    [
        ({"secret": "wrong"}, "refused the credentials", 2),
        ({"project_id": 999}, "`project_id`", 2),
        ({"region": "mars"}, "unknown `region`", 3),
        ({"max_workers": 9}, "`max_workers` must be between 1 and 5", 3),
        ({"secret": 123456789}, "`secret` must be a string", 3),
        ({"page_size": "lots"}, "`page_size` must be a whole number", 3),
        ({"project_id": "12x4"}, "`project_id` must be a whole number", 3),
        ({"workspace_id": "1.5"}, "`workspace_id` must be a whole number", 3),
        ({"where": 'properties["$last_seen" >>= 3'}, "check the `where` setting", 1),
        ({"api_secret": "x"}, "not both", 3),
    ],
)
def test_bad_settings_and_credentials_fail_clearly(
    fake_api: StartAPI,
    tmp_path: Path,
    overrides: dict[str, Any],
    fragment: str,
    code: int | None,
) -> None:
    api = fake_api(profiles=50, secret=SECRET)
    run = run_tap(tmp_path, tap_config(api, **overrides), timeout=60)
    _assert_clean_failure(run, fragment, code)
    assert run.records == []


def test_a_402_says_the_plan_lacks_api_access(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=50, secret=SECRET, fail_with_status=402)
    run = run_tap(tmp_path, tap_config(api), timeout=60)
    _assert_clean_failure(run, "plan does not include API access", 1)


def test_test_mode_closes_the_export_early_and_exits(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=20_000, latency=0.3, secret=SECRET)
    run = run_tap(tmp_path, tap_config(api), args=("--test",), timeout=60)
    assert run.returncode == 0, run.stderr
    # --test selects every stream and stops each after one record (no groups are configured).
    streams = [m["stream"] for m in run.messages if m["type"] == "RECORD"]
    assert sorted(streams) == ["cohort_members", "cohorts", "engage"]
    # No stream completed, so none asks the target to delete anything.
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    # Two exports (engage, one cohort's members): page 0, then at most the window's worth of
    # pages before the close cancelled the rest.
    assert sum(api.stats.pages_served.values()) <= 2 * (1 + 5 + 3)


def test_interrupt_stops_the_tap_promptly_without_a_traceback(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=50_000, latency=0.3, secret=SECRET)
    config = tmp_path / "tap.json"
    config.write_text(json.dumps(tap_config(api)))
    err_path = tmp_path / "stderr.txt"
    with (
        err_path.open("w") as err,
        subprocess.Popen(
            [str(BIN / "tap-mixpanel-engage"), "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            if '"RECORD"' in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.stdout.read()
        assert proc.wait(timeout=20) == 128 + signal.SIGINT
    errors = err_path.read_text()
    assert "Traceback" not in errors
    assert SECRET not in errors
