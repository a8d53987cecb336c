"""One profile export: page 0, then the other pages through the ordered window, with recovery.

This is the engine shared by the Singer stream and the Python API. It yields pages in order on
the calling thread; worker threads only send, parse and shape records. It owns the session
lifecycle: resuming from a saved position, and opening a new session when the API lets one
expire.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from tap_mixpanel_engage.engage.client import EngageClient, RetryPolicy, Shaper
from tap_mixpanel_engage.engage.pacing import AdaptiveLimit, Cancelled, RollingWindowBudget
from tap_mixpanel_engage.engage.progress import ExportStats, ProgressLog
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.records import Page
from tap_mixpanel_engage.engage.state import Position
from tap_mixpanel_engage.engage.window import OrderedWindow
from tap_mixpanel_engage.errors import LOGGER_NAME, APIError, SessionExpired
from tap_mixpanel_engage.settings import EngageSettings

logger = logging.getLogger(LOGGER_NAME)

MAX_SESSION_RESTARTS = 20
QUERIES_PER_HOUR = 60
"""Mixpanel's documented per-project budget, used for the planning warning when none is set."""


class Export:
    """Iterate over the pages of one query; :attr:`position` tracks progress for STATE."""

    def __init__(
        self,
        settings: EngageSettings,
        query: Query,
        *,
        resume: Position | None = None,
        policy: RetryPolicy | None = None,
        raw_properties: bool = False,
        shape: Shaper | None = None,
        budget: RollingWindowBudget | None = None,
    ) -> None:
        """``raw_properties``: leave each record's ``properties`` as the API's JSON text
        (:func:`tap_mixpanel_engage.engage.records.shape_page`). ``shape``: build records of
        another shape from each body (group profiles, cohort members). ``budget``: the hourly
        budget shared by every export of a run (default: one for this export, if set)."""
        self.settings = settings
        self.query = query
        self.resume = resume if resume and resume.fingerprint == query.fingerprint else None
        if resume and self.resume is None:
            logger.info("saved progress belongs to another query; starting a fresh export")
        self.stats = ExportStats()
        self.progress = ProgressLog(self.stats)
        """Consumers record each page they finish here; waits for slow pages log through it."""
        self.cancelled = threading.Event()
        self.limit = AdaptiveLimit(settings.max_workers)
        if budget is None and settings.max_requests_per_hour:
            budget = RollingWindowBudget(settings.max_requests_per_hour, 3600.0)
        self.client = EngageClient(
            settings,
            cancelled=self.cancelled,
            stats=self.stats,
            limit=self.limit,
            budget=budget,
            policy=policy,
            raw_properties=raw_properties,
            shape=shape,
        )
        self.position: Position | None = None
        self.pages_total: int | None = None
        """Pages the current session has, once page 0 (or the saved position) told."""
        self._first_page: Future[Page] | None = None
        self._last_ids: tuple[str, str, int] | None = None
        """First id, last id and size of the last page handed out, to line a new session up."""

    def answers(self, settings: EngageSettings, query: Query) -> bool:
        """True when this export runs exactly this query with these settings."""
        return self.settings == settings and self.query == query

    def prefetch_first_page(self) -> None:
        """Ask for page 0 now, on a thread of its own; :meth:`pages` starts from its answer.

        Used by the tap's entry point to overlap page 0 with loading the Singer SDK.
        """
        if self.resume is not None or self._first_page is not None:
            raise RuntimeError("page 0 can be prefetched once, and not when resuming")
        future: Future[Page] = Future()

        def fetch() -> None:
            try:
                future.set_result(self._fetch_here(None, 0))
            except BaseException as exc:  # handed to the consumer, raised on its thread
                future.set_exception(exc)

        self._first_page = future
        threading.Thread(target=fetch, name="engage-page-0", daemon=True).start()

    def close(self) -> None:
        """Cancel outstanding requests and close the HTTP sessions (an unused export, too)."""
        self.cancelled.set()
        self.client.close()

    def pages(self) -> Generator[Page, None, None]:
        """Yield every page in order; closing the iterator cancels outstanding work."""
        try:
            yield from self._pages()
        finally:
            self.close()

    def _heartbeat(self) -> None:
        self.progress.heartbeat(self.pages_total)

    def _fetch_here(self, session_id: str | None, page: int) -> Page:
        """One page on the calling thread (page 0, a resume probe, an alignment check)."""
        return self.client.fetch(self.query.body(page, session_id), page)

    def _pages(self) -> Iterator[Page]:
        saved = self.resume
        if saved is not None and saved.page + 1 >= saved.pages:
            logger.info("saved progress says the export had finished; nothing left to fetch")
            self.position, self.pages_total = saved, saved.pages
            return
        head = self._resume_probe()
        if head is None:
            head = self._open_session()
            if self.position is None:
                yield self._handout(head)
                yield from self._sequential(head)
                return
        next_page = head.number
        restarts = 0
        while self.position is not None and (head is not None or next_page < self.position.pages):
            # The window starts before ``head`` is handed out: while the consumer works through
            # it, the next pages are already in flight.
            window = self._start_window(self.position.session_id, next_page + (head is not None))
            try:
                with window:
                    if head is not None:
                        yield self._handout(head)
                        next_page, head = head.number + 1, None
                    for _, page in window:
                        yield self._handout(page)
                        next_page = page.number + 1
            except SessionExpired as exc:
                expired: SessionExpired | None = exc
                while expired is not None:  # the new session may expire before it is used
                    restarts += 1
                    self._count_restart(expired, restarts)
                    try:
                        next_page, head = yield from self._reopen(next_page)
                        expired = None
                    except SessionExpired as again:
                        expired = again

    def _count_restart(self, exc: SessionExpired, restarts: int) -> None:
        with self.stats.lock:
            self.stats.session_restarts += 1
        if restarts > MAX_SESSION_RESTARTS:
            raise APIError(
                f"page {exc.page}: the query session kept expiring "
                f"({restarts} new sessions); lower `page_size` or check the API status",
                page=exc.page,
            ) from exc
        logger.warning("page %d: %s; opening a new session", exc.page, exc)

    def _resume_probe(self) -> Page | None:
        """Fetch the page after the saved position; None when there is nothing to resume.

        The saved session may have expired: then the export starts over from page 0.
        """
        saved = self.resume
        if saved is None:
            return None
        self.position = saved
        self.pages_total = saved.pages
        logger.info(
            "resuming session at page %d of %d (pages 0..%d were already emitted)",
            saved.page + 1,
            saved.pages,
            saved.page,
        )
        try:
            return self._fetch_here(saved.session_id, saved.page + 1)
        except SessionExpired:
            logger.warning("the saved session has expired; starting the export over")
            self.position = None
            self.pages_total = None
            return None

    def _open_session(self) -> Page:
        prefetched, self._first_page = self._first_page, None
        first = prefetched.result() if prefetched is not None else self._fetch_here(None, 0)
        if first.total is not None and first.session_id and first.page_size:
            pages = max(1, math.ceil(first.total / first.page_size))
            self.position = Position(
                fingerprint=self.query.fingerprint,
                session_id=first.session_id,
                page=0,
                pages=pages,
                page_size=first.page_size,
                total=first.total,
            )
            self.pages_total = pages
            self._warn_about_budget(pages)
        else:
            logger.warning("page 0 carried no total; paging sequentially until a short page")
        return first

    def _warn_about_budget(self, pages: int) -> None:
        budget = self.settings.max_requests_per_hour
        limit = budget or QUERIES_PER_HOUR
        if pages > limit:
            logger.warning(
                "this export plans %d queries, more than %s per hour%s",
                pages,
                limit,
                " (max_requests_per_hour): waits will keep it within the budget"
                if budget
                else " (Mixpanel's documented budget): expect HTTP 429s and waits, or set "
                "`max_requests_per_hour`",
            )

    def _start_window(self, session_id: str, start: int) -> OrderedWindow[Page]:
        """Start fetching pages ``start``.. of the session (up to the window's bound)."""
        assert self.position is not None
        # Each window has its own cancel event: a window that ends on an error (an expired
        # session) must not cancel the export that goes on with a new session.
        window_closed = threading.Event()

        def fetch(page: int) -> Page:
            if self.cancelled.is_set():
                raise Cancelled
            return self.client.fetch(self.query.body(page, session_id), page, window_closed)

        return OrderedWindow(
            fetch,
            range(start, self.position.pages),
            max_workers=self.settings.max_workers,
            cancelled=window_closed,
            on_idle=self._heartbeat,
        )

    def _reopen(self, next_page: int) -> Generator[Page, None, tuple[int, Page | None]]:
        """Open a new session after expiry; return the page to continue from and a head page.

        When the new session still starts with the pages already emitted (same total, same
        last page), the export continues where it stopped. Otherwise profiles may have moved
        between pages, so every page is fetched again from the new page 0 (the head):
        duplicates are allowed, losses are not.
        """
        old = self.position
        first = self._open_session()
        new = self.position
        if old is not None and new is not None and next_page > 0 and new.total == old.total:
            aligned = first if next_page == 1 else self._fetch_here(new.session_id, next_page - 1)
            if self._last_ids == _edge_ids(aligned.records):
                logger.info("the new session matches the pages already emitted; continuing")
                self.position = replace(new, page=next_page - 1)
                return next_page, None
        logger.warning("the new session differs from the old one; fetching every page again")
        if self.position is None:
            yield self._handout(first)
            yield from self._sequential(first)
        return 0, first

    def _handout(self, page: Page) -> Page:
        """Record that ``page`` is handed out: the position moves past it."""
        self._last_ids = _edge_ids(page.records)
        if self.position is not None:
            self.position = replace(self.position, page=page.number)
        return page

    def _sequential(self, first: Page) -> Iterator[Page]:
        """The documented stop rule: continue while a page is full."""
        page_size = first.page_size or len(first.records)
        page = first
        while page_size and len(page.records) >= page_size and page.session_id:
            number = page.number + 1
            page = self.client.fetch(self.query.body(number, first.session_id), number)
            yield self._handout(page)


def _edge_ids(records: list[dict[str, Any]]) -> tuple[str, str, int] | None:
    if not records:
        return None
    return (records[0]["distinct_id"], records[-1]["distinct_id"], len(records))
