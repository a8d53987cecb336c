"""A realistic fake of Mixpanel's Engage (Query Profiles) API for tests, demos and benchmarks.

Standard library only: ``FakeEngageAPI`` serves deterministic, messy profiles on 127.0.0.1 with
Mixpanel's auth, paging sessions, ``where`` filtering, rate limits, expiring sessions and seeded
faults. Run it standalone with ``python -m tap_mixpanel_engage.fake_api``.
"""

from __future__ import annotations

from tap_mixpanel_engage.fake_api.api import FakeEngageAPI
from tap_mixpanel_engage.fake_api.profiles import distinct_id_of, make_profile, profile_json
from tap_mixpanel_engage.fake_api.server import ENGAGE_PATHS
from tap_mixpanel_engage.fake_api.settings import FAULT_KINDS, FakeSettings, FakeStats

__all__ = [
    "ENGAGE_PATHS",
    "FAULT_KINDS",
    "FakeEngageAPI",
    "FakeSettings",
    "FakeStats",
    "distinct_id_of",
    "make_profile",
    "profile_json",
]
