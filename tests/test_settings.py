"""Settings: exactly one credential style, ranges, regions; messages name the setting."""

from __future__ import annotations

from typing import Any

import pytest

from tap_mixpanel_engage.errors import SettingsError
from tap_mixpanel_engage.settings import EngageSettings

SERVICE = {"project_id": 1234, "username": "svc-user", "secret": "svc-secret"}


def test_service_account_defaults() -> None:
    s = EngageSettings.from_config(SERVICE)
    assert s.engage_url == "https://mixpanel.com/api/query/engage"
    assert s.max_workers == 5
    assert s.uses_service_account
    assert s.secrets == ("svc-secret",)


@pytest.mark.parametrize(
    ("region", "host"),
    [("us", "mixpanel.com"), ("eu", "eu.mixpanel.com"), ("in", "in.mixpanel.com"), ("EU", "eu.")],
)
def test_region_chooses_the_host(region: str, host: str) -> None:
    assert host in EngageSettings.from_config({**SERVICE, "region": region}).engage_url


def test_api_url_overrides_region_and_gets_the_path() -> None:
    s = EngageSettings.from_config({**SERVICE, "api_url": "http://127.0.0.1:8080/"})
    assert s.engage_url == "http://127.0.0.1:8080/api/query/engage"


def test_legacy_secret_warns_that_it_is_deprecated(caplog: pytest.LogCaptureFixture) -> None:
    s = EngageSettings.from_config({"api_secret": "legacy"})
    assert not s.uses_service_account
    assert "deprecated" in caplog.text
    assert "legacy" not in caplog.text.replace("`api_secret`", "")


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({}, "username"),
        ({"username": "u"}, "secret"),
        ({"username": "u", "secret": "s"}, "project_id"),
        ({**SERVICE, "api_secret": "x"}, "api_secret"),
        ({**SERVICE, "region": "mars"}, "region"),
        ({**SERVICE, "max_workers": 9}, "max_workers"),
        ({**SERVICE, "max_workers": 0}, "max_workers"),
        ({**SERVICE, "page_size": 0}, "page_size"),
        ({**SERVICE, "max_requests_per_hour": 0}, "max_requests_per_hour"),
        ({**SERVICE, "request_timeout": -1}, "request_timeout"),
        ({**SERVICE, "output_properties": "name"}, "output_properties"),
        ({**SERVICE, "start_date": "yesterday"}, "start_date"),
        ({**SERVICE, "project_id": "abc"}, "project_id"),
        ({**SERVICE, "api_url": "ftp://x"}, "api_url"),
    ],
)
def test_bad_settings_name_the_setting_and_hide_secrets(config: dict[str, Any], names: str) -> None:
    with pytest.raises(SettingsError) as info:
        EngageSettings.from_config(config)
    message = str(info.value)
    assert f"`{names}`" in message
    assert "svc-secret" not in message


def test_start_date_becomes_rfc3339_utc() -> None:
    assert EngageSettings.from_config({**SERVICE, "start_date": "2024-01-31"}).start_date == (
        "2024-01-31T00:00:00Z"
    )
    assert (
        EngageSettings.from_config(
            {**SERVICE, "start_date": "2024-01-31T10:00:00+02:00"}
        ).start_date
        == "2024-01-31T08:00:00Z"
    )


def test_whole_numbers_may_be_given_as_digit_strings() -> None:
    s = EngageSettings.from_config(
        {**SERVICE, "project_id": "1234567", "workspace_id": "42", "max_workers": "3"}
    )
    assert (s.project_id, s.workspace_id, s.max_workers) == (1234567, 42, 3)


@pytest.mark.parametrize("value", ["12.5", "1e3", "one", True, 4.0, [1]])
def test_anything_else_is_not_a_whole_number(value: object) -> None:
    with pytest.raises(SettingsError, match="`project_id` must be a whole number"):
        EngageSettings.from_config({**SERVICE, "project_id": value})


def test_defaults_and_bounds_come_from_the_schema() -> None:
    from tap_mixpanel_engage.config_schema import CONFIG_SCHEMA

    props = CONFIG_SCHEMA["properties"]
    s = EngageSettings.from_config(SERVICE)
    assert s.max_workers == props["max_workers"]["default"]
    assert s.request_timeout == props["request_timeout"]["default"]
    assert s.region == props["region"]["default"]
    assert s.user_agent == props["user_agent"]["default"]
    high = props["max_workers"]["maximum"]
    with pytest.raises(SettingsError, match=f"between 1 and {high}, got {high + 1}"):
        EngageSettings.from_config({**SERVICE, "max_workers": high + 1})


def test_numbers_with_a_fraction_work_as_the_sdk_reads_them() -> None:
    from decimal import Decimal

    s = EngageSettings.from_config(
        {**SERVICE, "request_timeout": Decimal("2.5"), "max_outage_wait": 0.5}
    )
    assert (s.request_timeout, s.max_outage_wait) == (2.5, 0.5)
    with pytest.raises(SettingsError, match="`request_timeout` must be a positive number"):
        EngageSettings.from_config({**SERVICE, "request_timeout": Decimal("NaN")})


def test_the_repr_of_the_settings_never_shows_a_secret() -> None:
    service = EngageSettings.from_config({**SERVICE, "secret": "s3cr3t-value"})
    legacy = EngageSettings.from_config({"api_secret": "legacy-s3cr3t"})
    assert "s3cr3t-value" not in repr(service) and "svc-user" in repr(service)
    assert "legacy-s3cr3t" not in repr(legacy)


@pytest.mark.parametrize(
    ("api_url", "warned"),
    [
        ("http://mixpanel.example.com", True),
        ("http://10.0.0.7:8080", True),
        ("http://127.0.0.1:8080", False),
        ("http://[::1]:8080", False),
        ("http://localhost:8080", False),
        ("https://mixpanel.example.com", False),
    ],
)
def test_plain_http_to_another_host_warns_that_credentials_travel_in_clear(
    caplog: pytest.LogCaptureFixture, api_url: str, warned: bool
) -> None:
    EngageSettings.from_config({**SERVICE, "api_url": api_url})
    assert ("credentials travel unencrypted" in caplog.text) is warned
    assert "svc-secret" not in caplog.text
