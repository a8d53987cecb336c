"""The SQL the DuckDB sink runs for a batch: the bulk upsert, and the end of older versions."""

from __future__ import annotations

from collections.abc import Sequence

from tap_mixpanel_engage.sinks.contract import DELETED_AT_PROPERTY, VERSION_PROPERTY
from tap_mixpanel_engage.sinks.duckdb_columns import Column, quote_ident, quote_literal

_MAX_RECORD_BYTES = 1 << 26
"""read_json's default limit (16 MB per record) is too small for some profiles."""


def insert_sql(
    ident: str, columns: Sequence[Column], key_properties: tuple[str, ...], exact: bool
) -> str:
    """The bulk upsert of one batch file (NDJSON), the last equal key winning.

    ``exact``: the JSON keys are the property names; otherwise ``c0``, ``c1``... (case twins).
    """
    json_keys = [c.prop if exact else f"c{i}" for i, c in enumerate(columns)]
    struct = ", ".join(
        f"{quote_literal(k)}: {quote_literal(c.type)}"
        for k, c in zip(json_keys, columns, strict=True)
    )
    targets = ", ".join(quote_ident(c.name) for c in columns)
    sources = ", ".join(quote_ident(k) for k in json_keys)
    verb = "INSERT"
    if key_properties:
        verb = "INSERT OR REPLACE" if len(columns) > len(key_properties) else "INSERT OR IGNORE"
    return (
        f"{verb} INTO {ident} ({targets}) SELECT {sources} FROM read_json(?, "
        f"format = 'newline_delimited', maximum_object_size = {_MAX_RECORD_BYTES}, "
        f"columns = {{{struct}}})"
    )


def end_of_versions_sql(ident: str, columns: Sequence[Column], *, hard_delete: bool) -> str | None:
    """Delete, or mark as deleted, the rows of versions older than the parameter (or none).

    Parameters: the version (and before it, for marking, the deletion time). Rows already
    marked keep their time. None when the table lacks the version columns.
    """
    names = {c.prop: quote_ident(c.name) for c in columns}
    version, deleted = names.get(VERSION_PROPERTY), names.get(DELETED_AT_PROPERTY)
    if version is None or deleted is None:
        return None
    older = f"({version} IS NULL OR {version} < ?)"
    if hard_delete:
        return f"DELETE FROM {ident} WHERE {older}"
    return f"UPDATE {ident} SET {deleted} = ? WHERE {deleted} IS NULL AND {older}"
