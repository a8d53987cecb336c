"""Thread-safe pacing: the hourly query budget as the export knows it, and adaptive concurrency.

Both are shared by the worker threads of one export. Every wait goes through the export's
:class:`~tap_mixpanel_engage.engage.clock.Clock`, so closing the export interrupts it at once and
tests can run an hour of pacing without waiting for it.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tap_mixpanel_engage.engage.clock import Clock

DEFAULT_HOURLY_BUDGET = 60
"""Mixpanel's documented queries per rolling hour and project."""


class Cancelled(Exception):
    """The export was closed while this thread waited."""


@dataclass(frozen=True)
class PacingPolicy:
    """The time constants of pacing; tests scale them down with the fake API's."""

    window: float = 3600.0
    """The rolling window of the hourly budget, in seconds."""
    idle_gap: float = 240.0
    """The longest a query session is left unused while the budget spaces queries out. Sessions
    are reported to die after about 10 minutes unused; a session that dies sooner lowers it."""


class HourlyBudget:
    """At most ``limit`` counted queries in any rolling window, spent so sessions survive.

    Until the limit is known (``max_requests_per_hour``, or a 429 that names the hourly limit)
    queries go as fast as the API answers. Once it is known, a query goes at once if, after it,
    a slot will still be free (now, or freed by an older query leaving the window) every
    ``idle_gap`` seconds until this burst leaves the window itself; otherwise it waits until the
    session would otherwise sit unused for ``idle_gap``. So the session never dies of disuse,
    and the export still finishes about as early as the budget allows. When everything left
    fits in the free slots, it all goes at once.
    """

    def __init__(self, clock: Clock, policy: PacingPolicy, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.configured = limit
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._turn = threading.Condition(self._lock)
        self._waiting: list[int] = []
        """Pages waiting for a slot (a heap): the lowest page goes first."""
        self._stamps: deque[float] = deque()
        """When each counted query of ours went, oldest first."""
        self._others: list[float] = []
        """When each query the API counted but we did not send frees its slot."""
        self._last_send: float | None = None
        self.remaining: Callable[[], int] | None = None
        """Queries the export still needs (the export sets it); None counts as many."""

    def acquire(
        self,
        cancelled: threading.Event,
        on_wait: Callable[[float], None] | None = None,
        page: int = 0,
    ) -> tuple[float, float]:
        """Take a slot for the query of ``page``, waiting as long as needed.

        Slots go to the lowest page waiting: pages come out in order, so a slot spent on a later
        page would only make the earlier one wait longer.

        Returns:
            The seconds waited, and the slot's stamp (to :meth:`refund` it if the API refuses).

        Raises:
            Cancelled: the export closed while waiting.
        """
        waited = 0.0
        with self._turn:
            heapq.heappush(self._waiting, page)
        try:
            while True:
                with self._turn:
                    if self._waiting[0] != page:
                        if cancelled.is_set():
                            raise Cancelled
                        self._turn.wait(0.05)
                        continue
                    now = self._clock.now()
                    wait = self._delay(now)
                    if wait <= 0:
                        self._stamps.append(now)
                        self._last_send = now
                        return waited, now
                if on_wait is not None:
                    on_wait(wait)
                if self._clock.sleep(wait, cancelled):
                    raise Cancelled
                waited += wait
        finally:
            with self._turn:
                self._waiting.remove(page)
                heapq.heapify(self._waiting)
                self._turn.notify_all()

    def refund(self, stamp: float) -> None:
        """A query refused with a 429 took no slot (Mixpanel does not count it)."""
        with self._lock, contextlib.suppress(ValueError):  # already out of the window
            self._stamps.remove(stamp)

    def hit_limit(self, used: int | None, budget: int | None, retry_after: float | None) -> None:
        """A 429 named the hourly limit: learn the budget and the queries others spent.

        ``used`` counts the rejected query too, as Mixpanel's ``61/60`` does.
        """
        with self._lock:
            now = self._clock.now()
            learned = budget or self.limit or DEFAULT_HOURLY_BUDGET
            self.limit = min(learned, self.configured) if self.configured else learned
            self._expire(now)
            counted = len(self._stamps) + len(self._others)
            recorded = self.limit if used is None else max(used - 1, 0)
            frees_at = now + (retry_after if retry_after is not None else self.policy.window)
            self._others += [frees_at] * max(recorded - counted, 0)

    def session_died_after(self, idle: float) -> None:
        """A session expired after ``idle`` seconds unused while pacing thought it safe: keep
        later gaps well below that. Shorter idles say nothing (sessions also die of age)."""
        with self._lock:
            if self.policy.idle_gap * 0.1 < idle <= self.policy.idle_gap:
                self.policy = PacingPolicy(self.policy.window, idle / 2)

    @property
    def known(self) -> bool:
        """True once the hourly limit is known (configured or learned)."""
        return self.limit is not None

    def plan(self) -> str:
        """The plan: queries left, free slots, the expected finish ("" until the limit is known)."""
        with self._lock:
            if self.limit is None:
                return ""
            now = self._clock.now()
            self._expire(now)
            free = max(self.limit - len(self._stamps) - len(self._others), 0)
            next_in = max(min(self._frees(), default=now) - now, 0.0)
            text = f"{free} of {self.limit} free now, the next in {next_in:.0f}s"
            if self.remaining is None:
                return text
            left = self.remaining()
            finish = self._last_slot(now, left - free) - now
            return f"{left} queries left, {text}; expected to finish in about {_duration(finish)}"

    def _last_slot(self, now: float, needed: int) -> float:
        """When the last of ``needed`` more slots frees, if each freed slot is used at once."""
        frees = self._frees()
        if needed <= 0 or not frees:
            return now
        rounds, index = divmod(needed - 1, len(frees))
        return frees[index] + rounds * self.policy.window

    def _expire(self, now: float) -> None:
        window = self.policy.window
        while self._stamps and self._stamps[0] <= now - window:
            self._stamps.popleft()
        self._others = [t for t in self._others if t > now]

    def _frees(self) -> list[float]:
        """When each slot counted in the window frees, earliest first."""
        return sorted([*(t + self.policy.window for t in self._stamps), *self._others])

    def _delay(self, now: float) -> float:
        """Seconds until the next query may go (0: now); call with the lock held."""
        if self.limit is None:
            return 0.0
        self._expire(now)
        free = self.limit - len(self._stamps) - len(self._others)
        next_free = min(self._frees(), default=now)
        if free <= 0:
            return max(next_free - now, 1e-3)
        left = self.remaining() if self.remaining is not None else self.limit + 1
        gap = self.policy.idle_gap
        if left <= free or self._keeps_alive(now, free - 1, left - 1):
            return 0.0
        since = now - self._last_send if self._last_send is not None else gap
        if since >= gap:
            return 0.0
        return max(min(gap - since, next_free - now), 1e-3)

    def _keeps_alive(self, now: float, free: int, left: int) -> bool:
        """True when, with ``free`` slots left now, a slot is still there every ``idle_gap`` for
        the ``left`` queries to come, until everything sent now has left the window."""
        gap, window = self.policy.idle_gap, self.policy.window
        frees = self._frees()
        for step in range(1, min(left, math.ceil(window / gap) - 1) + 1):
            if free + bisect.bisect_right(frees, now + step * gap) < step:
                return False
        return True


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f} min" if seconds < 3 * 3600 else f"{seconds / 3600:.1f} h"


class AdaptiveLimit:
    """A concurrency limit that shrinks when the API says too many queries run, then recovers.

    Other clients may share the project's five query slots; when the API answers "too many
    queries running", the limit drops by one (never below one) and grows back by one after
    ``recover_after`` successful queries in a row. After ``idle_gap`` seconds with no query, the
    session may have died: queries go one at a time until one succeeds, so a dead session costs
    one query, not five.
    """

    def __init__(
        self,
        maximum: int,
        *,
        recover_after: int = 5,
        clock: Clock | None = None,
        idle_gap: Callable[[], float] | None = None,
    ) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be at least 1, got {maximum}")
        self.maximum = maximum
        self.recover_after = recover_after
        self._limit = maximum
        self._running = 0
        self._streak = 0
        self._cond = threading.Condition()
        self._clock = clock
        self._idle_gap = idle_gap
        self._last_done: float | None = None
        self._probing = False
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
            while self._running >= (1 if self._probing else self._limit):
                if cancelled.is_set():
                    raise Cancelled
                self._cond.wait(0.05)
            if cancelled.is_set():
                raise Cancelled
            if self._running == 0 and self._stale():
                self._probing = True
            self._running += 1

    def release(self, *, success: bool) -> None:
        """Give the slot back; ``success`` counts toward growing the limit again."""
        with self._cond:
            self._running -= 1
            self._probing = self._probing and not success  # a failed probe: the next goes alone
            if self._clock is not None:
                self._last_done = self._clock.now()
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

    def _stale(self) -> bool:
        if self._clock is None or self._idle_gap is None or self._last_done is None:
            return False
        return self._clock.now() - self._last_done > self._idle_gap()
