"""The engine's sense of time: every wait of an export goes through one :class:`Clock`.

Real runs use :class:`RealClock`. Tests and the simulation inject a clock shared with the fake API
(``tap_mixpanel_engage.fake_api.clock``), so an hour-long rate window or a session that dies when
left idle is exercised without waiting an hour.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds, and interruptible sleeps."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def sleep(self, seconds: float, cancelled: threading.Event) -> bool:
        """Wait ``seconds`` or until ``cancelled`` is set; True when cancelled."""
        ...


class RealClock:
    """Wall time: ``time.monotonic`` and ``Event.wait``."""

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float, cancelled: threading.Event) -> bool:
        """``cancelled.wait(seconds)``."""
        return cancelled.wait(max(0.0, seconds))


REAL_CLOCK = RealClock()
