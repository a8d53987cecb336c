"""A throwaway PostgreSQL server for tests and benchmarks, and the check ``make`` runs for it.

``python -m scripts.pg_server ensure`` finds Debian's server binaries (``initdb`` under
``/usr/lib/postgresql/*/bin`` or on ``PATH``) and, when they are missing and we run as root,
installs the ``postgresql`` package with apt-get. :class:`PostgresServer` runs ``initdb`` into a
new temporary directory and starts ``postgres`` on a unix socket in that directory (no TCP,
``fsync=off``). As root both run as the ``postgres`` user, which owns the directory; the server
is our child process and gets SIGINT (fast shutdown) if we die first, so no server outlives its
run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

SERVER_USER = "postgres"
"""The OS user that owns the data directory and runs the server when we are root."""
SUPERUSER = "postgres"
"""The database superuser ``initdb`` creates; local connections are trusted."""
_PR_SET_PDEATHSIG = 1
_POLICY_RC = Path("/usr/sbin/policy-rc.d")
_START_TIMEOUT = 60.0


class ServerUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing and cannot be installed here."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres`` (the newest Debian version first)."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    if found:
        bindir = Path(found).resolve().parent
        if (bindir / "postgres").exists():
            return bindir
    return None


def ensure_installed() -> Path:
    """The server's bin directory, installing Debian's ``postgresql`` package if needed.

    Raises:
        ServerUnavailable: the binaries are missing and we are not root with apt-get.
    """
    found = find_bindir()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ServerUnavailable(
            "PostgreSQL server binaries (initdb) not found; install Debian's `postgresql` "
            "package (apt-get install -y postgresql) or put initdb on PATH"
        )
    _apt_install("postgresql")
    found = find_bindir()
    if found is None:
        raise ServerUnavailable("apt-get installed postgresql but no initdb was found")
    return found


def _apt_install(package: str) -> None:
    """``apt-get install -y package``, refreshing the lists once if that fails.

    Installing starts the package's default cluster unless service starts are denied; a
    temporary ``policy-rc.d`` (the standard Debian switch) denies them, so the install leaves no
    server running.
    """
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    own_policy = not _POLICY_RC.exists()
    if own_policy:
        _POLICY_RC.write_text(
            "#!/bin/sh\n# written by scripts/pg_server.py during an install\nexit 101\n"
        )
        _POLICY_RC.chmod(0o755)
    try:
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
            subprocess.run(install, env=env, check=True)
    finally:
        if own_policy:
            _POLICY_RC.unlink(missing_ok=True)


def _die_with_parent() -> None:
    """Runs in the server's process before exec: SIGINT it (fast shutdown) when we die."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


class PostgresServer:
    """One PostgreSQL server in a temporary directory; a context manager that stops it.

    ``dsn(dbname)`` is a libpq connection string for the unix socket, e.g.
    ``host=/tmp/pg-abc123 port=5432 user=postgres dbname=postgres``.
    """

    def __init__(self, *, settings: dict[str, str] | None = None) -> None:
        self.bindir = ensure_installed()
        self.settings = {"fsync": "off", "full_page_writes": "off", **(settings or {})}
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._as_user: dict[str, Any] = (
            {"user": SERVER_USER, "group": SERVER_USER} if os.geteuid() == 0 else {}
        )

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's unix socket (``host=`` in a DSN)."""
        if self.directory is None:
            raise RuntimeError("the server is not running")
        return self.directory

    @property
    def pid(self) -> int:
        """The server's (postmaster's) process id."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for ``dbname`` as the superuser, over the socket."""
        return f"host={self.socket_dir} port=5432 user={SUPERUSER} dbname={dbname}"

    def start(self) -> PostgresServer:
        """``initdb`` a new data directory and start the server; returns when it accepts."""
        # Not under pytest's tmp_path: that is private to root, and the server user must reach it.
        directory = Path(tempfile.mkdtemp(prefix="pg-"))
        self.directory = directory
        try:
            if self._as_user:
                shutil.chown(directory, SERVER_USER, SERVER_USER)
            data = directory / "data"
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D", str(data), "-A", "trust", "-U", SUPERUSER,
                    "--no-sync", "-E", "UTF8", "--no-locale",
                ]
            )  # fmt: skip
            options = ["-c", "listen_addresses=", "-k", str(directory)]
            for name, value in self.settings.items():
                options += ["-c", f"{name}={value}"]
            with (directory / "log").open("wb") as log:
                self._process = subprocess.Popen(
                    [str(self.bindir / "postgres"), "-D", str(data), *options],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,  # only sets the death signal, no locks taken
                    **self._as_user,
                )
            self._wait_ready(data)
        except BaseException:
            self.stop()
            raise
        return self

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False, **self._as_user)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def _wait_ready(self, data: Path) -> None:
        """Wait until ``postmaster.pid`` says ready (what ``pg_ctl -w`` waits for)."""
        deadline = time.monotonic() + _START_TIMEOUT
        pid_file = data / "postmaster.pid"
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited on start:\n{self.log()}")
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"postgres did not start in {_START_TIMEOUT:.0f} s:\n{self.log()}"
                )
            time.sleep(0.02)

    def log(self) -> str:
        """The server's log so far."""
        if self.directory is None:
            return ""
        with contextlib.suppress(OSError):
            return (self.directory / "log").read_text(errors="replace")
        return ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL if that hangs, then remove the directory."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """``ensure``: make sure the server binaries are installed (``make test`` runs this)."""
    if argv != ["ensure"]:
        print("usage: python -m scripts.pg_server ensure", file=sys.stderr)
        return 2
    try:
        bindir = ensure_installed()
    except (ServerUnavailable, subprocess.CalledProcessError) as exc:
        print(f"scripts.pg_server: error: {exc}", file=sys.stderr)
        return 1
    print(f"PostgreSQL server binaries: {bindir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
