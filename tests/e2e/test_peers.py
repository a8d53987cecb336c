"""The public peer tap (singer-io tap-mixpanel 1.8.0) syncs every profile from our fake API.

Proves the peer harness works (redirect, offline catalog, engage-only selection) so benchmarks
that compare against it compare against a correct run. The first run builds a venv under
``.bench/`` from the package index (~15 s); later runs take ~1 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SECRET = "legacy-secret"

pytestmark = pytest.mark.peers


def test_peer_tap_emits_each_of_600_profiles_exactly_once(tmp_path: Path) -> None:
    from benchmarks.peers.tap_mixpanel import run_peer_tap
    from tap_mixpanel_engage.fake_api import FakeEngageAPI, FakeSettings, distinct_id_of

    out = tmp_path / "peer.jsonl"
    settings = FakeSettings(profiles=600, latency=0.0, api_secret=SECRET)
    with FakeEngageAPI(settings) as api:
        run = run_peer_tap(api.url, SECRET, out)

    assert run.exit_code == 0, run.stderr_tail
    ids = [
        message["record"]["distinct_id"]
        for message in map(json.loads, out.read_text().splitlines())
        if message["type"] == "RECORD"
    ]
    assert run.records == len(ids) == 600
    assert set(ids) == {distinct_id_of(i, settings.seed) for i in range(600)}
    # 600 profiles at the peer's fixed 250 per page: pages 0, 1 and 2, nothing more.
    assert run.http_requests == 3
