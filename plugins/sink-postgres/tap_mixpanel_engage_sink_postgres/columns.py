"""PostgreSQL columns for Singer properties: types, widening, names, and value conversion.

The rules are the duckdb sink's, in PostgreSQL's type names, so one stream gives the same table
in both databases:

=======================================  ============================
JSON schema of the property              column type
=======================================  ============================
``string`` with ``format: date-time``    ``timestamp with time zone``
``string``                               ``text``
``integer``                              ``bigint``
``number``, or ``integer`` + ``number``  ``double precision``
``boolean``                              ``boolean``
object, array, other type mixes, none    ``jsonb``
=======================================  ============================

The rules themselves (types, widening, case-safe names) are the shared ``sinks.ColumnTypes`` and
``sinks.allocate``. Names: a column is named after its property, except that two properties
equal but for ASCII case (``Plan``, ``plan``) get ``plan__2`` for the second, as in DuckDB (where
quoted names still compare without case). PostgreSQL also cuts names at 63 bytes, so a long name
is cut here first and a cut that meets another name gets a ``__N`` suffix too. Each column
carries a comment ``singer property: <exact name>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from tap_mixpanel_engage import sinks

COMMENT_PREFIX = "singer property: "
MAX_NAME_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently cut."""

TEXT = "text"
BIGINT = "bigint"
DOUBLE = "double precision"
BOOLEAN = "boolean"
TIMESTAMPTZ = "timestamp with time zone"
JSONB = "jsonb"
PG_TYPES = sinks.ColumnTypes(
    text=TEXT, bigint=BIGINT, double=DOUBLE, boolean=BOOLEAN, timestamptz=TIMESTAMPTZ, json=JSONB
)
KNOWN_TYPES = PG_TYPES.known
"""The types this module creates (as ``format_type`` names them); others are left alone."""
Column = sinks.Column
column_type = PG_TYPES.column_type
widen = PG_TYPES.widen
COPY_TYPES = {
    TEXT: "text",
    BIGINT: "int8",
    DOUBLE: "float8",
    BOOLEAN: "bool",
    TIMESTAMPTZ: "timestamptz",
    JSONB: "jsonb",
}
"""The name binary COPY is told for each known type; any other type is staged as text."""
_encode_json = msgspec.json.Encoder().encode


def convert_expression(column: str, old: str, new: str) -> str:
    """The ``USING`` expression that rewrites existing values when a column widens."""
    if new == JSONB:
        return f"to_jsonb({column})"
    if old == TIMESTAMPTZ and new == TEXT:
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    return f"{column}::{new}"


def check_name(kind: str, name: str) -> None:
    """Refuse a schema, table or property name PostgreSQL cannot store (NUL)."""
    if "\0" in name:
        raise ValueError(f"{kind} {name!r} contains NUL, which PostgreSQL cannot store in a name")


def allocate(existing: Sequence[Column], wanted: Mapping[str, str]) -> list[Column]:
    """Name new columns: the property name (cut to 63 bytes), or ``name__N`` if taken."""
    for prop in wanted:
        check_name("property", prop)
    return sinks.allocate(existing, wanted, max_name_bytes=MAX_NAME_BYTES)


Convert = Callable[[Any], Any]


def _text(value: Any) -> str:
    """Strings as sent; a value that drifted into a text column (after widening) as JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, msgspec.Raw):
        return bytes(value).decode()
    return _encode_json(value).decode()


def _bigint(value: Any) -> int:
    """An integer, accepting integral floats (JSON schema counts ``1.0`` as an integer)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"{value!r} is not an integer")


def _double(value: Any) -> float:
    """Any JSON number as a float; a boolean is not a number."""
    if type(value) in (int, float):
        return float(value)
    raise TypeError(f"{value!r} is not a number")


def _boolean(value: Any) -> bool:
    """Only real booleans: ``"false"`` silently becoming true would be worse than an error."""
    if type(value) is bool:
        return value
    raise TypeError(f"{value!r} is not a boolean")


def _timestamptz(value: Any) -> dt.datetime:
    """RFC 3339 text as an aware datetime; values without an offset are UTC (as in DuckDB)."""
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


CONVERTERS: dict[str, Convert] = {
    TEXT: _text,
    BIGINT: _bigint,
    DOUBLE: _double,
    BOOLEAN: _boolean,
    TIMESTAMPTZ: _timestamptz,
}
"""Record value -> what binary COPY dumps for the column type. ``jsonb`` takes any value (the
sink's dumper encodes it); a type this module does not know is staged as JSON text and cast by
the server."""


_FAST: dict[str, type] = {TEXT: str, BIGINT: int, DOUBLE: float, BOOLEAN: bool}
"""Per column type, the value type that needs no conversion (checked by ``type() is``)."""


class ConversionError(ValueError):
    """A value cannot be stored; ``index`` is its row in the batch, ``column`` its column."""

    def __init__(self, index: int, cause: Exception, column: Column | None = None) -> None:
        super().__init__(str(cause))
        self.index = index
        self.column = column


def column_values(type_: str, prop: str, records: Sequence[Mapping[str, Any]]) -> list[Any]:
    """One column's values for binary COPY (a missing or null value is NULL).

    Raises:
        ConversionError: the first value that does not fit, with its position.
    """
    if type_ == JSONB:
        return [r.get(prop) for r in records]
    convert: Convert = CONVERTERS.get(type_, _text)
    fast = _FAST.get(type_)
    try:
        if fast is not None:  # one pass: most values already have the type COPY dumps
            return [
                v if (v := r.get(prop)) is None or type(v) is fast else convert(v) for r in records
            ]
        return [None if (v := r.get(prop)) is None else convert(v) for r in records]
    except (TypeError, ValueError):
        pass
    for index, record in enumerate(records):  # the slow path only names the culprit
        try:
            if (value := record.get(prop)) is not None:
                convert(value)
        except (TypeError, ValueError) as exc:
            raise ConversionError(index, exc) from None
    raise AssertionError("a conversion failed once but not twice")  # pragma: no cover
