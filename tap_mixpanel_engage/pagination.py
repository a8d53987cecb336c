"""The bounded, in-order page window: fetch pages concurrently, hand them out in page order.

Pure threading: no SDK, no HTTP, so it can be tested with plain functions. The shape follows
CPython 3.14's ``Executor.map(buffersize=)``: a bounded deque of futures, results taken in input
order, leftovers cancelled in ``finally``. One difference matters for throughput: the deque holds
``max_workers + reorder_depth`` futures, so a worker that finishes a page starts the next one at
once while the consumer is still busy with an earlier page. The API always has ``max_workers``
queries running until the end, and memory is bounded by the deque, not by the number of pages.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")

DEFAULT_REORDER_DEPTH = 3
"""Finished pages a window may hold beyond the ones in flight, waiting for an earlier page."""


def ordered_window(
    fetch: Callable[[int], T],
    pages: Iterable[int],
    *,
    max_workers: int,
    reorder_depth: int = DEFAULT_REORDER_DEPTH,
    cancelled: threading.Event | None = None,
    thread_name_prefix: str = "engage-page",
    on_idle: Callable[[], None] | None = None,
    idle_interval: float = 5.0,
) -> Generator[tuple[int, T], None, None]:
    """Yield ``(page, fetch(page))`` in the order of ``pages``, with up to ``max_workers`` running.

    At most ``max_workers + reorder_depth`` pages are submitted and not yet consumed. An exception
    from ``fetch`` is raised when its page's turn comes. Closing the iterator (or an exception)
    sets ``cancelled`` (so ``fetch`` can abandon retry waits), cancels pages not yet started and
    joins the workers: no thread outlives the iterator.

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
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers}")
    if reorder_depth < 0:
        raise ValueError(f"reorder_depth must not be negative, got {reorder_depth}")
    stop = cancelled if cancelled is not None else threading.Event()
    bound = max_workers + reorder_depth
    page_iter = iter(pages)
    pending: deque[tuple[int, Future[T]]] = deque()
    executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
    finished = False
    try:
        for page in page_iter:
            pending.append((page, executor.submit(fetch, page)))
            if len(pending) >= bound:
                break
        while pending:
            page, future = pending.popleft()
            result = _wait_for(future, on_idle, idle_interval)
            # Refill before yielding: the consumer may take a while with this page.
            next_page = next(page_iter, None)
            if next_page is not None:
                pending.append((next_page, executor.submit(fetch, next_page)))
            yield page, result
        finished = True
    finally:
        if not finished:
            stop.set()
        for _, future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


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
