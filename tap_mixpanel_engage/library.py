"""The in-process Python API: the same engine and sinks as the Singer tools, without the pipe.

State has the Singer shape (``{"bookmarks": {"engage": {...}, "group_profiles": {...}}}``), so
a state saved by the tap can resume or continue through :func:`sync`, and the other way round.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_mixpanel_engage.engage.entities import DEFAULT_STREAMS
from tap_mixpanel_engage.engage.plan import check_selection
from tap_mixpanel_engage.engage.progress import PageProgress
from tap_mixpanel_engage.engage.records import CHUNK_RECORDS, STREAM, chunks
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.runs import RunContext, StreamRun, stream_names
from tap_mixpanel_engage.settings import EngageSettings
from tap_mixpanel_engage.sinks.contract import (
    VERSION_PROPERTY,
    SinkConfigError,
    with_version_properties,
)
from tap_mixpanel_engage.sinks.driver import NO_STATE, Activation, SinkDriver, SinkError

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
    records_by_stream: Mapping[str, int] = field(default_factory=dict)
    """Records written per stream, for the streams synced."""

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
            "records_by_stream": dict(self.records_by_stream),
            "state": self.state,
        }


def iter_profiles(
    config: Mapping[str, Any],
    *,
    stream: str = STREAM,
    on_page: OnPage | None = None,
    state: Mapping[str, Any] | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Yield every record of one stream in page order, fetched by the tap's parallel engine.

    The records are exactly the tap's RECORD messages. Settings are checked when this is
    called, not at the first ``next()``; stopping early (``break``) cancels the fetches.

    Args:
        config: the tap's settings (``project_id``, ``username``, ``secret``, ...).
        stream: ``engage`` (default), ``group_profiles``, ``cohorts`` or ``cohort_members``.
        on_page: called once per page, in order, on the calling thread.
        state: a saved state, to fetch only profiles seen since its bookmark.

    Raises:
        SettingsError: a setting, the stream or the state is invalid (raised by this call).
        AuthError, APIError: the API refused the query (raised while iterating).
    """
    settings = EngageSettings.from_config(config)
    if not isinstance(stream, str):
        raise SettingsError(f"`stream` must be one stream name, got {stream!r}")
    names = stream_names([stream])
    check_selection(settings, names)
    run = StreamRun(RunContext(settings, _unwrap_state(state), raw_properties=False), stream)
    return _iter_records(run, on_page)


def _iter_records(run: StreamRun, on_page: OnPage | None) -> Generator[dict[str, Any], None, None]:
    pages = run.pages(on_page)
    try:
        for records in pages:
            yield from records
    finally:
        pages.close()


def sync(
    config: Mapping[str, Any],
    *,
    streams: Sequence[str] = DEFAULT_STREAMS,
    sink: str = "duckdb",
    sink_config: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    on_page: OnPage | None = None,
    batch_size_rows: int = DEFAULT_BATCH_ROWS,
    on_commit: OnCommit | None = None,
) -> SyncResult:
    """Fetch the streams and write them through a sink, all in this process.

    Records go straight from the export to the sink: no Singer messages, no JSON round trip,
    no per-record schema check (the records are built to the schema). Callbacks run on the
    calling thread; the sink runs on one writer thread, loading a batch while the next one is
    fetched. Each batch is committed before ``on_commit`` sees a state past it, so a saved state
    resumes without loss. A full sync of a stream ends by removing the rows the source no longer
    has, in the commit of its last batch (``hard_delete: false`` in ``sink_config`` marks them
    with ``_sdc_deleted_at`` instead). Python's cyclic garbage collector is paused during the
    call (and restored after it), as in ``target-mixpanel-duckdb``.

    Args:
        config: the tap's settings.
        streams: which streams, from ``engage``, ``group_profiles``, ``cohorts`` and
            ``cohort_members`` (default: ``engage`` and ``group_profiles``, as the tap).
        sink: a registered sink name (see ``mixpanel-engage sinks``).
        sink_config: the sink's own settings, e.g. ``{"path": "profiles.duckdb"}``.
        state: the ``state`` of an earlier result (or a Singer STATE value) to resume or continue.
        on_page: called once per page, in order, on the calling thread.
        batch_size_rows: records per commit (pages are never split; at least one page).
        on_commit: called with a copy of the state after every commit; save it to resume a run
            that fails or is interrupted later.

    Raises:
        SettingsError: a tap setting, a stream, the state or ``batch_size_rows`` is invalid.
        SinkConfigError: the sink is unknown (``UnknownSinkError``) or a sink setting is bad.
        AuthError, APIError: the API refused the query; the batches committed before stay.
    """
    from tap_mixpanel_engage.sinks.registry import get_sink_class

    started = time.monotonic()
    if isinstance(batch_size_rows, bool) or not isinstance(batch_size_rows, int):
        raise SettingsError(f"`batch_size_rows` must be a whole number, got {batch_size_rows!r}")
    if batch_size_rows < 1:
        raise SettingsError(f"`batch_size_rows` must be positive, got {batch_size_rows}")
    settings = EngageSettings.from_config(config)
    names = stream_names(streams)
    check_selection(settings, names)
    sink_settings = dict(sink_config or {})
    hard_delete = sink_settings.get("hard_delete", True)
    if not isinstance(hard_delete, bool):
        raise SinkConfigError("hard_delete: must be true or false")
    sink_class = get_sink_class(sink)
    # A sink that writes JSON text through gets ``properties`` undecoded (records.shape_page).
    context = RunContext(settings, _unwrap_state(state), raw_properties=sink_class.accepts_raw_json)
    runs = [StreamRun(context, name) for name in names]
    # The driver runs on_commit on its writer thread; the states wait here for the calling thread.
    committed: deque[Mapping[str, Any]] = deque()
    driver = SinkDriver(sink_class(sink_settings), committed.append)
    written: dict[str, int] = {}

    reported: list[Mapping[str, Any]] = []

    def report_commits() -> None:
        while committed:
            state = committed.popleft()
            if on_commit is not None and (not reported or state != reported[-1]):
                on_commit(state)  # the same state twice (a stream with nothing to do) only once
                reported[:] = [state]

    gc_was_enabled = gc.isenabled()
    # Pages and records hold no reference cycles, yet every collection rescans the batches
    # alive: about a fifth of the CPU. Like target-mixpanel-duckdb, collect nothing meanwhile.
    gc.disable()
    try:
        for run in runs:
            before = driver.written
            _sync_stream(run, driver, batch_size_rows, hard_delete, on_page, report_commits)
            driver.drain()
            written[run.name] = driver.written - before
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
        with contextlib.suppress(SinkError):
            driver.close()
        if gc_was_enabled:
            gc.enable()
    duration = time.monotonic() - started
    return SyncResult(
        records_written=driver.written,
        pages_fetched=context.pages,
        pages_per_second=context.pages / duration if duration > 0 else 0.0,
        duration=duration,
        retries=sum(s.retries for s in context.stats),
        rate_limit_wait_seconds=sum(s.rate_limit_wait_seconds for s in context.stats),
        session_restarted=any(s.session_restarts > 0 for s in context.stats),
        state=copy.deepcopy(context.state),
        records_by_stream=written,
    )


def _sync_stream(
    run: StreamRun,
    driver: SinkDriver,
    batch_size_rows: int,
    hard_delete: bool,
    on_page: OnPage | None,
    report_commits: Callable[[], None],
) -> None:
    """One stream into the sink: its batches, then its last batch with its activation."""
    driver.open_stream(
        run.name, with_version_properties(run.schema), list(run.key_properties), run.name
    )
    state = run.context.state
    batch: list[dict[str, Any]] = []
    pages = run.pages(on_page)
    try:
        for records in pages:
            left = len(records)
            for chunk in chunks(records, CHUNK_RECORDS):  # a big page is never whole in memory
                left -= len(chunk)
                run.see(chunk)
                if run.version is not None:
                    for record in chunk:
                        record[VERSION_PROPERTY] = run.version
                batch.extend(chunk)
                if left and len(batch) >= batch_size_rows:
                    # Mid-page: the records commit, the state waits for the page's end.
                    driver.submit([(run.name, batch)], NO_STATE)
                    batch = []
            if len(batch) >= batch_size_rows:
                run.checkpoint()
                driver.submit([(run.name, batch)], copy.deepcopy(state))
                batch = []
            report_commits()
    finally:
        pages.close()
    version = run.finish()
    activations = [] if version is None else [Activation(run.name, version, hard_delete)]
    driver.submit([(run.name, batch)], copy.deepcopy(state), activations=activations)


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
    state = copy.deepcopy(dict(state))
    if not isinstance(state.setdefault("bookmarks", {}), dict):
        raise SettingsError("`state` must look like {'bookmarks': {'engage': {...}}}")
    return state
