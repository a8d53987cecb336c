"""The one sink driver: order of sink calls, states after commits, failures, activations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tap_mixpanel_engage.sinks.contract import Record, Sink
from tap_mixpanel_engage.sinks.driver import Activation, SinkDriver, SinkError


class Recording(Sink):
    """Records every call with the thread it ran on; optionally fails or blocks."""

    name = "recording"
    versions = True

    def __init__(self) -> None:
        super().__init__({})
        self.calls: list[tuple[Any, ...]] = []
        self.threads: set[str] = set()
        self.fail_on_write: int | None = None
        self.gate: threading.Event | None = None

    def _call(self, *call: Any) -> None:
        self.threads.add(threading.current_thread().name)
        self.calls.append(call)

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        self._call("open", stream, tuple(key_properties))

    def write_batch(self, stream: str, records: Sequence[Record]) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        writes = sum(1 for c in self.calls if c[0] == "write")
        if self.fail_on_write == writes:
            raise RuntimeError("disk full")
        self._call("write", stream, [r["id"] for r in records])

    def commit(self) -> None:
        self._call("commit")

    def activate_version(self, stream: str, version: int, *, hard_delete: bool) -> None:
        if not self.versions:
            super().activate_version(stream, version, hard_delete=hard_delete)
        self._call("activate", stream, version, hard_delete)

    def close(self) -> None:
        self._call("close")


def rows(*ids: int) -> list[dict[str, Any]]:
    return [{"id": i} for i in ids]


def test_calls_run_in_order_on_one_writer_thread_and_states_follow_their_commit() -> None:
    sink = Recording()
    states: list[Any] = []
    driver = SinkDriver(sink, lambda s: states.append((s, list(sink.calls))), max_pending=2)
    driver.open_stream("s", {"properties": {}}, ["id"], "schema")
    driver.submit([("s", rows(1, 2))], {"n": 2}, "batch 1")
    driver.submit([], {"n": 2.5}, "STATE")
    driver.submit([("s", rows(3))], {"n": 3}, "batch 2")
    driver.drain()
    driver.close()
    assert sink.calls == [
        ("open", "s", ("id",)),
        ("write", "s", [1, 2]),
        ("commit",),
        ("write", "s", [3]),
        ("commit",),
        ("close",),
    ]
    assert [s for s, _ in states] == [{"n": 2}, {"n": 2.5}, {"n": 3}]
    assert states[0][1][-1] == ("commit",)  # on_commit ran after the commit it covers
    assert sink.threads == {"sink-writer_0"}
    assert driver.written == 3


def test_a_failed_batch_skips_everything_after_it_and_names_where() -> None:
    sink = Recording()
    sink.fail_on_write = 1
    states: list[Any] = []
    driver = SinkDriver(sink, states.append, max_pending=3)
    driver.submit([("s", rows(1))], "one", "batch 1")
    driver.submit([("s", rows(2))], "two", "records up to line 6")
    driver.submit([("s", rows(3))], "three", "batch 3")
    with pytest.raises(SinkError) as caught:
        driver.drain()
    assert str(caught.value) == "records up to line 6: RuntimeError: disk full"
    assert isinstance(caught.value.__cause__, RuntimeError)
    with pytest.raises(SinkError):
        driver.submit([("s", rows(4))], "four")  # the first failure, again
    driver.close()
    assert sink.calls == [("write", "s", [1]), ("commit",), ("close",)]
    assert states == ["one"]


def test_submit_waits_when_max_pending_operations_are_queued() -> None:
    sink = Recording()
    sink.gate = threading.Event()
    driver = SinkDriver(sink, None, max_pending=2)
    driver.submit([("s", rows(1))])
    driver.submit([("s", rows(2))])
    third = threading.Thread(target=driver.submit, args=([("s", rows(3))],))
    third.start()
    third.join(0.2)
    assert third.is_alive()  # blocked behind the two pending batches
    sink.gate.set()
    third.join(10)
    driver.drain()
    driver.close()
    assert [c[2] for c in sink.calls if c[0] == "write"] == [[1], [2], [3]]


def test_activations_land_between_the_last_batch_and_its_commit() -> None:
    sink = Recording()
    driver = SinkDriver(sink)
    driver.submit([("s", rows(1))], activations=[Activation("s", 7, True)])
    driver.submit([], activations=[Activation("t", 8, False)])
    driver.drain()
    driver.close()
    assert sink.calls == [
        ("write", "s", [1]),
        ("activate", "s", 7, True),
        ("commit",),
        ("activate", "t", 8, False),
        ("commit",),
        ("close",),
    ]


def test_a_sink_without_versions_keeps_its_rows_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Recording()
    sink.versions = False
    driver = SinkDriver(sink)
    with caplog.at_level(logging.WARNING):
        driver.submit([("s", rows(1))], activations=[Activation("s", 7, True)])
        driver.submit([("s", rows(2))], activations=[Activation("s", 8, True)])
        driver.drain()
    driver.close()
    assert caplog.text.count("does not apply ACTIVATE_VERSION") == 1
    assert [c[0] for c in sink.calls] == ["write", "commit", "write", "commit", "close"]


def test_a_batch_whose_wait_is_interrupted_still_commits_and_reports_its_state() -> None:
    """Ctrl-C while submit() waits for the previous commit: settle() still waits for that
    commit, so its state reaches on_commit (the state file is never behind the data)."""
    sink = Recording()
    sink.gate = threading.Event()
    states: list[Any] = []
    driver = SinkDriver(sink, states.append, max_pending=1)
    driver.submit([("s", rows(1))], "one")
    waiting = driver._pending[0]

    class InterruptedWait:
        def done(self) -> bool:
            return waiting.done()

        def result(self) -> int:
            raise KeyboardInterrupt  # as if Ctrl-C arrived while waiting

    driver._pending[0] = InterruptedWait()  # type: ignore[assignment]  # a wait that is cut
    with pytest.raises(KeyboardInterrupt):
        driver.submit([("s", rows(2))], "two")
    assert len(driver._pending) == 1  # the interrupted operation is still pending
    driver._pending[0] = waiting
    sink.gate.set()
    driver.settle()
    assert states == ["one"]
    driver.close()
    assert [c[0] for c in sink.calls] == ["write", "commit", "close"]
