"""The HTTP face of the fake: auth, parameter merging, limits, faults, and the admin endpoints.

Handlers only translate HTTP to the engine and back; all state lives in the :class:`Backend` that
``FakeEngageAPI`` builds and hands to the server.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import SHUT_RDWR, socket
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tap_mixpanel_engage.fake_api.engine import requested_page, run_query
from tap_mixpanel_engage.fake_api.errors import ApiError
from tap_mixpanel_engage.fake_api.limits import Admission, Chaos
from tap_mixpanel_engage.fake_api.population import Population, admin_change
from tap_mixpanel_engage.fake_api.sessions import Sessions
from tap_mixpanel_engage.fake_api.settings import FakeSettings, FakeStats

ENGAGE_PATHS = frozenset({"/api/query/engage", "/api/2.0/engage"})
COHORTS_LIST_PATHS = frozenset({"/api/query/cohorts/list", "/api/2.0/cohorts/list"})
QUERY_PATHS = ENGAGE_PATHS | COHORTS_LIST_PATHS
"""Paths that answer queries: each counts as one against the limits."""
_STATUS_TEXT = {
    401: "Unable to authenticate request",
    402: "Your plan does not include API access. Upgrade your plan to use the Query API.",
    403: "Forbidden",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable; please retry",
}


def _status_text(status: int) -> str:
    try:
        return _STATUS_TEXT.get(status) or HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


@dataclass(frozen=True)
class Backend:
    """Everything a request may read or change: the fake's state, limits and counters."""

    settings: FakeSettings
    stats: FakeStats
    store: Population
    sessions: Sessions
    admission: Admission
    chaos: Chaos
    stopping: threading.Event
    """Set while the server stops: queries still sleeping in ``latency`` end at once."""
    clock: Callable[[], float]
    """The fake's time; with a ``sleep(seconds, cancelled)`` method, latency is spent on it."""

    def busy(self) -> contextlib.AbstractContextManager[object]:
        """While a request is handled, a simulated clock does not move (but for its latency)."""
        busy = getattr(self.clock, "busy", None)
        return busy() if busy is not None else contextlib.nullcontext()

    def wait(self, seconds: float) -> bool:
        """Spend ``seconds`` of the fake's time; True when the server stops meanwhile."""
        sleep = getattr(self.clock, "sleep", None)
        if sleep is not None:
            return bool(sleep(seconds, self.stopping))
        return self.stopping.wait(seconds)


class FakeServer(ThreadingHTTPServer):
    """Tracks open connections so ``stop()`` can end idle keep-alive handler threads too."""

    daemon_threads = True

    def __init__(self, api: Backend, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.api = api
        self.connections: set[socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up (tests and taps do it on purpose); loud otherwise."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection, so idle keep-alive handler threads end now."""
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):  # already closed by the peer
                    conn.shutdown(SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a requests.Session expect
    server: FakeServer
    timeout = 120  # an idle keep-alive connection is dropped after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a fake serving thousands of pages should not flood the test output."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _refuse_method(self) -> None:
        """JSON like every other error, instead of http.server's HTML 501 page."""
        self.close_connection = True  # the body, if any, is left unread
        path = urlsplit(self.path).path
        self._error(path, 405, f"method {self.command} not allowed", {"Allow": "GET, POST"})

    do_PUT = do_PATCH = do_DELETE = _refuse_method

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, path: str, status: int, message: str, headers: dict[str, str] | None) -> None:
        self._send(status, json.dumps({"error": message, "request": path}).encode(), headers)

    def _params(self, query: str) -> dict[str, Any]:
        """Query string, then the body (form or JSON) on top: the API accepts all three."""
        params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if len(raw) < length:  # the client went away mid-request (an aborted send): no query
            raise ConnectionAbortedError("request body cut short")  # handle_error stays quiet
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not raw.strip():
            return params
        if kind == "application/json":
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ApiError(400, "request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "JSON request body must be an object")
            params.update(body)
        else:
            form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
        return params

    def _authenticate(self, params: dict[str, Any]) -> None:
        s = self.server.api.settings
        user, password = "", None
        header = self.headers.get("Authorization") or ""
        if header[:6].lower() == "basic ":
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                password = None
        if password is not None and user == s.api_secret and password == "":
            return  # legacy project secret: the project is implied
        if password is None or not (
            hmac.compare_digest(user, s.username) and hmac.compare_digest(password, s.secret)
        ):
            raise ApiError(401, _STATUS_TEXT[401])
        project = params.get("project_id")
        if project in (None, ""):
            raise ApiError(400, "project_id is required when authenticating as a service account")
        if str(project) != str(s.project_id):
            raise ApiError(403, f"service account does not have access to project {project}")

    def _dispatch(self) -> None:
        with self.server.api.busy():
            self._handle()

    def _handle(self) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        try:
            if url.path.startswith("/_fake/"):
                self._admin(url.path, self._params(url.query))
            elif url.path not in QUERY_PATHS:
                self._params(url.query)
                raise ApiError(404, f"unknown endpoint {url.path}")
            else:
                api.stats.add(requests=1)
                self._engage(url.path, self._params(url.query))
        except ApiError as exc:
            if url.path in QUERY_PATHS:
                api.stats.add(
                    auth_failures=int(exc.status in (401, 403)),
                    client_errors=int(400 <= exc.status < 500 and exc.status != 429),
                )
            self._error(url.path, exc.status, exc.message, exc.headers)

    def _engage(self, path: str, params: dict[str, Any]) -> None:
        api = self.server.api
        if api.settings.fail_with_status is not None:
            raise ApiError(
                api.settings.fail_with_status, _status_text(api.settings.fail_with_status)
            )
        self._authenticate(params)
        page = requested_page(params)
        api.admission.enter(page == 0 or api.settings.rate_limit_pages)
        try:
            # `latency` is the whole service time of a query, as a client sees it: the page is
            # built first and the rest of the time is slept, so five queries arriving together
            # also finish together instead of queueing behind one another for the GIL.
            started = api.clock()
            delay = api.chaos.delay()
            listing = path in COHORTS_LIST_PATHS
            try:
                if listing:
                    body, page, count, opened = api.store.cohorts_list(), 0, 0, False
                else:
                    body, page, count, opened = run_query(
                        api.store, api.sessions, api.settings, params
                    )
            except ApiError as exc:
                if "has expired" in exc.message:
                    api.stats.add(expired_sessions=1)
                raise
            remaining = delay - (api.clock() - started)
            if remaining > 0 and api.wait(remaining):
                self.close_connection = True
                return
            fault = api.chaos.fault()
            with api.stats.lock:  # counted before sending, so a client never reads stale stats
                api.stats.sessions_opened += opened
                if fault is None and listing:
                    api.stats.cohort_lists_served += 1
                elif fault is None:
                    api.stats.pages_served[page] += 1
                    api.stats.profiles_served += count
        finally:
            # The query ends when its answer is ready: a client that sends its next request the
            # moment it reads this one must not find this one still running.
            api.admission.leave()
        if fault is None:
            self._send(200, body)
        else:
            self._fault(path, fault, body)

    def _fault(self, path: str, kind: str, body: bytes) -> None:
        stats = self.server.api.stats
        with stats.lock:
            stats.faults += 1
            stats.faults_by_kind[kind] += 1
        if kind in ("500", "502", "503"):
            self._error(path, int(kind), _status_text(int(kind)), None)
        elif kind == "invalid_json":
            self._send(200, b"<html><body>upstream request timeout</body></html>")
        elif kind == "truncate":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:  # "drop": the socket closes with no response at all
            self.close_connection = True

    def _admin(self, path: str, params: dict[str, Any]) -> None:
        api = self.server.api
        if path == "/_fake/stats":
            self._send(200, json.dumps(api.stats.snapshot()).encode())
        elif path == "/_fake/touch" and self.command == "POST":
            try:
                count = int(params.get("count", 1))
            except (TypeError, ValueError):
                raise ApiError(400, "count must be an integer") from None
            self._send(200, json.dumps(api.store.touch(count)).encode())
        elif path == "/_fake/expire" and self.command == "POST":
            self._send(200, json.dumps({"expired": api.sessions.expire_all()}).encode())
        elif self.command == "POST" and (changed := admin_change(api.store, path, params)):
            self._send(200, json.dumps(changed[0]).encode())
        else:
            raise ApiError(404, f"unknown endpoint {path}")
