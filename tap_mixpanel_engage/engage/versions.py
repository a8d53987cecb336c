"""Table versions for full syncs: the rules that let a full sync delete what is gone, safely.

A full sync stamps every record with one version and, only once every record has been handed
out, asks the destination to drop (or mark) rows of older versions (Singer ``ACTIVATE_VERSION``).
The version lives in the stream's state while the sync runs, so a killed run that resumes keeps
it: rows written before the kill are not older than the activation that follows. A run that
fails part-way never activates, so it deletes nothing. Incremental syncs carry no version.

What counts as a full sync: a stream read without a lower bound. ``engage`` with no bookmark and
no ``start_date`` (or a catalog's ``FULL_TABLE``) mirrors its query; ``group_profiles`` when that
holds for every configured group; ``cohorts`` and ``cohort_members`` always.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

VERSION_KEY = "table_version"
"""Stream-state key: the version of the full sync under way."""
SYNCED_KEY = "synced_version"
"""Partition-state key: this partition finished within the full sync of that version."""


def new_version() -> int:
    """A version for a new full sync: milliseconds since the epoch (later runs: larger)."""
    return time.time_ns() // 1_000_000


def pending_version(stream_state: Mapping[str, Any]) -> int | None:
    """The version of a full sync that was interrupted, if the state holds one."""
    pending = stream_state.get(VERSION_KEY)
    return pending if type(pending) is int and pending > 0 else None


def begin_version(stream_state: MutableMapping[str, Any], full: bool) -> int | None:
    """The version this run stamps, kept in ``stream_state``; None when it is not a full sync.

    A version left by an interrupted full sync is used again. Partitions that finished within
    it (:func:`partition_done`) keep the bookmark they got then: whether a partitioned run is
    full is decided by the partitions that are not done.
    """
    if not full:
        stream_state.pop(VERSION_KEY, None)
        return None
    pending = pending_version(stream_state)
    if pending is not None:
        return pending
    version = new_version()
    stream_state[VERSION_KEY] = version
    return version


def partitions_full(
    parts: Iterable[tuple[Mapping[str, Any], str | None]], pending: int | None
) -> bool:
    """Whether a partitioned stream's run is a full sync: every partition is read without a
    lower bound (its ``since`` is None), except those done within the ``pending`` version.

    ``parts`` pairs each partition's state with its ``since``.
    """
    return all(since is None or partition_done(state, pending) for state, since in parts)


def partition_done(partition_state: Mapping[str, Any], version: int | None) -> bool:
    """True when this partition already finished within the full sync of ``version``."""
    return version is not None and partition_state.get(SYNCED_KEY) == version


def mark_partition_done(partition_state: MutableMapping[str, Any], version: int | None) -> None:
    """Record that the partition finished within the full sync of ``version`` (if any)."""
    if version is not None:
        partition_state[SYNCED_KEY] = version


def finish_version(stream_state: MutableMapping[str, Any]) -> None:
    """The full sync is complete: forget its version and the partitions' marks."""
    stream_state.pop(VERSION_KEY, None)
    partitions = stream_state.get("partitions")
    if isinstance(partitions, list):
        for partition in partitions:
            if isinstance(partition, dict):
                partition.pop(SYNCED_KEY, None)
