"""Starting and stopping the fake, and the sizes it must handle quickly."""

from __future__ import annotations

import threading

import pytest
import requests

from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings

AUTH = ("svc-user", "svc-secret")


def test_stop_closes_the_socket_even_with_an_idle_keep_alive_connection() -> None:
    api = FakeEngageAPI(FakeSettings(profiles=10)).start()
    url = api.url
    with requests.Session() as s:
        r = s.post(f"{url}/api/query/engage", data={"project_id": 1234}, auth=AUTH, timeout=10)
        assert r.status_code == 200  # the connection now idles, kept alive
        api.stop()
        with pytest.raises(requests.ConnectionError):
            s.post(f"{url}/api/query/engage", data={"project_id": 1234}, auth=AUTH, timeout=10)
    with pytest.raises(RuntimeError, match="not running"):
        _ = api.url
    api.stop()  # idempotent


def test_stop_interrupts_queries_sleeping_in_latency() -> None:
    api = FakeEngageAPI(FakeSettings(profiles=10, latency=600)).start()
    tick = threading.Event()  # never set: only paces the wait for the query to be admitted
    failures: list[BaseException] = []

    def query() -> None:
        try:
            requests.post(
                f"{api.url}/api/query/engage", data={"project_id": 1234}, auth=AUTH, timeout=60
            )
        except requests.ConnectionError as exc:
            failures.append(exc)

    worker = threading.Thread(target=query)
    worker.start()
    while api.stats.snapshot()["in_flight"] == 0 and worker.is_alive():
        tick.wait(0.01)
    api.stop()
    worker.join()
    assert len(failures) == 1
    assert api.stats.snapshot()["in_flight"] == 0


def test_where_on_last_seen_over_200k_profiles_matches_expected_ids() -> None:
    where = 'properties["$last_seen"] >= "2025-06-01T00:00:00"'
    with FakeEngageAPI(FakeSettings(profiles=200_000, seed=5)) as api:
        body = requests.post(
            f"{api.url}/api/query/engage",
            data={"project_id": 1234, "where": where, "page_size": 10_000},
            auth=AUTH,
            timeout=60,
        ).json()
        expected = api.expected_ids(where)
        assert body["total"] == len(expected) > 1000
        assert {r["$distinct_id"] for r in body["results"]} <= expected
