"""Progress of an export: its counters, a log line per page (and while waiting), page callbacks."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from tap_mixpanel_engage.errors import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)


@dataclass
class ExportStats:
    """Counters shared by the workers of one export (guarded by ``lock``)."""

    requests: int = 0
    retries: int = 0
    wait_seconds: float = 0.0
    rate_limit_wait_seconds: float = 0.0
    rate_limited: int = 0
    session_restarts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_wait(self, seconds: float, *, rate_limit: bool) -> None:
        """Count time spent waiting; rate-limit waits are also counted on their own."""
        with self.lock:
            self.wait_seconds += seconds
            if rate_limit:
                self.rate_limit_wait_seconds += seconds


@dataclass(frozen=True)
class PageProgress:
    """What one finished page means for the export; passed to ``on_page`` callbacks."""

    page: int
    total_pages: int | None
    records_in_page: int
    records: int
    elapsed: float
    stream: str = "engage"
    """The stream the page belongs to (``sync()`` runs several)."""


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
