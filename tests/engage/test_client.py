"""Request building and error mapping of one Engage query (requests-mock; no sockets needed)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests_mock

from tap_mixpanel_engage.engage.client import EngageClient, RetryPolicy
from tap_mixpanel_engage.engage.pacing import AdaptiveLimit
from tap_mixpanel_engage.engage.progress import ExportStats
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.errors import APIError, AuthError, SessionExpired
from tap_mixpanel_engage.settings import EngageSettings

URL = "https://mixpanel.com/api/query/engage"
FAST = RetryPolicy(backoff_base=0.001, backoff_cap=0.002)


def _client(**config: Any) -> EngageClient:
    settings = EngageSettings.from_config(
        {"project_id": 1234, "username": "svc", "secret": "s3cr3t", **config}
    )
    return EngageClient(
        settings,
        cancelled=threading.Event(),
        stats=ExportStats(),
        limit=AdaptiveLimit(settings.max_workers),
        policy=FAST,
    )


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


def test_retries_are_bounded_and_the_error_names_the_page() -> None:
    client = _client()
    with requests_mock.Mocker() as m:
        m.post(URL, status_code=503, json={"error": "overloaded"})
        with pytest.raises(APIError, match=r"page 4: gave up after 8 tries.*overloaded"):
            client.fetch({"page": "4"}, 4)
        assert m.call_count == 8


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
    assert "page 2: HTTP 429: rate; retrying in 0.00s" in caplog.text


def test_too_many_concurrent_queries_shrinks_the_window() -> None:
    client = _client()
    text = "Query rate limit exceeded for project_id: 1234. 6/5 queries running concurrently"
    with requests_mock.Mocker() as m:
        m.post(URL, [{"status_code": 429, "json": {"error": text}}, _ok()])
        client.fetch({"page": "1"}, 1)
    assert client.limit.limit == 4


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
