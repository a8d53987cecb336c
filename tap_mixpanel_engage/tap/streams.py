"""The ``engage`` stream: every user profile, in page order, with resumable progress in STATE."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mixpanel_engage.engage.client import Shaper
from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.plan import AS_OF_KEY, engage_queries_for_state
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.records import (
    KEY_PROPERTIES,
    REPLICATION_KEY,
    STREAM,
    engage_schema,
)
from tap_mixpanel_engage.engage.state import POSITION_KEY, Position
from tap_mixpanel_engage.tap.export_stream import EngageHost, ExportStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

__all__ = ["EngageHost", "EngageStream"]


class EngageStream(ExportStream):
    """User profiles from the Engage API, fetched by the parallel ordered window.

    The stream sends no SDK requests: :class:`Export` does. With no bookmark and no
    ``start_date`` (or as ``FULL_TABLE``) a run is a full sync of the query, activated at its end.
    """

    name = STREAM
    primary_keys = KEY_PROPERTIES
    replication_key = REPLICATION_KEY
    schema = engage_schema()

    @override
    def open_export(
        self, query: Query, resume: Position | None, shape: Shaper | None, *, first: bool
    ) -> Export:
        """The head start, when it sent page 0 of this very query; else a new export."""
        export = None
        if first:
            export = self._host.claim_head_start(
                query, resuming=resume is not None, raw_properties=self.raw_properties
            )
        return export or super().open_export(query, resume, shape, first=first)

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> datetime | None:
        """The head start's start, when page 0 went out before the SDK started; see
        :meth:`ExportStream.get_replication_key_signpost`."""
        head = self._host.head_start_signpost()
        saved = Position.from_dict(self.get_context_state(context).get(POSITION_KEY))
        if head is not None and saved is None:
            return datetime.fromisoformat(head)
        return super().get_replication_key_signpost(context)

    @override
    def get_pages(self, context: Context | None) -> Iterable[Sequence[dict[str, Any]]]:
        """Fetch every page through the export engine and yield shaped records in page order."""
        self._host.check_selection()
        settings = self._host.engage_settings
        state = self.stream_state
        since = self.starting_value(state)
        queries = engage_queries_for_state(settings, since, state, self._host.run_started)
        self.begin_full_sync(since is None)
        seen = f" seen since {since}" if since else ""
        slices = f" in {len(queries)} slices of distinct_ids" if len(queries) > 1 else ""
        yield from self.export_records(queries, state, what=f"profiles{seen}{slices}")
        state.pop(AS_OF_KEY, None)
        self.finish_full_sync()
