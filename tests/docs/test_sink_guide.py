"""The "Writing a sink plugin" guide: its example plugin must work against the real contract.

The guide lives in README.md under ``## Writing a sink plugin`` once pasted there, and in
docs/writing-a-sink-plugin.md until then; the tests read whichever holds it. They run the
example's code as written, so a change to the sink contract or the hook spec that the guide does
not follow fails here.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from scripts import update_readme
from scripts.update_readme import readme_section, section
from tap_mixpanel_engage.sinks import hookspecs
from tap_mixpanel_engage.sinks.contract import Sink, SinkConfigError
from tap_mixpanel_engage.sinks.registry import make_plugin_manager
from tap_mixpanel_engage.target.cli import about as target_about

HEADING = "## Writing a sink plugin"


def guide_text() -> str:
    """The guide, as the README shows it."""
    return readme_section(HEADING)


def only_block(language: str) -> str:
    """The single fenced block of ``language`` in the guide."""
    return update_readme.only_block(guide_text(), language)


@pytest.fixture
def pyproject() -> dict[str, Any]:
    return tomllib.loads(only_block("toml"))


@pytest.fixture
def example(pyproject: dict[str, Any], tmp_path: Path) -> ModuleType:
    """The guide's module, written to disk under the name its pyproject gives it, imported."""
    (module_name,) = pyproject["tool"]["setuptools"]["py-modules"]
    source = tmp_path / f"{module_name}.py"
    source.write_text(only_block("python"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(module_name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def registered_sinks(module: ModuleType) -> list[type[Sink]]:
    """Register ``module`` on a fresh plugin manager and collect what its hook registers."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(module)
    pm.check_pending()
    found: list[type[Sink]] = []
    pm.hook.register_sinks(register=found.append)
    return found


def test_the_guide_is_one_section_starting_at_its_heading() -> None:
    text = guide_text()
    assert text.startswith(f"{HEADING}\n")
    assert "\n## " not in text


def test_the_readme_section_ends_at_the_next_level_two_heading() -> None:
    readme = f"# Title\n\n## Install\n\nx\n\n{HEADING}\n\nguide\n### Sub\n\nmore\n\n## Next\ny\n"
    assert section(readme, HEADING) == f"{HEADING}\n\nguide\n### Sub\n\nmore\n\n"
    assert section(f"{HEADING}\nonly", HEADING) == f"{HEADING}\nonly"
    assert section("# Title\n\n## Writing a sink plugin, later\n", HEADING) is None


def test_the_example_entry_point_uses_the_project_group_and_the_sink_name(
    pyproject: dict[str, Any], example: ModuleType
) -> None:
    groups = pyproject["project"]["entry-points"]
    assert list(groups) == [hookspecs.PROJECT_NAME]
    ((entry_name, target),) = groups[hookspecs.PROJECT_NAME].items()
    assert target == example.__name__
    assert [cls.name for cls in registered_sinks(example)] == [entry_name]
    assert "tap-mixpanel-engage" in pyproject["project"]["dependencies"]


def test_the_guide_names_every_part_of_the_contract() -> None:
    text = guide_text()
    for method in sorted(Sink.__abstractmethods__):
        assert f"`{method}(" in text, method
    for part in ("`name`", "`description`", "`__init__(config)`", "`SinkConfigError`"):
        assert part in text, part
    assert "def register_sinks(register" in text
    assert "--list-sinks" in text


def test_the_guide_names_every_class_attribute_the_target_reads() -> None:
    text = guide_text()
    declared = [n for n, kind in Sink.__annotations__.items() if "ClassVar" in str(kind)]
    assert {"name", "description", "settings", "accepts_raw_json"} <= set(declared)
    for attribute in declared:
        assert f"`{attribute}`" in text, attribute


def test_the_example_sink_settings_show_in_the_target_about(example: ModuleType) -> None:
    (sink,) = registered_sinks(example)
    pm = make_plugin_manager()
    pm.register(example)
    about = json.loads(target_about("json", pm))
    assert about["sinks"][sink.name]["settings"] == list(sink.settings)
    assert "| `sqlite_path` | string |" in target_about("markdown", pm)


def test_the_example_config_selects_the_example_sink(example: ModuleType) -> None:
    config = json.loads(only_block("json"))
    (sink,) = registered_sinks(example)
    assert config["sink"] == sink.name
    assert f'"sink": "{sink.name}"' in guide_text()


def test_the_example_sink_refuses_a_missing_setting(example: ModuleType) -> None:
    (sink,) = registered_sinks(example)
    with pytest.raises(SinkConfigError, match="sqlite_path"):
        sink({})


def test_the_example_sink_upserts_commits_and_discards_on_close(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = json.loads(only_block("json"))
    (sink_class,) = registered_sinks(example)
    schema = {"properties": {"distinct_id": {"type": "string"}, "email": {"type": "string"}}}

    sink = sink_class(config)
    sink.open_stream("engage", schema, ["distinct_id"])
    sink.write_batch("engage", [{"distinct_id": "a", "email": "a@x"}, {"distinct_id": "b"}])
    sink.commit()
    sink.open_stream("engage", schema, ["distinct_id"])
    sink.write_batch("engage", [{"distinct_id": "a", "email": "ä@x"}])
    sink.commit()
    sink.write_batch("engage", [{"distinct_id": "never-committed"}])
    sink.close()

    db = sqlite3.connect(tmp_path / config["sqlite_path"])
    try:
        rows = [json.loads(r) for (r,) in db.execute("SELECT record FROM engage ORDER BY key")]
    finally:
        db.close()
    assert rows == [{"distinct_id": "a", "email": "ä@x"}, {"distinct_id": "b"}]
