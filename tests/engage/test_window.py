"""The ordered window: order, bounds, prompt cancellation, no threads left behind."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from tap_mixpanel_engage.engage.window import OrderedWindow, _wait_for


def _engage_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("test-window")]


def test_pages_leave_in_order_when_they_finish_out_of_order() -> None:
    # Page k waits for page k+1 to finish first (except the last of each group of three), so
    # completion order differs from page order.
    done = {p: threading.Event() for p in range(9)}

    def fetch(page: int) -> int:
        if page % 3 != 2:
            assert done[page + 1].wait(5)
        done[page].set()
        return page * 10

    out = list(OrderedWindow(fetch, range(9), max_workers=3, thread_name_prefix="test-window"))
    assert out == [(p, p * 10) for p in range(9)]
    assert _engage_threads() == []


def test_never_more_than_max_workers_in_flight_and_window_is_bounded() -> None:
    lock = threading.Lock()
    running = peak = started = 0
    consumed = 0
    max_ahead = 0

    def fetch(page: int) -> int:
        nonlocal running, peak, started, max_ahead
        with lock:
            running += 1
            started += 1
            peak = max(peak, running)
            max_ahead = max(max_ahead, started - consumed)
        time.sleep(0.002)
        with lock:
            running -= 1
        return page

    for page, _ in OrderedWindow(
        fetch, range(60), max_workers=4, reorder_depth=2, thread_name_prefix="test-window"
    ):
        with lock:
            consumed = page + 1
    assert peak <= 4
    # started-but-not-consumed never exceeds max_workers + reorder_depth
    assert max_ahead <= 6


def test_a_free_worker_starts_the_next_page_while_the_consumer_is_busy() -> None:
    started: list[int] = []
    lock = threading.Lock()
    all_started = threading.Event()

    def fetch(page: int) -> int:
        with lock:
            started.append(page)
            if len(started) == 4:
                all_started.set()
        return page

    window = OrderedWindow(
        fetch, range(10), max_workers=2, reorder_depth=2, thread_name_prefix="test-window"
    )
    pages = iter(window)
    assert next(pages) == (0, 0)
    # The consumer holds page 0 and does nothing; the workers still fetch ahead up to the bound.
    assert all_started.wait(5)
    with lock:
        assert sorted(started)[:4] == [0, 1, 2, 3]
    window.close()
    assert _engage_threads() == []


def test_closing_early_cancels_pending_pages_and_joins_workers() -> None:
    release = threading.Event()
    calls: list[int] = []

    def fetch(page: int) -> int:
        calls.append(page)
        if page > 0:
            release.wait(5)
        return page

    cancelled = threading.Event()
    window = OrderedWindow(
        fetch, range(1000), max_workers=3, cancelled=cancelled, thread_name_prefix="test-window"
    )
    pages = iter(window)
    assert next(pages) == (0, 0)
    release.set()
    window.close()
    assert cancelled.is_set()
    assert len(calls) <= 3 + 3 + 1
    assert _engage_threads() == []


def test_an_error_surfaces_at_its_page_after_the_earlier_pages() -> None:
    def fetch(page: int) -> int:
        if page == 4:
            raise RuntimeError("page 4 failed")
        return page

    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 4 failed"):
        for page, _ in OrderedWindow(fetch, range(10), max_workers=3, thread_name_prefix="t"):
            got.append(page)
    assert got == [0, 1, 2, 3]


def test_idle_callback_runs_on_the_consumer_while_a_page_is_slow() -> None:
    release = threading.Event()
    idle_threads: list[str] = []

    def on_idle() -> None:
        idle_threads.append(threading.current_thread().name)
        release.set()

    def fetch(page: int) -> int:
        assert release.wait(5)
        return page

    out = list(OrderedWindow(fetch, range(2), max_workers=1, on_idle=on_idle, idle_interval=0.01))
    assert out == [(0, 0), (1, 1)]
    assert idle_threads and set(idle_threads) == {threading.current_thread().name}


def test_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        list(OrderedWindow(lambda p: p, range(3), max_workers=0))


class _FinishesAsTheWaitTimesOut(Future[str]):
    """A page whose answer lands just as the heartbeat's wait times out."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def result(self, timeout: float | None = None) -> str:
        self.waits += 1
        if self.waits == 1:
            self.set_result("page")  # done now, but this wait still reports a timeout
            raise FutureTimeout
        return super().result(timeout)


def test_a_page_that_finishes_as_the_heartbeat_times_out_is_not_a_failure() -> None:
    beats: list[int] = []
    future = _FinishesAsTheWaitTimesOut()
    assert _wait_for(future, lambda: beats.append(1), 5.0) == "page"
    assert beats == []  # it was done: no heartbeat, no error


def test_a_page_that_raises_a_timeout_of_its_own_still_fails() -> None:
    future: Future[str] = Future()
    future.set_exception(TimeoutError("read timed out"))
    with pytest.raises(TimeoutError, match="read timed out"):
        _wait_for(future, lambda: None, 0.01)


def test_the_window_holds_no_more_bytes_than_allowed_but_always_one_page() -> None:
    gate = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def fetch(page: int) -> bytes:
        with lock:
            started.append(page)
        gate.wait(10)
        return b"x" * 100

    window = OrderedWindow(fetch, range(20), max_workers=5, weigh=len, max_bytes=250, estimate=100)
    with window:
        time.sleep(0.05)
        assert len(started) <= 2  # 2 x 100 bytes fit in 250 with one more expected
        gate.set()
        assert [page for page, _ in window] == list(range(20))

    tiny = OrderedWindow(lambda p: b"x" * 1000, range(3), max_workers=5, weigh=len, max_bytes=1)
    with tiny:
        assert [page for page, _ in tiny] == [0, 1, 2]  # one page at a time, never none
