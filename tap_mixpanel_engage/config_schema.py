"""The tap's settings, declared once: plain JSON Schema with every type, default and bound.

Plain JSON Schema (not ``singer_sdk.typing``) so the head start can read it before the Singer SDK
is imported. The tap hands it to the SDK (``--about``, Meltano, the README table);
:class:`~tap_mixpanel_engage.settings.EngageSettings` reads it to check a config.
"""

from __future__ import annotations

from typing import Any

from tap_mixpanel_engage.entity_settings import ENTITY_PROPERTIES
from tap_mixpanel_engage.entity_settings import schema_property as _setting

REGION_HOSTS = {
    "us": "https://mixpanel.com",
    "eu": "https://eu.mixpanel.com",
    "in": "https://in.mixpanel.com",
}
ENGAGE_PATH = "/api/query/engage"
COHORTS_LIST_PATH = "/api/query/cohorts/list"
MAX_WORKERS = 5
"""Mixpanel runs at most five queries at once per project."""


CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "project_id": _setting("integer", "Mixpanel project id (required with a service account)."),
        "username": _setting("string", "Service account username."),
        "secret": _setting("string", "Service account secret.", secret=True),
        "api_secret": _setting(
            "string",
            "Legacy project API secret (deprecated by Mixpanel; use a service account).",
            secret=True,
        ),
        "workspace_id": _setting(
            "integer", "Workspace (data view) id, for projects with data views."
        ),
        "region": _setting(
            "string",
            "Data residency of the project: us, eu or in.",
            default="us",
            enum=list(REGION_HOSTS),
        ),
        "api_url": _setting(
            "string",
            "Base URL override, e.g. http://127.0.0.1:8080 (/api/query/engage is added).",
        ),
        "where": _setting("string", 'Segmentation expression, e.g. properties["plan"] == "pro".'),
        "output_properties": _setting(
            "array", "Only these profile properties are returned (smaller, faster pages)."
        ),
        "filter_by_cohort": _setting("integer", "Only profiles in this cohort id."),
        "include_all_users": _setting(
            "boolean", "With filter_by_cohort: include cohort members without a profile."
        ),
        "start_date": _setting(
            "string",
            "Only profiles seen ($last_seen) at or after this date-time.",
            format="date-time",
        ),
        "max_workers": _setting(
            "integer",
            "Pages fetched at once, 1 to 5 (Mixpanel allows 5 concurrent queries).",
            minimum=1,
            maximum=MAX_WORKERS,
            default=MAX_WORKERS,
        ),
        "page_size": _setting(
            "integer",
            "Profiles per page; sent to the API only when set (API default 1000).",
            minimum=1,
        ),
        "max_requests_per_hour": _setting(
            "integer",
            "Never send more queries than this in any rolling hour (waits instead).",
            minimum=1,
        ),
        "request_timeout": _setting(
            "number", "Seconds to wait for one response before retrying.", default=300
        ),
        "max_rate_limit_wait": _setting(
            "number",
            "Seconds one page may wait out rate limits before the run fails (a rate limit alone "
            "never fails a run sooner).",
            default=86400,
        ),
        "max_outage_wait": _setting(
            "number",
            "Seconds one page keeps retrying 5xx answers, timeouts and dropped connections.",
            default=900,
        ),
        "session_idle_gap": _setting(
            "number",
            "Longest a query session is left unused while the hourly budget spaces queries out "
            "(sessions are reported to die after about 10 minutes unused).",
            default=240,
        ),
        "rate_limit_window": _setting(
            "number",
            "Seconds of the rolling window of Mixpanel's hourly query budget (3600); change it "
            "only for a proxy or a test server with another window.",
            default=3600,
        ),
        "user_agent": _setting(
            "string", "User-Agent header for API requests.", default="tap-mixpanel-engage"
        ),
        **ENTITY_PROPERTIES,
    },
    "$schema": "https://json-schema.org/draft/2020-12/schema",
}
_PROPERTIES: dict[str, dict[str, Any]] = CONFIG_SCHEMA["properties"]
INTEGER_SETTINGS = tuple(n for n, p in _PROPERTIES.items() if "integer" in p["type"])
"""Settings that take a whole number (a string of digits is accepted too)."""
