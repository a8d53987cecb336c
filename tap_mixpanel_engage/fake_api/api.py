"""``FakeEngageAPI``: the fake's state (profiles, sessions, limits, counters) and its lifecycle."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from tap_mixpanel_engage.fake_api.engine import ProfileStore, in_cohort
from tap_mixpanel_engage.fake_api.limits import Admission, Chaos
from tap_mixpanel_engage.fake_api.profiles import distinct_id_of
from tap_mixpanel_engage.fake_api.server import Backend, FakeServer
from tap_mixpanel_engage.fake_api.sessions import Sessions
from tap_mixpanel_engage.fake_api.settings import FakeSettings, FakeStats
from tap_mixpanel_engage.fake_api.where import parse_where


class FakeEngageAPI:
    """A local Engage API on 127.0.0.1 (a context manager; ``start()``/``stop()`` work too).

    Args:
        settings: the knobs; ``FakeSettings()`` is a well-behaved API with 1000 profiles.
        port: 0 (default) picks a free port; ``url`` tells which.
        clock: monotonic seconds for session lifetimes, the rate window and growth (inject to
            test); a clock with ``sleep(seconds, cancelled)`` (``SimulatedClock``) takes latency
            too.
    """

    def __init__(
        self,
        settings: FakeSettings | None = None,
        *,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or FakeSettings()
        self.port = port
        self.stats = FakeStats()
        self.store = ProfileStore(self.settings, clock)
        self.sessions = Sessions(self.settings, clock)
        self.admission = Admission(self.settings, clock, self.stats)
        self.chaos = Chaos(self.settings)
        self.stopping = threading.Event()
        self.clock = clock
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``; clients append ``/api/query/engage``."""
        if self._server is None:
            raise RuntimeError("the fake Engage API is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeEngageAPI:
        if self._server is not None:
            return self
        self.stopping.clear()
        backend = Backend(
            self.settings,
            self.stats,
            self.store,
            self.sessions,
            self.admission,
            self.chaos,
            self.stopping,
            self.clock,
        )
        self._server = FakeServer(backend, self.port)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections, close the socket and join the server thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeEngageAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def expected_ids(self, where: str | None = None, *, cohort_id: int | None = None) -> set[str]:
        """The distinct_ids a query with this ``where`` (and cohort) should return, for tests."""
        node = parse_where(where) if where else None
        indices = self.store.select(node, cohort_id, None)
        return {distinct_id_of(i, self.settings.seed) for i in indices}

    def in_cohort(self, cohort_id: int, distinct_id: str) -> bool:
        index = self.store.index_of(distinct_id)
        return index is not None and in_cohort(cohort_id, index)

    def touch(self, n: int) -> list[str]:
        """Bump ``$last_seen`` of ``n`` profiles past every generated value; their ids."""
        return self.store.touch(n)

    def expire_sessions(self) -> int:
        """Expire every open session now (their next page gets the expiry error)."""
        return self.sessions.expire_all()
