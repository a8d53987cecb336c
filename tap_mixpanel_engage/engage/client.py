"""One Engage query over HTTP: auth, request building, retries and error mapping.

Worker threads call :meth:`EngageClient.fetch`; each thread gets its own ``requests.Session``
(sessions are not documented as thread-safe). Every wait is logged with its reason, its length
and its page, and counted in :class:`ExportStats`.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests
import urllib3

from tap_mixpanel_engage.engage.pacing import AdaptiveLimit, Cancelled, RollingWindowBudget
from tap_mixpanel_engage.engage.progress import ExportStats
from tap_mixpanel_engage.engage.records import Page, shape_page
from tap_mixpanel_engage.engage.responses import client_error, error_text, retry_after_seconds
from tap_mixpanel_engage.errors import LOGGER_NAME, APIError
from tap_mixpanel_engage.settings import EngageSettings

logger = logging.getLogger(LOGGER_NAME)

_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,  # raised by raw reads: truncated bodies, read timeouts
    http.client.HTTPException,
    ConnectionError,
)

Shaper = Callable[[bytes, int], Page | None]
"""Turns the body of a 200 answer for a page into a :class:`Page` (None: not a valid body)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; tests shorten the waits."""

    max_tries: int = 8
    """Tries for 5xx, timeouts, dropped connections and unparseable bodies."""
    max_rate_limited: int = 30
    """Tries for HTTP 429 answers (rate limits clear by themselves, given time)."""
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    max_retry_after: float = 3600.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of ``base * 2**(attempt-1)``."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return float(ceiling * random.uniform(0.5, 1.0))


class EngageClient:
    """Sends Engage queries for one export; thread-safe."""

    def __init__(
        self,
        settings: EngageSettings,
        *,
        cancelled: threading.Event,
        stats: ExportStats,
        limit: AdaptiveLimit,
        budget: RollingWindowBudget | None = None,
        policy: RetryPolicy | None = None,
        raw_properties: bool = False,
        shape: Shaper | None = None,
    ) -> None:
        """``shape`` replaces :func:`shape_page` for other record shapes or endpoints."""
        self.settings = settings
        self.raw_properties = raw_properties
        self.shape = shape
        self.cancelled = cancelled
        self.stats = stats
        self.limit = limit
        self.budget = budget
        self.policy = policy or RetryPolicy()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        if settings.uses_service_account:
            self._auth = (settings.username or "", settings.secret or "")
        else:
            self._auth = (settings.api_secret or "", "")
        self._query_params: dict[str, str] = {}
        if settings.project_id is not None:
            self._query_params["project_id"] = str(settings.project_id)
        if settings.workspace_id is not None:
            self._query_params["workspace_id"] = str(settings.workspace_id)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = self._auth
            session.headers["User-Agent"] = self.settings.user_agent
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's HTTP session."""
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

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
        transient = rate_limited = 0
        while True:
            self._pace(page, stop)
            self.limit.acquire(stop)
            ok = limited = False
            retry_after: float | None = None
            try:
                with self.stats.lock:
                    self.stats.requests += 1
                try:
                    response, content = self._send(body, url)
                except _TRANSIENT as exc:
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
                            return decoded
                        reason = "unparseable response body"
                    elif status == 429:
                        limited = True
                        reason, retry_after = self._rate_limited(response, content, page)
                    elif status >= 500:
                        reason = f"HTTP {status}: {error_text(response, content)}"
                    else:
                        raise client_error(response, content, page, self.settings)
            finally:
                self.limit.release(success=ok)
            if limited:
                rate_limited += 1
                if rate_limited >= self.policy.max_rate_limited:
                    raise APIError(
                        f"page {page}: still rate limited after {rate_limited} tries ({reason})",
                        status=429,
                        page=page,
                    )
                wait = retry_after if retry_after is not None else self.policy.backoff(rate_limited)
                self._wait(wait, page, reason, stop, rate_limit=True)
            else:
                transient += 1
                if transient >= self.policy.max_tries:
                    raise APIError(
                        f"page {page}: gave up after {transient} tries; last error: {reason}",
                        page=page,
                    )
                self._wait(self.policy.backoff(transient), page, reason, stop, rate_limit=False)

    def _send(
        self, body: Mapping[str, str], url: str | None = None
    ) -> tuple[requests.Response, bytes]:
        """POST the query and read the whole body in one call.

        ``response.content`` reads in 10 KB chunks, each taking the GIL back; with five workers
        and a busy main thread every chunk waits its turn, which cost about a fifth of the
        export time. One ``raw.read()`` takes the body in large socket reads.
        """
        response = self._session().post(
            url or self.settings.engage_url,
            params=self._query_params,
            data=body,
            timeout=self.settings.request_timeout,
            stream=True,
        )
        with response:
            content = response.raw.read(decode_content=True)
        return response, content

    def _pace(self, page: int, cancelled: threading.Event) -> None:
        if self.budget is None:
            return

        def log_wait(seconds: float) -> None:
            logger.info(
                "page %d: waiting %.1fs to stay within max_requests_per_hour=%d",
                page,
                seconds,
                self.budget.limit if self.budget else 0,
            )

        waited = self.budget.acquire(cancelled, on_wait=log_wait)
        if waited:
            self.stats.add_wait(waited, rate_limit=True)

    def _rate_limited(
        self, response: requests.Response, content: bytes, page: int
    ) -> tuple[str, float | None]:
        text = error_text(response, content)
        with self.stats.lock:
            self.stats.rate_limited += 1
        if "concurrent" in text.lower():
            new_limit = self.limit.shrink()
            logger.warning(
                "page %d: the API says too many queries run at once (other clients share the "
                "project's slots); lowering concurrency to %d",
                page,
                new_limit,
            )
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            retry_after = min(retry_after, self.policy.max_retry_after)
        return f"HTTP 429: {text}", retry_after

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
        started = time.monotonic()
        interrupted = cancelled.wait(seconds)
        self.stats.add_wait(time.monotonic() - started, rate_limit=rate_limit)
        if interrupted:
            raise Cancelled


__all__ = ["Cancelled", "EngageClient", "RetryPolicy", "Shaper"]
