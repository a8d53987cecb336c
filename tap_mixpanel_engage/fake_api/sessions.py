"""Query sessions: what page 0 snapshots, and when a session has expired (age or disuse).

``clock`` is injectable so tests can expire sessions without sleeping.
"""

from __future__ import annotations

import random
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tap_mixpanel_engage.fake_api.errors import ApiError
from tap_mixpanel_engage.fake_api.settings import FakeSettings

MAX_SESSIONS = 4096
"""Sessions kept at once (oldest evicted first): bounds memory when clients never finish."""


@dataclass
class Session:
    session_id: str
    indices: Sequence[int]
    page_size: int
    opened_at: float
    last_used: float
    expired: bool = False


class Sessions:
    """Open query sessions; ``clock`` is injectable so tests can expire them without sleeping."""

    def __init__(self, settings: FakeSettings, clock: Callable[[], float]) -> None:
        self._lifetime = settings.session_lifetime
        self._idle = settings.session_idle_timeout
        self._clock = clock
        self._rng = random.Random(f"sessions:{settings.seed}")
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Session] = OrderedDict()
        self._counter = 0

    def open(self, indices: Sequence[int], page_size: int) -> Session:
        if not isinstance(indices, range):
            indices = array("I", indices)  # 4 bytes per profile, not a list of int objects
        with self._lock:
            self._counter += 1
            sid = f"{self._rng.getrandbits(64):016x}{self._counter:08x}"
            now = self._clock()
            session = Session(sid, indices, page_size, now, now)
            self._open[sid] = session
            while len(self._open) > MAX_SESSIONS:
                self._open.popitem(last=False)
        return session

    def get(self, session_id: str) -> Session:
        with self._lock:
            session = self._open.get(session_id)
        if session is None:
            raise ApiError(
                400, f"unknown session_id {session_id}; run the query again without session_id"
            )
        now = self._clock()
        too_old = self._lifetime is not None and now - session.opened_at > self._lifetime
        unused = self._idle is not None and now - session.last_used > self._idle
        if session.expired or too_old or unused:
            session.expired = True
            raise ApiError(
                400, f"session_id {session_id} has expired; run the query again without session_id"
            )
        session.last_used = now
        return session

    def expire_all(self) -> int:
        with self._lock:
            for session in self._open.values():
                session.expired = True
            return len(self._open)
