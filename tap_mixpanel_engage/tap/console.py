"""The ``tap-mixpanel-engage`` command: page 0 is in flight while Python loads the Singer SDK.

Importing singer_sdk and building the tap takes about 0.35 s here, longer than an Engage query
takes to answer on a good day, and no page can be asked for before page 0 has answered. So for a
plain sync (``--config`` files, optional ``--state`` and ``--catalog``) this entry point reads
the files the SDK is about to read, works out the export's query the way the SDK will, and sends
page 0 from a background thread before importing the SDK at all.

The export is handed to the tap (``TapMixpanelEngage.head_start``), and the stream takes it over
only if it asks exactly the same query with the same settings and has no saved position to
resume; otherwise the head start is cancelled and logged. A wrong guess costs one query and
changes nothing else: no record is lost or sent twice, and every error is still reported by the
SDK's own reading of the files.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from tap_mixpanel_engage.engage.entities import DEFAULT_STREAMS
from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.plan import catalog_selection, check_selection, head_start_query
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.records import REPLICATION_KEY, STREAM
from tap_mixpanel_engage.engage.state import POSITION_KEY, Position, starting_value
from tap_mixpanel_engage.jsonfiles import read_json_object
from tap_mixpanel_engage.settings import EngageSettings

_FILE_OPTIONS = ("--config", "--state", "--catalog")


def predict(argv: Sequence[str]) -> tuple[EngageSettings, Query, bool] | None:
    """The settings, query and record mode (raw ``properties``: no stream maps, no flattening)
    a sync with these arguments will run; None when unsure.

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
            config.update(read_json_object(path, "--config"))
        state = read_json_object(files["--state"][0], "--state") if files["--state"] else {}
        catalog = (
            read_json_object(files["--catalog"][-1], "--catalog") if files["--catalog"] else None
        )
        settings = EngageSettings.from_config(config)
        check_selection(settings, catalog_selection(catalog, DEFAULT_STREAMS))
        since = _since(settings, state, catalog)
        query = head_start_query(settings, since)
    except Exception:  # unreadable, invalid or unusual input: the SDK will say what it is
        return None
    raw = not config.get("stream_maps") and not config.get("flattening_enabled")
    return None if query is None else (settings, query, raw)


class _Unsure(Exception):
    """The SDK may decide differently from this module."""


def _since(
    settings: EngageSettings, state: Mapping[str, Any], catalog: Mapping[str, Any] | None
) -> str | None:
    """Where the stream will start, by the rules it uses (``state.starting_value``), once the
    catalog is known to select ``engage`` with the usual replication key."""
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
    return None if full_table else starting_value(stream_state, settings.start_date)


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


def begin(argv: Sequence[str]) -> Export | None:
    """Send page 0 of the predicted export, if there is one; never raises."""
    try:
        prediction = predict(argv)
        if prediction is None:
            return None
        settings, query, raw = prediction
        export = Export(settings, query, raw_properties=raw)
        export.prefetch_first_page()
    except Exception:  # a head start is an optimisation: the SDK reports every real error
        return None
    return export


def main() -> None:
    """Console entry point: start page 0, then run the tap (which imports the SDK)."""
    export = begin(sys.argv[1:])
    from tap_mixpanel_engage.tap.tap import TapMixpanelEngage, run

    TapMixpanelEngage.head_start = export
    run()
