"""The README's generated sections match the code and docs they come from."""

from __future__ import annotations

from pathlib import Path

from scripts import update_readme

REPO = Path(__file__).resolve().parents[2]


def test_every_generated_section_is_up_to_date() -> None:
    readme = (REPO / "README.md").read_text()
    assert update_readme.render(readme, update_readme.sections()) == readme, (
        "README.md is out of date: run .venv/bin/python -m scripts.update_readme"
    )


def test_the_settings_table_lists_every_tap_setting() -> None:
    from tap_mixpanel_engage.config_schema import CONFIG_SCHEMA

    table = update_readme.settings_table()
    for name in CONFIG_SCHEMA["properties"]:
        assert f"| {name} |" in table


def test_the_readme_quick_start_names_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "make test" in quick
