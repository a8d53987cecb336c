"""The SDK's standard tap tests, offline against the fake API, every stream selected.

``get_tap_test_class`` instantiates the tap at collection time, so the fake API must already be
listening when this module is imported; it is stopped when the test session ends. The record
limit is above one page, and the catalog selects every stream (``cohorts`` and
``cohort_members`` are not selected by default: they cost a query per cohort).
"""

from __future__ import annotations

import atexit
from typing import Any

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings
from tap_mixpanel_engage.tap.tap import TapMixpanelEngage

_API = FakeEngageAPI(FakeSettings(profiles=2_500, cohorts=3))
_API.start()
atexit.register(_API.stop)

CONFIG = {
    "project_id": _API.settings.project_id,
    "username": _API.settings.username,
    "secret": _API.settings.secret,
    "api_url": _API.url,
    "groups": [
        {"data_group_id": group_id, "group_key": f"key_{n}"}
        for n, (group_id, _) in enumerate(_API.settings.groups)
    ],
}


def every_stream_selected(config: dict[str, Any]) -> dict[str, Any]:
    """The tap's own catalog (discovery sends no query) with every stream selected."""
    catalog: dict[str, Any] = TapMixpanelEngage(config=config).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = True
    return catalog


TestTapMixpanelEngage = get_tap_test_class(
    TapMixpanelEngage,
    config=CONFIG,
    catalog=every_stream_selected(CONFIG),
    suite_config=SuiteConfig(max_records_limit=1_500),
)


def test_the_standard_suite_reached_past_page_zero_and_every_stream() -> None:
    assert TestTapMixpanelEngage is not None
    assert any(page > 0 for page in _API.stats.pages_served)
    assert _API.stats.snapshot()["cohort_lists_served"] > 0
    assert len(every_stream_selected(CONFIG)["streams"]) == 4
