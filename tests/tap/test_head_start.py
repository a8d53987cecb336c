"""Page 0 sent before the SDK loads: used only when the stream asks the very same query.

The real tap runs against the fake API and every query is counted: a head start that the stream
did not take over would show up as one query too many.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap_mixpanel_engage.engage.export import Export
from tap_mixpanel_engage.engage.query import Query
from tap_mixpanel_engage.fake_api import FakeEngageAPI
from tap_mixpanel_engage.tap import console as head_start
from tap_mixpanel_engage.tap.tap import TapMixpanelEngage
from tests.helpers import BIN, run_tap, tap_config

StartAPI = Callable[..., FakeEngageAPI]

SETTINGS = {"project_id": 1, "username": "u", "secret": "s", "api_url": "http://127.0.0.1:9"}


def _files(tmp_path: Path, **documents: Any) -> dict[str, str]:
    paths = {}
    for name, document in documents.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(document))
        paths[name] = str(path)
    return paths


def _discover(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    config_path = tmp_path / "discover.json"
    config_path.write_text(json.dumps(config))
    command = [str(BIN / "tap-mixpanel-engage"), "--config", str(config_path), "--discover"]
    proc = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    catalog: dict[str, Any] = json.loads(proc.stdout)
    return catalog


def _catalog(root: dict[str, Any], **entry: Any) -> dict[str, Any]:
    """A one-stream catalog with stream-level metadata ``root``."""
    metadata = [{"breadcrumb": [], "metadata": root}]
    return {"streams": [{"tap_stream_id": "engage", "metadata": metadata, **entry}]}


def _root_metadata(catalog: dict[str, Any], stream: str = "engage") -> dict[str, Any]:
    (entry,) = (e for e in catalog["streams"] if e["tap_stream_id"] == stream)
    root: dict[str, Any] = next(m for m in entry["metadata"] if not m["breadcrumb"])["metadata"]
    return root


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "{config}", "--discover"],
        ["--config", "{config}", "--test"],
        ["--config", "{config}", "--about"],
        ["--about", "--format", "markdown"],
        ["--config", "ENV"],
        ["--config", "{config}", "--state"],
        ["--config", "{tmp}/missing.json"],
        [],
    ],
)
def test_no_head_start_unless_it_is_a_sync(argv: list[str], tmp_path: Path) -> None:
    files = _files(tmp_path, config=SETTINGS)
    args = [a.format(tmp=tmp_path, **files) for a in argv]
    assert head_start.predict(args) is None


def test_no_head_start_for_bad_settings_a_resume_or_a_deselected_stream(tmp_path: Path) -> None:
    position = {"fingerprint": "f", "session_id": "s", "page": 3, "pages": 9,
                "page_size": 1000, "total": 9000}  # fmt: skip
    files = _files(
        tmp_path,
        bad={**SETTINGS, "max_workers": 9},
        config=SETTINGS,
        resume={"bookmarks": {"engage": {"engage_position": position}}},
        deselected=_catalog({"selected": False, "selected-by-default": True}),
        other_key=_catalog({"selected": True}, replication_key="created"),
    )
    assert head_start.predict(["--config", files["bad"]]) is None
    assert head_start.predict(["--config", files["config"], "--state", files["resume"]]) is None
    assert (
        head_start.predict(["--config", files["config"], "--catalog", files["deselected"]]) is None
    )
    assert (
        head_start.predict(["--config", files["config"], "--catalog", files["other_key"]]) is None
    )


def test_the_predicted_query_follows_the_sdk_rules(tmp_path: Path) -> None:
    newer, older = "2024-06-01T00:00:00Z", "2024-01-01"
    state = {"bookmarks": {"engage": {"replication_key": "last_seen",
                                      "replication_key_value": newer}}}  # fmt: skip
    full_table = _catalog({"selected": True}, replication_method="FULL_TABLE")
    files = _files(
        tmp_path,
        base={**SETTINGS, "where": 'properties["plan"] == "pro"'},
        start={"start_date": older},
        state=state,
        full_table=full_table,
    )

    def since(*argv: str) -> str | None:
        prediction = head_start.predict(["--config", files["base"], *argv])
        assert prediction is not None
        settings, query, _ = prediction
        for candidate in (None, older, newer):
            if query == Query.for_settings(settings, candidate):
                return candidate
        raise AssertionError(query)

    assert since() is None
    assert since("--config", files["start"]) == older
    assert since("--config", files["start"], "--state", files["state"]) == newer  # the later
    assert since("--config", files["start"], "--catalog", files["full_table"]) is None


def test_a_head_start_for_another_query_is_discarded(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tap = TapMixpanelEngage(config=SETTINGS)
    settings = tap.engage_settings
    export = Export(settings, Query.for_settings(settings, None))
    monkeypatch.setattr(TapMixpanelEngage, "head_start", export)
    other = Query.for_settings(settings, "2024-01-01T00:00:00Z")
    with caplog.at_level(logging.INFO, logger="tap-mixpanel-engage"):
        assert tap.claim_head_start(other, resuming=False, raw_properties=False) is None
    assert export.cancelled.is_set()
    assert "discarded" in caplog.text
    assert (
        tap.claim_head_start(other, resuming=False, raw_properties=False) is None
    )  # taken once, then gone


def test_a_resumed_export_discards_the_head_start_even_for_the_same_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tap = TapMixpanelEngage(config=SETTINGS)
    query = Query.for_settings(tap.engage_settings, None)
    export = Export(tap.engage_settings, query)
    monkeypatch.setattr(TapMixpanelEngage, "head_start", export)
    assert tap.claim_head_start(query, resuming=True, raw_properties=False) is None
    assert export.cancelled.is_set()


def test_a_head_start_for_the_same_query_is_taken_over(monkeypatch: pytest.MonkeyPatch) -> None:
    tap = TapMixpanelEngage(config=SETTINGS)
    query = Query.for_settings(tap.engage_settings, None)
    export = Export(tap.engage_settings, query)
    monkeypatch.setattr(TapMixpanelEngage, "head_start", export)
    assert tap.claim_head_start(query, resuming=False, raw_properties=False) is export
    assert not export.cancelled.is_set()
    export.close()


def _queries(api: FakeEngageAPI) -> int:
    return int(api.stats.snapshot()["requests"])


def test_the_tap_sends_each_page_once_full_and_incremental_with_a_catalog(
    fake_api: StartAPI, tmp_path: Path
) -> None:
    api = fake_api(profiles=2500, latency=0.05)
    config = tap_config(api, start_date="2000-01-01")
    catalog = _discover(tmp_path, config)
    assert _root_metadata(catalog).get("selected-by-default") is True
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    with_catalog = ("--catalog", str(tmp_path / "catalog.json"))

    first = run_tap(tmp_path, config, args=with_catalog)
    assert first.returncode == 0, first.stderr
    assert len(first.ids) == 2500
    assert _queries(api) == 3  # pages 0, 1, 2: the head start was taken over
    assert "(head start)" in first.stderr and "discarded" not in first.stderr

    api.touch(10)
    before = _queries(api)
    second = run_tap(tmp_path, config, state=first.states[-1], args=with_catalog)
    assert second.returncode == 0, second.stderr
    assert 10 <= len(second.ids) < 2500
    assert _queries(api) - before == 1
    assert "(head start)" in second.stderr


def test_bad_credentials_still_exit_2_with_one_query(fake_api: StartAPI, tmp_path: Path) -> None:
    api = fake_api(profiles=100)
    run = run_tap(tmp_path, tap_config(api, secret="wrong"))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "wrong" not in run.stderr
    assert _queries(api) == 1
