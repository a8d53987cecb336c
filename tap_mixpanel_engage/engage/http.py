"""HTTP sessions whose requests in flight can be aborted from another thread.

Closing a ``requests.Session`` only closes idle connections: a worker blocked reading a slow
answer stays blocked until ``request_timeout`` (five minutes by default). The connection pools
here remember which connection each thread has checked out, so :func:`abort_in_flight` can shut
those sockets down and the blocked reads return at once. That is what lets Ctrl-C, SIGTERM or a
``break`` out of ``iter_profiles()`` stop an export within a couple of seconds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_IN_FLIGHT: dict[int, HTTPConnection] = {}
"""Thread id -> the connection that thread has checked out of a pool."""
_IN_FLIGHT_LOCK = threading.Lock()


class _Tracking:
    """Pool mixin: note the connection a thread takes, forget it when it comes back."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]  # mixin: a pool class follows
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[threading.get_ident()] = conn
        return conn

    def _put_conn(self, conn: Any) -> None:
        with _IN_FLIGHT_LOCK:
            if _IN_FLIGHT.get(threading.get_ident()) is conn:
                del _IN_FLIGHT[threading.get_ident()]
        super()._put_conn(conn)  # type: ignore[misc]  # mixin: a pool class follows


class _HTTPPool(_Tracking, HTTPConnectionPool):
    pass


class _HTTPSPool(_Tracking, HTTPSConnectionPool):
    pass


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class AbortableAdapter(HTTPAdapter):
    """An adapter whose pools track connections in flight (see the module docstring)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def abortable_session() -> requests.Session:
    """A ``requests.Session`` whose requests :func:`abort_in_flight` can interrupt."""
    session = requests.Session()
    adapter = AbortableAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def abort_in_flight(threads: Iterable[int]) -> int:
    """Shut down the sockets the given threads are using; return how many were in flight."""
    with _IN_FLIGHT_LOCK:
        conns = [c for t in threads if (c := _IN_FLIGHT.get(t)) is not None]
    for conn in conns:
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    return len(conns)


class ThreadSessions:
    """One abortable ``requests.Session`` per thread (sessions are not documented thread-safe),
    and the means to abort or close them all from any thread."""

    def __init__(self, auth: tuple[str, str], user_agent: str) -> None:
        self._auth = auth
        self._user_agent = user_agent
        self._local = threading.local()
        self._sessions: dict[int, requests.Session] = {}
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        """This thread's session (made on first use)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = abortable_session()
            session.auth = self._auth
            session.headers["User-Agent"] = self._user_agent
            self._local.session = session
            with self._lock:
                self._sessions[threading.get_ident()] = session
        return session

    def abort(self) -> None:
        """Shut down the sockets of every request in flight on these sessions."""
        with self._lock:
            threads = list(self._sessions)
        abort_in_flight(threads)

    def close(self) -> None:
        """Abort what is in flight and close every session."""
        self.abort()
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.close()
