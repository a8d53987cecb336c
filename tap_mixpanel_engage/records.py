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

from dataclasses import dataclass
from typing import Any

import msgspec

from tap_mixpanel_engage.dates import to_rfc3339_utc

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


def shape_profile(result: dict[str, Any]) -> dict[str, Any]:
    """Turn one Engage result (``$distinct_id`` + ``$properties``) into an ``engage`` record."""
    props = result.get("$properties")
    if not isinstance(props, dict):
        props = {}
    record: dict[str, Any] = {
        "distinct_id": str(result.get("$distinct_id", "")),
        "properties": props,
    }
    for column, source in STRING_COLUMNS.items():
        value = props.get(source)
        record[column] = value if isinstance(value, str) else None
    for column, source in DATETIME_COLUMNS.items():
        record[column] = to_rfc3339_utc(props.get(source))
    return record


class _DictResults(msgspec.Struct):
    results: list[dict[str, Any]]
    session_id: Any = None
    page_size: Any = None
    total: Any = None


EMPTY_OBJECT = msgspec.Raw(b"{}")


class _RawResult(msgspec.Struct):
    distinct_id: Any = msgspec.field(name="$distinct_id", default="")
    properties: msgspec.Raw = msgspec.field(name="$properties", default=EMPTY_OBJECT)


class _RawResults(msgspec.Struct):
    results: list[_RawResult]
    session_id: Any = None
    page_size: Any = None
    total: Any = None


_Reserved = msgspec.defstruct(
    "_Reserved",
    [
        (column, Any, msgspec.field(name=source, default=None))
        for column, source in {**STRING_COLUMNS, **DATETIME_COLUMNS}.items()
    ],
)
"""The reserved ``$properties`` entries only: decoding skips every other entry unbuilt."""
_NO_RESERVED = msgspec.structs.astuple(_Reserved())
_STRING_NAMES = tuple(STRING_COLUMNS)
_CREATED, _LAST_SEEN = len(STRING_COLUMNS), len(STRING_COLUMNS) + 1
_decode_dicts = msgspec.json.Decoder(_DictResults).decode
_decode_raw = msgspec.json.Decoder(_RawResults).decode
_decode_reserved = msgspec.json.Decoder(_Reserved).decode


def shape_raw_profile(result: _RawResult) -> dict[str, Any]:
    """:func:`shape_profile` with ``properties`` left as JSON text (``{}`` if not an object)."""
    properties = result.properties
    try:
        reserved = msgspec.structs.astuple(_decode_reserved(properties))
    except msgspec.ValidationError:  # ``$properties`` is null, a list, a string...
        properties, reserved = EMPTY_OBJECT, _NO_RESERVED
    record: dict[str, Any] = {"distinct_id": str(result.distinct_id), "properties": properties}
    for column, value in zip(_STRING_NAMES, reserved, strict=False):
        record[column] = value if isinstance(value, str) else None
    record["created"] = to_rfc3339_utc(reserved[_CREATED])
    record["last_seen"] = to_rfc3339_utc(reserved[_LAST_SEEN])
    return record


@dataclass(frozen=True)
class PageBody:
    """One Engage response body, its results already shaped into ``engage`` records."""

    records: list[dict[str, Any]]
    session_id: Any
    page_size: Any
    total: Any


def shape_page(content: bytes, *, raw_properties: bool = False) -> PageBody | None:
    """Decode a response body and shape its results; None if it is not an Engage page."""
    try:
        if raw_properties:
            raw = _decode_raw(content)
            records = [shape_raw_profile(r) for r in raw.results]
            return PageBody(records, raw.session_id, raw.page_size, raw.total)
        body = _decode_dicts(content)
    except msgspec.DecodeError:  # not JSON, or not shaped like a page (ValidationError)
        return None
    records = [shape_profile(r) for r in body.results]
    return PageBody(records, body.session_id, body.page_size, body.total)
