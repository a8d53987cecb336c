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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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
_decode_dicts = msgspec.json.Decoder(_Page[dict[str, Any]]).decode
_decode_raw = msgspec.json.Decoder(_Page[_RawResult]).decode
_decode_reserved = msgspec.json.Decoder(_Reserved).decode


def shape_raw_profile(result: _RawResult) -> dict[str, Any]:
    """:func:`shape_profile` with ``properties`` left as JSON text (``{}`` if not an object)."""
    properties = result.properties
    try:
        reserved = msgspec.structs.astuple(_decode_reserved(properties))
    except msgspec.ValidationError:  # ``$properties`` is null, a list, a string...
        properties, reserved = EMPTY_OBJECT, _NO_RESERVED
    return _record(str(result.distinct_id), properties, reserved)


@dataclass(frozen=True)
class Page:
    """One Engage page, its results shaped into ``engage`` records by the thread that fetched it.

    The same object goes from the worker to the consumer. ``session_id``, ``page_size`` and
    ``total`` are None when the API left them out or sent something else than expected.
    """

    number: int
    records: list[dict[str, Any]]
    session_id: str | None
    page_size: int | None
    total: int | None
    nbytes: int = 0
    """The size of the response body: what the page costs in memory, about."""


def shape_page(content: bytes, number: int, *, raw_properties: bool = False) -> Page | None:
    """Decode the body of page ``number`` and shape its results; None if it is not a page.

    Raw text goes out inside one Singer line, so a body with a line break anywhere (a
    pretty-printed answer) is decoded instead: the records are the same, only slower.
    """
    try:
        if raw_properties and b"\n" not in content and b"\r" not in content:
            raw = _decode_raw(content)
            records = [shape_raw_profile(r) for r in raw.results]
            body: _Page[Any] = raw
        else:
            body = _decode_dicts(content)
            records = [shape_profile(r) for r in body.results]
    except msgspec.DecodeError:  # not JSON, or not shaped like a page (ValidationError)
        return None
    return Page(
        number,
        records,
        body.session_id if isinstance(body.session_id, str) and body.session_id else None,
        _count(body.page_size),
        _count(body.total),
        len(content),
    )


def _count(value: Any) -> int | None:
    """A non-negative whole number from the response, or None."""
    return value if type(value) is int and value >= 0 else None
