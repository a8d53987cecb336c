"""RECORD lines decoded by type: a usual record is decoded and checked in one msgspec call.

The general path (:class:`~tap_mixpanel_engage.target.reader.MessageDecoder` then
:class:`~tap_mixpanel_engage.target.checks.RecordChecker`) builds every value as a Python object
and checks each top-level value in Python: about 10 µs for a profile, most of the target's time.
Here every stream with a SCHEMA also gets a msgspec ``Struct`` whose field types are the schema's
JSON types, and a RECORD line of a known stream decodes into it in one C call that checks the
types too. Whatever else a line holds (another message type, a field the schema lacks, a type it
does not allow, ``1.0`` for an integer, a bad date-time) sends it down the general path, which
accepts or rejects it with its own message: this path only ever accepts what that one accepts.

For a sink that :attr:`~tap_mixpanel_engage.sinks.Sink.accepts_raw_json`, object and array
columns stay JSON text (:class:`msgspec.Raw`): a profile's ``properties`` go from stdin to the
database without being built as Python objects.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import msgspec

from tap_mixpanel_engage.sinks.contract import json_type_names
from tap_mixpanel_engage.target.checks import is_datetime

_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": int | float,
    "boolean": bool,
    "null": None,
    "object": dict,
    "array": list,
}
_FIRST_BYTES = {"object": ord("{"), "array": ord("["), "null": ord("n")}
_UNSET = msgspec.UNSET
_to_builtins = msgspec.to_builtins
_RAW = (msgspec.Raw,)


class _Never(msgspec.Struct, tag_field="stream", tag="", forbid_unknown_fields=True):
    """Matches no line (its field is never sent): with it the union is never of one struct,
    and a union requires the ``stream`` tag where a lone tagged struct would not."""

    never: Literal["never"]


TypedRecord = tuple[str, dict[str, Any], int | None, Any]
"""A RECORD line that decoded by type and passed every check: stream, record, version, and
``time_extracted``."""


@dataclass(frozen=True)
class _Stream:
    keys: tuple[str, ...]
    datetimes: tuple[str, ...]
    raw: tuple[tuple[str, frozenset[int]], ...]
    """Raw JSON columns and the first bytes their text may have."""


def _field(prop_schema: Any, raw_json: bool) -> tuple[Any, frozenset[int] | None]:
    """The msgspec type of one property, and the first bytes allowed when it stays raw JSON."""
    names = json_type_names(prop_schema) if isinstance(prop_schema, Mapping) else ()
    if not names or not all(n in _TYPES for n in names):
        return Any, None
    if raw_json and set(names) <= {"object", "array", "null"} and set(names) - {"null"}:
        return msgspec.Raw, frozenset(_FIRST_BYTES[n] for n in names)
    return functools.reduce(operator.or_, (_TYPES[n] for n in names)), None


class TypedRecords:
    """The typed decoder of every stream with a SCHEMA; rebuilt when a SCHEMA arrives."""

    def __init__(self, *, raw_json: bool) -> None:
        self.raw_json = raw_json
        self._envelopes: dict[str, type[msgspec.Struct]] = {}
        self._streams: dict[type[msgspec.Struct], tuple[str, _Stream]] = {}
        self._decode: Any = None

    def add(self, stream: str, schema: Mapping[str, Any], keys: Sequence[str]) -> None:
        """Decode ``stream``'s RECORDs by the types of ``schema`` (its SCHEMA message's schema);
        a schema msgspec cannot express leaves the stream to the general path."""
        for envelope, (name, _) in list(self._streams.items()):
            if name == stream:
                del self._streams[envelope]
                self._envelopes.pop(name, None)
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or not stream:
            self._rebuild()
            return
        fields, datetimes, raw = [], [], []
        for name, prop_schema in properties.items():
            kind, first_bytes = _field(prop_schema, self.raw_json)
            fields.append((name, kind, _UNSET))
            if first_bytes is not None:
                raw.append((name, first_bytes))
            elif isinstance(prop_schema, Mapping) and prop_schema.get("format") == "date-time":
                datetimes.append(name)
        try:
            record = msgspec.defstruct("Record", fields, forbid_unknown_fields=True)
            envelope = msgspec.defstruct(
                "RecordMessage",
                [
                    ("type", Literal["RECORD"]),
                    ("record", record),
                    ("version", Any, None),
                    ("time_extracted", Any, None),
                ],
                tag_field="stream",
                tag=stream,
                forbid_unknown_fields=True,
            )
            msgspec.json.Decoder(envelope)
        except (TypeError, ValueError):  # a property name or type msgspec cannot take
            self._rebuild()
            return
        self._envelopes[stream] = envelope
        self._streams[envelope] = (stream, _Stream(tuple(keys), tuple(datetimes), tuple(raw)))
        self._rebuild()

    def _rebuild(self) -> None:
        kinds = tuple(self._envelopes.values())
        self._decode = (
            msgspec.json.Decoder(Union[(*kinds, _Never)]).decode  # a runtime tuple
            if kinds
            else None
        )

    def decode(self, line: bytes) -> TypedRecord | None:
        """The record on ``line`` if it is a RECORD of a known stream that passes every check;
        None to let the general path decode (and accept or reject) the line."""
        if self._decode is None:
            return None
        try:
            message = self._decode(line)
        except msgspec.DecodeError:
            return None
        stream, rules = self._streams[type(message)]
        version = message.version
        if version is not None and type(version) is not int:
            return None
        record = _to_builtins(message.record, builtin_types=_RAW)  # leaves out missing fields
        for key in rules.keys:
            if record.get(key) is None:
                return None
        for name in rules.datetimes:
            value = record.get(name)
            if type(value) is str and not is_datetime(value):
                return None
        for name, first_bytes in rules.raw:
            value = record.get(name)
            if value is not None and memoryview(value)[0] not in first_bytes:
                return None
        return stream, record, version, message.time_extracted
