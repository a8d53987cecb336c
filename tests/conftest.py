"""Shared fixtures: fake Engage APIs on loopback, and a real PostgreSQL server; all stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scripts.pg_server import PostgresServer
from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings
from tests.postgres import Database, create_database, drop_database


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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (started on first use, stopped at the end)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_db(pg_server: PostgresServer) -> Iterator[Database]:
    """A fresh database on the session's server, dropped after the test."""
    database = create_database(pg_server)
    yield database
    drop_database(database)
