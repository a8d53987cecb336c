"""The bounded, in-order page window: fetch pages concurrently, hand them out in page order.

Pure threading: no SDK, no HTTP, so it can be tested with plain functions. It is CPython 3.14's
``Executor.map(buffersize=)``: a deque of at most ``max_workers + reorder_depth`` futures (the
buffer, so a free worker starts the next page while the consumer is busy with an earlier one),
results taken in input order, leftovers cancelled in ``finally``. What it adds: a ``cancelled``
event set when the window closes early, so a page waiting out a retry or a rate limit stops at
once instead of being joined at the end; and idle heartbeats (``on_idle``) while the consumer
waits for a slow page.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_REORDER_DEPTH = 3
"""Finished pages a window may hold beyond the ones in flight, waiting for an earlier page."""


class OrderedWindow(Generic[T]):
    """Fetch ``pages`` with up to ``max_workers`` running; iterate to get them in order.

    Fetching starts when the window is built, so a caller can hand out page 0 while pages 1.. are
    already in flight. At most ``max_workers + reorder_depth`` pages are submitted and not yet
    consumed. An exception from ``fetch`` is raised when its page's turn comes. :meth:`close`
    (also called when iteration ends or is abandoned) sets ``cancelled`` if pages remained, so
    ``fetch`` can abandon retry waits, cancels pages not yet started and joins the workers: no
    thread outlives the window.

    Args:
        fetch: called on a worker thread with a page number; must not touch shared state that is
            not thread-safe.
        pages: page numbers in the order they must come out.
        max_workers: the most ``fetch`` calls running at once.
        reorder_depth: finished pages that may wait for an earlier page beyond ``max_workers``.
        cancelled: set when the window closes early; shared with ``fetch`` for prompt exit.
        thread_name_prefix: worker thread names, for logs.
        on_idle: called on the consuming thread every ``idle_interval`` seconds spent waiting
            for the next page (progress heartbeats).
        idle_interval: seconds between ``on_idle`` calls.
    """

    def __init__(
        self,
        fetch: Callable[[int], T],
        pages: Iterable[int],
        *,
        max_workers: int,
        reorder_depth: int = DEFAULT_REORDER_DEPTH,
        cancelled: threading.Event | None = None,
        thread_name_prefix: str = "engage-page",
        on_idle: Callable[[], None] | None = None,
        idle_interval: float = 5.0,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if reorder_depth < 0:
            raise ValueError(f"reorder_depth must not be negative, got {reorder_depth}")
        self._fetch = fetch
        self._stop = cancelled if cancelled is not None else threading.Event()
        self._on_idle = on_idle
        self._idle_interval = idle_interval
        self._pages = iter(pages)
        self._pending: deque[tuple[int, Future[T]]] = deque()
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix)
        for page in self._pages:
            self._pending.append((page, self._executor.submit(fetch, page)))
            if len(self._pending) >= max_workers + reorder_depth:
                break

    def __iter__(self) -> Generator[tuple[int, T], None, None]:
        try:
            while self._pending:
                page, future = self._pending.popleft()
                result = _wait_for(future, self._on_idle, self._idle_interval)
                # Refill before yielding: the consumer may take a while with this page.
                next_page = next(self._pages, None)
                if next_page is not None:
                    self._pending.append((next_page, self._executor.submit(self._fetch, next_page)))
                yield page, result
        finally:
            self.close()

    def close(self) -> None:
        """Cancel what has not started, signal ``cancelled`` if pages remain, join the workers."""
        if self._pending or next(self._pages, None) is not None:
            self._stop.set()
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OrderedWindow[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_for(future: Future[T], on_idle: Callable[[], None] | None, interval: float) -> T:
    if on_idle is None:
        return future.result()
    while True:
        try:
            return future.result(timeout=interval)
        except FutureTimeout:
            if future.done():  # the page itself raised a TimeoutError
                raise
            on_idle()
