"""The one sink driver: a single writer thread owns the sink, and each state follows its commit.

``target-mixpanel-duckdb`` and :func:`tap_mixpanel_engage.sync` both drive their sink through
:class:`SinkDriver`. The calling thread reads, checks or fetches the next batch while the writer
thread is inside the sink (DuckDB releases the GIL), so the two costs overlap instead of adding up.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from tap_mixpanel_engage.errors import LOGGER_NAME, EngageError, one_line
from tap_mixpanel_engage.sinks.contract import Record, Sink

OnCommit = Callable[[Any], None]
Batches = Sequence[tuple[str, Sequence[Record]]]
"""``(stream, records)`` pairs that make up one commit."""

NO_STATE: Any = object()
"""Passed as ``state`` when nothing waits for a commit."""

logger = logging.getLogger(LOGGER_NAME)


class Activation(NamedTuple):
    """An ``ACTIVATE_VERSION`` to apply with a commit (see :meth:`Sink.activate_version`)."""

    stream: str
    version: int
    hard_delete: bool


class SinkError(EngageError):
    """The sink failed; the message says where in the input and why, the cause is the sink's."""


class SinkDriver:
    """Runs every sink call on one writer thread, in the order they were submitted.

    At most ``max_pending`` operations are queued or running: :meth:`submit` waits for the
    oldest when the limit is reached, which bounds memory to that many batches. ``on_commit``
    runs on the writer thread right after the commit that covers its state, in commit order.
    After a failure every later operation is skipped (nothing is committed past a failed batch)
    and the next call on the driver raises :class:`SinkError`.
    """

    def __init__(self, sink: Sink, on_commit: OnCommit | None = None, max_pending: int = 1) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self._sink = sink
        self._on_commit = on_commit
        self._max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-writer")
        self._pending: deque[Future[int]] = deque()
        self._error: SinkError | None = None
        """The first failure, set on the writer thread; later operations are skipped."""
        self._unversioned: set[str] = set()
        """Streams whose ACTIVATE_VERSION the sink could not apply (warned once each)."""
        self.written = 0
        """Records in batches whose commit has been confirmed by :meth:`submit` or :meth:`drain`."""

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str], where: str
    ) -> None:
        """Queue ``sink.open_stream`` (after everything queued before it)."""

        def run() -> int:
            self._sink.open_stream(stream, schema, key_properties)
            return 0

        self._queue(run, where)

    def submit(
        self,
        batches: Batches,
        state: Any = NO_STATE,
        where: str = "",
        activations: Sequence[Activation] = (),
    ) -> None:
        """Queue one ``write_batch`` per stream, then each activation, then a single ``commit``,
        then ``on_commit(state)``.

        With no records and no activation nothing is committed, and the state follows
        everything queued before it.
        """

        def run() -> int:
            count = 0
            for stream, records in batches:
                self._sink.write_batch(stream, records)
                count += len(records)
            for activation in activations:
                self._activate(activation)
            if batches or activations:
                self._sink.commit()
            if state is not NO_STATE and self._on_commit is not None:
                self._on_commit(state)
            return count

        self._queue(run, where)

    def drain(self) -> None:
        """Wait for everything queued.

        Raises:
            SinkError: an operation failed (the first failure).
        """
        while self._pending:
            self._settle_oldest()

    def settle(self) -> None:
        """After a failure elsewhere, let what is queued land so the last state is as recent as
        possible; a failure of its own is dropped (the first failure is the one raised)."""
        while self._pending:
            with contextlib.suppress(SinkError):
                self._settle_oldest()

    def close(self) -> None:
        """Close the sink on the writer thread, after what is queued; uncommitted work is dropped.

        Raises:
            SinkError: closing the sink failed (only when nothing failed before).
        """
        closing = self._pool.submit(self._sink.close)
        try:
            closing.result()
        except Exception as exc:
            if self._error is None:
                raise SinkError(f"closing the sink: {describe(exc)}") from exc
        finally:
            self._pool.shutdown(wait=True)

    def _activate(self, activation: Activation) -> None:
        stream, version, hard_delete = activation
        try:
            self._sink.activate_version(stream, version, hard_delete=hard_delete)
        except NotImplementedError:
            if stream not in self._unversioned:
                self._unversioned.add(stream)
                logger.warning(
                    "stream %r: the %s sink does not apply ACTIVATE_VERSION; rows that are gone "
                    "from the source stay in the destination",
                    stream,
                    self._sink.name,
                )

    def _queue(self, operation: Callable[[], int], where: str) -> None:
        while len(self._pending) >= self._max_pending:
            self._settle_oldest()
        if self._error is not None:
            raise self._error
        self._pending.append(self._pool.submit(self._guarded, operation, where))

    def _guarded(self, operation: Callable[[], int], where: str) -> int:
        """Runs on the writer thread: skip everything after a failure, name where it happened."""
        if self._error is not None:
            return 0
        try:
            return operation()
        except Exception as exc:
            message = f"{where}: {describe(exc)}" if where else describe(exc)
            self._error = SinkError(message)
            self._error.__cause__ = exc
            raise self._error from exc

    def _settle_oldest(self) -> None:
        oldest = self._pending[0]
        try:
            count = oldest.result()
        finally:
            # Interrupted while waiting (Ctrl-C), the operation stays pending: settle() still
            # waits for its commit, and the state that follows it still reaches on_commit.
            if oldest.done():
                self._pending.popleft()
        self.written += count


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, for error output."""
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
