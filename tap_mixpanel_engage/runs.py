"""The streams of :func:`tap_mixpanel_engage.sync`: what the Singer streams do, without the SDK.

A run reads and writes the state the tap keeps (``bookmarks`` per stream; for group keys and
cohorts, one SDK-style partition each), so a state moves freely between the tap and the Python
API. Bookmarks follow the SDK's rules for an unsorted stream: the newest ``last_seen`` handed out
waits in ``progress_markers`` until its export completes, then becomes the bookmark, capped at the
run's start. Full syncs get a table version (:mod:`tap_mixpanel_engage.engage.versions`) that the
caller activates once the stream's last batch is written.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tap_mixpanel_engage.engage.client import Shaper, hourly_budget
from tap_mixpanel_engage.engage.cohorts import fetch_cohorts
from tap_mixpanel_engage.engage.entities import (
    COHORT_KEY_PROPERTIES,
    COHORTS_STREAM,
    GROUP_KEY_PROPERTIES,
    GROUPS_STREAM,
    MEMBER_KEY_PROPERTIES,
    MEMBERS_STREAM,
    STREAMS,
    cohort_members_schema,
    cohorts_schema,
    group_profiles_schema,
    group_shaper,
    member_shaper,
)
from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.plan import (
    AS_OF_KEY,
    engage_queries_for_state,
    group_query,
    member_query,
    resume_index,
)
from tap_mixpanel_engage.engage.progress import ExportStats, PageProgress
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.engage.records import KEY_PROPERTIES, REPLICATION_KEY, STREAM
from tap_mixpanel_engage.engage.records import engage_schema as _engage_schema
from tap_mixpanel_engage.engage.state import (
    POSITION_KEY,
    Position,
    finish_bookmark,
    starting_value,
    utc_now,
)
from tap_mixpanel_engage.engage.versions import (
    begin_version,
    finish_version,
    mark_partition_done,
    partition_done,
    partitions_full,
    pending_version,
)
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.settings import EngageSettings

OnPage = Callable[[PageProgress], None]
SCHEMAS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    STREAM: (_engage_schema(), KEY_PROPERTIES),
    GROUPS_STREAM: (group_profiles_schema(), GROUP_KEY_PROPERTIES),
    COHORTS_STREAM: (cohorts_schema(), COHORT_KEY_PROPERTIES),
    MEMBERS_STREAM: (cohort_members_schema(), MEMBER_KEY_PROPERTIES),
}
"""Each stream's schema and key properties."""


def stream_names(streams: Sequence[str]) -> tuple[str, ...]:
    """The streams asked for, in sync order.

    Raises:
        SettingsError: an unknown name, or none at all.
    """
    if isinstance(streams, str):
        streams = [streams]
    unknown = [s for s in streams if s not in STREAMS]
    if unknown or not streams:
        raise SettingsError(f"unknown streams {unknown}: choose from {', '.join(STREAMS)}")
    return tuple(s for s in STREAMS if s in streams)


class RunContext:
    """What the streams of one call share: settings, state, budget, the run's start, counters."""

    def __init__(
        self, settings: EngageSettings, state: dict[str, Any], *, raw_properties: bool
    ) -> None:
        self.settings = settings
        self.state = state
        self.raw_properties = raw_properties
        self.signpost = utc_now()
        self.started = int(time.time())
        self.budget = hourly_budget(settings)
        self.stats: list[ExportStats] = []
        self.pages = 0
        self._cohorts: list[dict[str, Any]] | None = None

    def bookmarks(self, stream: str) -> dict[str, Any]:
        """The writable state of ``stream`` (created when missing)."""
        bookmarks = self.state.setdefault("bookmarks", {})
        stream_state = bookmarks.setdefault(stream, {}) if isinstance(bookmarks, dict) else None
        if not isinstance(stream_state, dict):
            raise SettingsError("`state` must look like {'bookmarks': {'engage': {...}}}")
        return stream_state

    def cohorts(self) -> list[dict[str, Any]]:
        """The Cohorts list, fetched once per call (it costs a query)."""
        if self._cohorts is None:
            listed = fetch_cohorts(self.settings, budget=self.budget)
            self.stats.append(listed.stats)
            self._cohorts = listed.records
        return self._cohorts


def partition(stream_state: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """The SDK-style partition state ``{"context": {key: value}, ...}`` (created if missing)."""
    partitions = stream_state.setdefault("partitions", [])
    for item in partitions:
        if isinstance(item, dict) and item.get("context") == {key: value}:
            return item
    item = {"context": {key: value}}
    partitions.append(item)
    return item


@dataclass
class Part:
    """One export target: a stream's (or partition's) state and the queries it runs."""

    context: RunContext
    state: dict[str, Any]
    queries: list[Query]
    incremental: bool
    shape: Shaper | None = None
    stream: str = STREAM
    max_seen: str | None = None
    export: Export | None = None
    signpost: str | None = None
    """When the run that began this part started (a resumed export's saved one): the cap."""

    def __post_init__(self) -> None:
        markers = self.state.get("progress_markers")
        if self.incremental and POSITION_KEY in self.state and isinstance(markers, dict):
            value = markers.get("replication_key_value")
            self.max_seen = value if isinstance(value, str) else None

    def pages(self, on_page: OnPage | None) -> Generator[Sequence[dict[str, Any]], None, None]:
        """Each page's records, in order (shaped when read: see
        :class:`~tap_mixpanel_engage.engage.records.Records`); ``on_page`` runs here, on the
        caller's thread. The caller passes what it reads to :meth:`see`."""
        saved = Position.from_dict(self.state.get(POSITION_KEY))
        ctx = self.context
        for n, query in enumerate(self.queries[resume_index(self.queries, self.state) or 0 :]):
            self.export = export = Export(
                ctx.settings,
                query,
                resume=saved if n == 0 else None,
                raw_properties=ctx.raw_properties,
                shape=self.shape,
                budget=ctx.budget,
                signpost=self.signpost or ctx.signpost,
            )
            self.signpost = self.signpost or export.signpost
            ctx.stats.append(export.stats)
            pages = export.pages()
            try:
                for page in pages:
                    ctx.pages += 1
                    progress = export.progress.page_done(
                        page.number, export.pages_total, len(page.records)
                    )
                    if on_page is not None:
                        on_page(replace(progress, stream=self.stream))
                    yield page.records
            finally:
                pages.close()

    def see(self, records: Sequence[dict[str, Any]]) -> None:
        """Records handed out: the newest ``last_seen`` among them goes into the progress."""
        if not self.incremental:
            return
        newest = max((s for r in records if (s := r[REPLICATION_KEY]) is not None), default=None)
        if newest is not None and (self.max_seen is None or newest > self.max_seen):
            self.max_seen = newest

    def checkpoint(self) -> None:
        """Record the position: everything handed out so far is safe."""
        if self.export is not None and self.export.position is not None:
            self.state[POSITION_KEY] = self.export.position.to_dict()
        if self.max_seen is not None:
            self.state["progress_markers"] = {
                "replication_key": REPLICATION_KEY,
                "replication_key_value": self.max_seen,
            }

    def finish(self) -> None:
        """Every query completed: promote the bookmark, forget the position."""
        self.state.pop(AS_OF_KEY, None)
        if self.incremental:
            finish_bookmark(self.state, self.max_seen, self.signpost or self.context.signpost)
        else:
            self.state.pop(POSITION_KEY, None)


class StreamRun:
    """One stream of a call: its records page by page, checkpoints, and its table version."""

    def __init__(self, context: RunContext, name: str) -> None:
        self.context = context
        self.name = name
        self.schema, self.key_properties = SCHEMAS[name]
        self.state = context.bookmarks(name)
        self.current: Part | None = None
        self.wanted: list[int] = []
        settings = context.settings
        self.groups = {g.data_group_id: g for g in settings.groups}
        if name == STREAM:
            since = starting_value(self.state, settings.start_date)
            queries = engage_queries_for_state(settings, since, self.state, context.started)
            self.parts: list[Part] | None = [Part(context, self.state, queries, True)]
            full = since is None
        elif name == GROUPS_STREAM:
            sinces = {g: self._since(g) for g in self.groups}
            self.parts = [self._group_part(g, since) for g, since in sinces.items()]
            parts = [(p.state, since) for p, since in zip(self.parts, sinces.values(), strict=True)]
            full = bool(parts) and partitions_full(parts, pending_version(self.state))
        else:  # cohorts and their members: the list decides, once it is fetched
            self.parts, full = None, True
        self.version = begin_version(self.state, full)

    def _since(self, data_group_id: str) -> str | None:
        state = partition(self.state, "data_group_id", data_group_id)
        return starting_value(state, self.context.settings.start_date)

    def _group_part(self, data_group_id: str, since: str | None) -> Part:
        group = self.groups[data_group_id]
        state = partition(self.state, "data_group_id", data_group_id)
        query = group_query(self.context.settings, group, since)
        shape = group_shaper(group.data_group_id, group.group_key, raw_properties=False)
        return Part(self.context, state, [query], True, shape, self.name)

    def _member_parts(self) -> Iterator[Part]:
        settings, listed = self.context.settings, [c["id"] for c in self.context.cohorts()]
        self.wanted = [c for c in listed if settings.cohort_ids is None or c in settings.cohort_ids]
        for cohort_id in self.wanted:
            state = partition(self.state, "cohort_id", cohort_id)
            query = member_query(settings, cohort_id)
            yield Part(self.context, state, [query], False, member_shaper(cohort_id), self.name)

    def pages(self, on_page: OnPage | None) -> Generator[Sequence[dict[str, Any]], None, None]:
        """Every record of the stream, a page at a time (pass what is read to :meth:`see`)."""
        if self.name == COHORTS_STREAM:
            self.context.pages += 1
            yield copy.deepcopy(self.context.cohorts())
            return
        for part in self.parts if self.parts is not None else self._member_parts():
            self.current = part
            partitioned = part.state is not self.state
            if not (partitioned and partition_done(part.state, self.version)):
                yield from part.pages(on_page)
            part.finish()
            if partitioned:
                mark_partition_done(part.state, self.version)
        self.current = None

    def see(self, records: Sequence[dict[str, Any]]) -> None:
        """Records of the current page handed out (for the progress of an incremental part)."""
        if self.current is not None:
            self.current.see(records)

    def checkpoint(self) -> None:
        """Save the position of the export under way into the state."""
        if self.current is not None:
            self.current.checkpoint()

    def finish(self) -> int | None:
        """The stream is complete: the version to activate (None: not a full sync)."""
        if self.name == MEMBERS_STREAM and "partitions" in self.state:
            wanted = set(self.wanted)
            self.state["partitions"] = [
                p for p in self.state["partitions"] if p["context"]["cohort_id"] in wanted
            ]
        version = self.version
        if version is not None:
            finish_version(self.state)
        return version
