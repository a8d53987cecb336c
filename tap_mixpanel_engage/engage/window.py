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
    consumed, and with ``max_bytes`` also no more than fit in that many bytes (the page being
    consumed included; a page not yet answered counts as the largest seen so far), so memory
    depends little on the page size. An exception from ``fetch`` is raised when its page's turn
    comes. :meth:`close` (also called when iteration ends or is abandoned) sets ``cancelled`` and
    calls ``on_cancel`` if pages remained, so ``fetch`` can abandon retry waits and requests in
    flight, cancels pages not yet started and joins the workers: no thread outlives the window.

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
        on_cancel: called by :meth:`close` before joining the workers when pages remained
            (abort requests in flight).
        weigh: the bytes a result holds; with ``max_bytes``, bounds what the window holds.
        max_bytes: the bytes the window may hold; at least one page is always fetched.
        estimate: what a page not yet answered is assumed to weigh at first.
        holding: bytes the caller holds while the first pages are fetched (a page it got
            before the window started), counted as the page being consumed.
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
        on_cancel: Callable[[], None] | None = None,
        weigh: Callable[[T], int] | None = None,
        max_bytes: int | None = None,
        estimate: int = 0,
        holding: int = 0,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if reorder_depth < 0:
            raise ValueError(f"reorder_depth must not be negative, got {reorder_depth}")
        self._fetch = fetch
        self._stop = cancelled if cancelled is not None else threading.Event()
        self._on_idle = on_idle
        self._idle_interval = idle_interval
        self._on_cancel = on_cancel
        self._weigh = weigh
        self._max_bytes = max_bytes if weigh is not None else None
        self._estimate = estimate
        self._depth = max_workers + reorder_depth
        self._pages = iter(pages)
        self._more = True
        self._pending: deque[tuple[int, Future[T]]] = deque()
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix)
        self._refill(holding)

    def __iter__(self) -> Generator[tuple[int, T], None, None]:
        try:
            while self._pending:
                page, future = self._pending.popleft()
                result = _wait_for(future, self._on_idle, self._idle_interval)
                # Refill before yielding: the consumer may take a while with this page.
                self._refill(self._weight(result))
                yield page, result
        finally:
            self.close()

    def _weight(self, result: T) -> int:
        if self._weigh is None:
            return 0
        weight = self._weigh(result)
        self._estimate = max(self._estimate, weight)
        return weight

    def _held(self) -> int:
        """Bytes the pages submitted and not consumed hold, or are expected to."""
        held = 0
        for _, future in self._pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                held += self._weight(future.result())
            else:
                held += self._estimate
        return held

    def _refill(self, consuming: int) -> None:
        """Submit pages while the window has room; ``consuming`` bytes are in the caller's hands."""
        while self._more and len(self._pending) < self._depth:
            limit = self._max_bytes
            if (
                limit is not None
                and self._pending
                and consuming + self._held() > limit - self._estimate
            ):
                return
            page = next(self._pages, None)
            if page is None:
                self._more = False
                return
            self._pending.append((page, self._executor.submit(self._fetch, page)))

    def close(self) -> None:
        """Cancel what has not started, signal ``cancelled`` if pages remain, join the workers."""
        if self._pending or (self._more and next(self._pages, None) is not None):
            self._stop.set()
            if self._on_cancel is not None:
                self._on_cancel()
        self._more = False
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
            if future.done():  # it finished as the wait timed out, or raised a TimeoutError
                return future.result()
            on_idle()


def in_background(call: Callable[[], T], name: str) -> Future[T]:
    """Run ``call`` on a daemon thread; its result or exception waits in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the consumer, raised on its thread
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
