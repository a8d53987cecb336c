"""The postgres sink: one table per stream in one schema, one transaction per commit.

Each ``write_batch`` copies its rows into a temporary table and upserts them
(:mod:`~tap_mixpanel_engage_sink_postgres.loading`) inside the transaction that ``commit()`` ends,
so a batch, its schema changes and its ``ACTIVATE_VERSION`` land together or not at all, and the
host prints a STATE only after the commit covering it. Many pipelines may write into one database
at once: DDL is serialised per schema (:mod:`~tap_mixpanel_engage_sink_postgres.catalog`), loads
only wait for each other on rows with the same key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from tap_mixpanel_engage import sinks
from tap_mixpanel_engage_sink_postgres import catalog
from tap_mixpanel_engage_sink_postgres.columns import (
    BIGINT,
    TIMESTAMPTZ,
    Column,
    ConversionError,
    column_type,
)
from tap_mixpanel_engage_sink_postgres.connection import (
    SETTINGS,
    PostgresSettings,
    check_identifier,
    connect,
    one_line,
)
from tap_mixpanel_engage_sink_postgres.loading import (
    Table,
    UnstorableRecord,
    copy_rows,
    named,
    nul_or_data_message,
    rejected_row,
    staged_rows,
)


class PostgresError(RuntimeError):
    """PostgreSQL refused an operation; the message says which, never with the password."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class PostgresSink(sinks.Sink):
    """Writes each stream to ``<schema>.<stream>``; see the module docstring."""

    name: ClassVar[str] = "postgres"
    description: ClassVar[str] = (
        "PostgreSQL: one table per stream, upsert by key, many pipelines at once (dsn, schema)"
    )
    settings: ClassVar[Sequence[Mapping[str, Any]]] = SETTINGS
    accepts_raw_json: ClassVar[bool] = True
    """``jsonb`` values are encoded with msgspec, which writes :class:`msgspec.Raw` verbatim."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Check ``dsn`` and ``schema`` and connect (:class:`sinks.SinkConfigError` on failure)."""
        self._settings = PostgresSettings.from_config(config)
        super().__init__(self._settings.redacted_config(config))
        self.schema = self._settings.schema
        self._conn = connect(self._settings)
        self._tables: dict[str, Table] = {}
        self._activations: list[tuple[str, int, bool]] = []
        self._stages = 0
        with self._errors("setting up the session"):
            # UTF8 whatever the database's encoding: jsonb goes out as UTF-8 bytes, and the
            # server then refuses, rather than garbles, what the database cannot encode.
            self._conn.execute("SET client_encoding TO 'UTF8'")
            self._conn.execute("SET TimeZone TO 'UTC'")
            self._conn.commit()

    def __repr__(self) -> str:
        return f"<PostgresSink schema={self.schema!r}>"

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn a psycopg error into a :class:`PostgresError` naming ``action``, scrubbed."""
        try:
            yield
        except psycopg.Error as exc:
            message = self._settings.scrub(one_line(str(exc)))
            raise PostgresError(f"{action}: {message}", exc.sqlstate) from None

    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        """Create or widen the stream's table; inside a pending transaction, the DDL joins it."""
        check_identifier("stream name", stream)
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            raise ValueError(f"stream {stream!r}: schema has no 'properties' object")
        wanted = {p: column_type(s) for p, s in properties.items() if isinstance(s, Mapping)}
        missing = [k for k in key_properties if k not in wanted]
        if missing:
            raise ValueError(f"stream {stream!r}: key properties {missing} are not in the schema")
        with self._transaction(f"stream {stream!r}: creating or altering its table"):
            columns = self._ensure_table(stream, wanted, key_properties)
        by_prop = {c.prop: c for c in columns}
        loaded = [by_prop[p] for p in wanted]
        positions = {c.prop: i for i, c in enumerate(loaded)}
        self._tables[stream] = Table(
            stream=stream,
            ident=catalog.table_ident(self.schema, stream),
            columns=loaded,
            keys=tuple(positions[k] for k in key_properties),
        )

    def _ensure_table(
        self, stream: str, wanted: Mapping[str, str], keys: Sequence[str]
    ) -> list[Column]:
        cur = self._conn.cursor()
        catalog.lock_schema(cur, self.schema)
        cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        existing = catalog.existing_columns(cur, self.schema, stream)
        if existing is None:
            return catalog.create_table(cur, self.schema, stream, wanted, keys)
        columns = catalog.evolve_table(cur, self.schema, stream, existing, wanted, keys)
        if keys:
            by_prop = {c.prop: c.name for c in columns}
            names = frozenset(by_prop[k] for k in keys)
            if names not in catalog.unique_column_sets(cur, self.schema, stream):
                raise ValueError(
                    f"table {self.schema}.{stream} has no primary key or unique index on "
                    f"{sorted(names)}, the stream's key; upserts need one"
                )
        return columns

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[None]:
        """Join the pending transaction, or run in one of our own that commits at the end."""
        own = self._conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with self._errors(action):
            try:
                yield
            except BaseException:
                if own:
                    self._conn.rollback()
                raise
            if own:
                self._conn.commit()

    def write_batch(self, stream: str, records: Sequence[sinks.Record]) -> None:
        """Copy ``records`` into a temp table and upsert them; the last equal key wins."""
        table = self._tables.get(stream)
        if table is None:
            raise RuntimeError(f"write_batch({stream!r}) before open_stream({stream!r})")
        if not records:
            return
        rows, positions = staged_rows(table, records)
        self._stages += 1
        stage = f"_stage_{self._stages}"
        cur = self._conn.cursor()
        try:
            copy_rows(cur, table, stage, rows)
        except ConversionError as exc:
            position = positions[exc.index]
            raise UnstorableRecord(
                f"{table.describe(records[position], position)}: {named(exc.column)}"
                f"cannot be stored: {exc}"
            ) from None
        except psycopg.Error as exc:
            rejected = rejected_row(exc)
            if rejected is None or not 0 <= rejected[0] < len(rows):
                raise PostgresError(
                    f"stream {stream!r}: loading a batch: "
                    f"{self._settings.scrub(one_line(str(exc)))}",
                    exc.sqlstate,
                ) from None
            index, staged_column = rejected
            position = positions[index]
            raise UnstorableRecord(
                f"{table.describe(records[position], position)}: "
                f"{named(table.staged_column(staged_column))}{nul_or_data_message(exc)}"
            ) from None
        with self._errors(f"stream {stream!r}: upserting a batch"):
            cur.execute(table.upsert_sql(stage))

    def activate_version(self, stream: str, version: int, *, hard_delete: bool) -> None:
        """Stage, for the next commit, the end of rows older than ``version`` (see the contract)."""
        if stream not in self._tables:
            raise RuntimeError(f"activate_version({stream!r}) before open_stream({stream!r})")
        self._activations.append((stream, version, hard_delete))

    def _apply_activation(self, stream: str, version: int, hard_delete: bool) -> None:
        cur = self._conn.cursor()
        wanted = {sinks.VERSION_PROPERTY: BIGINT}
        if not hard_delete:
            wanted[sinks.DELETED_AT_PROPERTY] = TIMESTAMPTZ
        ident = catalog.table_ident(self.schema, stream)
        columns = catalog.existing_columns(cur, self.schema, stream) or []
        if not wanted.keys() <= {c.prop for c in columns}:  # add them, as DDL always is: locked
            catalog.lock_schema(cur, self.schema)
            columns = catalog.existing_columns(cur, self.schema, stream) or []
            known = {c.prop for c in columns}
            missing = {p: t for p, t in wanted.items() if p not in known}
            columns += catalog.add_columns(cur, ident, columns, missing)
        by_prop = {c.prop: c for c in columns}
        deleted_at = None if hard_delete else by_prop[sinks.DELETED_AT_PROPERTY]
        catalog.end_old_versions(cur, ident, by_prop[sinks.VERSION_PROPERTY], deleted_at, version)

    def commit(self) -> None:
        """Apply staged activations, then commit everything since the last commit at once."""
        activations, self._activations = self._activations, []
        with self._errors("committing"):
            for stream, version, hard_delete in activations:
                self._apply_activation(stream, version, hard_delete)
            self._conn.commit()

    def close(self) -> None:
        """Close the connection; the server rolls back anything uncommitted."""
        self._activations.clear()
        with self._errors("closing the connection"):
            self._conn.close()
