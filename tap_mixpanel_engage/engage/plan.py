"""What each stream asks of the API: its queries, and the settings that only fit some streams.

Shared by the Singer streams, the head start and :func:`tap_mixpanel_engage.sync`, so all of them
send the very same queries (and a saved position of one resumes in the other).

- ``engage``: the user's settings; ``distinct_ids`` longer than :data:`DISTINCT_IDS_PER_QUERY`
  become one query per slice, and ``behaviors`` without ``as_of_timestamp`` get the run's start
  (without it Mixpanel answers later pages with "request for page in uncached query").
- ``group_profiles``: one query per group key, filtered only by ``$last_seen``.
- ``cohort_members``: one query per cohort, never filtered by ``$last_seen`` (a member seen long
  ago is still a member), asking for one property only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from tap_mixpanel_engage.engage.entities import MEMBER_PROPERTIES, MEMBERS_STREAM
from tap_mixpanel_engage.engage.query import Query, project_of, seen_since
from tap_mixpanel_engage.engage.state import POSITION_KEY, Position
from tap_mixpanel_engage.entity_settings import GroupSpec
from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.settings import EngageSettings

DISTINCT_IDS_PER_QUERY = 1000
"""No limit is documented (one source reports 2,000): half that, and one default page each."""
AS_OF_KEY = "as_of_timestamp"
"""Stream-state key: the ``as_of_timestamp`` an export under way was started with."""


def needs_as_of(settings: EngageSettings) -> bool:
    """True when the run must choose ``as_of_timestamp`` itself (behaviors without one)."""
    return settings.behaviors is not None and settings.as_of_timestamp is None


def engage_queries(
    settings: EngageSettings, since: str | None, as_of_timestamp: int | None = None
) -> list[Query]:
    """The ``engage`` export's queries, in order: one, or one per slice of ``distinct_ids``.

    ``as_of_timestamp`` is used when :func:`needs_as_of` says the run chooses it.
    """
    query = Query.for_settings(settings, since)
    if needs_as_of(settings):
        query = replace(query, as_of_timestamp=as_of_timestamp)
    ids = query.distinct_ids
    if ids is None or len(ids) <= DISTINCT_IDS_PER_QUERY:
        return [query]
    step = DISTINCT_IDS_PER_QUERY
    return [replace(query, distinct_ids=ids[i : i + step]) for i in range(0, len(ids), step)]


def head_start_query(settings: EngageSettings, since: str | None) -> Query | None:
    """The first query of an ``engage`` export, when it is known before the run starts."""
    if needs_as_of(settings):
        return None  # the run picks as_of_timestamp (and a resume reuses the saved one)
    return engage_queries(settings, since)[0]


def engage_queries_for_state(
    settings: EngageSettings, since: str | None, state: dict[str, Any], run_started: int
) -> list[Query]:
    """:func:`engage_queries` with the ``as_of_timestamp`` an interrupted export used, when its
    saved position belongs to those queries; else the run's start. Kept in ``state``."""
    if not needs_as_of(settings):
        state.pop(AS_OF_KEY, None)
        return engage_queries(settings, since)
    saved = state.get(AS_OF_KEY)
    if type(saved) is int:
        queries = engage_queries(settings, since, saved)
        if resume_index(queries, state) is not None:
            return queries
    state[AS_OF_KEY] = run_started
    return engage_queries(settings, since, run_started)


def group_query(settings: EngageSettings, group: GroupSpec, since: str | None) -> Query:
    """The group profiles of one group key seen at or after ``since`` (None: all of them)."""
    return Query(
        where=seen_since(None, since),
        output_properties=None,
        filter_by_cohort=None,
        include_all_users=None,
        page_size=settings.page_size,
        project=project_of(settings),
        data_group_id=group.data_group_id,
    )


def member_query(settings: EngageSettings, cohort_id: int) -> Query:
    """Every member of one cohort (with or without a profile, as ``include_all_users`` says)."""
    return Query(
        where=None,
        output_properties=MEMBER_PROPERTIES,
        filter_by_cohort=cohort_id,
        include_all_users=settings.include_all_users,
        page_size=settings.page_size,
        project=project_of(settings),
    )


def resume_index(queries: Sequence[Query], state: Mapping[str, Any]) -> int | None:
    """Which of ``queries`` the saved position in ``state`` belongs to; None: none of them."""
    saved = Position.from_dict(state.get(POSITION_KEY))
    if saved is None:
        return None
    return next((n for n, q in enumerate(queries) if q.fingerprint == saved.fingerprint), None)


def catalog_selection(catalog: Mapping[str, Any] | None, defaults: Sequence[str]) -> list[str]:
    """The streams a Singer catalog selects (``defaults`` without a catalog)."""
    if catalog is None:
        return list(defaults)
    selected = []
    for entry in catalog.get("streams", []):
        root: dict[str, Any] = next(
            (m.get("metadata", {}) for m in entry.get("metadata", []) if not m.get("breadcrumb")),
            {},
        )
        chosen = root.get("selected")
        if chosen is True or (chosen is None and root.get("selected-by-default") is True):
            selected.append(str(entry.get("tap_stream_id", entry.get("stream"))))
    return selected


def check_selection(settings: EngageSettings, streams: Collection[str]) -> None:
    """Settings that make sense only with some streams, checked once the streams are known.

    Raises:
        SettingsError: ``include_all_users`` without a cohort to apply to.
    """
    if (
        settings.include_all_users is not None
        and settings.filter_by_cohort is None
        and MEMBERS_STREAM not in streams
    ):
        raise SettingsError(
            "`include_all_users` applies only with a cohort: set `filter_by_cohort` (engage) "
            "or select the cohort_members stream"
        )
