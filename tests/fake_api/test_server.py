"""The fake Engage API over a real socket: auth, parameters, paging sessions and filters."""

from __future__ import annotations

import base64
import json
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings, make_profile

AUTH = ("svc-user", "svc-secret")
SEEN = 'properties["$last_seen"] >= "2024-06-09T23:08:40"'


class ManualClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[FakeEngageAPI]:
    with FakeEngageAPI(FakeSettings(profiles=2500, seed=42)) as fake:
        yield fake


def engage(api: FakeEngageAPI, auth: Any = AUTH, **params: Any) -> requests.Response:
    """POST a form like the tap does; ``project_id`` is added unless given (None drops it)."""
    params.setdefault("project_id", api.settings.project_id)
    data = {k: v for k, v in params.items() if v is not None}
    return requests.post(f"{api.url}/api/query/engage", data=data, auth=auth, timeout=10)


def fetch_all(api: FakeEngageAPI, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    first = engage(api, **params).json()
    rows, page = list(first["results"]), 1
    while True:
        body = engage(api, session_id=first["session_id"], page=page, **params).json()
        if not body["results"]:
            return rows, first
        rows += body["results"]
        page += 1


def test_service_account_gets_page_zero_with_every_field(api: FakeEngageAPI) -> None:
    r = engage(api)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"page", "page_size", "session_id", "status", "total", "results"}
    assert (body["page"], body["page_size"], body["status"], body["total"]) == (0, 1000, "ok", 2500)
    assert isinstance(body["session_id"], str) and body["session_id"]
    assert body["results"][:3] == [make_profile(i, 42) for i in range(3)]


def test_legacy_api_secret_needs_no_project_id(api: FakeEngageAPI) -> None:
    r = engage(api, auth=("legacy-secret", ""), project_id=None)
    assert r.status_code == 200
    assert r.json()["total"] == 2500


@pytest.mark.parametrize(
    "auth",
    [None, ("svc-user", "wrong"), ("someone", "svc-secret"), ("legacy-secret", "x"), ("", "")],
)
def test_missing_or_wrong_credentials_get_401(api: FakeEngageAPI, auth: Any) -> None:
    r = engage(api, auth=auth)
    assert r.status_code == 401
    assert r.json() == {"error": "Unable to authenticate request", "request": "/api/query/engage"}


def test_wrong_project_gets_403_and_missing_project_400(api: FakeEngageAPI) -> None:
    r = engage(api, project_id=999)
    assert r.status_code == 403
    assert r.json() == {
        "error": "service account does not have access to project 999",
        "request": "/api/query/engage",
    }
    r = engage(api, project_id=None)
    assert r.status_code == 400
    assert "project_id" in r.json()["error"]
    assert api.stats.snapshot()["auth_failures"] == 1


def test_get_legacy_path_json_body_and_merged_parameters_all_work(api: FakeEngageAPI) -> None:
    base = f"{api.url}/api/2.0/engage"
    got = requests.get(base, params={"project_id": 1234, "page_size": 7}, auth=AUTH, timeout=10)
    assert (got.status_code, got.json()["page_size"]) == (200, 7)
    posted = requests.post(
        f"{api.url}/api/query/engage?project_id=1234&workspace_id=5",
        json={"page_size": 3, "output_properties": ["plan"]},
        auth=AUTH,
        timeout=10,
    )
    body = posted.json()
    assert (posted.status_code, len(body["results"])) == (200, 3)
    assert {tuple(r["$properties"]) for r in body["results"]} == {("plan",)}


def test_paging_returns_every_profile_once_in_a_stable_order(api: FakeEngageAPI) -> None:
    rows, first = fetch_all(api, page_size=300)
    ids = [r["$distinct_id"] for r in rows]
    assert ids == [make_profile(i, 42)["$distinct_id"] for i in range(2500)]
    assert first["total"] == 2500
    again, _ = fetch_all(api, page_size=300)
    assert again == rows
    stats = api.stats.snapshot()
    assert stats["pages_served"] == {p: 2 for p in range(10)}  # 9 full/partial pages + 1 empty
    assert (stats["sessions_opened"], stats["profiles_served"], stats["requests"]) == (2, 5000, 20)


def test_later_pages_have_no_total_and_pages_past_the_end_are_empty(api: FakeEngageAPI) -> None:
    sid = engage(api, page_size=1000).json()["session_id"]
    page2 = engage(api, session_id=sid, page=2).json()
    assert set(page2) == {"page", "page_size", "session_id", "status", "results"}
    assert (page2["page"], page2["page_size"], len(page2["results"])) == (2, 1000, 500)
    assert engage(api, session_id=sid, page=3).json()["results"] == []
    assert engage(api, session_id=sid, page=50).json()["results"] == []


def test_page_after_zero_without_session_is_refused(api: FakeEngageAPI) -> None:
    r = engage(api, page=1)
    assert r.status_code == 400
    assert r.json() == {
        "error": "page > 0 requires a session_id from page 0 of this query",
        "request": "/api/query/engage",
    }


def test_unknown_session_is_refused_with_a_message_about_the_session(api: FakeEngageAPI) -> None:
    r = engage(api, session_id="nope", page=1)
    assert r.status_code == 400
    assert r.json()["error"] == ("unknown session_id nope; run the query again without session_id")


def test_page_size_is_honoured_up_to_the_cap() -> None:
    with FakeEngageAPI(FakeSettings(profiles=900, page_size_max=400)) as api:
        small = engage(api, page_size=25).json()
        assert (small["page_size"], len(small["results"])) == (25, 25)
        capped = engage(api, page_size=5000).json()
        assert (capped["page_size"], len(capped["results"]), capped["total"]) == (400, 400, 900)
        assert engage(api, page_size=0).status_code == 400
        assert engage(api, page_size="many").status_code == 400


@pytest.mark.parametrize("op", [">=", ">"])
def test_where_on_last_seen_returns_exactly_the_expected_ids(api: FakeEngageAPI, op: str) -> None:
    where = f'properties["$last_seen"] {op} "2024-06-09T23:08:40"'
    rows, first = fetch_all(api, where=where, page_size=200)
    expected = api.expected_ids(where)
    assert 0 < len(expected) < 2500
    assert [r["$distinct_id"] for r in rows] == sorted(
        expected, key=[make_profile(i, 42)["$distinct_id"] for i in range(2500)].index
    )
    assert first["total"] == len(expected)
    assert all(r["$properties"]["$last_seen"] >= "2024-06-09T23:08:40" for r in rows)


def test_where_on_generic_properties_matches_a_brute_force_filter(api: FakeEngageAPI) -> None:
    where = '(properties["plan"] == "pro" or properties["plan_seats"] > 150) and ' + SEEN
    rows, _ = fetch_all(api, where=where)

    def matches(p: dict[str, Any]) -> bool:
        seats = p["plan_seats"]
        big = isinstance(seats, int | float) and seats > 150
        return (p["plan"] == "pro" or big) and p["$last_seen"] >= "2024-06-09T23:08:40"

    everyone = [make_profile(i, 42) for i in range(2500)]
    assert rows == [p for p in everyone if matches(p["$properties"])]


def test_bad_where_is_a_400_naming_the_problem(api: FakeEngageAPI) -> None:
    r = engage(api, where='properties["$last_seen"] >= ')
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid where expression: ")
    assert api.stats.snapshot()["client_errors"] == 1


def test_output_properties_limits_the_returned_properties(api: FakeEngageAPI) -> None:
    wanted = ["$email", "plan", "utm source", "absent"]
    body = engage(api, output_properties=json.dumps(wanted), page_size=50).json()
    for i, row in enumerate(body["results"]):
        full = make_profile(i, 42)["$properties"]
        assert row["$properties"] == {k: full[k] for k in wanted if k in full}
    assert engage(api, output_properties="[oops").status_code == 400


def test_cohort_membership_is_deterministic_and_about_a_third(api: FakeEngageAPI) -> None:
    rows, first = fetch_all(api, filter_by_cohort=json.dumps({"id": 123}), include_all_users=1)
    ids = [r["$distinct_id"] for r in rows]
    assert set(ids) == api.expected_ids(cohort_id=123)
    assert 600 < len(ids) < 1100 and first["total"] == len(ids)
    assert [r["$distinct_id"] for r in fetch_all(api, filter_by_cohort='{"id": 123}')[0]] == ids
    other = {r["$distinct_id"] for r in fetch_all(api, filter_by_cohort='{"id": 124}')[0]}
    assert other != set(ids)
    assert engage(api, filter_by_cohort='{"name": "x"}').status_code == 400


def test_distinct_ids_and_distinct_id_select_only_those(api: FakeEngageAPI) -> None:
    wanted = [make_profile(i, 42)["$distinct_id"] for i in (700, 3, 2499)]
    body = engage(api, distinct_ids=json.dumps([*wanted, "not-a-user"])).json()
    assert [r["$distinct_id"] for r in body["results"]] == [wanted[1], wanted[0], wanted[2]]
    assert body["total"] == 3
    single = engage(api, distinct_id=wanted[0]).json()
    assert [r["$distinct_id"] for r in single["results"]] == [wanted[0]]


def test_expired_session_gets_400_and_is_counted() -> None:
    clock = ManualClock()
    with FakeEngageAPI(FakeSettings(profiles=30, session_lifetime=600), clock=clock) as api:
        sid = engage(api, page_size=10).json()["session_id"]
        clock.now += 600
        assert engage(api, session_id=sid, page=1, page_size=10).status_code == 200
        clock.now += 0.5
        r = engage(api, session_id=sid, page=2, page_size=10)
        assert r.status_code == 400
        assert r.json() == {
            "error": f"session_id {sid} has expired; run the query again without session_id",
            "request": "/api/query/engage",
        }
        assert api.stats.snapshot()["expired_sessions"] == 1


def test_expire_sessions_expires_every_open_session_now(api: FakeEngageAPI) -> None:
    sids = [engage(api).json()["session_id"] for _ in range(2)]
    assert api.expire_sessions() == 2
    for sid in sids:
        assert "has expired" in engage(api, session_id=sid, page=1).json()["error"]
    fresh = engage(api).json()["session_id"]
    assert engage(api, session_id=fresh, page=1).status_code == 200
    assert api.stats.expired_sessions == 2


def test_touched_profiles_are_newer_than_all_others_and_found_by_where(api: FakeEngageAPI) -> None:
    newest = max(make_profile(i, 42)["$properties"]["$last_seen"] for i in range(2500))
    where = f'properties["$last_seen"] > "{newest}"'
    assert engage(api, where=where).json()["total"] == 0
    touched = api.touch(50)
    assert len(set(touched)) == 50
    rows, _ = fetch_all(api, where=where)
    assert {r["$distinct_id"] for r in rows} == set(touched) == api.expected_ids(where)
    stamps = {r["$properties"]["$last_seen"] for r in rows}
    assert len(stamps) == 1 and stamps.pop() > newest
    more = requests.post(f"{api.url}/_fake/touch?count=5", timeout=10).json()
    assert len(more) == 5 and api.expected_ids(where) == set(touched) | set(more)


def test_stats_endpoint_serves_the_counters_as_json(api: FakeEngageAPI) -> None:
    engage(api)
    engage(api, auth=None)
    got = requests.get(f"{api.url}/_fake/stats", timeout=10).json()
    assert got == json.loads(json.dumps(api.stats.snapshot()))
    assert (got["requests"], got["pages_served"], got["auth_failures"]) == (2, {"0": 1}, 1)
    assert api.stats.pages_served == Counter({0: 1})
    assert requests.get(f"{api.url}/nope", timeout=10).status_code == 404
    refused = requests.put(f"{api.url}/api/query/engage", timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (405, "method PUT not allowed")


def test_a_request_cut_off_mid_body_is_not_answered_as_a_query(api: FakeEngageAPI) -> None:
    # A client that aborts a send (the tap closing its sockets on Ctrl-C) leaves the headers and
    # part of the form: that is no query, least of all a page 0 of the project.
    form = f"page=3&session_id=s1&page_size=1000&project_id={api.settings.project_id}".encode()
    token = base64.b64encode(b"svc-user:svc-secret").decode()
    head = (
        f"POST /api/query/engage?project_id={api.settings.project_id} HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: Basic {token}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(form)}\r\n\r\n"
    ).encode()
    host, port = api.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + form[:7])
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1024) == b""  # closed without an answer
    assert api.stats.pages_served == Counter()
    assert engage(api).status_code == 200  # and the server goes on serving
