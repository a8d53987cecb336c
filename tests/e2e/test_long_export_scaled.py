"""The long-export scenario time-scaled over real sockets: an hour is six seconds.

The real ``tap-mixpanel-engage`` against the fake API on loopback: 200 pages, 60 queries per
rolling window, sessions that die after a sixth of a window unused, a growing project. The tap
is told the window's length and a matching idle gap; nothing else is scaled.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tests.helpers import run_tap, tap_config

PAGES = 200
WINDOW = 6.0
LATENCY = 0.2
_DONE = re.compile(r"export done: (\d+) records in (\d+) pages in ([\d.]+)s")


@pytest.mark.slow
@pytest.mark.parametrize("every_page_counts", [True, False], ids=["every-page", "page-0-only"])
def test_the_scaled_long_export_finishes_with_every_profile_near_the_floor(
    fake_api: Callable[..., FakeEngageAPI], tmp_path: Path, every_page_counts: bool
) -> None:
    api = fake_api(
        profiles=PAGES * 1000,
        rate_limit=60,
        rate_window=WINDOW,
        rate_limit_pages=every_page_counts,
        session_idle_timeout=WINDOW / 6,
        growth_per_second=20,
        latency=LATENCY,
        seed=5,
    )
    existing = api.expected_ids()
    config = tap_config(
        api,
        page_size=1000,
        output_properties=["$last_seen"],
        rate_limit_window=WINDOW,
        session_idle_gap=WINDOW / 15,
    )
    run = run_tap(tmp_path, config, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = api.stats.snapshot()
    pages = len(stats["pages_served"])
    answered = sum(stats["pages_served"].values()) + stats["expired_sessions"]
    done = _DONE.search(run.stderr)
    assert done is not None
    elapsed = float(done.group(3))
    waves = 1 + math.ceil((PAGES - 1) / 5)
    floor = (math.ceil(PAGES / 60) - 1) * WINDOW + LATENCY if every_page_counts else waves * LATENCY
    assert existing <= set(run.ids)
    assert answered <= 1.05 * pages, stats
    assert elapsed <= 1.25 * floor + 1.0, (elapsed, floor)
