"""Request building and error mapping of one Engage query (requests-mock; no sockets needed)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests_mock

from tap_mixpanel_engage.engage.client import EngageClient, RetryPolicy
from tap_mixpanel_engage.engage.pacing import AdaptiveLimit, HourlyBudget, PacingPolicy
from tap_mixpanel_engage.engage.progress import ExportStats
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.errors import APIError, AuthError, SessionExpired
from tap_mixpanel_engage.settings import EngageSettings
from tests.helpers import StepClock

URL = "https://mixpanel.com/api/query/engage"
FAST = RetryPolicy(backoff_base=0.001, backoff_cap=0.002)


def _client(policy: RetryPolicy = FAST, **config: Any) -> EngageClient:
    settings = EngageSettings.from_config(
        {"project_id": 1234, "username": "svc", "secret": "s3cr3t", **config}
    )
    clock = StepClock()
    return EngageClient(
        settings,
        cancelled=threading.Event(),
        stats=ExportStats(),
        limit=AdaptiveLimit(settings.max_workers),
        budget=HourlyBudget(clock, PacingPolicy(), settings.max_requests_per_hour),
        policy=policy,
        clock=clock,
    )


def _sleeps(client: EngageClient) -> list[float]:
    assert isinstance(client.clock, StepClock)
    return client.clock.sleeps


def _ok(page: int = 0) -> dict[str, Any]:
    return {"json": {"page": page, "page_size": 1000, "session_id": "s1", "results": []}}


def test_request_carries_basic_auth_project_and_form_body() -> None:
    client = _client(workspace_id=7, page_size=250, where='properties["plan"] == "pro"')
    query = Query.for_settings(client.settings, since="2024-05-01T00:00:00Z")
    with requests_mock.Mocker() as m:
        m.post(URL, **_ok())
        client.fetch(query.body(3, "s1"), 3)
        request = m.request_history[0]
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.qs == {"project_id": ["1234"], "workspace_id": ["7"]}
    body = parse_qs(request.text)
    assert body["page"] == ["3"]
    assert body["session_id"] == ["s1"]
    assert body["page_size"] == ["250"]
    assert body["where"] == [
        '(properties["plan"] == "pro") and properties["$last_seen"] >= "2024-05-01T00:00:00"'
    ]


def test_legacy_secret_is_the_basic_username() -> None:
    settings = EngageSettings.from_config({"api_secret": "abc"})
    client = EngageClient(
        settings, cancelled=threading.Event(), stats=ExportStats(), limit=AdaptiveLimit(1)
    )
    with requests_mock.Mocker() as m:
        m.post(URL, **_ok())
        client.fetch({"page": "0"}, 0)
        assert m.request_history[0].headers["Authorization"] == "Basic YWJjOg=="
        assert "project_id" not in m.request_history[0].qs


def test_server_errors_and_bad_bodies_are_retried_then_succeed() -> None:
    client = _client()
    with requests_mock.Mocker() as m:
        m.post(
            URL,
            [
                {"status_code": 502, "text": "bad gateway"},
                {"status_code": 200, "text": "{not json"},
                {"status_code": 200, "json": {"unexpected": True}},
                _ok(),
            ],
        )
        page = client.fetch({"page": "0"}, 0)
    assert page.session_id == "s1"
    assert client.stats.retries == 3


def test_an_outage_is_retried_for_max_outage_wait_then_the_error_names_the_page() -> None:
    client = _client(RetryPolicy(), max_outage_wait=120)  # real backoff, on the step clock
    with requests_mock.Mocker() as m:
        m.post(URL, status_code=503, json={"error": "overloaded"})
        with pytest.raises(APIError) as caught:
            client.fetch({"page": "4"}, 4)
        tries = m.call_count
    message = str(caught.value)
    assert message.startswith(f"page 4: gave up after {tries} tries in ")
    assert "`max_outage_wait`" in message and "overloaded" in message
    assert sum(_sleeps(client)[:-1]) < 120 <= sum(_sleeps(client))  # on time, not on tries
    assert tries == len(_sleeps(client)) + 1 >= 3


def test_a_short_outage_is_survived() -> None:
    client = _client()
    with requests_mock.Mocker() as m:
        m.post(URL, [{"status_code": 502, "json": {"error": "bad gateway"}}] * 12 + [_ok(3)])
        page = client.fetch({"page": "3"}, 3)
        assert m.call_count == 13
    assert page.number == 3


def test_429_honours_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    client = _client()
    with requests_mock.Mocker() as m:
        m.post(
            URL,
            [
                {"status_code": 429, "json": {"error": "rate"}, "headers": {"Retry-After": "0"}},
                _ok(),
            ],
        )
        client.fetch({"page": "2"}, 2)
    assert client.stats.rate_limited == 1
    assert "page 2: HTTP 429: rate; retrying in " in caplog.text
    assert 0 < _sleeps(client)[0] < 1  # Retry-After 0: a short pause, not a spin


def test_too_many_concurrent_queries_shrinks_the_window() -> None:
    client = _client()
    text = "Query rate limit exceeded for project_id: 1234. 6/5 queries running concurrently"
    with requests_mock.Mocker() as m:
        m.post(URL, [{"status_code": 429, "json": {"error": text}}, _ok()])
        client.fetch({"page": "1"}, 1)
    assert client.limit.limit == 4


MIXPANEL_429 = (
    "Query rate limit exceeded for project_id: 1234. {running}/5 queries running concurrently "
    "and {recent}/60 queries running in the last hour. Please try again later."
)


def test_the_hourly_limit_waits_and_never_shrinks_the_window() -> None:
    client = _client()
    hourly = MIXPANEL_429.format(running=1, recent=61)
    with requests_mock.Mocker() as m:
        m.post(
            URL,
            [
                {"status_code": 429, "json": {"error": hourly}, "headers": {"Retry-After": "90"}},
                _ok(),
            ],
        )
        client.fetch({"page": "1"}, 1)
    assert client.limit.limit == 5
    assert client.budget.limit == 60  # learned from the counter
    assert _sleeps(client) == [90]


def test_the_concurrency_counter_shrinks_even_when_the_text_speaks_of_the_hour_too() -> None:
    client = _client()
    concurrent = MIXPANEL_429.format(running=6, recent=7)
    with requests_mock.Mocker() as m:
        m.post(URL, [{"status_code": 429, "json": {"error": concurrent}}, _ok()])
        client.fetch({"page": "1"}, 1)
    assert client.limit.limit == 4
    assert client.budget.limit is None  # the hourly budget is not the problem


@pytest.mark.parametrize(
    "retry_after", ["0", "-3", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "nan", "1e12", ""]
)
def test_odd_retry_after_values_neither_crash_nor_spin_nor_hang(retry_after: str) -> None:
    client = _client()
    limited = {
        "status_code": 429,
        "json": {"error": "rate"},
        "headers": {"Retry-After": retry_after},
    }
    with requests_mock.Mocker() as m:
        m.post(URL, [limited] * 6 + [_ok()])
        client.fetch({"page": "1"}, 1)
    sleeps = _sleeps(client)
    assert len(sleeps) == 6
    assert all(0 < s <= 3600 for s in sleeps)  # never 0 (a spin), never past the window


def test_rate_limits_are_waited_out_for_max_rate_limit_wait_then_the_advice_is_given() -> None:
    client = _client(max_rate_limit_wait=7200)
    hourly = MIXPANEL_429.format(running=1, recent=61)
    with requests_mock.Mocker() as m:
        m.post(URL, status_code=429, json={"error": hourly}, headers={"Retry-After": "3600"})
        with pytest.raises(APIError) as caught:
            client.fetch({"page": "9"}, 9)
    message = str(caught.value)
    assert message.startswith("page 9: still rate limited after waiting")
    assert "raise `page_size`" in message and "`max_requests_per_hour`" in message
    assert 7200 <= sum(_sleeps(client)) < 7200 + 3600


@pytest.mark.parametrize(
    ("status", "error", "page", "kind", "fragment"),
    [
        (400, "Unable to authenticate request", 0, AuthError, "`username`, `secret`"),
        (401, "Unable to authenticate request", 0, AuthError, "`region`"),
        (403, "no access to project", 0, AuthError, "`project_id`"),
        (402, "Payment required", 0, APIError, "plan does not include API access"),
        (400, "invalid where expression: x", 0, APIError, "check the `where` setting"),
        (404, "not found", 0, APIError, "`api_url`"),
    ],
)
def test_client_errors_fail_at_once_naming_the_setting(
    status: int, error: str, page: int, kind: type[Exception], fragment: str
) -> None:
    client = _client()
    with requests_mock.Mocker() as m:
        m.post(URL, status_code=status, json={"error": error})
        with pytest.raises(kind) as info:
            client.fetch({"page": str(page)}, page)
        assert m.call_count == 1
    assert fragment in str(info.value)
    assert error in str(info.value)
    assert "s3cr3t" not in str(info.value)


def test_a_session_error_on_a_later_page_means_expired_not_bad_credentials() -> None:
    client = _client()
    with requests_mock.Mocker() as m:
        m.post(URL, status_code=400, json={"error": "session_id abc has expired"})
        with pytest.raises(SessionExpired):
            client.fetch({"page": "3", "session_id": "abc"}, 3)
