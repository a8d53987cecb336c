"""One Engage query over HTTP: auth, request building, retries, rate limits and error mapping.

Worker threads call :meth:`EngageClient.fetch`; each thread gets its own ``requests.Session``
(sessions are not documented as thread-safe). Every wait is logged with its reason, its length
and its page, counted in :class:`ExportStats`, and taken on the export's clock. Retries give up on
time, not on tries: rate limits are waited out for up to ``max_rate_limit_wait`` seconds per page,
other failures for up to ``max_outage_wait`` (an outage of several minutes is survived).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

import requests

from tap_mixpanel_engage.engage.clock import REAL_CLOCK, Clock
from tap_mixpanel_engage.engage.http import ThreadSessions
from tap_mixpanel_engage.engage.pacing import AdaptiveLimit, Cancelled, HourlyBudget, PacingPolicy
from tap_mixpanel_engage.engage.progress import ExportStats
from tap_mixpanel_engage.engage.records import Page, shape_page
from tap_mixpanel_engage.engage.responses import (
    RateLimit,
    client_error,
    error_text,
    retry_after_seconds,
)
from tap_mixpanel_engage.engage.retries import TRANSIENT, RetryPolicy, rate_limit_pause
from tap_mixpanel_engage.errors import LOGGER_NAME, APIError
from tap_mixpanel_engage.settings import EngageSettings

logger = logging.getLogger(LOGGER_NAME)

CONNECT_TIMEOUT = 30.0
"""Seconds to open a connection; ``request_timeout`` bounds the wait for the answer."""

Shaper = Callable[[bytes, int], Page | None]
"""Turns the body of a 200 answer for a page into a :class:`Page` (None: not a valid body)."""


def hourly_budget(
    settings: EngageSettings, clock: Clock = REAL_CLOCK, pacing: PacingPolicy | None = None
) -> HourlyBudget:
    """A budget for one run: ``max_requests_per_hour`` if set, else learned from 429s."""
    pacing = pacing or PacingPolicy(settings.rate_limit_window, settings.session_idle_gap)
    return HourlyBudget(clock, pacing, settings.max_requests_per_hour)


class EngageClient:
    """Sends Engage queries for one export; thread-safe."""

    def __init__(
        self,
        settings: EngageSettings,
        *,
        cancelled: threading.Event,
        stats: ExportStats,
        limit: AdaptiveLimit | None = None,
        budget: HourlyBudget | None = None,
        policy: RetryPolicy | None = None,
        clock: Clock = REAL_CLOCK,
        pacing: PacingPolicy | None = None,
        raw_properties: bool = False,
        shape: Shaper | None = None,
    ) -> None:
        """``shape`` replaces :func:`shape_page` for other record shapes or endpoints."""
        self.settings = settings
        self.raw_properties = raw_properties
        self.shape = shape
        self.cancelled = cancelled
        self.stats = stats
        self.budget = budget or hourly_budget(settings, clock, pacing)
        self.limit = limit or AdaptiveLimit(
            settings.max_workers, clock=clock, idle_gap=lambda: self.budget.policy.idle_gap
        )
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.last_answer: float | None = None
        """When the API last answered a page (clock time): how long a session sat unused."""
        if settings.uses_service_account:
            auth = (settings.username or "", settings.secret or "")
        else:
            auth = (settings.api_secret or "", "")
        self._http = ThreadSessions(auth, settings.user_agent)
        self._query_params: dict[str, str] = {}
        if settings.project_id is not None:
            self._query_params["project_id"] = str(settings.project_id)
        if settings.workspace_id is not None:
            self._query_params["workspace_id"] = str(settings.workspace_id)

    def abort(self) -> None:
        """Abort every request in flight: blocked reads return at once (and are not retried
        once the caller's ``cancelled`` is set)."""
        self._http.abort()

    def close(self) -> None:
        """Abort every request in flight and close every thread's HTTP session."""
        self._http.close()

    def fetch(
        self,
        body: Mapping[str, str],
        page: int,
        cancelled: threading.Event | None = None,
        url: str | None = None,
    ) -> Page:
        """Send one query (form-encoded POST) and return the decoded page, retrying as needed.

        Waits end early when ``cancelled`` (default: the export's event) is set. ``url``
        replaces the Engage endpoint (the Cohorts list).

        Raises:
            SessionExpired: the page's session is gone (the export opens a new one).
            AuthError: credentials or project access rejected.
            APIError: any other refusal, or retries exhausted; names the page.
            Cancelled: the export closed meanwhile.
        """
        stop = cancelled if cancelled is not None else self.cancelled
        failures = limited = 0
        first_failure: float | None = None
        limited_wait = 0.0
        while True:
            waited, stamp = self._pace(page, stop)
            limited_wait += waited
            self.limit.acquire(stop)
            ok = False
            rate_limit: RateLimit | None = None
            retry_after: float | None = None
            try:
                with self.stats.lock:
                    self.stats.requests += 1
                try:
                    response, content = self._send(body, url)
                except TRANSIENT as exc:
                    if stop.is_set():
                        raise Cancelled from None
                    reason = f"{type(exc).__name__} (connection dropped or timed out)"
                else:
                    status = response.status_code
                    if status == 200:
                        if self.shape is not None:
                            decoded = self.shape(content, page)
                        else:
                            decoded = shape_page(content, page, raw_properties=self.raw_properties)
                        if decoded is not None:
                            ok = True
                            self.last_answer = self.clock.now()
                            return decoded
                        reason = "unparseable response body"
                    elif status == 429:
                        reason, rate_limit, retry_after = self._rate_limited(
                            response, content, page
                        )
                    elif status >= 500:
                        reason = f"HTTP {status}: {error_text(response, content)}"
                    else:
                        raise client_error(response, content, page, self.settings)
            finally:
                self.limit.release(success=ok)
            if rate_limit is not None:
                self.budget.refund(stamp)
                limited += 1
                limited_wait += self._wait_rate_limited(
                    page, reason, rate_limit, retry_after, limited, limited_wait, stop
                )
                continue
            now = self.clock.now()
            first_failure = now if first_failure is None else first_failure
            failures += 1
            outage = now - first_failure
            if failures >= self.policy.min_tries and outage >= self.settings.max_outage_wait:
                raise APIError(
                    f"page {page}: gave up after {failures} tries in {outage:.0f}s "
                    f"(`max_outage_wait`); last error: {reason}",
                    page=page,
                )
            self._wait(self.policy.backoff(failures), page, reason, stop, rate_limit=False)

    def _send(
        self, body: Mapping[str, str], url: str | None = None
    ) -> tuple[requests.Response, bytes]:
        """POST the query and read the whole body in one call.

        ``response.content`` reads in 10 KB chunks, each taking the GIL back; with five workers
        and a busy main thread every chunk waits its turn, which cost about a fifth of the
        export time. One ``raw.read()`` takes the body in large socket reads.
        """
        response = self._http.session().post(
            url or self.settings.engage_url,
            params=self._query_params,
            data=body,
            timeout=(
                min(CONNECT_TIMEOUT, self.settings.request_timeout),
                self.settings.request_timeout,
            ),
            stream=True,
        )
        with response:
            content = response.raw.read(decode_content=True)
        return response, content

    def _pace(self, page: int, cancelled: threading.Event) -> tuple[float, float]:
        """Wait for the hourly budget; return the seconds waited and the slot's stamp."""

        def log_wait(seconds: float) -> None:
            logger.info(
                "page %d: waiting %.1fs to stay within %d queries per rolling %.0fs",
                page,
                seconds,
                self.budget.limit or 0,
                self.budget.policy.window,
            )

        waited, stamp = self.budget.acquire(cancelled, on_wait=log_wait, page=page)
        if waited:
            self.stats.add_wait(waited, rate_limit=True)
        return waited, stamp

    def _rate_limited(
        self, response: requests.Response, content: bytes, page: int
    ) -> tuple[str, RateLimit, float | None]:
        text = error_text(response, content)
        limit = RateLimit.from_text(text)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        with self.stats.lock:
            self.stats.rate_limited += 1
        if limit.concurrency:
            new_limit = self.limit.shrink()
            logger.warning(
                "page %d: the API says too many queries run at once (other clients share the "
                "project's slots); lowering concurrency to %d",
                page,
                new_limit,
            )
        if limit.hourly:
            self.budget.hit_limit(limit.hour_used, limit.hour_budget, retry_after)
            logger.warning(
                "page %d: the hourly query budget is spent (%s); pacing the remaining queries: %s",
                *(page, text, self.budget.plan()),
            )
        return f"HTTP 429: {text}", limit, retry_after

    def _wait_rate_limited(
        self,
        page: int,
        reason: str,
        limit: RateLimit,
        retry_after: float | None,
        tries: int,
        waited: float,
        stop: threading.Event,
    ) -> float:
        """Wait after a 429 (Retry-After, bounded, never 0 twice); return the seconds waited.

        The hourly limit is waited out by the budget on the next try, so only a short pause is
        taken here unless ``Retry-After`` asks for longer.

        Raises:
            APIError: this page has waited ``max_rate_limit_wait`` seconds for rate limits.
        """
        allowance = self.settings.max_rate_limit_wait - waited
        if allowance <= 0:
            raise APIError(
                f"page {page}: still rate limited after waiting {waited:.0f}s "
                f"(`max_rate_limit_wait`); the hourly budget is the problem: raise `page_size` "
                f"(fewer queries) or set `max_requests_per_hour`; last answer: {reason}",
                status=429,
                page=page,
            )
        longest = min(self.budget.policy.window, allowance)
        seconds = rate_limit_pause(
            limit, retry_after, tries, self.policy, budget_known=self.budget.known, longest=longest
        )
        self._wait(seconds, page, reason, stop, rate_limit=True)
        return seconds

    def _wait(
        self,
        seconds: float,
        page: int,
        reason: str,
        cancelled: threading.Event,
        *,
        rate_limit: bool,
    ) -> None:
        with self.stats.lock:
            self.stats.retries += 1
        logger.warning("page %d: %s; retrying in %.2fs", page, reason, seconds)
        started = self.clock.now()
        interrupted = self.clock.sleep(seconds, cancelled)
        self.stats.add_wait(self.clock.now() - started, rate_limit=rate_limit)
        if interrupted:
            raise Cancelled


__all__ = ["Cancelled", "EngageClient", "RetryPolicy", "Shaper"]
