"""The in-process Python API: the same engine and sinks as the Singer tools, without the pipe.

State has the Singer shape (``{"bookmarks": {"engage": {...}}}``), so a state saved by the tap
can resume or continue through :func:`sync`, and the other way round.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.export import Export, Position, Query
from tap_mixpanel_engage.progress import PageProgress, ProgressLog
from tap_mixpanel_engage.records import (
    KEY_PROPERTIES,
    REPLICATION_KEY,
    engage_schema,
    shape_profile,
)
from tap_mixpanel_engage.settings import EngageSettings
from tap_mixpanel_engage.sink import Sink

STREAM = "engage"
POSITION_KEY = "engage_position"
DEFAULT_BATCH_ROWS = 10_000

OnPage = Callable[[PageProgress], None]


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync` did."""

    records_written: int
    pages_fetched: int
    pages_per_second: float
    duration: float
    retries: int
    rate_limit_wait_seconds: float
    session_restarted: bool
    state: Mapping[str, Any]
    """Pass back as ``state=`` to continue incrementally (or to resume an interrupted run)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``mixpanel-engage sync`` command prints it)."""
        return {
            "records_written": self.records_written,
            "pages_fetched": self.pages_fetched,
            "pages_per_second": round(self.pages_per_second, 3),
            "duration": round(self.duration, 3),
            "retries": self.retries,
            "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 3),
            "session_restarted": self.session_restarted,
            "state": self.state,
        }


class _Run:
    """One export's bookkeeping: the query from settings and state, and the evolving state."""

    def __init__(self, config: Mapping[str, Any], state: Mapping[str, Any] | None) -> None:
        self.settings = EngageSettings.from_config(config)
        self.state: dict[str, Any] = copy.deepcopy(dict(state or {}))
        bookmarks = self.state.setdefault("bookmarks", {})
        if not isinstance(bookmarks, dict):
            raise SettingsError("`state` must look like {'bookmarks': {'engage': {...}}}")
        self.stream_state: dict[str, Any] = bookmarks.setdefault(STREAM, {})
        bookmark = self.stream_state.get("replication_key_value")
        since = max(filter(None, [bookmark, self.settings.start_date]), default=None)
        self.query = Query.for_settings(self.settings, since)
        resume = Position.from_dict(self.stream_state.get(POSITION_KEY))
        self.export = Export(self.settings, self.query, resume=resume)
        self.progress = ProgressLog(self.export.stats)
        markers = self.stream_state.get("progress_markers") or {}
        self.max_seen: str | None = markers.get("replication_key_value") if resume else None

    def pages(self, on_page: OnPage | None) -> Iterator[list[dict[str, Any]]]:
        """Shaped records page by page; ``on_page`` is called here, on the caller's thread."""
        pages = self.export.pages()
        try:
            for page in pages:
                records = [shape_profile(r) for r in page.results]
                for record in records:
                    seen = record[REPLICATION_KEY]
                    if seen is not None and (self.max_seen is None or seen > self.max_seen):
                        self.max_seen = seen
                progress = self.progress.page_done(page.index, page.pages, len(records))
                if on_page is not None:
                    on_page(progress)
                yield records
        finally:
            pages.close()

    def checkpoint(self) -> None:
        """Record the export's position: everything handed out so far is safe."""
        if self.export.position is not None:
            self.stream_state[POSITION_KEY] = self.export.position.to_dict()
        if self.max_seen is not None:
            self.stream_state["progress_markers"] = {
                "replication_key": REPLICATION_KEY,
                "replication_key_value": self.max_seen,
            }

    def finish(self) -> None:
        """The export completed: promote the bookmark and forget the position."""
        self.stream_state.pop(POSITION_KEY, None)
        self.stream_state.pop("progress_markers", None)
        old = self.stream_state.get("replication_key_value")
        newest = max(filter(None, [old, self.max_seen]), default=None)
        if newest is not None:
            self.stream_state["replication_key"] = REPLICATION_KEY
            self.stream_state["replication_key_value"] = newest


def iter_profiles(
    config: Mapping[str, Any],
    *,
    on_page: OnPage | None = None,
    state: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield every profile record in page order, fetched by the tap's parallel engine.

    Args:
        config: the tap's settings (``project_id``, ``username``, ``secret``, ...).
        on_page: called once per page, in order, on the calling thread.
        state: a saved state, to fetch only profiles seen since its bookmark.

    Raises:
        SettingsError: a setting is invalid (raised before any request).
        AuthError, APIError: the API refused the query.
    """
    run = _Run(config, state)
    for records in run.pages(on_page):
        yield from records


def sync(
    config: Mapping[str, Any],
    *,
    sink: str = "duckdb",
    sink_config: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    on_page: OnPage | None = None,
    batch_size_rows: int = DEFAULT_BATCH_ROWS,
    on_commit: Callable[[Mapping[str, Any]], None] | None = None,
) -> SyncResult:
    """Fetch profiles and write them through a sink in this process, on the calling thread.

    Each batch is committed before the state moves past it, so ``result.state`` (or the state
    of an interrupted run, rebuilt from the last commit) resumes without loss.

    Args:
        config: the tap's settings.
        sink: a registered sink name (see ``mixpanel-engage sinks``).
        sink_config: the sink's own settings, e.g. ``{"path": "profiles.duckdb"}``.
        state: the ``state`` of an earlier result (or a Singer STATE value) to resume or continue.
        on_page: called once per page, in order, on the calling thread.
        batch_size_rows: records per commit (pages are never split).
        on_commit: called with the state after every commit; save it to resume a run that
            fails or is interrupted later.
    """
    from tap_mixpanel_engage.plugins import get_sink_class

    started = time.monotonic()
    run = _Run(config, state)
    sink_class = get_sink_class(sink)
    writer = sink_class(dict(sink_config or {}))
    written = 0
    try:
        writer.open_stream(STREAM, engage_schema(), list(KEY_PROPERTIES))
        batch: list[dict[str, Any]] = []
        for records in run.pages(on_page):
            batch.extend(records)
            if len(batch) >= batch_size_rows:
                written += _commit(writer, batch)
                run.checkpoint()
                if on_commit is not None:
                    on_commit(run.state)
                batch = []
        written += _commit(writer, batch)
        run.finish()
        if on_commit is not None:
            on_commit(run.state)
    finally:
        writer.close()
    duration = time.monotonic() - started
    stats = run.export.stats
    return SyncResult(
        records_written=written,
        pages_fetched=run.progress.pages,
        pages_per_second=run.progress.pages / duration if duration > 0 else 0.0,
        duration=duration,
        retries=stats.retries,
        rate_limit_wait_seconds=stats.rate_limit_wait_seconds,
        session_restarted=stats.session_restarts > 0,
        state=run.state,
    )


def _commit(writer: Sink, batch: list[dict[str, Any]]) -> int:
    if batch:
        writer.write_batch(STREAM, batch)
    writer.commit()
    return len(batch)
