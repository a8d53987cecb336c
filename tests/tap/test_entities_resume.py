"""A killed tap resumes group profiles and cohort members from their last STATE, like engage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import (
    catalog_selecting,
    groups_of,
    records_of,
    run_tap,
    run_until_killed,
    tap_config,
)

StartAPI = Callable[..., FakeEngageAPI]


def partition_position(state: dict[str, Any], stream: str, key: str, value: Any) -> Any:
    for item in state["bookmarks"].get(stream, {}).get("partitions", []):
        if item["context"] == {key: value}:
            return item.get("engage_position")
    return None


def test_a_killed_cohort_members_export_resumes_without_fetching_finished_cohorts_again(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=6000, cohorts=3, latency=0.05)
    first, second, third = api.cohort_ids()
    config = tap_config(api, page_size=250, max_workers=2)
    catalog = catalog_selecting(tmp_path, config, "cohorts", "cohort_members")

    def in_second_cohort(state: dict[str, Any]) -> bool:
        position = partition_position(state, "cohort_members", "cohort_id", second)
        return position is not None and position["page"] >= 2

    before, state = run_until_killed(tmp_path, config, catalog, in_second_cohort)
    done_page = partition_position(state, "cohort_members", "cohort_id", second)["page"]
    emitted = [(m["record"]["cohort_id"], m["record"]["distinct_id"]) for m in before
               if m["type"] == "RECORD" and m["stream"] == "cohort_members"]  # fmt: skip
    version = state["bookmarks"]["cohort_members"]["table_version"]
    handed_out = [d for c, d in emitted if c == second][: (done_page + 1) * 250]
    assert len(handed_out) == (done_page + 1) * 250

    resumed = run_tap(tmp_path, config, state=state, args=("--catalog", str(catalog)))

    assert resumed.returncode == 0, resumed.stderr
    again = [(r["cohort_id"], r["distinct_id"]) for r in records_of(resumed, "cohort_members")]
    assert not [m for m in again if m[0] == first]  # finished before the kill: not fetched
    # The second cohort goes on after its last page handed out: none of those comes again.
    second_again = [d for c, d in again if c == second]
    expected = {d for c, d in api.expected_members() if c == second}
    assert not set(second_again) & set(handed_out), resumed.stderr
    assert len(second_again) == len(expected) - len(handed_out), resumed.stderr
    assert set(emitted) | set(again) == api.expected_members()
    assert "resuming session at page" in resumed.stderr
    activation = {"type": "ACTIVATE_VERSION", "stream": "cohort_members", "version": version}
    assert activation in resumed.messages  # the same version as the rows written before
    assert {m["version"] for m in resumed.messages if m.get("stream") == "cohort_members"
            and m["type"] == "RECORD"} == {version}  # fmt: skip
    assert third in {c for c, _ in again}


def test_a_killed_group_profiles_export_resumes_at_its_group_and_page(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    small, large = ("11", 300), ("22", 4000)
    api = fake_api(profiles=10, groups=(small, large), latency=0.05)
    config = tap_config(api, page_size=250, max_workers=2, groups=groups_of(api))
    catalog = catalog_selecting(tmp_path, config, "group_profiles")

    def in_large_group(state: dict[str, Any]) -> bool:
        position = partition_position(state, "group_profiles", "data_group_id", large[0])
        return position is not None and position["page"] >= 3

    before, state = run_until_killed(tmp_path, config, catalog, in_large_group)
    done_page = partition_position(state, "group_profiles", "data_group_id", large[0])["page"]
    emitted = [(m["record"]["data_group_id"], m["record"]["distinct_id"]) for m in before
               if m["type"] == "RECORD"]  # fmt: skip
    served = dict(api.stats.pages_served)
    sessions = api.stats.snapshot()["sessions_opened"]

    resumed = run_tap(tmp_path, config, state=state, args=("--catalog", str(catalog)))

    assert resumed.returncode == 0, resumed.stderr
    again = [(r["data_group_id"], r["distinct_id"]) for r in records_of(resumed, "group_profiles")]
    assert api.stats.snapshot()["sessions_opened"] == sessions  # the small group is done
    assert not [g for g, _ in again if g == small[0]]
    for page in range(done_page + 1):  # the large group's pages before the kill, never again
        assert api.stats.pages_served[page] == served[page]
    assert not set(again) & set(emitted[-(done_page + 1) * 250 :])
    expected = {(g, d) for g, _ in (small, large) for d in api.expected_ids(data_group_id=g)}
    assert set(emitted) | set(again) == expected
    version = state["bookmarks"]["group_profiles"]["table_version"]
    assert {"type": "ACTIVATE_VERSION", "stream": "group_profiles", "version": version} in (
        resumed.messages
    )


def test_a_killed_export_of_distinct_ids_resumes_in_its_slice_without_the_slices_before(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=4000, latency=0.05)
    wanted = sorted(api.expected_ids())[:2800]  # three slices: 1000, 1000 and 800
    config = tap_config(api, page_size=250, max_workers=2, distinct_ids=wanted)
    catalog = catalog_selecting(tmp_path, config, "engage")
    positions: list[str] = []

    def in_second_slice(state: dict[str, Any]) -> bool:
        position = state["bookmarks"]["engage"].get("engage_position")
        if position and position["fingerprint"] not in positions:
            positions.append(position["fingerprint"])
        return len(positions) == 2 and position["page"] == 1

    before, state = run_until_killed(tmp_path, config, catalog, in_second_slice)
    emitted = [m["record"]["distinct_id"] for m in before if m["type"] == "RECORD"]
    assert len(emitted) >= 1000 + 2 * 250
    sessions = api.stats.snapshot()["sessions_opened"]

    resumed = run_tap(tmp_path, config, state=state, args=("--catalog", str(catalog)))

    assert resumed.returncode == 0, resumed.stderr
    assert api.stats.snapshot()["sessions_opened"] == sessions + 1  # the third slice only
    assert not set(resumed.ids) & set(emitted[: 1000 + 2 * 250])
    assert set(emitted) | set(resumed.ids) == set(wanted)
