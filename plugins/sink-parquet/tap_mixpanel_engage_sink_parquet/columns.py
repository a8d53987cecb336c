"""JSON schema -> Arrow column types, and Singer values -> Arrow arrays of those types.

Pure functions (no files), so the type rules are easy to test and document:

=======================================  ====================================================
JSON schema of the property              Arrow / Parquet column
=======================================  ====================================================
``string`` with ``format: date-time``    ``timestamp[us, tz=UTC]`` (naive values read as UTC)
``integer``                              ``int64``
``number``, or ``integer`` + ``number``  ``float64`` (as the duckdb sink does)
``boolean``                              ``bool``
``string``                               ``string`` (``""`` stays ``""``; null stays null)
object, array, other type mixes, none    JSON text (Arrow ``arrow.json``, Parquet ``JSON``)
=======================================  ====================================================

``null`` next to one other type only makes the column nullable. JSON-text columns keep a JSON
null as SQL NULL. DuckDB reads JSON-text columns as its ``JSON`` type.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
JSON_TEXT = pa.json_(pa.string())
_SIMPLE = {"integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def arrow_type(prop: Mapping[str, Any]) -> pa.DataType:
    """The column type for one property's JSON schema (see the module table)."""
    types = _json_types(prop)
    if sorted(map(str, types)) == ["integer", "number"]:
        return pa.float64()
    if len(types) != 1:
        return JSON_TEXT
    (only,) = types
    if isinstance(only, Mapping):
        return arrow_type(only)
    if only == "string":
        return TIMESTAMP if prop.get("format") == "date-time" else pa.string()
    return _SIMPLE.get(only, JSON_TEXT)


def _json_types(prop: Mapping[str, Any]) -> list[Any]:
    """The non-null types of ``prop``: names, or sub-schemas for ``anyOf``/``oneOf``."""
    declared = prop.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else list(declared)
        return [n for n in names if n != "null"]
    options = prop.get("anyOf") or prop.get("oneOf") or []
    return [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]


def unify(old: pa.DataType, new: pa.DataType) -> pa.DataType:
    """The column type that holds both an existing file's column and the new schema's."""
    if old == new:
        return old
    if {old, new} == {pa.int64(), pa.float64()}:
        return pa.float64()
    return JSON_TEXT


def to_arrow(values: Sequence[Any], type_: pa.DataType, where: str) -> pa.Array:
    """Convert Singer values for one column; ``where`` (``stream.column``) names it in errors."""
    convert: Callable[[Any], Any] = _CONVERTERS.get(type_, _json_text)
    out: list[Any] = []
    for value in values:
        if value is None:
            out.append(None)
            continue
        try:
            out.append(convert(value))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: cannot store {value!r} as {type_}: {exc}") from exc
    return pa.array(out, type=type_)


def recast(column: pa.Array, type_: pa.DataType, where: str) -> pa.Array:
    """Convert a column read from the existing file to the unified type ``type_``."""
    if column.type == type_:
        return column
    if type_ == pa.float64():
        return column.cast(type_)
    return to_arrow(column.to_pylist(), type_, where)


def storage(column: pa.Array) -> pa.Array:
    """The plain array under an extension array (kernels like ``is_in`` and joins need it)."""
    return column.storage if isinstance(column.type, pa.BaseExtensionType) else column


def _timestamp(value: Any) -> dt.datetime:
    """RFC 3339 / ISO 8601 text (or a datetime) as an aware UTC datetime."""
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _int(value: Any) -> int:
    """An integer, accepting integral floats (JSON schema counts ``1.0`` as an integer)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not integral")
        return int(value)
    return int(value)


def _float(value: Any) -> float:
    """A float from any JSON number (or numeric text)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    return float(value)


def _bool(value: Any) -> bool:
    """Only real booleans: ``"false"`` silently becoming ``True`` would be worse than an error."""
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def _string(value: Any) -> str:
    """Strings as they are; anything else that drifted into a string column as JSON text."""
    return value if isinstance(value, str) else _json_text(value)


def _json_text(value: Any) -> str:
    """Compact JSON, unicode kept, datetimes as ISO text; NaN refused (not valid JSON)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_iso
    )


def _iso(value: Any) -> str:
    """``json.dumps`` fallback for values read back from a timestamp column."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_CONVERTERS: dict[pa.DataType, Callable[[Any], Any]] = {
    TIMESTAMP: _timestamp,
    pa.int64(): _int,
    pa.float64(): _float,
    pa.bool_(): _bool,
    pa.string(): _string,
}
