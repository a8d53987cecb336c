"""Progress of an export: one log line per page (and while waiting), and per-page callbacks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tap_mixpanel_engage.client import ExportStats

logger = logging.getLogger("tap-mixpanel-engage")


@dataclass(frozen=True)
class PageProgress:
    """What one finished page means for the export; passed to ``on_page`` callbacks."""

    page: int
    total_pages: int | None
    records_in_page: int
    records: int
    elapsed: float


class ProgressLog:
    """Counts pages and records on the consuming thread and logs a progress line per page."""

    def __init__(self, stats: ExportStats) -> None:
        self.stats = stats
        self.started = time.monotonic()
        self.records = 0
        self.pages = 0

    def page_done(self, page: int, total_pages: int | None, records_in_page: int) -> PageProgress:
        """Record a finished page, log the progress line and return the callback object."""
        self.records += records_in_page
        self.pages += 1
        progress = PageProgress(
            page=page,
            total_pages=total_pages,
            records_in_page=records_in_page,
            records=self.records,
            elapsed=time.monotonic() - self.started,
        )
        logger.info("%s", self.line(total_pages))
        return progress

    def line(self, total_pages: int | None) -> str:
        """The progress line: pages, records, rate, ETA, retries and waiting time."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.records / elapsed
        if total_pages:
            remaining = max(total_pages - self.pages, 0)
            eta = f"{remaining * elapsed / max(self.pages, 1):.0f}s"
            done = f"{self.pages}/{total_pages}"
        else:
            eta, done = "unknown", f"{self.pages}/?"
        return (
            f"progress: pages {done}, records {self.records}, {rate:,.0f} records/s, "
            f"ETA {eta}, retries {self.stats.retries}, waited {self.stats.wait_seconds:.1f}s"
        )

    def heartbeat(self, total_pages: int | None) -> None:
        """Log the progress line while waiting for a slow page, so silence never lasts long."""
        logger.info("%s (waiting for the next page)", self.line(total_pages))
