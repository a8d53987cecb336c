"""The SDK's standard tap tests, offline against the fake API, with a limit above one page.

``get_tap_test_class`` instantiates the tap at collection time, so the fake API must already be
listening when this module is imported; it is stopped when the test session ends.
"""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings
from tap_mixpanel_engage.tap.tap import TapMixpanelEngage

_API = FakeEngageAPI(FakeSettings(profiles=2_500))
_API.start()
atexit.register(_API.stop)

TestTapMixpanelEngage = get_tap_test_class(
    TapMixpanelEngage,
    config={
        "project_id": _API.settings.project_id,
        "username": _API.settings.username,
        "secret": _API.settings.secret,
        "api_url": _API.url,
    },
    suite_config=SuiteConfig(max_records_limit=1_500),
)


def test_the_standard_suite_reached_past_page_zero() -> None:
    assert TestTapMixpanelEngage is not None
    assert any(page > 0 for page in _API.stats.pages_served)
