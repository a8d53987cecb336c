"""The fake's misbehaviour knobs over a real socket: rate limits, faults, latency, outages."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from tap_mixpanel_engage.fake_api import FAULT_KINDS, FakeEngageAPI, FakeSettings

AUTH = ("svc-user", "svc-secret")


class ManualClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def engage(
    api: FakeEngageAPI, session: requests.Session | None = None, **params: Any
) -> requests.Response:
    post = requests.post if session is None else session.post
    data = {"project_id": 1234, **params}
    return post(f"{api.url}/api/query/engage", data=data, auth=AUTH, timeout=30)


def limit_text(running: int, concurrent: int, recent: int, hourly: int) -> str:
    return (
        f"Query rate limit exceeded for project_id: 1234. {running}/{concurrent} queries running "
        f"concurrently and {recent}/{hourly} queries running in the last hour. "
        "Please try again later."
    )


def test_the_query_beyond_max_concurrent_gets_429_with_mixpanels_text() -> None:
    settings = FakeSettings(profiles=100, latency=0.5, max_concurrent=5)
    with FakeEngageAPI(settings) as api:
        barrier = threading.Barrier(6)
        responses: list[requests.Response] = []
        lock = threading.Lock()

        def fire() -> None:
            with requests.Session() as s:
                barrier.wait()
                r = engage(api, s, page_size=10)
            with lock:
                responses.append(r)

        threads = [threading.Thread(target=fire) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 200, 200, 200, 429]
        rejected = next(r for r in responses if r.status_code == 429)
        assert rejected.json() == {
            "error": limit_text(6, 5, 6, 60),
            "request": "/api/query/engage",
        }
        assert "Retry-After" not in rejected.headers
        stats = api.stats.snapshot()
        assert (stats["max_in_flight"], stats["rate_limited"], stats["in_flight"]) == (5, 1, 0)


def test_rolling_window_answers_429_with_retry_after_until_a_slot_frees() -> None:
    clock = ManualClock()
    settings = FakeSettings(profiles=10, rate_limit=3, rate_window=60)
    with FakeEngageAPI(settings, clock=clock) as api:
        for _ in range(3):
            assert engage(api).status_code == 200
            clock.now += 10
        r = engage(api)
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "30"
        assert r.json()["error"] == limit_text(1, 5, 4, 3)
        clock.now += 29.5
        assert engage(api).headers["Retry-After"] == "1"  # rounded up, never 0
        clock.now += 0.5
        assert engage(api).status_code == 200  # the first query left the window
        assert engage(api).status_code == 429  # rejected ones never took a slot
        assert api.stats.snapshot()["rate_limited"] == 3


def test_rate_limit_can_count_page_zero_only() -> None:
    clock = ManualClock()
    settings = FakeSettings(profiles=50, rate_limit=1, rate_limit_pages=False)
    with FakeEngageAPI(settings, clock=clock) as api:
        sid = engage(api, page_size=10).json()["session_id"]
        for page in range(1, 5):
            assert engage(api, session_id=sid, page=page, page_size=10).status_code == 200
        assert engage(api).status_code == 429


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_error_faults_answer_json_errors(kind: str) -> None:
    settings = FakeSettings(profiles=10, fault_rate=1.0, fault_kinds=(kind,))
    with FakeEngageAPI(settings) as api:
        r = engage(api)
        assert r.status_code == int(kind)
        assert set(r.json()) == {"error", "request"}
        assert api.stats.snapshot()["faults_by_kind"] == {kind: 1}


def test_drop_fault_closes_the_connection_without_a_response() -> None:
    settings = FakeSettings(profiles=10, fault_rate=1.0, fault_kinds=("drop",))
    with FakeEngageAPI(settings) as api, pytest.raises(requests.ConnectionError):
        engage(api)


def test_truncate_fault_sends_half_the_promised_body() -> None:
    settings = FakeSettings(profiles=200, fault_rate=1.0, fault_kinds=("truncate",))
    with FakeEngageAPI(settings) as api, pytest.raises(requests.exceptions.ChunkedEncodingError):
        engage(api)


def test_invalid_json_fault_answers_200_with_a_body_that_is_not_json() -> None:
    settings = FakeSettings(profiles=10, fault_rate=1.0, fault_kinds=("invalid_json",))
    with FakeEngageAPI(settings) as api:
        r = engage(api)
        assert r.status_code == 200
        with pytest.raises(requests.exceptions.JSONDecodeError):
            r.json()
        assert api.stats.faults == 1


def test_faults_follow_the_seed_and_spare_rejected_requests() -> None:
    def outcomes() -> list[str]:
        settings = FakeSettings(profiles=10, seed=9, fault_rate=0.5, fault_kinds=FAULT_KINDS)
        seen = []
        with FakeEngageAPI(settings) as api:
            for _ in range(30):
                try:
                    r = engage(api)
                    seen.append(f"{r.status_code}:{r.text[:1]}")
                except requests.RequestException as exc:
                    seen.append(type(exc).__name__)
            assert requests.post(f"{api.url}/api/query/engage", timeout=10).status_code == 401
            assert api.stats.faults == sum(s != "200:{" for s in seen)
        return seen

    first = outcomes()
    assert first == outcomes()
    assert 5 < sum(s != "200:{" for s in first) < 25


def test_fail_with_status_answers_every_query_with_that_status() -> None:
    with FakeEngageAPI(FakeSettings(fail_with_status=402)) as api:
        for auth in (AUTH, None):
            r = requests.post(f"{api.url}/api/query/engage", auth=auth, timeout=10)
            assert r.status_code == 402
            assert r.json()["error"].startswith("Your plan does not include API access")


def test_latency_jitter_is_seeded_and_bounded() -> None:
    settings = FakeSettings(latency=2.0, jitter=0.25, seed=4)
    first = FakeEngageAPI(settings).chaos
    second = FakeEngageAPI(settings).chaos
    delays = [first.delay() for _ in range(50)]
    assert delays == [second.delay() for _ in range(50)]
    assert all(1.5 <= d <= 2.5 for d in delays) and len(set(delays)) == 50


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="fault_kinds"):
        FakeSettings(fault_kinds=("explode",))
    with pytest.raises(ValueError, match="fault_rate"):
        FakeSettings(fault_rate=1.5)
