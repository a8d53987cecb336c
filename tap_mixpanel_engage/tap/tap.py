"""The Singer tap: its settings (:data:`~tap_mixpanel_engage.config_schema.CONFIG_SCHEMA`) and
streams, a head start handed in by the console entry, and exits that tell an orchestrator the
truth."""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from functools import cached_property
from types import FrameType
from typing import Any, ClassVar

from singer_sdk import Stream, Tap
from typing_extensions import override

from tap_mixpanel_engage.config_schema import CONFIG_SCHEMA, INTEGER_SETTINGS
from tap_mixpanel_engage.engage.client import hourly_budget
from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.pacing import HourlyBudget
from tap_mixpanel_engage.engage.plan import check_selection
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.entity_settings import whole_number
from tap_mixpanel_engage.errors import EXIT_SIGNAL_BASE, EngageError, fail
from tap_mixpanel_engage.settings import EngageSettings
from tap_mixpanel_engage.tap.cohorts import CohortMembersStream, CohortsStream
from tap_mixpanel_engage.tap.groups import GroupProfilesStream
from tap_mixpanel_engage.tap.message_writer import BufferedMsgSpecWriter
from tap_mixpanel_engage.tap.streams import EngageStream


class TapMixpanelEngage(Tap):
    """Singer tap for Mixpanel profiles: users, group profiles, cohorts and cohort members."""

    name = "tap-mixpanel-engage"
    # A copy: the SDK adds its built-in settings (stream maps, flattening) to this dict in place.
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    message_writer_class = BufferedMsgSpecWriter
    head_start: ClassVar[Export | None] = None
    """An export whose page 0 the console entry sent before the SDK was imported."""
    _head_start_budget: HourlyBudget | None = None

    @cached_property
    def query_budget(self) -> HourlyBudget:
        """The hourly budget of the whole run, every stream's queries included (the head
        start's, when there was one: its page 0 counts)."""
        return self._head_start_budget or hourly_budget(self.engage_settings)

    @property
    def run_started(self) -> int:
        """When the run started, in Unix seconds."""
        return self.initialized_at // 1000

    @cached_property
    def engage_settings(self) -> EngageSettings:
        """The settings, checked beyond what the JSON schema says (raises SettingsError)."""
        return EngageSettings.from_config(self.config)

    def head_start_signpost(self) -> str | None:
        """When the head start's export began (before its page 0 went out), if there is one."""
        export = TapMixpanelEngage.head_start
        return export.signpost if export is not None else None

    def claim_head_start(
        self, query: Query, *, resuming: bool, raw_properties: bool
    ) -> Export | None:
        """The export with page 0 already asked for, if it runs ``query`` from the start; else
        it is cancelled (a resumed export starts from its saved page, not page 0)."""
        export, TapMixpanelEngage.head_start = TapMixpanelEngage.head_start, None
        if export is None:
            return None
        if "query_budget" not in self.__dict__:  # not built yet: it takes over the head start's
            self._head_start_budget = export.client.budget
        if not resuming and export.answers(
            self.engage_settings, query, raw_properties=raw_properties
        ):
            self.logger.info("page 0 was sent while the tap started (head start)")
            return export
        export.close()
        self.logger.info("page 0 was asked for early with another query; that answer is discarded")
        return None

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Our checks first, then the SDK's JSON-schema check.

        Ours name the setting, never quote a secret (the schema validator quotes the offending
        value, e.g. a `secret` of the wrong type) and exit 3, like every settings error. Ids
        given as digit strings (``"1234567"``) become the integers the schema asks for.
        """
        if raise_errors:
            _ = self.engage_settings
            config: dict[str, Any] = self._config
            for name in INTEGER_SETTINGS:
                if isinstance(config.get(name), str):
                    config[name] = whole_number(config[name], name)
            if self.engage_settings.cohort_ids is not None:
                config["cohort_ids"] = list(self.engage_settings.cohort_ids)
        return super()._validate_config(raise_errors=raise_errors)

    @override
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
            sys.exit(EXIT_SIGNAL_BASE + signum)

    @override
    def discover_streams(self) -> Sequence[Stream]:
        """The streams; discovery makes no API call (it would cost rate limit)."""
        return [
            EngageStream(self, self),
            GroupProfilesStream(self, self),
            CohortsStream(self, self),
            CohortMembersStream(self, self),
        ]

    def check_selection(self) -> None:
        """Check the settings that depend on the selected streams (each stream asks first).

        Raises:
            SettingsError: a setting has no selected stream to apply to.
        """
        selected = [name for name, stream in self.streams.items() if stream.selected]
        check_selection(self.engage_settings, selected)


def run() -> None:
    """Run the SDK's CLI, with user errors shown as one line and an exit code."""
    try:
        TapMixpanelEngage.cli.main(prog_name=TapMixpanelEngage.name)
    except EngageError as exc:
        sys.exit(fail(TapMixpanelEngage.name, exc))
    except KeyboardInterrupt:
        sys.exit(EXIT_SIGNAL_BASE + 2)
