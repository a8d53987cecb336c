"""The ``tap-mixpanel-engage`` command: page 0 is in flight while Python loads the Singer SDK.

Importing singer_sdk and building the tap takes about 0.35 s here, longer than an Engage query
takes to answer on a good day, and no page can be asked for before page 0 has answered. So for a
plain sync (``--config`` files, optional ``--state`` and ``--catalog``) this entry point reads
the files the SDK is about to read, works out the export's query the way the SDK will, and sends
page 0 from a background thread before importing the SDK at all.

The stream takes that export over only if it asks exactly the same query with the same
settings and has no saved position to resume (:func:`claim`); otherwise the head start is
cancelled and logged. A wrong guess costs one query and changes nothing else: no record is lost
or sent twice, and every error is still reported by the SDK's own reading of the files.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tap_mixpanel_engage.export import Export
from tap_mixpanel_engage.query import POSITION_KEY, Position, Query
from tap_mixpanel_engage.records import REPLICATION_KEY, STREAM
from tap_mixpanel_engage.settings import EngageSettings

logger = logging.getLogger("tap-mixpanel-engage")

_FILE_OPTIONS = ("--config", "--state", "--catalog")
_pending: Export | None = None


def predict(argv: Sequence[str]) -> tuple[EngageSettings, Query] | None:
    """The settings and query a sync with these arguments will run; None when unsure.

    None for anything but a sync from config files (``--discover``, ``--test``, ``--about``,
    ``--config ENV``, unknown options), unreadable files, invalid settings, a saved position to
    resume, an ``engage`` stream the catalog does not select, or a replication key other than
    ``last_seen``.
    """
    files: dict[str, list[str]] = {option: [] for option in _FILE_OPTIONS}
    args = list(argv)
    while args:
        arg = args.pop(0)
        option, eq, value = arg.partition("=")
        if option not in _FILE_OPTIONS:
            return None
        if not eq:
            if not args:
                return None
            value = args.pop(0)
        files[option].append(value)
    if not files["--config"] or "ENV" in files["--config"] or len(files["--state"]) > 1:
        return None
    try:
        config: dict[str, Any] = {}
        for path in files["--config"]:
            config.update(_read_object(path))
        state = _read_object(files["--state"][0]) if files["--state"] else {}
        catalog = _read_object(files["--catalog"][-1]) if files["--catalog"] else None
        settings = EngageSettings.from_config(config)
        since = _since(config, state, catalog)
    except Exception:  # unreadable, invalid or unusual input: the SDK will say what it is
        return None
    return settings, Query.for_settings(settings, since)


class _Unsure(Exception):
    """The SDK may decide differently from this module."""


def _read_object(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    if not isinstance(data, dict):
        raise _Unsure
    return data


def _since(
    config: Mapping[str, Any], state: Mapping[str, Any], catalog: Mapping[str, Any] | None
) -> str | None:
    """The SDK's starting replication value for ``engage`` (``write_starting_replication_value``
    in singer-sdk 0.54): the bookmark if its key matches, the later of it and ``start_date``."""
    replication_key: Any = REPLICATION_KEY
    full_table = False
    if catalog is not None:
        entry, root = _catalog_entry(catalog)
        replication_key = entry.get("replication_key") or root.get("replication-key")
        replication_key = replication_key or REPLICATION_KEY
        method = entry.get("replication_method") or root.get("forced-replication-method")
        full_table = method == "FULL_TABLE"
    if replication_key != REPLICATION_KEY:
        raise _Unsure
    stream_state = state.get("bookmarks", {}).get(STREAM, {})
    if not isinstance(stream_state, dict):
        raise _Unsure
    if Position.from_dict(stream_state.get(POSITION_KEY)) is not None:
        raise _Unsure  # a resume starts from the saved page, not page 0
    if full_table:
        return None
    value = stream_state.get("replication_key_value")
    if not value or stream_state.get("replication_key") != REPLICATION_KEY:
        value = None
    start_date = config.get("start_date")
    if start_date:
        value = start_date if not value else max(value, start_date, key=_parse)
    return value if isinstance(value, str) or value is None else str(value)


def _catalog_entry(catalog: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``engage`` entry and its stream-level metadata, if the catalog selects it."""
    for entry in catalog.get("streams", []):
        if isinstance(entry, dict) and entry.get("tap_stream_id", entry.get("stream")) == STREAM:
            root: dict[str, Any] = next(
                (m.get("metadata", {}) for m in entry.get("metadata", []) if not m["breadcrumb"]),
                {},
            )
            selected = root.get("selected")
            if selected is None:
                selected = root.get("selected-by-default")
            if selected is not True and root.get("inclusion") != "automatic":
                raise _Unsure
            return entry, root
    raise _Unsure


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def begin(argv: Sequence[str]) -> None:
    """Send page 0 of the predicted export, if there is one; never raises."""
    global _pending
    try:
        prediction = predict(argv)
        if prediction is not None:
            export = Export(*prediction)
            export.prefetch_first_page()
            _pending = export
    except Exception:  # a head start is an optimisation: the SDK reports every real error
        _pending = None


def claim(settings: EngageSettings, query: Query, resume: Position | None) -> Export | None:
    """The export with page 0 already asked for, if it is this one; else cancel it."""
    global _pending
    export, _pending = _pending, None
    if export is None:
        return None
    if resume is None and export.settings == settings and export.query == query:
        logger.info("page 0 was sent while the tap started (head start)")
        return export
    export.close()
    logger.info("page 0 was asked for early with another query; that answer is discarded")
    return None


def main() -> None:
    """Console entry point: start page 0, then run the tap (which imports the SDK)."""
    begin(sys.argv[1:])
    from tap_mixpanel_engage.tap import main as run_tap

    run_tap()
