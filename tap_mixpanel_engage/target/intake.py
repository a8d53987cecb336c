"""Input lines read on a thread of their own, so the loader can act on time when input is slow.

A paced export may send one page a minute: the loader must still commit the records it holds
after ``batch_wait_limit_seconds``, and that needs a read that can time out. The thread reads what
the pipe has (up to a megabyte at a time), splits it into lines and queues them in chunks; the
loader decodes them on its own thread as before.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import IO

END = object()
"""The input ended."""
TIMEOUT = object()
"""Nothing arrived in time."""
_CHUNK_BYTES = 1 << 20


class Intake:
    """Lines of ``stream`` in chunks (newline removed), read by a daemon thread.

    The thread is a daemon: a read from a pipe cannot be interrupted, and when the loader stops
    early (bad input) the process may end while it still waits for input.
    """

    def __init__(self, stream: IO[bytes], depth: int = 8) -> None:
        self._stream = stream
        self._chunks: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._read, name="target-intake", daemon=True)
        self._thread.start()

    def next(self, timeout: float | None) -> list[bytes] | object:
        """The next chunk of lines, :data:`END`, or :data:`TIMEOUT` after ``timeout`` seconds.

        Raises:
            OSError: reading the input failed.
        """
        try:
            item = self._chunks.get(timeout=timeout)
        except queue.Empty:
            return TIMEOUT
        if isinstance(item, OSError):
            raise item
        return item

    def _read(self) -> None:
        read = getattr(self._stream, "read1", self._stream.read)
        pending = b""
        try:
            while data := read(_CHUNK_BYTES):
                lines = (pending + data).split(b"\n") if pending else data.split(b"\n")
                pending = lines.pop()
                if lines:
                    self._chunks.put(lines)
            if pending:
                self._chunks.put([pending])
            self._chunks.put(END)
        except OSError as exc:
            self._chunks.put(exc)


class Interrupted(Exception):
    """The target was asked to stop (SIGINT, SIGTERM) and has committed what it received."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


class GracefulStop:
    """SIGINT and SIGTERM ask the loader to stop, not the process to die at once.

    After the signal the loader keeps reading for up to ``grace`` seconds (a tap stopped by the
    same Ctrl-C writes a last STATE and closes the pipe), commits everything it received, prints
    the STATE that covers it, then ends with :class:`Interrupted`. Installed only on the main
    thread (Python delivers signals there); elsewhere it does nothing.
    """

    def __init__(self, grace: float = 10.0) -> None:
        self.grace = grace
        self.signum: int | None = None
        self.deadline: float | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]  # what signal() returned

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum, self.deadline = signum, time.monotonic() + self.grace

    def remaining(self) -> float | None:
        """Seconds left to read after a signal (None: no signal yet)."""
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)
