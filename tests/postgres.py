"""A real PostgreSQL server for the tests: one per session, a fresh database per test.

The server is :class:`scripts.pg_server.PostgresServer` (initdb in a temporary directory, a unix
socket only, fsync off), started the first time a test asks for it and stopped at the end of the
session. Each test gets its own database, dropped afterwards, so tests stay independent.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from scripts.pg_server import PostgresServer

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Database:
    """One database on the test server."""

    server: PostgresServer
    name: str

    @property
    def dsn(self) -> str:
        """The libpq connection string the sink's ``dsn`` setting takes."""
        return self.server.dsn(self.name)

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit UTF-8 connection (close it, or use it in ``with``)."""
        return psycopg.connect(self.dsn, autocommit=True, client_encoding="UTF8")

    def query(self, statement: LiteralString, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row ``statement`` returns, on a connection of its own."""
        with self.connect() as conn:
            return conn.execute(statement, params).fetchall()

    def ids(self, table: str = "engage", schema: str = "mixpanel") -> list[str]:
        """``distinct_id`` of every row of ``schema.table``, sorted (duplicates kept)."""
        statement = sql.SQL("SELECT distinct_id FROM {}.{} ORDER BY 1").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        with self.connect() as conn:
            return [row[0] for row in conn.execute(statement).fetchall()]

    def columns(self, table: str, schema: str = "mixpanel") -> list[tuple[str, str, str | None]]:
        """``(name, type, comment)`` of each column of ``schema.table``, in order."""
        return [
            (str(name), str(type_), comment)
            for name, type_, comment in self.query(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                "col_description(a.attrelid, a.attnum) FROM pg_attribute a "
                "WHERE a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (schema, table),
            )
        ]

    def waiting_sessions(self, lock: str) -> int:
        """How many sessions on this database wait for a lock of this kind (``advisory``,
        ``transactionid`` for a row another transaction holds...)."""
        rows = self.query(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = %s AND wait_event_type = 'Lock' AND wait_event = %s",
            (self.name, lock),
        )
        return int(rows[0][0])

    def wait_for_waiters(self, count: int, lock: str) -> None:
        """Return once ``count`` sessions wait for a ``lock``: the server says they are blocked.

        Polls the server's own view of its sessions, so no test guesses how long anything
        takes; fails after a minute.
        """
        deadline = time.monotonic() + 60
        while self.waiting_sessions(lock) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} sessions never waited for a {lock} lock")
            time.sleep(0.01)


def create_database(server: PostgresServer) -> Database:
    """A new, empty database on ``server``."""
    name = f"test_{next(_numbers)}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return Database(server, name)


def drop_database(database: Database) -> None:
    """Drop ``database``, ending any connection a killed process left behind."""
    with psycopg.connect(database.server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name))
        )
