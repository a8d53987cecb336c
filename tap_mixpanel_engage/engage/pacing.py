"""Thread-safe pacing: a rolling-window request budget and a concurrency limit that adapts.

Both are shared by the worker threads of one export. Waits happen on a ``threading.Event`` so
that closing the export interrupts them at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class Cancelled(Exception):
    """The export was closed while this thread waited."""


class RollingWindowBudget:
    """At most ``limit`` acquisitions in any rolling ``window`` seconds (e.g. 60 per hour).

    ``acquire`` blocks until a slot is free and returns how long it waited, so callers can log
    and count it.
    """

    def __init__(
        self,
        limit: int,
        window: float = 3600.0,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()

    def _delay_locked(self, now: float) -> float:
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) < self.limit:
            return 0.0
        return self._stamps[0] + self.window - now

    def acquire(
        self, cancelled: threading.Event, on_wait: Callable[[float], None] | None = None
    ) -> float:
        """Take a slot, waiting as long as needed; return the seconds waited.

        Raises:
            Cancelled: the export closed while waiting.
        """
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay_locked(now)
                if wait <= 0:
                    self._stamps.append(now)
                    return waited
            if on_wait is not None:
                on_wait(wait)
            if cancelled.wait(wait):
                raise Cancelled
            waited += wait


class AdaptiveLimit:
    """A concurrency limit that shrinks when the API says too many queries run, then recovers.

    Other clients may share the project's five query slots; when the API answers "too many
    queries running", the limit drops by one (never below one) and grows back by one after
    ``recover_after`` successful queries in a row.
    """

    def __init__(self, maximum: int, *, recover_after: int = 5) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be at least 1, got {maximum}")
        self.maximum = maximum
        self.recover_after = recover_after
        self._limit = maximum
        self._running = 0
        self._streak = 0
        self._cond = threading.Condition()
        self.lowest = maximum

    @property
    def limit(self) -> int:
        """The current number of queries allowed at once."""
        with self._cond:
            return self._limit

    def acquire(self, cancelled: threading.Event) -> None:
        """Wait for a query slot under the current limit.

        Raises:
            Cancelled: the export closed while waiting.
        """
        with self._cond:
            while self._running >= self._limit:
                if cancelled.is_set():
                    raise Cancelled
                self._cond.wait(0.1)
            if cancelled.is_set():
                raise Cancelled
            self._running += 1

    def release(self, *, success: bool) -> None:
        """Give the slot back; ``success`` counts toward growing the limit again."""
        with self._cond:
            self._running -= 1
            if success:
                self._streak += 1
                if self._streak >= self.recover_after and self._limit < self.maximum:
                    self._limit += 1
                    self._streak = 0
            self._cond.notify_all()

    def shrink(self) -> int:
        """Lower the limit by one (not below one) and return the new limit."""
        with self._cond:
            self._limit = max(1, self._limit - 1)
            self.lowest = min(self.lowest, self._limit)
            self._streak = 0
            return self._limit
