"""Simulated time for the fake API and an export together: hours of rate limits in seconds.

Pass one :class:`SimulatedClock` as the fake's ``clock`` and the export's ``clock``. Threads that
wait call :meth:`SimulatedClock.sleep`; when every one of them sleeps, the fake handles no request
(:meth:`SimulatedClock.busy`) and nothing has touched the clock for ``quiet`` real seconds (no
request on its way, no page being parsed), time jumps to the earliest wake-up. Nobody waits for
real, yet every wait, rolling window and session lifetime keeps its simulated length.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import TracebackType


class SimulatedClock:
    """Discrete-event time; a context manager that runs the thread moving time forward."""

    def __init__(self, start: float = 0.0, *, quiet: float = 0.03) -> None:
        self._now = start
        self._quiet = quiet
        self._cond = threading.Condition()
        self._sleepers: dict[int, float] = {}
        self._activity = 0
        self._busy = 0
        self._local = threading.local()
        self._stop = threading.Event()
        self._mover: threading.Thread | None = None
        self.jumps = 0

    def __call__(self) -> float:
        """The current simulated time (the fake API takes a callable)."""
        return self.now()

    def now(self) -> float:
        """The current simulated time, in seconds."""
        with self._cond:
            self._activity += 1
            return self._now

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Time stands still while this thread works in here, except while it sleeps."""
        with self._cond:
            self._busy += 1
            self._local.busy = getattr(self._local, "busy", 0) + 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._local.busy -= 1
                self._activity += 1

    def sleep(self, seconds: float, cancelled: threading.Event) -> bool:
        """Wait ``seconds`` of simulated time or until ``cancelled``; True when cancelled."""
        with self._cond:
            mine = getattr(self._local, "busy", 0)
            self._busy -= mine
            wake = self._now + max(seconds, 0.0)
            token = id(threading.current_thread()) ^ id(cancelled) ^ self._activity
            while token in self._sleepers:
                token += 1
            self._sleepers[token] = wake
            self._activity += 1
            try:
                while self._now < wake and not cancelled.is_set():
                    self._cond.wait(0.01)
            finally:
                del self._sleepers[token]
                self._busy += mine
                self._activity += 1
        return cancelled.is_set()

    def __enter__(self) -> SimulatedClock:
        self._stop.clear()
        self._mover = threading.Thread(target=self._move, name="simulated-clock", daemon=True)
        self._mover.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._mover is not None:
            self._mover.join()

    def _move(self) -> None:
        seen = -1
        while not self._stop.wait(self._quiet):
            with self._cond:
                if not self._sleepers or self._busy or self._activity != seen:
                    seen = self._activity
                    continue
                wake = min(self._sleepers.values())
                if wake > self._now:
                    self._now = wake
                    self.jumps += 1
                    self._cond.notify_all()
                seen = self._activity
