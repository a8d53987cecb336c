"""What an export asks of the API: :class:`Query`, its form body and its fingerprint.

The fingerprint is saved with the export's position (:mod:`tap_mixpanel_engage.engage.state`), so
a resumed run knows whether the saved session still answers the same question.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from tap_mixpanel_engage.engage.dates import to_mixpanel
from tap_mixpanel_engage.settings import EngageSettings


@dataclass(frozen=True)
class Query:
    """What is asked of the API; its fingerprint decides whether saved progress still applies."""

    where: str | None
    output_properties: tuple[str, ...] | None
    filter_by_cohort: int | None
    include_all_users: bool | None
    page_size: int | None
    project: str
    data_group_id: str | None = None
    """Group profiles of this group key instead of users."""
    behaviors: str | None = None
    """JSON text of the behaviors ``where`` may test."""
    as_of_timestamp: int | None = None
    distinct_ids: tuple[str, ...] | None = None

    @classmethod
    def for_settings(cls, settings: EngageSettings, since: str | None) -> Query:
        """The query for ``settings``, limited to profiles seen at or after ``since`` if given."""
        return cls(
            where=seen_since(settings.where, since),
            output_properties=settings.output_properties,
            filter_by_cohort=settings.filter_by_cohort,
            # Mixpanel reads it only with a cohort (tap_mixpanel_engage.engage.plan checks it).
            include_all_users=(
                settings.include_all_users if settings.filter_by_cohort is not None else None
            ),
            page_size=settings.page_size,
            project=project_of(settings),
            behaviors=settings.behaviors,
            as_of_timestamp=settings.as_of_timestamp,
            distinct_ids=settings.distinct_ids,
        )

    @property
    def fingerprint(self) -> str:
        """A short hash of everything that shapes the result set and its paging.

        Fields added after the first release count only when set, so a saved position of a
        query without them still resumes.
        """
        fields = asdict(self)
        for name in _LATER_FIELDS:
            if fields[name] is None:
                del fields[name]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def body(
        self, page: int, session_id: str | None, page_size: int | None = None
    ) -> dict[str, str]:
        """The form body for ``page`` (with the session for pages after 0).

        ``page_size`` is the size the export asks for (the setting, or its own choice).
        """
        body: dict[str, str] = {"page": str(page)}
        if session_id:
            body["session_id"] = session_id
        if self.where:
            body["where"] = self.where
        if self.output_properties is not None:
            body["output_properties"] = json.dumps(list(self.output_properties))
        if self.filter_by_cohort is not None:
            body["filter_by_cohort"] = json.dumps({"id": self.filter_by_cohort})
        if self.include_all_users is not None:
            body["include_all_users"] = "true" if self.include_all_users else "false"
        size = page_size if page_size is not None else self.page_size
        if size is not None:
            body["page_size"] = str(size)
        if self.data_group_id is not None:
            body["data_group_id"] = self.data_group_id
        if self.behaviors is not None:
            body["behaviors"] = self.behaviors
        if self.as_of_timestamp is not None:
            body["as_of_timestamp"] = str(self.as_of_timestamp)
        if self.distinct_ids is not None:
            body["distinct_ids"] = json.dumps(list(self.distinct_ids))
        return body


def seen_since(where: str | None, since: str | None) -> str | None:
    """``where`` narrowed to profiles seen at or after ``since`` (both optional)."""
    if not since:
        return where
    clause = f'properties["$last_seen"] >= "{to_mixpanel(since)}"'
    return f"({where}) and {clause}" if where else clause


def project_of(settings: EngageSettings) -> str:
    """Which project a query asks (part of its fingerprint)."""
    return f"{settings.api_url}|{settings.project_id}|{settings.workspace_id}"


_LATER_FIELDS = ("data_group_id", "behaviors", "as_of_timestamp", "distinct_ids")
