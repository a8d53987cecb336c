"""``mixpanel-engage`` as users run it: a real process, real files, exit codes and messages."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tap_mixpanel_engage.sinks.registry import installed_sinks
from tests.helpers import BIN, tap_config

StartAPI = Callable[..., FakeEngageAPI]
SECRET = "cli-secret-7f3a9c"
CLI = str(BIN / "mixpanel-engage")


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


def run_cli(*args: str | Path) -> CliRun:
    proc = subprocess.run(
        [CLI, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )
    run = CliRun(proc.returncode, proc.stdout, proc.stderr)
    assert SECRET not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    return run


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "tap.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


def table_ids(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {i for (i,) in con.execute("SELECT distinct_id FROM mixpanel.engage").fetchall()}


@pytest.fixture
def api(fake_api: StartAPI) -> FakeEngageAPI:
    return fake_api(profiles=2500, secret=SECRET)


def test_sync_writes_every_profile_and_prints_the_result(
    api: FakeEngageAPI, tmp_path: Path
) -> None:
    config = write_config(tmp_path, tap_config(api))
    db = tmp_path / "profiles.duckdb"
    run = run_cli("sync", "--config", config, "--path", db)
    assert run.returncode == 0, run.stderr
    assert run.result["records_written"] == 2500
    assert run.result["pages_fetched"] == 3
    assert set(run.result["state"]["bookmarks"]["engage"]) == {
        "replication_key",
        "replication_key_value",
    }
    assert table_ids(db) == api.expected_ids()
    # Not a terminal: plain progress lines on stderr, one per page.
    assert [line for line in run.stderr.splitlines() if "progress: pages" in line][-1].startswith(
        "INFO progress: pages 3/3, records 2500,"
    )


def test_the_state_file_is_written_and_makes_the_next_run_incremental(
    api: FakeEngageAPI, tmp_path: Path
) -> None:
    config = write_config(tmp_path, tap_config(api))
    state = tmp_path / "state.json"
    first = run_cli("sync", "--config", config, "--path", tmp_path / "a.duckdb", "--state", state)
    assert first.returncode == 0, first.stderr
    saved = json.loads(state.read_text())
    assert saved == first.result["state"]
    bookmark = saved["bookmarks"]["engage"]["replication_key_value"]
    touched = set(api.touch(7))

    second = run_cli("sync", "--config", config, "--path", tmp_path / "b.duckdb", "--state", state)

    assert second.returncode == 0, second.stderr
    written = table_ids(tmp_path / "b.duckdb")
    assert touched <= written
    assert written == api.expected_ids(where=f'properties["$last_seen"] >= "{bookmark[:19]}"')
    assert second.result["records_written"] == len(written)
    assert second.result["pages_fetched"] == 1
    assert json.loads(state.read_text()) == second.result["state"]
    assert not (tmp_path / "state.json.tmp").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_workers": 9}, "`max_workers` must be between 1 and 5"),
        ({"secret": None}, "credentials missing"),
        ({"region": "mars"}, "unknown `region`"),
    ],
)
def test_bad_settings_exit_3_with_the_setting_named(
    api: FakeEngageAPI, tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    config = write_config(tmp_path, {**tap_config(api), **overrides})
    run = run_cli("sync", "--config", config, "--path", tmp_path / "x.duckdb")
    assert run.returncode == 3
    assert f"mixpanel-engage: error: {message}" in run.stderr
    assert run.stdout == ""
    assert api.stats.snapshot()["requests"] == 0


def test_an_unknown_sink_exits_3_and_lists_the_installed_ones(
    api: FakeEngageAPI, tmp_path: Path
) -> None:
    config = write_config(tmp_path, tap_config(api))
    run = run_cli("sync", "--config", config, "--sink", "nope", "--path", tmp_path / "x")
    assert run.returncode == 3
    installed = ", ".join(installed_sinks())
    assert run.stderr.strip().endswith(
        f"mixpanel-engage: error: sink: unknown sink 'nope'; installed sinks: {installed}"
    )
    assert api.stats.snapshot()["requests"] == 0


def test_a_malformed_or_missing_config_file_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"project_id": 1, "secret": "' + SECRET + '",')
    run = run_cli("sync", "--config", bad, "--path", tmp_path / "x.duckdb")
    assert run.returncode == 3
    assert f"--config file {bad} is not valid JSON" in run.stderr

    listed = tmp_path / "list.json"
    listed.write_text("[]")
    run = run_cli("sync", "--config", listed, "--path", tmp_path / "x.duckdb")
    assert run.returncode == 3
    assert "must hold a JSON object" in run.stderr

    run = run_cli("sync", "--config", tmp_path / "absent.json", "--path", tmp_path / "x.duckdb")
    assert run.returncode == 3
    assert "--config file not found" in run.stderr


def test_a_usage_error_exits_3_not_2_which_means_bad_credentials(tmp_path: Path) -> None:
    run = run_cli("sync", "--region", "mars", "--path", tmp_path / "x.duckdb")
    assert run.returncode == 3
    assert "argument --region: invalid choice: 'mars'" in run.stderr


def test_a_missing_sink_path_exits_3(api: FakeEngageAPI, tmp_path: Path) -> None:
    run = run_cli("sync", "--config", write_config(tmp_path, tap_config(api)))
    assert run.returncode == 3
    assert "mixpanel-engage: error: path: required" in run.stderr


def test_rejected_credentials_exit_2(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=100, secret="the-servers-own-secret")
    config = write_config(tmp_path, {**tap_config(api), "secret": SECRET})
    run = run_cli("sync", "--config", config, "--path", tmp_path / "x.duckdb")
    assert run.returncode == 2
    assert "mixpanel-engage: error:" in run.stderr
    assert "the-servers-own-secret" not in run.stderr


def test_sinks_lists_every_installed_sink() -> None:
    run = run_cli("sinks")
    assert run.returncode == 0
    names = [line.split("\t")[0] for line in run.stdout.splitlines()]
    assert names == list(installed_sinks())
    assert "duckdb" in names
    installed = {d.metadata["Name"] for d in metadata.distributions()}
    if "tap-mixpanel-engage-sink-jsonl" in installed:
        assert "jsonl" in names
    if "tap-mixpanel-engage-sink-parquet" in installed:
        assert "parquet" in names


def test_a_terminal_gets_a_progress_bar_and_stdout_stays_json(
    api: FakeEngageAPI, tmp_path: Path
) -> None:
    config = write_config(tmp_path, tap_config(api))
    primary, secondary = pty.openpty()
    with subprocess.Popen(
        [CLI, "sync", "--config", str(config), "--path", str(tmp_path / "t.duckdb")],
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
    ) as proc:
        os.close(secondary)
        screen = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        os.close(primary)
        assert proc.stdout is not None
        out = proc.stdout.read()
    assert proc.returncode == 0, screen.decode(errors="replace")
    assert json.loads(out)["records_written"] == 2500
    text = screen.decode(errors="replace")
    assert "3/3 pages, 2500 records" in text
    assert "progress: pages" not in text
    assert SECRET not in text + out


def test_ctrl_c_exits_130_and_the_state_file_resumes_the_rest(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=20_000, latency=0.05, secret=SECRET)
    config = write_config(tmp_path, tap_config(api, max_workers=1, page_size=1000))
    state, db = tmp_path / "state.json", tmp_path / "p.duckdb"
    command = [CLI, "sync", "--config", str(config), "--path", str(db), "--state", str(state)]
    with subprocess.Popen(
        [*command, "--batch-size-rows", "1000"], stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "progress: pages 4/20" in line:
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
    assert proc.returncode == 130
    assert "interrupted; the state file holds the last commit" in rest
    assert "Traceback" not in rest
    saved = json.loads(state.read_text())
    done = saved["bookmarks"]["engage"]["engage_position"]["page"]
    assert done >= 2
    assert len(table_ids(db)) == (done + 1) * 1000
    served_before = dict(api.stats.pages_served)

    run = run_cli(*command[1:])

    assert run.returncode == 0, run.stderr
    assert run.result["records_written"] == 20_000 - (done + 1) * 1000
    assert table_ids(db) == api.expected_ids()
    for page in range(done + 1):
        assert api.stats.pages_served[page] == served_before[page] == 1
