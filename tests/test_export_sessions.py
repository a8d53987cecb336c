"""Session expiry handling in the export engine, scripted exactly with requests-mock."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest
import requests_mock

from tap_mixpanel_engage.client import RetryPolicy
from tap_mixpanel_engage.errors import APIError
from tap_mixpanel_engage.export import Export, Query
from tap_mixpanel_engage.settings import EngageSettings

URL = "https://mixpanel.com/api/query/engage"
PAGE_SIZE = 2
TOTAL = 6  # three pages


def _ids(page: int) -> list[dict[str, Any]]:
    return [{"$distinct_id": f"u{page * PAGE_SIZE + i}", "$properties": {}} for i in range(2)]


class ScriptedAPI:
    """Answers like the Engage API; sessions listed in ``expire_on`` expire at those pages."""

    def __init__(self, expire_on: dict[int, set[int]]) -> None:
        self.expire_on = expire_on  # session number -> pages that answer "expired"
        self.sessions = 0
        self.calls: list[tuple[int, int]] = []

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        body = {k: v[0] for k, v in parse_qs(request.text).items()}
        page = int(body["page"])
        if page == 0:
            self.sessions += 1
            self.calls.append((self.sessions, 0))
            return {
                "page": 0,
                "page_size": PAGE_SIZE,
                "session_id": f"s{self.sessions}",
                "total": TOTAL,
                "results": _ids(0),
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
            "results": _ids(page),
        }


def _export() -> Export:
    settings = EngageSettings.from_config(
        {"project_id": 1, "username": "u", "secret": "s", "max_workers": 1}
    )
    return Export(settings, Query.for_settings(settings, None), policy=RetryPolicy())


def test_a_new_session_that_expires_during_the_alignment_check_is_replaced_again() -> None:
    # Session 1 expires at page 2; session 2 expires at once (the alignment probe of page 1);
    # session 3 lines up with what was emitted, so the export continues at page 2.
    api = ScriptedAPI({1: {2}, 2: {1}})
    export = _export()
    with requests_mock.Mocker() as m:
        m.post(URL, json=api)
        ids = [r["$distinct_id"] for page in export.pages() for r in page.results]
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
