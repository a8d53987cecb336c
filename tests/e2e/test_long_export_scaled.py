"""The long-export scenario time-scaled over real sockets: an hour is six seconds.

The real ``tap-mixpanel-engage`` against the fake API on loopback: 200 pages, 60 queries per
rolling window, sessions that die after a sixth of a window unused, a growing project. The tap
is told the window's length and a matching idle gap; nothing else is scaled.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.long_export import (
    PAGE_SIZE,
    PAGES,
    PER_HOUR,
    SCALED_GROWTH,
    SCALED_LATENCY,
    SCALED_SEED,
    SCALED_WINDOW,
    floor_seconds,
    scaled_tap_settings,
)
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import run_tap, tap_config

_DONE = re.compile(r"export done: (\d+) records in (\d+) pages in ([\d.]+)s")


@pytest.mark.slow
@pytest.mark.parametrize("every_page_counts", [True, False], ids=["every-page", "page-0-only"])
def test_the_scaled_long_export_finishes_with_every_profile_near_the_floor(
    fake_api: Callable[..., FakeEngageAPI], tmp_path: Path, every_page_counts: bool
) -> None:
    api = fake_api(
        profiles=PAGES * PAGE_SIZE,
        rate_limit=PER_HOUR,
        rate_window=SCALED_WINDOW,
        rate_limit_pages=every_page_counts,
        session_idle_timeout=SCALED_WINDOW / 6,
        growth_per_second=SCALED_GROWTH,
        latency=SCALED_LATENCY,
        seed=SCALED_SEED,
    )
    existing = api.expected_ids()
    config = tap_config(api, **scaled_tap_settings())
    run = run_tap(tmp_path, config, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = api.stats.snapshot()
    pages = len(stats["pages_served"])
    answered = sum(stats["pages_served"].values()) + stats["expired_sessions"]
    done = _DONE.search(run.stderr)
    assert done is not None
    elapsed = float(done.group(3))
    floor = floor_seconds(every_page_counts, window=SCALED_WINDOW, latency=SCALED_LATENCY)
    assert existing <= set(run.ids)
    assert answered <= 1.05 * pages, stats
    assert elapsed <= 1.25 * floor + 1.0, (elapsed, floor)
