"""The tap's settings, checked once into :class:`EngageSettings`.

They are declared once, in :mod:`tap_mixpanel_engage.config_schema`;
:meth:`EngageSettings.from_config` takes every type, default and bound from there. What a schema
cannot say clearly (exactly one credential style, the region's host, digit strings for ids) is
checked here, with messages that name the setting and never quote a secret.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from tap_mixpanel_engage.config_schema import (
    COHORTS_LIST_PATH,
    CONFIG_SCHEMA,
    ENGAGE_PATH,
    REGION_HOSTS,
)
from tap_mixpanel_engage.engage.dates import parse_start_date
from tap_mixpanel_engage.entity_settings import GroupSpec, read_entity_settings, whole_number
from tap_mixpanel_engage.errors import LOGGER_NAME, SettingsError

logger = logging.getLogger(LOGGER_NAME)
_PROPERTIES: dict[str, dict[str, Any]] = CONFIG_SCHEMA["properties"]


@dataclass(frozen=True)
class EngageSettings:
    """Validated settings for one export."""

    project_id: int | None
    username: str | None
    secret: str | None = field(repr=False)
    api_secret: str | None = field(repr=False)
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
    max_rate_limit_wait: float
    max_outage_wait: float
    session_idle_gap: float
    rate_limit_window: float
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
        if api_url.startswith("http://") and not _is_loopback(api_url):
            logger.warning(
                "`api_url` %s is plain http:// to a host that is not this machine: the "
                "credentials travel unencrypted; use https://",
                api_url,
            )
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
            max_rate_limit_wait=value.number("max_rate_limit_wait"),
            max_outage_wait=value.number("max_outage_wait"),
            session_idle_gap=value.number("session_idle_gap"),
            rate_limit_window=value.number("rate_limit_window"),
            user_agent=user_agent,
            as_of_timestamp=value.integer("as_of_timestamp"),
            **read_entity_settings(config),
        )


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


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
        value = self._raw(name)  # the Singer SDK reads JSON numbers with a fraction as Decimal
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise SettingsError(f"`{name}` must be a positive number, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise SettingsError(f"`{name}` must be a positive number, got {value}")
        return float(value)

    def _check_bounds(self, name: str, value: int) -> None:
        low, high = _PROPERTIES[name].get("minimum"), _PROPERTIES[name].get("maximum")
        if low is not None and high is not None and not low <= value <= high:
            raise SettingsError(f"`{name}` must be between {low} and {high}, got {value}")
        if low is not None and value < low:
            raise SettingsError(f"`{name}` must be at least {low}, got {value}")
