"""``mixpanel-engage sync`` flags: they fill in or override --config; secrets only from the env."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import BIN

StartAPI = Callable[..., FakeEngageAPI]
SECRET = "flag-secret-91c2"
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("TAP_MIXPANEL_ENGAGE_")}


def mixpanel_engage(
    *args: str | Path | int, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    done = subprocess.run(
        [str(BIN / "mixpanel-engage"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**CLEAN, **(env or {})},
    )
    assert SECRET not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def credentials(api: FakeEngageAPI) -> dict[str, str]:
    return {
        "TAP_MIXPANEL_ENGAGE_USERNAME": api.settings.username,
        "TAP_MIXPANEL_ENGAGE_SECRET": api.settings.secret,
    }


def rows(db: Path, sql: str) -> set[Any]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {r[0] if len(r) == 1 else r for r in con.execute(sql).fetchall()}


@pytest.fixture
def api(fake_api: StartAPI) -> FakeEngageAPI:
    return fake_api(profiles=3000, secret=SECRET, cohorts=3, latency=0.02)


def test_flags_and_environment_credentials_override_the_config_file(
    api: FakeEngageAPI, tmp_path: Path
) -> None:
    config = tmp_path / "tap.json"
    where = 'properties["$last_seen"] >= "2023-01-01T00:00:00"'
    config.write_text(json.dumps({"api_url": api.url, "project_id": 1, "where": "nonsense",
                                  "username": "old", "secret": "old"}))  # fmt: skip
    db = tmp_path / "p.duckdb"
    code, out, err = mixpanel_engage(
        "sync", "--config", config, "--path", db, "--project-id", api.settings.project_id,
        "--where", where, "--workers", "2", "--page-size", "400", "--stream", "engage",
        env=credentials(api),
    )  # fmt: skip
    assert code == 0, err
    assert rows(db, "SELECT distinct_id FROM mixpanel.engage") == api.expected_ids(where)
    result = json.loads(out)
    assert result["records_by_stream"] == {"engage": len(api.expected_ids(where))}
    assert api.stats.snapshot()["max_in_flight"] == 2
    assert set(api.stats.pages_served) == set(range(-(-len(api.expected_ids(where)) // 400)))


def test_group_and_cohort_flags_choose_what_the_entity_streams_export(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=1500, secret=SECRET, cohorts=3)
    (group_id, _), _ = api.settings.groups
    first, _, third = api.cohort_ids()
    config = tmp_path / "tap.json"
    config.write_text(json.dumps({"api_url": api.url}))
    db = tmp_path / "e.duckdb"
    code, out, err = mixpanel_engage(
        "sync", "--config", config, "--path", db, "--project-id", api.settings.project_id,
        "--stream", "group_profiles", "--stream", "cohort_members",
        "--group", f"company_id={group_id}", "--cohort", first, "--cohort", third,
        env=credentials(api),
    )  # fmt: skip
    assert code == 0, err
    assert rows(db, "SELECT DISTINCT data_group_id, group_key FROM mixpanel.group_profiles") == {
        (group_id, "company_id")
    }
    assert rows(db, "SELECT distinct_id FROM mixpanel.group_profiles") == api.expected_ids(
        data_group_id=group_id
    )
    members = rows(db, "SELECT cohort_id, distinct_id FROM mixpanel.cohort_members")
    assert members == api.expected_members([first, third])
    assert set(json.loads(out)["records_by_stream"]) == {"group_profiles", "cohort_members"}


def test_one_cohort_flag_filters_engage_by_that_cohort(api: FakeEngageAPI, tmp_path: Path) -> None:
    config = tmp_path / "tap.json"
    config.write_text(json.dumps({"api_url": api.url, "project_id": api.settings.project_id}))
    cohort = api.cohort_ids()[1]
    db = tmp_path / "c.duckdb"
    code, _, err = mixpanel_engage(
        "sync", "--config", config, "--path", db, "--cohort", cohort, env=credentials(api)
    )
    assert code == 0, err
    assert rows(db, "SELECT distinct_id FROM mixpanel.engage") == api.expected_ids(cohort_id=cohort)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--group", "company_id"), "--group: expected GROUP_KEY=DATA_GROUP_ID, got 'company_id'"),
        (("--cohort", "1", "--cohort", "2"), "--cohort: engage filters by one cohort"),
        (("--secret", SECRET), "unrecognized arguments: --secret"),
        (("--workers", "9"), "`max_workers` must be between 1 and 5, got 9"),
        (("--stream", "people"), "argument --stream: invalid choice: 'people'"),
    ],
)
def test_bad_flags_exit_3_before_any_request(
    api: FakeEngageAPI, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    config = tmp_path / "tap.json"
    config.write_text(json.dumps({"api_url": api.url, "project_id": api.settings.project_id}))
    code, out, err = mixpanel_engage(
        "sync", "--config", config, "--path", tmp_path / "x.duckdb", *args, env=credentials(api)
    )
    assert code == 3
    assert message in err
    assert out == ""
    assert api.stats.snapshot()["requests"] == 0


def test_without_config_or_credentials_the_error_names_the_variables_to_set(
    tmp_path: Path,
) -> None:
    code, _, err = mixpanel_engage("sync", "--path", tmp_path / "x.duckdb", "--project-id", "5")
    assert code == 3
    assert "credentials missing" in err
