"""Parquet sink: ``<path>/<stream>.parquet`` holds the latest row per key, replaced atomically.

Each commit streams the committed file through in row groups, drops rows whose key was staged
again, appends the staged rows (last wins) and writes the result to a temporary file in the same
directory, which is fsynced and ``os.replace``-d over the old one. Readers (pyarrow, DuckDB's
``read_parquet``) therefore see the previous commit or the new one, never a torn file, and memory
stays at about one row group plus the staged batch. Updated rows move to the end of the file.
Column types follow :mod:`tap_mixpanel_engage_sink_parquet.columns`.

``activate_version`` (the end of a full sync) is applied by the next commit's rewrite: rows of
older versions are left out, or get ``_sdc_deleted_at``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tap_mixpanel_engage import sinks
from tap_mixpanel_engage_sink_parquet.columns import arrow_type, recast, storage, to_arrow, unify

__all__ = ["ParquetSink", "register_sinks"]

ROW_GROUP_ROWS = 64 * 1024
"""Rows per row group written, and per batch read back when merging."""

_ROW = "\0row"
"""A column name no stream can send (NUL), used to keep row order through a join."""


@sinks.hookimpl
def register_sinks(register: sinks.RegisterSink) -> None:
    """Offer :class:`ParquetSink` under the name ``parquet``."""
    register(ParquetSink)


@dataclass
class _Stream:
    """One stream's target file, latest schema and key, and rows staged since the last commit."""

    file: Path
    schema: Mapping[str, Any]
    key_properties: tuple[str, ...]
    staged: dict[str, sinks.Record] = field(default_factory=dict)
    """Key (JSON text of the key values, or a counter for unkeyed streams) -> latest record."""
    activation: tuple[int, bool] | None = None
    """A staged ``activate_version``: (version, hard_delete)."""


class ParquetSink(sinks.DirectorySink):
    """One typed Parquet file per stream with the latest row per key; see the module docstring."""

    name: ClassVar[str] = "parquet"
    description: ClassVar[str] = "Parquet files, one per stream, latest row per key (path=dir)"

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Check the ``path`` setting (:class:`sinks.DirectorySink`)."""
        super().__init__(config)
        self._streams: dict[str, _Stream] = {}

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        """Remember the (possibly wider) schema; staged rows are converted with it at commit."""
        sinks.check_stream_name(stream)
        keys = tuple(key_properties)
        state = self._streams.get(stream)
        if state is None:
            state = _Stream(self.directory / f"{stream}.parquet", schema, keys)
            self._streams[stream] = state
            return
        state.schema = schema
        if state.key_properties != keys:
            state.key_properties = keys
            records = list(state.staged.values())
            state.staged.clear()
            _stage(state, records)

    def write_batch(self, stream: str, records: Sequence[sinks.Record]) -> None:
        """Stage ``records``; a later record with the same key replaces an earlier one."""
        state = self._streams.get(stream)
        if state is None:
            raise RuntimeError(f"write_batch({stream!r}) before open_stream({stream!r})")
        _stage(state, records)

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
        pending: list[tuple[_Stream, Path]] = []
        try:
            for state in self._streams.values():
                if state.staged or state.activation:
                    pending.append((state, _write_merged(state)))
            while pending:
                state, tmp = pending[0]
                os.replace(tmp, state.file)
                pending.pop(0)
                state.staged.clear()
                state.activation = None
        finally:
            for _, tmp in pending:
                tmp.unlink(missing_ok=True)
        sinks.fsync_directory(self.directory)

    def close(self) -> None:
        """Forget staged rows; committed files are already complete on disk."""
        self._streams.clear()


def _stage(state: _Stream, records: Sequence[sinks.Record]) -> None:
    """Stage records by key (last wins); unkeyed streams keep every record."""
    keys = state.key_properties
    for record in records:
        if keys:
            key = json.dumps([record.get(k) for k in keys], separators=(",", ":"), default=str)
        else:
            key = str(len(state.staged))
        state.staged.pop(key, None)
        state.staged[key] = record


def _write_merged(state: _Stream) -> Path:
    """Write the committed file merged with the staged rows to a synced temp file."""
    old = pq.ParquetFile(state.file) if state.file.exists() else None
    schema = _merged_schema(state, old.schema_arrow if old is not None else None)
    new_rows = _staged_batch(state, schema)
    keep = _Activation(state.activation) if state.activation else None
    fd, name = tempfile.mkstemp(dir=state.file.parent, prefix=f".{state.file.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            with pq.ParquetWriter(out, schema) as writer:
                buffer = _RowGroups(writer)
                if old is not None:
                    for batch in old.iter_batches(batch_size=ROW_GROUP_ROWS):
                        conformed = _conform(batch, schema, state.file.stem)
                        kept = _without_keys(conformed, new_rows, state.key_properties)
                        buffer.add(keep(kept) if keep else kept)
                buffer.add(keep(new_rows) if keep else new_rows)
                buffer.flush()
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if old is not None:
            old.close()
    return tmp


def _merged_schema(state: _Stream, old: pa.Schema | None) -> pa.Schema:
    """Old file's columns first (types widened if needed), then new schema and extra fields."""
    wanted: dict[str, pa.DataType] = {
        name: arrow_type(prop) for name, prop in state.schema.get("properties", {}).items()
    }
    for record in state.staged.values():
        for name in record:
            wanted.setdefault(name, arrow_type({}))
    fields: dict[str, pa.DataType] = {}
    if old is not None:
        for old_field in old:
            new_type = wanted.get(old_field.name)
            fields[old_field.name] = (
                old_field.type if new_type is None else unify(old_field.type, new_type)
            )
    for name, type_ in wanted.items():
        fields.setdefault(name, type_)
    return pa.schema([pa.field(name, type_) for name, type_ in fields.items()])


def _staged_batch(state: _Stream, schema: pa.Schema) -> pa.RecordBatch:
    """The staged records as one batch of ``schema``."""
    records = list(state.staged.values())
    stream = state.file.stem
    columns = [
        to_arrow([r.get(f.name) for r in records], f.type, f"{stream}.{f.name}") for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _conform(batch: pa.RecordBatch, schema: pa.Schema, stream: str) -> pa.RecordBatch:
    """Give a batch from the old file the merged schema: widen types, add missing columns."""
    columns = []
    for f in schema:
        index = batch.schema.get_field_index(f.name)
        if index < 0:
            columns.append(pa.nulls(batch.num_rows, f.type))
        else:
            columns.append(recast(batch.column(index), f.type, f"{stream}.{f.name}"))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _without_keys(
    batch: pa.RecordBatch, staged: pa.RecordBatch, keys: tuple[str, ...]
) -> pa.RecordBatch:
    """Drop the rows of ``batch`` whose key appears in ``staged`` (they are being replaced)."""
    if not keys or batch.num_rows == 0 or staged.num_rows == 0:
        return batch
    if len(keys) == 1:
        (key,) = keys
        replaced = pc.is_in(
            storage(batch.column(key)), value_set=storage(staged.column(key)), skip_nulls=False
        )
        return batch.filter(pc.invert(replaced))
    left = pa.table(
        [*(storage(batch.column(k)) for k in keys), pa.array(range(batch.num_rows))],
        names=[*keys, _ROW],
    )
    right = pa.table([storage(staged.column(k)) for k in keys], names=list(keys))
    kept = left.join(right, keys=list(keys), join_type="left anti").column(_ROW).combine_chunks()
    return batch.take(kept.take(pc.sort_indices(kept)))


class _Activation:
    """Applies a staged ``activate_version`` to each batch written (see the module docstring)."""

    def __init__(self, activation: tuple[int, bool]) -> None:
        self.version, self.hard_delete = activation
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        names = batch.schema.names
        if sinks.VERSION_PROPERTY not in names or sinks.DELETED_AT_PROPERTY not in names:
            raise ValueError(
                f"the schema needs {sinks.VERSION_PROPERTY} and {sinks.DELETED_AT_PROPERTY} "
                "to apply ACTIVATE_VERSION"
            )
        versions = batch.column(sinks.VERSION_PROPERTY)
        older = pc.or_kleene(pc.is_null(versions), pc.less(versions, self.version))
        if self.hard_delete:
            return batch.filter(pc.invert(older))
        index = names.index(sinks.DELETED_AT_PROPERTY)
        deleted = batch.column(index)
        now = pa.scalar(self.now, type=deleted.type)
        marked = pc.if_else(pc.and_(older, pc.is_null(deleted)), now, deleted)
        columns = [marked if n == index else batch.column(n) for n in range(len(names))]
        return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


@dataclass
class _RowGroups:
    """Collects batches and writes them in row groups of about ``ROW_GROUP_ROWS`` rows.

    Without it every commit's small batch would become its own row group, forever.
    """

    writer: pq.ParquetWriter
    pending: list[pa.RecordBatch] = field(default_factory=list)
    rows: int = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Queue ``batch``; write once a full row group is queued."""
        self.pending.append(batch)
        self.rows += batch.num_rows
        if self.rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write everything queued."""
        if self.pending:
            table = pa.Table.from_batches(self.pending)
            self.writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.pending.clear()
        self.rows = 0
