"""One profile export: page 0, then the other pages through the ordered window, with recovery.

The engine shared by the Singer stream and the Python API: pages are yielded in order on the
calling thread, workers only send, parse and shape. It owns the sessions: the page size, resuming
a saved position, and new sessions lined up with what was emitted (``realign``) after expiry.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import Future
from dataclasses import replace

from tap_mixpanel_engage.engage.client import EngageClient, RetryPolicy, Shaper
from tap_mixpanel_engage.engage.clock import REAL_CLOCK, Clock
from tap_mixpanel_engage.engage.pacing import DEFAULT_HOURLY_BUDGET, HourlyBudget, PacingPolicy
from tap_mixpanel_engage.engage.page_size import (
    ShortPageGuard,
    budget_warning,
    first_page,
    paged_by,
)
from tap_mixpanel_engage.engage.progress import ExportStats, ProgressLog
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.realign import Emitted, line_up
from tap_mixpanel_engage.engage.records import Page
from tap_mixpanel_engage.engage.sequential import page_on
from tap_mixpanel_engage.engage.session_window import session_window
from tap_mixpanel_engage.engage.state import Position, utc_now
from tap_mixpanel_engage.engage.window import OrderedWindow, in_background
from tap_mixpanel_engage.errors import LOGGER_NAME, APIError, SessionExpired
from tap_mixpanel_engage.settings import EngageSettings

logger = logging.getLogger(LOGGER_NAME)

MAX_SESSION_RESTARTS = 50
WINDOW_BYTES = 48 << 20
"""Response bytes the window may hold at once (pages in flight and waiting for an earlier one)."""


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
        clock: Clock = REAL_CLOCK,
        pacing: PacingPolicy | None = None,
        window_bytes: int = WINDOW_BYTES,
        shape: Shaper | None = None,
        budget: HourlyBudget | None = None,
        signpost: str | None = None,
    ) -> None:
        """``raw_properties``: leave each record's ``properties`` as the API's JSON text
        (:func:`tap_mixpanel_engage.engage.records.shape_page`). ``shape``: build records of
        another shape from each body (group profiles, cohort members). ``budget``: the hourly
        budget shared by every export of a run (default: one for this export). ``signpost``:
        when the run began (default: now); a resumed export keeps the one it saved."""
        self.settings = settings
        self.query = query
        self.raw_properties = raw_properties
        self.resume = resume if resume and resume.fingerprint == query.fingerprint else None
        if resume and self.resume is None:
            logger.info("saved progress belongs to another query; starting a fresh export")
        saved = self.resume.signpost if self.resume else None
        self.signpost = saved or signpost or utc_now()
        """When the run that began this export started: its bookmark never passes this."""
        self.clock = clock
        self.window_bytes = window_bytes
        self.stats = ExportStats()
        self.progress = ProgressLog(self.stats)
        """Consumers record each page they finish here; waits for slow pages log through it."""
        self.cancelled = threading.Event()
        self.client = EngageClient(
            settings,
            cancelled=self.cancelled,
            stats=self.stats,
            policy=policy,
            clock=clock,
            pacing=pacing,
            budget=budget,
            raw_properties=raw_properties,
            shape=shape,
        )
        self.budget, self.limit = self.client.budget, self.client.limit
        self.budget.remaining = self._queries_left
        self.position: Position | None = None
        self.pages_total: int | None = None
        """Pages the current session has, once page 0 (or the saved position) told."""
        self.page_size: int | None = settings.page_size
        """The page size asked for: the setting, or the one the export chose."""
        self._first_page: Future[Page] | None = None
        self._emitted = Emitted(-1, None, -1, None)
        self._page_bytes = 0
        """The largest page body seen: what a page in flight is expected to weigh."""
        self._next = 0
        self._short_pages = ShortPageGuard()
        self._session_id: str | None = None

    def answers(self, settings: EngageSettings, query: Query, *, raw_properties: bool) -> bool:
        """True when this export runs exactly this query, with these settings and records."""
        return (settings, query, raw_properties) == (self.settings, self.query, self.raw_properties)

    def prefetch_first_page(self) -> None:
        """Ask for page 0 now (and again at a larger page size if the export chooses one), on a
        thread of its own; :meth:`pages` starts from its answer.

        Used by the tap's entry point to overlap page 0 with loading the Singer SDK.
        """
        if self.resume is not None or self._first_page is not None:
            raise RuntimeError("page 0 can be prefetched once, and not when resuming")
        self._first_page = in_background(self._settled_first_page, "engage-page-0")

    def close(self) -> None:
        """Cancel outstanding requests (aborting those in flight) and close the HTTP sessions."""
        self.cancelled.set()
        self.client.close()

    def pages(self) -> Generator[Page, None, None]:
        """Yield every page in order; closing the iterator cancels outstanding work."""
        try:
            yield from self._pages()
        finally:
            self.close()

    def _queries_left(self) -> int:
        pages = self.pages_total
        return DEFAULT_HOURLY_BUDGET if pages is None else max(pages - self._next, 1)

    def _fetch_here(self, session_id: str | None, page: int) -> Page:
        """One page on the calling thread (page 0, a resume probe, an alignment check)."""
        return self.client.fetch(self.query.body(page, session_id, self.page_size), page)

    def _pages(self) -> Iterator[Page]:
        saved = self.resume
        if saved is not None and saved.page + 1 >= saved.pages:
            logger.info("saved progress says the export had finished; nothing left to fetch")
            self.position, self.pages_total = saved, saved.pages
            return
        step: tuple[int, Page | None] | None
        step = self._resume(saved) if saved is not None else (0, self._open_session())
        restarts = 0
        while step is not None:
            next_page, head = step
            if self.position is None:  # no total: the documented stop rule
                step = yield from page_on(
                    next_page,
                    head,
                    fetch=lambda n: self._fetch_here(self._session_id, n),
                    recover=self._recover,
                    handout=self._handout,
                    page_size=lambda page: self.page_size or page.page_size or 0,
                    has_total=lambda: self.position is not None,
                )
                continue
            if head is None and next_page >= self.position.pages:
                return
            # The window starts before ``head`` is handed out: while the consumer works through
            # it, the next pages are already in flight.
            window = self._start_window(self.position.session_id, next_page, head)
            try:
                with window:
                    if head is not None:
                        yield self._handout(head)
                    for _, page in window:
                        yield self._handout(page)
                step = None
            except SessionExpired as exc:
                restarts += 1
                step = self._recover(exc, restarts)

    def _resume(self, saved: Position) -> tuple[int, Page | None]:
        """Continue the saved session, or line a new one up with what was emitted."""
        self.position, self.pages_total, self.page_size = saved, saved.pages, saved.page_size
        end = (saved.page + 1) * saved.page_size - 1
        self._emitted = Emitted(saved.page, saved.last_id, end, saved.total)
        self._set_page(saved.page)
        self._session_id = saved.session_id
        logger.info("resuming session at page %d of %d", saved.page + 1, saved.pages)
        try:
            return saved.page + 1, self._fetch_here(saved.session_id, saved.page + 1)
        except SessionExpired as exc:
            logger.warning("the saved session has expired; opening a new one")
            return self._recover(exc, 1)

    def _recover(self, exc: SessionExpired, restarts: int) -> tuple[int, Page | None]:
        """A new session after expiry; return the page to continue from and a head page."""
        while True:
            with self.stats.lock:
                self.stats.session_restarts += 1
            if restarts > MAX_SESSION_RESTARTS:
                raise APIError(
                    f"page {exc.page}: the query session kept expiring ({restarts} new sessions); "
                    "check the API status, or raise `page_size` so fewer queries are needed",
                    page=exc.page,
                ) from exc
            logger.warning("page %d: %s; opening a new session", exc.page, exc)
            if self.client.last_answer is not None:
                self.budget.session_died_after(self.clock.now() - self.client.last_answer)
            try:
                return self._realign()
            except SessionExpired as again:  # the new session may expire before it is used
                exc, restarts = again, restarts + 1

    def _realign(self) -> tuple[int, Page | None]:
        emitted = self._emitted
        first = self._open_session(reopen=True)
        size = self.page_size or first.page_size or len(first.records) or 1
        session_id = first.session_id
        found = line_up(emitted, first, size, lambda n: self._fetch_here(session_id, n))
        if found is not None:
            self._set_page(found[0] - 1)
            return found
        if emitted.page >= 0:
            logger.warning(
                "the new session does not line up with the %d pages emitted; fetching every page "
                "again (duplicates, which the targets upsert; no profile is lost)",
                emitted.page + 1,
            )
        self._set_page(-1)
        return 0, first

    def _set_page(self, number: int) -> None:
        if self.position is not None:
            self.position = replace(self.position, page=number)
        self._next = number + 1

    def _settled_first_page(self, *, reopen: bool = False) -> Page:
        """Page 0 at the page size the export settles on (a new session after expiry keeps it)."""
        if reopen:
            return self._fetch_here(None, 0)

        def page_0(size: int | None) -> Page:
            return self.client.fetch(self.query.body(0, None, size), 0)

        first, self.page_size = first_page(page_0, self.page_size, self.settings.max_workers)
        return first

    def _open_session(self, *, reopen: bool = False) -> Page:
        """Page 0 of a new session, at the page size the export settles on."""
        prefetched, self._first_page = self._first_page, None
        first = (
            prefetched.result()
            if prefetched is not None
            else self._settled_first_page(reopen=reopen)
        )
        self._session_id = first.session_id
        if first.total is None or not first.session_id or not first.page_size:
            self.position = self.pages_total = None
            if not reopen:
                logger.warning("page 0 carried no total; paging sequentially until a short page")
            return first
        self.page_size = paged_by(self.page_size, first.page_size)
        self._page_bytes = max(self._page_bytes, first.nbytes)
        pages = max(1, math.ceil(first.total / first.page_size))
        self.position = Position(
            *(self.query.fingerprint, first.session_id, -1, pages, first.page_size, first.total),
            last_id=self._emitted.last_id,
            signpost=self.signpost,
        )
        self.pages_total = pages
        warning = budget_warning(pages, first.total, self.settings.max_requests_per_hour)
        if warning and not reopen:
            logger.warning("%s", "; pacing: ".join(filter(None, (warning, self.budget.plan()))))
        return first

    def _start_window(self, session_id: str, start: int, head: Page | None) -> OrderedWindow[Page]:
        """Fetch the session's pages from ``start`` (after ``head``, handed out first if any)."""
        assert self.position is not None
        holding = head.nbytes if head is not None else 0
        self._page_bytes = max(self._page_bytes, holding)
        return session_window(
            self.client,
            lambda page: self.query.body(page, session_id, self.page_size),
            range(start + (head is not None), self.position.pages),
            exporting=self.cancelled,
            on_idle=lambda: self.progress.heartbeat(self.pages_total),
            max_bytes=self.window_bytes,
            holding=holding,
            estimate=self._page_bytes,
        )

    def _handout(self, page: Page) -> Page:
        """Record that ``page`` is handed out: the position moves past it."""
        self._short_pages.check(page, self.page_size, self.pages_total)
        total = self.position.total if self.position is not None else None
        self._emitted = self._emitted.after(page, self.page_size, total)
        self._set_page(page.number)
        if self.position is not None:
            self.position = replace(self.position, last_id=self._emitted.last_id)
        return page
