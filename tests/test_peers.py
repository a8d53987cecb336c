"""The public peer tap (singer-io tap-mixpanel 1.8.0) syncs every profile from our fake API.

Proves the peer harness works (redirect, offline catalog, engage-only selection) so benchmarks
that compare against it compare against a correct run. Opt-in with ``RUN_PEER_TESTS=1``: the
first run builds a venv under ``.bench/`` from the package index (~15 s); later runs take ~1 s.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECRET = "legacy-secret"

# `peers` is not registered in pyproject, and filterwarnings=error turns the unknown-mark warning
# into a collection error; silence just that warning where the mark is made. `-m peers` still works.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    _peers = pytest.mark.peers

pytestmark = [
    _peers,
    pytest.mark.skipif(
        os.environ.get("RUN_PEER_TESTS") != "1",
        reason="installs the peer tap into .bench/; set RUN_PEER_TESTS=1 to run",
    ),
]


def test_peer_tap_emits_each_of_600_profiles_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `benchmarks` is a folder at the repo root, not an installed package.
    monkeypatch.syspath_prepend(str(REPO))
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
