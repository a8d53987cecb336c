"""The target's loading loop: Singer messages in, batches to one sink through the sink driver.

Batches: records are buffered per stream and flushed together (one commit) every
``batch_size_rows`` records, before a SCHEMA that changes a stream, and at the end of input.
A STATE is printed after the commit covering every record before it. On bad input the batches
already flushed are committed, the partial batch is dropped, and the target exits non-zero.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import msgspec
import pluggy

from tap_mixpanel_engage.sinks.contract import (
    VERSION_PROPERTY,
    with_version_properties,
)
from tap_mixpanel_engage.sinks.driver import NO_STATE, Activation, SinkDriver, SinkError
from tap_mixpanel_engage.sinks.registry import get_sink_class
from tap_mixpanel_engage.target.checks import RecordChecker, RecordError
from tap_mixpanel_engage.target.intake import END, TIMEOUT, GracefulStop, Intake, Interrupted
from tap_mixpanel_engage.target.reader import InputError, MessageDecoder, iter_batch_records
from tap_mixpanel_engage.target.settings import METADATA_PROPERTIES, TargetSettings
from tap_mixpanel_engage.target.typed import TypedRecord, TypedRecords
from tap_mixpanel_engage.target.versions import activation, record_version

QUIET_INPUT_SECONDS = 0.05
"""Records held commit once the input has been quiet this long: a paced export's pages then
commit as they come, while a fast one, whose input never pauses, still fills its batches."""


@dataclass
class _Stream:
    schema: dict[str, Any]
    key_properties: list[str]
    checker: RecordChecker
    buffer: list[dict[str, Any]] = field(default_factory=list)


class StateOutput(Protocol):
    """Where STATE lines go (stdout's binary buffer)."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> object: ...


class Loader:
    """Reads messages on the calling thread and hands batches, schemas and states to the driver.

    Only this thread touches the stream buffers; only the driver's writer thread touches the sink.
    """

    def __init__(
        self, settings: TargetSettings, driver: SinkDriver, *, raw_json: bool = False
    ) -> None:
        self.settings = settings
        self.driver = driver
        self.typed = TypedRecords(raw_json=raw_json)
        """RECORD lines of the usual shape, decoded and checked in one call (see its module)."""
        self.streams: dict[str, _Stream] = {}
        self.buffered = 0
        self.pending_state: Any = NO_STATE
        self._oldest = 0.0
        """When the oldest record held arrived (``time.monotonic``)."""

    def run(self, lines: IO[bytes], stop: GracefulStop | None = None) -> None:
        """Load every message, then flush what is left (and the last STATE).

        Records held for ``batch_wait_limit_seconds`` are committed even while input is slow.

        Raises:
            Interrupted: ``stop`` caught a signal; what was received is committed first.
        """
        decoder, number, intake = MessageDecoder(), 0, Intake(lines)
        while True:
            chunk = intake.next(self._wait(stop))
            if chunk is END or (stop is not None and stop.remaining() == 0):
                break
            if chunk is TIMEOUT and self.buffered:
                self.flush(f"records up to line {number} (the input paused)")
            if isinstance(chunk, list):
                typed = self.typed.decode
                for line in chunk:
                    number += 1
                    record = typed(line)
                    if record is not None:
                        self._typed(number, record)
                    elif line.strip():
                        self.handle(number, decoder.message(line, number))
            if self.buffered and self._wait(None) == 0:
                self.flush(f"records up to line {number} (held for the wait limit)")
        self.flush(f"records up to line {number}")
        if stop is not None and stop.signum is not None:
            raise Interrupted(stop.signum)

    def _wait(self, stop: GracefulStop | None) -> float | None:
        """How long the next read may wait: until the oldest record is due, or a signal's grace."""
        due = None
        if self.buffered:
            limit = self.settings.batch_wait_limit_seconds
            due = min(max(self._oldest + limit - time.monotonic(), 0.0), QUIET_INPUT_SECONDS)
        grace = stop.remaining() if stop is not None else None
        if grace is None:
            return 0.5 if stop is not None and due is None else due
        return grace if due is None else min(due, grace)

    def handle(self, line: int, message: dict[str, Any]) -> None:
        """Apply one Singer message read from input line ``line``."""
        kind = message.get("type")
        if kind == "RECORD":
            stream = self._stream_for(line, message, "RECORD")
            record = message.get("record")
            version = record_version(message, line)
            if version is not None and type(record) is dict:
                # Without a version the column stays null: a missing key loads as null, and
                # leaving it out spares every incremental record the bytes (measured: ~12%
                # of the DuckDB sink's time for 100k profiles).
                record[VERSION_PROPERTY] = version
            if self.settings.add_metadata_columns and type(record) is dict:
                record["_sdc_extracted_at"] = message.get("time_extracted")
                record["_sdc_received_at"] = _now()
            self._add(stream, message["stream"], record, f"line {line}")
        elif kind == "STATE":
            if "value" not in message:
                raise InputError(f"line {line}: STATE without 'value'")
            if self.buffered:
                self.pending_state = message["value"]
            else:
                self.driver.submit([], message["value"], "STATE")
        elif kind == "SCHEMA":
            self._schema(line, message)
        elif kind == "BATCH":
            stream = self._stream_for(line, message, "BATCH")
            for where, record in iter_batch_records(message, f"line {line}"):
                if self.settings.add_metadata_columns and type(record) is dict:
                    record["_sdc_extracted_at"] = None
                    record["_sdc_received_at"] = _now()
                self._add(stream, message["stream"], record, where)
        elif kind == "ACTIVATE_VERSION":
            wanted = activation(message, line, hard_delete=self.settings.hard_delete)
            self._stream_for(line, message, "ACTIVATE_VERSION")
            self.flush(f"records up to line {line}", (wanted,))
        else:
            raise InputError(f"line {line}: unknown message type {kind!r}")

    def _typed(self, line: int, typed: TypedRecord) -> None:
        """A RECORD that :class:`TypedRecords` decoded and checked: as :meth:`handle` does."""
        stream, record, version, time_extracted = typed
        if version is not None:
            record[VERSION_PROPERTY] = version
        if self.settings.add_metadata_columns:
            record["_sdc_extracted_at"] = time_extracted
            record["_sdc_received_at"] = _now()
        self._buffer(self.streams[stream], record, f"line {line}")

    def _stream_for(self, line: int, message: Mapping[str, Any], kind: str) -> _Stream:
        name = message.get("stream")
        stream = self.streams.get(name) if isinstance(name, str) else None
        if stream is None:
            raise InputError(f"line {line}: {kind} for stream {name!r} before its SCHEMA")
        return stream

    def _add(self, stream: _Stream, name: str, record: Any, where: str) -> None:
        try:
            stream.checker.check(record)
        except RecordError as exc:
            raise InputError(f"{where}: stream {name!r}: {exc}") from None
        self._buffer(stream, record, where)

    def _buffer(self, stream: _Stream, record: Any, where: str) -> None:
        stream.buffer.append(record)
        if not self.buffered:
            self._oldest = time.monotonic()
        self.buffered += 1
        if self.buffered >= self.settings.batch_size_rows:
            self.flush(f"records up to {where}")

    def _schema(self, line: int, message: Mapping[str, Any]) -> None:
        name, schema = message.get("stream"), message.get("schema")
        keys = message.get("key_properties") or []
        if not isinstance(name, str) or not isinstance(schema, dict):
            raise InputError(f"line {line}: SCHEMA needs a 'stream' string and a 'schema' object")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise InputError(f"line {line}: SCHEMA 'key_properties' must be a list of names")
        if self.settings.add_metadata_columns and isinstance(schema.get("properties"), dict):
            schema = {**schema, "properties": {**schema["properties"], **METADATA_PROPERTIES}}
        schema = with_version_properties(schema)
        current = self.streams.get(name)
        if current is not None and current.schema == schema and current.key_properties == keys:
            return
        try:
            checker = RecordChecker(name, schema, keys)
        except RecordError as exc:
            raise InputError(f"line {line}: {exc}") from None
        self.flush(f"records before line {line}")
        self.streams[name] = _Stream(schema, keys, checker)
        self.typed.add(name, message["schema"], keys)
        self.driver.open_stream(name, schema, keys, f"line {line}: stream {name!r}")

    def flush(self, where: str, activations: tuple[Activation, ...] = ()) -> None:
        """Queue every buffered record as one commit (with ``activations`` applied before it),
        followed by the STATE that waited for it."""
        if not self.buffered and self.pending_state is NO_STATE and not activations:
            return
        batches = [(n, s.buffer) for n, s in self.streams.items() if s.buffer]
        if self.settings.add_metadata_columns:
            batched_at = _now()
            for _, records in batches:
                for record in records:
                    record["_sdc_batched_at"] = batched_at
        for stream in self.streams.values():
            stream.buffer = []
        self.buffered = 0
        state, self.pending_state = self.pending_state, NO_STATE
        where = where if batches or activations else "STATE"
        self.driver.submit(batches, state, where, activations)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def load(
    config: Mapping[str, Any],
    lines: IO[bytes],
    state_out: StateOutput,
    pm: pluggy.PluginManager | None = None,
) -> None:
    """Load Singer ``lines`` with the configured sink, printing STATE values to ``state_out``.

    ``pm`` picks the sink from another plugin manager (tests); by default a fresh one.

    Raises:
        SinkConfigError: a setting is invalid (the message names it).
        InputError: bad input; batches before it are committed.
        SinkError: the sink failed; batches committed before it stay.
    """
    settings = TargetSettings.from_config(config)
    sink = get_sink_class(settings.sink, pm)(config)
    encode = msgspec.json.Encoder().encode

    def print_state(state: Any) -> None:
        state_out.write(encode(state) + b"\n")
        state_out.flush()

    # Two operations queued behind the one running: the reader stays a batch ahead.
    driver = SinkDriver(sink, print_state, max_pending=3)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # decoded records hold no cycles; collections would rescan every buffered one
    try:
        with GracefulStop() as stop:
            Loader(settings, driver, raw_json=sink.accepts_raw_json).run(lines, stop)
        driver.drain()
    except BaseException:
        driver.settle()  # batches read before the failure still commit
        with contextlib.suppress(SinkError):
            driver.close()  # the first failure is the one reported
        raise
    else:
        driver.close()
    finally:
        if gc_was_enabled:
            gc.enable()
