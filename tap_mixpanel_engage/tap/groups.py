"""The ``group_profiles`` stream: one SDK partition per group key of the ``groups`` setting.

Each partition has its own ``last_seen`` bookmark and its own saved position, so a group
resumes and syncs incrementally on its own. A run is a full sync when every group is read
without a lower bound; only then are group profiles that are gone (or groups no longer listed)
removed, once the last group is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mixpanel_engage.engage.entities import (
    GROUP_KEY_PROPERTIES,
    GROUPS_STREAM,
    group_profiles_schema,
    group_shaper,
)
from tap_mixpanel_engage.engage.plan import group_query
from tap_mixpanel_engage.engage.records import REPLICATION_KEY
from tap_mixpanel_engage.engage.versions import (
    mark_partition_done,
    partition_done,
    partitions_full,
    pending_version,
)
from tap_mixpanel_engage.tap.export_stream import ExportStream, context_value

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PARTITION_KEY = "data_group_id"


class GroupProfilesStream(ExportStream):
    """Group profiles of every configured group key, one partition (and bookmark) each."""

    name = GROUPS_STREAM
    primary_keys = GROUP_KEY_PROPERTIES
    replication_key = REPLICATION_KEY
    state_partitioning_keys = (PARTITION_KEY,)
    schema = group_profiles_schema()

    _full: bool | None = None
    """Whether this run is a full sync of every group (decided at the first group)."""
    _done: frozenset[str] = frozenset()

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One context per group key, in the order of the ``groups`` setting."""
        groups = self._host.engage_settings.groups
        return [{PARTITION_KEY: group.data_group_id} for group in groups] or None

    def _is_full_sync(self) -> bool:
        states = [self.get_context_state(context) for context in self.partitions or []]
        parts = [(state, self.starting_value(state)) for state in states]
        return partitions_full(parts, pending_version(self.stream_state))

    @override
    def get_pages(self, context: Context | None) -> Iterable[Sequence[dict[str, Any]]]:
        """The group profiles of the group in ``context``, in page order."""
        self._host.check_selection()
        settings = self._host.engage_settings
        groups = {group.data_group_id: group for group in settings.groups}
        group = groups.get(str(context_value(context, PARTITION_KEY)))
        if group is None:
            self.logger.info("no `groups` setting names a group key: nothing to export")
            return
        if self._full is None:
            self._full = self._is_full_sync()
            self.begin_full_sync(self._full)
        state = self.get_context_state(context)
        if partition_done(state, self._stream_version):
            self.logger.info("group %s was complete before the interruption", group.group_key)
        else:
            since = self.starting_value(state)
            what = f"group profiles of {group.group_key} ({group.data_group_id})" + (
                f" seen since {since}" if since else ""
            )
            shape = group_shaper(group.data_group_id, group.group_key)
            query = group_query(settings, group, since)
            yield from self.export_records([query], state, what=what, shape=shape)
            mark_partition_done(state, self._stream_version)
        self._done |= {group.data_group_id}
        if self._done == groups.keys():
            self.finish_full_sync()
