"""The tap's settings: declared once (:data:`CONFIG_SCHEMA`), checked once (``EngageSettings``).

The schema is plain JSON Schema, so the head start can read it before the Singer SDK is imported;
the tap hands it to the SDK for ``--about``, Meltano and the README table, and
:meth:`EngageSettings.from_config` takes every type, default and bound from it. What a schema
cannot say clearly (exactly one credential style, the region's host, digit strings for ids) is
checked here, with messages that name the setting and never quote a secret.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_mixpanel_engage.engage.dates import parse_start_date
from tap_mixpanel_engage.entity_settings import (
    ENTITY_PROPERTIES,
    GroupSpec,
    read_entity_settings,
    whole_number,
)
from tap_mixpanel_engage.entity_settings import schema_property as _setting
from tap_mixpanel_engage.errors import LOGGER_NAME, SettingsError

REGION_HOSTS = {
    "us": "https://mixpanel.com",
    "eu": "https://eu.mixpanel.com",
    "in": "https://in.mixpanel.com",
}
ENGAGE_PATH = "/api/query/engage"
COHORTS_LIST_PATH = "/api/query/cohorts/list"
MAX_WORKERS = 5
"""Mixpanel runs at most five queries at once per project."""

logger = logging.getLogger(LOGGER_NAME)


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


@dataclass(frozen=True)
class EngageSettings:
    """Validated settings for one export."""

    project_id: int | None
    username: str | None
    secret: str | None
    api_secret: str | None
    workspace_id: int | None
    region: str
    api_url: str
    where: str | None
    output_properties: tuple[str, ...] | None
    filter_by_cohort: int | None
    include_all_users: bool | None
    start_date: str | None
    max_workers: int
    page_size: int | None
    max_requests_per_hour: int | None
    request_timeout: float
    user_agent: str
    groups: tuple[GroupSpec, ...] = ()
    cohort_ids: tuple[int, ...] | None = None
    behaviors: str | None = None
    """The ``behaviors`` setting as the JSON text sent to the API."""
    as_of_timestamp: int | None = None
    distinct_ids: tuple[str, ...] | None = None

    @property
    def engage_url(self) -> str:
        """The full Engage endpoint URL."""
        return self.api_url.rstrip("/") + ENGAGE_PATH

    @property
    def cohorts_list_url(self) -> str:
        """The full URL of the Cohorts list endpoint."""
        return self.api_url.rstrip("/") + COHORTS_LIST_PATH

    @property
    def uses_service_account(self) -> bool:
        """True for service-account auth, False for the deprecated project secret."""
        return self.username is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, so output can be checked or scrubbed for them."""
        return tuple(s for s in (self.secret, self.api_secret) if s)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EngageSettings:
        """Check ``config`` and build the settings.

        Raises:
            SettingsError: a setting is missing, of the wrong kind or out of range; the message
                names it and never contains a secret value.
        """
        value = _Reader(config)
        username, secret = value.string("username"), value.string("secret")
        api_secret, project_id = value.string("api_secret"), value.integer("project_id")
        if api_secret and (username or secret):
            raise SettingsError(
                "give either `username` + `secret` (service account) or `api_secret` "
                "(legacy project secret), not both"
            )
        if api_secret is None:
            if username is None or secret is None:
                missing = [n for n, v in (("username", username), ("secret", secret)) if not v]
                raise SettingsError(
                    "credentials missing: set `username` and `secret` of a service account "
                    f"(missing: {', '.join(missing)}), or the deprecated `api_secret`"
                )
            if project_id is None:
                raise SettingsError("`project_id` is required with service-account credentials")
        else:
            logger.warning(
                "`api_secret` (project secret) authentication is deprecated by Mixpanel; "
                "switch to a service account (`username` + `secret` + `project_id`)"
            )
        region = str(config.get("region") or _PROPERTIES["region"]["default"]).lower()
        if region not in REGION_HOSTS:
            raise SettingsError(
                f"unknown `region` {config.get('region')!r}: use one of {', '.join(REGION_HOSTS)}"
            )
        api_url = value.string("api_url") or REGION_HOSTS[region]
        if not api_url.startswith(("http://", "https://")):
            raise SettingsError(f"`api_url` must start with http:// or https://, got {api_url!r}")
        props = config.get("output_properties")
        if props is not None and (
            not isinstance(props, list | tuple) or not all(isinstance(p, str) for p in props)
        ):
            raise SettingsError("`output_properties` must be a list of property names")
        include_all = config.get("include_all_users")
        if include_all is not None and not isinstance(include_all, bool):
            raise SettingsError("`include_all_users` must be true or false")
        start_date = value.string("start_date")
        max_workers, user_agent = value.integer("max_workers"), value.string("user_agent")
        assert max_workers is not None and user_agent is not None  # the schema has defaults
        return cls(
            project_id=project_id,
            username=username,
            secret=secret,
            api_secret=api_secret,
            workspace_id=value.integer("workspace_id"),
            region=region,
            api_url=api_url,
            where=value.string("where"),
            output_properties=tuple(props) if props is not None else None,
            filter_by_cohort=value.integer("filter_by_cohort"),
            include_all_users=include_all,
            start_date=parse_start_date(start_date) if start_date is not None else None,
            max_workers=max_workers,
            page_size=value.integer("page_size"),
            max_requests_per_hour=value.integer("max_requests_per_hour"),
            request_timeout=value.number("request_timeout"),
            user_agent=user_agent,
            as_of_timestamp=value.integer("as_of_timestamp"),
            **read_entity_settings(config),
        )


class _Reader:
    """Reads one setting at a time with the type, default and bounds :data:`CONFIG_SCHEMA` gives."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._config = config

    def _raw(self, name: str) -> Any:
        value = self._config.get(name)
        return _PROPERTIES[name].get("default") if value is None or value == "" else value

    def string(self, name: str) -> str | None:
        value = self._raw(name)
        if value is not None and not isinstance(value, str):
            raise SettingsError(f"`{name}` must be a string")
        return value

    def integer(self, name: str) -> int | None:
        value = whole_number(self._raw(name), name)
        if value is not None:
            self._check_bounds(name, value)
        return value

    def number(self, name: str) -> float:
        value = self._raw(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise SettingsError(f"`{name}` must be a positive number, got {value!r}")
        return float(value)

    def _check_bounds(self, name: str, value: int) -> None:
        low, high = _PROPERTIES[name].get("minimum"), _PROPERTIES[name].get("maximum")
        if low is not None and high is not None and not low <= value <= high:
            raise SettingsError(f"`{name}` must be between {low} and {high}, got {value}")
        if low is not None and value < low:
            raise SettingsError(f"`{name}` must be at least {low}, got {value}")


def read_json_object(path: str | Path, option: str) -> dict[str, Any]:
    """Read the JSON object in the file an option names (``--config``, ``--state``...).

    Raises:
        SettingsError: the file is missing, unreadable, not JSON or not an object; json's
            messages give only a position, never the text, so no secret can leak.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{option} file not found: {path}") from None
    except OSError as exc:
        raise SettingsError(f"{option} file {path} cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise SettingsError(f"{option} file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{option} file {path} must hold a JSON object")
    return data
