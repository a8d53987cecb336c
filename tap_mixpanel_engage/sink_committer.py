"""Drives a sink from one writer thread with one batch in flight, for :func:`sync`.

The calling thread fetches and shapes the next batch while the writer thread loads the last
one; state moves forward only after the commit that covers it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tap_mixpanel_engage.records import KEY_PROPERTIES, STREAM, engage_schema
from tap_mixpanel_engage.sink import Sink

OnCommit = Callable[[Mapping[str, Any]], None]


class Committer:
    """Drives the sink from one writer thread with one batch in flight.

    DuckDB releases the GIL while it loads, so batch k is written while the calling thread
    fetches and shapes batch k+1: the two costs overlap instead of adding up. Only the writer
    thread touches the sink (the contract's single thread); ``on_commit`` runs on the calling
    thread, after the commit that covers the state it receives, and in commit order.
    """

    def __init__(self, sink: Sink, on_commit: OnCommit | None) -> None:
        self._sink = sink
        self._on_commit = on_commit
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-writer")
        self._pending: tuple[Future[int], dict[str, Any]] | None = None
        self.written = 0

    def open(self) -> None:
        """Open the stream on the writer thread and wait for it."""
        schema, keys = engage_schema(), list(KEY_PROPERTIES)
        self._pool.submit(self._sink.open_stream, STREAM, schema, keys).result()

    def submit(self, batch: list[dict[str, Any]], state: dict[str, Any]) -> None:
        """Wait for the batch in flight, then hand ``batch`` over; ``state`` follows its commit."""
        self.wait()
        self._pending = (self._pool.submit(_commit, self._sink, batch), state)

    def poll(self) -> None:
        """Report the batch in flight if it has landed (keeps saved state fresh)."""
        if self._pending is not None and self._pending[0].done():
            self.wait()

    def wait(self) -> None:
        """Wait for the batch in flight, then pass its state to ``on_commit``.

        Raises:
            Exception: whatever the sink raised while writing or committing.
        """
        if self._pending is None:
            return
        future, state = self._pending
        self._pending = None
        self.written += future.result()
        if self._on_commit is not None:
            self._on_commit(state)

    def settle(self) -> None:
        """After a failure elsewhere, let the batch in flight land so the saved state is as
        recent as possible; its own error is dropped (the first failure is the one raised)."""
        with contextlib.suppress(Exception):
            self.wait()

    def close(self) -> None:
        """Close the sink on the writer thread (uncommitted work is discarded) and stop it."""
        try:
            self._pool.submit(self._sink.close).result()
        finally:
            self._pool.shutdown(wait=True)


def _commit(writer: Sink, batch: list[dict[str, Any]]) -> int:
    if batch:
        writer.write_batch(STREAM, batch)
    writer.commit()
    return len(batch)
