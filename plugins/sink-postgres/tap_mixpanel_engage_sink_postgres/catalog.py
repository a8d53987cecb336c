"""The stream tables in PostgreSQL's catalog: read their columns and keys, create and evolve them.

Every change happens inside the caller's transaction after :func:`lock_schema`, a transaction-level
advisory lock per schema: ``CREATE SCHEMA IF NOT EXISTS`` and ``CREATE TABLE IF NOT EXISTS`` are
not safe against each other when pipelines start together, and a pipeline that widens a column
must see what another one added. Other writers' loads are not blocked by the lock, only their DDL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from tap_mixpanel_engage import sinks
from tap_mixpanel_engage_sink_postgres.columns import (
    BIGINT,
    COMMENT_PREFIX,
    PG_TYPES,
    TIMESTAMPTZ,
    Column,
    allocate,
    convert_expression,
)

LOCK_NAMESPACE = 0x6D70_6531
"""The first key of this sink's advisory locks (``pg_advisory_xact_lock(int, int)``)."""

Cursor = psycopg.Cursor[Any]


def lock_schema(cur: Cursor, schema: str) -> None:
    """Hold the schema's DDL lock until the transaction ends (waits for another holder)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, schema))


def table_ident(schema: str, table: str) -> sql.Composed:
    """``"schema"."table"``, quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def existing_columns(cur: Cursor, schema: str, table: str) -> list[Column] | None:
    """The table's columns in order (property names from the comments), or None if no table."""
    cur.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')
        ORDER BY a.attnum
        """,
        (schema, table),
    )
    rows = cur.fetchall()
    if not rows:
        return None
    columns = []
    for name, type_, comment in rows:
        prop = name
        if isinstance(comment, str) and comment.startswith(COMMENT_PREFIX):
            prop = comment[len(COMMENT_PREFIX) :]
        columns.append(Column(prop, name, type_))
    return columns


def unique_column_sets(cur: Cursor, schema: str, table: str) -> list[frozenset[str]]:
    """The column names of each primary key and unique index (what ON CONFLICT can use)."""
    cur.execute(
        """
        SELECT array_agg(a.attname)
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL
        GROUP BY i.indexrelid
        """,
        (table_ident(schema, table).as_string(cur),),
    )
    return [frozenset(names) for (names,) in cur.fetchall()]


def create_table(
    cur: Cursor, schema: str, table: str, wanted: Mapping[str, str], keys: Sequence[str]
) -> list[Column]:
    """Create the table with a primary key on ``keys`` and a comment on every column."""
    columns = allocate([], wanted)
    by_prop = {c.prop: c for c in columns}
    parts = [_definition(c) for c in columns]
    if keys:
        names = sql.SQL(", ").join(sql.Identifier(by_prop[k].name) for k in keys)
        parts.append(sql.SQL("PRIMARY KEY ({})").format(names))
    ident = table_ident(schema, table)
    cur.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(parts)))
    for column in columns:
        comment(cur, ident, column)
    return columns


def evolve_table(
    cur: Cursor,
    schema: str,
    table: str,
    existing: list[Column],
    wanted: Mapping[str, str],
    keys: Sequence[str],
) -> list[Column]:
    """Widen columns whose new type holds more, add new ones; returns every column."""
    ident = table_ident(schema, table)
    for column, widened in sinks.widenings(existing, wanted, PG_TYPES, keys, f"{schema}.{table}"):
        name = sql.Identifier(column.name).as_string(cur)
        using = convert_expression(name, column.type, widened)
        cur.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}").format(
                ident, sql.Identifier(column.name), sql.SQL(widened), sql.SQL(using)
            )
        )
        column.type = widened
    known = {c.prop for c in existing}
    return existing + add_columns(
        cur, ident, existing, {p: t for p, t in wanted.items() if p not in known}
    )


def add_columns(
    cur: Cursor, ident: sql.Composed, existing: Sequence[Column], wanted: Mapping[str, str]
) -> list[Column]:
    """Add a column (named by :func:`allocate`, with its comment) per wanted property."""
    new = allocate(existing, wanted)
    for column in new:
        cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(ident, _definition(column)))
        comment(cur, ident, column)
    return new


def comment(cur: Cursor, ident: sql.Composed, column: Column) -> None:
    """Record the column's exact property name, so the mapping survives restarts."""
    cur.execute(
        sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
            ident, sql.Identifier(column.name), sql.Literal(COMMENT_PREFIX + column.prop)
        )
    )


def _definition(column: Column) -> sql.Composed:
    return sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(column.type))


def end_old_versions(
    cur: Cursor, ident: sql.Composed, version: Column, deleted_at: Column | None, number: int
) -> None:
    """Delete (``deleted_at`` None) or mark the rows whose version is null or below ``number``.

    A marked row keeps the time it was first marked; the time is this statement's start, which
    the sink runs right before its COMMIT.
    """
    older = sql.SQL("({v} IS NULL OR {v} < %s)").format(v=sql.Identifier(version.name))
    if deleted_at is None:
        cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(ident, older), (number,))
        return
    if deleted_at.type != TIMESTAMPTZ:
        raise ValueError(f"column {deleted_at.name!r} must be {TIMESTAMPTZ} to mark deleted rows")
    cur.execute(
        sql.SQL("UPDATE {} SET {d} = statement_timestamp() WHERE {} AND {d} IS NULL").format(
            ident, older, d=sql.Identifier(deleted_at.name)
        ),
        (number,),
    )


VERSION_TYPE = BIGINT
"""The type of a version column this sink adds (Singer versions are millisecond timestamps)."""
