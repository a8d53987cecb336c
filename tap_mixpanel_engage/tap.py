"""The Singer tap: settings (declared once, here) and its one stream."""

from __future__ import annotations

import copy
import sys
from functools import cached_property
from types import FrameType

from singer_sdk import Stream, Tap
from singer_sdk import typing as th

from tap_mixpanel_engage.errors import EngageError
from tap_mixpanel_engage.settings import MAX_WORKERS, REGION_HOSTS, EngageSettings
from tap_mixpanel_engage.streams import EngageStream
from tap_mixpanel_engage.writer import BufferedMsgSpecWriter

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "project_id",
        th.IntegerType,
        description="Mixpanel project id (required with a service account).",
    ),
    th.Property("username", th.StringType, description="Service account username."),
    th.Property("secret", th.StringType, secret=True, description="Service account secret."),
    th.Property(
        "api_secret",
        th.StringType,
        secret=True,
        description="Legacy project API secret (deprecated by Mixpanel; use a service account).",
    ),
    th.Property(
        "workspace_id",
        th.IntegerType,
        description="Workspace (data view) id, for projects with data views.",
    ),
    th.Property(
        "region",
        th.StringType,
        allowed_values=list(REGION_HOSTS),
        default="us",
        description="Data residency of the project: us, eu or in.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        description="Base URL override, e.g. http://127.0.0.1:8080 (/api/query/engage is added).",
    ),
    th.Property(
        "where",
        th.StringType,
        description='Segmentation expression, e.g. properties["plan"] == "pro".',
    ),
    th.Property(
        "output_properties",
        th.ArrayType(th.StringType),
        description="Only these profile properties are returned (smaller, faster pages).",
    ),
    th.Property(
        "filter_by_cohort",
        th.IntegerType,
        description="Only profiles in this cohort id.",
    ),
    th.Property(
        "include_all_users",
        th.BooleanType,
        description="With filter_by_cohort: include cohort members without a profile.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Only profiles seen ($last_seen) at or after this date-time.",
    ),
    th.Property(
        "max_workers",
        th.IntegerType(minimum=1, maximum=MAX_WORKERS),
        default=MAX_WORKERS,
        description="Pages fetched at once, 1 to 5 (Mixpanel allows 5 concurrent queries).",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1),
        description="Profiles per page; sent to the API only when set (API default 1000).",
    ),
    th.Property(
        "max_requests_per_hour",
        th.IntegerType(minimum=1),
        description="Never send more queries than this in any rolling hour (waits instead).",
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=300,
        description="Seconds to wait for one response before retrying.",
    ),
    th.Property("user_agent", th.StringType, description="User-Agent header for API requests."),
).to_dict()


class TapMixpanelEngage(Tap):
    """Singer tap for Mixpanel user profiles (the Engage / Query Profiles API)."""

    name = "tap-mixpanel-engage"
    # A copy: the SDK adds its built-in settings (stream maps, flattening) to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    message_writer_class = BufferedMsgSpecWriter

    @cached_property
    def engage_settings(self) -> EngageSettings:
        """The settings, checked beyond what the JSON schema says (raises SettingsError)."""
        return EngageSettings.from_config(self.config)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Our checks first, then the SDK's JSON-schema check.

        Ours name the setting, never quote a secret (the schema validator quotes the offending
        value, e.g. a `secret` of the wrong type) and exit 3, like every settings error.
        """
        if raise_errors:
            _ = self.engage_settings
        return super()._validate_config(raise_errors=raise_errors)

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGINT/SIGTERM: write the state (it resumes the export) and exit non-zero.

        The SDK exits 0 here, which would tell an orchestrator the export finished.
        """
        try:
            self._state_writer.write_state(self.state)
        finally:
            self.logger.warning(
                "interrupted by signal %d; the last STATE resumes the export where it stopped",
                signum,
            )
            sys.exit(128 + signum)

    def discover_streams(self) -> list[Stream]:
        """The one stream; discovery makes no API call (it would cost rate limit)."""
        return [EngageStream(self)]


def main() -> None:
    """Console entry point: the SDK's CLI, with user errors shown as one line and an exit code."""
    try:
        TapMixpanelEngage.cli.main(prog_name=TapMixpanelEngage.name)
    except EngageError as exc:
        print(f"{TapMixpanelEngage.name}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
