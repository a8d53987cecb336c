"""The profile-side entities beyond users: group profiles, cohorts and cohort members.

Their schemas, and the shapers that turn a response body into a :class:`Page` of their records
on the thread that fetched it (as :func:`~tap_mixpanel_engage.engage.records.shape_page` does for
users). Group profiles are user-shaped records plus their group; a member is a (cohort,
distinct_id) pair; a cohort is one item of the Cohorts list.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import msgspec

from tap_mixpanel_engage.engage.client import Shaper
from tap_mixpanel_engage.engage.dates import to_rfc3339_utc
from tap_mixpanel_engage.engage.records import (
    STREAM,
    Page,
    Records,
    engage_schema,
    shape_page,
)
from tap_mixpanel_engage.errors import LOGGER_NAME

GROUPS_STREAM = "group_profiles"
GROUP_KEY_PROPERTIES = ("data_group_id", "distinct_id")
COHORTS_STREAM = "cohorts"
COHORT_KEY_PROPERTIES = ("id",)
MEMBERS_STREAM = "cohort_members"
MEMBER_KEY_PROPERTIES = ("cohort_id", "distinct_id")
STREAMS = (STREAM, GROUPS_STREAM, COHORTS_STREAM, MEMBERS_STREAM)
"""Every stream, in the order a run of the Python API syncs them."""
DEFAULT_STREAMS = (STREAM, GROUPS_STREAM)
"""Selected unless asked otherwise: cohorts cost a query per cohort, so they are opted into."""
MEMBER_PROPERTIES = ("$last_seen",)
"""What a member query asks for: ``$last_seen`` only (an empty ``output_properties`` may read
as "every property"), which keeps pages tiny and gives the one column beside the key."""

logger = logging.getLogger(LOGGER_NAME)


def _nullable(kind: str, description: str, **more: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], "description": description, **more}


def group_profiles_schema() -> dict[str, Any]:
    """A group profile: which group it belongs to, then the columns of a user profile."""
    properties: dict[str, Any] = {
        "data_group_id": {"type": ["string"], "description": "The group key's id in Mixpanel."},
        "group_key": {"type": ["string"], "description": "The group key, e.g. `company_id`."},
        **engage_schema()["properties"],
    }
    properties["distinct_id"] = {"type": ["string"], "description": "The group's id."}
    return {"type": "object", "properties": properties}


def cohorts_schema() -> dict[str, Any]:
    """One cohort of the Cohorts list."""
    properties = {
        "id": {"type": ["integer"], "description": "The cohort id."},
        "name": _nullable("string", "The cohort's name."),
        "description": _nullable("string", "The cohort's description."),
        "count": _nullable("integer", "Members when Mixpanel last counted them."),
        "is_visible": _nullable("boolean", "Whether the cohort is shown in Mixpanel (0/1)."),
        "created": _nullable(
            "string", "When the cohort was created, as RFC 3339 UTC.", format="date-time"
        ),
        "project_id": _nullable("integer", "The project the cohort belongs to."),
    }
    return {"type": "object", "properties": properties}


def cohort_members_schema() -> dict[str, Any]:
    """One membership: a cohort and one of its members (and when the member was last seen)."""
    properties = {
        "cohort_id": {"type": ["integer"], "description": "The cohort id."},
        "distinct_id": {"type": ["string"], "description": "The member's `$distinct_id`."},
        "last_seen": _nullable(
            "string",
            "The member's `$last_seen` as RFC 3339 UTC; null for members without a profile.",
            format="date-time",
        ),
    }
    return {"type": "object", "properties": properties}


def group_shaper(data_group_id: str, group_key: str, *, raw_properties: bool = False) -> Shaper:
    """Shape Engage pages of group profiles: user-shaped records that name their group."""

    def shape(content: bytes, number: int) -> Page | None:
        page = shape_page(content, number, raw_properties=raw_properties)
        if page is None:
            return None
        named = {"data_group_id": data_group_id, "group_key": group_key}
        return replace(page, records=Records.wrap(page.records).map(lambda r: {**named, **r}))

    return shape


def member_shaper(cohort_id: int) -> Shaper:
    """Shape Engage pages of a cohort's members into (cohort_id, distinct_id, last_seen)."""

    def shape(content: bytes, number: int) -> Page | None:
        # Raw properties: only the reserved entries are decoded.
        page = shape_page(content, number, raw_properties=True)
        if page is None:
            return None
        records = Records.wrap(page.records).map(
            lambda r: {
                "cohort_id": cohort_id,
                "distinct_id": r["distinct_id"],
                "last_seen": r["last_seen"],
            }
        )
        return replace(page, records=records)

    return shape


_decode_list = msgspec.json.Decoder(list[Any]).decode


def shape_cohorts(content: bytes, number: int) -> Page | None:
    """The Cohorts list (a JSON array) as one page of cohort records; None if not an array.

    Items without a whole-number ``id`` cannot be keyed: they are skipped with a warning.
    """
    try:
        items = _decode_list(content)
    except msgspec.DecodeError:
        return None
    records = []
    for item in items:
        record = shape_cohort(item)
        if record is None:
            logger.warning("a cohorts list item has no cohort id; skipped: %.200r", item)
        else:
            records.append(record)
    return Page(number, records, None, None, None)


def shape_cohort(item: Any) -> dict[str, Any] | None:
    """One cohort record from a Cohorts list item; None when it has no whole-number id."""
    if not isinstance(item, dict):
        return None
    cohort_id = _whole(item.get("id"))
    if cohort_id is None:
        return None
    visible = item.get("is_visible")
    return {
        "id": cohort_id,
        "name": _text(item.get("name")),
        "description": _text(item.get("description")),
        "count": _whole(item.get("count")),
        "is_visible": bool(visible) if visible in (0, 1) else None,
        "created": to_rfc3339_utc(item.get("created")),
        "project_id": _whole(item.get("project_id")),
    }


def _whole(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
