"""Profile records: the ``engage`` stream's schema, and API response bodies shaped into records.

``properties`` keeps every ``$properties`` entry exactly as the API sent it; the typed convenience
columns are filled only when the reserved property has the right type, so nothing is coerced and
nothing is lost. Values are JSON-ready, so records can be written without type conformance.

A body is decoded and shaped in one step, on the worker thread that fetched it. With
``raw_properties`` the ``properties`` value stays the API's JSON text (:class:`msgspec.Raw`):
only the reserved entries are decoded, and a sink that encodes records with msgspec writes the
text through untouched, so ``sync()`` never builds the profile data as Python objects at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import msgspec

from tap_mixpanel_engage.engage.dates import to_rfc3339_utc

STRING_COLUMNS = {
    "email": "$email",
    "name": "$name",
    "first_name": "$first_name",
    "last_name": "$last_name",
    "phone": "$phone",
    "city": "$city",
    "region": "$region",
    "country_code": "$country_code",
    "timezone": "$timezone",
}
DATETIME_COLUMNS = {"created": "$created", "last_seen": "$last_seen"}
STREAM = "engage"
REPLICATION_KEY = "last_seen"
KEY_PROPERTIES = ("distinct_id",)


def engage_schema() -> dict[str, Any]:
    """The JSON schema of an ``engage`` record."""
    properties: dict[str, Any] = {
        "distinct_id": {"type": ["string"], "description": "Mixpanel's `$distinct_id`."},
        "properties": {
            "type": ["object", "null"],
            "additionalProperties": True,
            "description": "Every `$properties` entry, names and values as the API sent them.",
        },
    }
    for column, source in STRING_COLUMNS.items():
        properties[column] = {
            "type": ["string", "null"],
            "description": f"`{source}` when it is a string, else null.",
        }
    for column, source in DATETIME_COLUMNS.items():
        properties[column] = {
            "type": ["string", "null"],
            "format": "date-time",
            "description": f"`{source}` as RFC 3339 UTC when it is a date-time, else null.",
        }
    return {"type": "object", "properties": properties}


_RESERVED_COLUMNS = {**STRING_COLUMNS, **DATETIME_COLUMNS}
"""Typed column -> reserved ``$properties`` entry, in record order (strings, then date-times)."""
_SOURCES = tuple(_RESERVED_COLUMNS.values())
_STRING_NAMES = tuple(STRING_COLUMNS)
_CREATED, _LAST_SEEN = len(STRING_COLUMNS), len(STRING_COLUMNS) + 1


def _record(distinct_id: str, properties: Any, reserved: Sequence[Any]) -> dict[str, Any]:
    """An ``engage`` record; ``reserved`` holds the ``_RESERVED_COLUMNS`` values, in order."""
    record: dict[str, Any] = {"distinct_id": distinct_id, "properties": properties}
    for column, value in zip(_STRING_NAMES, reserved, strict=False):
        record[column] = value if isinstance(value, str) else None
    record["created"] = to_rfc3339_utc(reserved[_CREATED])
    record["last_seen"] = to_rfc3339_utc(reserved[_LAST_SEEN])
    return record


def shape_profile(result: dict[str, Any]) -> dict[str, Any]:
    """Turn one Engage result (``$distinct_id`` + ``$properties``) into an ``engage`` record."""
    props = result.get("$properties")
    if not isinstance(props, dict):
        props = {}
    reserved = [props.get(source) for source in _SOURCES]
    return _record(str(result.get("$distinct_id", "")), props, reserved)


EMPTY_OBJECT = msgspec.Raw(b"{}")


class _RawResult(msgspec.Struct):
    distinct_id: Any = msgspec.field(name="$distinct_id", default="")
    properties: msgspec.Raw = msgspec.field(name="$properties", default=EMPTY_OBJECT)


_Result = TypeVar("_Result")


class _Page(msgspec.Struct, Generic[_Result]):
    results: list[_Result]
    session_id: Any = None
    page_size: Any = None
    total: Any = None


_Reserved = msgspec.defstruct(
    "_Reserved",
    [
        (column, Any, msgspec.field(name=source, default=None))
        for column, source in _RESERVED_COLUMNS.items()
    ],
)
"""The reserved ``$properties`` entries only: decoding skips every other entry unbuilt."""
_NO_RESERVED = msgspec.structs.astuple(_Reserved())
_decode_any = msgspec.json.Decoder().decode
_decode_raw = msgspec.json.Decoder(_Page[_RawResult]).decode
_decode_reserved = msgspec.json.Decoder(_Reserved).decode


def shape_decoded_profile(result: _RawResult) -> dict[str, Any]:
    """:func:`shape_profile` of a result whose ``$properties`` are still JSON text."""
    props = _decode_any(result.properties)
    if not isinstance(props, dict):
        props = {}
    return _record(str(result.distinct_id), props, [props.get(source) for source in _SOURCES])


_astuple = msgspec.structs.astuple
if tuple(_RESERVED_COLUMNS) != (*_STRING_NAMES, "created", "last_seen") or len(_STRING_NAMES) != 9:
    raise RuntimeError("shape_raw_profile spells the reserved columns out: update it too")


def shape_raw_profile(result: _RawResult) -> dict[str, Any]:
    """:func:`shape_profile` with ``properties`` left as JSON text (``{}`` if not an object).

    The columns are spelled out (the same as :func:`_record`): this runs once per profile of
    every export, and one dict display costs a third of a loop over the columns.
    """
    properties = result.properties
    try:
        reserved = _decode_reserved(properties)
    except msgspec.ValidationError:  # ``$properties`` is null, a list, a string...
        return _record(str(result.distinct_id), EMPTY_OBJECT, _NO_RESERVED)
    email, name, first, last, phone, city, region, country, zone, created, seen = _astuple(reserved)
    distinct_id = result.distinct_id
    return {
        "distinct_id": distinct_id if type(distinct_id) is str else str(distinct_id),
        "properties": properties,
        "email": email if type(email) is str else None,
        "name": name if type(name) is str else None,
        "first_name": first if type(first) is str else None,
        "last_name": last if type(last) is str else None,
        "phone": phone if type(phone) is str else None,
        "city": city if type(city) is str else None,
        "region": region if type(region) is str else None,
        "country_code": country if type(country) is str else None,
        "timezone": zone if type(zone) is str else None,
        "created": to_rfc3339_utc(created),
        "last_seen": to_rfc3339_utc(seen),
    }


class Records(Sequence[dict[str, Any]]):
    """A page's records, shaped when they are read.

    A page holds its response body and one small struct per result; a record becomes a dict
    only when a consumer reads it, so a 50,000-profile page is never 50,000 dicts at once (they
    cost about twice the body). Read each record once: every read shapes a new dict. Take a
    slice to work on a chunk (the slice is a list of dicts, made once). A plain list of records
    behaves the same, so a page can also carry records that are already built.
    """

    __slots__ = ("_items", "_shape")

    def __init__(
        self, items: Sequence[Any], shape: Callable[[Any], dict[str, Any]] | None = None
    ) -> None:
        self._items = items
        self._shape = shape

    @classmethod
    def wrap(cls, records: Sequence[dict[str, Any]]) -> Records:
        """``records`` as :class:`Records` (a list is wrapped, its dicts read as they are)."""
        return records if isinstance(records, Records) else cls(records)

    def map(self, then: Callable[[dict[str, Any]], dict[str, Any]]) -> Records:
        """These records, each passed through ``then`` when read."""
        shape = self._shape
        if shape is None:
            return Records(self._items, then)
        return Records(self._items, lambda item: then(shape(item)))

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        shape = self._shape
        if isinstance(index, slice):
            items = self._items[index]
            return list(items) if shape is None else [shape(item) for item in items]
        return self._items[index] if shape is None else shape(self._items[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._items) if self._shape is None else map(self._shape, self._items)

    def clear(self) -> None:
        """Let go of the results (and the body they point into)."""
        self._items = ()


def chunks(records: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``records`` as lists of at most ``size``, each made once (see :class:`Records`)."""
    for start in range(0, len(records), size):
        yield list(records[start : start + size])


CHUNK_RECORDS = 1000
"""Records a consumer shapes and handles at once."""


@dataclass(frozen=True)
class Page:
    """One Engage page, decoded by the thread that fetched it; records shaped when read.

    The same object goes from the worker to the consumer. ``session_id``, ``page_size`` and
    ``total`` are None when the API left them out or sent something else than expected.
    """

    number: int
    records: Sequence[dict[str, Any]]
    """:class:`Records` (or a list): read each record once, or take :func:`chunks`."""
    session_id: str | None
    page_size: int | None
    total: int | None
    nbytes: int = 0
    """The size of the response body: about what the page holds in memory until consumed."""

    def release(self) -> None:
        """Let go of the records and the body they point into (the consumer is done)."""
        clear = getattr(self.records, "clear", None)
        if callable(clear):
            clear()


def shape_page(content: bytes, number: int, *, raw_properties: bool = False) -> Page | None:
    """Decode the body of page ``number``; its records are shaped when read (:class:`Records`).

    Raw text goes out inside one Singer line, so a body with a line break anywhere (a
    pretty-printed answer) is decoded instead: the records are the same, only slower.
    """
    try:
        body = _decode_raw(content)
    except msgspec.DecodeError:  # not JSON, or not shaped like a page (ValidationError)
        return None
    raw = raw_properties and b"\n" not in content and b"\r" not in content
    return Page(
        number,
        Records(body.results, shape_raw_profile if raw else shape_decoded_profile),
        body.session_id if isinstance(body.session_id, str) and body.session_id else None,
        _count(body.page_size),
        _count(body.total),
        len(content),
    )


def _count(value: Any) -> int | None:
    """A non-negative whole number from the response, or None."""
    return value if type(value) is int and value >= 0 else None
