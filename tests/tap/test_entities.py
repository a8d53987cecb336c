"""Group profiles, cohorts and cohort members through the real tap over loopback HTTP."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import ALL_STREAMS as ALL
from tests.helpers import (
    BIN,
    catalog_selecting,
    count_budget_draws,
    groups_of,
    records_of,
    run_tap,
    tap_config,
)

StartAPI = Callable[..., FakeEngageAPI]
GROUPS = (("-1405123841946871899", 1300), ("77", 150))
BOUGHT = [{"window": "30d", "name": "bought", "event_selectors": [{"event": "Purchase"}]}]


def activations(messages: list[dict[str, Any]]) -> dict[str, int]:
    return {m["stream"]: m["version"] for m in messages if m["type"] == "ACTIVATE_VERSION"}


def test_every_stream_exports_the_exact_set_the_fake_holds(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=3000, groups=GROUPS, cohorts=3, cohort_ghosts=2)
    config = tap_config(api, page_size=500, groups=groups_of(api))
    run = run_tap(
        tmp_path, config, args=("--catalog", str(catalog_selecting(tmp_path, config, *ALL)))
    )
    assert run.returncode == 0, run.stderr

    assert {r["distinct_id"] for r in records_of(run, "engage")} == api.expected_ids()
    assert len(records_of(run, "engage")) == 3000
    groups = records_of(run, "group_profiles")
    assert {(r["data_group_id"], r["distinct_id"]) for r in groups} == {
        (g, d) for g, _ in GROUPS for d in api.expected_ids(data_group_id=g)
    }
    assert {r["group_key"] for r in groups} == {"key0", "key1"}
    assert len(groups) == 1300 + 150
    cohorts = records_of(run, "cohorts")
    assert [c["id"] for c in cohorts] == api.cohort_ids()
    assert set(cohorts[0]) == {"id", "name", "description", "count", "is_visible", "created",
                               "project_id"}  # fmt: skip
    members = [(r["cohort_id"], r["distinct_id"]) for r in records_of(run, "cohort_members")]
    assert len(members) == len(set(members))
    assert set(members) == api.expected_members()
    in_several = [d for d, n in Counter(d for _, d in members).items() if n > 1]
    assert len(in_several) > 100  # the cohorts overlap: a member of two is in both
    # One activation per stream, after its last record, with the version its records carry.
    versions = activations(run.messages)
    assert set(versions) == set(ALL)
    for stream, version in versions.items():
        stamped = {m["version"] for m in run.messages if m.get("stream") == stream
                   and m["type"] == "RECORD"}  # fmt: skip
        assert stamped == {version}
        last_record = max(n for n, m in enumerate(run.messages)
                          if m["type"] == "RECORD" and m["stream"] == stream)  # fmt: skip
        assert run.messages.index({"type": "ACTIVATE_VERSION", "stream": stream,
                                   "version": version}) > last_record  # fmt: skip


def test_cohort_ids_and_include_all_users_choose_the_members(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=1500, cohorts=3, cohort_ghosts=3)
    first = api.cohort_ids()[0]
    config = tap_config(api, cohort_ids=[str(first), 999], include_all_users=False)
    catalog = catalog_selecting(tmp_path, config, "cohorts", "cohort_members")
    run = run_tap(tmp_path, config, args=("--catalog", str(catalog)))
    assert run.returncode == 0, run.stderr
    members = {(r["cohort_id"], r["distinct_id"]) for r in records_of(run, "cohort_members")}
    assert members == api.expected_members([first], include_all_users=False)
    assert not any("ghost" in d for _, d in members)
    assert [c["id"] for c in records_of(run, "cohorts")] == api.cohort_ids()
    assert "`cohort_ids`: [999] are not in the cohorts list" in run.stderr


def test_cohorts_and_members_page_in_parallel(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=9000, cohorts=1, latency=0.2)
    config = tap_config(api, page_size=300)
    catalog = catalog_selecting(tmp_path, config, "cohort_members")
    run = run_tap(tmp_path, config, args=("--catalog", str(catalog)))
    assert run.returncode == 0, run.stderr
    members = records_of(run, "cohort_members")
    assert {(r["cohort_id"], r["distinct_id"]) for r in members} == api.expected_members()
    assert len(members) > 2000  # about 3000 members: ten pages
    assert api.stats.snapshot()["max_in_flight"] == 5
    assert records_of(run, "cohorts") == []  # the parent ran for its child, unselected


def test_group_profiles_page_in_parallel_and_sync_incrementally_per_group(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=10, groups=GROUPS, latency=0.2)
    config = tap_config(api, page_size=200, groups=groups_of(api))
    catalog = ("--catalog", str(catalog_selecting(tmp_path, config, "group_profiles")))
    first = run_tap(tmp_path, config, args=catalog)
    assert first.returncode == 0, first.stderr
    assert api.stats.snapshot()["max_in_flight"] == 5
    partitions = first.states[-1]["bookmarks"]["group_profiles"]["partitions"]
    assert [p["context"] for p in partitions] == [{"data_group_id": g} for g, _ in GROUPS]
    assert all(set(p) == {"context", "replication_key", "replication_key_value"}
               for p in partitions)  # fmt: skip

    touched = set(api.touch(4, data_group_id=GROUPS[0][0]))
    second = run_tap(tmp_path, config, state=first.states[-1], args=catalog)
    assert second.returncode == 0, second.stderr
    again = {(r["data_group_id"], r["distinct_id"]) for r in records_of(second, "group_profiles")}
    for p in partitions:  # each group from its own bookmark (>=: those seen at it come again)
        group, seen = p["context"]["data_group_id"], p["replication_key_value"][:19]
        where = f'properties["$last_seen"] >= "{seen}"'
        assert {d for g, d in again if g == group} == api.expected_ids(where, data_group_id=group)
    assert touched <= {d for _, d in again}
    assert activations(second.messages) == {}  # incremental: nothing is deleted


def test_behaviors_over_several_pages_succeed_with_the_automatic_as_of_timestamp(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=3000)
    where = 'behaviors["bought"] > 0'
    run = run_tap(tmp_path, tap_config(api, behaviors=BOUGHT, where=where, page_size=500))
    assert run.returncode == 0, run.stderr
    expected = api.expected_ids(where, behaviors=BOUGHT)
    assert set(run.ids) == expected and len(run.ids) == len(expected)
    assert len(api.stats.pages_served) == -(-len(expected) // 500) > 1
    running = [s["bookmarks"]["engage"] for s in run.states if "engage_position" in str(s)]
    assert len(running) == len(api.stats.pages_served)  # one STATE per page
    (as_of,) = {s["as_of_timestamp"] for s in running}  # one for the whole export
    assert isinstance(as_of, int)
    assert "as_of_timestamp" not in run.states[-1]["bookmarks"]["engage"]


def test_distinct_ids_longer_than_a_slice_take_one_query_each(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=3000)
    wanted = sorted(api.expected_ids())[:2500]
    run = run_tap(tmp_path, tap_config(api, distinct_ids=[*wanted, "nobody"]))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids) == wanted
    assert api.stats.snapshot()["sessions_opened"] == 3  # slices of 1000, 1000 and 501


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"behaviors": BOUGHT, "filter_by_cohort": 5},
            "cannot be combined with `filter_by_cohort`",
        ),
        ({"include_all_users": True}, "`include_all_users` applies only with a cohort"),
        ({"groups": [{"data_group_id": "1"}]}, "`groups[0]`.group_key must name the group key"),
        ({"cohort_ids": [1, "two"]}, "`cohort_ids[1]` must be a whole number"),
        ({"distinct_ids": "abc"}, "`distinct_ids` must be a list"),
    ],
)
def test_settings_errors_exit_3_before_any_query(
    fake_api: StartAPI, tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    api = fake_api(profiles=100)
    run = run_tap(tmp_path, tap_config(api, **overrides))
    assert run.returncode == 3, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert api.stats.snapshot()["requests"] == 0


def test_discovery_sends_no_query_and_selects_the_cheap_streams_by_default(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=100)
    config = tap_config(api, groups=groups_of(api))
    (tmp_path / "tap.json").write_text(json.dumps(config))
    command = [str(BIN / "tap-mixpanel-engage"), "--config", str(tmp_path / "tap.json")]
    run = subprocess.run([*command, "--discover"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    catalog = json.loads(run.stdout)
    defaults = {
        entry["tap_stream_id"]: next(m for m in entry["metadata"] if not m["breadcrumb"])[
            "metadata"
        ]["selected-by-default"]
        for entry in catalog["streams"]
    }
    assert defaults == {"engage": True, "group_profiles": True, "cohorts": False,
                        "cohort_members": False}  # fmt: skip
    assert api.stats.snapshot()["requests"] == 0


def test_every_query_of_a_tap_run_draws_on_one_hourly_budget(
    fake_api: StartAPI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tap_mixpanel_engage.tap.tap import TapMixpanelEngage

    drawn = count_budget_draws(monkeypatch)
    api = fake_api(profiles=1200, cohorts=2)
    config = tap_config(api, page_size=500, groups=groups_of(api), max_requests_per_hour=1000)
    catalog = json.loads(catalog_selecting(tmp_path, config, *ALL).read_text())
    TapMixpanelEngage(config=config, catalog=catalog).sync_all()
    assert '"type":"ACTIVATE_VERSION"' in capfd.readouterr().out
    # engage 3 pages, 1 per group key (300, 120 profiles), the list, 1 per cohort (~400 each)
    assert len(drawn) == api.stats.snapshot()["requests"] == 3 + 2 + 1 + 2
    assert len(set(drawn)) == 1
