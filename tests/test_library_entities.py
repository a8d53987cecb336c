"""sync() and iter_profiles() for every stream: the same rows and states as the tap, deletions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tap_mixpanel_engage import iter_profiles, sync
from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import ALL_STREAMS as ALL
from tests.helpers import (
    catalog_selecting,
    count_budget_draws,
    expected_keys,
    groups_of,
    run_tap,
    tap_config,
)
from tests.helpers import table_keys as keys

StartAPI = Callable[..., FakeEngageAPI]


class Interrupt(Exception):
    """Raised from a callback to stop a sync the way a crash would."""


def test_sync_of_every_stream_loads_the_fakes_sets_and_the_taps_state(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2000, cohorts=3, cohort_ghosts=2)
    config = tap_config(api, page_size=600, groups=groups_of(api))
    db = tmp_path / "all.duckdb"
    result = sync(config, streams=ALL, sink_config={"path": str(db)})
    wanted = expected_keys(api)
    assert {s: keys(db, s) for s in ALL} == wanted
    assert result.records_by_stream == {s: len(wanted[s]) for s in ALL}
    assert result.records_written == sum(len(v) for v in wanted.values())
    # The tap with the same streams ends with the same state: it moves between the two.
    catalog = catalog_selecting(tmp_path, config, *ALL)
    tap = run_tap(tmp_path, config, args=("--catalog", str(catalog)))
    assert tap.returncode == 0, tap.stderr
    assert result.state == tap.states[-1]


def test_a_full_sync_removes_exactly_what_is_gone_and_an_incremental_one_nothing(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2500, cohorts=3, cohort_ghosts=1)
    config = tap_config(api, page_size=500, groups=groups_of(api))
    db = tmp_path / "p.duckdb"
    first = sync(config, streams=ALL, sink_config={"path": str(db)})
    before = {s: keys(db, s) for s in ALL}
    cohort, deleted_cohort = api.cohort_ids()[:2]
    gone = set(api.delete(11))
    left = set(api.leave_cohort(cohort, 7))
    group_gone = set(api.delete(4, data_group_id=api.settings.groups[0][0]))
    api.delete_cohort(deleted_cohort)

    # Incremental (engage and group profiles, from the first run's state): nothing removed.
    sync(config, state=first.state, sink_config={"path": str(db)})
    assert keys(db, "engage") == before["engage"]
    assert keys(db, "group_profiles") == before["group_profiles"]

    sync(config, streams=ALL, sink_config={"path": str(db)})  # a full sync: no state
    after = {s: keys(db, s) for s in ALL}
    assert after == expected_keys(api)
    assert before["engage"] - after["engage"] == gone
    assert before["group_profiles"] - after["group_profiles"] == {
        (api.settings.groups[0][0], d) for d in group_gone
    }
    assert before["cohorts"] - after["cohorts"] == {deleted_cohort}
    removed = before["cohort_members"] - after["cohort_members"]
    assert {m for m in removed if m[0] == cohort} == {(cohort, d) for d in left | gone} & (
        before["cohort_members"]
    )
    assert {m for m in removed if m[0] == deleted_cohort} == {
        m for m in before["cohort_members"] if m[0] == deleted_cohort
    }


def test_without_hard_delete_a_full_sync_marks_what_is_gone(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=1200)
    config = tap_config(api)
    db = tmp_path / "soft.duckdb"
    sink_config = {"path": str(db), "hard_delete": False}
    sync(config, sink_config=sink_config)
    gone = set(api.delete(5))
    sync(config, sink_config=sink_config)
    assert keys(db, "engage", "_sdc_deleted_at IS NOT NULL") == gone
    assert keys(db, "engage", "_sdc_deleted_at IS NULL") == api.expected_ids()


def test_a_sync_that_fails_half_way_removes_nothing_and_its_resume_removes_the_rest(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=4000, cohorts=3)
    config = tap_config(api, page_size=400)
    db = tmp_path / "half.duckdb"
    sink_config = {"path": str(db)}
    sync(config, streams=["engage", "cohort_members"], sink_config=sink_config)
    gone = set(api.delete(9))
    commits: list[Mapping[str, Any]] = []
    exports: list[int] = []

    def crash_in_the_second_cohort(progress: PageProgress) -> None:
        if progress.page == 0:
            exports.append(progress.page)
        if len(exports) == 2 and progress.page == 1:  # page 1 of the second cohort's members
            raise Interrupt

    with pytest.raises(Interrupt):
        sync(config, streams=["cohort_members"], sink_config=sink_config, batch_size_rows=400,
             on_page=crash_in_the_second_cohort, on_commit=commits.append)  # fmt: skip
    assert {m[1] for m in keys(db, "cohort_members")} & gone  # nothing was removed yet
    served = api.stats.snapshot()["sessions_opened"]

    sync(config, streams=["cohort_members"], sink_config=sink_config, state=commits[-1])
    assert keys(db, "cohort_members") == api.expected_members()
    # Resumed: the first cohort is done, the second goes on in its session, the third is new.
    assert api.stats.snapshot()["sessions_opened"] - served == 1


def test_iter_profiles_yields_the_records_of_any_one_stream(fake_api: StartAPI) -> None:
    api = fake_api(profiles=900, cohorts=2)
    config = tap_config(api, groups=groups_of(api))
    members = list(iter_profiles(config, stream="cohort_members"))
    assert {(r["cohort_id"], r["distinct_id"]) for r in members} == api.expected_members()
    assert [c["id"] for c in iter_profiles(config, stream="cohorts")] == api.cohort_ids()
    groups = list(iter_profiles(config, stream="group_profiles"))
    assert {(r["data_group_id"], r["distinct_id"]) for r in groups} == expected_keys(api)[
        "group_profiles"
    ]
    assert all("_sdc_table_version" not in r for r in [*members, *groups])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: sync(c, streams=["engage", "people"]), "unknown streams ['people']"),
        (lambda c: iter_profiles(c, stream="people"), "unknown streams ['people']"),
        (lambda c: sync({**c, "include_all_users": False}), "applies only with a cohort"),
        (lambda c: sync(c, sink_config={"hard_delete": "yes"}), "hard_delete: must be"),
    ],
)
def test_bad_streams_or_settings_fail_before_any_request(
    fake_api: StartAPI, call: Callable[[dict[str, Any]], Any], message: str
) -> None:
    api = fake_api(profiles=10)
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call(tap_config(api))
    assert api.stats.snapshot()["requests"] == 0


def test_every_query_of_a_run_draws_on_one_hourly_budget(
    fake_api: StartAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = count_budget_draws(monkeypatch)
    api = fake_api(profiles=1200, cohorts=2)
    config = tap_config(api, page_size=500, groups=groups_of(api), max_requests_per_hour=1000)
    sync(config, streams=ALL, sink_config={"path": str(tmp_path / "b.duckdb")})
    # engage 3 pages, 1 per group key (300, 120 profiles), the list, 1 per cohort (~400 each)
    assert len(drawn) == api.stats.snapshot()["requests"] == 3 + 2 + 1 + 2
    assert len(set(drawn)) == 1  # engage, both group keys, the list and each cohort: one budget
