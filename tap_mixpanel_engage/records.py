"""Profile records: the ``engage`` stream's schema and the shaping of one API result into a record.

``properties`` keeps every ``$properties`` entry exactly as the API sent it; the typed convenience
columns are filled only when the reserved property has the right type, so nothing is coerced and
nothing is lost. Values are JSON-ready, so records can be written without type conformance.
"""

from __future__ import annotations

from typing import Any

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
