"""``target-mixpanel-duckdb``: reads Singer messages and drives one sink from one writer thread.

Batches: records are buffered per stream and flushed together (one commit) every
``batch_size_rows`` records, before a SCHEMA that changes a stream, and at the end of input.
A STATE is printed after the commit covering every record before it. On bad input the batches
already flushed are committed, the partial batch is dropped, and the target exits non-zero.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pluggy

from tap_mixpanel_engage.plugins import DuplicateSinkError, get_sink_class, installed_sinks
from tap_mixpanel_engage.record_check import RecordChecker, RecordError
from tap_mixpanel_engage.singer_reader import InputError, iter_batch_records, iter_messages
from tap_mixpanel_engage.sink import SinkConfigError
from tap_mixpanel_engage.sink_writer import SinkWriter, StateOutput, WriterError

PROG = "target-mixpanel-duckdb"
METADATA_PROPERTIES: dict[str, Any] = {
    name: {"type": ["null", "string"], "format": "date-time"}
    for name in ("_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at")
}
SETTINGS: tuple[dict[str, Any], ...] = (
    {
        "name": "sink",
        "type": "string",
        "default": "duckdb",
        "description": "Which installed sink writes the data (see --list-sinks).",
    },
    {
        "name": "add_metadata_columns",
        "type": "boolean",
        "default": False,
        "description": "Add _sdc_extracted_at, _sdc_received_at and _sdc_batched_at columns.",
    },
    {
        "name": "batch_size_rows",
        "type": "integer",
        "default": 10_000,
        "description": "Records per commit; a STATE waits for the commit covering it.",
    },
)


@dataclass(frozen=True)
class TargetSettings:
    """The target's own settings; the sink validates the rest of the config itself."""

    sink: str = "duckdb"
    add_metadata_columns: bool = False
    batch_size_rows: int = 10_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TargetSettings:
        """Read and check the settings; :class:`SinkConfigError` names a bad one."""
        sink = config.get("sink", cls.sink)
        if not isinstance(sink, str) or not sink:
            raise SinkConfigError("sink: must be a sink name such as 'duckdb'")
        metadata = config.get("add_metadata_columns", cls.add_metadata_columns)
        if not isinstance(metadata, bool):
            raise SinkConfigError("add_metadata_columns: must be true or false")
        size = config.get("batch_size_rows", cls.batch_size_rows)
        if type(size) is not int or size < 1:
            raise SinkConfigError("batch_size_rows: must be a positive integer")
        return cls(sink, metadata, size)


@dataclass
class _Stream:
    schema: dict[str, Any]
    key_properties: list[str]
    checker: RecordChecker
    buffer: list[dict[str, Any]] = field(default_factory=list)


_NO_STATE = object()


class Loader:
    """Reads messages on the calling thread and hands batches, schemas and states to a writer.

    Only this thread touches the stream buffers; only the writer's thread touches the sink.
    """

    def __init__(self, settings: TargetSettings, writer: SinkWriter) -> None:
        self.settings = settings
        self.writer = writer
        self.streams: dict[str, _Stream] = {}
        self.buffered = 0
        self.pending_state: Any = _NO_STATE

    def run(self, lines: IO[bytes]) -> None:
        """Load every message, then flush what is left (and the last STATE)."""
        last = 0
        for last, message in iter_messages(lines):
            self.handle(last, message)
        self.flush(f"records up to line {last}")

    def handle(self, line: int, message: dict[str, Any]) -> None:
        """Apply one Singer message read from input line ``line``."""
        kind = message.get("type")
        if kind == "RECORD":
            stream = self._stream_for(line, message, "RECORD")
            record = message.get("record")
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
                self.writer.emit_state(message["value"])
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
            pass  # Full-table versioning is not supported: rows are upserted by key instead.
        else:
            raise InputError(f"line {line}: unknown message type {kind!r}")

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
        stream.buffer.append(record)
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
        current = self.streams.get(name)
        if current is not None and current.schema == schema and current.key_properties == keys:
            return
        try:
            checker = RecordChecker(name, schema, keys)
        except RecordError as exc:
            raise InputError(f"line {line}: {exc}") from None
        self.flush(f"records before line {line}")
        self.streams[name] = _Stream(schema, keys, checker)
        self.writer.open_stream(name, schema, keys, f"line {line}: stream {name!r}")

    def flush(self, where: str) -> None:
        """Queue every buffered record as one commit, then the STATE that waited for it."""
        if self.buffered:
            batches = [(n, s.buffer) for n, s in self.streams.items() if s.buffer]
            if self.settings.add_metadata_columns:
                batched_at = _now()
                for _, records in batches:
                    for record in records:
                        record["_sdc_batched_at"] = batched_at
            for stream in self.streams.values():
                stream.buffer = []
            self.buffered = 0
            self.writer.write(batches, where)
        if self.pending_state is not _NO_STATE:
            state, self.pending_state = self.pending_state, _NO_STATE
            self.writer.emit_state(state)


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
        WriterError: the sink failed; batches committed before it stay.
    """
    settings = TargetSettings.from_config(config)
    sink = get_sink_class(settings.sink, pm)(config)
    writer = SinkWriter(sink, state_out)
    writer.start()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # decoded records hold no cycles; collections would rescan every buffered one
    try:
        Loader(settings, writer).run(lines)
    finally:
        writer.finish()
        if gc_was_enabled:
            gc.enable()
    if writer.error is not None:
        raise writer.error


def about(output_format: str) -> str:
    """The settings of the target and of every installed sink, as JSON or Markdown."""
    sinks = installed_sinks()
    info = {
        "name": PROG,
        "description": "Single-writer Singer target with pluggable sinks (default: DuckDB).",
        "capabilities": ["about", "batch"],
        "settings": list(SETTINGS),
        "sinks": {
            name: {
                "description": cls.description,
                "settings": list(getattr(cls, "settings", ())),
            }
            for name, cls in sinks.items()
        },
    }
    if output_format == "json":
        return json.dumps(info, indent=2)
    lines = [f"# `{PROG}`", "", str(info["description"]), "", "## Settings", ""]
    lines += _settings_table(SETTINGS)
    for name, cls in sinks.items():
        lines += ["", f"## Sink `{name}`", "", cls.description, ""]
        lines += _settings_table(getattr(cls, "settings", ()))
    return "\n".join(lines)


def _settings_table(settings: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = ["| Setting | Type | Default | Description |", "|---|---|---|---|"]
    for s in settings:
        default = "" if s.get("default") is None else f"`{json.dumps(s['default'])}`"
        rows.append(f"| `{s['name']}` | {s['type']} | {default} | {s['description']} |")
    return rows


def _read_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError) as exc:
        raise SinkConfigError(f"--config: cannot read {path!r}: {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise SinkConfigError(f"--config: {path!r} must hold a JSON object")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: exit 0, 1 (bad input or load failure), 3 (bad settings), 130 (^C).

    3 for settings, as `tap-mixpanel-engage` and `mixpanel-engage` use it.
    """
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="JSON file with the target and sink settings")
    parser.add_argument("--input", help="read Singer messages from this file, not stdin")
    parser.add_argument("--about", action="store_true", help="describe the settings and exit")
    parser.add_argument("--format", choices=["json", "markdown"], default="json")
    parser.add_argument("--list-sinks", action="store_true", help="list installed sinks")
    args = parser.parse_args(argv)
    try:
        if args.list_sinks:
            for name, cls in installed_sinks().items():
                print(f"{name}\t{cls.description}")
            return 0
        if args.about:
            print(about(args.format))
            return 0
        config = _read_config(args.config)
        if args.input is None:
            load(config, sys.stdin.buffer, sys.stdout.buffer)
        else:
            try:
                lines = open(args.input, "rb")  # noqa: SIM115 - closed below, errors reported
            except OSError as exc:
                raise SinkConfigError(f"--input: cannot read {args.input!r}: {exc}") from None
            with lines:
                load(config, lines, sys.stdout.buffer)
    except (SinkConfigError, DuplicateSinkError) as exc:
        return _fail(str(exc), 3)
    except (InputError, WriterError) as exc:
        return _fail(str(exc), 1)
    except Exception as exc:
        text = " ".join(str(exc).split())
        return _fail(f"unexpected {type(exc).__name__}: {text}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted; batches committed so far are kept", 130)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
