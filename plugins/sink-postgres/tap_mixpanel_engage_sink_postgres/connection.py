"""The sink's settings (``dsn``, ``schema``), the connection, and keeping the password secret.

``dsn`` is a libpq connection string (``host=db user=loader dbname=warehouse``) or URI
(``postgresql://loader:secret@db/warehouse``); whatever it leaves out comes from the standard
``PG*`` environment variables (``PGHOST``, ``PGPASSWORD``...) and ``~/.pgpass``, as for ``psql``.
The password, from the DSN or ``PGPASSWORD``, never appears in a message: every error text that
leaves the sink goes through :meth:`PostgresSettings.scrub`, and ``repr`` shows no DSN.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
import psycopg
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Format

from tap_mixpanel_engage import sinks
from tap_mixpanel_engage_sink_postgres.columns import MAX_NAME_BYTES, check_name

APPLICATION_NAME = "target-mixpanel-duckdb (postgres sink)"
"""Shown in ``pg_stat_activity`` unless the DSN or ``PGAPPNAME`` names the application."""
CONNECT_TIMEOUT_SECONDS = 30
"""Used unless the DSN or ``PGCONNECT_TIMEOUT`` sets one: libpq alone may wait minutes."""
REDACTED = "***"
SETTINGS: tuple[dict[str, Any], ...] = (
    {
        "name": "dsn",
        "type": "string",
        "default": "",
        "description": "libpq connection string or postgresql:// URI; the standard PG* "
        "environment variables fill in what it leaves out. The password is never printed.",
    },
    {
        "name": "schema",
        "type": "string",
        "default": "mixpanel",
        "description": "The PostgreSQL schema that holds one table per stream (created if "
        "missing); one schema per Mixpanel project keeps concurrent pipelines apart.",
    },
)


@dataclass(frozen=True)
class PostgresSettings:
    """The checked settings; ``repr`` leaves out the DSN and the secrets."""

    dsn: str = field(repr=False)
    schema: str
    secrets: tuple[str, ...] = field(repr=False, default=())
    """Every form of the password that could be echoed: decoded, as written, the whole DSN."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PostgresSettings:
        """Check ``dsn`` and ``schema``; :class:`sinks.SinkConfigError` names a bad one."""
        dsn = config.get("dsn", "")
        if dsn is None:
            dsn = ""
        if not isinstance(dsn, str):
            raise sinks.SinkConfigError("dsn: must be a libpq connection string or URI")
        schema = config.get("schema", "mixpanel")
        if not isinstance(schema, str) or not schema:
            raise sinks.SinkConfigError("schema: must be a non-empty string")
        if "\0" in schema or len(schema.encode()) > MAX_NAME_BYTES:
            raise sinks.SinkConfigError(
                f"schema: {schema!r} is not a PostgreSQL name (at most 63 bytes, no NUL)"
            )
        try:
            parsed = conninfo_to_dict(dsn)
        except psycopg.Error:
            # libpq's message quotes the part it could not read, which may be the password.
            raise sinks.SinkConfigError(
                "dsn: not a valid libpq connection string (key=value ...) or postgresql:// URI"
            ) from None
        return cls(dsn, schema, _secrets(dsn, parsed))

    def scrub(self, text: str) -> str:
        """``text`` with every form of the password (and the DSN itself) replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def redacted_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with the DSN replaced, to keep on the sink."""
        return {**config, "dsn": REDACTED} if "dsn" in config else dict(config)


def _secrets(dsn: str, parsed: Mapping[str, Any]) -> tuple[str, ...]:
    found = {dsn, os.environ.get("PGPASSWORD", ""), str(parsed.get("password") or "")}
    if "://" in dsn:
        try:
            raw = urlsplit(dsn).password
        except ValueError:
            raw = None
        if raw:
            found |= {raw, unquote(raw)}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def one_line(text: str) -> str:
    """``text`` with its whitespace folded onto one line."""
    return " ".join(text.split())


class JsonbDumper(Dumper):
    """Binary ``jsonb`` for COPY: version byte 1, then the value as msgspec writes it.

    msgspec writes :class:`msgspec.Raw` (JSON text exactly as the API sent it) verbatim, which
    is why the sink can accept raw ``properties`` from ``sync()``.
    """

    format = Format.BINARY
    oid = psycopg.postgres.types["jsonb"].oid
    _encode = msgspec.json.Encoder().encode

    def dump(self, obj: Any) -> bytes:
        """The binary jsonb value."""
        return b"\x01" + self._encode(obj)


def connect(settings: PostgresSettings) -> psycopg.Connection[Any]:
    """A connection in UTC with the jsonb dumper; a failure names ``dsn``, never the password.

    Raises:
        sinks.SinkConfigError: the server cannot be reached or refuses the connection.
    """
    parsed = conninfo_to_dict(settings.dsn)
    extra: dict[str, Any] = {}
    if "application_name" not in parsed and "PGAPPNAME" not in os.environ:
        extra["application_name"] = APPLICATION_NAME
    if "connect_timeout" not in parsed and "PGCONNECT_TIMEOUT" not in os.environ:
        extra["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        conn = psycopg.connect(settings.dsn, **extra)
    except psycopg.Error as exc:
        message = settings.scrub(one_line(str(exc)))
        raise sinks.SinkConfigError(f"dsn: cannot connect to PostgreSQL: {message}") from None
    conn.adapters.register_dumper(None, JsonbDumper)
    return conn


def check_identifier(kind: str, name: str) -> None:
    """Refuse a table name PostgreSQL would cut (over 63 bytes) or cannot store (NUL)."""
    check_name(kind, name)
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"{kind} {name!r} is longer than PostgreSQL's 63-byte limit for names")
