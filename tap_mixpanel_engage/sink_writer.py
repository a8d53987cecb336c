"""The single writer: one thread owns the sink and applies queued operations in input order.

The reading thread decodes and checks records while this thread is inside DuckDB (which
releases the GIL), so the two overlap. STATE travels through the same queue, so it is written
to stdout only after the commit of every batch queued before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import msgspec

from tap_mixpanel_engage.sink import Record, Sink

_STOP = object()


class StateOutput(Protocol):
    """Where STATE lines go (stdout's binary buffer)."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


class WriterError(RuntimeError):
    """The writer thread failed; the message says where in the input and why."""


class SinkWriter:
    """Runs ``sink`` on its own thread; at most ``max_pending`` operations wait in the queue."""

    def __init__(self, sink: Sink, state_out: StateOutput, max_pending: int = 2) -> None:
        self._sink = sink
        self._state_out = state_out
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._encoder = msgspec.json.Encoder()
        self._thread = threading.Thread(target=self._run, name="sink-writer")
        self._started = False
        self.error: WriterError | None = None
        self.states_written = 0

    def start(self) -> None:
        """Start the thread; from now on only it touches the sink."""
        self._thread.start()
        self._started = True

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], keys: Sequence[str], where: str
    ) -> None:
        """Queue ``sink.open_stream``."""
        self._put(("open", where, stream, schema, keys))

    def write(self, batches: Sequence[tuple[str, Sequence[Record]]], where: str) -> None:
        """Queue one ``write_batch`` per stream followed by a single ``commit``."""
        self._put(("write", where, batches))

    def emit_state(self, value: Any) -> None:
        """Queue a STATE value; it is printed after everything queued before it is committed."""
        self._put(("state", "STATE", value))

    def finish(self) -> None:
        """Apply everything queued, close the sink and wait for the thread (always call it)."""
        if not self._started:
            self._sink.close()
            return
        self._queue.put(_STOP)
        self._thread.join()

    def _put(self, item: tuple[Any, ...]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(item)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                if self.error is None:
                    self._apply(item)
        finally:
            try:
                self._sink.close()
            except Exception as exc:
                if self.error is None:
                    self.error = WriterError(f"closing the sink: {_describe(exc)}")

    def _apply(self, item: tuple[Any, ...]) -> None:
        kind, where = item[0], item[1]
        try:
            if kind == "open":
                self._sink.open_stream(item[2], item[3], item[4])
            elif kind == "write":
                for stream, records in item[2]:
                    self._sink.write_batch(stream, records)
                self._sink.commit()
            else:
                self._state_out.write(self._encoder.encode(item[2]) + b"\n")
                self._state_out.flush()
                self.states_written += 1
        except Exception as exc:
            self.error = WriterError(f"{where}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
