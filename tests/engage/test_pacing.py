"""Pacing: the rolling-window budget is never exceeded; the concurrency limit adapts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from tap_mixpanel_engage import iter_profiles
from tap_mixpanel_engage.engage.clock import REAL_CLOCK
from tap_mixpanel_engage.engage.pacing import AdaptiveLimit, Cancelled, HourlyBudget, PacingPolicy
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import StepClock, tap_config


def test_no_rolling_window_ever_holds_more_than_the_budget() -> None:
    budget = HourlyBudget(REAL_CLOCK, PacingPolicy(window=0.3, idle_gap=1.0), limit=3)
    stamps: list[float] = []
    waits: list[float] = []
    lock = threading.Lock()
    cancelled = threading.Event()

    def take() -> None:
        budget.acquire(cancelled, on_wait=waits.append)
        with lock:
            stamps.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    stamps.sort()
    assert len(stamps) == 10
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 0.3]
        assert len(in_window) <= 3
    assert waits  # the waits were reported (the client logs them)


def test_the_plan_names_the_queries_left_and_when_the_last_one_can_go() -> None:
    clock = StepClock(0.0)
    budget = HourlyBudget(clock, PacingPolicy(window=100.0, idle_gap=1000.0), limit=4)
    left = [14]
    budget.remaining = lambda: left[0]
    for _ in range(4):  # one query a second: the window is full at t=4
        budget.acquire(threading.Event())
        left[0] -= 1
        clock.time += 1
    # 10 left: 4 go as the first four leave the window (t=100..103), 4 a window later, and the
    # last two at t=300 and t=301, 297 s from now.
    assert budget.plan() == (
        "10 queries left, 0 of 4 free now, the next in 96s; expected to finish in about 5 min"
    )
    left[0] = 3
    clock.time = 101.0  # two slots freed
    assert budget.plan() == (
        "3 queries left, 2 of 4 free now, the next in 1s; expected to finish in about 1s"
    )
    unknown = HourlyBudget(clock, PacingPolicy(), limit=None)
    assert unknown.plan() == ""


def test_a_budget_wait_ends_at_once_when_the_export_closes() -> None:
    budget = HourlyBudget(REAL_CLOCK, PacingPolicy(), limit=1)
    cancelled = threading.Event()
    budget.acquire(cancelled)
    cancelled.set()
    with pytest.raises(Cancelled):
        budget.acquire(cancelled)


def test_the_concurrency_limit_shrinks_to_one_and_recovers() -> None:
    limit = AdaptiveLimit(5, recover_after=2)
    assert [limit.shrink() for _ in range(6)] == [4, 3, 2, 1, 1, 1]
    cancelled = threading.Event()
    for _ in range(4):
        limit.acquire(cancelled)
        limit.release(success=True)
    assert limit.limit == 3
    assert limit.lowest == 1


def test_a_shrunk_limit_holds_back_extra_queries() -> None:
    limit = AdaptiveLimit(2)
    limit.shrink()
    cancelled = threading.Event()
    limit.acquire(cancelled)
    blocked = threading.Event()

    def second() -> None:
        try:
            limit.acquire(cancelled)
        except Cancelled:
            blocked.set()

    thread = threading.Thread(target=second)
    thread.start()
    cancelled.set()  # the second query was still waiting for a slot
    thread.join(5)
    assert blocked.is_set()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "this export plans 31 queries, more than 30 per hour"),
        ({"max_requests_per_hour": 20}, "this export plans 31 queries, more than 20 per hour"),
    ],
)
def test_the_plan_is_checked_against_the_hourly_budget_before_fetching(
    fake_api: Callable[..., FakeEngageAPI],
    caplog: pytest.LogCaptureFixture,
    overrides: dict[str, int],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tap_mixpanel_engage.engage.page_size.DEFAULT_HOURLY_BUDGET", 30)
    api = fake_api(profiles=3050)
    caplog.set_level(logging.INFO, logger="tap-mixpanel-engage")
    records = iter_profiles(tap_config(api, page_size=100, **overrides))
    next(records)
    records.close()
    assert expected in caplog.text
