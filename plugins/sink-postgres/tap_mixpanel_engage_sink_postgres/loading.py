"""One batch into one table: convert, keep the last record per key, binary COPY, upsert.

The batch is copied into a temporary table (dropped at commit), then moved with one
``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``: atomic against other writers of the same
table, where an anti-join followed by an UPDATE lets two writers insert the same new key. Rows
are inserted in key order, so two writers upserting overlapping keys lock them in one order and
cannot deadlock. ON CONFLICT refuses a statement that touches one key twice, hence the dedup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from tap_mixpanel_engage import sinks
from tap_mixpanel_engage_sink_postgres.columns import (
    BIGINT,
    COPY_TYPES,
    KNOWN_TYPES,
    Column,
    ConversionError,
    column_values,
)

_COPY_LINE = re.compile(r"COPY \S+, line (\d+)")


class UnstorableRecord(ValueError):
    """A record holds a value its column cannot store; the message names record and column."""


@dataclass
class Table:
    """How one stream's batches are loaded: its columns and the statements for them."""

    stream: str
    ident: sql.Composed
    columns: list[Column]
    """The columns of the stream's current schema, in schema order."""
    keys: tuple[int, ...]
    """Positions of the key columns in :attr:`columns`."""

    @property
    def copy_types(self) -> list[str]:
        """What binary COPY is told per column: unknown types are staged as text."""
        return [COPY_TYPES.get(c.type, "text") for c in self.columns]

    def stage_sql(self, stage: str) -> sql.Composed:
        """``CREATE TEMP TABLE`` for one batch, dropped when the transaction ends."""
        parts = [
            sql.SQL("{} {}").format(sql.Identifier(f"c{i}"), sql.SQL(t))
            for i, t in enumerate(self.copy_types)
        ]
        return sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(stage), sql.SQL(", ").join(parts)
        )

    def copy_sql(self, stage: str) -> sql.Composed:
        """``COPY ... FROM STDIN`` in binary into the batch's temp table."""
        return sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(stage))

    def upsert_sql(self, stage: str) -> sql.Composed:
        """Move the temp table's rows into the stream's table; a known key replaces its row."""
        targets = sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns)
        sources = sql.SQL(", ").join(
            sql.Identifier(f"c{i}")
            if c.type in KNOWN_TYPES
            else sql.SQL("CAST({} AS {})").format(sql.Identifier(f"c{i}"), sql.SQL(c.type))
            for i, c in enumerate(self.columns)
        )
        statement = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            self.ident, targets, sources, sql.Identifier(stage)
        )
        if not self.keys:
            return statement
        order = sql.SQL(", ").join(sql.Literal(i + 1) for i in self.keys)
        conflict = sql.SQL(", ").join(sql.Identifier(self.columns[i].name) for i in self.keys)
        others = [c for i, c in enumerate(self.columns) if i not in self.keys]
        action: sql.Composable = sql.SQL("DO NOTHING")
        if others:
            action = sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in others
                )
            )
        return sql.SQL("{} ORDER BY {} ON CONFLICT ({}) {}").format(
            statement, order, conflict, action
        )

    def staged_column(self, staged_name: str) -> Column | None:
        """The stream column behind temp-table column ``c<i>``, if that is what it names."""
        if staged_name.startswith("c") and staged_name[1:].isdigit():
            index = int(staged_name[1:])
            if index < len(self.columns):
                return self.columns[index]
        return None

    def describe(self, record: sinks.Record, position: int) -> str:
        """``stream 'engage', record distinct_id='u1'`` (by key, or by position if keyless)."""
        if not self.keys:
            return f"stream {self.stream!r}, record {position + 1} of the batch"
        keys = ", ".join(
            f"{self.columns[i].prop}={record.get(self.columns[i].prop)!r}" for i in self.keys
        )
        return f"stream {self.stream!r}, record {keys}"


def named(column: Column | None) -> str:
    """``property 'p' (column 'p', jsonb): `` to start a message, or nothing if unknown."""
    if column is None:
        return ""
    return f"property {column.prop!r} (column {column.name!r}, {column.type}): "


def staged_rows(
    table: Table, records: Sequence[sinks.Record]
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The rows to copy (converted; the last record per key) and each row's record position.

    Raises:
        UnstorableRecord: a value does not fit its column type.
    """
    columns = []
    for column in table.columns:
        try:
            columns.append(column_values(column.type, column.prop, records))
        except ConversionError as exc:
            record = records[exc.index]
            raise UnstorableRecord(
                f"{table.describe(record, exc.index)}: {named(column)}cannot be stored: {exc}"
            ) from None
    rows = list(zip(*columns, strict=True))
    if not table.keys:
        return rows, list(range(len(rows)))
    positions = sorted(sinks.last_index_per_key(rows, table.keys).values())
    return [rows[i] for i in positions], positions


def copy_rows(
    cur: psycopg.Cursor[Any], table: Table, stage: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Create the batch's temp table and binary-COPY ``rows`` into it.

    Raises:
        ConversionError: a value could not be encoded (e.g. an integer past 64 bits), with
            its row; the COPY is abandoned.
    """
    cur.execute(table.stage_sql(stage))
    with cur.copy(table.copy_sql(stage)) as copy:
        copy.set_types(table.copy_types)
        index = 0
        try:
            for row in rows:
                copy.write_row(row)
                index += 1
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConversionError(index, exc, _out_of_range(table, rows[index])) from None


def _out_of_range(table: Table, row: tuple[Any, ...]) -> Column | None:
    """The column whose value no 64-bit integer holds (what write_row can still refuse)."""
    for column, value in zip(table.columns, row, strict=True):
        if column.type == BIGINT and type(value) is int and not -(2**63) <= value < 2**63:
            return column
    return None


def rejected_row(exc: psycopg.Error) -> tuple[int, str] | None:
    """For a server error raised by COPY: the 0-based row and the column it names, if any."""
    context = exc.diag.context or ""
    match = _COPY_LINE.search(context)
    if match is None:
        return None
    column = context[match.end() :].partition(", column ")[2].split(":")[0].strip()
    return int(match.group(1)) - 1, column


def nul_or_data_message(exc: psycopg.Error) -> str:
    """Why the server refused a value, in words; the NUL character gets its own."""
    primary = (exc.diag.message_primary or type(exc).__name__).strip()
    detail = exc.diag.message_detail or ""
    if "0x00" in primary or "\\u0000" in detail:  # text, then jsonb
        return (
            "PostgreSQL cannot store the character U+0000 (NUL, JSON \\u0000) in text or jsonb; "
            "remove it at the source or map the stream to drop it"
        )
    return primary
