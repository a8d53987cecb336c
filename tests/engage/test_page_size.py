"""How big pages are: the export's own choice, the user's, and APIs that refuse or cap sizes.

The rule: page 0 at the API's default tells ``total``; an export of more than two waves of the
window asks again with ``total / max_workers`` per page (at most 25,000). A user's
``page_size`` always wins; the size a session reports is the size it is paged by; a refused or
silently capped size falls back with a warning; a short page before the last with profiles after
it is never skipped over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests_mock

from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.page_size import (
    AUTO_MAX_PAGE_SIZE,
    budget_warning,
    hour_sized_page,
    larger_page_size,
)
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.errors import APIError
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tap_mixpanel_engage.fake_api.profiles import distinct_id_of
from tap_mixpanel_engage.settings import EngageSettings
from tests.helpers import tap_config

URL = "https://mixpanel.com/api/query/engage"


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (200_000, AUTO_MAX_PAGE_SIZE),  # 8 pages of 25,000 instead of 200 of 1,000
        (1_000_000, AUTO_MAX_PAGE_SIZE),
        (20_000, 4_000),  # one wave of the window
        (10_001, 2_001),
        (10_000, None),  # two waves at 1,000 already
        (500, None),
    ],
)
def test_the_export_chooses_larger_pages_only_for_big_exports(
    total: int, expected: int | None
) -> None:
    assert larger_page_size(total, 1000, 5) == expected


def test_the_budget_warning_suggests_a_page_size_that_fits_the_hour() -> None:
    assert hour_sized_page(200_000, 60) == 4_000  # 58 queries of 4,000 hold 232,000
    warning = budget_warning(200, 200_000, None)
    assert warning is not None and "page_size=4000" in warning and "200 queries" in warning
    assert budget_warning(50, 50_000, None) is None


def _ids(export: Export) -> list[str]:
    ids: list[str] = []
    for page in export.pages():
        ids.extend(r["distinct_id"] for r in page.records)
        page.release()
    return ids


def _fake_export(api: FakeEngageAPI, **config: Any) -> Export:
    settings = EngageSettings.from_config(tap_config(api, **config))
    return Export(settings, Query.for_settings(settings, None), raw_properties=True)


def _fake_order(api: FakeEngageAPI) -> list[str]:
    return [distinct_id_of(i, api.settings.seed) for i in range(api.settings.profiles)]


def test_by_default_200k_profiles_take_few_queries_and_come_in_order(
    fake_api: Callable[..., FakeEngageAPI],
) -> None:
    api = fake_api(profiles=200_000, page_size_max=50_000)
    assert _ids(_fake_export(api)) == _fake_order(api)
    stats = api.stats.snapshot()
    assert stats["requests"] == 1 + 8  # page 0 at 1,000, then 8 pages of 25,000 (a new page 0)
    assert stats["requests"] <= 25


@pytest.mark.parametrize("page_size", [20_000, 50_000])
def test_big_pages_of_the_users_choice_keep_every_record_in_order(
    fake_api: Callable[..., FakeEngageAPI], page_size: int
) -> None:
    api = fake_api(profiles=200_000, page_size_max=50_000)
    assert _ids(_fake_export(api, page_size=page_size)) == _fake_order(api)
    assert api.stats.snapshot()["requests"] == 200_000 // page_size  # no second page 0


def test_a_small_export_keeps_the_default_page_size(
    fake_api: Callable[..., FakeEngageAPI],
) -> None:
    api = fake_api(profiles=8_000)
    assert _ids(_fake_export(api)) == _fake_order(api)
    assert api.stats.snapshot()["requests"] == 8


def test_the_users_page_size_wins(fake_api: Callable[..., FakeEngageAPI]) -> None:
    api = fake_api(profiles=20_000)
    assert _ids(_fake_export(api, page_size=1000)) == _fake_order(api)
    stats = api.stats.snapshot()
    assert (stats["requests"], stats["sessions_opened"]) == (20, 1)


def test_the_size_a_session_reports_is_the_size_it_is_paged_by(
    fake_api: Callable[..., FakeEngageAPI], caplog: pytest.LogCaptureFixture
) -> None:
    api = fake_api(profiles=30_000, page_size_max=7_000)  # caps, and says so
    with caplog.at_level(logging.WARNING):
        assert _ids(_fake_export(api, page_size=20_000)) == _fake_order(api)
    assert api.stats.snapshot()["requests"] == 5  # ceil(30,000 / 7,000)
    assert "the API pages by 7000" in caplog.text


class ScriptedAPI:
    """An Engage API over ``total`` profiles ``u0``, ``u1``... whose page sizes misbehave.

    ``refuse_above``: page sizes above it get HTTP 400. ``cap``: at most this many profiles per
    page, while the answer reports the size asked for (a silent cap); pages are then ``cap`` long
    on the server's side. ``short``: page numbers answered with one profile fewer than asked.
    """

    def __init__(
        self,
        total: int,
        *,
        refuse_above: int | None = None,
        cap: int | None = None,
        short: frozenset[int] = frozenset(),
    ) -> None:
        self.total, self.refuse_above, self.cap, self.short = total, refuse_above, cap, short
        self.sessions = 0
        self.asked: list[tuple[int, int]] = []  # (page, page_size) of every query

    def __call__(self, request: Any, context: Any) -> dict[str, Any]:
        form = {k: v[0] for k, v in parse_qs(request.text).items()}
        page, asked = int(form["page"]), int(form.get("page_size", "1000"))
        self.asked.append((page, asked))
        if self.refuse_above is not None and asked > self.refuse_above:
            context.status_code = 400
            return {"error": f"page_size must be at most {self.refuse_above}"}
        if page == 0:
            self.sessions += 1
        sent = min(asked, self.cap) if self.cap else asked
        start = page * sent
        end = min(start + sent - (page in self.short), self.total)
        body: dict[str, Any] = {
            "page": page,
            "page_size": asked,
            "session_id": f"s{self.sessions}",
            "status": "ok",
            "results": [{"$distinct_id": f"u{i}", "$properties": {}} for i in range(start, end)],
        }
        if page == 0:
            body["total"] = self.total
        return body


def _scripted(api: ScriptedAPI, **config: Any) -> tuple[list[str], Export]:
    settings = EngageSettings.from_config(
        {"project_id": 1, "username": "u", "secret": "s", **config}
    )
    export = Export(settings, Query.for_settings(settings, None), raw_properties=True)
    with requests_mock.Mocker() as m:
        m.post(URL, json=api)
        return _ids(export), export


def test_a_refused_page_size_falls_back_to_the_default_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = ScriptedAPI(30_000, refuse_above=5_000)
    with caplog.at_level(logging.WARNING):
        ids, export = _scripted(api)
    assert ids == [f"u{i}" for i in range(30_000)]
    assert export.page_size == 1000
    assert caplog.text.count("refused page_size=6000") == 1
    assert api.asked.count((0, 6000)) == 1  # asked once, then never again


def test_a_silently_capped_larger_size_falls_back_to_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = ScriptedAPI(30_000, cap=2_500)  # says 6000 per page, sends 2500
    with caplog.at_level(logging.WARNING):
        ids, export = _scripted(api)
    assert ids == [f"u{i}" for i in range(30_000)]
    assert export.page_size == 1000
    assert "asked for 6000 profiles per page, the API sent 2500" in caplog.text


def test_a_silent_cap_of_the_users_page_size_is_asked_for_explicitly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = ScriptedAPI(12_000, cap=1_500)  # the user asks for 5000
    with caplog.at_level(logging.WARNING):
        ids, export = _scripted(api, page_size=5_000)
    assert ids == [f"u{i}" for i in range(12_000)]
    assert export.page_size == 1_500
    assert "asking again with page_size=1500" in caplog.text


def test_profiles_after_a_short_page_stop_the_export_naming_the_page() -> None:
    api = ScriptedAPI(5_000, short=frozenset({2}))  # page 2 holds 999 of 1000, page 3 is full
    with pytest.raises(APIError, match=r"page 2 came back with 999 profiles.*page_size` to 999"):
        _scripted(api, page_size=1000, max_workers=1)


def test_a_short_last_page_is_the_end() -> None:
    ids, _ = _scripted(ScriptedAPI(4_500), page_size=1000)
    assert ids == [f"u{i}" for i in range(4_500)]
