"""Session expiry handling in the export engine, scripted exactly with requests-mock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests_mock

from tap_mixpanel_engage.engage.client import RetryPolicy
from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.state import Position
from tap_mixpanel_engage.errors import APIError
from tap_mixpanel_engage.settings import EngageSettings

URL = "https://mixpanel.com/api/query/engage"
PAGE_SIZE = 2
TOTAL = 6  # three pages


def _ids(page: int, order: list[str] | None = None) -> list[dict[str, Any]]:
    order = order or [f"u{i}" for i in range(TOTAL)]
    chosen = order[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    return [{"$distinct_id": distinct_id, "$properties": {}} for distinct_id in chosen]


class ScriptedAPI:
    """Answers like the Engage API; sessions listed in ``expire_on`` expire at those pages.

    ``orders`` gives a session its own order of profiles (the project changed between sessions:
    profiles added at the front, or a different order altogether).
    """

    def __init__(
        self, expire_on: dict[int, set[int]], orders: dict[int, list[str]] | None = None
    ) -> None:
        self.expire_on = expire_on  # session number -> pages that answer "expired"
        self.orders = orders or {}
        self.sessions = 0
        self.calls: list[tuple[int, int]] = []

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        body = {k: v[0] for k, v in parse_qs(request.text).items()}
        page = int(body["page"])
        if page == 0:
            self.sessions += 1
            self.calls.append((self.sessions, 0))
            order = self.orders.get(self.sessions)
            return {
                "page": 0,
                "page_size": PAGE_SIZE,
                "session_id": f"s{self.sessions}",
                "total": len(order) if order else TOTAL,
                "results": _ids(0, order),
            }
        session = int(body["session_id"][1:])
        self.calls.append((session, page))
        if page in self.expire_on.get(session, set()):
            context.status_code = 400
            return {"error": f"session_id s{session} has expired"}
        return {
            "page": page,
            "page_size": PAGE_SIZE,
            "session_id": f"s{session}",
            "results": _ids(page, self.orders.get(session)),
        }


def _export(
    *, resume: Position | None = None, max_workers: int = 1, where: str | None = None
) -> Export:
    settings = EngageSettings.from_config(
        {
            "project_id": 1,
            "username": "u",
            "secret": "s",
            "max_workers": max_workers,
            "where": where,
            "page_size": PAGE_SIZE,
        }
    )
    query = Query.for_settings(settings, None)
    return Export(settings, query, resume=resume, policy=RetryPolicy())


def _position_after_page_0(api: ScriptedAPI) -> Position:
    """Run an export until page 0 is handed out, close it, and return its saved position."""
    first = _export()
    with requests_mock.Mocker() as m:
        m.post(URL, json=api)
        pages = first.pages()
        next(pages)
        pages.close()
    assert first.position is not None and first.position.page == 0
    return first.position


def _exported_ids(export: Export, answer: Callable[..., dict[str, Any]]) -> list[str]:
    """The id of every record ``export`` hands out, with ``answer`` serving the API.

    Each page is released once read, as the tap does: the engine must not need it afterwards.
    """
    ids: list[str] = []
    with requests_mock.Mocker() as m:
        m.post(URL, json=answer)
        for page in export.pages():
            ids.extend(r["distinct_id"] for r in page.records)
            page.release()
    return ids


def test_a_new_session_that_expires_during_the_alignment_check_is_replaced_again() -> None:
    # Session 1 expires at page 2; session 2 expires at once (the alignment probe of page 1);
    # session 3 lines up with what was emitted, so the export continues at page 2.
    api = ScriptedAPI({1: {2}, 2: {1}})
    export = _export()
    ids = _exported_ids(export, api)
    assert ids == [f"u{i}" for i in range(TOTAL)]
    assert export.stats.session_restarts == 2
    assert api.calls == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


def test_a_session_that_keeps_expiring_ends_with_a_clear_error() -> None:
    api = ScriptedAPI({n: {1} for n in range(1, 100)})
    export = _export()
    with requests_mock.Mocker() as m, pytest.raises(APIError, match="kept expiring"):
        m.post(URL, json=api)
        for _ in export.pages():
            pass


def test_without_a_total_pages_are_fetched_one_by_one_until_a_short_page() -> None:
    pages = [_ids(0), _ids(1), _ids(2)[:1]]
    calls: list[int] = []

    def answer(request: Any, context: Any) -> dict[str, Any]:
        page = int(parse_qs(request.text)["page"][0])
        calls.append(page)
        return {"page": page, "page_size": PAGE_SIZE, "session_id": "s", "results": pages[page]}

    export = _export()
    ids = _exported_ids(export, answer)
    assert ids == ["u0", "u1", "u2", "u3", "u4"]
    assert calls == [0, 1, 2]


def test_a_saved_position_resumes_the_session_at_the_next_page() -> None:
    api = ScriptedAPI({})
    saved = _position_after_page_0(api)
    api.calls.clear()
    resumed = _export(resume=saved)
    ids = _exported_ids(resumed, api)
    assert ids == ["u2", "u3", "u4", "u5"]
    assert api.calls == [(1, 1), (1, 2)]


def test_a_saved_position_with_an_expired_session_lines_a_new_session_up() -> None:
    api = ScriptedAPI({1: {1, 2}})
    saved = _position_after_page_0(api)
    api.calls.clear()
    resumed = _export(resume=saved)
    ids = _exported_ids(resumed, api)
    assert ids == ["u2", "u3", "u4", "u5"]  # page 0 of the new session ends where page 0 did
    assert api.calls[0] == (1, 1)  # the probe found the session expired
    assert api.calls[1:] == [(2, 0), (2, 1), (2, 2)]


def test_a_saved_position_that_does_not_line_up_starts_over_from_page_0() -> None:
    other_order = [f"u{i}" for i in (5, 4, 3, 2, 1, 0)]
    api = ScriptedAPI({1: {1, 2}}, orders={2: other_order})
    saved = _position_after_page_0(api)
    api.calls.clear()
    ids = _exported_ids(_export(resume=saved), api)
    assert ids == other_order  # u1 is not on page 0 of the new session: every page again
    assert api.calls == [(1, 1), (2, 0), (2, 1), (2, 2)]


def test_profiles_added_at_the_front_shift_the_pages_and_are_found_by_the_total() -> None:
    # Session 2 has three new profiles first: what was on page 1 moved forward by 3.
    grown = ["n0", "n1", "n2", *[f"u{i}" for i in range(TOTAL)]]
    api = ScriptedAPI({1: {2}}, orders={2: grown})
    export = _export()
    ids = _exported_ids(export, api)
    # u3 (the last handed out) is now at position 6, page 3 of session 2: page 1 is looked at
    # first (nothing before it changed?), then page 3 (moved by the 3 the total grew): found,
    # so page 3 is handed out (u3 once more) and the export goes on. n0-n2 came after the start.
    assert ids == ["u0", "u1", "u2", "u3", "u3", "u4", "u5"]
    assert api.calls == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 3), (2, 4)]


def test_a_saved_position_of_another_query_is_ignored() -> None:
    api = ScriptedAPI({})
    saved = _position_after_page_0(api)
    api.calls.clear()
    other = _export(resume=saved, where='properties["plan"] == "pro"')
    ids = _exported_ids(other, api)
    assert ids == [f"u{i}" for i in range(TOTAL)]
    assert api.calls[0] == (2, 0)


def test_closing_early_leaves_no_worker_thread_behind() -> None:
    api = ScriptedAPI({})
    export = _export(max_workers=5)
    with requests_mock.Mocker() as m:
        m.post(URL, json=api)
        pages = export.pages()
        next(pages)
        pages.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("engage-page")]


def test_without_a_total_an_expired_session_is_lined_up_and_paging_goes_on() -> None:
    sessions: list[str] = []
    calls: list[tuple[str, int]] = []

    def answer(request: Any, context: Any) -> dict[str, Any]:
        body = {k: v[0] for k, v in parse_qs(request.text).items()}
        page = int(body["page"])
        if page == 0:
            sessions.append(f"s{len(sessions) + 1}")
        session = body.get("session_id", sessions[-1])
        calls.append((session, page))
        if session == "s1" and page == 2:
            context.status_code = 400
            return {"error": "session_id s1 has expired"}
        last = [{"$distinct_id": "u6", "$properties": {}}]
        results = _ids(page) if page < 3 else last  # page 3 is short: the end
        return {"page": page, "page_size": PAGE_SIZE, "session_id": session, "results": results}

    export = _export()
    ids = _exported_ids(export, answer)
    assert ids == ["u0", "u1", "u2", "u3", "u4", "u5", "u6"]
    # s1 dies at page 2; s2's page 0 does not hold u3, its page 1 does, at its end: go on at 2
    assert calls == [("s1", 0), ("s1", 1), ("s1", 2), ("s2", 0), ("s2", 1), ("s2", 2), ("s2", 3)]
    assert export.stats.session_restarts == 1
