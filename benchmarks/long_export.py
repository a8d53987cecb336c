"""A long export under Mixpanel's real limits, simulated: hours of rate limits without waiting.

The fake API and the export share one :class:`SimulatedClock`: 60 queries per rolling hour,
sessions that die after 10 minutes unused, a project that gains profiles while it is exported,
and one simulated second per query. Either every page counts against the hour or only page 0
(which of the two Mixpanel does is unknown). Used by the test that holds the export to it and by
``make bench``, which reports the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings
from tap_mixpanel_engage.fake_api.clock import SimulatedClock
from tap_mixpanel_engage.settings import EngageSettings

PAGES = 200
PAGE_SIZE = 1000
PER_HOUR = 60
HOUR = 3600.0
LATENCY = 1.0
WORKERS = 5


@dataclass(frozen=True)
class Outcome:
    """What one simulated export did."""

    missing: int
    """Profiles that existed when the export began and never came out."""
    pages: int
    """Distinct pages served."""
    answered: int
    """Queries the API answered (pages served, again included, and expired sessions)."""
    elapsed: float
    """Simulated seconds from the first query to the last page."""
    sessions: int
    floor: float
    """The least simulated time the budget and five queries at once allow."""


def floor_seconds(
    every_page_counts: bool, *, window: float = HOUR, latency: float = LATENCY
) -> float:
    """The least time the budget and five queries at once allow for ``PAGES`` pages."""
    waves = 1 + math.ceil((PAGES - 1) / WORKERS)
    if not every_page_counts:
        return waves * latency
    return (math.ceil(PAGES / PER_HOUR) - 1) * window + latency


SCALED_WINDOW = 6.0
"""The time-scaled run over real sockets: an hour of six seconds."""
SCALED_LATENCY = 0.2
SCALED_GROWTH = 20.0
"""Profiles the project gains per second while the scaled run exports it."""
SCALED_SEED = 5


def scaled_tap_settings() -> dict[str, object]:
    """The tap settings of the scaled run: told the window's length and a matching idle gap."""
    return {
        "page_size": PAGE_SIZE,
        "output_properties": ["$last_seen"],
        "rate_limit_window": SCALED_WINDOW,
        "session_idle_gap": SCALED_WINDOW / 15,
    }


def export_under_limits(*, every_page_counts: bool) -> Outcome:
    """Run the simulated export to the end."""
    fake = FakeSettings(
        profiles=PAGES * PAGE_SIZE,
        rate_limit=PER_HOUR,
        rate_window=HOUR,
        rate_limit_pages=every_page_counts,
        session_idle_timeout=600,
        growth_per_second=1 / 30,
        latency=LATENCY,
        page_size_max=PAGE_SIZE,
        seed=11,
    )
    with SimulatedClock() as clock, FakeEngageAPI(fake, clock=clock) as api:
        existing = api.expected_ids()
        s = api.settings
        config = {
            "project_id": s.project_id,
            "username": s.username,
            "secret": s.secret,
            "api_url": api.url,
            "page_size": PAGE_SIZE,
            "output_properties": ["$last_seen"],
        }
        settings = EngageSettings.from_config(config)
        export = Export(settings, Query.for_settings(settings, None), clock=clock)
        seen: set[str] = set()
        for page in export.pages():
            seen.update(str(r["distinct_id"]) for r in page.records)
        elapsed = clock.now()
        stats = api.stats.snapshot()
    served = stats["pages_served"]
    return Outcome(
        missing=len(existing - seen),
        pages=len(served),
        answered=sum(served.values()) + stats["expired_sessions"],
        elapsed=elapsed,
        sessions=stats["sessions_opened"],
        floor=floor_seconds(every_page_counts),
    )
