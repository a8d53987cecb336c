"""The fake's entities over a real socket: group profiles, the cohorts list, members, behaviors,
and the deletions tests make between runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings
from tap_mixpanel_engage.fake_api.behaviors import UNCACHED, behavior_count
from tests.fake_api.test_server import AUTH, engage, fetch_all

GROUPS = (("-1405123841946871899", 700), ("99", 40))
BOUGHT = [{"window": "30d", "name": "bought", "event_selectors": [{"event": "Purchase"}]}]


@pytest.fixture
def api() -> Iterator[FakeEngageAPI]:
    settings = FakeSettings(profiles=2500, seed=5, groups=GROUPS, cohorts=3, cohort_ghosts=4)
    with FakeEngageAPI(settings) as fake:
        yield fake


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["$distinct_id"] for row in rows]


def cohorts_list(api: FakeEngageAPI, path: str = "/api/query/cohorts/list") -> Any:
    return requests.post(
        f"{api.url}{path}", params={"project_id": api.settings.project_id}, auth=AUTH, timeout=10
    )


def test_group_profiles_page_like_users_and_are_as_messy(api: FakeEngageAPI) -> None:
    group_id, count = GROUPS[0]
    rows, first = fetch_all(api, data_group_id=group_id, page_size=300)
    assert first["total"] == count == len(rows) == len(set(ids(rows)))
    assert set(ids(rows)) == api.expected_ids(data_group_id=group_id)
    assert not set(ids(rows)) & api.expected_ids()  # not users
    assert {type(r["$properties"].get("$email")).__name__ for r in rows} >= {"str", "int"}
    small, _ = fetch_all(api, data_group_id=GROUPS[1][0])
    assert len(small) == GROUPS[1][1]


def test_an_unknown_group_key_or_a_cohort_of_groups_is_refused(api: FakeEngageAPI) -> None:
    r = engage(api, data_group_id="123")
    assert (r.status_code, r.json()["error"]) == (
        400,
        "invalid data_group_id: no group key 123 in project",
    )
    r = engage(api, data_group_id=GROUPS[0][0], filter_by_cohort='{"id": 1}')
    assert r.status_code == 400


def test_the_cohorts_list_counts_members_and_is_a_query(api: FakeEngageAPI) -> None:
    answer = cohorts_list(api)
    assert answer.status_code == 200
    items = answer.json()
    assert [c["id"] for c in items] == api.cohort_ids()
    assert len(items) == 3
    for item in items:
        assert set(item) == {"count", "is_visible", "description", "created", "project_id",
                             "id", "name"}  # fmt: skip
        assert item["count"] == len(api.expected_ids(cohort_id=item["id"]))
    assert cohorts_list(api, "/api/2.0/cohorts/list").json() == items
    stats = api.stats.snapshot()
    assert (stats["cohort_lists_served"], stats["requests"], stats["pages_served"]) == (2, 2, {})
    refused = requests.post(f"{api.url}/api/query/cohorts/list", auth=AUTH, timeout=10)
    assert refused.status_code == 400  # no project_id


def test_members_overlap_and_those_without_a_profile_follow_include_all_users(
    api: FakeEngageAPI,
) -> None:
    first, second = api.cohort_ids()[:2]
    members = {c: set(ids(fetch_all(api, filter_by_cohort=json.dumps({"id": c}))[0]))
               for c in (first, second)}  # fmt: skip
    ghosts = {f"ghost-{g}@no-profile.example" for g in range(4)}
    assert ghosts <= members[first] and ghosts <= members[second]
    assert len(members[first] & members[second] - ghosts) > 0
    without = fetch_all(api, filter_by_cohort=json.dumps({"id": first}), include_all_users="false")
    assert set(ids(without[0])) == members[first] - ghosts
    assert api.expected_ids(cohort_id=first, include_all_users=False) == members[first] - ghosts
    rows, _ = fetch_all(api, filter_by_cohort=json.dumps({"id": first}))
    assert [r["$properties"] for r in rows if r["$distinct_id"] in ghosts] == [{}] * 4


def test_deletions_leave_every_answer(api: FakeEngageAPI) -> None:
    cohort, other = api.cohort_ids()[:2]
    gone = set(api.delete(9))
    assert len(gone) == 9 and not gone & api.expected_ids()
    assert set(ids(fetch_all(api)[0])) == api.expected_ids()
    left = set(api.leave_cohort(cohort, 6))
    assert len(left) == 6
    assert not left & api.expected_ids(cohort_id=cohort)
    group_gone = set(api.delete(3, data_group_id=GROUPS[0][0]))
    assert not group_gone & set(ids(fetch_all(api, data_group_id=GROUPS[0][0])[0]))
    api.delete_cohort(other)
    assert other not in [c["id"] for c in cohorts_list(api).json()]
    assert fetch_all(api, filter_by_cohort=json.dumps({"id": other}))[0] == []


def test_deletions_over_http_admin_endpoints(api: FakeEngageAPI) -> None:
    cohort = api.cohort_ids()[0]
    deleted = requests.post(f"{api.url}/_fake/delete?count=2", timeout=10).json()
    assert len(deleted) == 2 and not set(deleted) & api.expected_ids()
    left = requests.post(f"{api.url}/_fake/leave?cohort_id={cohort}&count=3", timeout=10).json()
    assert len(left) == 3 and not set(left) & api.expected_ids(cohort_id=cohort)
    answer = requests.post(f"{api.url}/_fake/delete_cohort?cohort_id={cohort}", timeout=10)
    assert answer.json() == {"deleted": cohort}
    assert cohort not in api.cohort_ids()
    again = requests.post(f"{api.url}/_fake/delete_cohort?cohort_id={cohort}", timeout=10)
    assert again.status_code == 400


def test_where_tests_behaviors_the_query_defines(api: FakeEngageAPI) -> None:
    behaviors = json.dumps(BOUGHT)
    rows, _ = fetch_all(
        api, behaviors=behaviors, as_of_timestamp=1_750_000_000,
        where='behaviors["bought"] > 0', page_size=500,
    )  # fmt: skip
    expected = api.expected_ids('behaviors["bought"] > 0', behaviors=BOUGHT)
    assert set(ids(rows)) == expected
    counted = {api.store.distinct_id(i) for i in range(2500) if behavior_count("bought", i) > 0}
    assert expected == counted
    assert 0.6 * 2500 < len(expected) < 0.9 * 2500
    undefined = engage(api, behaviors=behaviors, where='behaviors["other"] > 0')
    assert undefined.status_code == 400
    assert "not defined by `behaviors`" in undefined.json()["error"]


def test_later_pages_of_behaviors_without_as_of_timestamp_are_uncached(api: FakeEngageAPI) -> None:
    first = engage(api, behaviors=json.dumps(BOUGHT), page_size=500).json()
    assert len(first["results"]) == 500
    later = engage(api, behaviors=json.dumps(BOUGHT), page_size=500, page=1,
                   session_id=first["session_id"])  # fmt: skip
    assert (later.status_code, later.json()["error"]) == (400, UNCACHED)
    with_cohort = engage(api, behaviors=json.dumps(BOUGHT), filter_by_cohort='{"id": 1}')
    assert with_cohort.status_code == 400
