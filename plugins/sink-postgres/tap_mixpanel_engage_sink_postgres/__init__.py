"""PostgreSQL sink for target-mixpanel-duckdb and ``sync()``: many pipelines into one database.

``{"sink": "postgres", "dsn": "host=db dbname=warehouse", "schema": "mixpanel"}`` writes each
stream to ``mixpanel.<stream>``; see :mod:`tap_mixpanel_engage_sink_postgres.sink` and the
package README.
"""

from __future__ import annotations

from tap_mixpanel_engage import sinks
from tap_mixpanel_engage_sink_postgres.connection import PostgresSettings
from tap_mixpanel_engage_sink_postgres.loading import UnstorableRecord
from tap_mixpanel_engage_sink_postgres.sink import PostgresError, PostgresSink

__all__ = [
    "PostgresError",
    "PostgresSettings",
    "PostgresSink",
    "UnstorableRecord",
    "register_sinks",
]


@sinks.hookimpl
def register_sinks(register: sinks.RegisterSink) -> None:
    """Offer :class:`PostgresSink` under the name ``postgres``."""
    register(PostgresSink)
