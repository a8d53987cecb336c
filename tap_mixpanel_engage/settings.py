"""The tap's settings, checked once and held in one typed object shared by the tap and the library.

The JSON schema in ``tap.py`` describes each setting for Meltano and ``--about``; this module
enforces the rules a schema cannot say clearly (exactly one credential style, region names) with
messages that name the setting.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_mixpanel_engage.dates import parse_start_date
from tap_mixpanel_engage.errors import SettingsError

REGION_HOSTS = {
    "us": "https://mixpanel.com",
    "eu": "https://eu.mixpanel.com",
    "in": "https://in.mixpanel.com",
}
ENGAGE_PATH = "/api/query/engage"
MAX_WORKERS = 5
"""Mixpanel runs at most five queries at once per project."""

logger = logging.getLogger("tap_mixpanel_engage")


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

    @property
    def engage_url(self) -> str:
        """The full Engage endpoint URL."""
        return self.api_url.rstrip("/") + ENGAGE_PATH

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
        username = _opt_str(config, "username")
        secret = _opt_str(config, "secret")
        api_secret = _opt_str(config, "api_secret")
        project_id = _opt_int(config, "project_id")
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
        region = str(config.get("region") or "us").lower()
        if region not in REGION_HOSTS:
            raise SettingsError(
                f"unknown `region` {config.get('region')!r}: use one of {', '.join(REGION_HOSTS)}"
            )
        api_url = _opt_str(config, "api_url") or REGION_HOSTS[region]
        if not api_url.startswith(("http://", "https://")):
            raise SettingsError(f"`api_url` must start with http:// or https://, got {api_url!r}")
        max_workers = _opt_int(config, "max_workers")
        max_workers = MAX_WORKERS if max_workers is None else max_workers
        if not 1 <= max_workers <= MAX_WORKERS:
            raise SettingsError(
                f"`max_workers` must be between 1 and {MAX_WORKERS} (Mixpanel's per-project "
                f"limit of concurrent queries), got {max_workers}"
            )
        page_size = _opt_int(config, "page_size")
        if page_size is not None and page_size < 1:
            raise SettingsError(f"`page_size` must be positive, got {page_size}")
        per_hour = _opt_int(config, "max_requests_per_hour")
        if per_hour is not None and per_hour < 1:
            raise SettingsError(f"`max_requests_per_hour` must be positive, got {per_hour}")
        timeout = config.get("request_timeout")
        timeout = 300.0 if timeout is None else timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise SettingsError(f"`request_timeout` must be a positive number, got {timeout!r}")
        props = config.get("output_properties")
        if props is not None and (
            not isinstance(props, list | tuple) or not all(isinstance(p, str) for p in props)
        ):
            raise SettingsError("`output_properties` must be a list of property names")
        include_all = config.get("include_all_users")
        if include_all is not None and not isinstance(include_all, bool):
            raise SettingsError("`include_all_users` must be true or false")
        start_date = _opt_str(config, "start_date")
        if start_date is not None:
            start_date = parse_start_date(start_date)
        return cls(
            project_id=project_id,
            username=username,
            secret=secret,
            api_secret=api_secret,
            workspace_id=_opt_int(config, "workspace_id"),
            region=region,
            api_url=api_url,
            where=_opt_str(config, "where"),
            output_properties=tuple(props) if props is not None else None,
            filter_by_cohort=_opt_int(config, "filter_by_cohort"),
            include_all_users=include_all,
            start_date=start_date,
            max_workers=max_workers,
            page_size=page_size,
            max_requests_per_hour=per_hour,
            request_timeout=float(timeout),
            user_agent=_opt_str(config, "user_agent") or "tap-mixpanel-engage",
        )


def _opt_str(config: Mapping[str, Any], name: str) -> str | None:
    value = config.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SettingsError(f"`{name}` must be a string")
    return value


def _opt_int(config: Mapping[str, Any], name: str) -> int | None:
    value = config.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise SettingsError(f"`{name}` must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise SettingsError(f"`{name}` must be a whole number, got {value!r}")
