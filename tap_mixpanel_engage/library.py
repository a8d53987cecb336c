"""The in-process Python API: the same engine and sinks as the Singer tools, without the pipe.

State has the Singer shape (``{"bookmarks": {"engage": {...}}}``), so a state saved by the tap
can resume or continue through :func:`sync`, and the other way round.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.records import (
    KEY_PROPERTIES,
    REPLICATION_KEY,
    STREAM,
    engage_schema,
)
from tap_mixpanel_engage.engage.state import (
    POSITION_KEY,
    Position,
    finish_bookmark,
    starting_value,
)
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.settings import EngageSettings
from tap_mixpanel_engage.sinks.driver import SinkDriver, SinkError

DEFAULT_BATCH_ROWS = 10_000

OnPage = Callable[[PageProgress], None]
OnCommit = Callable[[Mapping[str, Any]], None]


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
    """One export's bookkeeping: the query from settings and state, and the evolving state.

    The bookmark follows the Singer SDK's rules for an unsorted stream
    (:mod:`tap_mixpanel_engage.engage.state`), so states move freely between the tap and this
    API: the newest ``last_seen`` handed out waits in ``progress_markers`` until the export
    completes, and is then promoted to ``replication_key_value``, capped at the run's start.
    """

    def __init__(
        self,
        settings: EngageSettings,
        state: Mapping[str, Any] | None,
        *,
        raw_properties: bool = False,
    ) -> None:
        self.settings = settings
        self.state = _unwrap_state(state)
        bookmarks = self.state.setdefault("bookmarks", {})
        if not isinstance(bookmarks, dict):
            raise SettingsError("`state` must look like {'bookmarks': {'engage': {...}}}")
        stream_state = bookmarks.setdefault(STREAM, {})
        if not isinstance(stream_state, dict):
            raise SettingsError("`state` must look like {'bookmarks': {'engage': {...}}}")
        self.stream_state: dict[str, Any] = stream_state
        self.since = starting_value(stream_state, settings.start_date)
        self.query = Query.for_settings(settings, self.since)
        self.resume = Position.from_dict(stream_state.get(POSITION_KEY))
        self.export = Export(
            settings, self.query, resume=self.resume, raw_properties=raw_properties
        )
        self.signpost = self.export.signpost
        """When the run that began the export started (carried in STATE across resumes)."""
        self.progress = self.export.progress
        markers = stream_state.get("progress_markers")
        self.max_seen: str | None = None
        if self.resume is not None and isinstance(markers, dict):
            value = markers.get("replication_key_value")
            self.max_seen = value if isinstance(value, str) else None

    def pages(self, on_page: OnPage | None) -> Generator[list[dict[str, Any]], None, None]:
        """Shaped records page by page; ``on_page`` is called here, on the caller's thread."""
        pages = self.export.pages()
        try:
            for page in pages:
                records = page.records
                newest = max(
                    (s for r in records if (s := r[REPLICATION_KEY]) is not None), default=None
                )
                if newest is not None and (self.max_seen is None or newest > self.max_seen):
                    self.max_seen = newest
                progress = self.progress.page_done(
                    page.number, self.export.pages_total, len(records)
                )
                if on_page is not None:
                    on_page(progress)
                yield records
        finally:
            pages.close()

    def checkpoint(self) -> dict[str, Any]:
        """Record the export's position (everything handed out so far is safe); a copy."""
        if self.export.position is not None:
            self.stream_state[POSITION_KEY] = self.export.position.to_dict()
        if self.max_seen is not None:
            self.stream_state["progress_markers"] = {
                "replication_key": REPLICATION_KEY,
                "replication_key_value": self.max_seen,
            }
        return copy.deepcopy(self.state)

    def finish(self) -> dict[str, Any]:
        """The export completed: promote the bookmark and forget the position; a copy."""
        finish_bookmark(self.stream_state, self.max_seen, self.signpost)
        return copy.deepcopy(self.state)


def iter_profiles(
    config: Mapping[str, Any],
    *,
    on_page: OnPage | None = None,
    state: Mapping[str, Any] | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Yield every profile record in page order, fetched by the tap's parallel engine.

    The records are exactly the tap's RECORD messages. Settings are checked when this is
    called, not at the first ``next()``; stopping early (``break``) cancels the fetches.

    Args:
        config: the tap's settings (``project_id``, ``username``, ``secret``, ...).
        on_page: called once per page, in order, on the calling thread.
        state: a saved state, to fetch only profiles seen since its bookmark.

    Raises:
        SettingsError: a setting or the state is invalid (raised by this call).
        AuthError, APIError: the API refused the query (raised while iterating).
    """
    run = _Run(EngageSettings.from_config(config), state)
    return _iter_records(run, on_page)


def _iter_records(run: _Run, on_page: OnPage | None) -> Generator[dict[str, Any], None, None]:
    pages = run.pages(on_page)
    try:
        for records in pages:
            yield from records
    finally:
        pages.close()


def sync(
    config: Mapping[str, Any],
    *,
    sink: str = "duckdb",
    sink_config: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    on_page: OnPage | None = None,
    batch_size_rows: int = DEFAULT_BATCH_ROWS,
    on_commit: OnCommit | None = None,
) -> SyncResult:
    """Fetch profiles and write them through a sink, all in this process.

    Records go straight from the export to the sink: no Singer messages, no JSON round trip,
    no per-record schema check (the records are built to the schema). Callbacks run on the
    calling thread; the sink runs on one writer thread, loading a batch while the next one is
    fetched. Each batch is committed before ``on_commit`` sees a state past it, so a saved state
    resumes without loss. Python's cyclic garbage collector is paused during the call (and
    restored after it), as in ``target-mixpanel-duckdb``.

    Args:
        config: the tap's settings.
        sink: a registered sink name (see ``mixpanel-engage sinks``).
        sink_config: the sink's own settings, e.g. ``{"path": "profiles.duckdb"}``.
        state: the ``state`` of an earlier result (or a Singer STATE value) to resume or continue.
        on_page: called once per page, in order, on the calling thread.
        batch_size_rows: records per commit (pages are never split; at least one page).
        on_commit: called with a copy of the state after every commit; save it to resume a run
            that fails or is interrupted later.

    Raises:
        SettingsError: a tap setting, the state or ``batch_size_rows`` is invalid.
        SinkConfigError: the sink is unknown (``UnknownSinkError``) or a sink setting is bad.
        AuthError, APIError: the API refused the query; the batches committed before stay.
    """
    from tap_mixpanel_engage.sinks.registry import get_sink_class

    started = time.monotonic()
    if isinstance(batch_size_rows, bool) or not isinstance(batch_size_rows, int):
        raise SettingsError(f"`batch_size_rows` must be a whole number, got {batch_size_rows!r}")
    if batch_size_rows < 1:
        raise SettingsError(f"`batch_size_rows` must be positive, got {batch_size_rows}")
    sink_class = get_sink_class(sink)
    # A sink that writes JSON text through gets ``properties`` undecoded (records.shape_page).
    run = _Run(
        EngageSettings.from_config(config), state, raw_properties=sink_class.accepts_raw_json
    )
    # The driver runs on_commit on its writer thread; the states wait here for the calling thread.
    committed: deque[Mapping[str, Any]] = deque()
    driver = SinkDriver(sink_class(dict(sink_config or {})), committed.append)

    def report_commits() -> None:
        while committed:
            state = committed.popleft()
            if on_commit is not None:
                on_commit(state)

    pages = run.pages(on_page)
    gc_was_enabled = gc.isenabled()
    # Pages and records hold no reference cycles, yet every collection rescans the batches
    # alive: about a fifth of the CPU. Like target-mixpanel-duckdb, collect nothing meanwhile.
    gc.disable()
    try:
        driver.open_stream(STREAM, engage_schema(), list(KEY_PROPERTIES), STREAM)
        batch: list[dict[str, Any]] = []
        for records in pages:
            batch.extend(records)
            if len(batch) >= batch_size_rows:
                driver.submit([(STREAM, batch)], run.checkpoint())
                batch = []
            report_commits()
        driver.submit([(STREAM, batch)], run.finish())
        driver.drain()
        report_commits()
    except SinkError as exc:
        driver.settle()
        report_commits()
        raise exc.__cause__ or exc from None  # the sink's own exception, as documented
    except BaseException:
        driver.settle()
        report_commits()
        raise
    finally:
        try:
            pages.close()
        finally:
            with contextlib.suppress(SinkError):
                driver.close()
            if gc_was_enabled:
                gc.enable()
    duration = time.monotonic() - started
    stats = run.export.stats
    return SyncResult(
        records_written=driver.written,
        pages_fetched=run.progress.pages,
        pages_per_second=run.progress.pages / duration if duration > 0 else 0.0,
        duration=duration,
        retries=stats.retries,
        rate_limit_wait_seconds=stats.rate_limit_wait_seconds,
        session_restarted=stats.session_restarts > 0,
        state=copy.deepcopy(run.state),
    )


def _unwrap_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
    """A private copy of ``state``; a Singer STATE message or a Meltano state is unwrapped."""
    if state is None:
        return {}
    if not isinstance(state, Mapping):
        raise SettingsError("`state` must be a mapping like {'bookmarks': {'engage': {...}}}")
    if "bookmarks" not in state:
        if state.get("type") == "STATE" and isinstance(state.get("value"), Mapping):
            state = state["value"]
        elif isinstance(state.get("singer_state"), Mapping):
            state = state["singer_state"]
    return copy.deepcopy(dict(state))
