"""meltano.yml declares exactly the settings the tap and the target read, with the right kinds.

Settings have one source of truth: the tap's ``CONFIG_SCHEMA`` and the target's ``--about``.
meltano.yml repeats them (Meltano cannot read them from the plugin without the Hub), so these
tests fail as soon as the two drift: a new tap setting Meltano would not pass on, a secret shown
in clear by ``meltano config``, a kind that makes Meltano send ``"5"`` instead of ``5``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.peers.target_duckdb import REQUIREMENT as PEER_TARGET_REQUIREMENT
from benchmarks.peers.target_duckdb import target_config
from tap_mixpanel_engage.config_schema import CONFIG_SCHEMA
from tap_mixpanel_engage.tap.tap import TapMixpanelEngage

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXTRACTOR_CAPABILITIES = ["catalog", "discover", "state", "about", "stream-maps"]


def _plugin(plugin_type: str, name: str) -> dict[str, Any]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    (plugin,) = (p for p in project["plugins"][plugin_type] if p["name"] == name)
    assert isinstance(plugin, dict)
    return plugin


def _settings(plugin: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in plugin["settings"]}


def _kind_for_schema(prop: dict[str, Any]) -> str:
    """The Meltano kind that makes Meltano pass a value of this JSON-schema type unchanged."""
    if prop.get("secret"):
        return "password"
    if "enum" in prop:
        return "options"
    types = set(prop["type"]) - {"null"} if isinstance(prop["type"], list) else {prop["type"]}
    (json_type,) = types
    if json_type == "string" and prop.get("format") == "date-time":
        return "date_iso8601"
    return {
        "string": "string",
        "integer": "integer",
        "number": "decimal",
        "boolean": "boolean",
        "array": "array",
        "object": "object",
    }[json_type]


_KIND_FOR_ABOUT_TYPE = {
    "string": "string",
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
}


def _target_about() -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "target-mixpanel-duckdb"), "--about", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    about: dict[str, Any] = json.loads(done.stdout)
    return about


def test_extractor_declares_every_tap_setting_in_schema_order() -> None:
    schema = CONFIG_SCHEMA["properties"]
    plugin = _plugin("extractors", "tap-mixpanel-engage")
    assert [s["name"] for s in plugin["settings"]] == list(schema)


@pytest.mark.parametrize("name", list(CONFIG_SCHEMA["properties"]))
def test_extractor_setting_matches_the_tap_schema(name: str) -> None:
    prop = CONFIG_SCHEMA["properties"][name]
    setting = _settings(_plugin("extractors", "tap-mixpanel-engage"))[name]
    assert setting["kind"] == _kind_for_schema(prop)
    assert setting.get("sensitive", False) is bool(prop.get("secret", False))
    assert setting["description"] == prop["description"]
    if "enum" in prop:
        assert [o["value"] for o in setting["options"]] == prop["enum"]
    # Defaults stay in the tap: a value here would silently override a changed tap default.
    assert "value" not in setting


def test_extractor_runs_this_package_with_the_capabilities_meltano_needs() -> None:
    plugin = _plugin("extractors", "tap-mixpanel-engage")
    assert plugin["namespace"] == "tap_mixpanel_engage"
    assert plugin["pip_url"] == "-e ."
    assert plugin["executable"] == TapMixpanelEngage.name
    assert plugin["capabilities"] == EXTRACTOR_CAPABILITIES
    assert set(plugin["capabilities"]) <= {c.value for c in TapMixpanelEngage.capabilities}


def test_loader_declares_the_target_and_duckdb_sink_settings_with_their_defaults() -> None:
    about = _target_about()
    declared = [*about["settings"], *about["sinks"]["duckdb"]["settings"]]
    plugin = _plugin("loaders", "target-duckdb")
    settings = _settings(plugin)
    assert plugin["pip_url"] == "-e ."
    assert plugin["executable"] == about["name"] == "target-mixpanel-duckdb"
    assert set(settings) == {d["name"] for d in declared}
    for d in declared:
        setting = settings[d["name"]]
        assert setting["kind"] == _KIND_FOR_ABOUT_TYPE[d["type"]], d["name"]
        assert setting["description"] == d["description"], d["name"]
        if d["default"] is not None:
            assert setting["value"] == d["default"], d["name"]
    # The target has no default file; Meltano's is under output/ (gitignored).
    assert settings["path"]["value"] == "$MELTANO_PROJECT_ROOT/output/warehouse.duckdb"
    assert settings["path"]["aliases"] == ["filepath"]


def test_pypi_loader_pins_the_peer_release_and_declares_its_config_keys() -> None:
    plugin = _plugin("loaders", "target-duckdb-pypi")
    assert plugin["pip_url"] == PEER_TARGET_REQUIREMENT == "target-duckdb==0.8.0"
    assert plugin["executable"] == "target-duckdb"
    names = set(_settings(plugin))
    # The peer harness's config (verified there against the release) plus its batch size.
    assert names == {*target_config(Path("x.duckdb")), "batch_size_rows"}
