"""Stopping while requests hang: SIGTERM, Ctrl-C and ``break`` return at once, STATE first.

A server answers page 0 and then never answers a later page (until the test ends), while the
tap's ``request_timeout`` is five minutes: only aborting the requests in flight stops in time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tap_mixpanel_engage import iter_profiles
from tests.helpers import BIN

TOTAL, PAGE_SIZE = 10_000, 1000


class _Hanging(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def do_POST(self) -> None:
        body = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        page = int(body["page"][0])
        if page > 0:
            self.server.hanging.append(page)
            self.server.release.wait(120)
        seen = {"$last_seen": "2024-06-09T23:08:40"}
        results = [
            {"$distinct_id": f"u{page * PAGE_SIZE + i}", "$properties": seen}
            for i in range(PAGE_SIZE)
        ]
        answer = {"page": page, "page_size": PAGE_SIZE, "session_id": "s", "results": results}
        if page == 0:
            answer["total"] = TOTAL
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hanging)
        self.hanging: list[int] = []
        self.release = threading.Event()


@pytest.fixture
def hanging() -> Iterator[_Server]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


def _config(server: _Server) -> dict[str, Any]:
    return {
        "project_id": 1,
        "username": "u",
        "secret": "s",
        "api_url": f"http://127.0.0.1:{server.server_address[1]}",
        "page_size": PAGE_SIZE,
        "request_timeout": 300,
    }


def _wait_for_hanging(server: _Server) -> None:
    deadline = time.monotonic() + 60
    while len(server.hanging) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.hanging) >= 3, "the tap never reached the hanging pages"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_tap_at_once_with_requests_in_flight_state_first(
    hanging: _Server, tmp_path: Any, signum: int
) -> None:
    config = tmp_path / "tap.json"
    config.write_text(json.dumps(_config(hanging)))
    errors = (tmp_path / "stderr").open("wb")
    tap = subprocess.Popen(
        [str(BIN / "tap-mixpanel-engage"), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=errors,
    )
    assert tap.stdout is not None
    seen: list[bytes] = []
    for line in tap.stdout:  # until page 0 is emitted and checkpointed
        seen.append(line)
        if b'"engage_position"' in line:
            break
    _wait_for_hanging(hanging)
    tap.send_signal(signum)
    out, _ = tap.communicate(timeout=20)  # request_timeout is 300 s: no abort, no exit
    errors.close()
    err = (tmp_path / "stderr").read_bytes()
    assert tap.returncode == 128 + signum
    states = [m for m in map(json.loads, [*seen, *out.splitlines()]) if m["type"] == "STATE"]
    position = states[-1]["value"]["bookmarks"]["engage"]["engage_position"]
    assert position["page"] == 0  # page 0 was emitted; the rest resumes from page 1
    assert b"Traceback" not in err


def test_breaking_out_of_iter_profiles_returns_at_once_and_leaves_no_thread(
    hanging: _Server,
) -> None:
    records = iter_profiles(_config(hanging))
    first = next(records)
    assert first["distinct_id"] == "u0"
    _wait_for_hanging(hanging)
    records.close()  # what a ``break`` does
    assert not [t for t in threading.enumerate() if t.name.startswith("engage-page")]
