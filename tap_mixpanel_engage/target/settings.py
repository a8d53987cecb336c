"""The target's own settings, declared once: ``--about``, meltano.yml and the checks read them here.

The sink checks the rest of the config itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_mixpanel_engage.sinks.contract import SinkConfigError
from tap_mixpanel_engage.target.versions import HARD_DELETE_SETTING

METADATA_PROPERTIES: dict[str, Any] = {
    name: {"type": ["null", "string"], "format": "date-time"}
    for name in ("_sdc_extracted_at", "_sdc_received_at", "_sdc_batched_at")
}
SETTINGS: tuple[dict[str, Any], ...] = (
    {
        "name": "sink",
        "type": "string",
        "default": "duckdb",
        "description": "Which installed sink writes the data (see --list-sinks).",
    },
    {
        "name": "add_metadata_columns",
        "type": "boolean",
        "default": False,
        "description": "Add _sdc_extracted_at, _sdc_received_at and _sdc_batched_at columns.",
    },
    {
        "name": "batch_size_rows",
        "type": "integer",
        "default": 10_000,
        "description": "Records per commit; a STATE waits for the commit covering it.",
    },
    {
        "name": "batch_wait_limit_seconds",
        "type": "number",
        "default": 1.0,
        "description": "Commit when the oldest record held has waited this long, full or not.",
    },
    HARD_DELETE_SETTING,
)


_DEFAULTS: dict[str, Any] = {setting["name"]: setting["default"] for setting in SETTINGS}


@dataclass(frozen=True)
class TargetSettings:
    """The target's own settings (declared in :data:`SETTINGS`); the sink checks the rest."""

    sink: str
    add_metadata_columns: bool
    batch_size_rows: int
    batch_wait_limit_seconds: float
    hard_delete: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TargetSettings:
        """Read and check the settings; :class:`SinkConfigError` names a bad one."""
        sink = config.get("sink", _DEFAULTS["sink"])
        if not isinstance(sink, str) or not sink:
            raise SinkConfigError("sink: must be a sink name such as 'duckdb'")
        metadata = config.get("add_metadata_columns", _DEFAULTS["add_metadata_columns"])
        if not isinstance(metadata, bool):
            raise SinkConfigError("add_metadata_columns: must be true or false")
        size = config.get("batch_size_rows", _DEFAULTS["batch_size_rows"])
        if type(size) is not int or size < 1:
            raise SinkConfigError("batch_size_rows: must be a positive integer")
        wait = config.get("batch_wait_limit_seconds", _DEFAULTS["batch_wait_limit_seconds"])
        if type(wait) not in (int, float) or not 0 < wait < math.inf:
            raise SinkConfigError("batch_wait_limit_seconds: must be a positive number")
        hard_delete = config.get("hard_delete", _DEFAULTS["hard_delete"])
        if not isinstance(hard_delete, bool):
            raise SinkConfigError("hard_delete: must be true or false")
        return cls(sink, metadata, size, float(wait), hard_delete)
