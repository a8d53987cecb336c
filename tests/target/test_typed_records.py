"""The typed RECORD path accepts exactly what the general path accepts, with the same records.

Every line here goes through both: :class:`TypedRecords` either returns the record the general
path (decode, then :class:`RecordChecker`) would build, or None, and then the general path
decides. A line the general path rejects must never be accepted by the typed one.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from tap_mixpanel_engage.target.checks import RecordChecker, RecordError
from tap_mixpanel_engage.target.typed import TypedRecords

SCHEMA: dict[str, Any] = {
    "properties": {
        "id": {"type": ["string"]},
        "n": {"type": ["integer", "null"]},
        "x": {"type": ["number", "null"]},
        "ok": {"type": ["boolean", "null"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "props": {"type": ["object", "null"], "additionalProperties": True},
        "tags": {"type": ["array", "null"]},
        "anything": {},
    }
}
KEYS = ["id"]


def _typed(*, raw_json: bool) -> TypedRecords:
    typed = TypedRecords(raw_json=raw_json)
    typed.add("s", SCHEMA, KEYS)
    return typed


def _line(record: Any, **envelope: Any) -> bytes:
    return json.dumps({"type": "RECORD", "stream": "s", "record": record, **envelope}).encode()


def _general(line: bytes) -> dict[str, Any] | None:
    """The general path's record, or None if it rejects the line."""
    message = msgspec.json.decode(line)
    try:
        RecordChecker("s", SCHEMA, KEYS).check(message["record"])
    except RecordError:
        return None
    return message["record"]  # type: ignore[no-any-return]


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with raw JSON values decoded, to compare with the general path."""
    return msgspec.json.decode(msgspec.json.encode(record))  # type: ignore[no-any-return]


USUAL = {
    "id": "a",
    "n": 3,
    "x": 1.5,
    "ok": True,
    "at": "2024-06-09T23:08:40Z",
    "props": {"$email": "a@example.com", "nested": {"k": [1, 2.5, None]}},
    "tags": ["x"],
    "anything": {"free": "form"},
}


@pytest.mark.parametrize("raw_json", [True, False])
def test_a_usual_record_takes_the_typed_path_and_matches_the_general_one(raw_json: bool) -> None:
    line = _line(USUAL, version=7, time_extracted="2024-06-10T00:00:00Z")
    typed = _typed(raw_json=raw_json).decode(line)
    assert typed is not None
    stream, record, version, extracted = typed
    assert (stream, version, extracted) == ("s", 7, "2024-06-10T00:00:00Z")
    assert isinstance(record["props"], msgspec.Raw) is raw_json
    assert isinstance(record["tags"], msgspec.Raw) is raw_json
    assert _plain(record) == _general(line) == USUAL


def test_missing_fields_stay_missing() -> None:
    line = _line({"id": "a", "n": None})
    typed = _typed(raw_json=True).decode(line)
    assert typed is not None
    assert typed[1] == {"id": "a", "n": None}


@pytest.mark.parametrize(
    "change",
    [
        {"n": 1.0},  # integral float: the general path accepts it, msgspec's int does not
        {"n": True},  # a boolean is not an integer
        {"n": "3"},
        {"x": "1.5"},
        {"ok": 1},
        {"at": "yesterday"},
        {"at": "2024-13-09T23:08:40"},
        {"at": 5},
        {"props": [1, 2]},
        {"props": "text"},
        {"props": 5},
        {"tags": {"a": 1}},
        {"id": None},
        {"id": 5},
        {"unknown": 1},  # a field the schema lacks
    ],
)
@pytest.mark.parametrize("raw_json", [True, False])
def test_anything_unusual_goes_to_the_general_path(change: dict[str, Any], raw_json: bool) -> None:
    line = _line({**USUAL, **change})
    typed = _typed(raw_json=raw_json).decode(line)
    general = _general(line)
    if typed is not None:  # accepted only if the general path accepts the same record
        assert general is not None and _plain(typed[1]) == general
    if "unknown" in change or change in ({"n": 1.0},):
        assert typed is None
    if general is None:
        assert typed is None


def test_a_record_without_its_key_goes_to_the_general_path() -> None:
    record = dict(USUAL)
    del record["id"]
    assert _typed(raw_json=True).decode(_line(record)) is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"type": "STATE", "value": {}}',
        b'{"type": "SCHEMA", "stream": "s", "schema": {}, "key_properties": []}',
        b'{"type": "RECORD", "stream": "other", "record": {"id": "a"}}',
        b'{"type": "RECORD", "record": {"id": "a"}}',
        b'{"type": "RECORD", "stream": "s", "record": {"id": "a"}, "version": "7"}',
        b'{"type": "RECORD", "stream": "s", "record": {"id": "a"}, "extra": 1}',
        b'{"type": "RECORD", "stream": "s", "record": [1]}',
        b"not json",
        b"",
    ],
)
def test_other_lines_go_to_the_general_path(line: bytes) -> None:
    assert _typed(raw_json=True).decode(line) is None


def test_a_new_schema_replaces_the_stream_types() -> None:
    typed = _typed(raw_json=True)
    typed.add("s", {"properties": {"id": {"type": "string"}, "n": {"type": "string"}}}, KEYS)
    assert typed.decode(_line({"id": "a", "n": 3})) is None
    accepted = typed.decode(_line({"id": "a", "n": "3"}))
    assert accepted is not None and accepted[1] == {"id": "a", "n": "3"}


def test_no_schema_no_typed_path() -> None:
    assert TypedRecords(raw_json=True).decode(_line(USUAL)) is None
