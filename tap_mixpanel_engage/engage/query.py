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

    @classmethod
    def for_settings(cls, settings: EngageSettings, since: str | None) -> Query:
        """The query for ``settings``, limited to profiles seen at or after ``since`` if given."""
        where = settings.where
        if since:
            clause = f'properties["$last_seen"] >= "{to_mixpanel(since)}"'
            where = f"({where}) and {clause}" if where else clause
        return cls(
            where=where,
            output_properties=settings.output_properties,
            filter_by_cohort=settings.filter_by_cohort,
            include_all_users=settings.include_all_users,
            page_size=settings.page_size,
            project=f"{settings.api_url}|{settings.project_id}|{settings.workspace_id}",
        )

    @property
    def fingerprint(self) -> str:
        """A short hash of everything that shapes the result set and its paging."""
        text = json.dumps(asdict(self), sort_keys=True)
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
        return body
