"""Columns for Singer properties, one set of rules for every database sink: types, widening, names.

A sink gives the rules its database's type names (:class:`ColumnTypes`), so one stream makes the
same table in DuckDB and in PostgreSQL:

=======================================  ==================
JSON schema of the property              column type
=======================================  ==================
``string`` with ``format: date-time``    ``timestamptz``
``string``                               ``text``
``integer``                              ``bigint``
``number``, or ``integer`` + ``number``  ``double``
``boolean``                              ``boolean``
object, array, other type mixes, none    ``json``
=======================================  ==================

Names: a column is named after its property, except that two properties equal but for ASCII case
(``Plan``, ``plan``) get ``plan__2`` for the second (DuckDB compares identifiers without ASCII
case even when quoted). A database that cuts long names gives :func:`allocate` its limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tap_mixpanel_engage.sinks.contract import json_type_names

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """How names are compared: ASCII letters only are case-folded (as DuckDB does)."""
    return name.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class ColumnTypes:
    """A database's names for the six column types the rules use."""

    text: str
    bigint: str
    double: str
    boolean: str
    timestamptz: str
    json: str

    @property
    def known(self) -> frozenset[str]:
        """The types the rules create; a column of any other type is left alone."""
        return frozenset(
            {self.text, self.bigint, self.double, self.boolean, self.timestamptz, self.json}
        )

    def column_type(self, prop_schema: Mapping[str, Any]) -> str:
        """The column type for one JSON schema property; ``["null", X]`` is a nullable X."""
        names = set(json_type_names(prop_schema)) - {"null"}
        if names == {"integer", "number"}:
            return self.double
        if len(names) != 1:
            return self.json
        (name,) = names
        if name == "string" and prop_schema.get("format") == "date-time":
            return self.timestamptz
        scalar = {
            "string": self.text,
            "integer": self.bigint,
            "number": self.double,
            "boolean": self.boolean,
        }
        return scalar.get(name, self.json)

    def widen(self, old: str, new: str) -> str:
        """The narrowest type that holds values of both ``old`` and ``new`` columns."""
        if old == new:
            return old
        pair = {old, new}
        if pair == {self.bigint, self.double}:
            return self.double
        if self.json in pair:
            return self.json
        if self.text in pair:
            return self.text
        return self.json


@dataclass
class Column:
    """A table column: the Singer property it holds, its name in the database and its type."""

    prop: str
    name: str
    type: str


def _cut(text: str, limit: int | None) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, on a character boundary (None: whole)."""
    return text if limit is None else text.encode()[:limit].decode(errors="ignore")


def allocate(
    existing: Sequence[Column], wanted: Mapping[str, str], *, max_name_bytes: int | None = None
) -> list[Column]:
    """Name new columns: the property name (cut to ``max_name_bytes``), or ``name__N`` if a
    case twin, or a cut that meets another name, already has it."""
    taken = {fold(c.name) for c in existing}
    columns = []
    for prop, type_ in wanted.items():
        name = _cut(prop or "_empty", max_name_bytes)
        suffix = 2
        while fold(name) in taken:
            tail = f"__{suffix}"
            limit = None if max_name_bytes is None else max_name_bytes - len(tail)
            name = _cut(prop, limit) + tail
            suffix += 1
        taken.add(fold(name))
        columns.append(Column(prop, name, type_))
    return columns


def widenings(
    existing: Sequence[Column],
    wanted: Mapping[str, str],
    types: ColumnTypes,
    key_properties: Sequence[str],
    table: str,
) -> Iterator[tuple[Column, str]]:
    """The existing columns whose type must widen for the ``wanted`` types, with the new type,
    one at a time (the caller alters each before the next is looked at).

    Raises:
        ValueError: a key column would change type (``table`` names the table).
    """
    known = types.known
    for column in existing:
        new_type = wanted.get(column.prop)
        if new_type is None or column.type not in known:
            continue
        widened = types.widen(column.type, new_type)
        if widened == column.type:
            continue
        if column.prop in key_properties:
            raise ValueError(
                f"{table}: key column {column.name!r} cannot change type "
                f"from {column.type} to {widened}"
            )
        yield column, widened
