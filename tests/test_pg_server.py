"""The throwaway PostgreSQL server of tests and benchmarks: found or installed, and never left.

These run the real server binaries (``make test`` makes sure they are installed); only the
"binaries missing and not root" case is simulated, as it cannot happen on the CI machines.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from scripts import pg_server
from scripts.pg_server import PostgresServer, ServerUnavailable

REPO = Path(__file__).resolve().parents[1]


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 60
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.02)


def test_the_server_package_is_found_where_debian_puts_it() -> None:
    bindir = pg_server.find_bindir()
    assert bindir is not None
    assert (bindir / "initdb").exists() and (bindir / "postgres").exists()


def test_missing_binaries_without_root_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pg_server, "find_bindir", lambda: None)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ServerUnavailable, match=r"apt-get install -y postgresql"):
        pg_server.ensure_installed()
    assert pg_server.main(["ensure"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "scripts.pg_server: error: PostgreSQL server binaries (initdb) not found"
    )


def test_a_server_listens_only_on_its_socket_and_stop_leaves_nothing() -> None:
    with PostgresServer() as server:
        pid, directory = server.pid, server.socket_dir
        with psycopg.connect(server.dsn()) as conn:
            settings: dict[str, str] = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings "
                    "WHERE name IN ('listen_addresses', 'fsync', 'unix_socket_directories')"
                ).fetchall()
            )
        assert settings == {
            "listen_addresses": "",
            "fsync": "off",
            "unix_socket_directories": str(directory),
        }
        if os.geteuid() == 0:  # root runs the server as the postgres user, who owns the directory
            assert directory.stat().st_uid == pwd.getpwnam(pg_server.SERVER_USER).pw_uid
    assert gone(pid)
    assert not directory.exists()


def test_a_server_stops_when_the_process_that_started_it_dies() -> None:
    script = (
        "import os; from scripts.pg_server import PostgresServer; s = PostgresServer().start(); "
        "print(s.pid, s.socket_dir, flush=True); os._exit(0)"  # no stop(): the parent just dies
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    pid, directory = done.stdout.split()
    try:
        wait_gone(int(pid))  # the server got SIGINT from the kernel when its parent died
    finally:
        shutil.rmtree(directory, ignore_errors=True)
