"""Shared fixtures: fake Engage APIs on loopback, stopped after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings


@pytest.fixture
def fake_api() -> Iterator[Callable[..., FakeEngageAPI]]:
    """Start fake Engage APIs on loopback with the given knobs; all are stopped afterwards."""
    started: list[FakeEngageAPI] = []

    def start(**knobs: Any) -> FakeEngageAPI:
        api = FakeEngageAPI(FakeSettings(**knobs))
        api.start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
