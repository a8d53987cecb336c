"""``FakeEngageAPI``: the fake's state (profiles, sessions, limits, counters) and its lifecycle."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from tap_mixpanel_engage.fake_api.engine import in_cohort
from tap_mixpanel_engage.fake_api.limits import Admission, Chaos
from tap_mixpanel_engage.fake_api.population import Population
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
        self.store = Population(self.settings, clock)
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

    def expected_ids(
        self,
        where: str | None = None,
        *,
        cohort_id: int | None = None,
        data_group_id: str | None = None,
        behaviors: Sequence[dict[str, Any]] | None = None,
        include_all_users: bool = True,
    ) -> set[str]:
        """The distinct_ids a query with these parameters should return, for tests.

        ``data_group_id`` asks for that group key's profiles instead of users.
        """
        params: dict[str, Any] = {"where": where or ""}
        if behaviors is not None:
            params["behaviors"] = json.dumps(list(behaviors))
        if not include_all_users:
            params["include_all_users"] = "false"
        store = self.store if data_group_id is None else self.store.group(data_group_id)
        indices = store.select(parse_where(where) if where else None, cohort_id, None, params)
        return {store.distinct_id(i) for i in indices}

    def cohort_ids(self) -> list[int]:
        """The ids of the Cohorts list, in its order."""
        return self.store.cohorts.ids()

    def expected_members(
        self, cohort_ids: Iterable[int] | None = None, *, include_all_users: bool = True
    ) -> set[tuple[int, str]]:
        """Every (cohort_id, distinct_id) of the listed cohorts (or of ``cohort_ids``)."""
        wanted = self.cohort_ids() if cohort_ids is None else list(cohort_ids)
        return {
            (c, d)
            for c in wanted
            if self.store.cohorts.is_listed(c)
            for d in self.expected_ids(cohort_id=c, include_all_users=include_all_users)
        }

    def delete(self, n: int, *, data_group_id: str | None = None) -> list[str]:
        """Delete ``n`` profiles (of a group key, with ``data_group_id``); their ids."""
        store = self.store if data_group_id is None else self.store.group(data_group_id)
        return store.delete(n)

    def leave_cohort(self, cohort_id: int, n: int = 1) -> list[str]:
        """``n`` members leave ``cohort_id``; their ids."""
        return self.store.leave_cohort(cohort_id, n)

    def delete_cohort(self, cohort_id: int) -> None:
        """Remove ``cohort_id`` from the Cohorts list (its members go with it)."""
        self.store.cohorts.delete(cohort_id)

    def in_cohort(self, cohort_id: int, distinct_id: str) -> bool:
        index = self.store.index_of(distinct_id)
        return index is not None and in_cohort(cohort_id, index)

    def touch(self, n: int, *, data_group_id: str | None = None) -> list[str]:
        """Bump ``$last_seen`` of ``n`` profiles past every generated value; their ids."""
        store = self.store if data_group_id is None else self.store.group(data_group_id)
        return store.touch(n)

    def expire_sessions(self) -> int:
        """Expire every open session now (their next page gets the expiry error)."""
        return self.sessions.expire_all()
