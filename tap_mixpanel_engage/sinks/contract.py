"""The sink contract: what a destination implements to receive records from the single writer.

The host (``target-mixpanel-duckdb`` or :func:`tap_mixpanel_engage.sync`) calls every method from
one thread only (:class:`~tap_mixpanel_engage.sinks.driver.SinkDriver`) and always calls
:meth:`Sink.close`, so a sink never has to think about threads.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import msgspec

from tap_mixpanel_engage.errors import SettingsError

Record = Mapping[str, Any]
"""One Singer record: JSON-ready values (date-times as RFC 3339 strings), keys as sent."""

VERSION_PROPERTY = "_sdc_table_version"
"""The record property (integer) holding the Singer table version a row was written with."""
DELETED_AT_PROPERTY = "_sdc_deleted_at"
"""The record property (date-time) set instead of deleting a row when ``hard_delete`` is off."""
VERSION_PROPERTIES: Mapping[str, Mapping[str, Any]] = {
    VERSION_PROPERTY: {"type": ["null", "integer"]},
    DELETED_AT_PROPERTY: {"type": ["null", "string"], "format": "date-time"},
}
"""The two properties a stream's schema carries when it may be versioned."""


def with_version_properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with :data:`VERSION_PROPERTIES` (a schema without properties as is)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return dict(schema)
    return {**schema, "properties": {**properties, **VERSION_PROPERTIES}}


class SinkConfigError(SettingsError, ValueError):
    """A sink setting is missing or invalid; the message names the setting (exit code 3)."""


class Sink(abc.ABC):
    """A destination for Singer streams, driven by one writer thread.

    Lifecycle: ``__init__(config)`` validates the sink's own settings (raise
    :class:`SinkConfigError` naming the setting), then any number of ``open_stream`` /
    ``write_batch`` calls, a ``commit`` after each batch, and exactly one ``close``.
    """

    name: ClassVar[str]
    """The name users choose with the ``sink`` setting, e.g. ``"duckdb"``."""

    description: ClassVar[str] = ""
    """One line shown by ``target-mixpanel-duckdb --list-sinks``."""

    settings: ClassVar[Sequence[Mapping[str, Any]]] = ()
    """The sink's own settings, shown by ``target-mixpanel-duckdb --about``: one mapping per
    setting with ``name``, ``type`` (a JSON type name), ``default`` and ``description``."""

    accepts_raw_json: ClassVar[bool] = False
    """True if a record value may be a :class:`msgspec.Raw`: JSON text exactly as the API sent it.

    :func:`tap_mixpanel_engage.sync` then leaves each profile's ``properties`` undecoded, and
    the sink must write it as the JSON value the text holds (a ``msgspec.json`` encoder does so
    by itself). Records from ``target-mixpanel-duckdb`` always hold plain Python values.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Keep and validate the sink's settings (the target's whole config is passed)."""
        self.config = config

    @abc.abstractmethod
    def open_stream(
        self, stream: str, schema: Mapping[str, Any], key_properties: Sequence[str]
    ) -> None:
        """Prepare to receive ``stream``; called on every SCHEMA, possibly with a wider schema.

        Args:
            stream: the Singer stream name (e.g. ``"engage"``).
            schema: the JSON schema of the stream's records.
            key_properties: the primary key; a later record with the same key replaces the row.
        """

    @abc.abstractmethod
    def write_batch(self, stream: str, records: Sequence[Record]) -> None:
        """Stage ``records`` (already checked against the stream's schema) for the next commit."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make everything staged since the last commit durable, all or nothing.

        The host writes a STATE message only after the commit that covers every record before it
        returns.
        """

    def activate_version(self, stream: str, version: int, *, hard_delete: bool) -> None:
        """Stage, for the next :meth:`commit`, the end of every older version of ``stream``.

        Rows whose :data:`VERSION_PROPERTY` is null or lower than ``version`` are deleted, or
        with ``hard_delete`` false get :data:`DELETED_AT_PROPERTY` set to the commit time (rows
        already marked keep their time). The host calls this after the last ``write_batch`` of
        a complete full-table sync and before the ``commit`` that covers both, so the new rows
        and the removal of the old ones land together; a sync that fails part-way never calls
        it. Streams that may be versioned carry both properties in their schema.

        The default raises :class:`NotImplementedError`: the host then keeps the old rows and
        says so once per stream.
        """
        raise NotImplementedError(f"the {self.name} sink does not apply ACTIVATE_VERSION")

    @abc.abstractmethod
    def close(self) -> None:
        """Release resources; anything staged but uncommitted is discarded. Called once."""


def json_type_names(prop_schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The JSON type names a property schema allows (empty: any type)."""
    declared = prop_schema.get("type")
    if isinstance(declared, str):
        return (declared,)
    if isinstance(declared, list):
        return tuple(t for t in declared if isinstance(t, str))
    return ()


def last_per_key(records: Sequence[Record], key_properties: Sequence[str]) -> list[Record]:
    """The last record of each key, in first-seen key order: a statement that upserts must not
    see one key twice (PostgreSQL's ``ON CONFLICT`` refuses it, DuckDB's replaces at random)."""
    if not key_properties:
        return list(records)
    return [records[i] for i in last_index_per_key(records, key_properties).values()]


def last_index_per_key(rows: Sequence[Any], keys: Sequence[Any]) -> dict[Any, int]:
    """Each key's value (``row[k]`` for every ``k`` in ``keys``: property names for records,
    column positions for tuples) mapped to the index of its last row, in first-seen key order."""
    if len(keys) == 1:
        (key,) = keys
        try:  # keys are nearly always strings or numbers: no per-row conversion call
            return {row[key]: i for i, row in enumerate(rows)}
        except TypeError:
            return {_hashable(row[key]): i for i, row in enumerate(rows)}
    return {tuple(_hashable(row[k]) for k in keys): i for i, row in enumerate(rows)}


def _hashable(value: Any) -> Any:
    """A dict key for a key value: JSON values by their sorted encoding."""
    if isinstance(value, dict | list):
        return msgspec.json.encode(value, order="sorted")
    if isinstance(value, msgspec.Raw):
        return bytes(value)
    return value
