"""Helpers for sinks that write files: the output directory, stream file names, durable renames.

The jsonl and parquet plugins use them (and :class:`DirectorySink`, which holds their shared
``path`` setting); a plugin of your own that writes files can too, through
``from tap_mixpanel_engage import sinks``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from tap_mixpanel_engage.sinks.contract import Sink, SinkConfigError


def output_directory(config: Mapping[str, Any], sink: str) -> Path:
    """Return ``config["path"]`` as an existing directory we may create files in.

    Raises:
        SinkConfigError: ``path`` is missing, empty, or not a writable directory.
    """
    raw = config.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise SinkConfigError(f"{sink} sink: setting 'path' (output directory) is required")
    directory = Path(raw).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise SinkConfigError(
            f"{sink} sink: setting 'path' ({raw!r}) is not a writable directory: {exc}"
        ) from exc
    return directory


def check_stream_name(stream: str) -> None:
    """Refuse stream names that would escape the directory or hide among temp files."""
    if not stream or stream.startswith(".") or any(c in stream for c in "/\\\0"):
        raise ValueError(f"stream name {stream!r} cannot be used as a file name")


def fsync_directory(directory: Path) -> None:
    """Make renames durable: on POSIX a rename lives in the directory's metadata."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectorySink(Sink):
    """A sink that writes one file per stream into the directory named by the ``path`` setting."""

    settings: ClassVar[Sequence[Mapping[str, Any]]] = (
        {
            "name": "path",
            "type": "string",
            "default": None,
            "description": "Output directory (created if missing), one file per stream.",
        },
    )
    """The sink's own settings, described the way the duckdb sink describes its own."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Check that ``path`` names a directory we can create files in (created if missing).

        Raises:
            SinkConfigError: ``path`` is missing, empty, or not a writable directory.
        """
        super().__init__(config)
        self.directory = output_directory(config, self.name)
