"""JSON Lines sink: ``<path>/<stream>.jsonl`` holds the latest row per key, replaced atomically.

Each commit rewrites the stream's file into a temporary file in the same directory, fsyncs it
and ``os.replace``-s it over the old one, so readers see either the previous commit or the new
one, never a torn file. The rewrite copies unchanged lines as raw bytes (no JSON parsing) using an
in-memory index of key -> line number; an updated row keeps its line, new keys are appended.
Memory therefore grows with the number of keys and the staged batch, never with the file.

``activate_version`` (the end of a full sync) is applied by the next commit's rewrite: lines of
older versions are dropped, or get ``_sdc_deleted_at``; only then are lines parsed, and the index
is rebuilt from the new file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

from tap_mixpanel_engage import sinks

__all__ = ["JsonlSink", "register_sinks"]

Key = str
"""The key values as compact JSON text: hashable, and equal exactly when the values are."""


@sinks.hookimpl
def register_sinks(register: sinks.RegisterSink) -> None:
    """Offer :class:`JsonlSink` under the name ``jsonl``."""
    register(JsonlSink)


@dataclass
class _Stream:
    """What the sink knows about one stream's committed file and its staged rows."""

    file: Path
    key_properties: tuple[str, ...]
    line_of: dict[Key, int] = field(default_factory=dict)
    """Committed file: key -> 0-based line number. Lines never move, so this stays valid."""
    line_count: int = 0
    staged: dict[Key, str] = field(default_factory=dict)
    """Keyed streams: key -> serialised row; a later record with the same key replaces it."""
    staged_unkeyed: list[str] = field(default_factory=list)
    """Streams without key properties: every record is a new row."""
    activation: tuple[int, bool] | None = None
    """A staged ``activate_version``: (version, hard_delete)."""

    @property
    def has_staged(self) -> bool:
        """True when a commit has something to write for this stream."""
        return bool(self.staged or self.staged_unkeyed or self.activation)


class JsonlSink(sinks.DirectorySink):
    """One JSON Lines file per stream with the latest row per key; see the module docstring."""

    name: ClassVar[str] = "jsonl"
    description: ClassVar[str] = "JSON Lines files, one per stream, latest row per key (path=dir)"

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Check the ``path`` setting (:class:`sinks.DirectorySink`)."""
        super().__init__(config)
        self._streams: dict[str, _Stream] = {}

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        """Index the stream's committed file (first time, or when the key changes)."""
        sinks.check_stream_name(stream)
        keys = tuple(key_properties)
        state = self._streams.get(stream)
        if state is not None and state.key_properties == keys:
            return
        new = _Stream(file=self.directory / f"{stream}.jsonl", key_properties=keys)
        new.line_count, new.line_of = _index_file(new.file, keys)
        if state is not None:
            # The key changed mid-run: re-key what is staged so last-wins uses the new key.
            for line in [*state.staged.values(), *state.staged_unkeyed]:
                _stage(new, json.loads(line), line)
        self._streams[stream] = new

    def write_batch(self, stream: str, records: Sequence[sinks.Record]) -> None:
        """Serialise ``records`` now (so a bad value fails here) and stage them by key."""
        state = self._streams.get(stream)
        if state is None:
            raise RuntimeError(f"write_batch({stream!r}) before open_stream({stream!r})")
        for record in records:
            _stage(state, record, _dumps(record))

    def activate_version(self, stream: str, version: int, *, hard_delete: bool) -> None:
        """Stage the end of rows older than ``version``; the next commit applies it."""
        state = self._streams.get(stream)
        if state is None:
            raise RuntimeError(f"activate_version({stream!r}) before open_stream({stream!r})")
        state.activation = (version, hard_delete)

    def commit(self) -> None:
        """Write every changed stream to a synced temp file, then move them all into place.

        Each file is replaced atomically; with several streams, a crash between two renames can
        leave the earlier streams committed and the later ones at their previous commit. On an
        error, temp files not yet moved are removed and the staged rows are kept.
        """
        pending: list[tuple[_Stream, Path, dict[Key, int], int]] = []
        try:
            for state in self._streams.values():
                if state.has_staged:
                    pending.append((state, *_write_merged(state)))
            while pending:
                state, tmp, appended, line_count = pending[0]
                os.replace(tmp, state.file)
                pending.pop(0)
                if state.activation is None:
                    state.line_of.update(appended)
                    state.line_count = line_count
                else:  # lines were dropped: index the new file
                    state.line_count, state.line_of = _index_file(state.file, state.key_properties)
                state.staged.clear()
                state.staged_unkeyed.clear()
                state.activation = None
        finally:
            for _, tmp, _, _ in pending:
                tmp.unlink(missing_ok=True)
        sinks.fsync_directory(self.directory)

    def close(self) -> None:
        """Forget staged rows; committed files are already complete on disk."""
        self._streams.clear()


def _dumps(record: sinks.Record) -> str:
    """Compact JSON with unicode kept as is; NaN/Infinity are refused (not valid JSON)."""
    return json.dumps(dict(record), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _key(record: sinks.Record, key_properties: tuple[str, ...]) -> Key:
    """The record's key as JSON text; a missing key property counts as null."""
    return json.dumps([record.get(k) for k in key_properties], separators=(",", ":"))


def _stage(state: _Stream, record: sinks.Record, line: str) -> None:
    """Stage one serialised row, replacing an earlier staged row with the same key."""
    if state.key_properties:
        state.staged[_key(record, state.key_properties)] = line
    else:
        state.staged_unkeyed.append(line)


def _index_file(file: Path, keys: tuple[str, ...]) -> tuple[int, dict[Key, int]]:
    """Count the committed file's lines and map each key to its (last) line."""
    line_of: dict[Key, int] = {}
    count = 0
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        return 0, line_of
    with handle:
        for count, raw in enumerate(handle, start=1):
            if keys:
                line_of[_key(json.loads(raw), keys)] = count - 1
    return count, line_of


def _write_merged(state: _Stream) -> tuple[Path, dict[Key, int], int]:
    """Write the committed file merged with the staged rows to a synced temp file.

    Returns:
        The temp file, the index entries for newly appended keys, and the new line count.
    """
    replaced = {state.line_of[k]: k for k in state.staged if k in state.line_of}
    fd, name = tempfile.mkstemp(dir=state.file.parent, prefix=f".{state.file.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_replacing(state, replaced, out)
            appended: dict[Key, int] = {}
            count = state.line_count
            for key, line in state.staged.items():
                if key not in state.line_of:
                    out.write(line.encode() + b"\n")
                    appended[key] = count
                    count += 1
            for line in state.staged_unkeyed:
                out.write(line.encode() + b"\n")
                count += 1
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if state.activation is not None:
        tmp = _rewrite_activated(tmp, *state.activation)
    return tmp, appended, count


def _rewrite_activated(merged: Path, version: int, hard_delete: bool) -> Path:
    """A synced temp file holding ``merged`` with the activation applied; ``merged`` is removed."""
    fd, name = tempfile.mkstemp(dir=merged.parent, prefix=f".{merged.name}.", suffix=".tmp")
    activated = Path(name)
    try:
        with merged.open("rb") as lines, os.fdopen(fd, "wb") as out:
            _activated(lines, out, version, hard_delete)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        activated.unlink(missing_ok=True)
        raise
    finally:
        merged.unlink(missing_ok=True)
    return activated


def _copy_replacing(state: _Stream, replaced: dict[int, Key], out: IO[bytes]) -> None:
    """Copy the committed file line by line, swapping in staged rows for replaced keys."""
    if state.line_count == 0:
        return
    with state.file.open("rb") as src:
        for number, raw in enumerate(src):
            key = replaced.get(number)
            if key is not None:
                out.write(state.staged[key].encode() + b"\n")
            else:
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")


def _activated(lines: IO[bytes], out: IO[bytes], version: int, hard_delete: bool) -> None:
    """Copy JSON lines, dropping (or marking) those whose version is null or below ``version``."""
    deleted_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for raw in lines:
        row = json.loads(raw)
        row_version = row.get(sinks.VERSION_PROPERTY)
        if type(row_version) is int and row_version >= version:
            out.write(raw)
        elif not hard_delete:
            if row.get(sinks.DELETED_AT_PROPERTY) is None:
                row[sinks.DELETED_AT_PROPERTY] = deleted_at
            out.write(_dumps(row).encode() + b"\n")
