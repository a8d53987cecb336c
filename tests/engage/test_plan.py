"""Each stream's queries, table versions, and the settings of the entities beyond users."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_mixpanel_engage.engage.plan import (
    AS_OF_KEY,
    DISTINCT_IDS_PER_QUERY,
    catalog_selection,
    check_selection,
    engage_queries,
    engage_queries_for_state,
    group_query,
    head_start_query,
    member_query,
)
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.state import POSITION_KEY, Position
from tap_mixpanel_engage.engage.versions import (
    SYNCED_KEY,
    VERSION_KEY,
    begin_version,
    finish_version,
    mark_partition_done,
    partition_done,
)
from tap_mixpanel_engage.entity_settings import GroupSpec
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.settings import EngageSettings

SERVICE = {"project_id": 1234, "username": "svc-user", "secret": "svc-secret"}
BOUGHT = [{"name": "bought", "window": "30d"}]


def settings(**more: Any) -> EngageSettings:
    return EngageSettings.from_config({**SERVICE, **more})


def test_a_query_without_the_new_fields_keeps_its_fingerprint() -> None:
    # The value the code before data_group_id, behaviors, as_of_timestamp, distinct_ids gave:
    # positions saved by older runs still resume.
    query = Query(where='properties["plan"] == "pro"', output_properties=("$email",),
                  filter_by_cohort=7, include_all_users=True, page_size=500,
                  project="http://x|1|None")  # fmt: skip
    assert query.fingerprint == "a6ea2a64eee920d1"
    assert Query(**{**query.__dict__, "data_group_id": "9"}).fingerprint != query.fingerprint


def test_the_body_carries_every_new_parameter() -> None:
    query = engage_queries(settings(behaviors=BOUGHT, distinct_ids=["a", "b"]), None, 1700)[0]
    body = query.body(0, None)
    assert json.loads(body["behaviors"]) == BOUGHT
    assert body["as_of_timestamp"] == "1700"
    assert json.loads(body["distinct_ids"]) == ["a", "b"]
    group = group_query(settings(), GroupSpec("-14", "company_id"), None).body(1, "s")
    assert group == {"page": "1", "session_id": "s", "data_group_id": "-14"}


def test_long_distinct_ids_become_slices_in_order() -> None:
    ids = [f"u{i}" for i in range(2 * DISTINCT_IDS_PER_QUERY + 500)]
    queries = engage_queries(settings(distinct_ids=[*ids, "u3"]), None)  # a repeat is dropped
    assert [len(q.distinct_ids or ()) for q in queries] == [1000, 1000, 500]
    assert [i for q in queries for i in q.distinct_ids or ()] == ids
    assert len({q.fingerprint for q in queries}) == 3
    assert len(engage_queries(settings(distinct_ids=ids[:1000]), None)) == 1


def test_the_head_start_skips_behaviors_whose_timestamp_the_run_picks() -> None:
    assert head_start_query(settings(behaviors=BOUGHT), None) is None
    given = settings(behaviors=BOUGHT, as_of_timestamp=1700)
    assert head_start_query(given, None) == engage_queries(given, None)[0]


def test_a_resumed_behaviors_export_keeps_the_timestamp_it_started_with() -> None:
    s = settings(behaviors=BOUGHT)
    state: dict[str, Any] = {}
    first = engage_queries_for_state(s, None, state, run_started=1000)
    assert state[AS_OF_KEY] == 1000 and first[0].as_of_timestamp == 1000
    position = Position(first[0].fingerprint, "session", 3, 9, 1000, 9000)
    state[POSITION_KEY] = position.to_dict()
    assert engage_queries_for_state(s, None, state, run_started=2000) == first
    state[POSITION_KEY] = {**position.to_dict(), "fingerprint": "another query"}
    assert engage_queries_for_state(s, None, state, run_started=3000)[0].as_of_timestamp == 3000
    assert state[AS_OF_KEY] == 3000


def test_members_are_never_filtered_and_groups_only_by_last_seen() -> None:
    s = settings(where='properties["plan"] == "pro"', start_date="2024-01-01", page_size=300)
    members = member_query(s, 42).body(0, None)
    assert members == {"page": "0", "output_properties": '["$last_seen"]',
                       "filter_by_cohort": '{"id": 42}', "page_size": "300"}  # fmt: skip
    group = group_query(s, GroupSpec("7", "k"), "2024-05-01T00:00:00Z")
    assert group.where == 'properties["$last_seen"] >= "2024-05-01T00:00:00"'


def test_include_all_users_reaches_engage_only_with_a_cohort() -> None:
    assert engage_queries(settings(include_all_users=False), None)[0].include_all_users is None
    with_cohort = settings(include_all_users=False, filter_by_cohort=5)
    assert engage_queries(with_cohort, None)[0].include_all_users is False
    assert member_query(settings(include_all_users=False), 5).include_all_users is False
    check_selection(with_cohort, ["engage"])
    check_selection(settings(include_all_users=False), ["cohort_members"])
    with pytest.raises(SettingsError, match="applies only with a cohort"):
        check_selection(settings(include_all_users=True), ["engage", "group_profiles"])


def test_the_catalog_says_which_streams_run() -> None:
    def entry(name: str, **root: Any) -> dict[str, Any]:
        return {"tap_stream_id": name, "metadata": [{"breadcrumb": [], "metadata": root}]}

    catalog = {"streams": [entry("engage", selected=False, **{"selected-by-default": True}),
                           entry("cohorts", **{"selected-by-default": True}),
                           entry("cohort_members", selected=True)]}  # fmt: skip
    assert catalog_selection(catalog, ["x"]) == ["cohorts", "cohort_members"]
    assert catalog_selection(None, ["engage"]) == ["engage"]


def test_a_full_sync_keeps_its_version_until_it_completes() -> None:
    state: dict[str, Any] = {}
    version = begin_version(state, True)
    assert version is not None and state[VERSION_KEY] == version
    assert begin_version(state, True) == version  # resumed: the same version
    partition: dict[str, Any] = {"context": {"cohort_id": 1}}
    state["partitions"] = [partition]
    assert not partition_done(partition, version)
    mark_partition_done(partition, version)
    assert partition_done(partition, version) and not partition_done(partition, version + 1)
    finish_version(state)
    assert state == {"partitions": [{"context": {"cohort_id": 1}}]}
    assert SYNCED_KEY not in partition
    later = begin_version(state, True)
    assert later is not None and later >= version
    assert begin_version(state, False) is None and VERSION_KEY not in state


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"groups": {"data_group_id": "1"}}, "`groups` must be a list"),
        ({"groups": []}, "`groups` must not be empty"),
        ({"groups": ["x"]}, "`groups[0]` must be an object"),
        ({"groups": [{"data_group_id": "1", "group_key": "k", "name": "n"}]}, "unknown keys"),
        ({"groups": [{"data_group_id": True, "group_key": "k"}]}, "`groups[0]`.data_group_id"),
        (
            {
                "groups": [
                    {"data_group_id": 1, "group_key": "a"},
                    {"data_group_id": "1", "group_key": "b"},
                ]
            },
            "twice",
        ),
        ({"cohort_ids": [1, 2.5]}, "`cohort_ids[1]` must be a whole number"),
        ({"behaviors": ["bought"]}, "`behaviors` must be a list of objects"),
        ({"distinct_ids": ["a", ""]}, "`distinct_ids` must be a list of non-empty strings"),
        ({"as_of_timestamp": -1}, "`as_of_timestamp` must be at least 0"),
        ({"behaviors": BOUGHT, "filter_by_cohort": 3}, "cannot be combined"),
    ],
)
def test_bad_entity_settings_name_the_setting(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(**config)
    assert message in str(caught.value)
    assert "svc-secret" not in str(caught.value)


def test_entity_settings_are_normalised() -> None:
    s = settings(
        groups=[{"data_group_id": -1405123841946871899, "group_key": "company_id"}],
        cohort_ids=["12", 12, 7],
        behaviors=[{"window": "30d", "name": "b"}],
        distinct_ids=["a", "b", "a"],
        as_of_timestamp="1700000000",
    )
    assert s.groups == (GroupSpec("-1405123841946871899", "company_id"),)
    assert s.cohort_ids == (12, 7)
    assert s.behaviors == '[{"name":"b","window":"30d"}]'
    assert s.distinct_ids == ("a", "b")
    assert s.as_of_timestamp == 1_700_000_000
