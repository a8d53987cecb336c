"""What every stream of this tap shares: table versions for full syncs, and exports in page order.

:class:`VersionedStream` emits ``ACTIVATE_VERSION`` only at the **end** of a complete full sync
(:mod:`tap_mixpanel_engage.engage.versions`); the SDK's own option would emit it at the start,
before the new rows exist, and is switched off. :class:`ExportStream` drives
:class:`~tap_mixpanel_engage.engage.export.Export` for one or more queries, checkpointing the
position in the stream (or partition) state after every page. Only the main thread touches the
stream's state and writes messages; worker threads only send requests and shape records.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from singer_sdk import Tap
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_mixpanel_engage.engage.client import Shaper
from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.pacing import HourlyBudget
from tap_mixpanel_engage.engage.plan import resume_index
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.state import POSITION_KEY, Position, starting_value
from tap_mixpanel_engage.engage.versions import begin_version, finish_version
from tap_mixpanel_engage.settings import EngageSettings
from tap_mixpanel_engage.tap.record_lines import RecordLines

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class EngageHost(Protocol):
    """What the streams need from their tap besides the SDK's own."""

    @property
    def engage_settings(self) -> EngageSettings: ...

    @property
    def query_budget(self) -> HourlyBudget:
        """The hourly budget shared by every query of the run."""

    @property
    def run_started(self) -> int:
        """The run's start in Unix seconds (the automatic ``as_of_timestamp``)."""

    def check_selection(self) -> None:
        """Check the settings that depend on the selected streams (raises SettingsError)."""

    def claim_head_start(
        self, query: Query, *, resuming: bool, raw_properties: bool
    ) -> Export | None: ...

    def head_start_signpost(self) -> str | None:
        """When the head start's export began (before its page 0 went out), if there is one."""


class VersionedStream(RecordLines):
    """A stream whose full syncs stamp one table version and activate it once complete."""

    # Records are built JSON-ready (records.shape_page, entities): conformance would only cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: Tap, host: EngageHost) -> None:
        super().__init__(tap)
        self._host = host

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        """Never the SDK's: it activates before any record is sent (see the module docstring)."""
        return False

    def starting_value(self, state: dict[str, Any]) -> str | None:
        """Records seen at or after this are exported (None: all of them, a full sync)."""
        if self.replication_method == "FULL_TABLE" or self.replication_key is None:
            return None
        return starting_value(state, self._host.engage_settings.start_date)

    def begin_full_sync(self, full: bool) -> None:
        """Start stamping records with the table version, when this run is a full sync."""
        self._stream_version = begin_version(self.stream_state, full)

    def finish_full_sync(self) -> None:
        """Every record of the full sync is out: forget the version and activate it."""
        version, self._stream_version = self._stream_version, None
        if version is None:
            return
        finish_version(self.stream_state)
        self.state_manager.is_flushed = False
        self._write_activate_version_message(version)
        self.logger.info("full sync complete: ACTIVATE_VERSION %d sent", version)


class ExportStream(VersionedStream):
    """Records from one or more Engage exports, in page order, resumable from STATE."""

    is_sorted = False
    _signpost: str | None = None
    """The SDK's signpost of the state being exported: the export carries it into STATE."""

    @property
    def raw_properties(self) -> bool:
        """True when RECORDs may carry ``properties`` as the API's JSON text: every stream map
        passes records through unchanged and nothing is flattened (both need the values)."""
        return self.name == "engage" and self.plain_records

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> datetime | None:
        """The start of the run that began the export, carried in STATE while it resumes, so a
        resumed run's bookmark leaves no gap; otherwise the SDK's (this run's start)."""
        saved = Position.from_dict(self.get_context_state(context).get(POSITION_KEY))
        if saved is not None and saved.signpost:
            return datetime.fromisoformat(saved.signpost)
        return super().get_replication_key_signpost(context)

    def open_export(
        self, query: Query, resume: Position | None, shape: Shaper | None, *, first: bool
    ) -> Export:
        """The export for ``query`` (the engage stream takes over a head start here)."""
        return Export(
            self._host.engage_settings,
            query,
            resume=resume,
            shape=shape,
            budget=self._host.query_budget,
            raw_properties=self.raw_properties and shape is None,
            signpost=self._signpost,
        )

    def export_records(
        self,
        queries: Sequence[Query],
        state: dict[str, Any],
        *,
        what: str,
        shape: Shaper | None = None,
    ) -> Generator[Sequence[dict[str, Any]], None, None]:
        """Every page of records of ``queries`` in order, the position saved in ``state`` after
        each page.

        A saved position resumes the query it belongs to; the queries before it are done.
        """
        saved = Position.from_dict(state.get(POSITION_KEY))
        signpost = state.get("replication_key_signpost")
        self._signpost = signpost if isinstance(signpost, str) else None
        start = resume_index(queries, state) or 0
        for n, query in enumerate(queries[start:]):
            export = self.open_export(query, saved if n == 0 else None, shape, first=n == 0)
            self.logger.info(
                "exporting %s with up to %d queries at once",
                what,
                self._host.engage_settings.max_workers,
            )
            yield from self._export_pages(export, state)
        state.pop(POSITION_KEY, None)

    def _export_pages(
        self, export: Export, state: dict[str, Any]
    ) -> Generator[Sequence[dict[str, Any]], None, None]:
        progress = export.progress
        pages = export.pages()
        try:
            for page in pages:
                yield page.records
                # The SDK has written every record of this page: checkpoint the position.
                progress.page_done(page.number, export.pages_total, len(page.records))
                if export.position is not None:
                    state[POSITION_KEY] = export.position.to_dict()
                    self.state_manager.is_flushed = False
                    self._write_state_message()
                page.release()  # its memory goes back before the next page arrives
        finally:
            pages.close()
            flush = getattr(self._tap.message_writer, "flush", None)
            if flush is not None:
                flush()
        self.logger.info(
            "export done: %d records in %d pages in %.3fs, %d requests, %d retries, "
            "%d session restarts, %.1fs waiting on rate limits",
            progress.records,
            progress.pages,
            time.monotonic() - progress.started,
            export.stats.requests,
            export.stats.retries,
            export.stats.session_restarts,
            export.stats.rate_limit_wait_seconds,
        )


def context_value(context: Context | None, key: str) -> Any:
    """``context[key]``, or None without a context (a partitioned stream with no partitions)."""
    return None if context is None else context.get(key)
