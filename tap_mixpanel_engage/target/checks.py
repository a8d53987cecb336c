"""Cheap per-stream record checks compiled from a Singer schema's top-level property types.

A full JSON Schema validator costs more than everything else in the target together; this
checks what a sink relies on: each top-level value has one of its property's JSON types,
``format: date-time`` strings parse, and key properties are present and not null.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from tap_mixpanel_engage.sinks.contract import json_type_names

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
}


class RecordError(ValueError):
    """A record does not match its stream's schema; the message names the property."""


def _json_type_of(value: object) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "object", "array"):
        if type(value) in _PYTHON_TYPES[name]:
            return name
    return type(value).__name__


def is_datetime(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


class RecordChecker:
    """Checks records of one stream; compiled once per SCHEMA message."""

    __slots__ = ("_allowed", "_datetimes", "_expected", "key_properties", "stream")

    def __init__(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        self.stream = stream
        self.key_properties = tuple(key_properties)
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            raise RecordError(f"stream {stream!r}: schema has no 'properties' object")
        self._allowed: dict[str, frozenset[type]] = {}
        self._expected: dict[str, str] = {}
        datetimes: list[str] = []
        for name, prop_schema in properties.items():
            if not isinstance(prop_schema, Mapping):
                continue
            names = json_type_names(prop_schema)
            if names and all(n in _PYTHON_TYPES for n in names):
                self._allowed[name] = frozenset(t for n in names for t in _PYTHON_TYPES[n])
                self._expected[name] = " or ".join(names)
            if prop_schema.get("format") == "date-time" and "string" in names:
                datetimes.append(name)
        self._datetimes = tuple(datetimes)
        missing = [k for k in self.key_properties if k not in properties]
        if missing:
            raise RecordError(f"stream {stream!r}: key properties {missing} are not in the schema")

    def check(self, record: object) -> None:
        """Raise :class:`RecordError` naming the first property that does not match."""
        if type(record) is not dict:
            raise RecordError(f"record is a JSON {_json_type_of(record)}, not an object")
        allowed = self._allowed
        for name, value in record.items():
            types = allowed.get(name)
            if types is not None and type(value) not in types and not self._integral(name, value):
                raise RecordError(
                    f"property {name!r}: expected {self._expected[name]}, "
                    f"got {_json_type_of(value)}"
                )
        for name in self._datetimes:
            value = record.get(name)
            if type(value) is str and not is_datetime(value):
                raise RecordError(f"property {name!r}: {value!r} is not an RFC 3339 date-time")
        for key in self.key_properties:
            if record.get(key) is None:
                raise RecordError(f"key property {key!r} is missing or null")

    def _integral(self, name: str, value: object) -> bool:
        # JSON Schema counts 1.0 as an integer; msgspec decodes it as a float.
        return type(value) is float and value.is_integer() and int in self._allowed[name]
