"""Admission (Mixpanel's concurrency and rolling-window limits) and seeded chaos (latency, faults).

Both hold a lock: many handler threads decide at once, and the seeded RNG must be drawn in one
order to keep runs repeatable for a given arrival order.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Callable

from tap_mixpanel_engage.fake_api.errors import ApiError
from tap_mixpanel_engage.fake_api.settings import FakeSettings, FakeStats

# Shown as the denominator when a limit is switched off: Mixpanel's documented per-project limits.
_DEFAULT_CONCURRENT = 5
_DEFAULT_HOURLY = 60


class Admission:
    """Lets a query in, or answers 429 the way Mixpanel does.

    A query is in flight from admission to ``leave()`` (after its response is written). Rejected
    queries count neither as in flight nor toward the window. Concurrency is checked first and has
    no ``Retry-After``; the window has one: whole seconds until its oldest query ages out, >= 1.
    """

    def __init__(
        self, settings: FakeSettings, clock: Callable[[], float], stats: FakeStats
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._stats = stats
        self._lock = threading.Lock()
        self._in_flight = 0
        self._window: deque[float] = deque()

    def _message(self, running: int, recent: int) -> str:
        s = self._settings
        return (
            f"Query rate limit exceeded for project_id: {s.project_id}. "
            f"{running}/{s.max_concurrent or _DEFAULT_CONCURRENT} queries running concurrently "
            f"and {recent}/{s.rate_limit or _DEFAULT_HOURLY} queries running in the last hour. "
            "Please try again later."
        )

    def enter(self, counts_toward_window: bool) -> None:
        """Admit one query or raise ``ApiError(429)``."""
        s = self._settings
        with self._lock:
            now = self._clock()
            while self._window and self._window[0] <= now - s.rate_window:
                self._window.popleft()
            running = self._in_flight + 1
            recent = len(self._window) + (1 if counts_toward_window else 0)
            if s.max_concurrent is not None and running > s.max_concurrent:
                self._stats.add(rate_limited=1)
                raise ApiError(429, self._message(running, recent))
            if s.rate_limit is not None and counts_toward_window and recent > s.rate_limit:
                wait = max(1, math.ceil(self._window[0] + s.rate_window - now))
                self._stats.add(rate_limited=1)
                raise ApiError(429, self._message(running, recent), {"Retry-After": str(wait)})
            if counts_toward_window:
                self._window.append(now)
            self._in_flight = running
            with self._stats.lock:
                self._stats.in_flight = running
                self._stats.max_in_flight = max(self._stats.max_in_flight, running)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            with self._stats.lock:
                self._stats.in_flight = self._in_flight


class Chaos:
    """Seeded latency jitter and fault choice."""

    def __init__(self, settings: FakeSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._latency_rng = random.Random(f"latency:{settings.seed}")
        self._fault_rng = random.Random(f"faults:{settings.seed}")

    def delay(self) -> float:
        s = self._settings
        if s.latency <= 0:
            return 0.0
        if s.jitter <= 0:
            return s.latency
        with self._lock:
            return s.latency * (1 + self._latency_rng.uniform(-s.jitter, s.jitter))

    def fault(self) -> str | None:
        s = self._settings
        if s.fault_rate <= 0:
            return None
        with self._lock:
            if self._fault_rng.random() >= s.fault_rate:
                return None
            return self._fault_rng.choice(s.fault_kinds)
