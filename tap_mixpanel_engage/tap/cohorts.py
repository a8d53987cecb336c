"""The ``cohorts`` stream (the Cohorts list) and its child ``cohort_members``.

Both are full syncs every run. The parent fetches the list (one query), and the SDK syncs the
members of each cohort (all, or those in ``cohort_ids``) as a partition of the child, through
the parallel window. Once the list is out and every cohort's members too, each stream activates
its version: deleted cohorts, and members who left, are removed. A member's partition that
finished before a kill is not fetched again when the run resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_mixpanel_engage.engage.cohorts import fetch_cohorts
from tap_mixpanel_engage.engage.entities import (
    COHORT_KEY_PROPERTIES,
    COHORTS_STREAM,
    MEMBER_KEY_PROPERTIES,
    MEMBERS_STREAM,
    cohort_members_schema,
    cohorts_schema,
    member_shaper,
)
from tap_mixpanel_engage.engage.plan import member_query
from tap_mixpanel_engage.engage.versions import mark_partition_done, partition_done
from tap_mixpanel_engage.tap.export_stream import ExportStream, VersionedStream, context_value

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PARTITION_KEY = "cohort_id"


class CohortsStream(VersionedStream):
    """Every cohort of the project. Not selected by default: with ``cohort_members``, a run costs
    one query for the list and at least one per cohort."""

    name = COHORTS_STREAM
    primary_keys = COHORT_KEY_PROPERTIES
    replication_key = None
    selected_by_default = False
    schema = cohorts_schema()

    def _members(self) -> CohortMembersStream | None:
        for child in self.child_streams:
            if isinstance(child, CohortMembersStream) and child.selected:
                return child
        return None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The Cohorts list; the SDK syncs each cohort's members as its record goes out."""
        self._host.check_selection()
        settings = self._host.engage_settings
        members = self._members()
        self.begin_full_sync(self.selected)
        if members is not None:
            members.begin_full_sync(True)
        cohorts = fetch_cohorts(settings, budget=self._host.query_budget).records
        yield from cohorts
        listed = {cohort["id"] for cohort in cohorts}
        wanted = listed if settings.cohort_ids is None else listed & set(settings.cohort_ids)
        unknown = sorted(set(settings.cohort_ids or ()) - listed)
        if unknown:
            self.logger.warning("`cohort_ids`: %s are not in the cohorts list; skipped", unknown)
        self.finish_full_sync()
        if members is not None:
            members.finish_cohorts(wanted)

    @override
    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        """One context per cohort whose members are wanted (``cohort_ids``, or all)."""
        wanted = self._host.engage_settings.cohort_ids
        if wanted is None or record["id"] in wanted:
            yield {PARTITION_KEY: record["id"]}


class CohortMembersStream(ExportStream):
    """One row per (cohort, member); never filtered by ``$last_seen``."""

    name = MEMBERS_STREAM
    parent_stream_type = CohortsStream
    primary_keys = MEMBER_KEY_PROPERTIES
    replication_key = None
    state_partitioning_keys = (PARTITION_KEY,)
    selected_by_default = False
    schema = cohort_members_schema()

    _synced: frozenset[int] = frozenset()
    _schema_written = False

    @override
    def _write_schema_message(self) -> None:
        """The SCHEMA once per run, not once per cohort as the SDK does for a child stream.

        Targets that flush on every SCHEMA (PyPI target-duckdb 0.8.0) would otherwise load each
        cohort's row in a batch of its own, and that target loses the first row of every batch.
        """
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()

    @override
    def get_pages(self, context: Context | None) -> Iterable[Sequence[dict[str, Any]]]:
        """The members of the cohort in ``context``, in page order."""
        cohort_id = context_value(context, PARTITION_KEY)
        if not isinstance(cohort_id, int):
            return
        state = self.get_context_state(context)
        if partition_done(state, self._stream_version):
            self.logger.info("cohort %d's members were complete before the interruption", cohort_id)
        else:
            query = member_query(self._host.engage_settings, cohort_id)
            shape = member_shaper(cohort_id)
            what = f"the members of cohort {cohort_id}"
            yield from self.export_records([query], state, what=what, shape=shape)
            mark_partition_done(state, self._stream_version)
        self._synced |= {cohort_id}

    def finish_cohorts(self, wanted: set[int]) -> None:
        """The parent is done: activate when every wanted cohort's members are out.

        Partitions of cohorts no longer wanted are dropped from the state.
        """
        missing = wanted - self._synced
        if missing:
            self.logger.warning(
                "the members of cohorts %s were not all exported: nothing is deleted",
                sorted(missing),
            )
            return
        partitions = self.stream_state.get("partitions")
        if isinstance(partitions, list):
            self.stream_state["partitions"] = [
                p
                for p in partitions
                if isinstance(p, dict) and p.get("context", {}).get(PARTITION_KEY) in wanted
            ]
        self.finish_full_sync()
