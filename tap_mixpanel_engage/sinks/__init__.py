"""Everything a sink plugin needs, in one import: ``from tap_mixpanel_engage import sinks``.

A plugin subclasses :class:`Sink` (or :class:`DirectorySink` for a sink that writes files),
implements the :func:`register_sinks` hook with :data:`hookimpl`, and declares an entry point in
the ``tap_mixpanel_engage`` group; ``docs/writing-a-sink-plugin.md`` walks through one.
"""

from __future__ import annotations

from tap_mixpanel_engage.sinks.columns import Column, ColumnTypes, allocate, fold, widenings
from tap_mixpanel_engage.sinks.contract import (
    DELETED_AT_PROPERTY,
    VERSION_PROPERTIES,
    VERSION_PROPERTY,
    Record,
    Sink,
    SinkConfigError,
    json_type_names,
    last_index_per_key,
    last_per_key,
    with_version_properties,
)
from tap_mixpanel_engage.sinks.files import (
    DirectorySink,
    check_stream_name,
    fsync_directory,
    output_directory,
)
from tap_mixpanel_engage.sinks.hookspecs import PROJECT_NAME, RegisterSink, hookimpl

__all__ = [
    "DELETED_AT_PROPERTY",
    "PROJECT_NAME",
    "VERSION_PROPERTIES",
    "VERSION_PROPERTY",
    "Column",
    "ColumnTypes",
    "DirectorySink",
    "Record",
    "RegisterSink",
    "Sink",
    "SinkConfigError",
    "allocate",
    "check_stream_name",
    "fold",
    "fsync_directory",
    "hookimpl",
    "json_type_names",
    "last_index_per_key",
    "last_per_key",
    "output_directory",
    "widenings",
    "with_version_properties",
]
