"""The engage stream end to end over real loopback HTTP: order, bounds, recovery, resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import run_tap, run_until_killed, tap_config

StartAPI = Callable[..., FakeEngageAPI]


def test_same_records_in_the_same_order_with_one_and_five_workers(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    runs = {}
    for workers in (1, 5):
        api = fake_api(profiles=20_000, latency=1.0)
        run = run_tap(tmp_path, tap_config(api, max_workers=workers, page_size=1000))
        assert run.returncode == 0, run.stderr
        stats = api.stats.snapshot()
        assert stats["max_in_flight"] <= workers
        assert stats["max_in_flight"] == workers
        assert api.stats.pages_served == {page: 1 for page in range(20)}
        runs[workers] = run.records
    assert len(runs[1]) == 20_000
    assert runs[1] == runs[5]
    assert len({r["distinct_id"] for r in runs[5]}) == 20_000


def test_ids_given_as_digit_strings_work_like_integers(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=1500)
    config = tap_config(api, project_id=str(api.settings.project_id), page_size="1000")
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids) == sorted(api.expected_ids())
    assert api.stats.pages_served == {0: 1, 1: 1}


def test_records_keep_every_property_exactly_and_type_the_reserved_ones(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=300)
    run = run_tap(tmp_path, tap_config(api))
    assert run.returncode == 0, run.stderr
    from tap_mixpanel_engage.fake_api import make_profile

    for index, record in enumerate(run.records):
        source = make_profile(index, api.settings.seed)
        assert record["distinct_id"] == source["$distinct_id"]
        assert record["properties"] == source["$properties"]
        email = source["$properties"].get("$email")
        assert record["email"] == (email if isinstance(email, str) else None)
        seen = source["$properties"].get("$last_seen")
        if isinstance(seen, str) and len(seen) == 19:
            assert record["last_seen"] == seen + "Z"


def test_every_profile_arrives_through_faults_limits_and_expiring_sessions(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(
        profiles=10_000,
        latency=0.05,
        fault_rate=0.1,
        max_concurrent=3,
        rate_limit=12,
        rate_window=1.0,
        session_lifetime=1.0,
        seed=7,
    )
    # The fake's hour is a second here: the tap's own clock constants are scaled to match.
    config = tap_config(api, page_size=500, rate_limit_window=1.0, session_idle_gap=0.3)
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.stderr
    stats = api.stats.snapshot()
    assert set(run.ids) == api.expected_ids()
    assert stats["faults"] > 0
    assert stats["rate_limited"] > 0
    assert stats["expired_sessions"] > 0
    assert "retrying in" in run.stderr
    # one progress line per page at least, with the figures an operator needs
    progress = [line for line in run.stderr.splitlines() if "progress: pages" in line]
    assert len(progress) >= 20
    assert all("records/s" in line and "ETA" in line and "retries" in line for line in progress)


def test_incremental_run_asks_only_for_profiles_seen_since_the_bookmark(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=3000)
    first = run_tap(tmp_path, tap_config(api))
    assert first.returncode == 0, first.stderr
    state = first.states[-1]
    bookmark = state["bookmarks"]["engage"]["replication_key_value"]
    assert bookmark == max(r["last_seen"] for r in first.records if r["last_seen"])
    assert "engage_position" not in state["bookmarks"]["engage"]
    touched = set(api.touch(25))
    second = run_tap(tmp_path, tap_config(api), state=state)
    assert second.returncode == 0, second.stderr
    # >= on the bookmark may also return the profiles seen exactly at the old bookmark.
    assert touched <= set(second.ids)
    assert set(second.ids) == api.expected_ids(
        where=f'properties["$last_seen"] >= "{bookmark[:19]}"'
    )


def test_a_killed_run_resumes_from_its_last_state_without_refetching(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=12_000, latency=0.2)

    def past_page_4(state: dict[str, Any]) -> bool:
        position = state["bookmarks"]["engage"].get("engage_position")
        return bool(position and position["page"] >= 4)

    config = tap_config(api, max_workers=2, page_size=1000)
    messages, last_state = run_until_killed(tmp_path, config, None, past_page_4)
    emitted = [m["record"]["distinct_id"] for m in messages if m["type"] == "RECORD"]
    assert last_state is not None
    done_page = last_state["bookmarks"]["engage"]["engage_position"]["page"]
    served_before = dict(api.stats.pages_served)
    resumed = run_tap(tmp_path, tap_config(api, max_workers=2, page_size=1000), state=last_state)
    assert resumed.returncode == 0, resumed.stderr
    for page in range(done_page + 1):
        assert api.stats.pages_served[page] == served_before[page] == 1
    assert set(emitted) | set(resumed.ids) == api.expected_ids()
    assert not set(resumed.ids) & set(emitted[: (done_page + 1) * 1000])


def test_raw_records_are_the_same_values_as_records_a_stream_map_needs_decoded(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2500, seed=9)
    raw = run_tap(tmp_path, tap_config(api, page_size=1000))
    mapped = run_tap(
        tmp_path,
        tap_config(api, page_size=1000, stream_maps={"engage": {"distinct_id": "distinct_id"}}),
    )
    assert raw.returncode == mapped.returncode == 0, raw.stderr + mapped.stderr
    assert len(raw.records) == 2500
    assert raw.records == mapped.records  # the same JSON values, record for record, in order
    raw_lines = [line for line in raw.stdout.splitlines() if '"type":"RECORD"' in line]
    mapped_lines = [line for line in mapped.stdout.splitlines() if '"type":"RECORD"' in line]
    # The raw lines carry the API's own text (its spacing): proof that they were not re-encoded.
    assert any('", "' in line for line in raw_lines)
    assert not any('", "' in line for line in mapped_lines)
